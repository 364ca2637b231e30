/* OCSP over HTTP: our own name resolution and connect, then OpenSSL 3's HTTP
 * client on the connected socket. One deadline covers all of it: OpenSSL's
 * BIO_lookup resolves with a blocking getaddrinfo outside its timeout, and
 * OSSL_HTTP_get follows redirects to any host; neither is used here.
 *
 * The phases are separate so that a resolver cache, a Happy Eyeballs connect
 * (replacing connect_any) and kept-alive connections (keeping the socket and
 * the OSSL_HTTP_REQ_CTX of exchange) can be added without touching the rest. */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include "og_http.h"
#include "og_ocsp.h"

#include <errno.h>
#include <limits.h>
#include <stdint.h>
#include <netdb.h>
#include <poll.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>
#include <openssl/bio.h>
#include <openssl/err.h>
#include <openssl/http.h>

#define OCSP_REQUEST_TYPE "application/ocsp-request"
#define OCSP_RESPONSE_TYPE "application/ocsp-response"
/* Lookup threads at once: the workers' own (OCSPGuardFetchConcurrency, at
 * most 64) plus those that outlived a fetch that gave up. Beyond this a
 * resolver that hangs would cost a thread per fetch: new lookups fail. */
#define MAX_LOOKUP_THREADS 128
/* Room for the status line and headers on top of the body's cap. */
#define HEAD_ALLOWANCE 16384
/* What is kept of the answer's head to report a redirect. */
#define HEAD_KEEP 2048
/* How much of a Location goes into the error text. */
#define LOCATION_SHOWN 120

typedef long long og_ms;

static og_ms mono_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (og_ms)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* OpenSSL's first reason (later ones are consequences) and its data
 * ("expected=..., actual=..."), which ERR_error_string_n leaves out. */
static void fill_err(char *err, size_t errlen, const char *what)
{
    const char *data = NULL;
    int flags = 0;
    unsigned long e = ERR_peek_error_data(&data, &flags);
    char detail[200] = "";
    if (e)
        ERR_error_string_n(e, detail, sizeof(detail));
    if (!(flags & ERR_TXT_STRING) || !data)
        data = "";
    snprintf(err, errlen, "%s%s%s%s%s", what, e ? ": " : "", detail, *data ? " " : "", data);
    ERR_clear_error();
}

/* ------------------------------------------------------------ resolving */

/* One lookup, shared by the fetch that waits for it and the thread that
 * runs getaddrinfo; whichever lets go last frees it, so a fetch can give up
 * at its deadline while the thread finishes in its own time. */
typedef struct lookup {
    pthread_mutex_t lock;
    pthread_cond_t done_cv;
    int refs;
    int done;
    int rc;                      /* getaddrinfo's result */
    int sys_errno;               /* for EAI_SYSTEM */
    struct addrinfo *res;
    char *host;
    char *port;
} lookup;

static int lookup_threads;       /* atomic: running */

static void lookup_release(lookup *l)
{
    int left;
    pthread_mutex_lock(&l->lock);
    left = --l->refs;
    pthread_mutex_unlock(&l->lock);
    if (left)
        return;
    if (l->res)
        freeaddrinfo(l->res);
    pthread_cond_destroy(&l->done_cv);
    pthread_mutex_destroy(&l->lock);
    free(l->host);
    free(l->port);
    free(l);
}

static void *lookup_main(void *arg)
{
    lookup *l = arg;
    struct addrinfo hints, *res = NULL;
    int rc;
    memset(&hints, 0, sizeof(hints));
    hints.ai_family = AF_UNSPEC;
    hints.ai_socktype = SOCK_STREAM;
    hints.ai_flags = AI_ADDRCONFIG | AI_NUMERICSERV;
    rc = getaddrinfo(l->host, l->port, &hints, &res);
    pthread_mutex_lock(&l->lock);
    l->rc = rc;
    l->sys_errno = errno;
    l->res = res;
    l->done = 1;
    pthread_cond_signal(&l->done_cv);
    pthread_mutex_unlock(&l->lock);
    __atomic_sub_fetch(&lookup_threads, 1, __ATOMIC_SEQ_CST);
    lookup_release(l);
    return NULL;
}

