/* Copyright 2026 the mod_ocsp_guard developers. Licensed under the Apache License 2.0 (LICENSE). */
/* socache_ocsp's Redis client: the reply parser, the bounded read, the
 * one-deadline-per-operation rule, AUTH and the per-process pool, against
 * a scripted fake server on a loopback port; and the auth file's checks. */
#include <check.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "soc_redis.h"

/* ------------------------------------------------------------------ parser */

static soc_resp_state parse(const char *s, size_t cap, soc_reply *r, size_t *used)
{
    return soc_resp_parse((const unsigned char *)s, strlen(s), cap, r, used);
}

START_TEST(parser_accepts_the_replies_used)
{
    soc_reply r;
    size_t used;
    ck_assert_int_eq(parse("+OK\r\n", 10, &r, &used), SOC_RESP_DONE);
    ck_assert_int_eq(r.type, SOC_REPLY_STATUS);
    ck_assert_uint_eq(r.len, 2);
    ck_assert_uint_eq(used, 5);
    ck_assert_int_eq(parse("-WRONGPASS invalid\r\n", 10, &r, &used), SOC_RESP_DONE);
    ck_assert_int_eq(r.type, SOC_REPLY_ERROR);
    ck_assert_mem_eq(r.data, "WRONGPASS invalid", r.len);
    ck_assert_int_eq(parse(":-42\r\n", 10, &r, &used), SOC_RESP_DONE);
    ck_assert(r.type == SOC_REPLY_INTEGER && r.integer == -42);
    ck_assert_int_eq(parse("$5\r\nhe\r\no\r\n", 10, &r, &used), SOC_RESP_DONE);
    ck_assert(r.type == SOC_REPLY_BULK && r.len == 5 && !memcmp(r.data, "he\r\no", 5));
    ck_assert_uint_eq(used, 11);
    ck_assert_int_eq(parse("$0\r\n\r\n", 10, &r, &used), SOC_RESP_DONE);
    ck_assert(r.type == SOC_REPLY_BULK && r.len == 0);
    ck_assert_int_eq(parse("$-1\r\n", 10, &r, &used), SOC_RESP_DONE);
    ck_assert_int_eq(r.type, SOC_REPLY_NIL);
    /* exactly the cap is fine; one more byte is too big */
    ck_assert_int_eq(parse("$3\r\nabc\r\n", 3, &r, &used), SOC_RESP_DONE);
    ck_assert_int_eq(parse("$4\r\nabcd\r\n", 3, &r, &used), SOC_RESP_TOO_BIG);
}
END_TEST

START_TEST(parser_every_prefix_needs_more)
{
    const char *replies[] = { "+PONG\r\n", "-ERR x\r\n", ":12345\r\n", "$6\r\nfoobar\r\n", "$-1\r\n" };
    soc_reply r;
    size_t used;
    for (size_t i = 0; i < sizeof(replies) / sizeof(replies[0]); i++) {
        size_t n = strlen(replies[i]);
        for (size_t k = 0; k < n; k++)
            ck_assert_msg(soc_resp_parse((const unsigned char *)replies[i], k, 100, &r, &used) ==
                          SOC_RESP_NEED_MORE, "%zu bytes of reply %zu", k, i);
        ck_assert_int_eq(soc_resp_parse((const unsigned char *)replies[i], n, 100, &r, &used), SOC_RESP_DONE);
        ck_assert_uint_eq(used, n);
    }
}
END_TEST

START_TEST(parser_refuses_a_huge_length_from_its_header_alone)
{
    soc_reply r;
    size_t used;
    /* 512 MB declared, not one byte of it sent: refused at once */
    ck_assert_int_eq(parse("$536870912\r\n", 10300, &r, &used), SOC_RESP_TOO_BIG);
    ck_assert_int_eq(parse("$999999999999999999\r\n", 10300, &r, &used), SOC_RESP_TOO_BIG);
}
END_TEST

