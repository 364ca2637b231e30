/* Copyright 2026 the mod_ocsp_guard developers. Licensed under the Apache License 2.0 (LICENSE). */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include "soc_redis.h"

#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <stdarg.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#define POOL_MAX 8               /* idle connections kept per process */
#define IDLE_MAX_MS 60000        /* an idle connection older than this is closed */
#define SMALL_CAP 64             /* replies of commands other than GET */

/* ------------------------------------------------------------------ parser */

/* Strict decimal: optional '-' (when allowed), no '+', no spaces, no
 * leading zeros, at most 18 digits so it cannot overflow. */
static int parse_decimal(const unsigned char *p, size_t n, int negative_ok, long long *out)
{
    long long v = 0;
    int neg = 0;
    size_t i = 0;
    if (n && p[0] == '-' && negative_ok) {
        neg = 1;
        i = 1;
    }
    if (i == n || n - i > 18 || (p[i] == '0' && n - i > 1))
        return 0;
    for (; i < n; i++) {
        if (p[i] < '0' || p[i] > '9')
            return 0;
        v = v * 10 + (p[i] - '0');
    }
    *out = neg ? -v : v;
    return 1;
}

soc_resp_state soc_resp_parse(const unsigned char *in, size_t n, size_t cap, soc_reply *out,
                              size_t *used)
{
    size_t limit = n < SOC_RESP_MAX_LINE + 2 ? n : SOC_RESP_MAX_LINE + 2, i;
    const unsigned char *cr = NULL;
    long long v;
    if (n == 0)
        return SOC_RESP_NEED_MORE;
    if (in[0] != '+' && in[0] != '-' && in[0] != ':' && in[0] != '$')
        return SOC_RESP_PROTOCOL;
    for (i = 1; i < limit; i++) {
        if (in[i] == '\n')
            return SOC_RESP_PROTOCOL;        /* a bare LF */
        if (in[i] == '\r') {
            cr = in + i;
            break;
        }
    }
    if (!cr)
        return n >= SOC_RESP_MAX_LINE + 2 ? SOC_RESP_PROTOCOL : SOC_RESP_NEED_MORE;
    if (i + 1 >= n)
        return SOC_RESP_NEED_MORE;
    if (cr[1] != '\n')
        return SOC_RESP_PROTOCOL;
    memset(out, 0, sizeof(*out));
    switch (in[0]) {
    case '+':
    case '-':
        out->type = (soc_reply_type)in[0];
        out->data = in + 1;
        out->len = i - 1;
        *used = i + 2;
        return SOC_RESP_DONE;
    case ':':
        if (!parse_decimal(in + 1, i - 1, 1, &v))
            return SOC_RESP_PROTOCOL;
        out->type = SOC_REPLY_INTEGER;
        out->integer = v;
        *used = i + 2;
        return SOC_RESP_DONE;
    default:
        break;
    }
    /* bulk */
    if (i - 1 == 2 && in[1] == '-' && in[2] == '1') {
        out->type = SOC_REPLY_NIL;
        *used = i + 2;
        return SOC_RESP_DONE;
    }
    if (!parse_decimal(in + 1, i - 1, 0, &v))
        return SOC_RESP_PROTOCOL;
    /* refused before a single byte of it is buffered or waited for */
    if ((unsigned long long)v > cap)
        return SOC_RESP_TOO_BIG;
    if (n - (i + 2) < (size_t)v + 2)
        return SOC_RESP_NEED_MORE;
    if (in[i + 2 + (size_t)v] != '\r' || in[i + 3 + (size_t)v] != '\n')
        return SOC_RESP_PROTOCOL;
    out->type = SOC_REPLY_BULK;
    out->data = in + i + 2;
    out->len = (size_t)v;
    *used = i + 2 + (size_t)v + 2;
    return SOC_RESP_DONE;
}

/* ------------------------------------------------------------------ client */

#define MAX_ADDRS 4

