/* Copyright 2026 the mod_ocsp_guard developers. Licensed under the Apache License 2.0 (LICENSE). */
/* socache_ocsp core: record format, corruption matrix, files, sweep,
 * arguments, and the crash, concurrency and full-disk cases. */
#include <check.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <grp.h>
#include <time.h>
#include <unistd.h>

#include "soc_path.h"
#include "soc_record.h"


/* ------------------------------------------------------------------------
 * Interposed system calls. The test binary's definitions take precedence
 * over libc's for every caller, so these make races and failures that the
 * cores cannot arrange deterministically, on any version of the code. They
 * do nothing unless a test arms them; the real work is the raw system call.
 */
static int fstat_fails;          /* fstat() fails with EIO while set */
int fstat(int fd, struct stat *st)
{
    if (fstat_fails) {
        errno = EIO;
        return -1;
    }
    return (int)syscall(SYS_fstat, fd, st);
}

static int dir_fsyncs;           /* fsync()/fdatasync() of a directory */
static void count_dir_sync(int fd)
{
    struct stat st;
    if (syscall(SYS_fstat, fd, &st) == 0 && S_ISDIR(st.st_mode))
        dir_fsyncs++;
}
int fsync(int fd)
{
    count_dir_sync(fd);
    return (int)syscall(SYS_fsync, fd);
}
int fdatasync(int fd)
{
    count_dir_sync(fd);
    return (int)syscall(SYS_fdatasync, fd);
}

/* Armed with a file name: the first call that removes or renames away that
 * name first runs race_action, as if another process got there first. */
static char race_name[256];
static void (*race_action)(void);
static int race_fired;
static void race_point(const char *path)
{
    const char *base = strrchr(path, '/');
    base = base ? base + 1 : path;
    if (race_action && !race_fired && !strcmp(base, race_name)) {
        race_fired = 1;
        race_action();
    }
}
int unlink(const char *path)
{
    race_point(path);
    return (int)syscall(SYS_unlinkat, AT_FDCWD, path, 0);
}
int unlinkat(int dirfd, const char *path, int flags)
{
    race_point(path);
    return (int)syscall(SYS_unlinkat, dirfd, path, flags);
}
int rename(const char *from, const char *to)
{
    race_point(from);
    return (int)syscall(SYS_renameat2, AT_FDCWD, from, AT_FDCWD, to, 0);
}
int renameat(int fromfd, const char *from, int tofd, const char *to)
{
    race_point(from);
    return (int)syscall(SYS_renameat2, fromfd, from, tofd, to, 0);
}
int renameat2(int fromfd, const char *from, int tofd, const char *to, unsigned int flags)
{
    race_point(from);
    return (int)syscall(SYS_renameat2, fromfd, from, tofd, to, flags);
}

static const unsigned char KEY[20] = "0123456789abcdefghij";
static char dir[256];