static lookup *lookup_new(const char *host, const char *port)
{
    pthread_condattr_t ca;
    lookup *l = calloc(1, sizeof(*l));
    if (!l)
        return NULL;
    l->host = strdup(host);
    l->port = strdup(port);
    if (!l->host || !l->port) {
        free(l->host);
        free(l->port);
        free(l);
        return NULL;
    }
    pthread_mutex_init(&l->lock, NULL);
    pthread_condattr_init(&ca);
    pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
    pthread_cond_init(&l->done_cv, &ca);
    pthread_condattr_destroy(&ca);
    l->refs = 1;
    return l;
}

/* Addresses of host:port by the deadline. A numeric host needs no lookup;
 * a name is looked up by a thread of its own that this call stops waiting
 * for at the deadline (getaddrinfo cannot be interrupted). */
static int resolve(const char *host, const char *port, og_ms deadline, int timeout,
                   struct addrinfo **out, char *err, size_t errlen)
{
    struct addrinfo hints;
    pthread_attr_t attr;
    pthread_t th;
    lookup *l;
    int done, rc, sys_errno, pending;

    *out = NULL;
    memset(&hints, 0, sizeof(hints));
    hints.ai_family = AF_UNSPEC;
    hints.ai_socktype = SOCK_STREAM;
    hints.ai_flags = AI_NUMERICHOST | AI_NUMERICSERV;
    if (getaddrinfo(host, port, &hints, out) == 0)
        return 1;
    *out = NULL;

    pending = __atomic_add_fetch(&lookup_threads, 1, __ATOMIC_SEQ_CST);
    if (pending > MAX_LOOKUP_THREADS) {
        __atomic_sub_fetch(&lookup_threads, 1, __ATOMIC_SEQ_CST);
        snprintf(err, errlen, "cannot resolve %s: %d DNS lookups already waiting for the "
                 "resolver", host, pending - 1);
        return 0;
    }
    l = lookup_new(host, port);
    if (!l) {
        __atomic_sub_fetch(&lookup_threads, 1, __ATOMIC_SEQ_CST);
        snprintf(err, errlen, "out of memory");
        return 0;
    }
    l->refs = 2;                 /* this call and the thread */
    pthread_attr_init(&attr);
    pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
    rc = pthread_create(&th, &attr, lookup_main, l);
    pthread_attr_destroy(&attr);
    if (rc) {
        __atomic_sub_fetch(&lookup_threads, 1, __ATOMIC_SEQ_CST);
        l->refs = 1;
        lookup_release(l);
        snprintf(err, errlen, "cannot resolve %s: no thread for the lookup (%s)", host,
                 strerror(rc));
        return 0;
    }
    pthread_mutex_lock(&l->lock);
    while (!l->done) {
        og_ms left = deadline - mono_ms();
        struct timespec ts;
        if (left <= 0)
            break;
        clock_gettime(CLOCK_MONOTONIC, &ts);
        ts.tv_sec += left / 1000;
        ts.tv_nsec += (left % 1000) * 1000000;
        if (ts.tv_nsec >= 1000000000) {
            ts.tv_sec++;
            ts.tv_nsec -= 1000000000;
        }
        pthread_cond_timedwait(&l->done_cv, &l->lock, &ts);
    }
    done = l->done;
    rc = l->rc;
    sys_errno = l->sys_errno;
    if (done) {
        *out = l->res;           /* ours now */
        l->res = NULL;
    }
    pthread_mutex_unlock(&l->lock);
    lookup_release(l);
    if (!done) {
        snprintf(err, errlen, "DNS lookup of %s got no answer within %d s", host, timeout);
        return 0;
    }
    if (rc) {
        snprintf(err, errlen, "cannot resolve %s: %s", host,
                 rc == EAI_SYSTEM ? strerror(sys_errno) : gai_strerror(rc));
        return 0;
    }
    return 1;
}