struct soc_redis {
    struct sockaddr_storage addr[MAX_ADDRS];   /* tried in order, as getaddrinfo gave them */
    socklen_t addrlen[MAX_ADDRS];
    int naddr;
    char name[300];              /* host:port, for messages */
    int timeout_ms;
    char user[256], pass[512];
    pthread_mutex_t lock;
    pid_t pid;                   /* the process the idle connections belong to */
    int idle[POOL_MAX];
    int64_t idle_since[POOL_MAX];
    int nidle;
};

const char *soc_redis_status_name(soc_redis_status s)
{
    switch (s) {
    case SOC_REDIS_OK: return "ok";
    case SOC_REDIS_MISS: return "no such key";
    case SOC_REDIS_TOO_BIG: return "value too large";
    case SOC_REDIS_AUTH: return "authentication failed";
    case SOC_REDIS_REFUSED: return "command refused";
    case SOC_REDIS_TIMEOUT: return "timed out";
    case SOC_REDIS_IO: return "connection failed";
    case SOC_REDIS_PROTOCOL: return "protocol error";
    }
    return "?";
}

static int64_t now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

__attribute__((format(printf, 3, 4)))
static void say(char *err, size_t errlen, const char *fmt, ...)
{
    va_list ap;
    if (!err || !errlen)
        return;
    va_start(ap, fmt);
    vsnprintf(err, errlen, fmt, ap);
    va_end(ap);
}

/* A server's error text, printable and bounded, for a log line. */
static void server_text(char *dst, size_t cap, const unsigned char *p, size_t n)
{
    size_t j = 0;
    for (size_t i = 0; i < n && j + 1 < cap; i++)
        dst[j++] = p[i] >= 0x20 && p[i] < 0x7f ? (char)p[i] : '?';
    dst[j] = '\0';
}

soc_redis *soc_redis_new(const char *host, int port, int timeout_ms, const char *user,
                         const char *pass, char *err, size_t errlen)
{
    struct addrinfo hints, *res = NULL;
    char portstr[16];
    soc_redis *r;
    int rc;
    memset(&hints, 0, sizeof(hints));
    hints.ai_family = AF_UNSPEC;
    hints.ai_socktype = SOCK_STREAM;
    snprintf(portstr, sizeof(portstr), "%d", port);
    if ((rc = getaddrinfo(host, portstr, &hints, &res)) != 0 || !res) {
        say(err, errlen, "cannot resolve Redis host %s (%s)", host, gai_strerror(rc));
        return NULL;
    }
    if (!(r = calloc(1, sizeof(*r)))) {
        freeaddrinfo(res);
        say(err, errlen, "out of memory");
        return NULL;
    }
    /* "localhost" may give ::1 and 127.0.0.1 while Redis listens on one */
    for (struct addrinfo *ai = res; ai && r->naddr < MAX_ADDRS; ai = ai->ai_next) {
        if (ai->ai_addrlen > sizeof(r->addr[0]))
            continue;
        memcpy(&r->addr[r->naddr], ai->ai_addr, ai->ai_addrlen);
        r->addrlen[r->naddr++] = ai->ai_addrlen;
    }
    freeaddrinfo(res);
    snprintf(r->name, sizeof(r->name), "%s:%d", host, port);
    r->timeout_ms = timeout_ms;
    snprintf(r->user, sizeof(r->user), "%s", user ? user : "");
    snprintf(r->pass, sizeof(r->pass), "%s", pass ? pass : "");
    pthread_mutex_init(&r->lock, NULL);
    r->pid = getpid();
    return r;
}

void soc_redis_free(soc_redis *r)
{
    if (!r)
        return;
    if (r->pid == getpid()) {
        for (int i = 0; i < r->nidle; i++)
            close(r->idle[i]);
    }
    pthread_mutex_destroy(&r->lock);
    /* the password does not outlive the client in freed memory */
    explicit_bzero(r->pass, sizeof(r->pass));
    free(r);
}

