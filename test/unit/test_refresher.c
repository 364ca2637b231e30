/* The refresher against a small in-process HTTP responder of the test's
 * own: first fill, failures keep the last good response, expiry clears it,
 * garbage and wrong content types are refused, adoption rules, no rollback
 * to an older response, one writer per slot and no cache I/O under the
 * refresher's lock. */
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
enum { MODE_GOOD, MODE_SHORT, MODE_500, MODE_GARBAGE, MODE_WRONG_TYPE, MODE_CLOSE,
       MODE_REVOKED, MODE_FIXED };
static volatile int mode;
static volatile int then_mode = -1;    /* after one MODE_REVOKED answer, switch to this */
static volatile int requests;
static volatile int fixed_served;
static char last_request_line[128];
static int listen_fd;
static int port;
static pthread_t server_thread;
static tp_cert ca, leaf, leaf_b;       /* leaf_b: requests to the "/b/" path */
static long short_validity = 4;
static long revoked_validity = 3;
static unsigned char fixed_body[OG_SLOT_CAPACITY];  /* MODE_FIXED: a replay */
static size_t fixed_len;

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
        const tp_cert *subject = strstr(req, " /b/") ? &leaf_b : &leaf;
        if (m == MODE_GOOD || m == MODE_SHORT || m == MODE_WRONG_TYPE) {
            tp_resp_opts o = tp_good_opts(&ca, subject, -1, m == MODE_SHORT ? short_validity : 3600);
            body = tp_response(&o, &len);
            if (m == MODE_WRONG_TYPE)
                type = "text/html";
        } else if (m == MODE_REVOKED) {
            tp_resp_opts o = tp_good_opts(&ca, subject, -10, revoked_validity);
            o.status = V_OCSP_CERTSTATUS_REVOKED;
            body = tp_response(&o, &len);
            if (then_mode >= 0)
                mode = then_mode;
        } else if (m == MODE_FIXED) {
            len = fixed_len;
            body = OPENSSL_malloc(len);
            memcpy(body, fixed_body, len);
            __atomic_add_fetch(&fixed_served, 1, __ATOMIC_SEQ_CST);
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

static char url[64], url_b[64];
static og_cert *cert, *cert_b;
static void *mem;
static og_table *table;                /* slot 0: cert, slot 1: cert_b */
static og_target target, target_b;
static char logbuf[65536];
static pthread_mutex_t log_lock = PTHREAD_MUTEX_INITIALIZER;
static void (*log_hook)(const char *line);   /* called with each line, outside log_lock */
static int (*shared_state_hook)(void *baton);  /* cfg.shared_state of the next start */

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
    if (log_hook)
        log_hook(line);
}

/* The end of the log, for failure messages (Check caps their size). */
static const char *log_tail(void)
{
    size_t n = strlen(logbuf);
    return n > 3000 ? logbuf + n - 3000 : logbuf;
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
    snprintf(url_b, sizeof(url_b), "http://127.0.0.1:%d/b/", port);
    leaf = tp_issue(&ca, "refresh.test", "leaf", url, 0x3001);
    leaf_b = tp_issue(&ca, "refresh-b.test", "leaf", url_b, 0x3002);
    char *pem = tp_pair_pem(&leaf, &ca);
    cert = og_cert_from_pem(pem, strlen(pem), NULL, err, sizeof(err));
    free(pem);
    ck_assert_ptr_nonnull(cert);
    pem = tp_pair_pem(&leaf_b, &ca);
    cert_b = og_cert_from_pem(pem, strlen(pem), NULL, err, sizeof(err));
    free(pem);
    ck_assert_ptr_nonnull(cert_b);
    unsigned char ids[2][OG_ID_LEN];
    memcpy(ids[0], cert->id, OG_ID_LEN);
    memcpy(ids[1], cert_b->id, OG_ID_LEN);
    mem = calloc(1, og_table_size(2));
    table = og_table_init(mem, og_table_size(2), 2, (const unsigned char (*)[OG_ID_LEN])ids);
    ck_assert_ptr_nonnull(table);
    memset(&target, 0, sizeof(target));
    target.cert = cert;
    target.url = url;
    target.refresh_pct = 50;
    target.timeout = 2;
    target.max_skew = 300;
    target.slot = 0;
    target_b = target;
    target_b.cert = cert_b;
    target_b.url = url_b;
    target_b.slot = 1;
    mode = MODE_GOOD;
    then_mode = -1;
    short_validity = 4;
    revoked_validity = 3;
    requests = 0;
    fixed_served = 0;
    log_hook = NULL;
    shared_state_hook = NULL;
    logbuf[0] = '\0';
    pthread_create(&server_thread, NULL, serve, NULL);
}

