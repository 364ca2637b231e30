/* Copyright 2026 the mod_ocsp_guard developers. Licensed under the Apache License 2.0 (LICENSE). */
/* renameat2, RENAME_NOREPLACE */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include "soc_record.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#define TMP_PREFIX ".tmp."
#define STALE_TMP_SECONDS 60

const char *soc_result_name(soc_result r)
{
    switch (r) {
    case SOC_OK: return "ok";
    case SOC_SHORT: return "truncated record";
    case SOC_BAD_MAGIC: return "bad magic";
    case SOC_BAD_VERSION: return "unknown format version";
    case SOC_ZERO_LENGTH: return "zero length";
    case SOC_TOO_LARGE: return "length out of range";
    case SOC_BAD_CHECKSUM: return "checksum mismatch";
    case SOC_EXPIRED: return "expired";
    case SOC_WRONG_KEY: return "record of another key";
    case SOC_NOT_REGULAR: return "not a regular file";
    case SOC_IO_ERROR: return "cannot be read";
    }
    return "?";
}

/* CRC-32 (IEEE, reflected) a byte at a time from a table: every record is
 * checked on every read, and at start thousands are read at once (the
 * bit-at-a-time loop cost ~10 µs a record). */
static uint32_t crc_table[256];
static pthread_once_t crc_once = PTHREAD_ONCE_INIT;

static void crc_table_init(void)
{
    for (uint32_t i = 0; i < 256; i++) {
        uint32_t c = i;
        for (int k = 0; k < 8; k++)
            c = (c >> 1) ^ (0xEDB88320u & (0u - (c & 1u)));
        crc_table[i] = c;
    }
}

uint32_t soc_crc32(uint32_t crc, const unsigned char *p, size_t n)
{
    pthread_once(&crc_once, crc_table_init);
    crc = ~crc;
    while (n--)
        crc = crc_table[(crc ^ *p++) & 0xFFu] ^ (crc >> 8);
    return ~crc;
}

static void put32(unsigned char *p, uint32_t v)
{
    p[0] = (unsigned char)(v >> 24); p[1] = (unsigned char)(v >> 16);
    p[2] = (unsigned char)(v >> 8);  p[3] = (unsigned char)v;
}