/* A pooled connection of this process that is still quiet, or -1. */
static int take_conn(soc_redis *r)
{
    int fd = -1;
    int64_t now = now_ms();
    pthread_mutex_lock(&r->lock);
    if (r->pid != getpid()) {
        /* inherited across fork: the parent owns these conversations */
        for (int i = 0; i < r->nidle; i++)
            close(r->idle[i]);
        r->nidle = 0;
        r->pid = getpid();
    }
    while (fd < 0 && r->nidle > 0) {
        struct pollfd pfd;
        fd = r->idle[--r->nidle];
        pfd.fd = fd;
        pfd.events = POLLIN;
        /* readable while idle: closed by the server, or stray bytes */
        if (now - r->idle_since[r->nidle] > IDLE_MAX_MS || poll(&pfd, 1, 0) != 0) {
            close(fd);
            fd = -1;
        }
    }
    pthread_mutex_unlock(&r->lock);
    return fd;
}

static void give_back(soc_redis *r, int fd)
{
    pthread_mutex_lock(&r->lock);
    if (r->pid == getpid() && r->nidle < POOL_MAX) {
        r->idle_since[r->nidle] = now_ms();
        r->idle[r->nidle++] = fd;
        fd = -1;
    }
    pthread_mutex_unlock(&r->lock);
    if (fd >= 0)
        close(fd);
}

/* Waits for events on fd until the deadline: 0, or SOC_REDIS_TIMEOUT/IO. */
static soc_redis_status wait_fd(int fd, short events, int64_t deadline)
{
    for (;;) {
        struct pollfd pfd = { fd, events, 0 };
        int64_t left = deadline - now_ms();
        int n;
        if (left <= 0)
            return SOC_REDIS_TIMEOUT;
        n = poll(&pfd, 1, (int)left);
        if (n > 0)
            return SOC_REDIS_OK;
        if (n < 0 && errno != EINTR)
            return SOC_REDIS_IO;
    }
}

static soc_redis_status send_all(int fd, const unsigned char *p, size_t n, int64_t deadline)
{
    while (n) {
        ssize_t w = send(fd, p, n, MSG_NOSIGNAL);
        if (w < 0) {
            soc_redis_status st;
            if (errno == EINTR)
                continue;
            if (errno != EAGAIN && errno != EWOULDBLOCK)
                return SOC_REDIS_IO;
            if ((st = wait_fd(fd, POLLOUT, deadline)) != SOC_REDIS_OK)
                return st;
            continue;
        }
        p += w;
        n -= (size_t)w;
    }
    return SOC_REDIS_OK;
}

/* Reads exactly one reply into buf (size bytes, enough for cap). */
static soc_redis_status read_reply(int fd, unsigned char *buf, size_t size, size_t cap,
                                   int64_t deadline, soc_reply *reply)
{
    size_t have = 0, used = 0;
    for (;;) {
        ssize_t n;
        switch (soc_resp_parse(buf, have, cap, reply, &used)) {
        case SOC_RESP_DONE:
            /* one command at a time: nothing may follow its reply */
            return used == have ? SOC_REDIS_OK : SOC_REDIS_PROTOCOL;
        case SOC_RESP_TOO_BIG:
            return SOC_REDIS_TOO_BIG;
        case SOC_RESP_PROTOCOL:
            return SOC_REDIS_PROTOCOL;
        case SOC_RESP_NEED_MORE:
            break;
        }
        if (have == size)
            return SOC_REDIS_PROTOCOL;
        n = recv(fd, buf + have, size - have, 0);
        if (n > 0) {
            have += (size_t)n;
        } else if (n == 0) {
            return SOC_REDIS_IO;
        } else if (errno == EAGAIN || errno == EWOULDBLOCK) {
            soc_redis_status st = wait_fd(fd, POLLIN, deadline);
            if (st != SOC_REDIS_OK)
                return st;
        } else if (errno != EINTR) {
            return SOC_REDIS_IO;
        }
    }
}

/* A command as a RESP array of bulk strings. */
static unsigned char *build_cmd(int argc, const char *const *argv, const size_t *lens, size_t *out_len)
{
    size_t total = 16;
    unsigned char *buf, *p;
    for (int i = 0; i < argc; i++)
        total += lens[i] + 32;
    if (!(buf = malloc(total)))
        return NULL;
    p = buf + sprintf((char *)buf, "*%d\r\n", argc);
    for (int i = 0; i < argc; i++) {
        p += sprintf((char *)p, "$%zu\r\n", lens[i]);
        memcpy(p, argv[i], lens[i]);
        p += lens[i];
        *p++ = '\r';
        *p++ = '\n';
    }
    *out_len = (size_t)(p - buf);
    return buf;
}