START_TEST(parser_refuses_garbage)
{
    const char *bad[] = {
        "HTTP/1.1 400 Bad Request\r\n", "*1\r\n$1\r\na\r\n", "%1\r\n", "_\r\n", "+OK\n", "$5\nhello\r\n",
        "$+5\r\nhello\r\n", "$05\r\nhello\r\n", "$-2\r\n", "$ 5\r\nhello\r\n", "$5\r\nhelloXY",
        "$1234567890123456789\r\n", ":12a\r\n", ":\r\n", "$\r\n", "+OK\rX", ":--1\r\n",
    };
    soc_reply r;
    size_t used;
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
        ck_assert_msg(parse(bad[i], 100, &r, &used) == SOC_RESP_PROTOCOL, "accepted: %s", bad[i]);
    /* a status line that never ends is refused once it is too long */
    char *line = malloc(SOC_RESP_MAX_LINE + 10);
    line[0] = '+';
    memset(line + 1, 'a', SOC_RESP_MAX_LINE + 8);
    line[SOC_RESP_MAX_LINE + 9] = '\0';
    ck_assert_int_eq(parse(line, 100, &r, &used), SOC_RESP_PROTOCOL);
    free(line);
}
END_TEST

/* ------------------------------------------------------------- fake server */

typedef enum { FAKE_REDIS, FAKE_SLOW, FAKE_DRIP, FAKE_HUGE, FAKE_GARBAGE, FAKE_CLOSE } fake_mode;

typedef struct fake {
    int lfd, port;
    fake_mode mode;
    const char *user, *pass;     /* AUTH the server wants (pass NULL: none) */
    unsigned char value[4096];   /* the value every key holds */
    size_t vlen;
    volatile int stop;
    int accepts, commands, active;
    char last_range_end[32];
    pthread_t th;
} fake;

static int64_t mono_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void put(int fd, const char *s, size_t n)
{
    while (n) {
        ssize_t w = send(fd, s, n, MSG_NOSIGNAL);
        if (w <= 0)
            return;
        s += w;
        n -= (size_t)w;
    }
}
#define PUTS(fd, s) put(fd, s, strlen(s))

/* Reads one RESP array of bulk strings; argc, or 0 when the client left. */
static int read_command(int fd, char argv[][600], size_t *lens, volatile int *stop)
{
#define stopping (*stop)
    static __thread char buf[65536];
    size_t have = 0;
    for (;;) {
        /* try to parse what we have */
        char *p = buf, *end = buf + have;
        int argc, i;
        if (have > 0 && buf[0] == '*' && memchr(buf, '\n', have)) {
            argc = atoi(buf + 1);
            p = memchr(buf, '\n', have) + 1;
            for (i = 0; i < argc && p < end; i++) {
                char *nl = memchr(p, '\n', (size_t)(end - p));
                size_t len;
                if (!nl)
                    break;
                len = (size_t)atol(p + 1);
                if ((size_t)(end - nl - 1) < len + 2)
                    break;
                lens[i] = len;
                memcpy(argv[i], nl + 1, len < 599 ? len : 599);
                argv[i][len < 599 ? len : 599] = '\0';
                p = nl + 1 + len + 2;
            }
            if (i == argc)
                return argc;
        }
        struct pollfd pfd = { fd, POLLIN, 0 };
        if (poll(&pfd, 1, 100) == 0) {
            if (stopping)
                return 0;
            continue;
        }
        ssize_t n = recv(fd, buf + have, sizeof(buf) - have, 0);
        if (n <= 0)
            return 0;
        have += (size_t)n;
    }
}

