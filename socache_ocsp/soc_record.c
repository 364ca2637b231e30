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
    }
    return "?";
}

uint32_t soc_crc32(uint32_t crc, const unsigned char *p, size_t n)
{
    crc = ~crc;
    while (n--) {
        crc ^= *p++;
        for (int k = 0; k < 8; k++)
            crc = (crc >> 1) ^ (0xEDB88320u & (0u - (crc & 1u)));
    }
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
    uint32_t crc = soc_crc32(0, hdr + 8, 16);
    crc = soc_crc32(crc, key, klen);
    return soc_crc32(crc, value, vlen);
}

void soc_record_encode(unsigned char *out, const unsigned char *key, size_t klen,
                       const unsigned char *value, size_t vlen, int64_t expiry)
{
    memcpy(out, SOC_MAGIC, 4);
    out[4] = SOC_VERSION;
    out[5] = out[6] = out[7] = 0;
    put32(out + 8, (uint32_t)((uint64_t)expiry >> 32));
    put32(out + 12, (uint32_t)expiry);
    put32(out + 16, (uint32_t)klen);
    put32(out + 20, (uint32_t)vlen);
    memcpy(out + SOC_HEADER_LEN, key, klen);
    memcpy(out + SOC_HEADER_LEN + klen, value, vlen);
    put32(out + 24, record_crc(out, key, klen, value, vlen));
}