static void teardown(void)
{
    shutdown(listen_fd, SHUT_RDWR);
    close(listen_fd);
    pthread_join(server_thread, NULL);
    og_cert_free(cert);
    og_cert_free(cert_b);
    free(mem);
    tp_free(&ca);
    tp_free(&leaf);
    tp_free(&leaf_b);
}

static volatile sig_atomic_t stop;
static og_refresher_cfg cfg;
static og_target both[2];

static void *run_refresher(void *arg)
{
    (void)arg;
    og_refresher_run(&cfg);
    return NULL;
}

static pthread_t start_refresher_for(const og_cache_ops *cache, og_target *targets, unsigned n)
{
    pthread_t t;
    memset(&cfg, 0, sizeof(cfg));
    cfg.targets = targets;
    cfg.ntargets = n;
    cfg.table = table;
    cfg.concurrency = 2;
    cfg.cache = cache;
    cfg.log = test_log;
    cfg.stop = &stop;
    cfg.shared_state = shared_state_hook;
    stop = 0;
    pthread_create(&t, NULL, run_refresher, NULL);
    return t;
}

static pthread_t start_refresher(const og_cache_ops *cache)
{
    return start_refresher_for(cache, &target, 1);
}

/* The refresher for target and target_b at once. */
static pthread_t start_refresher_both(const og_cache_ops *cache)
{
    both[0] = target;
    both[1] = target_b;
    return start_refresher_for(cache, both, 2);
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
    ck_assert_msg(wait_for(stapled, 5), "no staple after start:\n%s", log_tail());
    mode = MODE_500;             /* the responder breaks */
    /* the staple stays while valid, then goes: never an expired one */
    ck_assert(stapled());
    ck_assert_msg(wait_for(not_stapled, 10), "expired staple still served:\n%s", log_tail());
    ck_assert_msg(wait_for(expiry_logged, 3), "expiry not logged:\n%s", log_tail());
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
static time_t stored_expiry;

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
    (void)b; (void)id;
    memcpy(cached, der, len);
    cached_len = len;
    stored_expiry = exp;
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

/* ---- shared helpers for the tests below ---- */
static pthread_mutex_t gate_lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t gate_cond = PTHREAD_COND_INITIALIZER;
static int gate_opened;

static void gate_open(void)
{
    pthread_mutex_lock(&gate_lock);
    gate_opened = 1;
    pthread_cond_broadcast(&gate_cond);
    pthread_mutex_unlock(&gate_lock);
}

static int gate_is_open(void)
{
    pthread_mutex_lock(&gate_lock);
    int open = gate_opened;
    pthread_mutex_unlock(&gate_lock);
    return open;
}

/* Blocks until the test opens the gate, at most seconds. */
static int gate_wait(int seconds)
{
    struct timespec until;
    clock_gettime(CLOCK_REALTIME, &until);
    until.tv_sec += seconds;
    pthread_mutex_lock(&gate_lock);
    while (!gate_opened && pthread_cond_timedwait(&gate_cond, &gate_lock, &until) == 0)
        ;
    int open = gate_opened;
    pthread_mutex_unlock(&gate_lock);
    return open;
}

/* A line of the log holding both strings. */
static int log_line_has(const char *a, const char *b)
{
    int found = 0;
    pthread_mutex_lock(&log_lock);
    for (const char *p = logbuf; *p && !found;) {
        const char *e = strchr(p, '\n');
        size_t n = e ? (size_t)(e - p) : strlen(p);
        char line[1024];
        snprintf(line, sizeof(line), "%.*s", (int)n, p);
        found = strstr(line, a) && strstr(line, b);
        p += n + (e ? 1 : 0);
    }
    pthread_mutex_unlock(&log_lock);
    return found;
}

/* DER of a response about subject, signed by the CA; *info from verifying it
 * for c at now (EXPIRED ones too). */
static size_t make_response(const tp_cert *subject, og_cert *c, int status, long this_offset,
                            long next_offset, unsigned char *out, og_resp_info *info)
{
    char why[256];
    size_t len;
    tp_resp_opts o = tp_good_opts(&ca, subject, this_offset, next_offset);
    o.status = status;
    unsigned char *der = tp_response(&o, &len);
    ck_assert(len > 0 && len <= OG_SLOT_CAPACITY);
    memcpy(out, der, len);
    OPENSSL_free(der);
    if (info)
        og_verify_response(c, out, len, time(NULL), 300, info, why, sizeof(why));
    return len;
}

static int slot_meta(unsigned slot, og_slot_meta *m)
{
    size_t len = 0;
    return og_table_read(table, slot, NULL, 0, &len, m) && len > 0 &&
           og_meta_stapled(m, time(NULL));
}

static int revoked_stapled(void)
{
    og_slot_meta m;
    return slot_meta(0, &m) && m.status == OG_STATUS_REVOKED;
}

static int good_stapled(void)
{
    og_slot_meta m;
    return slot_meta(0, &m) && m.status == OG_STATUS_GOOD;
}

static int miss_load(void *b, const unsigned char *id, unsigned char *buf, size_t cap, size_t *len)
{
    (void)b; (void)id; (void)buf; (void)cap; (void)len;
    return 0;
}

static int ok_store(void *b, const unsigned char *id, const unsigned char *der, size_t len, time_t exp)
{
    (void)b; (void)id; (void)der; (void)len; (void)exp;
    return 1;
}

/* ---- defect 3: one writer per slot, no I/O under the lock ---- */

/* Certificate A's and B's responses expire together while B's worker
 * adopts a fresh one from the shared tier. The test's log callback holds
 * the expiry pass right after A's expiry line until B's fresh response is
 * in its slot (the old code published it without the lock the expiry pass
 * holds, then the pass went on to B and wiped it while the scheduler
 * waited half an hour). Whatever the order, B must keep the fresh one. */
static unsigned char a_short[OG_SLOT_CAPACITY], b_short[OG_SLOT_CAPACITY], b_fresh[OG_SLOT_CAPACITY];
static size_t a_short_len, b_short_len, b_fresh_len;
static og_resp_info b_fresh_info;

static int b_fresh_in_slot(void)
{
    og_slot_meta m;
    return slot_meta(1, &m) && m.this_update == b_fresh_info.this_update &&
           m.next_update == b_fresh_info.next_update;
}

static int t1_load(void *b, const unsigned char *id, unsigned char *buf, size_t cap, size_t *len)
{
    int is_a = !memcmp(id, cert->id, OG_ID_LEN);
    (void)b; (void)cap;
    *len = is_a ? a_short_len : b_short_len;
    memcpy(buf, is_a ? a_short : b_short, *len);
    return 1;
}

static int t1_load_shared(void *b, const unsigned char *id, unsigned char *buf, size_t cap, size_t *len)
{
    (void)b; (void)cap;
    if (memcmp(id, cert_b->id, OG_ID_LEN) || !gate_wait(20))
        return 0;
    memcpy(buf, b_fresh, b_fresh_len);
    *len = b_fresh_len;
    return 1;
}

static void t1_hook(const char *line)
{
    if (strstr(line, "expired") && strstr(line, cert->name) && !gate_is_open()) {
        gate_open();
        wait_for(b_fresh_in_slot, 2);
    }
}

START_TEST(expiry_never_wipes_a_response_being_adopted)
{
    a_short_len = make_response(&leaf, cert, V_OCSP_CERTSTATUS_GOOD, -10, 3, a_short, NULL);
    b_short_len = make_response(&leaf_b, cert_b, V_OCSP_CERTSTATUS_GOOD, -10, 3, b_short, NULL);
    b_fresh_len = make_response(&leaf_b, cert_b, V_OCSP_CERTSTATUS_GOOD, -5, 3600, b_fresh, &b_fresh_info);
    og_cache_ops ops = { NULL, t1_load, t1_load_shared, ok_store };
    mode = MODE_CLOSE;           /* the responder is down: only the cache helps */
    gate_opened = 0;
    log_hook = t1_hook;
    pthread_t t = start_refresher_both(&ops);
    ck_assert_msg(wait_for(gate_is_open, 10), "A's expiry was not logged:\n%s", log_tail());
    ck_assert_msg(wait_for(b_fresh_in_slot, 3), "B's fresh response is not stapled:\n%s", log_tail());
    usleep(1500000);             /* another expiry pass */
    ck_assert_msg(b_fresh_in_slot(), "B's fresh response was wiped:\n%s", log_tail());
    stop_refresher(t);
    log_hook = NULL;
}
END_TEST

/* A's cache store hangs (a disk or Redis that does not answer): B is still
 * fetched and published, and the expiry loop still runs. The old code held
 * the refresher's lock across the store. */
static volatile int a_store_hanging;

static int a_store_is_hanging(void) { return a_store_hanging; }

static int t2_load(void *b, const unsigned char *id, unsigned char *buf, size_t cap, size_t *len)
{
    (void)b; (void)buf; (void)cap; (void)len;
    /* B goes to the responder only once A's store hangs */
    if (!memcmp(id, cert_b->id, OG_ID_LEN))
        wait_for(a_store_is_hanging, 5);
    return 0;
}

static int t2_store(void *b, const unsigned char *id, const unsigned char *der, size_t len, time_t exp)
{
    (void)b; (void)der; (void)len; (void)exp;
    if (!memcmp(id, cert->id, OG_ID_LEN) && !gate_is_open()) {
        a_store_hanging = 1;
        gate_wait(15);
        a_store_hanging = 0;
    }
    return 1;
}

static int b_stapled(void)
{
    og_slot_meta m;
    return slot_meta(1, &m);
}

static int b_expiry_logged(void)
{
    return log_line_has(cert_b->name, "last verified response expired");
}

START_TEST(slow_cache_store_blocks_no_other_publish_nor_expiry)
{
    og_cache_ops ops = { NULL, t2_load, NULL, t2_store };
    mode = MODE_SHORT;
    short_validity = 2;
    gate_opened = 0;
    a_store_hanging = 0;
    pthread_t t = start_refresher_both(&ops);
    ck_assert_msg(wait_for(a_store_is_hanging, 5), "A was not stored:\n%s", log_tail());
    ck_assert_msg(wait_for(b_stapled, 3), "B was not published while A's store hung:\n%s", log_tail());
    mode = MODE_500;
    ck_assert_msg(wait_for(b_expiry_logged, 8), "no expiry pass while A's store hung:\n%s", log_tail());
    ck_assert(a_store_hanging);  /* all along */
    gate_open();
    stop_refresher(t);
}
END_TEST

/* ---- start-up: the local tier, then the shared tier, then store ---- */
static unsigned char shared_resp[OG_SLOT_CAPACITY];
static size_t shared_len;
static int local_loads, shared_loads;

static int junk_load(void *b, const unsigned char *id, unsigned char *buf, size_t cap, size_t *len)
{
    (void)b; (void)id; (void)cap;
    local_loads++;
    memset(buf, 0x30, 100);      /* a local record that does not verify */
    *len = 100;
    return 1;
}

static int shared_load(void *b, const unsigned char *id, unsigned char *buf, size_t cap, size_t *len)
{
    (void)b; (void)id; (void)cap;
    shared_loads++;
    memcpy(buf, shared_resp, shared_len);
    *len = shared_len;
    return 1;
}

START_TEST(startup_tries_local_then_shared_and_stores_locally)
{
    shared_len = make_response(&leaf, cert, V_OCSP_CERTSTATUS_GOOD, -10, 3600, shared_resp, NULL);
    og_cache_ops ops = { NULL, junk_load, shared_load, mem_store };
    local_loads = shared_loads = stores = 0;
    cached_len = 0;
    mode = MODE_CLOSE;
    pthread_t t = start_refresher(&ops);
    ck_assert_msg(wait_for(stapled, 3), "nothing stapled:\n%s", log_tail());
    usleep(300000);
    stop_refresher(t);
    ck_assert_int_eq(requests, 0);
    ck_assert_int_ge(local_loads, 1);
    ck_assert_int_ge(shared_loads, 1);
    ck_assert_int_ge(log_count("good response loaded from the cache"), 1);
    og_slot_status st;
    ck_assert(og_table_status_read(table, 0, &st));
    ck_assert_uint_eq(st.last.source, OG_SOURCE_PEER);
    /* what came from the shared tier went to the store (the local tier) */
    ck_assert_int_eq(stores, 1);
    ck_assert_uint_eq(cached_len, shared_len);
    ck_assert_mem_eq(cached, shared_resp, shared_len);
}
END_TEST

/* ---- the status views' state ---- */

static int shared_up(void *baton)
{
    (void)baton;
    return OG_SHARED_UP;
}

static int fetch_noted(void)
{
    og_slot_status st;
    return og_table_status_read(table, 0, &st) && st.last_fetch > 0;
}

START_TEST(status_follows_a_good_fetch)
{
    og_cache_ops ops = { NULL, mem_load, NULL, mem_store };
    og_slot_status st;
    og_table_stats ts;
    uint64_t in_buckets = 0;
    time_t start = time(NULL);
    cached_len = 0;
    shared_state_hook = shared_up;
    pthread_t t = start_refresher(&ops);
    ck_assert_msg(wait_for(stapled, 5), "no staple:\n%s", log_tail());
    ck_assert(wait_for(fetch_noted, 2));
    usleep(1500000);             /* a turn of the main loop asks the shared tier */
    stop_refresher(t);
    ck_assert(og_table_status_read(table, 0, &st));
    ck_assert_int_eq(st.last.status, OG_STATUS_GOOD);
    ck_assert_uint_eq(st.last.source, OG_SOURCE_RESPONDER);
    ck_assert_int_eq(st.last_result, OG_FETCH_OK);
    ck_assert_uint_eq(st.failures, 0);
    ck_assert_int_eq(st.failing_since, 0);
    ck_assert_int_ge(st.last_fetch, start);
    ck_assert_int_gt(st.next_refresh, start);
    ck_assert_int_lt(st.next_refresh, st.last.next_update);
    ck_assert(st.skew_known);
    ck_assert_int_le(labs(st.skew), 5);   /* the test responder produces it now */
    ck_assert_str_eq(st.last_error, "");
    og_table_stats_read(table, &ts);
    ck_assert_uint_eq(ts.fetches[OG_FETCH_OK], 1);
    for (unsigned k = 0; k <= OG_FETCH_BUCKETS; k++)
        in_buckets += ts.fetch_buckets[k];
    ck_assert_uint_eq(in_buckets, 1);
    ck_assert_int_eq(ts.shared_cache, OG_SHARED_UP);
}
END_TEST

START_TEST(status_follows_a_failing_responder)
{
    og_slot_status st;
    og_table_stats ts;
    time_t start = time(NULL);
    mode = MODE_500;
    pthread_t t = start_refresher(NULL);
    ck_assert(wait_for(fetch_noted, 5));
    stop_refresher(t);
    ck_assert(og_table_status_read(table, 0, &st));
    ck_assert_int_eq(st.last.status, OG_STATUS_NONE);
    ck_assert_int_eq(st.last_result, OG_FETCH_ERROR);
    ck_assert_uint_eq(st.failures, 1);
    ck_assert_int_ge(st.failing_since, start);
    ck_assert_int_ge(st.last_error_at, start);
    ck_assert_msg(strstr(st.last_error, "cannot reach the OCSP responder") && strstr(st.last_error, "500"),
                  "last error: %s", st.last_error);
    ck_assert_int_ge(st.next_refresh, start + 20);   /* the retry backs off from 30 s */
    ck_assert(!st.skew_known);
    og_table_stats_read(table, &ts);
    ck_assert_uint_eq(ts.fetches[OG_FETCH_ERROR], 1);
    ck_assert_int_eq(ts.shared_cache, OG_SHARED_NONE);
}
END_TEST

/* ---- defect 4: no rollback ---- */

/* The responder answers with a revocation, then (a man in the middle)
 * replays an older, still valid good response: the revocation stays, also
 * after it expires; the revocation is stored to outlive its nextUpdate. */
START_TEST(fetched_older_good_never_replaces_a_revocation)
{
    og_slot_meta m;
    fixed_len = make_response(&leaf, cert, V_OCSP_CERTSTATUS_GOOD, -600, 3600, fixed_body, NULL);
    og_cache_ops ops = { NULL, mem_load, NULL, mem_store };
    cached_len = 0;
    stores = 0;
    revoked_validity = 3;
    mode = MODE_REVOKED;
    pthread_t t = start_refresher(&ops);
    ck_assert_msg(wait_for(revoked_stapled, 3), "no revocation stapled:\n%s", log_tail());
    mode = MODE_FIXED;           /* from now on a man in the middle answers */
    ck_assert(slot_meta(0, &m));
    int good = 0;
    for (int i = 0; i < 120 && time(NULL) <= m.next_update; i++) {  /* through its expiry */
        good |= good_stapled();
        usleep(50000);
    }
    usleep(300000);
    good |= good_stapled();
    stop_refresher(t);
    ck_assert_msg(!good, "the replayed older good response was stapled:\n%s", log_tail());
    ck_assert_int_ge(fixed_served, 2);
    ck_assert(time(NULL) > m.next_update);
    ck_assert_int_ge(log_count("refused a response older than one already seen"), 1);
    ck_assert_int_ge(stores, 1);    /* revocations only: the replay is not stored */
    ck_assert_int_ge(stored_expiry, m.next_update + OG_REVOKED_KEEP - 5);
}
END_TEST

/* The same replay from the shared tier, offered once the revocation has
 * expired and its slot may have been cleared. */
static time_t last_shared_load;

static int replay_shared_load(void *b, const unsigned char *id, unsigned char *buf, size_t cap,
                              size_t *len)
{
    (void)b; (void)id; (void)cap;
    if (!requests)               /* offered once the revocation was fetched */
        return 0;
    last_shared_load = time(NULL);
    memcpy(buf, shared_resp, shared_len);
    *len = shared_len;
    return 1;
}

START_TEST(shared_older_good_never_replaces_an_expired_revocation)
{
    og_slot_meta m;
    shared_len = make_response(&leaf, cert, V_OCSP_CERTSTATUS_GOOD, -600, 3600, shared_resp, NULL);
    og_cache_ops ops = { NULL, miss_load, replay_shared_load, ok_store };
    last_shared_load = 0;
    revoked_validity = 3;
    mode = MODE_REVOKED;
    then_mode = MODE_CLOSE;
    pthread_t t = start_refresher(&ops);
    ck_assert_msg(wait_for(revoked_stapled, 3), "no revocation stapled:\n%s", log_tail());
    ck_assert(slot_meta(0, &m));
    int good = 0;
    for (int i = 0; i < 140 && last_shared_load < m.next_update; i++) {
        good |= good_stapled();
        usleep(50000);
    }
    usleep(300000);
    good |= good_stapled();
    stop_refresher(t);
    ck_assert_msg(last_shared_load >= m.next_update, "the shared tier was not asked once expired (%lld, %lld):\n%s", (long long)last_shared_load, (long long)m.next_update, log_tail());
    ck_assert_msg(!good, "the older good response from the shared tier was stapled:\n%s", log_tail());
}
END_TEST

/* A restart: the cache holds the revocation, expired by now (it is stored
 * past its nextUpdate); the responder's path replays an older good
 * response, still valid. It is never stapled. */
START_TEST(expired_cached_revocation_is_a_floor_after_restart)
{
    cached_len = make_response(&leaf, cert, V_OCSP_CERTSTATUS_REVOKED, -7200, -3600, cached, NULL);
    fixed_len = make_response(&leaf, cert, V_OCSP_CERTSTATUS_GOOD, -7300, 3600, fixed_body, NULL);
    og_cache_ops ops = { NULL, mem_load, NULL, mem_store };
    mode = MODE_FIXED;
    pthread_t t = start_refresher(&ops);
    for (int i = 0; i < 60 && !fixed_served; i++)
        usleep(50000);
    usleep(300000);
    int good = stapled();
    stop_refresher(t);
    ck_assert_int_ge(fixed_served, 1);
    ck_assert_msg(!good, "an older good response was stapled after a revocation:\n%s", log_tail());
    ck_assert_int_ge(log_count("the cache holds an expired revocation"), 1);
}
END_TEST

/* The adopt path: a revocation in the slot is not replaced by an older good
 * response, nor by a good one of the same instant; a newer one may. */
START_TEST(adopt_never_rolls_back_a_revocation)
{
    unsigned char rev[OG_SLOT_CAPACITY], older[OG_SLOT_CAPACITY], same[OG_SLOT_CAPACITY],
        newer[OG_SLOT_CAPACITY];
    og_resp_info info;
    time_t now = time(NULL);
    size_t rl = make_response(&leaf, cert, V_OCSP_CERTSTATUS_REVOKED, -10, 3600, rev, NULL);
    size_t ol = make_response(&leaf, cert, V_OCSP_CERTSTATUS_GOOD, -100, 3600, older, NULL);
    size_t sl = make_response(&leaf, cert, V_OCSP_CERTSTATUS_GOOD, -10, 3600, same, NULL);
    size_t nl = make_response(&leaf, cert, V_OCSP_CERTSTATUS_GOOD, -5, 3600, newer, NULL);
    ck_assert(og_adopt_response(table, &target, rev, rl, now, OG_SOURCE_CACHE, &info));
    ck_assert(!og_adopt_response(table, &target, older, ol, now, OG_SOURCE_CACHE, &info));
    ck_assert(!og_adopt_response(table, &target, same, sl, now, OG_SOURCE_CACHE, &info));
    ck_assert(!og_adopt_response(table, &target, rev, rl, now, OG_SOURCE_CACHE, &info));
    ck_assert(revoked_stapled());
    ck_assert(og_adopt_response(table, &target, newer, nl, now, OG_SOURCE_CACHE, &info));
    ck_assert(good_stapled());
}
END_TEST

/* The rule itself, and the cache expiry that keeps revocations. */
START_TEST(replace_rule)
{
    og_resp_known k = { 0 }, f = { 0 };
    og_resp_info good = { OG_STATUS_GOOD, 1000, 2000, 1, 1001, 0 }, c;
    ck_assert_int_eq(og_response_may_replace(&k, &good), OG_REPLACE_NEWER);
    og_resp_known_accept(&k, &good);
    ck_assert_int_eq(og_response_may_replace(&k, &good), OG_REPLACE_SAME);
    c = good; c.this_update = 999;
    ck_assert_int_eq(og_response_may_replace(&k, &c), OG_REPLACE_OLDER);
    c.this_update = 1001;
    ck_assert_int_eq(og_response_may_replace(&k, &c), OG_REPLACE_NEWER);
    c = good; c.produced_at = 1000;      /* same thisUpdate: producedAt decides */
    ck_assert_int_eq(og_response_may_replace(&k, &c), OG_REPLACE_OLDER);
    c.produced_at = 1002;
    ck_assert_int_eq(og_response_may_replace(&k, &c), OG_REPLACE_NEWER);
    c = good; c.status = OG_STATUS_REVOKED;  /* same instant: the revocation wins */
    ck_assert_int_eq(og_response_may_replace(&k, &c), OG_REPLACE_NEWER);
    og_resp_known_accept(&k, &c);
    ck_assert_int_eq(og_response_may_replace(&k, &good), OG_REPLACE_OLDER);
    ck_assert_int_eq(og_response_may_replace(&k, &c), OG_REPLACE_SAME);
    c = good; c.this_update = 999;
    ck_assert_int_eq(og_response_may_replace(&k, &c), OG_REPLACE_OLDER);
    c.this_update = 1001;                /* a later good answer may follow a revocation */
    ck_assert_int_eq(og_response_may_replace(&k, &c), OG_REPLACE_NEWER);
    /* after a restart only the floor is known (an expired revocation in the cache) */
    og_resp_known_revoked(&f, 5000);
    og_resp_known_revoked(&f, 4000);     /* an older one does not lower it */
    c = good; c.this_update = 4999;
    ck_assert_int_eq(og_response_may_replace(&f, &c), OG_REPLACE_OLDER);
    c.this_update = 5000;
    ck_assert_int_eq(og_response_may_replace(&f, &c), OG_REPLACE_OLDER);
    c.status = OG_STATUS_REVOKED;
    ck_assert_int_eq(og_response_may_replace(&f, &c), OG_REPLACE_NEWER);
    c.status = OG_STATUS_GOOD; c.this_update = 5001;
    ck_assert_int_eq(og_response_may_replace(&f, &c), OG_REPLACE_NEWER);
    /* cache expiry */
    ck_assert_int_eq(og_cache_expiry(&good, 1500), 2000);
    c = good; c.status = OG_STATUS_REVOKED;
    ck_assert_int_eq(og_cache_expiry(&c, 1500), 2000 + OG_REVOKED_KEEP);
    ck_assert_int_eq(og_cache_expiry(&c, 3000), 3000 + OG_REVOKED_KEEP);
    c.next_update = INT64_MAX;
    ck_assert_int_eq(og_cache_expiry(&c, 3000), INT64_MAX);
}
END_TEST

/* ---- defect 9: a slot left mid-write by a dead refresher ---- */
START_TEST(startup_repairs_a_slot_left_mid_write)
{
    unsigned char der[OG_SLOT_CAPACITY];
    og_resp_info info;
    size_t len = make_response(&leaf, cert, V_OCSP_CERTSTATUS_GOOD, -10, 3600, der, &info);
    og_slot_meta m = { info.status, info.this_update, info.next_update, info.produced_at,
                       info.this_update, OG_SOURCE_RESPONDER };
    ck_assert(og_table_publish_begin(table, 0, der, len, &m));   /* and died */
    mode = MODE_CLOSE;
    pthread_t t = start_refresher(NULL);
    usleep(300000);
    stop_refresher(t);
    ck_assert_msg(stapled(), "the response being written was lost:\n%s", log_tail());
    ck_assert_int_eq(requests, 0);
    ck_assert_int_ge(log_count("left mid-write"), 1);
}
END_TEST

/* A response valid for 50 years is stapled, reported once as suspicious,
 * and scheduled as if valid for a week. */
START_TEST(suspicious_validity_is_logged_once)
{
    mode = MODE_FIXED;
    fixed_len = make_response(&leaf, cert, V_OCSP_CERTSTATUS_GOOD, -60, 50L * 365 * 86400, fixed_body, NULL);
    pthread_t t = start_refresher(NULL);
    ck_assert(wait_for(stapled, 3));
    usleep(300000);
    stop_refresher(t);
    ck_assert_int_eq(log_count("suspicious response"), 1);
    ck_assert(log_line_has(cert->name, "as if it were valid for 7 days"));
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
    tcase_add_test(tc, expiry_never_wipes_a_response_being_adopted);
    tcase_add_test(tc, slow_cache_store_blocks_no_other_publish_nor_expiry);
    tcase_add_test(tc, startup_tries_local_then_shared_and_stores_locally);
    tcase_add_test(tc, fetched_older_good_never_replaces_a_revocation);
    tcase_add_test(tc, shared_older_good_never_replaces_an_expired_revocation);
    tcase_add_test(tc, expired_cached_revocation_is_a_floor_after_restart);
    tcase_add_test(tc, adopt_never_rolls_back_a_revocation);
    tcase_add_test(tc, replace_rule);
    tcase_add_test(tc, startup_repairs_a_slot_left_mid_write);
    tcase_add_test(tc, suspicious_validity_is_logged_once);
    tcase_add_test(tc, status_follows_a_good_fetch);
    tcase_add_test(tc, status_follows_a_failing_responder);
    suite_add_tcase(s, tc);
    return s;
}
