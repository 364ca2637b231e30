/* The refresher against a small in-process HTTP responder of the test's
 * own: first fill, failures keep the last good response, expiry clears it,
 * garbage and wrong content types are refused, adoption rules. */
#include <arpa/inet.h>
#include <check.h>
#include <netinet/in.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "og_http.h"
#include "og_refresher.h"
#include "testpki.h"

/* ---- a tiny HTTP responder: answers every request from `mode` ---- */
enum { MODE_GOOD, MODE_SHORT, MODE_500, MODE_GARBAGE, MODE_WRONG_TYPE, MODE_CLOSE };
static volatile int mode;
static volatile int requests;
static char last_request_line[128];
static int listen_fd;
static int port;
static pthread_t server_thread;
static tp_cert ca, leaf;
static long short_validity = 4;

static void *serve(void *arg)
{
    (void)arg;
    for (;;) {
        int c = accept(listen_fd, NULL, NULL);
        if (c < 0)
            return NULL;
        char req[4096];
        ssize_t n = recv(c, req, sizeof(req), 0);
        if (n <= 0) {
            close(c);
            continue;
        }
        __atomic_add_fetch(&requests, 1, __ATOMIC_SEQ_CST);
        req[n < (ssize_t)sizeof(req) ? n : (ssize_t)sizeof(req) - 1] = '\0';
        snprintf(last_request_line, sizeof(last_request_line), "%.*s", (int)strcspn(req, "\r\n"), req);
        int m = mode;
        size_t len = 0;
        unsigned char *body = NULL;
        const char *type = "application/ocsp-response";
        if (m == MODE_GOOD || m == MODE_SHORT || m == MODE_WRONG_TYPE) {
            tp_resp_opts o = tp_good_opts(&ca, &leaf, -1, m == MODE_SHORT ? short_validity : 3600);
            body = tp_response(&o, &len);
            if (m == MODE_WRONG_TYPE)
                type = "text/html";
        } else if (m == MODE_GARBAGE) {
            static const unsigned char garbage[] = "\x30\x12 not ocsp at all";
            len = sizeof(garbage) - 1;
            body = OPENSSL_malloc(len);
            memcpy(body, garbage, len);
        }
        char head[256];
        if (m == MODE_CLOSE) {
            close(c);
            continue;
        }
        if (m == MODE_500)
            snprintf(head, sizeof(head), "HTTP/1.0 500 Oops\r\nContent-Length: 0\r\n\r\n");
        else
            snprintf(head, sizeof(head), "HTTP/1.0 200 OK\r\nContent-Type: %s\r\nContent-Length: %zu\r\n\r\n",
                     type, len);
        send(c, head, strlen(head), MSG_NOSIGNAL);
        if (body)
            send(c, body, len, MSG_NOSIGNAL);
        OPENSSL_free(body);
        close(c);
    }
}

static char url[64];
static og_cert *cert;
static void *mem;
static og_table *table;
static og_target target;
static char logbuf[16384];
static pthread_mutex_t log_lock = PTHREAD_MUTEX_INITIALIZER;

static void test_log(void *baton, const char *file, int lineno, int level, const char *fmt, ...)
{
    va_list ap;
    char line[1024];
    (void)baton;
    (void)file;
    (void)lineno;
    va_start(ap, fmt);
    vsnprintf(line, sizeof(line), fmt, ap);
    va_end(ap);
    pthread_mutex_lock(&log_lock);
    size_t used = strlen(logbuf);
    snprintf(logbuf + used, sizeof(logbuf) - used, "%d %s\n", level, line);
    pthread_mutex_unlock(&log_lock);
}

static int log_count(const char *needle)
{
    int n = 0;
    pthread_mutex_lock(&log_lock);
    for (const char *p = logbuf; (p = strstr(p, needle)); p++)
        n++;
    pthread_mutex_unlock(&log_lock);
    return n;
}

