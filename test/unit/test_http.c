/* Copyright 2026 the mod_ocsp_guard developers. Licensed under the Apache License 2.0 (LICENSE). */
/* og_http against tiny HTTP servers of the test's own: redirects are never
 * followed, the proxy environment is never read, and the whole exchange,
 * DNS lookup included, fits in the timeout; and the refresher's fetch on
 * top of it (og_fetch_and_verify): what each kind of answer comes to. */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <check.h>
#include <errno.h>
#include <fcntl.h>
#include <net/if.h>
#include <netdb.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <sched.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mount.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "og_http.h"
#include "og_refresher.h"
#include "testpki.h"

#define MAX_RESP 65536

/* ---- a tiny HTTP server: reads one request, answers `reply` ---- */
typedef struct srv {
    int fd;
    int port;
    pthread_t th;
    int requests;                /* atomic */
    int delay_ms;                /* before answering */
    char reply[1024];
    size_t reply_len;
    char first_line[512];
} srv;

static long long now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* Reads the head and a Content-Length body; returns the bytes read. */
static size_t read_request(int c, char *buf, size_t cap)
{
    size_t used = 0;
    while (used + 1 < cap) {
        ssize_t n = recv(c, buf + used, cap - 1 - used, 0);
        if (n <= 0)
            break;
        used += (size_t)n;
        buf[used] = '\0';
        const char *end = strstr(buf, "\r\n\r\n");
        if (end) {
            const char *cl = strcasestr(buf, "\r\nContent-Length:");
            size_t body = cl && cl < end ? strtoul(cl + 17, NULL, 10) : 0;
            if (used >= (size_t)(end + 4 - buf) + body)
                break;
        }
    }
    buf[used] = '\0';
    return used;
}

static void *serve(void *arg)
{
    srv *s = arg;
    size_t cap = 70000;
    char *buf = malloc(cap);
    for (;;) {
        int c = accept(s->fd, NULL, NULL);
        if (c < 0)
            break;
        if (read_request(c, buf, cap) == 0) {
            close(c);
            continue;
        }
        snprintf(s->first_line, sizeof(s->first_line), "%.*s", (int)strcspn(buf, "\r\n"), buf);
        __atomic_add_fetch(&s->requests, 1, __ATOMIC_SEQ_CST);
        if (s->delay_ms)
            usleep((useconds_t)s->delay_ms * 1000);
        send(c, s->reply, s->reply_len, MSG_NOSIGNAL);
        close(c);
    }
    free(buf);
    return NULL;
}