static uint32_t get32(const unsigned char *p)
{
    return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

size_t soc_record_size(size_t klen, size_t vlen)
{
    return SOC_HEADER_LEN + klen + vlen;
}

/* The checksum covers the expiry, the lengths, the key and the value. */
static uint32_t record_crc(const unsigned char *hdr, const unsigned char *key, size_t klen,
                           const unsigned char *value, size_t vlen)
{
    uint32_t crc = soc_crc32(0, hdr + SOC_OFF_EXPIRY, SOC_OFF_CRC - SOC_OFF_EXPIRY);
    crc = soc_crc32(crc, key, klen);
    return soc_crc32(crc, value, vlen);
}

void soc_record_encode(unsigned char *out, const unsigned char *key, size_t klen,
                       const unsigned char *value, size_t vlen, int64_t expiry)
{
    memcpy(out, SOC_MAGIC, SOC_MAGIC_LEN);
    out[SOC_OFF_VERSION] = SOC_VERSION;
    memset(out + SOC_OFF_RESERVED, 0, SOC_RESERVED_LEN);
    put32(out + SOC_OFF_EXPIRY, (uint32_t)((uint64_t)expiry >> 32));
    put32(out + SOC_OFF_EXPIRY + 4, (uint32_t)expiry);
    put32(out + SOC_OFF_KEY_LEN, (uint32_t)klen);
    put32(out + SOC_OFF_VALUE_LEN, (uint32_t)vlen);
    memcpy(out + SOC_HEADER_LEN, key, klen);
    memcpy(out + SOC_HEADER_LEN + klen, value, vlen);
    put32(out + SOC_OFF_CRC, record_crc(out, key, klen, value, vlen));
}

soc_result soc_record_decode(const unsigned char *buf, size_t len, int64_t now, soc_record *rec)
{
    size_t klen, vlen;
    if (len < SOC_HEADER_LEN)
        return SOC_SHORT;
    if (memcmp(buf, SOC_MAGIC, SOC_MAGIC_LEN))
        return SOC_BAD_MAGIC;
    if (buf[SOC_OFF_VERSION] != SOC_VERSION || buf[SOC_OFF_RESERVED] || buf[SOC_OFF_RESERVED + 1] ||
        buf[SOC_OFF_RESERVED + 2])
        return SOC_BAD_VERSION;
    klen = get32(buf + SOC_OFF_KEY_LEN);
    vlen = get32(buf + SOC_OFF_VALUE_LEN);
    if (klen == 0 || vlen == 0)
        return SOC_ZERO_LENGTH;
    if (klen > SOC_MAX_KEY || vlen > SOC_MAX_VALUE)
        return SOC_TOO_LARGE;
    if (len != SOC_HEADER_LEN + klen + vlen)
        return SOC_SHORT;
    rec->key = buf + SOC_HEADER_LEN;
    rec->klen = klen;
    rec->value = rec->key + klen;
    rec->vlen = vlen;
    rec->expiry = (int64_t)((uint64_t)get32(buf + SOC_OFF_EXPIRY) << 32 | get32(buf + SOC_OFF_EXPIRY + 4));
    if (get32(buf + SOC_OFF_CRC) != record_crc(buf, rec->key, klen, rec->value, vlen))
        return SOC_BAD_CHECKSUM;
    if (rec->expiry <= now)
        return SOC_EXPIRED;
    return SOC_OK;
}

static const char *parse_uint(const char *v, int lo, int hi, int *out)
{
    char *end;
    long n;
    errno = 0;
    n = strtol(v, &end, 10);
    if (errno || end == v || *end || n < lo || n > hi)
        return "out of range";
    *out = (int)n;
    return NULL;
}

/* Copies src into dst of cap bytes; 0 when it does not fit. */
static int copy_str(char *dst, size_t cap, const char *src)
{
    size_t n = strlen(src);
    if (n >= cap)
        return 0;
    memcpy(dst, src, n + 1);
    return 1;
}

const char *soc_parse_args(const char *arg, soc_args *out, char *err, size_t errlen)
{
    char buf[8192], *save = NULL, *part;
    int first = 1;
    memset(out, 0, sizeof(*out));
    snprintf(out->prefix, sizeof(out->prefix), "%s", SOC_DEFAULT_PREFIX);
    out->timeout_ms = SOC_DEFAULT_TIMEOUT_MS;
    if (!arg)
        return NULL;
    if (strlen(arg) >= sizeof(buf)) {
        snprintf(err, errlen, "argument string too long");
        return err;
    }
    snprintf(buf, sizeof(buf), "%s", arg);
    /* strtok_r skips empty fields; walk by hand so ",," is an error */
    for (part = buf; part; part = save, first = 0) {
        save = strchr(part, ',');
        if (save)
            *save++ = '\0';
        if (first) {
            if (strchr(part, '=')) {
                snprintf(err, errlen, "'%s': the first part is the directory, not an option", part);
                return err;
            }
            if (*part && *part != '/') {
                snprintf(err, errlen, "directory '%s' must be an absolute path", part);
                return err;
            }
            if (!copy_str(out->dir, sizeof(out->dir), part)) {
                snprintf(err, errlen, "directory path too long");
                return err;
            }
            continue;
        }
        char *eq = strchr(part, '=');
        if (!eq) {
            snprintf(err, errlen, "'%s' is not NAME=VALUE (redis=, prefix=, timeout=, auth=)", part);
            return err;
        }
        *eq++ = '\0';
        if (!strcmp(part, "redis")) {
            char *colon = strrchr(eq, ':'), *host = eq;
            size_t hl = colon ? (size_t)(colon - eq) : 0;
            if (colon)
                *colon = '\0';
            if (hl >= 2 && eq[0] == '[' && eq[hl - 1] == ']') {
                eq[hl - 1] = '\0';  /* [IPv6]:PORT */
                host = eq + 1;
            }
            if (!colon || !*host || parse_uint(colon + 1, 1, 65535, &out->redis_port) ||
                !copy_str(out->redis_host, sizeof(out->redis_host), host)) {
                if (host != eq)
                    eq[hl - 1] = ']';
                if (colon)
                    *colon = ':';
                snprintf(err, errlen, "redis='%s' is not HOST:PORT", eq);
                return err;
            }
        } else if (!strcmp(part, "prefix")) {
            if (!*eq || strpbrk(eq, " \t\r\n") || !copy_str(out->prefix, sizeof(out->prefix), eq)) {
                snprintf(err, errlen, "prefix='%s' must be 1 to %zu characters without spaces",
                         eq, sizeof(out->prefix) - 1);
                return err;
            }
        } else if (!strcmp(part, "timeout")) {
            if (parse_uint(eq, 1, 60000, &out->timeout_ms)) {
                snprintf(err, errlen, "timeout='%s' is not a number of milliseconds from 1 to 60000", eq);
                return err;
            }
        } else if (!strcmp(part, "auth")) {
            if (*eq != '/' || !copy_str(out->auth_file, sizeof(out->auth_file), eq)) {
                snprintf(err, errlen, "auth='%s' must be the absolute path of a file", eq);
                return err;
            }
        } else {
            snprintf(err, errlen, "unknown option '%s' (known: redis, prefix, timeout, auth)", part);
            return err;
        }
    }
    return NULL;
}

int soc_key_filename(const unsigned char *key, size_t klen, char *out, size_t outlen)
{
    static const char hex[] = "0123456789abcdef";
    if (klen == 0 || klen > SOC_MAX_KEY || outlen < 2 * klen + 1)
        return 0;
    for (size_t i = 0; i < klen; i++) {
        out[2 * i] = hex[key[i] >> 4];
        out[2 * i + 1] = hex[key[i] & 15];
    }
    out[2 * klen] = '\0';
    return 1;
}

/* ------------------------------------------------------------ record files
 *
 * Everything below works relative to a directory descriptor: a name is
 * looked up in that directory alone, never through a symlink, so whoever can
 * write in the directory can only affect entries of that directory. */

#define DIR_FLAGS (O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC)
/* O_NONBLOCK: a FIFO planted at a record's name must not block the open */
#define RECORD_OPEN (O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_NOCTTY | O_CLOEXEC)

static void tmp_name(char *out, size_t len)
{
    static unsigned long counter;
    snprintf(out, len, TMP_PREFIX "%ld.%lu.%lu", (long)getpid(), (unsigned long)pthread_self(),
             __atomic_add_fetch(&counter, 1, __ATOMIC_RELAXED));
}

static int write_all(int fd, const unsigned char *p, size_t n)
{
    while (n) {
        ssize_t w = write(fd, p, n);
        if (w < 0) {
            if (errno == EINTR)
                continue;
            return errno;
        }
        p += w;
        n -= (size_t)w;
    }
    return 0;
}

int soc_file_store_at(int dirfd, const unsigned char *key, size_t klen,
                      const unsigned char *value, size_t vlen, int64_t expiry)
{
    char name[2 * SOC_MAX_KEY + 1], tmp[96];
    size_t size = soc_record_size(klen, vlen);
    unsigned char *rec;
    int fd, rc;
    if (vlen == 0 || vlen > SOC_MAX_VALUE || !soc_key_filename(key, klen, name, sizeof(name)))
        return EINVAL;
    tmp_name(tmp, sizeof(tmp));
    if (!(rec = malloc(size)))
        return ENOMEM;
    soc_record_encode(rec, key, klen, value, vlen, expiry);
    /* 0600: records may be TLS sessions; only the server's user reads them */
    fd = openat(dirfd, tmp, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
    if (fd < 0) {
        rc = errno;
        free(rec);
        return rc;
    }
    rc = write_all(fd, rec, size);
    free(rec);
    if (!rc && fdatasync(fd) < 0)
        rc = errno;
    if (close(fd) < 0 && !rc)
        rc = errno;
    if (!rc && renameat(dirfd, tmp, dirfd, name) < 0)
        rc = errno;
    if (rc) {
        unlinkat(dirfd, tmp, 0);
        return rc;
    }
    /* the rename is durable only once the directory is */
    return fsync(dirfd) < 0 ? errno : 0;
}

/* Removes name only while it still is the file that was read (seen): a
 * writer may have renamed a fresh record onto the name meanwhile. The file
 * is first renamed aside, which is atomic, and then examined; a file that
 * turns out to be someone else's is put back unless a yet newer one took
 * the name in between. Returns 1 when removed. */
static int remove_if_same(int dirfd, const char *name, const struct stat *seen)
{
    char aside[96];
    struct stat st;
    tmp_name(aside, sizeof(aside));
    if (renameat(dirfd, name, dirfd, aside) < 0)
        return 0;
    if (fstatat(dirfd, aside, &st, AT_SYMLINK_NOFOLLOW) == 0 &&
        st.st_dev == seen->st_dev && st.st_ino == seen->st_ino) {
        unlinkat(dirfd, aside, 0);
        return 1;
    }
    if (renameat2(dirfd, aside, dirfd, name, RENAME_NOREPLACE) < 0) {
        /* EEXIST: a newer record holds the name, drop this one. EINVAL: the
         * file system has no NOREPLACE; link() does not replace either. */
        if (errno == EINVAL)
            (void)linkat(dirfd, aside, dirfd, name, 0);
        unlinkat(dirfd, aside, 0);
    }
    return 0;
}

/* Opens and reads a record file. On SOC_OK *data (malloc'd) holds *n bytes
 * and *st describes the file. Anything else means nothing was allocated;
 * SOC_SHORT and SOC_TOO_LARGE are about a regular file's size. */
static soc_result read_record_file(int dirfd, const char *name, unsigned char **data, size_t *n,
                                   struct stat *st, int *missing)
{
    size_t got = 0;
    int fd = openat(dirfd, name, RECORD_OPEN);
    *data = NULL;
    *n = 0;
    if (fd < 0) {
        if (errno == ENOENT)
            *missing = 1;
        /* ELOOP: a symlink; ENXIO: a socket */
        return errno == ENOENT ? SOC_SHORT : errno == ELOOP || errno == ENXIO ? SOC_NOT_REGULAR
                                                                              : SOC_IO_ERROR;
    }
    if (fstat(fd, st) < 0) {
        close(fd);
        return SOC_IO_ERROR;
    }
    if (!S_ISREG(st->st_mode)) {
        close(fd);
        return SOC_NOT_REGULAR;
    }
    if (st->st_size <= 0 || (uint64_t)st->st_size > SOC_MAX_RECORD) {
        close(fd);
        return st->st_size <= 0 ? SOC_SHORT : SOC_TOO_LARGE;
    }
    if (!(*data = malloc((size_t)st->st_size))) {
        close(fd);
        return SOC_IO_ERROR;
    }
    while (got < (size_t)st->st_size) {
        ssize_t r = pread(fd, *data + got, (size_t)st->st_size - got, (off_t)got);
        if (r < 0 && errno == EINTR)
            continue;
        if (r < 0) {
            free(*data);
            *data = NULL;
            close(fd);
            return SOC_IO_ERROR;
        }
        if (r == 0)
            break;
        got += (size_t)r;
    }
    close(fd);
    *n = got;
    return SOC_OK;
}

/* Whether a result means the file's content is bad (and may be removed). */
static int bad_content(soc_result r)
{
    return r != SOC_OK && r != SOC_NOT_REGULAR && r != SOC_IO_ERROR;
}

soc_result soc_file_load_at(int dirfd, const unsigned char *key, size_t klen, int64_t now,
                            unsigned char *buf, size_t cap, size_t *vlen, int64_t *expiry,
                            int flags, int *missing, int *removed)
{
    char name[2 * SOC_MAX_KEY + 1];
    struct stat st;
    unsigned char *data;
    size_t n;
    soc_record rec;
    soc_result res;
    *missing = 0;
    if (removed)
        *removed = 0;
    if (!soc_key_filename(key, klen, name, sizeof(name))) {
        *missing = 1;
        return SOC_TOO_LARGE;
    }
    res = read_record_file(dirfd, name, &data, &n, &st, missing);
    if (*missing)
        return res;
    if (res == SOC_OK) {
        res = soc_record_decode(data, n, now, &rec);
        if (res == SOC_OK && (rec.klen != klen || memcmp(rec.key, key, klen)))
            res = SOC_WRONG_KEY;
        if (res == SOC_OK && rec.vlen > cap)
            res = SOC_TOO_LARGE;  /* the caller's buffer is too small: keep the file */
        else if (res == SOC_OK) {
            memcpy(buf, rec.value, rec.vlen);
            *vlen = rec.vlen;
            if (expiry)
                *expiry = rec.expiry;
        } else if (!(flags & SOC_LOAD_READONLY)) {
            int gone = remove_if_same(dirfd, name, &st);
            if (removed)
                *removed = gone;
        }
        free(data);
    } else if (bad_content(res) && !(flags & SOC_LOAD_READONLY)) {
        int gone = remove_if_same(dirfd, name, &st);    /* empty or oversized */
        if (removed)
            *removed = gone;
    }
    return res;
}

int soc_file_remove_at(int dirfd, const unsigned char *key, size_t klen)
{
    char name[2 * SOC_MAX_KEY + 1];
    if (!soc_key_filename(key, klen, name, sizeof(name)))
        return EINVAL;
    return unlinkat(dirfd, name, 0) < 0 && errno != ENOENT ? errno : 0;
}

int soc_sweep_at(int dirfd, int64_t now, int flags, soc_visit_fn *visit, soc_bad_fn *bad, void *ctx,
                 soc_sweep_stats *st)
{
    /* a descriptor of its own: readdir's position must not be shared */
    int fd = openat(dirfd, ".", DIR_FLAGS);
    DIR *d = fd >= 0 ? fdopendir(fd) : NULL;
    struct dirent *e;
    int rc = 0;
    memset(st, 0, sizeof(*st));
    if (!d) {
        if (fd >= 0)
            close(fd);
        return 0;
    }
    while (!rc && (e = readdir(d))) {
        struct stat sb;
        int is_tmp = !strncmp(e->d_name, TMP_PREFIX, strlen(TMP_PREFIX)), missing = 0;
        if (e->d_name[0] == '.' && !is_tmp)
            continue;
        if (fstatat(dirfd, e->d_name, &sb, AT_SYMLINK_NOFOLLOW) < 0 || !S_ISREG(sb.st_mode))
            continue;
        if (is_tmp) {
            if (sb.st_mtime < time(NULL) - STALE_TMP_SECONDS) {
                /* left by a writer that died */
                if (!(flags & SOC_LOAD_READONLY))
                    remove_if_same(dirfd, e->d_name, &sb);
                st->stale_tmp++;
            }
            continue;
        }
        unsigned char *data;
        size_t n;
        soc_record rec;
        soc_result res = read_record_file(dirfd, e->d_name, &data, &n, &sb, &missing);
        if (missing || res == SOC_NOT_REGULAR || res == SOC_IO_ERROR)
            continue;            /* gone meanwhile, or not ours to judge */
        if (res == SOC_OK) {
            char expect[2 * SOC_MAX_KEY + 1];
            res = soc_record_decode(data, n, now, &rec);
            if (res == SOC_OK && (!soc_key_filename(rec.key, rec.klen, expect, sizeof(expect)) ||
                                  strcmp(expect, e->d_name)))
                res = SOC_WRONG_KEY;
        }
        if (res == SOC_OK) {
            st->kept++;
            st->bytes += (uint64_t)n;
            if (visit)
                rc = visit(ctx, &rec);
        } else {
            if (!(flags & SOC_LOAD_READONLY))
                remove_if_same(dirfd, e->d_name, &sb);
            if (res == SOC_EXPIRED) {
                st->expired++;
            } else {
                st->corrupt++;
                if (bad)
                    bad(ctx, e->d_name, res);
            }
        }
        free(data);
    }
    closedir(d);
    return rc;
}

/* ------------------------------------------------------------ by path */

static int open_dir(const char *dir)
{
    return open(dir, DIR_FLAGS);
}

int soc_file_store(const char *dir, const unsigned char *key, size_t klen,
                   const unsigned char *value, size_t vlen, int64_t expiry)
{
    int fd = open_dir(dir), rc;
    if (fd < 0)
        return errno;
    rc = soc_file_store_at(fd, key, klen, value, vlen, expiry);
    close(fd);
    return rc;
}

soc_result soc_file_load(const char *dir, const unsigned char *key, size_t klen, int64_t now,
                         unsigned char *buf, size_t cap, size_t *vlen, int64_t *expiry,
                         int *missing)
{
    int fd = open_dir(dir);
    soc_result r;
    if (fd < 0) {
        *missing = 1;
        return SOC_SHORT;
    }
    r = soc_file_load_at(fd, key, klen, now, buf, cap, vlen, expiry, 0, missing, NULL);
    close(fd);
    return r;
}

int soc_file_remove(const char *dir, const unsigned char *key, size_t klen)
{
    int fd = open_dir(dir), rc;
    if (fd < 0)
        return errno == ENOENT ? 0 : errno;
    rc = soc_file_remove_at(fd, key, klen);
    close(fd);
    return rc;
}

int soc_sweep(const char *dir, int64_t now, soc_visit_fn *visit, soc_bad_fn *bad, void *ctx,
              soc_sweep_stats *st)
{
    int fd = open_dir(dir), rc;
    if (fd < 0) {
        memset(st, 0, sizeof(*st));
        return 0;
    }
    rc = soc_sweep_at(fd, now, 0, visit, bad, ctx, st);
    close(fd);
    return rc;
}