/* ----------------------------------------------------------- connecting */

static void addr_text(const struct addrinfo *a, char *buf, size_t len)
{
    char h[INET6_ADDRSTRLEN + 2] = "?", p[8] = "?";
    getnameinfo(a->ai_addr, a->ai_addrlen, h, sizeof(h), p, sizeof(p),
                NI_NUMERICHOST | NI_NUMERICSERV);
    snprintf(buf, len, a->ai_family == AF_INET6 ? "[%s]:%s" : "%s:%s", h, p);
}

/* Waits for events on fd until the deadline: 1 ready, 0 deadline, -1 error. */
static int wait_fd(int fd, short events, og_ms deadline)
{
    for (;;) {
        og_ms left = deadline - mono_ms();
        struct pollfd p = { fd, events, 0 };
        int n;
        if (left <= 0)
            return 0;
        n = poll(&p, 1, left > INT_MAX ? INT_MAX : (int)left);
        if (n > 0)
            return 1;            /* errors and hang-ups too: the next call tells */
        if (n == 0)
            return 0;
        if (errno != EINTR)
            return -1;
    }
}

/* A non-blocking connected socket to the first address that accepts, each
 * tried in turn with the time left. */
static int connect_any(const struct addrinfo *ai, og_ms deadline, int timeout, char *err,
                       size_t errlen)
{
    char where[INET6_ADDRSTRLEN + 10] = "";
    int last_errno = 0;
    for (const struct addrinfo *a = ai; a; a = a->ai_next) {
        int fd = socket(a->ai_family, a->ai_socktype | SOCK_NONBLOCK | SOCK_CLOEXEC,
                        a->ai_protocol);
        int soerr = 0, w;
        socklen_t sl = sizeof(soerr);
        addr_text(a, where, sizeof(where));
        if (fd < 0) {
            last_errno = errno;
            continue;
        }
        if (connect(fd, a->ai_addr, a->ai_addrlen) == 0)
            return fd;
        if (errno != EINPROGRESS) {
            last_errno = errno;
            close(fd);
            continue;
        }
        w = wait_fd(fd, POLLOUT, deadline);
        if (w == 0) {
            close(fd);
            snprintf(err, errlen, "cannot connect to %s within %d s", where, timeout);
            return -1;
        }
        if (w < 0 || getsockopt(fd, SOL_SOCKET, SO_ERROR, &soerr, &sl) < 0)
            soerr = errno;
        if (soerr == 0)
            return fd;
        last_errno = soerr;
        close(fd);
    }
    snprintf(err, errlen, "cannot connect to %s: %s", where,
             last_errno ? strerror(last_errno) : "no address");
    return -1;
}

/* ------------------------------------------- a socket BIO with a deadline */

/* OpenSSL's HTTP client runs on this BIO, which waits for the socket itself
 * up to the deadline (in ms; OpenSSL's own timeouts count whole seconds),
 * never raises SIGPIPE, caps what it reads, and keeps the first bytes of
 * the answer so that a redirect can be reported with its Location. */
typedef struct dl_sock {
    int fd;
    og_ms deadline;
    int timed_out;
    int sys_err;                 /* errno of a failed recv/send */
    int over_cap;
    size_t received;
    size_t cap;
    size_t head_len;
    char head[HEAD_KEEP + 1];
} dl_sock;

static int dl_wait(dl_sock *s, short events)
{
    int w = wait_fd(s->fd, events, s->deadline);
    if (w == 0)
        s->timed_out = 1;
    else if (w < 0)
        s->sys_err = errno;
    return w > 0;
}