static void srv_start(srv *s)
{
    struct sockaddr_in sa = { 0 };
    socklen_t sl = sizeof(sa);
    int one = 1;
    memset(s, 0, sizeof(*s));
    s->fd = socket(AF_INET, SOCK_STREAM, 0);
    setsockopt(s->fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
    sa.sin_family = AF_INET;
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    ck_assert_int_eq(bind(s->fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
    ck_assert_int_eq(listen(s->fd, 16), 0);
    getsockname(s->fd, (struct sockaddr *)&sa, &sl);
    s->port = ntohs(sa.sin_port);
    pthread_create(&s->th, NULL, serve, s);
}

static void srv_reply(srv *s, const char *head, const unsigned char *body, size_t body_len)
{
    size_t hl = strlen(head);
    ck_assert(hl + body_len <= sizeof(s->reply));
    memcpy(s->reply, head, hl);
    if (body_len)
        memcpy(s->reply + hl, body, body_len);
    s->reply_len = hl + body_len;
}

static void srv_stop(srv *s)
{
    shutdown(s->fd, SHUT_RDWR);
    close(s->fd);
    pthread_join(s->th, NULL);
}

static int srv_requests(srv *s)
{
    return __atomic_load_n(&s->requests, __ATOMIC_SEQ_CST);
}

/* A DER SEQUENCE: enough for the client's ASN.1 framing. */
static const unsigned char tiny_der[] = { 0x30, 0x03, 0x02, 0x01, 0x00 };
static const char ok_head[] = "HTTP/1.0 200 OK\r\nContent-Type: application/ocsp-response\r\n"
                              "Content-Length: 5\r\n\r\n";

/* A request small enough for GET and one that needs POST. */
static unsigned char small_req[40];
static unsigned char big_req[400];

static int fetch(const char *url, const unsigned char *req, size_t len, const char *proxy,
                 int timeout, char *err, size_t errlen)
{
    unsigned char *resp = NULL;
    size_t resp_len = 0;
    int ok = og_http_fetch_ocsp(url, req, len, proxy, timeout, MAX_RESP, &resp, &resp_len,
                                err, errlen);
    free(resp);
    return ok;
}

START_TEST(plain_get_and_post_still_work)
{
    srv a;
    char url[64], err[256];
    srv_start(&a);
    srv_reply(&a, ok_head, tiny_der, sizeof(tiny_der));
    snprintf(url, sizeof(url), "http://127.0.0.1:%d/ocsp", a.port);
    ck_assert_msg(fetch(url, small_req, sizeof(small_req), NULL, 2, err, sizeof(err)), "%s", err);
    ck_assert_msg(!strncmp(a.first_line, "GET /ocsp/", 10), "%s", a.first_line);
    ck_assert_msg(fetch(url, big_req, sizeof(big_req), NULL, 2, err, sizeof(err)), "%s", err);
    ck_assert_msg(!strcmp(a.first_line, "POST /ocsp HTTP/1.0"), "%s", a.first_line);
    /* a name, looked up by the resolver thread */
    snprintf(url, sizeof(url), "http://localhost:%d/ocsp", a.port);
    ck_assert_msg(fetch(url, small_req, sizeof(small_req), NULL, 2, err, sizeof(err)), "%s", err);
    ck_assert_int_eq(srv_requests(&a), 3);
    srv_stop(&a);
}
END_TEST

/* A hostile responder (or anyone on the path) answers with a redirect to
 * an address of its choice: nothing may be sent there, and the error says
 * where it pointed. */
START_TEST(redirects_are_not_followed)
{
    static const struct {
        int code;
        int post;
        int relative;
    } cases[] = {
        { 302, 0, 0 }, { 301, 0, 0 }, { 307, 0, 0 }, { 308, 0, 0 }, { 303, 0, 0 },
        { 302, 1, 0 }, { 301, 1, 0 }, { 307, 1, 0 }, { 302, 0, 1 },
    };
    srv a, b;
    char url[64], location[96], head[256], err[256];
    srv_start(&a);
    srv_start(&b);
    srv_reply(&b, ok_head, tiny_der, sizeof(tiny_der));
    snprintf(url, sizeof(url), "http://127.0.0.1:%d/ocsp", a.port);
    for (unsigned i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        if (cases[i].relative)
            snprintf(location, sizeof(location), "/elsewhere/%d", i);
        else
            snprintf(location, sizeof(location), "http://127.0.0.1:%d/victim/%d", b.port, i);
        snprintf(head, sizeof(head), "HTTP/1.0 %d Moved\r\nLocation: %s\r\nContent-Length: 0\r\n\r\n",
                 cases[i].code, location);
        srv_reply(&a, head, NULL, 0);
        int a_before = srv_requests(&a);
        const unsigned char *req = cases[i].post ? big_req : small_req;
        size_t len = cases[i].post ? sizeof(big_req) : sizeof(small_req);
        err[0] = '\0';
        int ok = fetch(url, req, len, NULL, 3, err, sizeof(err));
        ck_assert_msg(srv_requests(&b) == 0, "%d %s: the redirect was followed to %s",
                      cases[i].code, cases[i].post ? "POST" : "GET", location);
        ck_assert_msg(!ok, "%d %s: a redirect counted as success", cases[i].code,
                      cases[i].post ? "POST" : "GET");
        ck_assert_msg(srv_requests(&a) == a_before + 1, "%d %s: %d requests to the responder",
                      cases[i].code, cases[i].post ? "POST" : "GET", srv_requests(&a) - a_before);
        char code[8];
        snprintf(code, sizeof(code), "%d", cases[i].code);
        ck_assert_msg(strstr(err, code), "%d %s: the error does not name the status: %s",
                      cases[i].code, cases[i].post ? "POST" : "GET", err);
        if (cases[i].code == 301 || cases[i].code == 302)
            ck_assert_msg(strstr(err, location), "%d %s: the error does not name the Location "
                          "%s: %s", cases[i].code, cases[i].post ? "POST" : "GET", location, err);
    }
    /* a Location that would forge a log line is not copied raw */
    srv_reply(&a, "HTTP/1.0 302 Found\r\nLocation: http://x/\x1b[31mred\r\n\r\n", NULL, 0);
    ck_assert(!fetch(url, small_req, sizeof(small_req), NULL, 3, err, sizeof(err)));
    ck_assert_msg(!strchr(err, '\x1b'), "%s", err);
    ck_assert_int_eq(srv_requests(&b), 0);
    srv_stop(&a);
    srv_stop(&b);
}
END_TEST

/* With OCSPGuardProxy set, no_proxy from the environment must not send the
 * request around the proxy; without it, http_proxy must not send it to one. */
START_TEST(proxy_environment_is_never_read)
{
    srv proxy, responder, env_proxy;
    char url[64], proxy_url[64], env_url[64], err[256], want[128];
    srv_start(&proxy);
    srv_start(&responder);
    srv_start(&env_proxy);
    srv_reply(&proxy, ok_head, tiny_der, sizeof(tiny_der));
    srv_reply(&responder, ok_head, tiny_der, sizeof(tiny_der));
    srv_reply(&env_proxy, ok_head, tiny_der, sizeof(tiny_der));
    snprintf(url, sizeof(url), "http://127.0.0.1:%d/ocsp", responder.port);
    snprintf(proxy_url, sizeof(proxy_url), "http://127.0.0.1:%d", proxy.port);
    snprintf(env_url, sizeof(env_url), "http://127.0.0.1:%d", env_proxy.port);
    setenv("no_proxy", "127.0.0.1,localhost", 1);
    setenv("NO_PROXY", "127.0.0.1,localhost", 1);
    setenv("http_proxy", env_url, 1);
    setenv("HTTP_PROXY", env_url, 1);

    ck_assert_msg(fetch(url, small_req, sizeof(small_req), proxy_url, 2, err, sizeof(err)), "%s", err);
    ck_assert_msg(srv_requests(&proxy) == 1 && srv_requests(&responder) == 0,
                  "no_proxy from the environment bypassed the configured proxy "
                  "(proxy %d, responder %d requests)", srv_requests(&proxy), srv_requests(&responder));
    snprintf(want, sizeof(want), "GET http://127.0.0.1:%d/ocsp/", responder.port);
    ck_assert_msg(!strncmp(proxy.first_line, want, strlen(want)), "%s", proxy.first_line);
    ck_assert_msg(fetch(url, big_req, sizeof(big_req), proxy_url, 2, err, sizeof(err)), "%s", err);
    snprintf(want, sizeof(want), "POST http://127.0.0.1:%d/ocsp HTTP/1.0", responder.port);
    ck_assert_msg(!strcmp(proxy.first_line, want), "%s", proxy.first_line);

    ck_assert_msg(fetch(url, small_req, sizeof(small_req), NULL, 2, err, sizeof(err)), "%s", err);
    ck_assert_int_eq(srv_requests(&responder), 1);
    ck_assert_int_eq(srv_requests(&env_proxy), 0);
    unsetenv("no_proxy");
    unsetenv("NO_PROXY");
    unsetenv("http_proxy");
    unsetenv("HTTP_PROXY");
    srv_stop(&proxy);
    srv_stop(&responder);
    srv_stop(&env_proxy);
}
END_TEST

START_TEST(slow_answer_is_bounded_by_the_timeout)
{
    srv a;
    char url[64], err[256];
    srv_start(&a);
    srv_reply(&a, ok_head, tiny_der, sizeof(tiny_der));
    a.delay_ms = 3000;
    snprintf(url, sizeof(url), "http://127.0.0.1:%d/", a.port);
    long long t0 = now_ms();
    ck_assert(!fetch(url, small_req, sizeof(small_req), NULL, 1, err, sizeof(err)));
    long long took = now_ms() - t0;
    ck_assert_msg(took < 1600, "took %lld ms with a 1 s timeout (%s)", took, err);
    ck_assert_msg(strstr(err, "1 s"), "%s", err);
    srv_stop(&a);
}
END_TEST

/* ---- keep-alive: a server that reads several requests per connection,
 * one connection per thread, counting connections and requests ---- */
#define KA_MAX_CONNS 64
typedef struct ka_srv {
    int fd;
    int port;
    pthread_t th;
    pthread_mutex_t lock;
    pthread_t cth[KA_MAX_CONNS];
    int cfd[KA_MAX_CONNS];
    int nconn;                   /* accepted (under lock) */
    int requests;                /* atomic */
    int asked_keep_alive;        /* atomic: requests with Connection: keep-alive */
    int pipelined;               /* atomic: a request arrived before the last was answered */
    int keep;                    /* answer Connection: keep-alive and read on */
    const char *extra_head;      /* more header lines, e.g. a Keep-Alive timeout */
    int idle_close_ms;           /* > 0: close a connection idle this long */
    int drop_from;               /* > 0: from the nth request on, close without answering */
    int drop_to;                 /* ... up to this one (0: every one after) */
    int rst;                     /* drop with a reset, not a FIN */
    int delay_ms;
} ka_srv;

typedef struct ka_conn {
    ka_srv *s;
    int fd;
} ka_conn;

static void *ka_serve_conn(void *arg)
{
    ka_conn *kc = arg;
    ka_srv *s = kc->s;
    int c = kc->fd;
    char buf[8192];
    free(kc);
    for (;;) {
        size_t used = 0;
        int complete = 0;
        /* one request: head, then a Content-Length body */
        while (!complete && used + 1 < sizeof(buf)) {
            struct pollfd p = { c, POLLIN, 0 };
            if (s->idle_close_ms > 0 && used == 0 && poll(&p, 1, s->idle_close_ms) == 0)
                goto done;       /* our idle timeout */
            ssize_t n = recv(c, buf + used, sizeof(buf) - 1 - used, 0);
            if (n <= 0)
                goto done;
            used += (size_t)n;
            buf[used] = '\0';
            const char *end = strstr(buf, "\r\n\r\n");
            if (end) {
                const char *cl = strcasestr(buf, "\r\nContent-Length:");
                size_t body = cl && cl < end ? strtoul(cl + 17, NULL, 10) : 0;
                size_t want = (size_t)(end + 4 - buf) + body;
                if (used >= want) {
                    complete = 1;
                    if (used > want)
                        __atomic_store_n(&s->pipelined, 1, __ATOMIC_SEQ_CST);
                }
            }
        }
        if (!complete)
            goto done;
        int nth = __atomic_add_fetch(&s->requests, 1, __ATOMIC_SEQ_CST);
        if (strcasestr(buf, "\r\nConnection: keep-alive"))
            __atomic_add_fetch(&s->asked_keep_alive, 1, __ATOMIC_SEQ_CST);
        if (s->drop_from && nth >= s->drop_from && (!s->drop_to || nth <= s->drop_to)) {
            if (s->rst) {
                struct linger l = { 1, 0 };
                setsockopt(c, SOL_SOCKET, SO_LINGER, &l, sizeof(l));
            }
            goto done;
        }
        if (s->delay_ms)
            usleep((useconds_t)s->delay_ms * 1000);
        char head[512];
        int hl = snprintf(head, sizeof(head), "HTTP/1.0 200 OK\r\nContent-Type: "
                          "application/ocsp-response\r\nContent-Length: %zu\r\n%s%s\r\n",
                          sizeof(tiny_der), s->keep ? "Connection: keep-alive\r\n" : "",
                          s->extra_head ? s->extra_head : "");
        if (send(c, head, (size_t)hl, MSG_NOSIGNAL) != hl ||
            send(c, tiny_der, sizeof(tiny_der), MSG_NOSIGNAL) != (ssize_t)sizeof(tiny_der) ||
            !s->keep)
            goto done;
    }
done:
    shutdown(c, SHUT_RDWR);
    return NULL;
}

static void *ka_accept(void *arg)
{
    ka_srv *s = arg;
    for (;;) {
        int c = accept(s->fd, NULL, NULL);
        if (c < 0)
            return NULL;
        pthread_mutex_lock(&s->lock);
        if (s->nconn == KA_MAX_CONNS) {
            pthread_mutex_unlock(&s->lock);
            close(c);
            continue;
        }
        ka_conn *kc = malloc(sizeof(*kc));
        kc->s = s;
        kc->fd = c;
        s->cfd[s->nconn] = c;
        pthread_create(&s->cth[s->nconn], NULL, ka_serve_conn, kc);
        s->nconn++;
        pthread_mutex_unlock(&s->lock);
    }
}

/* Listens on the loopback address of family, on port (0: any); 0 when
 * that port is taken or the family is not there. */
static int ka_listen(ka_srv *s, int family, int port)
{
    struct sockaddr_storage ss;
    socklen_t sl;
    int one = 1;
    memset(&ss, 0, sizeof(ss));
    if (family == AF_INET6) {
        struct sockaddr_in6 *a = (struct sockaddr_in6 *)&ss;
        a->sin6_family = AF_INET6;
        a->sin6_addr = in6addr_loopback;
        a->sin6_port = htons((uint16_t)port);
        sl = sizeof(*a);
    } else {
        struct sockaddr_in *a = (struct sockaddr_in *)&ss;
        a->sin_family = AF_INET;
        a->sin_addr.s_addr = htonl(INADDR_LOOPBACK);
        a->sin_port = htons((uint16_t)port);
        sl = sizeof(*a);
    }
    s->fd = socket(family, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (s->fd < 0)
        return 0;
    setsockopt(s->fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
    if (family == AF_INET6)
        setsockopt(s->fd, IPPROTO_IPV6, IPV6_V6ONLY, &one, sizeof(one));
    if (bind(s->fd, (struct sockaddr *)&ss, sl) || listen(s->fd, 64)) {
        close(s->fd);
        return 0;
    }
    getsockname(s->fd, (struct sockaddr *)&ss, &sl);
    s->port = ntohs(family == AF_INET6 ? ((struct sockaddr_in6 *)&ss)->sin6_port
                                       : ((struct sockaddr_in *)&ss)->sin_port);
    return 1;
}

static int ka_start_on(ka_srv *s, int family, int port, int keep)
{
    memset(s, 0, sizeof(*s));
    s->keep = keep;
    if (!ka_listen(s, family, port))
        return 0;
    pthread_mutex_init(&s->lock, NULL);
    pthread_create(&s->th, NULL, ka_accept, s);
    return 1;
}

static void ka_start(ka_srv *s, int keep)
{
    ck_assert(ka_start_on(s, AF_INET, 0, keep));
}

static int ka_conns(ka_srv *s)
{
    pthread_mutex_lock(&s->lock);
    int n = s->nconn;
    pthread_mutex_unlock(&s->lock);
    return n;
}

static int ka_requests(ka_srv *s)
{
    return __atomic_load_n(&s->requests, __ATOMIC_SEQ_CST);
}

static void ka_stop(ka_srv *s)
{
    shutdown(s->fd, SHUT_RDWR);
    close(s->fd);
    pthread_join(s->th, NULL);
    for (int i = 0; i < s->nconn; i++) {
        shutdown(s->cfd[i], SHUT_RDWR);
        pthread_join(s->cth[i], NULL);
        close(s->cfd[i]);
    }
    pthread_mutex_destroy(&s->lock);
}

/* Log lines of the client above debug, kept for the assertions. */
static pthread_mutex_t log_lock = PTHREAD_MUTEX_INITIALIZER;
static char log_text[16384];

static void cap_log(void *baton, const char *file, int line, int level, const char *fmt, ...)
{
    char msg[1024];
    va_list ap;
    (void)baton;
    (void)file;
    (void)line;
    if (level >= OG_LOG_DEBUG)
        return;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    pthread_mutex_lock(&log_lock);
    size_t used = strlen(log_text);
    snprintf(log_text + used, sizeof(log_text) - used, "%s\n", msg);
    pthread_mutex_unlock(&log_lock);
}

static void log_reset(void)
{
    pthread_mutex_lock(&log_lock);
    log_text[0] = '\0';
    pthread_mutex_unlock(&log_lock);
}

static int log_count(const char *needle)
{
    int n = 0;
    pthread_mutex_lock(&log_lock);
    for (const char *p = strstr(log_text, needle); p; p = strstr(p + 1, needle))
        n++;
    pthread_mutex_unlock(&log_lock);
    return n;
}

static int cfetch(og_http_client *c, const char *url, const unsigned char *req, size_t len,
                  int timeout, char *err, size_t errlen)
{
    unsigned char *resp = NULL;
    size_t resp_len = 0;
    int ok = og_http_fetch(c, url, req, len, NULL, timeout, MAX_RESP, &resp, &resp_len, err, errlen);
    ck_assert(!ok || (resp_len == sizeof(tiny_der) && !memcmp(resp, tiny_der, resp_len)));
    free(resp);
    return ok;
}

START_TEST(keep_alive_reuses_one_connection)
{
    ka_srv a;
    og_http_stats st;
    char url[64], err[256];
    og_http_client *c = og_http_client_new(NULL);
    ka_start(&a, 1);
    snprintf(url, sizeof(url), "http://127.0.0.1:%d/ocsp", a.port);
    for (int i = 0; i < 10; i++) {
        int post = i % 3 == 2;
        ck_assert_msg(cfetch(c, url, post ? big_req : small_req, post ? sizeof(big_req)
                             : sizeof(small_req), 2, err, sizeof(err)), "request %d: %s", i, err);
    }
    og_http_client_stats(c, &st);
    ck_assert_int_eq(ka_requests(&a), 10);
    ck_assert_msg(ka_conns(&a) == 1, "10 requests took %d connections", ka_conns(&a));
    ck_assert_int_eq(__atomic_load_n(&a.asked_keep_alive, __ATOMIC_SEQ_CST), 10);
    ck_assert_int_eq(st.connects, 1);
    ck_assert_int_eq(st.reused, 9);
    ck_assert_int_eq(st.retried, 0);
    og_http_client_free(c);
    ka_stop(&a);
}
END_TEST

/* An HTTP/1.0 answer without Connection: keep-alive ends the connection:
 * each request gets a new one, and all succeed. */
START_TEST(server_closing_after_each_answer_still_works)
{
    ka_srv a;
    og_http_stats st;
    char url[64], err[256];
    og_http_client *c = og_http_client_new(NULL);
    ka_start(&a, 0);
    snprintf(url, sizeof(url), "http://127.0.0.1:%d/", a.port);
    for (int i = 0; i < 5; i++)
        ck_assert_msg(cfetch(c, url, small_req, sizeof(small_req), 2, err, sizeof(err)), "%s", err);
    og_http_client_stats(c, &st);
    ck_assert_int_eq(ka_requests(&a), 5);
    ck_assert_int_eq(ka_conns(&a), 5);
    ck_assert_int_eq(st.reused, 0);
    /* keep-alive turned off: not even asked for */
    og_http_client *off = og_http_client_new(&(og_http_config){ .idle_ms = -1 });
    ck_assert_msg(cfetch(off, url, small_req, sizeof(small_req), 2, err, sizeof(err)), "%s", err);
    ck_assert_int_eq(__atomic_load_n(&a.asked_keep_alive, __ATOMIC_SEQ_CST), 5);
    og_http_client_free(off);
    og_http_client_free(c);
    ka_stop(&a);
}
END_TEST

/* The server drops a kept connection just as the next request goes out
 * (FIN or reset, no answer): that request is sent once more on a new
 * connection, within the same deadline, and succeeds. */
START_TEST(kept_connection_closed_by_server_is_retried_once)
{
    for (int rst = 0; rst <= 1; rst++) {
        ka_srv a;
        og_http_stats st;
        char url[64], err[256];
        og_http_client *c = og_http_client_new(NULL);
        ka_start(&a, 1);
        a.drop_from = a.drop_to = 2;
        a.rst = rst;
        snprintf(url, sizeof(url), "http://127.0.0.1:%d/", a.port);
        ck_assert_msg(cfetch(c, url, small_req, sizeof(small_req), 2, err, sizeof(err)), "%s", err);
        ck_assert_msg(cfetch(c, url, small_req, sizeof(small_req), 2, err, sizeof(err)),
                      "%s: the retry on a new connection failed: %s", rst ? "reset" : "FIN", err);
        og_http_client_stats(c, &st);
        ck_assert_int_eq(st.retried, 1);
        ck_assert_int_eq(ka_conns(&a), 2);
        ck_assert_int_eq(ka_requests(&a), 3);
        og_http_client_free(c);
        ka_stop(&a);
    }
}
END_TEST

/* Only once, and never for a new connection: a server that drops every
 * request costs one retry, not a loop. */
START_TEST(retry_is_once_and_only_for_kept_connections)
{
    ka_srv a;
    og_http_stats st;
    char url[64], err[256];
    og_http_client *c = og_http_client_new(NULL);
    ka_start(&a, 1);
    a.drop_from = 1;
    snprintf(url, sizeof(url), "http://127.0.0.1:%d/", a.port);
    ck_assert(!cfetch(c, url, small_req, sizeof(small_req), 2, err, sizeof(err)));
    ck_assert_msg(ka_requests(&a) == 1, "a new connection's failure was retried (%d requests)",
                  ka_requests(&a));
    ck_assert_msg(strstr(err, "closed the connection without answering"), "%s", err);
    a.drop_from = 3;
    ck_assert_msg(cfetch(c, url, small_req, sizeof(small_req), 2, err, sizeof(err)), "%s", err);
    ck_assert(!cfetch(c, url, small_req, sizeof(small_req), 2, err, sizeof(err)));
    og_http_client_stats(c, &st);
    ck_assert_int_eq(st.retried, 1);
    ck_assert_int_eq(ka_requests(&a), 4);    /* 1, 2, then 3 on the kept one and 4 on a new one */
    og_http_client_free(c);
    ka_stop(&a);
}
END_TEST

/* A kept connection is closed after our idle bound, or a second under the
 * server's advertised Keep-Alive timeout, whichever is shorter; one the
 * server closed while idle is noticed before use (no retry needed). */
START_TEST(idle_bounds_are_honoured)
{
    ka_srv a;
    og_http_stats st;
    char url[64], err[256];
    og_http_client *c = og_http_client_new(&(og_http_config){ .idle_ms = 200 });
    ka_start(&a, 1);
    snprintf(url, sizeof(url), "http://127.0.0.1:%d/", a.port);
    ck_assert_msg(cfetch(c, url, small_req, sizeof(small_req), 2, err, sizeof(err)), "%s", err);
    usleep(400000);
    ck_assert_msg(cfetch(c, url, small_req, sizeof(small_req), 2, err, sizeof(err)), "%s", err);
    ck_assert_msg(ka_conns(&a) == 2, "a connection idle past its bound was used (%d connections)",
                  ka_conns(&a));
    og_http_client_free(c);

    /* Keep-Alive: timeout=1 leaves no idle time at all; timeout=3 two seconds */
    c = og_http_client_new(NULL);
    a.extra_head = "Keep-Alive: timeout=1, max=100\r\n";
    ck_assert_msg(cfetch(c, url, small_req, sizeof(small_req), 2, err, sizeof(err)), "%s", err);
    ck_assert_msg(cfetch(c, url, small_req, sizeof(small_req), 2, err, sizeof(err)), "%s", err);
    ck_assert_int_eq(ka_conns(&a), 4);
    a.extra_head = "Keep-Alive: timeout=3\r\n";
    ck_assert_msg(cfetch(c, url, small_req, sizeof(small_req), 2, err, sizeof(err)), "%s", err);
    ck_assert_msg(cfetch(c, url, small_req, sizeof(small_req), 2, err, sizeof(err)), "%s", err);
    ck_assert_int_eq(ka_conns(&a), 5);
    og_http_client_free(c);

    /* the server's own idle timeout closes it first */
    c = og_http_client_new(NULL);
    a.extra_head = NULL;
    a.idle_close_ms = 100;
    ck_assert_msg(cfetch(c, url, small_req, sizeof(small_req), 2, err, sizeof(err)), "%s", err);
    usleep(300000);
    ck_assert_msg(cfetch(c, url, small_req, sizeof(small_req), 2, err, sizeof(err)), "%s", err);
    og_http_client_stats(c, &st);
    ck_assert_int_eq(ka_conns(&a), 7);
    ck_assert_int_eq(st.retried, 0);
    og_http_client_free(c);
    ka_stop(&a);
}
END_TEST

typedef struct worker_arg {
    og_http_client *c;
    const char *url;
    int ok;
} worker_arg;

static void *fetch_worker(void *arg)
{
    worker_arg *w = arg;
    char err[256];
    for (int i = 0; i < 25; i++) {
        unsigned char *resp = NULL;
        size_t len = 0;
        if (og_http_fetch(w->c, w->url, small_req, sizeof(small_req), NULL, 5, MAX_RESP, &resp,
                          &len, err, sizeof(err)))
            w->ok++;
        free(resp);
    }
    return NULL;
}

/* Four workers share the pool: at most one connection each, never two
 * requests on one connection at once. */
START_TEST(workers_share_kept_connections)
{
    ka_srv a;
    char url[64];
    pthread_t th[4];
    worker_arg w[4];
    og_http_client *c = og_http_client_new(NULL);
    ka_start(&a, 1);
    a.delay_ms = 2;
    snprintf(url, sizeof(url), "http://127.0.0.1:%d/", a.port);
    for (int i = 0; i < 4; i++) {
        w[i] = (worker_arg){ c, url, 0 };
        pthread_create(&th[i], NULL, fetch_worker, &w[i]);
    }
    for (int i = 0; i < 4; i++) {
        pthread_join(th[i], NULL);
        ck_assert_int_eq(w[i].ok, 25);
    }
    ck_assert_int_eq(ka_requests(&a), 100);
    ck_assert_msg(ka_conns(&a) <= 4, "100 requests from 4 workers took %d connections", ka_conns(&a));
    ck_assert_msg(!__atomic_load_n(&a.pipelined, __ATOMIC_SEQ_CST),
                  "a connection carried a request before the last one was answered");
    og_http_client_free(c);
    ka_stop(&a);
}
END_TEST

START_TEST(responder_key)
{
    char k[128];
    ck_assert(og_http_responder_key("http://ocsp.example.com/x/y", NULL, k, sizeof(k)));
    ck_assert_str_eq(k, "ocsp.example.com:80");
    ck_assert(og_http_responder_key("http://ocsp.example.com:8080", "", k, sizeof(k)));
    ck_assert_str_eq(k, "ocsp.example.com:8080");
    ck_assert(og_http_responder_key("http://[2001:db8::1]/", "http://proxy.lan:3128", k, sizeof(k)));
    ck_assert_str_eq(k, "[2001:db8::1]:80/proxy.lan:3128");
    ck_assert(!og_http_responder_key("http://ocsp.example.com/", NULL, k, 8));
}
END_TEST

/* ---- Happy Eyeballs and the resolver cache, with the resolver replaced:
 * names resolve to loopback addresses of both families on one port. ---- */

typedef struct fake_dns {
    int calls;                   /* atomic */
    int delay_ms;
    int fail;                    /* answer EAI_NONAME */
    int order[2];                /* families, in the order returned */
} fake_dns;

static fake_dns dns;             /* outlives any lookup thread */

static int fake_resolve(void *baton, const char *host, og_http_addr *out, int max)
{
    fake_dns *d = baton;
    (void)host;
    __atomic_add_fetch(&d->calls, 1, __ATOMIC_SEQ_CST);
    if (d->delay_ms)
        usleep((useconds_t)d->delay_ms * 1000);
    if (d->fail)
        return EAI_NONAME;
    int n = 0;
    for (int i = 0; i < 2 && n < max; i++) {
        memset(&out[n], 0, sizeof(out[n]));
        if (d->order[i] == AF_INET6) {
            struct sockaddr_in6 *a = (struct sockaddr_in6 *)&out[n].sa;
            a->sin6_family = AF_INET6;
            a->sin6_addr = in6addr_loopback;
            out[n++].len = sizeof(*a);
        } else if (d->order[i] == AF_INET) {
            struct sockaddr_in *a = (struct sockaddr_in *)&out[n].sa;
            a->sin_family = AF_INET;
            a->sin_addr.s_addr = htonl(INADDR_LOOPBACK);
            out[n++].len = sizeof(*a);
        }
    }
    return n;
}

/* A listener that never accepts, its one-place queue filled: further SYNs
 * are dropped, as on a route that silently loses packets. */
typedef struct blackhole {
    int lfd;
    int filler;
} blackhole;

static int blackhole_open(blackhole *b, int family, int port)
{
    ka_srv tmp;
    struct sockaddr_storage ss;
    socklen_t sl = sizeof(ss);
    if (!ka_listen(&tmp, family, port))
        return 0;
    b->lfd = tmp.fd;
    listen(b->lfd, 0);
    getsockname(b->lfd, (struct sockaddr *)&ss, &sl);
    b->filler = socket(family, SOCK_STREAM | SOCK_CLOEXEC, 0);
    ck_assert_int_eq(connect(b->filler, (struct sockaddr *)&ss, sl), 0);
    /* the fixture itself: one more connection must not complete */
    int probe = socket(family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    connect(probe, (struct sockaddr *)&ss, sl);
    struct pollfd p = { probe, POLLOUT, 0 };
    int answered = poll(&p, 1, 300);
    close(probe);
    ck_assert_msg(answered == 0, "the full listen queue answered a connection: this kernel does "
                  "not drop SYNs there, the blackhole fixture does not work");
    return 1;
}

static void blackhole_close(blackhole *b)
{
    close(b->filler);
    close(b->lfd);
}

/* A working IPv4 server and a blackholed [::1] on the same port. */
static int dual_fixture(ka_srv *v4, blackhole *v6)
{
    for (int i = 0; i < 20; i++) {
        ka_start(v4, 1);
        if (blackhole_open(v6, AF_INET6, v4->port))
            return 1;
        ka_stop(v4);
    }
    return 0;
}

static int ipv6_loopback(void)
{
    ka_srv t;
    if (!ka_listen(&t, AF_INET6, 0))
        return 0;
    close(t.fd);
    return 1;
}

START_TEST(happy_eyeballs_falls_back_from_a_silent_ipv6)
{
    ka_srv v4, v6ok;
    blackhole v6;
    og_http_stats st;
    char url[64], err[256], bad[64];
    if (!ipv6_loopback()) {
        fprintf(stderr, "SKIP: no IPv6 loopback: happy_eyeballs_falls_back_from_a_silent_ipv6\n");
        return;
    }
    memset(&dns, 0, sizeof(dns));
    dns.order[0] = AF_INET6;
    dns.order[1] = AF_INET;
    log_reset();
    og_http_client *c = og_http_client_new(&(og_http_config){
        .log = cap_log, .resolve = fake_resolve, .resolve_baton = &dns, .idle_ms = -1,
        .family_retry_ms = 1000 });
    ck_assert_msg(dual_fixture(&v4, &v6), "no port free on both 127.0.0.1 and [::1]");
    snprintf(url, sizeof(url), "http://dual.test:%d/", v4.port);
    snprintf(bad, sizeof(bad), "[::1]:%d", v4.port);

    long long t0 = now_ms();
    ck_assert_msg(cfetch(c, url, small_req, sizeof(small_req), 10, err, sizeof(err)), "%s", err);
    long long took = now_ms() - t0;
    ck_assert_msg(took >= 200 && took < 1000, "IPv4 answered after %lld ms, not about 250 ms after "
                  "the silent IPv6 attempt began", took);
    ck_assert_int_eq(ka_requests(&v4), 1);
    ck_assert_msg(log_count("OG01201") == 1 && log_count("IPv6 fails") == 1 &&
                  log_count(bad) == 1 && log_count("dual.test") == 1, "log: %s", log_text);

    /* IPv4 goes first now: no wait, no second line */
    t0 = now_ms();
    for (int i = 0; i < 3; i++)
        ck_assert_msg(cfetch(c, url, small_req, sizeof(small_req), 10, err, sizeof(err)), "%s", err);
    took = now_ms() - t0;
    ck_assert_msg(took < 200, "three fetches took %lld ms with IPv4 known to work first", took);
    ck_assert_int_eq(log_count("OG01201"), 1);

    /* IPv6 works again; after family_retry_ms it goes first again and wins */
    blackhole_close(&v6);
    ck_assert(ka_start_on(&v6ok, AF_INET6, v4.port, 0));
    usleep(1100000);
    ck_assert_msg(cfetch(c, url, small_req, sizeof(small_req), 10, err, sizeof(err)), "%s", err);
    ck_assert_int_eq(ka_requests(&v6ok), 1);
    ck_assert_msg(log_count("OG01202") == 1 && log_count("IPv6 works again") == 1, "log: %s", log_text);
    og_http_client_stats(c, &st);
    ck_assert_int_eq(st.connects, 5);
    ck_assert_int_eq(st.lookups, 1);
    og_http_client_free(c);
    ka_stop(&v6ok);
    ka_stop(&v4);
}
END_TEST

/* A refused first address costs no wait: the next starts at once. */
START_TEST(happy_eyeballs_refused_address_moves_on_at_once)
{
    ka_srv v4;
    char url[64], err[256];
    if (!ipv6_loopback()) {
        fprintf(stderr, "SKIP: no IPv6 loopback: happy_eyeballs_refused_address_moves_on_at_once\n");
        return;
    }
    memset(&dns, 0, sizeof(dns));
    dns.order[0] = AF_INET6;
    dns.order[1] = AF_INET;
    log_reset();
    og_http_client *c = og_http_client_new(&(og_http_config){
        .log = cap_log, .resolve = fake_resolve, .resolve_baton = &dns });
    ka_start(&v4, 1);            /* nothing listens on [::1] at that port (V6ONLY elsewhere) */
    snprintf(url, sizeof(url), "http://refused.test:%d/", v4.port);
    long long t0 = now_ms();
    ck_assert_msg(cfetch(c, url, small_req, sizeof(small_req), 10, err, sizeof(err)), "%s", err);
    long long took = now_ms() - t0;
    ck_assert_msg(took < 200, "took %lld ms after a refused IPv6 attempt", took);
    ck_assert_msg(log_count("IPv6 fails") == 1 && log_count("Connection refused") == 1,
                  "log: %s", log_text);
    og_http_client_free(c);
    ka_stop(&v4);
}
END_TEST

/* Both families silent: the fetch ends at its deadline and names each
 * address tried. */
START_TEST(happy_eyeballs_all_silent_ends_at_the_deadline)
{
    blackhole v4, v6;
    char url[64], err[256], a4[32], a6[32];
    int port = 0, ok = 0;
    if (!ipv6_loopback()) {
        fprintf(stderr, "SKIP: no IPv6 loopback: happy_eyeballs_all_silent_ends_at_the_deadline\n");
        return;
    }
    memset(&dns, 0, sizeof(dns));
    dns.order[0] = AF_INET6;
    dns.order[1] = AF_INET;
    for (int i = 0; i < 20 && !ok; i++) {
        ck_assert(blackhole_open(&v4, AF_INET, 0));
        struct sockaddr_in sa;
        socklen_t sl = sizeof(sa);
        getsockname(v4.lfd, (struct sockaddr *)&sa, &sl);
        port = ntohs(sa.sin_port);
        if (!(ok = blackhole_open(&v6, AF_INET6, port)))
            blackhole_close(&v4);
    }
    ck_assert(ok);
    og_http_client *c = og_http_client_new(&(og_http_config){
        .resolve = fake_resolve, .resolve_baton = &dns });
    snprintf(url, sizeof(url), "http://silent.test:%d/", port);
    long long t0 = now_ms();
    ck_assert(!cfetch(c, url, small_req, sizeof(small_req), 1, err, sizeof(err)));
    long long took = now_ms() - t0;
    ck_assert_msg(took >= 900 && took < 1500, "took %lld ms with a 1 s timeout", took);
    snprintf(a4, sizeof(a4), "127.0.0.1:%d no answer", port);
    snprintf(a6, sizeof(a6), "[::1]:%d no answer", port);
    ck_assert_msg(strstr(err, "within 1 s") && strstr(err, a4) && strstr(err, a6), "%s", err);
    og_http_client_free(c);
    blackhole_close(&v4);
    blackhole_close(&v6);
}
END_TEST

static void *resolve_worker(void *arg)
{
    worker_arg *w = arg;
    char err[256];
    unsigned char *resp = NULL;
    size_t len = 0;
    w->ok = og_http_fetch(w->c, w->url, small_req, sizeof(small_req), NULL, 5, MAX_RESP, &resp,
                          &len, err, sizeof(err));
    free(resp);
    return NULL;
}

/* A name is looked up once per TTL, whatever the number of fetches and
 * workers; a lookup under way is joined; a failure is remembered briefly. */
START_TEST(resolver_cache_shares_one_lookup)
{
    ka_srv a;
    og_http_stats st;
    char url[64], err[256];
    memset(&dns, 0, sizeof(dns));
    dns.order[0] = AF_INET;
    og_http_client *c = og_http_client_new(&(og_http_config){
        .resolve = fake_resolve, .resolve_baton = &dns, .idle_ms = -1, .dns_ttl_ms = 300 });
    ka_start(&a, 0);
    snprintf(url, sizeof(url), "http://cached.test:%d/", a.port);
    for (int i = 0; i < 10; i++)
        ck_assert_msg(cfetch(c, url, small_req, sizeof(small_req), 2, err, sizeof(err)), "%s", err);
    ck_assert_int_eq(__atomic_load_n(&dns.calls, __ATOMIC_SEQ_CST), 1);
    usleep(400000);              /* past the TTL */
    ck_assert_msg(cfetch(c, url, small_req, sizeof(small_req), 2, err, sizeof(err)), "%s", err);
    ck_assert_int_eq(__atomic_load_n(&dns.calls, __ATOMIC_SEQ_CST), 2);

    /* four workers at once on a slow resolver: one lookup */
    usleep(400000);
    dns.delay_ms = 200;
    pthread_t th[4];
    worker_arg w[4];
    for (int i = 0; i < 4; i++) {
        w[i] = (worker_arg){ c, url, 0 };
        pthread_create(&th[i], NULL, resolve_worker, &w[i]);
    }
    for (int i = 0; i < 4; i++) {
        pthread_join(th[i], NULL);
        ck_assert(w[i].ok);
    }
    ck_assert_int_eq(__atomic_load_n(&dns.calls, __ATOMIC_SEQ_CST), 3);

    /* a name that does not resolve: asked once, the answer kept a while */
    dns.delay_ms = 0;
    dns.fail = 1;
    snprintf(url, sizeof(url), "http://nxdomain.test:%d/", a.port);
    ck_assert(!cfetch(c, url, small_req, sizeof(small_req), 2, err, sizeof(err)));
    ck_assert_msg(strstr(err, "cannot resolve nxdomain.test"), "%s", err);
    ck_assert(!cfetch(c, url, small_req, sizeof(small_req), 2, err, sizeof(err)));
    ck_assert_int_eq(__atomic_load_n(&dns.calls, __ATOMIC_SEQ_CST), 4);
    og_http_client_stats(c, &st);
    ck_assert_int_eq(st.lookups, 4);
    og_http_client_free(c);
    ka_stop(&a);
}
END_TEST

/* ---- DNS within the timeout, in a network and mount namespace of our own:
 * /etc/resolv.conf names a nameserver on the namespace's loopback that
 * answers late (after answer_ms) or never (answer_ms < 0). ---- */

static int lo_up(void)
{
    struct ifreq ifr;
    int s = socket(AF_INET, SOCK_DGRAM, 0), ok;
    memset(&ifr, 0, sizeof(ifr));
    snprintf(ifr.ifr_name, sizeof(ifr.ifr_name), "lo");
    ok = s >= 0 && ioctl(s, SIOCGIFFLAGS, &ifr) == 0;
    ifr.ifr_flags |= IFF_UP | IFF_RUNNING;
    ok = ok && ioctl(s, SIOCSIFFLAGS, &ifr) == 0;
    if (s >= 0)
        close(s);
    return ok;
}

/* In the child: a private namespace with its own resolv.conf. Returns NULL
 * or why not. */
static const char *enter_namespace(char *why, size_t len)
{
    char tmpl[] = "/tmp/og_test_resolv.XXXXXX";
    static const char conf[] = "nameserver 127.0.0.1\noptions timeout:5 attempts:2\n";
    int fd;
    if (unshare(CLONE_NEWNS | CLONE_NEWNET)) {
        snprintf(why, len, "unshare(CLONE_NEWNS|CLONE_NEWNET): %s", strerror(errno));
        return why;
    }
    /* private first: the bind mount below must never reach the host */
    if (mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL)) {
        snprintf(why, len, "cannot make / private in the new namespace: %s", strerror(errno));
        return why;
    }
    if (!lo_up()) {
        snprintf(why, len, "cannot bring lo up: %s", strerror(errno));
        return why;
    }
    fd = mkstemp(tmpl);
    if (fd < 0 || write(fd, conf, sizeof(conf) - 1) != (ssize_t)(sizeof(conf) - 1)) {
        snprintf(why, len, "cannot write %s: %s", tmpl, strerror(errno));
        return why;
    }
    close(fd);
    if (mount(tmpl, "/etc/resolv.conf", NULL, MS_BIND, NULL)) {
        snprintf(why, len, "cannot bind-mount /etc/resolv.conf: %s", strerror(errno));
        unlink(tmpl);
        return why;
    }
    unlink(tmpl);                /* the mount keeps it */
    return NULL;
}

typedef struct dns_srv {
    int fd;
    int answer_ms;               /* < 0: never */
    int queries;                 /* atomic */
    int answered;                /* atomic */
} dns_srv;

/* Reads queries; answers each NXDOMAIN once answer_ms have passed since
 * the first one (or never). */
static void *dns_serve(void *arg)
{
    dns_srv *d = arg;
    unsigned char q[512];
    struct sockaddr_storage from;
    long long first = -1;
    for (;;) {
        socklen_t fl = sizeof(from);
        ssize_t n = recvfrom(d->fd, q, sizeof(q), 0, (struct sockaddr *)&from, &fl);
        if (n < 12)
            continue;
        __atomic_add_fetch(&d->queries, 1, __ATOMIC_SEQ_CST);
        if (d->answer_ms < 0)
            continue;
        if (first < 0)
            first = now_ms();
        long long wait = first + d->answer_ms - now_ms();
        if (wait > 0)
            usleep((useconds_t)wait * 1000);
        q[2] |= 0x80;                       /* QR: a response */
        q[3] = (unsigned char)(0x80 | 3);   /* RA, RCODE NXDOMAIN */
        sendto(d->fd, q, (size_t)n, 0, (struct sockaddr *)&from, fl);
        __atomic_store_n(&d->answered, 1, __ATOMIC_SEQ_CST);
    }
    return NULL;
}

typedef struct dns_result {
    int skipped;
    int ok;
    int queries;                 /* the namespace's nameserver saw them */
    long long took_ms;
    int exit_status;
    char err[256];
} dns_result;

/* Runs one fetch of a name that only the namespace's nameserver can
 * answer, in a child; after a late answer the child lingers until the
 * abandoned lookup has finished and exits through exit(), so the
 * sanitizers see a use after free or a leak of the abandoned lookup. */
static dns_result dns_fetch_in_namespace(int answer_ms, int timeout)
{
    dns_result r;
    int p[2];
    memset(&r, 0, sizeof(r));
    ck_assert_int_eq(pipe(p), 0);
    pid_t pid = fork();
    ck_assert_int_ge(pid, 0);
    if (pid == 0) {
        char why[200];
        dns_result c;
        memset(&c, 0, sizeof(c));
        close(p[0]);
        if (enter_namespace(why, sizeof(why))) {
            c.skipped = 1;
            snprintf(c.err, sizeof(c.err), "%s", why);
            if (write(p[1], &c, sizeof(c)) < 0)
                _exit(3);
            _exit(0);
        }
        dns_srv d = { socket(AF_INET, SOCK_DGRAM, 0), answer_ms, 0, 0 };
        struct sockaddr_in sa = { 0 };
        sa.sin_family = AF_INET;
        sa.sin_port = htons(53);
        sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
        if (bind(d.fd, (struct sockaddr *)&sa, sizeof(sa)))
            _exit(4);
        pthread_t th;
        pthread_create(&th, NULL, dns_serve, &d);
        pthread_detach(th);
        long long t0 = now_ms();
        c.ok = fetch("http://ocsp.example.invalid-name.test/", small_req, sizeof(small_req), NULL,
                     timeout, c.err, sizeof(c.err));
        c.took_ms = now_ms() - t0;
        c.queries = __atomic_load_n(&d.queries, __ATOMIC_SEQ_CST);
        if (write(p[1], &c, sizeof(c)) < 0)
            _exit(3);
        if (answer_ms < 0)
            _exit(0);            /* the lookup never ends: nothing more to see */
        while (!__atomic_load_n(&d.answered, __ATOMIC_SEQ_CST))
            usleep(10000);
        usleep(1000000);         /* the abandoned lookup finishes and cleans up */
        exit(0);
    }
    close(p[1]);
    /* the old code takes the resolver's own timeouts (10 s and more) */
    struct pollfd pf = { p[0], POLLIN, 0 };
    if (poll(&pf, 1, 40000) != 1 || read(p[0], &r, sizeof(r)) != (ssize_t)sizeof(r)) {
        kill(pid, SIGKILL);
        r.took_ms = -1;
        snprintf(r.err, sizeof(r.err), "no result within 40 s");
    }
    close(p[0]);
    int st = 0;
    waitpid(pid, &st, 0);
    r.exit_status = st;
    return r;
}

START_TEST(dns_lookup_that_never_answers_is_bounded_by_the_timeout)
{
    dns_result r = dns_fetch_in_namespace(-1, 2);
    ck_assert_msg(!r.skipped, "SKIP: cannot unshare: %s", r.err);
    ck_assert(!r.ok);
    ck_assert_msg(r.took_ms >= 0 && r.took_ms < 2500, "the fetch with a 2 s timeout took %lld ms "
                  "against a nameserver that never answers (%s)", r.took_ms, r.err);
    ck_assert_msg(r.queries > 0, "the lookup never reached the namespace's nameserver");
    ck_assert_msg(strstr(r.err, "ocsp.example.invalid-name.test"), "%s", r.err);
    ck_assert_msg(WIFEXITED(r.exit_status) && WEXITSTATUS(r.exit_status) == 0, "child status %d",
                  r.exit_status);
}
END_TEST

START_TEST(abandoned_dns_lookup_ends_cleanly)
{
    dns_result r = dns_fetch_in_namespace(3000, 2);
    ck_assert_msg(!r.skipped, "SKIP: cannot unshare: %s", r.err);
    ck_assert(!r.ok);
    ck_assert_msg(r.took_ms >= 0 && r.took_ms < 2500, "the fetch with a 2 s timeout took %lld ms "
                  "against a nameserver that answers after 3 s (%s)", r.took_ms, r.err);
    ck_assert_msg(r.queries > 0, "the lookup never reached the namespace's nameserver");
    /* the lookup answered after the fetch gave up: no crash, no leak */
    ck_assert_msg(WIFEXITED(r.exit_status) && WEXITSTATUS(r.exit_status) == 0,
                  "child ended with status %d after the abandoned lookup finished", r.exit_status);
}
END_TEST

/* Namespaces need privileges that a build machine may not grant: the DNS
 * cases then are reported as skipped, not counted as passed. */
static int can_unshare(char *why, size_t len)
{
    int p[2];
    char buf[200] = "";
    if (pipe(p))
        return 0;
    pid_t pid = fork();
    if (pid == 0) {
        char w[200] = "";
        close(p[0]);
        if (unshare(CLONE_NEWNS | CLONE_NEWNET))
            snprintf(w, sizeof(w), "unshare(CLONE_NEWNS|CLONE_NEWNET): %s", strerror(errno));
        if (write(p[1], w, strlen(w)) < 0)
            _exit(1);
        _exit(0);
    }
    close(p[1]);
    ssize_t n = pid > 0 ? read(p[0], buf, sizeof(buf) - 1) : -1;
    close(p[0]);
    if (pid > 0)
        waitpid(pid, NULL, 0);
    if (pid < 0 || n < 0) {
        snprintf(why, len, "fork: %s", strerror(errno));
        return 0;
    }
    buf[n] = '\0';
    snprintf(why, len, "%s", buf);
    return n == 0;
}

/* ---- og_fetch_and_verify: the refresher's exchange over og_http ---- */
static tp_cert fv_ca, fv_leaf;
static og_cert *fv_cert;
static og_target fv_target;
static char fv_url[64];
static srv fv_srv;

static void fv_setup(void)
{
    char err[256], *pem;
    fv_ca = tp_ca("Fetch CA");
    fv_leaf = tp_issue(&fv_ca, "fetch.test", "leaf", "http://127.0.0.1:1/", 0x3001);
    pem = tp_pair_pem(&fv_leaf, &fv_ca);
    fv_cert = og_cert_from_pem(pem, strlen(pem), NULL, err, sizeof(err));
    free(pem);
    ck_assert_msg(fv_cert != NULL, "%s", err);
    srv_start(&fv_srv);
    snprintf(fv_url, sizeof(fv_url), "http://127.0.0.1:%d/", fv_srv.port);
    memset(&fv_target, 0, sizeof(fv_target));
    fv_target.cert = fv_cert;
    fv_target.url = fv_url;
    fv_target.timeout = 2;
    fv_target.max_skew = 300;
}

static void fv_teardown(void)
{
    srv_stop(&fv_srv);
    og_cert_free(fv_cert);
    tp_free(&fv_ca);
    tp_free(&fv_leaf);
}

/* The server answers with head and a good response (or body_text). */
static void fv_answer(const char *type, const char *status, const char *body_text)
{
    char head[256];
    size_t len;
    tp_resp_opts o = tp_good_opts(&fv_ca, &fv_leaf, -1, 3600);
    unsigned char *der = body_text ? NULL : tp_response(&o, &len);
    if (body_text)
        len = strlen(body_text);
    snprintf(head, sizeof(head), "HTTP/1.0 %s\r\nContent-Type: %s\r\nContent-Length: %zu\r\n\r\n",
             status, type, len);
    srv_reply(&fv_srv, head, der ? der : (const unsigned char *)body_text, len);
    OPENSSL_free(der);
}

START_TEST(fetch_and_verify_outcomes)
{
    og_fetch_outcome o;
    fv_answer("application/ocsp-response", "200 OK", NULL);
    og_fetch_and_verify(&fv_target, time(NULL), &o);
    ck_assert_msg(o.verify == OG_VERIFY_OK, "%s", o.why);
    ck_assert_int_eq(o.info.status, OG_STATUS_GOOD);
    free(o.der);
    /* verified at the time given: an hour later the same answer has expired */
    og_fetch_and_verify(&fv_target, time(NULL) + 7200, &o);
    ck_assert(o.fetched);
    ck_assert_int_eq(o.verify, OG_VERIFY_EXPIRED);
    ck_assert_ptr_null(o.der);
    srv_reply(&fv_srv, "HTTP/1.0 500 Oops\r\nContent-Length: 0\r\n\r\n", NULL, 0);
    og_fetch_and_verify(&fv_target, time(NULL), &o);
    ck_assert(!o.fetched);
    fv_answer("text/html", "200 OK", NULL);
    og_fetch_and_verify(&fv_target, time(NULL), &o);
    ck_assert(!o.fetched);
    srv_reply(&fv_srv, "", NULL, 0);   /* closes without an answer */
    og_fetch_and_verify(&fv_target, time(NULL), &o);
    ck_assert(!o.fetched);
    /* OpenSSL's client already refuses bodies that are not DER */
    fv_answer("application/ocsp-response", "200 OK", "\x30\x12 not ocsp at all");
    og_fetch_and_verify(&fv_target, time(NULL), &o);
    ck_assert_int_ne(o.verify, OG_VERIFY_OK);
    ck_assert_ptr_null(o.der);
    /* a dead responder: connection refused at once */
    og_target dead = fv_target;
    dead.url = "http://127.0.0.1:1/";
    og_fetch_and_verify(&dead, time(NULL), &o);
    ck_assert(!o.fetched);
    ck_assert(strlen(o.why) > 0);
}
END_TEST

START_TEST(http_get_for_small_post_for_large_requests)
{
    unsigned char *req, *resp;
    size_t req_len, resp_len;
    char err[256];
    fv_answer("application/ocsp-response", "200 OK", NULL);
    ck_assert(og_request_der(fv_cert, &req, &req_len));
    ck_assert(og_http_fetch_ocsp(fv_url, req, req_len, NULL, 2, OG_MAX_RESPONSE, &resp, &resp_len, err, sizeof(err)));
    ck_assert_msg(!strncmp(fv_srv.first_line, "GET /", 5), "%s", fv_srv.first_line);
    free(resp);
    /* a request whose base64 would exceed 255 bytes goes by POST */
    unsigned char big[300];
    memset(big, 0x30, sizeof(big));
    ck_assert(og_http_fetch_ocsp(fv_url, big, sizeof(big), NULL, 2, OG_MAX_RESPONSE, &resp, &resp_len, err, sizeof(err)));
    ck_assert_msg(!strncmp(fv_srv.first_line, "POST /", 6), "%s", fv_srv.first_line);
    free(resp);
    /* a response larger than allowed is refused */
    ck_assert(!og_http_fetch_ocsp(fv_url, req, req_len, NULL, 2, 100, &resp, &resp_len, err, sizeof(err)));
    OPENSSL_free(req);
}
END_TEST

static void fill_requests(void)
{
    memset(small_req, 0x30, sizeof(small_req));
    memset(big_req, 0x30, sizeof(big_req));
}

Suite *http_suite(void)
{
    Suite *s = suite_create("http");
    TCase *tc = tcase_create("client");
    char why[200];
    fill_requests();
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, plain_get_and_post_still_work);
    tcase_add_test(tc, redirects_are_not_followed);
    tcase_add_test(tc, proxy_environment_is_never_read);
    tcase_add_test(tc, slow_answer_is_bounded_by_the_timeout);
    tcase_add_test(tc, keep_alive_reuses_one_connection);
    tcase_add_test(tc, server_closing_after_each_answer_still_works);
    tcase_add_test(tc, kept_connection_closed_by_server_is_retried_once);
    tcase_add_test(tc, retry_is_once_and_only_for_kept_connections);
    tcase_add_test(tc, idle_bounds_are_honoured);
    tcase_add_test(tc, workers_share_kept_connections);
    tcase_add_test(tc, responder_key);
    suite_add_tcase(s, tc);
    TCase *fv = tcase_create("fetch");
    tcase_add_checked_fixture(fv, fv_setup, fv_teardown);
    tcase_set_timeout(fv, 60);
    tcase_add_test(fv, fetch_and_verify_outcomes);
    tcase_add_test(fv, http_get_for_small_post_for_large_requests);
    suite_add_tcase(s, fv);
    TCase *he = tcase_create("dualstack");
    tcase_set_timeout(he, 60);
    tcase_add_test(he, happy_eyeballs_falls_back_from_a_silent_ipv6);
    tcase_add_test(he, happy_eyeballs_refused_address_moves_on_at_once);
    tcase_add_test(he, happy_eyeballs_all_silent_ends_at_the_deadline);
    tcase_add_test(he, resolver_cache_shares_one_lookup);
    suite_add_tcase(s, he);
    if (can_unshare(why, sizeof(why))) {
        TCase *dns = tcase_create("dns");
        tcase_set_timeout(dns, 60);
        tcase_add_test(dns, dns_lookup_that_never_answers_is_bounded_by_the_timeout);
        tcase_add_test(dns, abandoned_dns_lookup_ends_cleanly);
        suite_add_tcase(s, dns);
    } else {
        fprintf(stderr, "SKIP: cannot unshare (%s): the DNS-within-the-timeout tests "
                "(http/dns) did not run\n", why);
    }
    return s;
}