static size_t reply_buf_size(size_t cap)
{
    size_t n = cap + 32;         /* "$" + length + CRLF + payload + CRLF */
    return n < SOC_RESP_MAX_LINE + 8 ? SOC_RESP_MAX_LINE + 8 : n;
}

/* Sends one command and reads its reply; err names the step that failed. */
static soc_redis_status exchange(soc_redis *r, int fd, int argc, const char *const *argv,
                                 const size_t *lens, size_t cap, int64_t deadline,
                                 unsigned char **rbuf, soc_reply *reply, const char *what,
                                 char *err, size_t errlen)
{
    size_t len, size = reply_buf_size(cap);
    unsigned char *cmd = build_cmd(argc, argv, lens, &len);
    soc_redis_status st;
    *rbuf = NULL;
    if (!cmd || !(*rbuf = malloc(size))) {
        free(cmd);
        say(err, errlen, "out of memory");
        return SOC_REDIS_IO;
    }
    st = send_all(fd, cmd, len, deadline);
    free(cmd);
    if (st == SOC_REDIS_OK)
        st = read_reply(fd, *rbuf, size, cap, deadline, reply);
    if (st == SOC_REDIS_TIMEOUT)
        say(err, errlen, "Redis %s: no answer to %s within %d ms", r->name, what, r->timeout_ms);
    else if (st == SOC_REDIS_IO)
        say(err, errlen, "Redis %s: connection lost during %s (%s)", r->name, what,
            errno ? strerror(errno) : "closed by the server");
    else if (st == SOC_REDIS_PROTOCOL)
        say(err, errlen, "Redis %s: a reply to %s that is not valid RESP", r->name, what);
    else if (st == SOC_REDIS_TOO_BIG)
        say(err, errlen, "Redis %s: the reply to %s is larger than %zu bytes; not read", r->name,
            what, cap);
    else if (reply->type == SOC_REPLY_ERROR) {
        char text[200];
        server_text(text, sizeof(text), reply->data, reply->len);
        st = !strncmp(text, "NOAUTH", 6) || !strncmp(text, "WRONGPASS", 9) ||
             !strcmp(what, "AUTH") ? SOC_REDIS_AUTH : SOC_REDIS_REFUSED;
        say(err, errlen, "Redis %s refused %s: %s", r->name, what, text);
    }
    return st;
}

/* One TCP connection to address i, within the deadline. */
static soc_redis_status connect_one(soc_redis *r, int i, int64_t deadline, int *out, int *soerr)
{
    int fd = socket(r->addr[i].ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0), one = 1;
    socklen_t sl = sizeof(*soerr);
    soc_redis_status st = SOC_REDIS_OK;
    *soerr = 0;
    if (fd < 0) {
        *soerr = errno;
        return SOC_REDIS_IO;
    }
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
    if (connect(fd, (struct sockaddr *)&r->addr[i], r->addrlen[i]) < 0) {
        if (errno != EINPROGRESS && errno != EINTR)
            st = SOC_REDIS_IO, *soerr = errno;
        else if ((st = wait_fd(fd, POLLOUT, deadline)) == SOC_REDIS_OK &&
                 (getsockopt(fd, SOL_SOCKET, SO_ERROR, soerr, &sl) < 0 || *soerr))
            st = SOC_REDIS_IO;
    }
    if (st != SOC_REDIS_OK) {
        close(fd);
        return st;
    }
    *out = fd;
    return st;
}