static int dl_read(BIO *b, char *buf, int len)
{
    dl_sock *s = BIO_get_data(b);
    BIO_clear_retry_flags(b);
    if (len <= 0)
        return 0;
    if (s->received >= s->cap) {
        s->over_cap = 1;
        return -1;
    }
    if ((size_t)len > s->cap - s->received)
        len = (int)(s->cap - s->received);
    for (;;) {
        ssize_t n = recv(s->fd, buf, (size_t)len, 0);
        if (n > 0) {
            size_t keep = s->head_len < HEAD_KEEP ? HEAD_KEEP - s->head_len : 0;
            if (keep > (size_t)n)
                keep = (size_t)n;
            memcpy(s->head + s->head_len, buf, keep);
            s->head_len += keep;
            s->head[s->head_len] = '\0';
            s->received += (size_t)n;
            return (int)n;
        }
        if (n == 0)
            return 0;
        if (errno == EINTR)
            continue;
        if (errno != EAGAIN && errno != EWOULDBLOCK) {
            s->sys_err = errno;
            return -1;
        }
        if (!dl_wait(s, POLLIN))
            return -1;
    }
}

static int dl_write(BIO *b, const char *buf, int len)
{
    dl_sock *s = BIO_get_data(b);
    BIO_clear_retry_flags(b);
    if (len <= 0)
        return 0;
    for (;;) {
        ssize_t n = send(s->fd, buf, (size_t)len, MSG_NOSIGNAL);
        if (n >= 0)
            return (int)n;
        if (errno == EINTR)
            continue;
        if (errno != EAGAIN && errno != EWOULDBLOCK) {
            s->sys_err = errno;
            return -1;
        }
        if (!dl_wait(s, POLLOUT))
            return -1;
    }
}

static long dl_ctrl(BIO *b, int cmd, long num, void *ptr)
{
    (void)b;
    (void)num;
    (void)ptr;
    return cmd == BIO_CTRL_FLUSH ? 1 : 0;
}

static BIO_METHOD *dl_method;

static void dl_method_init(void)
{
    /* once per process: BIO type indexes are a small finite pool */
    BIO_METHOD *m = BIO_meth_new(BIO_get_new_index() | BIO_TYPE_SOURCE_SINK, "og deadline socket");
    if (m && BIO_meth_set_read(m, dl_read) && BIO_meth_set_write(m, dl_write) &&
        BIO_meth_set_ctrl(m, dl_ctrl)) {
        dl_method = m;
        return;
    }
    BIO_meth_free(m);
}

/* ------------------------------------------------------------- exchange */

/* Printable, bounded copy of an untrusted header value for the log. */
static void shown(char *dst, size_t len, const char *src, size_t src_len)
{
    size_t o = 0;
    for (size_t i = 0; i < src_len && o + 4 < len; i++) {
        if (o >= LOCATION_SHOWN) {
            memcpy(dst + o, "...", 3);
            o += 3;
            break;
        }
        dst[o++] = src[i] > 0x20 && src[i] < 0x7f ? src[i] : '?';
    }
    dst[o] = '\0';
}

/* The status code of the answer's head, 0 if there is none. */
static int head_status(const char *head)
{
    int code = 0;
    if (strncmp(head, "HTTP/", 5) || sscanf(head + 5, "%*s %3d", &code) != 1)
        return 0;
    return code;
}

/* The Location header of the answer's head, or NULL. */
static const char *head_location(const char *head, size_t *len)
{
    const char *end = strstr(head, "\r\n\r\n");
    for (const char *p = strchr(head, '\n'); p && (!end || p < end); p = strchr(p, '\n')) {
        p++;
        if (!strncasecmp(p, "Location:", 9)) {
            p += 9;
            while (*p == ' ' || *p == '\t')
                p++;
            *len = strcspn(p, "\r\n");
            return p;
        }
    }
    return NULL;
}

/* Why the exchange failed, most telling first. A 3xx answer is a failure
 * like any other but worth its Location: OpenSSL hands it over only for a
 * GET's 301/302, the kept head has it for the rest. */