soc_result soc_record_decode(const unsigned char *buf, size_t len, int64_t now, soc_record *rec)
{
    size_t klen, vlen;
    if (len < SOC_HEADER_LEN)
        return SOC_SHORT;
    if (memcmp(buf, SOC_MAGIC, 4))
        return SOC_BAD_MAGIC;
    /* bytes 5-7 are reserved: a record that sets them is of a format we do not know */
    if (buf[4] != SOC_VERSION || buf[5] || buf[6] || buf[7])
        return SOC_BAD_VERSION;
    klen = get32(buf + 16);
    vlen = get32(buf + 20);
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
    rec->expiry = (int64_t)((uint64_t)get32(buf + 8) << 32 | get32(buf + 12));
    if (get32(buf + 24) != record_crc(buf, rec->key, klen, rec->value, vlen))
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
            snprintf(err, errlen, "'%s' is not NAME=VALUE (redis=, prefix=, timeout=)", part);
            return err;
        }
        *eq++ = '\0';
        if (!strcmp(part, "redis")) {
            char *colon = strrchr(eq, ':');
            if (colon)
                *colon = '\0';
            if (!colon || colon == eq || parse_uint(colon + 1, 1, 65535, &out->redis_port) ||
                !copy_str(out->redis_host, sizeof(out->redis_host), eq)) {
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
        } else {
            snprintf(err, errlen, "unknown option '%s' (known: redis, prefix, timeout)", part);
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

static int record_path(const char *dir, const unsigned char *key, size_t klen, char *path, size_t len)
{
    char name[2 * SOC_MAX_KEY + 1];
    if (!soc_key_filename(key, klen, name, sizeof(name)))
        return 0;
    return snprintf(path, len, "%s/%s", dir, name) < (int)len;
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

int soc_file_store(const char *dir, const unsigned char *key, size_t klen,
                   const unsigned char *value, size_t vlen, int64_t expiry)
{
    static unsigned long counter;
    char path[4352], tmp[4352];
    size_t size = soc_record_size(klen, vlen);
    unsigned char *rec;
    int fd, rc;
    if (klen == 0 || vlen == 0 || vlen > SOC_MAX_VALUE || !record_path(dir, key, klen, path, sizeof(path)))
        return EINVAL;
    snprintf(tmp, sizeof(tmp), "%s/" TMP_PREFIX "%ld.%lu.%lu", dir, (long)getpid(),
             (unsigned long)pthread_self(), __atomic_add_fetch(&counter, 1, __ATOMIC_RELAXED));
    if (!(rec = malloc(size)))
        return ENOMEM;
    soc_record_encode(rec, key, klen, value, vlen, expiry);
    fd = open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
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
    if (!rc && rename(tmp, path) < 0)
        rc = errno;
    if (rc)
        unlink(tmp);
    return rc;
}

soc_result soc_file_load(const char *dir, const unsigned char *key, size_t klen, int64_t now,
                         unsigned char *buf, size_t cap, size_t *vlen, int64_t *expiry,
                         int *missing)
{
    char path[4352];
    struct stat st;
    unsigned char *data = NULL;
    soc_result res = SOC_SHORT;
    soc_record rec;
    int fd;
    *missing = 0;
    if (!record_path(dir, key, klen, path, sizeof(path))) {
        *missing = 1;
        return SOC_TOO_LARGE;
    }
    fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
        *missing = 1;
        return SOC_SHORT;
    }
    if (fstat(fd, &st) == 0 && st.st_size > 0 &&
        (size_t)st.st_size <= soc_record_size(SOC_MAX_KEY, SOC_MAX_VALUE) &&
        (data = malloc((size_t)st.st_size))) {
        ssize_t n = pread(fd, data, (size_t)st.st_size, 0);
        res = soc_record_decode(data, n < 0 ? 0 : (size_t)n, now, &rec);
    } else if (st.st_size == 0) {
        res = SOC_SHORT;
    } else {
        res = SOC_TOO_LARGE;
    }
    close(fd);
    if (res == SOC_OK && (rec.klen != klen || memcmp(rec.key, key, klen)))
        res = SOC_WRONG_KEY;
    if (res == SOC_OK) {
        if (rec.vlen > cap) {
            res = SOC_TOO_LARGE;  /* the caller's buffer is too small: keep the file */
            free(data);
            return res;
        }
        memcpy(buf, rec.value, rec.vlen);
        *vlen = rec.vlen;
        if (expiry)
            *expiry = rec.expiry;
    } else {
        unlink(path);
    }
    free(data);
    return res;
}

int soc_file_remove(const char *dir, const unsigned char *key, size_t klen)
{
    char path[4352];
    if (!record_path(dir, key, klen, path, sizeof(path)))
        return EINVAL;
    return unlink(path) < 0 && errno != ENOENT ? errno : 0;
}

int soc_sweep(const char *dir, int64_t now, soc_visit_fn *visit, soc_bad_fn *bad, void *ctx,
              soc_sweep_stats *st)
{
    DIR *d = opendir(dir);
    struct dirent *e;
    int rc = 0;
    memset(st, 0, sizeof(*st));
    if (!d)
        return 0;
    while (!rc && (e = readdir(d))) {
        char path[4352];
        struct stat sb;
        if (e->d_name[0] == '.' && strncmp(e->d_name, TMP_PREFIX, strlen(TMP_PREFIX)))
            continue;
        if (snprintf(path, sizeof(path), "%s/%s", dir, e->d_name) >= (int)sizeof(path) ||
            stat(path, &sb) < 0 || !S_ISREG(sb.st_mode))
            continue;
        if (!strncmp(e->d_name, TMP_PREFIX, strlen(TMP_PREFIX))) {
            if (sb.st_mtime < time(NULL) - STALE_TMP_SECONDS) {
                unlink(path);    /* left by a writer that died */
                st->stale_tmp++;
            }
            continue;
        }
        unsigned char *data = sb.st_size > 0 && (size_t)sb.st_size <=
            soc_record_size(SOC_MAX_KEY, SOC_MAX_VALUE) ? malloc((size_t)sb.st_size) : NULL;
        int fd = data ? open(path, O_RDONLY | O_CLOEXEC) : -1;
        ssize_t n = fd >= 0 ? pread(fd, data, (size_t)sb.st_size, 0) : -1;
        soc_record rec;
        soc_result res = n > 0 ? soc_record_decode(data, (size_t)n, now, &rec) : SOC_SHORT;
        char expect[2 * SOC_MAX_KEY + 1];
        if (fd >= 0)
            close(fd);
        if (res == SOC_OK && (!soc_key_filename(rec.key, rec.klen, expect, sizeof(expect)) ||
                              strcmp(expect, e->d_name)))
            res = SOC_WRONG_KEY;
        if (res == SOC_OK) {
            st->kept++;
            st->bytes += (uint64_t)n;
            if (visit)
                rc = visit(ctx, &rec);
        } else {
            unlink(path);
            if (res == SOC_EXPIRED) {
                st->expired++;
            } else {
                st->corrupt++;
                if (bad)
                    bad(ctx, path, res);
            }
        }
        free(data);
    }
    closedir(d);
    return rc;
}