static int64_t now_us(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

static void setup(void)
{
    snprintf(dir, sizeof(dir), "/tmp/soc_unit.XXXXXX");
    ck_assert_ptr_nonnull(mkdtemp(dir));
}

static void teardown(void)
{
    char cmd[300];
    snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
    ck_assert_int_eq(system(cmd), 0);
}

static unsigned char *encode(const char *value, int64_t expiry, size_t *len)
{
    size_t vlen = strlen(value);
    *len = soc_record_size(sizeof(KEY), vlen);
    unsigned char *rec = malloc(*len);
    soc_record_encode(rec, KEY, sizeof(KEY), (const unsigned char *)value, vlen, expiry);
    return rec;
}

START_TEST(roundtrip)
{
    size_t len;
    int64_t exp = now_us() + 60000000;
    unsigned char *rec = encode("hello ocsp", exp, &len);
    soc_record r;
    ck_assert_int_eq(soc_record_decode(rec, len, now_us(), &r), SOC_OK);
    ck_assert_uint_eq(r.vlen, 10);
    ck_assert_mem_eq(r.value, "hello ocsp", 10);
    ck_assert_mem_eq(r.key, KEY, sizeof(KEY));
    ck_assert(r.expiry == exp);
    free(rec);
}
END_TEST

/* The record checksum is the standard CRC-32: records written by earlier
 * versions stay readable. */
START_TEST(crc32_known_answers)
{
    ck_assert_uint_eq(soc_crc32(0, (const unsigned char *)"123456789", 9), 0xCBF43926u);
    ck_assert_uint_eq(soc_crc32(0, (const unsigned char *)"", 0), 0);
    /* in pieces, as records are checked: header fields, key, value */
    uint32_t c = soc_crc32(0, (const unsigned char *)"1234", 4);
    ck_assert_uint_eq(soc_crc32(c, (const unsigned char *)"56789", 5), 0xCBF43926u);
    unsigned char all[256];
    for (int i = 0; i < 256; i++)
        all[i] = (unsigned char)i;
    ck_assert_uint_eq(soc_crc32(0, all, sizeof(all)), 0x29058C73u);
}
END_TEST

START_TEST(corruption_matrix)
{
    size_t len;
    int64_t now = now_us();
    unsigned char *rec = encode("some response bytes", now + 60000000, &len);
    soc_record r;
    /* bad magic */
    rec[0] ^= 0xFF;
    ck_assert_int_eq(soc_record_decode(rec, len, now, &r), SOC_BAD_MAGIC);
    rec[0] ^= 0xFF;
    /* wrong version */
    rec[SOC_OFF_VERSION] = 2;
    ck_assert_int_eq(soc_record_decode(rec, len, now, &r), SOC_BAD_VERSION);
    rec[SOC_OFF_VERSION] = SOC_VERSION;
    /* reserved bytes set (found by fuzz_record) */
    rec[SOC_OFF_RESERVED + 2] = 0x53;
    ck_assert_int_eq(soc_record_decode(rec, len, now, &r), SOC_BAD_VERSION);
    rec[SOC_OFF_RESERVED + 2] = 0;
    /* short: every truncation */
    for (size_t cut = 0; cut < len; cut++)
        ck_assert_int_eq(soc_record_decode(rec, cut, now, &r), SOC_SHORT);
    /* checksum: any flipped byte of expiry, key or value */
    for (size_t i = SOC_OFF_EXPIRY; i < len; i++) {
        if (i >= SOC_OFF_KEY_LEN && i < SOC_HEADER_LEN)
            continue;            /* lengths and the checksum itself: checked below */
        rec[i] ^= 0x5A;
        ck_assert_int_ne(soc_record_decode(rec, len, now, &r), SOC_OK);
        rec[i] ^= 0x5A;
    }
    rec[SOC_OFF_CRC + 2] ^= 1;
    ck_assert_int_eq(soc_record_decode(rec, len, now, &r), SOC_BAD_CHECKSUM);
    rec[SOC_OFF_CRC + 2] ^= 1;
    /* lengths that disagree with the size */
    rec[SOC_OFF_VALUE_LEN + 3] ^= 1;
    ck_assert_int_eq(soc_record_decode(rec, len, now, &r), SOC_SHORT);
    rec[SOC_OFF_VALUE_LEN + 3] ^= 1;
    /* zero length */
    unsigned char z[SOC_HEADER_LEN];
    memcpy(z, rec, SOC_HEADER_LEN);
    memset(z + SOC_OFF_VALUE_LEN, 0, 4);
    ck_assert_int_eq(soc_record_decode(z, sizeof(z), now, &r), SOC_ZERO_LENGTH);
    /* expiry in the past */
    free(rec);
    rec = encode("old", now - 1, &len);
    ck_assert_int_eq(soc_record_decode(rec, len, now, &r), SOC_EXPIRED);
    free(rec);
}
END_TEST

START_TEST(file_store_load_remove)
{
    unsigned char buf[100];
    size_t vlen;
    int missing;
    int64_t exp = now_us() + 60000000, got;
    ck_assert_int_eq(soc_file_load(dir, KEY, sizeof(KEY), now_us(), buf, sizeof(buf), &vlen, &got, &missing), SOC_SHORT);
    ck_assert(missing);
    ck_assert_int_eq(soc_file_store(dir, KEY, sizeof(KEY), (const unsigned char *)"v1", 2, exp), 0);
    ck_assert_int_eq(soc_file_store(dir, KEY, sizeof(KEY), (const unsigned char *)"value2", 6, exp), 0);
    ck_assert_int_eq(soc_file_load(dir, KEY, sizeof(KEY), now_us(), buf, sizeof(buf), &vlen, &got, &missing), SOC_OK);
    ck_assert_uint_eq(vlen, 6);
    ck_assert_mem_eq(buf, "value2", 6);
    ck_assert(got == exp);
    /* a buffer too small: not found, the record stays */
    ck_assert_int_eq(soc_file_load(dir, KEY, sizeof(KEY), now_us(), buf, 3, &vlen, &got, &missing), SOC_TOO_LARGE);
    ck_assert_int_eq(soc_file_load(dir, KEY, sizeof(KEY), now_us(), buf, sizeof(buf), &vlen, &got, &missing), SOC_OK);
    ck_assert_int_eq(soc_file_remove(dir, KEY, sizeof(KEY)), 0);
    ck_assert_int_eq(soc_file_load(dir, KEY, sizeof(KEY), now_us(), buf, sizeof(buf), &vlen, &got, &missing), SOC_SHORT);
    ck_assert(missing);
    ck_assert_int_eq(soc_file_remove(dir, KEY, sizeof(KEY)), 0);
    /* bad keys and values are refused */
    ck_assert_int_eq(soc_file_store(dir, KEY, 0, (const unsigned char *)"x", 1, exp), EINVAL);
    ck_assert_int_eq(soc_file_store(dir, KEY, sizeof(KEY), (const unsigned char *)"x", 0, exp), EINVAL);
}
END_TEST

static void write_file(const char *name, const void *data, size_t len)
{
    char path[512];
    snprintf(path, sizeof(path), "%s/%s", dir, name);
    FILE *f = fopen(path, "wb");
    ck_assert_ptr_nonnull(f);
    fwrite(data, 1, len, f);
    fclose(f);
}

static int exists(const char *name)
{
    char path[512];
    snprintf(path, sizeof(path), "%s/%s", dir, name);
    return access(path, F_OK) == 0;
}

START_TEST(corrupt_files_are_misses_and_removed)
{
    char name[64];
    unsigned char buf[100];
    size_t vlen, len;
    int missing;
    soc_key_filename(KEY, sizeof(KEY), name, sizeof(name));
    unsigned char *rec = encode("payload", now_us() + 60000000, &len);
    struct { const char *what; size_t cut; int byte; soc_result want; } cases[] = {
        { "truncated", 10, -1, SOC_SHORT },
        { "truncated value", 0, -2, SOC_SHORT },
        { "bad magic", 0, 1, SOC_BAD_MAGIC },
        { "wrong version", 0, 4, SOC_BAD_VERSION },
        { "checksum", 0, 30, SOC_BAD_CHECKSUM },
        { "empty file", 1, -1, SOC_SHORT },
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        unsigned char copy[256];
        size_t n = len;
        memcpy(copy, rec, len);
        if (cases[i].byte >= 0)
            copy[cases[i].byte] ^= 0x11;
        if (cases[i].byte == -1)
            n = cases[i].cut == 1 ? 0 : cases[i].cut;
        if (cases[i].byte == -2)
            n = len - 1;
        write_file(name, copy, n);
        ck_assert_int_eq(soc_file_load(dir, KEY, sizeof(KEY), now_us(), buf, sizeof(buf), &vlen, NULL, &missing),
                         cases[i].want);
        ck_assert_msg(!missing, "%s", cases[i].what);
        ck_assert_msg(!exists(name), "%s: corrupt record not removed", cases[i].what);
    }
    /* a valid record stored under another key's name */
    unsigned char other[20];
    memset(other, 'z', sizeof(other));
    write_file(name, rec, len);
    char other_name[64];
    soc_key_filename(other, sizeof(other), other_name, sizeof(other_name));
    {
        char from[512], to[512];
        snprintf(from, sizeof(from), "%s/%s", dir, name);
        snprintf(to, sizeof(to), "%s/%s", dir, other_name);
        rename(from, to);
    }
    ck_assert_int_eq(soc_file_load(dir, other, sizeof(other), now_us(), buf, sizeof(buf), &vlen, NULL, &missing),
                     SOC_WRONG_KEY);
    free(rec);
}
END_TEST

static int bad_seen;
static void note_bad(void *ctx, const char *path, soc_result why)
{
    (void)ctx;
    ck_assert_ptr_nonnull(strstr(path, "0303030303"));
    ck_assert_int_eq(why, SOC_SHORT);
    bad_seen++;
}

static int count_visits(void *ctx, const soc_record *rec)
{
    (void)rec;
    (*(int *)ctx)++;
    return 0;
}

START_TEST(sweep_removes_expired_corrupt_and_stale_tmp)
{
    unsigned char k2[20], k3[20];
    memset(k2, 2, sizeof(k2));
    memset(k3, 3, sizeof(k3));
    int64_t now = now_us();
    soc_file_store(dir, KEY, sizeof(KEY), (const unsigned char *)"live", 4, now + 60000000);
    soc_file_store(dir, k2, sizeof(k2), (const unsigned char *)"dead", 4, now + 1);
    char name3[64];
    soc_key_filename(k3, sizeof(k3), name3, sizeof(name3));
    write_file(name3, "garbage!", 8);
    write_file(".tmp.1.2.3", "partial", 7);
    char tmp[512];
    snprintf(tmp, sizeof(tmp), "%s/.tmp.1.2.3", dir);
    struct timespec old[2] = { { time(NULL) - 3600, 0 }, { time(NULL) - 3600, 0 } };
    utimensat(AT_FDCWD, tmp, old, 0);
    write_file(".tmp.4.5.6", "in progress", 11);   /* fresh: a writer may be at work */
    usleep(10);
    int visits = 0;
    soc_sweep_stats st;
    soc_sweep(dir, now + 10, count_visits, note_bad, &visits, &st);
    ck_assert_int_eq(visits, 1);
    ck_assert_uint_eq(st.kept, 1);
    ck_assert_uint_eq(st.expired, 1);
    ck_assert_uint_eq(st.corrupt, 1);
    ck_assert_uint_eq(st.stale_tmp, 1);
    ck_assert_int_eq(bad_seen, 1);
    ck_assert(!exists(".tmp.1.2.3"));
    ck_assert(exists(".tmp.4.5.6"));
    ck_assert(!exists(name3));
}
END_TEST

START_TEST(argument_parsing)
{
    soc_args a;
    char err[256];
    ck_assert_ptr_null(soc_parse_args("/var/cache/ocsp", &a, err, sizeof(err)));
    ck_assert_str_eq(a.dir, "/var/cache/ocsp");
    ck_assert_str_eq(a.redis_host, "");
    ck_assert_int_eq(a.timeout_ms, SOC_DEFAULT_TIMEOUT_MS);
    ck_assert_str_eq(a.prefix, SOC_DEFAULT_PREFIX);
    ck_assert_ptr_null(soc_parse_args("/d,redis=127.0.0.1:6379,prefix=site1:,timeout=200", &a, err, sizeof(err)));
    ck_assert_str_eq(a.redis_host, "127.0.0.1");
    ck_assert_int_eq(a.redis_port, 6379);
    ck_assert_str_eq(a.prefix, "site1:");
    ck_assert_int_eq(a.timeout_ms, 200);
    ck_assert_ptr_null(soc_parse_args("", &a, err, sizeof(err)));
    ck_assert_str_eq(a.dir, "");
    ck_assert_ptr_null(soc_parse_args(NULL, &a, err, sizeof(err)));
    struct { const char *arg, *names; } bad[] = {
        { "relative/dir", "absolute" },
        { "/d,redis=host", "redis='host'" },
        { "/d,redis=host:0", "redis='host:0'" },
        { "/d,redis=:6379", "redis=':6379'" },
        { "/d,redis=host:99999", "redis=" },
        { "/d,timeout=0", "timeout='0'" },
        { "/d,timeout=abc", "timeout='abc'" },
        { "/d,prefix=", "prefix=''" },
        { "/d,colour=blue", "unknown option 'colour'" },
        { "/d,,timeout=5", "'' is not NAME=VALUE" },
        { "redis=h:1", "first part" },
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        const char *msg = soc_parse_args(bad[i].arg, &a, err, sizeof(err));
        ck_assert_msg(msg != NULL, "%s accepted", bad[i].arg);
        ck_assert_msg(strstr(msg, bad[i].names) != NULL, "%s: message '%s' does not name '%s'",
                      bad[i].arg, msg, bad[i].names);
    }
}
END_TEST

/* Values that say what they should contain: byte i = (tag + i) & 0xFF,
 * tag in the first four bytes. */
static void fill(unsigned char *v, size_t len, uint32_t tag)
{
    memcpy(v, &tag, 4);
    for (size_t i = 4; i < len; i++)
        v[i] = (unsigned char)(tag + i);
}

static int consistent(const unsigned char *v, size_t len)
{
    uint32_t tag;
    if (len < 4)
        return 0;
    memcpy(&tag, v, 4);
    for (size_t i = 4; i < len; i++)
        if (v[i] != (unsigned char)(tag + i))
            return 0;
    return 1;
}

START_TEST(processes_never_see_torn_records)
{
    enum { PROCS = 4, KEYS = 3, ROUNDS = 400 };
    pid_t pids[PROCS];
    for (int p = 0; p < PROCS; p++) {
        pids[p] = fork();
        if (pids[p] == 0) {
            unsigned char v[8192], buf[8192], key[20];
            int bad = 0;
            for (int r = 0; r < ROUNDS; r++) {
                memset(key, 'a' + r % KEYS, sizeof(key));
                size_t len = 100 + (size_t)((p * 997 + r * 131) % 8000);
                fill(v, len, (uint32_t)(p << 16 | r));
                soc_file_store(dir, key, sizeof(key), v, len, now_us() + 60000000);
                size_t got;
                int missing;
                memset(key, 'a' + (r + 1) % KEYS, sizeof(key));
                soc_result res = soc_file_load(dir, key, sizeof(key), now_us(), buf, sizeof(buf), &got, NULL, &missing);
                if (res == SOC_OK && !consistent(buf, got))
                    bad++;
                if (res != SOC_OK && !missing)
                    bad++;
            }
            _exit(bad ? 1 : 0);
        }
    }
    for (int p = 0; p < PROCS; p++) {
        int status;
        waitpid(pids[p], &status, 0);
        ck_assert_msg(WIFEXITED(status) && WEXITSTATUS(status) == 0, "process %d saw a torn record", p);
    }
}
END_TEST

START_TEST(writer_killed_mid_store_leaves_old_value)
{
    static unsigned char big[SOC_MAX_VALUE];
    unsigned char *buf = malloc(SOC_MAX_VALUE);
    size_t got;
    int missing;
    fill(big, 64, 7);
    ck_assert_int_eq(soc_file_store(dir, KEY, sizeof(KEY), big, 64, now_us() + 60000000), 0);
    for (int round = 0; round < 10; round++) {
        pid_t pid = fork();
        if (pid == 0) {
            fill(big, sizeof(big), 1000 + (uint32_t)round);
            for (;;)
                soc_file_store(dir, KEY, sizeof(KEY), big, sizeof(big), now_us() + 60000000);
        }
        usleep(2000 + (useconds_t)round * 1500);
        kill(pid, SIGKILL);
        waitpid(pid, NULL, 0);
        ck_assert_int_eq(soc_file_load(dir, KEY, sizeof(KEY), now_us(), buf, SOC_MAX_VALUE, &got, NULL, &missing), SOC_OK);
        ck_assert(consistent(buf, got));
        ck_assert(got == 64 || got == sizeof(big));
    }
    free(buf);
}
END_TEST

START_TEST(full_disk_fails_store_keeps_old)
{
    unsigned char v[4096], buf[8192];
    size_t got;
    int missing;
    fill(v, 100, 42);
    ck_assert_int_eq(soc_file_store(dir, KEY, sizeof(KEY), v, 100, now_us() + 60000000), 0);
    pid_t pid = fork();
    if (pid == 0) {
        /* a file size limit stands in for a full disk: writes fail with EFBIG */
        struct rlimit rl = { 1024, 1024 };
        signal(SIGXFSZ, SIG_IGN);
        setrlimit(RLIMIT_FSIZE, &rl);
        fill(v, sizeof(v), 43);
        int rc = soc_file_store(dir, KEY, sizeof(KEY), v, sizeof(v), now_us() + 60000000);
        _exit(rc == EFBIG ? 0 : 1);
    }
    int status;
    waitpid(pid, &status, 0);
    ck_assert_msg(WIFEXITED(status) && WEXITSTATUS(status) == 0, "store did not fail with EFBIG");
    ck_assert_int_eq(soc_file_load(dir, KEY, sizeof(KEY), now_us(), buf, sizeof(buf), &got, NULL, &missing), SOC_OK);
    ck_assert_uint_eq(got, 100);
    ck_assert(consistent(buf, got));
    soc_sweep_stats st;
    soc_sweep(dir, now_us(), NULL, NULL, NULL, &st);
    ck_assert_uint_eq(st.kept, 1);
}
END_TEST


/* ---------------------------------------------------------- file tier hardening */

static void key_path(char *out, size_t len)
{
    char name[64];
    soc_key_filename(KEY, sizeof(KEY), name, sizeof(name));
    snprintf(out, len, "%s/%s", dir, name);
}

/* Runs soc_file_load in a child; the result, or -1 when it did not return
 * within two seconds. */
static int load_within_2s(void)
{
    int pfd[2];
    ck_assert_int_eq(pipe(pfd), 0);
    pid_t pid = fork();
    if (pid == 0) {
        unsigned char buf[256];
        size_t vlen;
        int missing;
        int r = soc_file_load(dir, KEY, sizeof(KEY), now_us(), buf, sizeof(buf), &vlen, NULL, &missing);
        (void)!write(pfd[1], &r, sizeof(r));
        _exit(0);
    }
    close(pfd[1]);
    int r = -1, status;
    for (int i = 0; i < 200; i++) {
        if (waitpid(pid, &status, WNOHANG) == pid) {
            if (read(pfd[0], &r, sizeof(r)) != sizeof(r))
                r = -2;
            close(pfd[0]);
            return r;
        }
        usleep(10000);
    }
    kill(pid, SIGKILL);
    waitpid(pid, &status, 0);
    close(pfd[0]);
    return -1;
}

START_TEST(fifo_at_record_name_returns_promptly)
{
    char path[512];
    struct stat st;
    key_path(path, sizeof(path));
    ck_assert_int_eq(mkfifo(path, 0600), 0);
    int r = load_within_2s();
    ck_assert_msg(r != -1, "soc_file_load blocked on a FIFO at the record name");
    ck_assert_int_ne(r, SOC_OK);
    ck_assert_int_eq(lstat(path, &st), 0);
    ck_assert(S_ISFIFO(st.st_mode));
    /* a store replaces it with a real record */
    ck_assert_int_eq(soc_file_store(dir, KEY, sizeof(KEY), (const unsigned char *)"v", 1, now_us() + 60000000), 0);
    ck_assert_int_eq(load_within_2s(), SOC_OK);
}
END_TEST

START_TEST(symlink_at_record_name_is_not_followed)
{
    char other[300], path[512], target[512], name[64];
    unsigned char buf[100];
    size_t vlen;
    int missing;
    struct stat before, after;
    /* elsewhere, a perfectly valid record for this key */
    snprintf(other, sizeof(other), "%s/elsewhere", dir);
    ck_assert_int_eq(mkdir(other, 0700), 0);
    ck_assert_int_eq(soc_file_store(other, KEY, sizeof(KEY), (const unsigned char *)"planted", 7,
                                    now_us() + 60000000), 0);
    soc_key_filename(KEY, sizeof(KEY), name, sizeof(name));
    snprintf(target, sizeof(target), "%s/%s", other, name);
    ck_assert_int_eq(stat(target, &before), 0);
    key_path(path, sizeof(path));
    ck_assert_int_eq(symlink(target, path), 0);
    soc_result r = soc_file_load(dir, KEY, sizeof(KEY), now_us(), buf, sizeof(buf), &vlen, NULL, &missing);
    ck_assert_msg(r != SOC_OK, "the record was read through a symbolic link");
    ck_assert_int_eq(stat(target, &after), 0);
    ck_assert(after.st_ino == before.st_ino && after.st_size == before.st_size);
    ck_assert_int_eq(soc_file_load(other, KEY, sizeof(KEY), now_us(), buf, sizeof(buf), &vlen, NULL, &missing), SOC_OK);
    ck_assert_mem_eq(buf, "planted", 7);
}
END_TEST

static void store_fresh_value(void)
{
    ck_assert_int_eq(soc_file_store(dir, KEY, sizeof(KEY), (const unsigned char *)"fresh", 5,
                                    now_us() + 60000000), 0);
}

START_TEST(record_replaced_before_removal_is_kept)
{
    char name[64];
    unsigned char buf[100];
    size_t vlen;
    int missing;
    soc_key_filename(KEY, sizeof(KEY), name, sizeof(name));
    write_file(name, "corrupt!", 8);
    /* another process stores a good record after this one read the corrupt
     * one, just before it removes what it read */
    snprintf(race_name, sizeof(race_name), "%s", name);
    race_action = store_fresh_value;
    race_fired = 0;
    soc_result r = soc_file_load(dir, KEY, sizeof(KEY), now_us(), buf, sizeof(buf), &vlen, NULL, &missing);
    race_action = NULL;
    ck_assert_int_ne(r, SOC_OK);
    ck_assert_msg(race_fired, "the corrupt record was not removed at all");
    ck_assert_int_eq(soc_file_load(dir, KEY, sizeof(KEY), now_us(), buf, sizeof(buf), &vlen, NULL, &missing), SOC_OK);
    ck_assert_uint_eq(vlen, 5);
    ck_assert_mem_eq(buf, "fresh", 5);
}
END_TEST

START_TEST(failing_fstat_is_unusable_and_removes_nothing)
{
    char path[512];
    unsigned char buf[100];
    size_t vlen;
    int missing;
    ck_assert_int_eq(soc_file_store(dir, KEY, sizeof(KEY), (const unsigned char *)"value", 5, now_us() + 60000000), 0);
    fstat_fails = 1;
    soc_result r = soc_file_load(dir, KEY, sizeof(KEY), now_us(), buf, sizeof(buf), &vlen, NULL, &missing);
    fstat_fails = 0;
    ck_assert_int_ne(r, SOC_OK);
    key_path(path, sizeof(path));
    ck_assert_msg(access(path, F_OK) == 0, "a record that could not be examined was removed");
    ck_assert_int_eq(soc_file_load(dir, KEY, sizeof(KEY), now_us(), buf, sizeof(buf), &vlen, NULL, &missing), SOC_OK);
}
END_TEST

START_TEST(store_syncs_the_directory)
{
    dir_fsyncs = 0;
    ck_assert_int_eq(soc_file_store(dir, KEY, sizeof(KEY), (const unsigned char *)"v", 1, now_us() + 60000000), 0);
    ck_assert_msg(dir_fsyncs >= 1, "the directory was not synced after the rename");
}
END_TEST

START_TEST(sweep_does_not_follow_a_symlinked_directory)
{
    char victim[300], link[300], name3[64];
    unsigned char k3[20];
    memset(k3, 3, sizeof(k3));
    soc_key_filename(k3, sizeof(k3), name3, sizeof(name3));
    /* a directory full of files that are not records, reached by a symlink
     * where the consumer directory should be */
    snprintf(victim, sizeof(victim), "%s/victim", dir);
    ck_assert_int_eq(mkdir(victim, 0755), 0);
    const char *files[] = { "passwd", "bin-tool", name3 };
    for (size_t i = 0; i < 3; i++) {
        char p[512];
        snprintf(p, sizeof(p), "%s/%s", victim, files[i]);
        FILE *f = fopen(p, "w");
        ck_assert_ptr_nonnull(f);
        fputs("not a record\n", f);
        fclose(f);
    }
    snprintf(link, sizeof(link), "%s/consumer", dir);
    ck_assert_int_eq(symlink(victim, link), 0);
    soc_sweep_stats st;
    soc_sweep(link, now_us(), NULL, NULL, NULL, &st);
    for (size_t i = 0; i < 3; i++) {
        char p[512];
        snprintf(p, sizeof(p), "%s/%s", victim, files[i]);
        ck_assert_msg(access(p, F_OK) == 0, "%s was deleted through the symlink", files[i]);
    }
    ck_assert_uint_eq(st.corrupt, 0);
}
END_TEST

/* ------------------------------------------------- opening the directory as root */

static void sub(char *out, size_t len, const char *rel)
{
    snprintf(out, len, "%s/%s", dir, rel);
}

START_TEST(walk_creates_and_hands_over_only_what_it_created)
{
    char path[512], p[512];
    struct stat st;
    soc_walk w;
    if (geteuid() != 0)
        return;                  /* ownership needs root */
    sub(path, sizeof(path), "base/more/consumer");
    soc_dir_walk(path, SOC_WALK_CREATE, 33, 33, &w);
    ck_assert_msg(w.fd >= 0, "%s", w.msg);
    ck_assert(w.created);
    ck_assert_int_eq(fstat(w.fd, &st), 0);
    ck_assert(st.st_uid == 33 && st.st_gid == 33 && (st.st_mode & 07777) == 0700);
    close(w.fd);
    /* the directories on the way are root's, traversable */
    sub(p, sizeof(p), "base/more");
    ck_assert_int_eq(stat(p, &st), 0);
    ck_assert(st.st_uid == 0 && (st.st_mode & 07777) == 0755);
    /* an existing directory is never chowned, even to hand it over */
    sub(p, sizeof(p), "mine");
    ck_assert_int_eq(mkdir(p, 0750), 0);
    soc_dir_walk(p, SOC_WALK_CREATE, 33, 33, &w);
    ck_assert_int_ge(w.fd, 0);
    ck_assert(!w.created);
    close(w.fd);
    ck_assert_int_eq(stat(p, &st), 0);
    ck_assert(st.st_uid == 0 && (st.st_mode & 07777) == 0750);
}
END_TEST

START_TEST(walk_refuses_a_symlink_as_the_directory)
{
    char victim[512], link[512];
    struct stat st;
    soc_walk w;
    sub(victim, sizeof(victim), "victim");
    sub(link, sizeof(link), "consumer");
    ck_assert_int_eq(mkdir(victim, 0755), 0);
    ck_assert_int_eq(symlink(victim, link), 0);
    soc_dir_walk(link, SOC_WALK_CREATE, 33, 33, &w);
    ck_assert_int_eq(w.fd, -1);
    ck_assert_int_eq(w.err, ELOOP);
    ck_assert_ptr_nonnull(strstr(w.msg, link));
    ck_assert_ptr_nonnull(strstr(w.msg, "is a symbolic link"));
    ck_assert_int_eq(stat(victim, &st), 0);
    ck_assert(st.st_uid == geteuid());
    /* the probe says the same, and so does a plain open */
    soc_dir_walk(link, SOC_WALK_PROBE, -1, -1, &w);
    ck_assert(w.fd == -1 && !w.missing && strstr(w.msg, "is a symbolic link"));
}
END_TEST

START_TEST(walk_follows_only_links_no_other_user_controls)
{
    char real[512], link[512], path[512], wd[512];
    soc_walk w;
    sub(real, sizeof(real), "real");
    ck_assert_int_eq(mkdir(real, 0755), 0);
    /* in a directory only root can change (the test's own, 0700): followed */
    sub(link, sizeof(link), "to-real");
    ck_assert_int_eq(symlink("real", link), 0);
    sub(path, sizeof(path), "to-real/consumer");
    soc_dir_walk(path, SOC_WALK_CREATE, -1, -1, &w);
    ck_assert_msg(w.fd >= 0, "%s", w.msg);
    close(w.fd);
    sub(path, sizeof(path), "real/consumer");
    ck_assert_int_eq(access(path, F_OK), 0);
    if (geteuid() != 0)
        return;
    /* in a directory the server's user owns: not followed */
    sub(wd, sizeof(wd), "wd");
    ck_assert_int_eq(mkdir(wd, 0755), 0);
    ck_assert_int_eq(chown(wd, 33, 33), 0);
    sub(link, sizeof(link), "wd/cache");
    ck_assert_int_eq(symlink(real, link), 0);
    sub(path, sizeof(path), "wd/cache/other");
    soc_dir_walk(path, SOC_WALK_CREATE, 33, 33, &w);
    ck_assert_int_eq(w.fd, -1);
    ck_assert_ptr_nonnull(strstr(w.msg, "users other than root can change"));
    sub(path, sizeof(path), "real/other");
    ck_assert_int_ne(access(path, F_OK), 0);
}
END_TEST

START_TEST(walk_probe_creates_nothing)
{
    char path[512], p[512];
    soc_walk w;
    sub(path, sizeof(path), "not/yet/there");
    soc_dir_walk(path, SOC_WALK_PROBE, -1, -1, &w);
    ck_assert_int_eq(w.fd, -1);
    ck_assert_msg(w.missing, "%s", w.msg);
    sub(p, sizeof(p), "not");
    ck_assert_int_ne(access(p, F_OK), 0);
    soc_dir_walk("/proc/soc_unit_cannot_be_here/consumer", SOC_WALK_PROBE, -1, -1, &w);
    ck_assert(w.fd == -1 && !w.missing);
    ck_assert_msg(strstr(w.msg, "cannot create /proc/soc_unit_cannot_be_here/consumer") != NULL, "%s", w.msg);
    /* an existing directory: opened, nothing else */
    soc_dir_walk(dir, SOC_WALK_PROBE, -1, -1, &w);
    ck_assert_int_ge(w.fd, 0);
    close(w.fd);
    /* a file where a directory should be */
    write_file("plain", "x", 1);
    sub(path, sizeof(path), "plain/consumer");
    soc_dir_walk(path, SOC_WALK_PROBE, -1, -1, &w);
    ck_assert(w.fd == -1 && !w.missing && strstr(w.msg, "is not a directory"));
}
END_TEST

static int check_ids(void *ctx)
{
    gid_t groups[4];
    (void)ctx;
    return geteuid() == 33 && getuid() == 33 && getegid() == 33 &&
           getgroups(4, groups) == 1 && groups[0] == 33 ? 7 : 1;
}

START_TEST(run_as_drops_to_the_server_user)
{
    if (geteuid() != 0)
        return;
    ck_assert_int_eq(soc_run_as(33, 33, check_ids, NULL, SOC_RUN_AS_TIMEOUT_MS), 7);
    ck_assert_int_eq(geteuid(), 0);
}
END_TEST

/* The server's user can stop its own processes: root waits a bounded time. */
static int stop_myself(void *ctx)
{
    (void)ctx;
    raise(SIGSTOP);
    return 0;
}

START_TEST(run_as_never_waits_for_a_stopped_child)
{
    struct timespec a, b;
    clock_gettime(CLOCK_MONOTONIC, &a);
    errno = 0;
    ck_assert_int_eq(soc_run_as(geteuid() == 0 ? 33 : -1, 33, stop_myself, NULL, 300), -1);
    ck_assert_int_eq(errno, ETIMEDOUT);
    clock_gettime(CLOCK_MONOTONIC, &b);
    long ms = (b.tv_sec - a.tv_sec) * 1000 + (b.tv_nsec - a.tv_nsec) / 1000000;
    ck_assert_msg(ms >= 300 && ms < 3000, "returned after %ld ms", ms);
}
END_TEST

Suite *record_suite(void)
{
    Suite *s = suite_create("record");
    TCase *tc = tcase_create("socache_ocsp");
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_set_timeout(tc, 120);
    tcase_add_test(tc, roundtrip);
    tcase_add_test(tc, crc32_known_answers);
    tcase_add_test(tc, run_as_never_waits_for_a_stopped_child);
    tcase_add_test(tc, corruption_matrix);
    tcase_add_test(tc, file_store_load_remove);
    tcase_add_test(tc, corrupt_files_are_misses_and_removed);
    tcase_add_test(tc, sweep_removes_expired_corrupt_and_stale_tmp);
    tcase_add_test(tc, argument_parsing);
    tcase_add_test(tc, processes_never_see_torn_records);
    tcase_add_test(tc, writer_killed_mid_store_leaves_old_value);
    tcase_add_test(tc, full_disk_fails_store_keeps_old);
    tcase_add_test(tc, fifo_at_record_name_returns_promptly);
    tcase_add_test(tc, symlink_at_record_name_is_not_followed);
    tcase_add_test(tc, record_replaced_before_removal_is_kept);
    tcase_add_test(tc, failing_fstat_is_unusable_and_removes_nothing);
    tcase_add_test(tc, store_syncs_the_directory);
    tcase_add_test(tc, sweep_does_not_follow_a_symlinked_directory);
    tcase_add_test(tc, walk_creates_and_hands_over_only_what_it_created);
    tcase_add_test(tc, walk_refuses_a_symlink_as_the_directory);
    tcase_add_test(tc, walk_follows_only_links_no_other_user_controls);
    tcase_add_test(tc, walk_probe_creates_nothing);
    tcase_add_test(tc, run_as_drops_to_the_server_user);
    suite_add_tcase(s, tc);
    return s;
}