static void report_failure(const dl_sock *s, const char *redirection_url, const char *server,
                           int post, int timeout, size_t max_len, char *err, size_t errlen)
{
    int code = head_status(s->head);
    char text[LOCATION_SHOWN + 8];
    if (redirection_url || (code >= 300 && code <= 399)) {
        const char *loc = redirection_url;
        size_t loc_len = loc ? strlen(loc) : 0;
        if (!loc)
            loc = head_location(s->head, &loc_len);
        if (loc)
            shown(text, sizeof(text), loc, loc_len);
        snprintf(err, errlen, "the responder answered HTTP %d redirecting to %s; redirects are "
                 "not followed", code ? code : 302, loc ? text : "(no Location)");
    } else if (s->timed_out) {
        snprintf(err, errlen, "no complete answer from %s within %d s", server, timeout);
    } else if (s->over_cap) {
        snprintf(err, errlen, "the answer from %s exceeds %zu bytes", server, max_len);
    } else if (s->sys_err) {
        snprintf(err, errlen, "%s %s: %s", post ? "POST to" : "GET from", server,
                 strerror(s->sys_err));
    } else if (code && code != 200) {
        const char *reason = s->head + 5 + strcspn(s->head + 5, " ");
        reason += strspn(reason, " ");
        reason += strspn(reason, "0123456789");
        reason += strspn(reason, " ");
        shown(text, 48, reason, strcspn(reason, "\r\n"));
        snprintf(err, errlen, "the responder answered HTTP %d %s", code, text);
    } else if (!s->received) {
        snprintf(err, errlen, "%s closed the connection without answering", server);
    } else {
        fill_err(err, errlen, post ? "POST failed" : "GET failed");
    }
    ERR_clear_error();
}

/* One request on the connected socket fd (closed here), path in origin or
 * absolute form; server is the Host header. */
static int exchange(int fd, const char *server, const char *path, const unsigned char *req,
                    size_t req_len, int post, og_ms deadline, int timeout, size_t max_len,
                    unsigned char **resp, size_t *resp_len, char *err, size_t errlen)
{
    static pthread_once_t once = PTHREAD_ONCE_INIT;
    dl_sock s;
    BIO *bio = NULL, *req_bio = NULL, *body = NULL;
    OSSL_HTTP_REQ_CTX *rctx = NULL;
    char *redirection_url = NULL;
    int ok = 0;

    memset(&s, 0, sizeof(s));
    s.fd = fd;
    s.deadline = deadline;
    s.cap = max_len > SIZE_MAX - HEAD_ALLOWANCE ? SIZE_MAX : max_len + HEAD_ALLOWANCE;
    pthread_once(&once, dl_method_init);
    if (!dl_method || !(bio = BIO_new(dl_method)) ||
        (post && !(req_bio = BIO_new_mem_buf(req, (int)req_len)))) {
        snprintf(err, errlen, "out of memory");
        goto out;
    }
    BIO_set_data(bio, &s);
    BIO_set_init(bio, 1);
    /* bio given as both ends: OpenSSL neither connects nor reads any proxy
     * setting from the environment; no timeout of its own (the BIO has it) */
    rctx = OSSL_HTTP_open(server, NULL, NULL, NULL, 0, bio, bio, NULL, NULL, 0, 0);
    if (!rctx || !OSSL_HTTP_set1_request(rctx, path, NULL, post ? OCSP_REQUEST_TYPE : NULL,
                                         req_bio, OCSP_RESPONSE_TYPE, 1, max_len, 0, 0)) {
        fill_err(err, errlen, "cannot set up the HTTP request");
        goto out;
    }
    body = OSSL_HTTP_exchange(rctx, &redirection_url);
    if (!body) {
        report_failure(&s, redirection_url, server, post, timeout, max_len, err, errlen);
        goto out;
    }
    {
        char *data = NULL;
        long n = BIO_get_mem_data(body, &data);
        if (n <= 0 || (size_t)n > max_len) {
            snprintf(err, errlen, "empty or oversized body (%ld bytes)", n);
            goto out;
        }
        *resp = malloc((size_t)n);
        if (!*resp) {
            snprintf(err, errlen, "out of memory");
            goto out;
        }
        memcpy(*resp, data, (size_t)n);
        *resp_len = (size_t)n;
        ok = 1;
    }
out:
    OPENSSL_free(redirection_url);
    BIO_free(body);
    OSSL_HTTP_close(rctx, ok);   /* leaves our BIO alone */
    BIO_free(bio);
    BIO_free(req_bio);
    close(fd);
    return ok;
}