static soc_redis_status connect_new(soc_redis *r, int64_t deadline, int *out, char *err, size_t errlen)
{
    soc_redis_status st = SOC_REDIS_IO;
    int fd = -1, soerr = 0;
    *out = -1;
    for (int i = 0; i < r->naddr && st == SOC_REDIS_IO; i++)
        st = connect_one(r, i, deadline, &fd, &soerr);
    if (st != SOC_REDIS_OK) {
        if (st == SOC_REDIS_TIMEOUT)
            say(err, errlen, "Redis %s: cannot connect within %d ms", r->name, r->timeout_ms);
        else
            say(err, errlen, "Redis %s: cannot connect (%s)", r->name, strerror(soerr ? soerr : EIO));
        return st;
    }
    if (r->pass[0]) {
        const char *argv[3] = { "AUTH", r->user, r->pass };
        size_t lens[3] = { 4, strlen(r->user), strlen(r->pass) };
        unsigned char *rbuf;
        soc_reply reply;
        int argc = r->user[0] ? 3 : 2;
        if (argc == 2) {
            argv[1] = r->pass;
            lens[1] = lens[2];
        }
        st = exchange(r, fd, argc, argv, lens, SMALL_CAP, deadline, &rbuf, &reply, "AUTH", err, errlen);
        if (st == SOC_REDIS_OK && reply.type != SOC_REPLY_STATUS) {
            say(err, errlen, "Redis %s: unexpected reply to AUTH", r->name);
            st = SOC_REDIS_PROTOCOL;
        }
        free(rbuf);
        if (st != SOC_REDIS_OK) {
            close(fd);
            return st;
        }
    }
    *out = fd;
    return SOC_REDIS_OK;
}

/* One command within one deadline, on a pooled or new connection. On
 * SOC_REDIS_OK *rbuf holds the reply (free it). */
static soc_redis_status command(soc_redis *r, int argc, const char *const *argv, const size_t *lens,
                                size_t cap, const char *what, unsigned char **rbuf, soc_reply *reply,
                                char *err, size_t errlen)
{
    int64_t deadline = now_ms() + r->timeout_ms;
    int fd = take_conn(r);
    soc_redis_status st = SOC_REDIS_OK;
    *rbuf = NULL;
    errno = 0;
    if (fd < 0 && (st = connect_new(r, deadline, &fd, err, errlen)) != SOC_REDIS_OK)
        return st;
    st = exchange(r, fd, argc, argv, lens, cap, deadline, rbuf, reply, what, err, errlen);
    if (st == SOC_REDIS_OK) {
        give_back(r, fd);
        return st;
    }
    /* any failure: the conversation may be out of step; never reuse it */
    close(fd);
    free(*rbuf);
    *rbuf = NULL;
    return st;
}

/* A command whose reply is small and of one expected type (SET, DEL, PING). */
static soc_redis_status small_command(soc_redis *r, int argc, const char **argv, const size_t *lens,
                                      int expected, char *err, size_t errlen)
{
    unsigned char *rbuf;
    soc_reply reply;
    soc_redis_status st = command(r, argc, argv, lens, SMALL_CAP, argv[0], &rbuf, &reply, err, errlen);
    if (st != SOC_REDIS_OK)
        return st;
    if ((int)reply.type != expected) {
        say(err, errlen, "Redis %s: unexpected reply to %s", r->name, argv[0]);
        st = SOC_REDIS_PROTOCOL;
    }
    free(rbuf);
    return st;
}

soc_redis_status soc_redis_get(soc_redis *r, const char *key, unsigned char *buf, size_t cap,
                               size_t *len, char *err, size_t errlen)
{
    char end[24];
    const char *argv[4] = { "GETRANGE", key, "0", end };
    size_t lens[4];
    unsigned char *rbuf;
    soc_reply reply;
    soc_redis_status st;
    /* bytes 0..cap: one more than fits, so a longer value shows as such */
    lens[3] = (size_t)snprintf(end, sizeof(end), "%zu", cap);
    lens[0] = 8, lens[1] = strlen(key), lens[2] = 1;
    *len = 0;
    st = command(r, 4, argv, lens, cap, "GETRANGE", &rbuf, &reply, err, errlen);
    if (st != SOC_REDIS_OK)
        return st;
    if (reply.type == SOC_REPLY_NIL || (reply.type == SOC_REPLY_BULK && reply.len == 0)) {
        st = SOC_REDIS_MISS;
    } else if (reply.type != SOC_REPLY_BULK) {
        say(err, errlen, "Redis %s: unexpected reply to GETRANGE", r->name);
        st = SOC_REDIS_PROTOCOL;
    } else {
        memcpy(buf, reply.data, reply.len);
        *len = reply.len;
    }
    free(rbuf);
    return st;
}