static void serve(fake *f, int fd)
{
    char argv[8][600];
    size_t lens[8];
    int argc, authed = f->pass == NULL;
    while ((argc = read_command(fd, argv, lens, &f->stop)) > 0) {
        __atomic_add_fetch(&f->commands, 1, __ATOMIC_SEQ_CST);
        switch (f->mode) {
        case FAKE_SLOW:
            usleep(2000000);
            PUTS(fd, "+PONG\r\n");
            continue;
        case FAKE_DRIP: {
            const char *r = "$5\r\nhello\r\n";
            for (; *r && !f->stop; r++) {
                put(fd, r, 1);
                usleep(60000);
            }
            continue;
        }
        case FAKE_HUGE: {
            static const char zeros[65536];
            PUTS(fd, "$536870912\r\n");
            for (int i = 0; i < 1024 && !f->stop; i++) {
                ssize_t w = send(fd, zeros, sizeof(zeros), MSG_NOSIGNAL);
                if (w <= 0)
                    break;
            }
            return;
        }
        case FAKE_GARBAGE:
            PUTS(fd, "HTTP/1.1 400 Bad Request\r\n\r\n");
            continue;
        case FAKE_CLOSE:
            return;
        case FAKE_REDIS:
            break;
        }
        if (!strcasecmp(argv[0], "AUTH")) {
            const char *user = argc == 3 ? argv[1] : "default", *pass = argv[argc - 1];
            if (f->pass && !strcmp(pass, f->pass) && !strcmp(user, f->user ? f->user : "default")) {
                authed = 1;
                PUTS(fd, "+OK\r\n");
            } else {
                PUTS(fd, "-WRONGPASS invalid username-password pair or user is disabled.\r\n");
            }
        } else if (!authed) {
            PUTS(fd, "-NOAUTH Authentication required.\r\n");
        } else if (!strcasecmp(argv[0], "PING")) {
            PUTS(fd, "+PONG\r\n");
        } else if (!strcasecmp(argv[0], "GETRANGE") && argc == 4) {
            /* Redis's semantics: bytes start..end inclusive, clamped */
            size_t end = (size_t)atol(argv[3]), n = f->vlen ? (end + 1 < f->vlen ? end + 1 : f->vlen) : 0;
            char hdr[32];
            snprintf(f->last_range_end, sizeof(f->last_range_end), "%.31s", argv[3]);
            snprintf(hdr, sizeof(hdr), "$%zu\r\n", n);
            PUTS(fd, hdr);
            put(fd, (const char *)f->value, n);
            PUTS(fd, "\r\n");
        } else if (!strcasecmp(argv[0], "SET")) {
            PUTS(fd, "+OK\r\n");
        } else if (!strcasecmp(argv[0], "DEL")) {
            PUTS(fd, ":1\r\n");
        } else {
            PUTS(fd, "-ERR unknown command\r\n");
        }
    }
}

typedef struct conn_arg {
    fake *f;
    int fd;
} conn_arg;

/* One thread per connection: pooled clients keep theirs open. */
static void *conn_main(void *arg)
{
    conn_arg *c = arg;
    serve(c->f, c->fd);
    close(c->fd);
    __atomic_sub_fetch(&c->f->active, 1, __ATOMIC_SEQ_CST);
    free(c);
    return NULL;
}

static void *fake_main(void *arg)
{
    fake *f = arg;
    while (!f->stop) {
        struct pollfd p = { f->lfd, POLLIN, 0 };
        pthread_t th;
        if (poll(&p, 1, 50) <= 0)
            continue;
        int fd = accept(f->lfd, NULL, NULL);
        if (fd < 0)
            continue;
        conn_arg *c = malloc(sizeof(*c));
        c->f = f;
        c->fd = fd;
        __atomic_add_fetch(&f->accepts, 1, __ATOMIC_SEQ_CST);
        __atomic_add_fetch(&f->active, 1, __ATOMIC_SEQ_CST);
        pthread_create(&th, NULL, conn_main, c);
        pthread_detach(th);
    }
    return NULL;
}