static void setup(void)
{
    struct sockaddr_in sa = { 0 };
    socklen_t sl = sizeof(sa);
    char err[256];
    ca = tp_ca("Refresher CA");
    listen_fd = socket(AF_INET, SOCK_STREAM, 0);
    sa.sin_family = AF_INET;
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    ck_assert_int_eq(bind(listen_fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
    listen(listen_fd, 16);
    getsockname(listen_fd, (struct sockaddr *)&sa, &sl);
    port = ntohs(sa.sin_port);
    snprintf(url, sizeof(url), "http://127.0.0.1:%d/", port);
    leaf = tp_issue(&ca, "refresh.test", "leaf", url, 0x3001);
    char *pem = tp_pair_pem(&leaf, &ca);
    cert = og_cert_from_pem(pem, strlen(pem), NULL, err, sizeof(err));
    free(pem);
    ck_assert_ptr_nonnull(cert);
    mem = calloc(1, og_table_size(1));
    table = og_table_init(mem, og_table_size(1), 1, (const unsigned char (*)[OG_ID_LEN])cert->id);
    memset(&target, 0, sizeof(target));
    target.cert = cert;
    target.url = url;
    target.refresh_pct = 50;
    target.timeout = 2;
    target.max_skew = 300;
    target.slot = 0;
    mode = MODE_GOOD;
    requests = 0;
    logbuf[0] = '\0';
    pthread_create(&server_thread, NULL, serve, NULL);
}

static void teardown(void)
{
    shutdown(listen_fd, SHUT_RDWR);
    close(listen_fd);
    pthread_join(server_thread, NULL);
    og_cert_free(cert);
    free(mem);
    tp_free(&ca);
    tp_free(&leaf);
}

static volatile sig_atomic_t stop;
static og_refresher_cfg cfg;

static void *run_refresher(void *arg)
{
    (void)arg;
    og_refresher_run(&cfg);
    return NULL;
}

static pthread_t start_refresher(const og_cache_ops *cache)
{
    pthread_t t;
    memset(&cfg, 0, sizeof(cfg));
    cfg.targets = &target;
    cfg.ntargets = 1;
    cfg.table = table;
    cfg.concurrency = 2;
    cfg.cache = cache;
    cfg.log = test_log;
    cfg.stop = &stop;
    stop = 0;
    pthread_create(&t, NULL, run_refresher, NULL);
    return t;
}

static void stop_refresher(pthread_t t)
{
    stop = 1;
    pthread_join(t, NULL);
}

static int stapled(void)
{
    unsigned char buf[OG_SLOT_CAPACITY];
    size_t len;
    return og_table_staple(table, 0, time(NULL), buf, sizeof(buf), &len);
}

static int wait_for(int (*cond)(void), int seconds)
{
    for (int i = 0; i < seconds * 20; i++) {
        if (cond())
            return 1;
        usleep(50000);
    }
    return cond();
}

static int not_stapled(void) { return !stapled(); }
static int expiry_logged(void) { return log_count("response expired") >= 1; }

START_TEST(fetch_and_verify_outcomes)
{
    og_fetch_outcome o;
    og_fetch_and_verify(&target, time(NULL), &o);
    ck_assert_int_eq(o.verify, OG_VERIFY_OK);
    ck_assert_int_eq(o.info.status, OG_STATUS_GOOD);
    free(o.der);
    mode = MODE_500;
    og_fetch_and_verify(&target, time(NULL), &o);
    ck_assert(!o.fetched);
    mode = MODE_WRONG_TYPE;
    og_fetch_and_verify(&target, time(NULL), &o);
    ck_assert(!o.fetched);
    mode = MODE_CLOSE;
    og_fetch_and_verify(&target, time(NULL), &o);
    ck_assert(!o.fetched);
    mode = MODE_GARBAGE;         /* OpenSSL's client already refuses bodies that are not DER */
    og_fetch_and_verify(&target, time(NULL), &o);
    ck_assert_int_ne(o.verify, OG_VERIFY_OK);
    ck_assert_ptr_null(o.der);
    /* a dead responder: connection refused at once */
    og_target dead = target;
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
    ck_assert(og_request_der(cert, &req, &req_len));
    ck_assert(og_http_fetch_ocsp(url, req, req_len, NULL, 2, OG_MAX_RESPONSE, &resp, &resp_len, err, sizeof(err)));
    ck_assert_msg(!strncmp(last_request_line, "GET /", 5), "%s", last_request_line);
    free(resp);
    /* a request whose base64 would exceed 255 bytes goes by POST */
    unsigned char big[300];
    memset(big, 0x30, sizeof(big));
    ck_assert(og_http_fetch_ocsp(url, big, sizeof(big), NULL, 2, OG_MAX_RESPONSE, &resp, &resp_len, err, sizeof(err)));
    ck_assert_msg(!strncmp(last_request_line, "POST /", 6), "%s", last_request_line);
    free(resp);
    /* a response larger than allowed is refused */
    ck_assert(!og_http_fetch_ocsp(url, req, req_len, NULL, 2, 100, &resp, &resp_len, err, sizeof(err)));
    OPENSSL_free(req);
}
END_TEST

START_TEST(first_fill_then_outage_keeps_staple_until_expiry)
{
    mode = MODE_SHORT;          /* valid for a few seconds */
    pthread_t t = start_refresher(NULL);
    ck_assert_msg(wait_for(stapled, 5), "no staple after start:\n%s", logbuf);
    mode = MODE_500;             /* the responder breaks */
    /* the staple stays while valid, then goes: never an expired one */
    ck_assert(stapled());
    ck_assert_msg(wait_for(not_stapled, 10), "expired staple still served:\n%s", logbuf);
    ck_assert_msg(wait_for(expiry_logged, 3), "expiry not logged:\n%s", logbuf);
    stop_refresher(t);
    /* the failure is logged once per state change, not per try */
    ck_assert_int_le(log_count("refresh from"), 2);
}
END_TEST

START_TEST(garbage_never_replaces_good)
{
    pthread_t t = start_refresher(NULL);
    ck_assert(wait_for(stapled, 5));
    unsigned char before[OG_SLOT_CAPACITY], after[OG_SLOT_CAPACITY];
    size_t blen, alen;
    og_table_staple(table, 0, time(NULL), before, sizeof(before), &blen);
    mode = MODE_GARBAGE;
    stop_refresher(t);
    og_fetch_outcome o;
    og_fetch_and_verify(&target, time(NULL), &o);
    ck_assert_int_ne(o.verify, OG_VERIFY_OK);
    ck_assert(og_table_staple(table, 0, time(NULL), after, sizeof(after), &alen));
    ck_assert_uint_eq(alen, blen);
    ck_assert_mem_eq(after, before, blen);
}
END_TEST

/* a cache of one entry, for the load and store paths */
static unsigned char cached[OG_SLOT_CAPACITY];
static size_t cached_len;
static int stores;

static int mem_load(void *b, const unsigned char *id, unsigned char *buf, size_t cap, size_t *len)
{
    (void)b; (void)id;
    if (!cached_len || cached_len > cap)
        return 0;
    memcpy(buf, cached, cached_len);
    *len = cached_len;
    return 1;
}

static int mem_store(void *b, const unsigned char *id, const unsigned char *der, size_t len, time_t exp)
{
    (void)b; (void)id; (void)exp;
    memcpy(cached, der, len);
    cached_len = len;
    stores++;
    return 1;
}

START_TEST(startup_loads_cache_without_fetching)
{
    tp_resp_opts o = tp_good_opts(&ca, &leaf, -10, 3600);
    unsigned char *der = tp_response(&o, &cached_len);
    memcpy(cached, der, cached_len);
    OPENSSL_free(der);
    og_cache_ops ops = { NULL, mem_load, NULL, mem_store };
    mode = MODE_CLOSE;
    pthread_t t = start_refresher(&ops);
    ck_assert(wait_for(stapled, 2));
    usleep(300000);
    stop_refresher(t);
    ck_assert_int_eq(requests, 0);
    ck_assert_int_ge(log_count("loaded from the cache"), 1);
}
END_TEST

START_TEST(poisoned_cache_is_not_stapled)
{
    memset(cached, 0x30, 300);
    cached_len = 300;
    og_cache_ops ops = { NULL, mem_load, NULL, mem_store };
    mode = MODE_CLOSE;
    pthread_t t = start_refresher(&ops);
    usleep(500000);
    ck_assert(!stapled());
    stop_refresher(t);
    /* a fetch that works afterwards is stored */
    mode = MODE_GOOD;
    stores = 0;
    t = start_refresher(&ops);
    ck_assert(wait_for(stapled, 5));
    stop_refresher(t);
    ck_assert_int_ge(stores, 1);
}
END_TEST

START_TEST(adopt_only_newer_verified)
{
    og_resp_info info;
    tp_resp_opts o = tp_good_opts(&ca, &leaf, -100, 3600);
    size_t len_old, len_new;
    unsigned char *older = tp_response(&o, &len_old);
    o.this_offset = -10;
    unsigned char *newer = tp_response(&o, &len_new);
    time_t now = time(NULL);
    ck_assert(og_adopt_response(table, &target, newer, len_new, now, OG_SOURCE_CACHE, &info));
    ck_assert(!og_adopt_response(table, &target, older, len_old, now, OG_SOURCE_CACHE, &info));
    ck_assert(!og_adopt_response(table, &target, newer, len_new, now, OG_SOURCE_CACHE, &info));
    unsigned char junk[64];
    memset(junk, 0x30, sizeof(junk));
    ck_assert(!og_adopt_response(table, &target, junk, sizeof(junk), now, OG_SOURCE_CACHE, &info));
    OPENSSL_free(older);
    OPENSSL_free(newer);
}
END_TEST

Suite *refresher_suite(void)
{
    Suite *s = suite_create("refresher");
    TCase *tc = tcase_create("loop");
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, fetch_and_verify_outcomes);
    tcase_add_test(tc, http_get_for_small_post_for_large_requests);
    tcase_add_test(tc, first_fill_then_outage_keeps_staple_until_expiry);
    tcase_add_test(tc, garbage_never_replaces_good);
    tcase_add_test(tc, startup_loads_cache_without_fetching);
    tcase_add_test(tc, poisoned_cache_is_not_stapled);
    tcase_add_test(tc, adopt_only_newer_verified);
    suite_add_tcase(s, tc);
    return s;
}