soc_redis_status soc_redis_setex(soc_redis *r, const char *key, const unsigned char *val, size_t len,
                                 unsigned ttl_seconds, char *err, size_t errlen)
{
    char ttl[16];
    const char *argv[5] = { "SET", key, (const char *)val, "EX", ttl };
    size_t lens[5] = { 3, strlen(key), len, 2, 0 };
    lens[4] = (size_t)snprintf(ttl, sizeof(ttl), "%u", ttl_seconds ? ttl_seconds : 1);
    return small_command(r, 5, argv, lens, SOC_REPLY_STATUS, err, errlen);
}

soc_redis_status soc_redis_del(soc_redis *r, const char *key, char *err, size_t errlen)
{
    const char *argv[2] = { "DEL", key };
    size_t lens[2] = { 3, strlen(key) };
    return small_command(r, 2, argv, lens, SOC_REPLY_INTEGER, err, errlen);
}

soc_redis_status soc_redis_ping(soc_redis *r, char *err, size_t errlen)
{
    const char *argv[1] = { "PING" };
    size_t lens[1] = { 4 };
    return small_command(r, 1, argv, lens, SOC_REPLY_STATUS, err, errlen);
}

/* ------------------------------------------------------------------ auth= */

#define AUTH_REQUIRED "it must be a regular file owned by root with mode 0600 or 0400"

const char *soc_redis_read_auth(const char *path, char *user, size_t ulen, char *pass, size_t plen,
                                char *err, size_t errlen)
{
    char data[2048], *lines[3] = { NULL, NULL, NULL }, *p;
    struct stat st;
    ssize_t n;
    int fd, nlines = 0;
    user[0] = pass[0] = '\0';
    fd = open(path, O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_NOCTTY | O_CLOEXEC);
    if (fd < 0) {
        if (errno == ELOOP)
            say(err, errlen, "auth file %s is a symbolic link; refused (%s)", path, AUTH_REQUIRED);
        else
            say(err, errlen, "cannot open auth file %s (%s)", path, strerror(errno));
        return err;
    }
    if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode)) {
        say(err, errlen, "auth file %s is not a regular file; refused (%s)", path, AUTH_REQUIRED);
        close(fd);
        return err;
    }
    if (st.st_uid != 0 && st.st_uid != geteuid()) {
        say(err, errlen, "auth file %s is owned by uid %ld; refused (%s)", path, (long)st.st_uid,
            AUTH_REQUIRED);
        close(fd);
        return err;
    }
    if (st.st_mode & 077) {
        say(err, errlen, "auth file %s has mode %04o, open to group or others; refused (%s)", path,
            (unsigned)(st.st_mode & 07777), AUTH_REQUIRED);
        close(fd);
        return err;
    }
    n = read(fd, data, sizeof(data));
    close(fd);
    if (n < 0 || (size_t)n >= sizeof(data)) {
        say(err, errlen, "auth file %s: %s", path, n < 0 ? strerror(errno) : "too large");
        return err;
    }
    data[n] = '\0';
    if (memchr(data, '\0', (size_t)n)) {
        say(err, errlen, "auth file %s holds a NUL byte", path);
        return err;
    }
    for (p = data; *p && nlines < 3;) {
        size_t l = strcspn(p, "\r\n");
        char *next = p + l + strspn(p + l, "\r\n");
        p[l] = '\0';
        if (l)
            lines[nlines++] = p;
        p = next;
    }
    if (nlines == 0 || nlines > 2) {
        say(err, errlen, "auth file %s must hold one line (password) or two (user, then password)",
            path);
        explicit_bzero(data, sizeof(data));
        return err;
    }
    if (strlen(lines[nlines - 1]) >= plen || (nlines == 2 && strlen(lines[0]) >= ulen)) {
        say(err, errlen, "auth file %s: user or password too long", path);
        explicit_bzero(data, sizeof(data));
        return err;
    }
    if (nlines == 2)
        snprintf(user, ulen, "%s", lines[0]);
    snprintf(pass, plen, "%s", lines[nlines - 1]);
    explicit_bzero(data, sizeof(data));
    return NULL;
}