static fake *fake_start(fake_mode mode)
{
    fake *f = calloc(1, sizeof(*f));
    struct sockaddr_in sa;
    socklen_t sl = sizeof(sa);
    int one = 1;
    memset(&sa, 0, sizeof(sa));
    sa.sin_family = AF_INET;
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    f->mode = mode;
    f->lfd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    setsockopt(f->lfd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
    ck_assert_int_eq(bind(f->lfd, (struct sockaddr *)&sa, sizeof(sa)), 0);
    ck_assert_int_eq(listen(f->lfd, 16), 0);
    getsockname(f->lfd, (struct sockaddr *)&sa, &sl);
    f->port = ntohs(sa.sin_port);
    memcpy(f->value, "stored value", 12);
    f->vlen = 12;
    pthread_create(&f->th, NULL, fake_main, f);
    return f;
}

static void fake_stop(fake *f)
{
    f->stop = 1;
    pthread_join(f->th, NULL);
    while (__atomic_load_n(&f->active, __ATOMIC_SEQ_CST) > 0)
        usleep(10000);
    close(f->lfd);
    free(f);
}

static soc_redis *client(fake *f, int timeout_ms, const char *user, const char *pass)
{
    char err[256];
    soc_redis *r = soc_redis_new("127.0.0.1", f->port, timeout_ms, user, pass, err, sizeof(err));
    ck_assert_msg(r != NULL, "%s", err);
    return r;
}

/* ------------------------------------------------------------- client tests */

START_TEST(get_set_del_ping_against_a_well_behaved_server)
{
    fake *f = fake_start(FAKE_REDIS);
    soc_redis *r = client(f, 1000, "", "");
    unsigned char buf[64];
    size_t len;
    char err[256] = "";
    ck_assert_int_eq(soc_redis_ping(r, err, sizeof(err)), SOC_REDIS_OK);
    ck_assert_int_eq(soc_redis_get(r, "k", buf, sizeof(buf), &len, err, sizeof(err)), SOC_REDIS_OK);
    ck_assert_uint_eq(len, 12);
    ck_assert_mem_eq(buf, "stored value", 12);
    /* the request itself is bounded: bytes 0..cap, one more than fits */
    ck_assert_str_eq(f->last_range_end, "64");
    ck_assert_int_eq(soc_redis_setex(r, "k", (const unsigned char *)"v", 1, 60, err, sizeof(err)), SOC_REDIS_OK);
    ck_assert_int_eq(soc_redis_del(r, "k", err, sizeof(err)), SOC_REDIS_OK);
    /* one connection served all of it */
    ck_assert_int_eq(f->accepts, 1);
    f->vlen = 0;
    ck_assert_int_eq(soc_redis_get(r, "k", buf, sizeof(buf), &len, err, sizeof(err)), SOC_REDIS_MISS);
    soc_redis_free(r);
    fake_stop(f);
}
END_TEST

START_TEST(a_value_longer_than_the_cap_is_refused)
{
    fake *f = fake_start(FAKE_REDIS);
    soc_redis *r = client(f, 1000, "", "");
    unsigned char buf[64];
    size_t len;
    char err[256] = "";
    memset(f->value, 'x', 100);
    f->vlen = 100;
    ck_assert_int_eq(soc_redis_get(r, "k", buf, 50, &len, err, sizeof(err)), SOC_REDIS_TOO_BIG);
    ck_assert_ptr_nonnull(strstr(err, "larger than 50 bytes"));
    f->vlen = 50;
    ck_assert_int_eq(soc_redis_get(r, "k", buf, 50, &len, err, sizeof(err)), SOC_REDIS_OK);
    ck_assert_uint_eq(len, 50);
    soc_redis_free(r);
    fake_stop(f);
}
END_TEST

static long maxrss_kb(void)
{
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    return ru.ru_maxrss;
}

START_TEST(a_server_declaring_512mb_costs_nothing)
{
    fake *f = fake_start(FAKE_HUGE);
    soc_redis *r = client(f, 2000, "", "");
    unsigned char buf[10300];
    size_t len;
    char err[256] = "";
    long before = maxrss_kb();
    int64_t t0 = mono_ms();
    ck_assert_int_eq(soc_redis_get(r, "k", buf, sizeof(buf), &len, err, sizeof(err)), SOC_REDIS_TOO_BIG);
    ck_assert_msg(mono_ms() - t0 < 1000, "took %lld ms", (long long)(mono_ms() - t0));
    ck_assert_msg(maxrss_kb() - before < 4096, "grew by %ld KiB", maxrss_kb() - before);
    /* the connection was dropped, not read to the end: a fresh one follows */
    f->mode = FAKE_REDIS;
    ck_assert_int_eq(soc_redis_ping(r, err, sizeof(err)), SOC_REDIS_OK);
    ck_assert_int_eq(f->accepts, 2);
    soc_redis_free(r);
    fake_stop(f);
}
END_TEST

START_TEST(a_slow_server_times_out_at_the_deadline)
{
    fake *f = fake_start(FAKE_SLOW);
    soc_redis *r = client(f, 150, "", "");
    char err[256] = "";
    int64_t t0 = mono_ms(), took;
    ck_assert_int_eq(soc_redis_ping(r, err, sizeof(err)), SOC_REDIS_TIMEOUT);
    took = mono_ms() - t0;
    ck_assert_msg(took >= 140 && took < 600, "took %lld ms for a 150 ms timeout", (long long)took);
    ck_assert_ptr_nonnull(strstr(err, "within 150 ms"));
    soc_redis_free(r);
    fake_stop(f);
}
END_TEST

START_TEST(a_trickling_reply_is_bounded_by_one_deadline)
{
    /* each byte comes well within the timeout, the whole reply does not */
    fake *f = fake_start(FAKE_DRIP);
    soc_redis *r = client(f, 300, "", "");
    unsigned char buf[64];
    size_t len;
    char err[256] = "";
    int64_t t0 = mono_ms(), took;
    ck_assert_int_eq(soc_redis_get(r, "k", buf, sizeof(buf), &len, err, sizeof(err)), SOC_REDIS_TIMEOUT);
    took = mono_ms() - t0;
    ck_assert_msg(took >= 290 && took < 600, "took %lld ms for a 300 ms timeout", (long long)took);
    soc_redis_free(r);
    fake_stop(f);
}
END_TEST

START_TEST(garbage_and_hangups_are_errors)
{
    fake *f = fake_start(FAKE_GARBAGE);
    soc_redis *r = client(f, 500, "", "");
    unsigned char buf[64];
    size_t len;
    char err[256] = "";
    ck_assert_int_eq(soc_redis_get(r, "k", buf, sizeof(buf), &len, err, sizeof(err)), SOC_REDIS_PROTOCOL);
    ck_assert_ptr_nonnull(strstr(err, "not valid RESP"));
    f->mode = FAKE_CLOSE;
    ck_assert_int_eq(soc_redis_get(r, "k", buf, sizeof(buf), &len, err, sizeof(err)), SOC_REDIS_IO);
    /* every address of a name is tried: localhost may be ::1 first */
    f->mode = FAKE_REDIS;
    soc_redis *byname = soc_redis_new("localhost", f->port, 500, "", "", err, sizeof(err));
    ck_assert_ptr_nonnull(byname);
    ck_assert_int_eq(soc_redis_ping(byname, err, sizeof(err)), SOC_REDIS_OK);
    soc_redis_free(byname);
    /* nothing listens: refused at once */
    soc_redis *gone = soc_redis_new("127.0.0.1", 1, 500, "", "", err, sizeof(err));
    ck_assert_int_eq(soc_redis_ping(gone, err, sizeof(err)), SOC_REDIS_IO);
    ck_assert_ptr_nonnull(strstr(err, "cannot connect"));
    soc_redis_free(gone);
    soc_redis_free(r);
    fake_stop(f);
}
END_TEST

START_TEST(auth_with_password_or_user_and_password)
{
    fake *f = fake_start(FAKE_REDIS);
    char err[256] = "";
    f->pass = "s3cret";
    soc_redis *none = client(f, 500, "", "");
    ck_assert_int_eq(soc_redis_ping(none, err, sizeof(err)), SOC_REDIS_AUTH);
    ck_assert_ptr_nonnull(strstr(err, "NOAUTH"));
    soc_redis *wrong = client(f, 500, "", "guess");
    ck_assert_int_eq(soc_redis_ping(wrong, err, sizeof(err)), SOC_REDIS_AUTH);
    ck_assert_ptr_nonnull(strstr(err, "refused AUTH: WRONGPASS"));
    soc_redis *right = client(f, 500, "", "s3cret");
    ck_assert_int_eq(soc_redis_ping(right, err, sizeof(err)), SOC_REDIS_OK);
    f->user = "alice";
    soc_redis *alice = client(f, 500, "alice", "s3cret");
    ck_assert_int_eq(soc_redis_ping(alice, err, sizeof(err)), SOC_REDIS_OK);
    soc_redis *bob = client(f, 500, "bob", "s3cret");
    ck_assert_int_eq(soc_redis_ping(bob, err, sizeof(err)), SOC_REDIS_AUTH);
    soc_redis_free(none);
    soc_redis_free(wrong);
    soc_redis_free(right);
    soc_redis_free(alice);
    soc_redis_free(bob);
    fake_stop(f);
}
END_TEST

START_TEST(connections_are_not_shared_across_fork)
{
    fake *f = fake_start(FAKE_REDIS);
    soc_redis *r = client(f, 1000, "", "");
    char err[256];
    int status;
    ck_assert_int_eq(soc_redis_ping(r, err, sizeof(err)), SOC_REDIS_OK);
    ck_assert_int_eq(f->accepts, 1);
    pid_t pid = fork();
    if (pid == 0)
        _exit(soc_redis_ping(r, err, sizeof(err)) == SOC_REDIS_OK ? 0 : 1);
    waitpid(pid, &status, 0);
    ck_assert(WIFEXITED(status) && WEXITSTATUS(status) == 0);
    /* the child made its own connection; the parent's is still its own */
    ck_assert_int_eq(f->accepts, 2);
    ck_assert_int_eq(soc_redis_ping(r, err, sizeof(err)), SOC_REDIS_OK);
    ck_assert_int_eq(f->accepts, 2);
    soc_redis_free(r);
    fake_stop(f);
}
END_TEST

/* ------------------------------------------------------------------ auth= */

static char tdir[64];

static void auth_setup(void)
{
    snprintf(tdir, sizeof(tdir), "/tmp/soc_auth.XXXXXX");
    ck_assert_ptr_nonnull(mkdtemp(tdir));
}

static void auth_teardown(void)
{
    char cmd[128];
    snprintf(cmd, sizeof(cmd), "rm -rf '%s'", tdir);
    ck_assert_int_eq(system(cmd), 0);
}

static const char *auth_file(const char *name, const char *content, mode_t mode)
{
    static char path[128];
    snprintf(path, sizeof(path), "%s/%s", tdir, name);
    int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0600);
    ck_assert_int_ge(fd, 0);
    ck_assert_int_eq(write(fd, content, strlen(content)), (ssize_t)strlen(content));
    close(fd);
    ck_assert_int_eq(chmod(path, mode), 0);
    return path;
}