/* ------------------------------------------------------------ the fetch */

/* host as OSSL_HTTP_parse_url gives it ("[::1]" for IPv6) without brackets. */
static char *bare_host(const char *host)
{
    size_t n = strlen(host);
    if (n >= 2 && host[0] == '[' && host[n - 1] == ']')
        return strndup(host + 1, n - 2);
    return strdup(host);
}

int og_http_fetch_ocsp(const char *url, const unsigned char *req, size_t req_len,
                       const char *proxy, int timeout, size_t max_len,
                       unsigned char **resp, size_t *resp_len, char *err, size_t errlen)
{
    og_ms deadline = mono_ms() + (og_ms)timeout * 1000;
    char *host = NULL, *port = NULL, *path = NULL, *get_url = NULL;
    char *phost = NULL, *pport = NULL, *lookup_host = NULL, *server = NULL, *abs_path = NULL;
    struct addrinfo *ai = NULL;
    int use_ssl = 0, ok = 0, post = !og_request_use_get(req_len), fd;
    const char *target = url;

    *resp = NULL;
    *resp_len = 0;
    ERR_clear_error();
    if (!post && !(target = get_url = og_request_get_url(url, req, req_len))) {
        snprintf(err, errlen, "out of memory");
        return 0;
    }
    if (!OSSL_HTTP_parse_url(target, &use_ssl, NULL, &host, &port, NULL, &path, NULL, NULL)) {
        fill_err(err, errlen, "cannot parse responder URL");
        goto out;
    }
    if (use_ssl) {
        snprintf(err, errlen, "https responder URLs are not supported (use http://)");
        goto out;
    }
    /* Host header with the port unless it is the default */
    server = malloc(strlen(host) + strlen(port) + 2);
    if (!server) {
        snprintf(err, errlen, "out of memory");
        goto out;
    }
    sprintf(server, strcmp(port, "80") ? "%s:%s" : "%s", host, port);
    if (proxy && *proxy) {
        /* through a proxy: connect to it, absolute-form request line */
        if (!OSSL_HTTP_parse_url(proxy, NULL, NULL, &phost, &pport, NULL, NULL, NULL, NULL)) {
            fill_err(err, errlen, "cannot parse the proxy URL");
            goto out;
        }
        abs_path = malloc(strlen(server) + strlen(path) + 8);
        if (!abs_path) {
            snprintf(err, errlen, "out of memory");
            goto out;
        }
        sprintf(abs_path, "http://%s%s", server, path);
    }
    lookup_host = bare_host(phost ? phost : host);
    if (!lookup_host) {
        snprintf(err, errlen, "out of memory");
        goto out;
    }
    if (!resolve(lookup_host, pport ? pport : port, deadline, timeout, &ai, err, errlen))
        goto out;
    fd = connect_any(ai, deadline, timeout, err, errlen);
    if (fd < 0)
        goto out;
    ok = exchange(fd, server, abs_path ? abs_path : path, req, req_len, post, deadline, timeout,
                  max_len, resp, resp_len, err, errlen);
out:
    /* the text goes into the error log and parts of it come from the peer */
    for (char *c = err; !ok && *c; c++)
        if ((unsigned char)*c < 0x20 || *c == 0x7f)
            *c = '?';
    if (ai)
        freeaddrinfo(ai);
    free(get_url);
    free(server);
    free(abs_path);
    free(lookup_host);
    OPENSSL_free(host);
    OPENSSL_free(port);
    OPENSSL_free(path);
    OPENSSL_free(phost);
    OPENSSL_free(pport);
    ERR_clear_error();
    return ok;
}