START_TEST(auth_file_contents)
{
    char user[64], pass[64], err[512];
    ck_assert_ptr_null(soc_redis_read_auth(auth_file("a", "pw1\n", 0600), user, sizeof(user), pass,
                                           sizeof(pass), err, sizeof(err)));
    ck_assert_str_eq(user, "");
    ck_assert_str_eq(pass, "pw1");
    ck_assert_ptr_null(soc_redis_read_auth(auth_file("b", "alice\r\npass with spaces\r\n", 0400), user,
                                           sizeof(user), pass, sizeof(pass), err, sizeof(err)));
    ck_assert_str_eq(user, "alice");
    ck_assert_str_eq(pass, "pass with spaces");
    ck_assert_ptr_nonnull(soc_redis_read_auth(auth_file("c", "\n\n", 0600), user, sizeof(user), pass,
                                              sizeof(pass), err, sizeof(err)));
    ck_assert_ptr_nonnull(soc_redis_read_auth(auth_file("d", "a\nb\nc\n", 0600), user, sizeof(user),
                                              pass, sizeof(pass), err, sizeof(err)));
}
END_TEST

START_TEST(auth_file_only_root_can_read)
{
    char user[64], pass[64], err[512], link[160];
    const char *msg;
    const char *open_to_all = auth_file("open", "pw\n", 0644);
    msg = soc_redis_read_auth(open_to_all, user, sizeof(user), pass, sizeof(pass), err, sizeof(err));
    ck_assert_ptr_nonnull(msg);
    ck_assert_ptr_nonnull(strstr(msg, open_to_all));
    ck_assert_ptr_nonnull(strstr(msg, "0600 or 0400"));
    ck_assert_ptr_nonnull(strstr(msg, "mode 0644"));
    msg = soc_redis_read_auth(auth_file("group", "pw\n", 0640), user, sizeof(user), pass, sizeof(pass),
                              err, sizeof(err));
    ck_assert_ptr_nonnull(msg);
    const char *good = auth_file("good", "pw\n", 0600);
    snprintf(link, sizeof(link), "%s/link", tdir);
    ck_assert_int_eq(symlink(good, link), 0);
    msg = soc_redis_read_auth(link, user, sizeof(user), pass, sizeof(pass), err, sizeof(err));
    ck_assert_ptr_nonnull(msg);
    ck_assert_ptr_nonnull(strstr(msg, "symbolic link"));
    if (geteuid() == 0) {
        ck_assert_int_eq(chown(good, 33, 33), 0);
        msg = soc_redis_read_auth(good, user, sizeof(user), pass, sizeof(pass), err, sizeof(err));
        ck_assert_ptr_nonnull(msg);
        ck_assert_ptr_nonnull(strstr(msg, "owned by uid 33"));
    }
    ck_assert_ptr_nonnull(soc_redis_read_auth(tdir, user, sizeof(user), pass, sizeof(pass), err,
                                              sizeof(err)));
}
END_TEST

Suite *redis_suite(void)
{
    Suite *s = suite_create("redis");
    TCase *tc = tcase_create("soc_redis");
    tcase_set_timeout(tc, 30);
    tcase_add_test(tc, parser_accepts_the_replies_used);
    tcase_add_test(tc, parser_every_prefix_needs_more);
    tcase_add_test(tc, parser_refuses_a_huge_length_from_its_header_alone);
    tcase_add_test(tc, parser_refuses_garbage);
    tcase_add_test(tc, get_set_del_ping_against_a_well_behaved_server);
    tcase_add_test(tc, a_value_longer_than_the_cap_is_refused);
    tcase_add_test(tc, a_server_declaring_512mb_costs_nothing);
    tcase_add_test(tc, a_slow_server_times_out_at_the_deadline);
    tcase_add_test(tc, a_trickling_reply_is_bounded_by_one_deadline);
    tcase_add_test(tc, garbage_and_hangups_are_errors);
    tcase_add_test(tc, auth_with_password_or_user_and_password);
    tcase_add_test(tc, connections_are_not_shared_across_fork);
    suite_add_tcase(s, tc);
    TCase *ta = tcase_create("auth_file");
    tcase_add_checked_fixture(ta, auth_setup, auth_teardown);
    tcase_add_test(ta, auth_file_contents);
    tcase_add_test(ta, auth_file_only_root_can_read);
    suite_add_tcase(s, ta);
    return s;
}
