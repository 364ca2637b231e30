/* Copyright 2026 the mod_ocsp_guard developers. Licensed under the Apache License 2.0 (LICENSE). */
/* The refresher in simulated time (simclock.h), against a responder of the
 * test's own put in place of og_http (the HTTP path is test_http.c's): first
 * fill, failures keep the last good response, expiry clears it, garbage is
 * refused, adoption rules, no rollback to an older response, one writer per
 * slot and no cache I/O under the refresher's lock, one breaker per
 * responder, the rate per responder. Nothing here waits for real time: time moves when
 * every thread waits. */
#include <check.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "og_refresher.h"
#include "og_sched.h"
#include "simclock.h"
#include "testlog.h"
#include "testpki.h"

/* the shared log capture (testlog.c) under this file's names */
#define test_log tl_log
#define log_tail tl_tail
#define log_count tl_count
#define log_line_has tl_line_has
#define log_hook tl_hook

#define MAX_CERTS 200

/* ---- the responder: answers every request from `mode` ---- */
enum { MODE_GOOD, MODE_SHORT, MODE_500, MODE_GARBAGE, MODE_CLOSE, MODE_REVOKED, MODE_FIXED };
static int mode;
static int then_mode = -1;             /* after one MODE_REVOKED answer, switch to this */
static int requests;
static int fixed_served;
static tp_cert ca, leaf, leaf_b;
static const tp_cert *subject_of[MAX_CERTS];    /* by slot */
static long short_validity = 4;
static long good_validity = 3600;
static long revoked_validity = 3;
static unsigned char fixed_body[OG_SLOT_CAPACITY];  /* MODE_FIXED: a replay */
static size_t fixed_len;
static int64_t request_at[4096];       /* simulated time of each request */
static int in_flight, max_in_flight;   /* the responder's view */

static int get(int *v) { return __atomic_load_n(v, __ATOMIC_SEQ_CST); }
static void set(int *v, int x) { __atomic_store_n(v, x, __ATOMIC_SEQ_CST); }

static unsigned char *copy_out(const unsigned char *der, size_t len)
{
    unsigned char *out = malloc(len);
    memcpy(out, der, len);
    return out;
}

static int respond(void *baton, const og_target *t, const unsigned char *req, size_t req_len,
                   unsigned char **resp, size_t *resp_len, char *err, size_t errlen)
{
    const tp_cert *subject = subject_of[t->slot];
    int m = get(&mode), n = __atomic_fetch_add(&requests, 1, __ATOMIC_SEQ_CST), ok = 1, f;
    unsigned char *der = NULL;
    size_t len = 0;
    (void)baton;
    ck_assert(req && req_len > 0);
    if (n < (int)(sizeof(request_at) / sizeof(request_at[0])))
        request_at[n] = sim_now_us();
    f = __atomic_add_fetch(&in_flight, 1, __ATOMIC_SEQ_CST);
    if (f > get(&max_in_flight))
        set(&max_in_flight, f);
    if (m == MODE_GOOD || m == MODE_SHORT) {
        tp_resp_opts o = tp_good_opts(&ca, subject, -1, m == MODE_SHORT ? short_validity : good_validity);
        o.at = sim_now();
        der = tp_response(&o, &len);
    } else if (m == MODE_REVOKED) {
        tp_resp_opts o = tp_good_opts(&ca, subject, -10, revoked_validity);
        o.status = V_OCSP_CERTSTATUS_REVOKED;
        o.at = sim_now();
        der = tp_response(&o, &len);
        if (get(&then_mode) >= 0)
            set(&mode, get(&then_mode));
    } else if (m == MODE_FIXED) {
        *resp = copy_out(fixed_body, fixed_len);
        *resp_len = fixed_len;
        __atomic_add_fetch(&fixed_served, 1, __ATOMIC_SEQ_CST);
    } else if (m == MODE_GARBAGE) {
        static const unsigned char garbage[] = "\x30\x12 not ocsp at all";
        *resp = copy_out(garbage, sizeof(garbage) - 1);
        *resp_len = sizeof(garbage) - 1;
    } else {
        snprintf(err, errlen, m == MODE_500 ? "the responder answered HTTP 500"
                                            : "the connection was closed without an answer");
        ok = 0;
    }
    if (der) {
        *resp = copy_out(der, len);
        *resp_len = len;
        OPENSSL_free(der);
    }
    __atomic_sub_fetch(&in_flight, 1, __ATOMIC_SEQ_CST);
    return ok;
}

static char url[64], url_b[64];
static og_cert *cert, *cert_b;
static void *mem;
static og_table *table;                /* slot 0: cert, slot 1: cert_b */
static og_target target, target_b;
static int (*shared_state_hook)(void *baton);  /* cfg.shared_state of the next start */
/* Lines saying a refresh failed, at warning or error level (OG00610-00617). */
static int failure_lines(void)
{
    static const char *ids[] = { "OG00610:", "OG00611:", "OG00612:", "OG00613:",
                                 "OG00614:", "OG00615:", "OG00616:", "OG00617:" };
    int n = 0;
    for (size_t i = 0; i < sizeof(ids) / sizeof(ids[0]); i++)
        n += log_count(ids[i]);
    return n;
}

static og_cert *cert_of(const tp_cert *leaf_cert)
{
    char err[256], *pem = tp_pair_pem(leaf_cert, &ca);
    og_cert *c = og_cert_from_pem(pem, strlen(pem), NULL, err, sizeof(err));
    free(pem);
    ck_assert_msg(c != NULL, "%s", err);
    return c;
}

static void setup(void)
{
    sim_init(time(NULL));
    ca = tp_ca("Refresher CA");
    snprintf(url, sizeof(url), "http://ocsp.test:8080/");
    snprintf(url_b, sizeof(url_b), "http://ocsp.test:8080/b/");
    leaf = tp_issue(&ca, "refresh.test", "leaf", url, 0x3001);
    leaf_b = tp_issue(&ca, "refresh-b.test", "leaf", url_b, 0x3002);
    cert = cert_of(&leaf);
    cert_b = cert_of(&leaf_b);
    subject_of[0] = &leaf;
    subject_of[1] = &leaf_b;
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
    good_validity = 3600;
    revoked_validity = 3;
    requests = 0;
    fixed_served = 0;
    in_flight = max_in_flight = 0;
    shared_state_hook = NULL;
    tl_reset();
}

static void teardown(void)
{
    og_cert_free(cert);
    og_cert_free(cert_b);
    og_table_free(table);
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
    sim_thread_end();
    return NULL;
}

static pthread_t start_with(og_refresher_cfg *c)
{
    pthread_t t;
    stop = 0;
    c->table = c->table ? c->table : table;
    c->log = test_log;
    c->stop = &stop;
    c->clock = sim_clock();
    c->fetch = respond;
    c->shared_state = shared_state_hook;
    sim_thread_start();          /* known before it runs */
    pthread_create(&t, NULL, run_refresher, NULL);
    return t;
}

static pthread_t start_refresher_for(const og_cache_ops *cache, og_target *targets, unsigned n)
{
    memset(&cfg, 0, sizeof(cfg));
    cfg.targets = targets;
    cfg.ntargets = n;
    cfg.concurrency = 2;
    cfg.cache = cache;
    return start_with(&cfg);
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
    sim_thread_end();            /* a join is no wait on the clock */
    pthread_join(t, NULL);
    sim_thread_start();
}

static int stapled(void)
{
    unsigned char buf[OG_SLOT_CAPACITY];
    size_t len;
    return og_table_staple(table, 0, sim_now(), buf, sizeof(buf), &len);
}

/* cond within seconds of simulated time, looked at every 50 ms */
static int wait_for(int (*cond)(void), int seconds)
{
    return sim_until(cond, seconds, 50);
}

static void pass_ms(int ms)
{
    sim_pass_us((int64_t)ms * 1000);
}

static int not_stapled(void) { return !stapled(); }
static int expiry_logged(void) { return log_count("OG00619:") >= 1; }

START_TEST(first_fill_then_outage_keeps_staple_until_expiry)
{
    mode = MODE_SHORT;          /* valid for a few seconds */
    pthread_t t = start_refresher(NULL);
    ck_assert_msg(wait_for(stapled, 5), "no staple after start:\n%s", log_tail());
    set(&mode, MODE_500);        /* the responder breaks */
    /* the staple stays while valid, then goes: never an expired one */
    ck_assert(stapled());
    ck_assert_msg(wait_for(not_stapled, 10), "expired staple still served:\n%s", log_tail());
    ck_assert_msg(wait_for(expiry_logged, 3), "expiry not logged:\n%s", log_tail());
    stop_refresher(t);
    /* the failure is logged once per state change, not per try */
    ck_assert_int_le(failure_lines(), 2);
}
END_TEST

static int refetched(void) { return get(&requests) >= 2; }

START_TEST(garbage_never_replaces_good)
{
    pthread_t t = start_refresher(NULL);
    ck_assert(wait_for(stapled, 5));
    unsigned char before[OG_SLOT_CAPACITY], after[OG_SLOT_CAPACITY];
    size_t blen, alen;
    og_table_staple(table, 0, sim_now(), before, sizeof(before), &blen);
    set(&mode, MODE_GARBAGE);
    /* on to the refresh point (half of the hour), where the garbage comes */
    ck_assert_msg(sim_until(refetched, 3600, 1000), "no refresh:\n%s", log_tail());
    pass_ms(100);
    stop_refresher(t);
    /* it did not verify: the failure line of a response that does not verify */
    ck_assert_msg(log_count("OG00614:") == 1, "%s", log_tail());
    ck_assert(og_table_staple(table, 0, sim_now(), after, sizeof(after), &alen));
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

/* DER of a response about subject, signed by the CA, from now + this_offset
 * to now + next_offset (simulated time); *info from verifying it for c at
 * now (EXPIRED ones too). */
static size_t make_response(const tp_cert *subject, og_cert *c, int status, long this_offset,
                            long next_offset, unsigned char *out, og_resp_info *info)
{
    char why[256];
    size_t len;
    tp_resp_opts o = tp_good_opts(&ca, subject, this_offset, next_offset);
    o.status = status;
    o.at = sim_now();
    unsigned char *der = tp_response(&o, &len);
    ck_assert(len > 0 && len <= OG_SLOT_CAPACITY);
    memcpy(out, der, len);
    OPENSSL_free(der);
    if (info)
        og_verify_response(c, out, len, sim_now(), 300, info, why, sizeof(why));
    return len;
}

START_TEST(startup_loads_cache_without_fetching)
{
    cached_len = make_response(&leaf, cert, V_OCSP_CERTSTATUS_GOOD, -10, 3600, cached, NULL);
    og_cache_ops ops = { NULL, mem_load, NULL, mem_store };
    mode = MODE_CLOSE;
    pthread_t t = start_refresher(&ops);
    ck_assert(wait_for(stapled, 2));
    pass_ms(300);
    stop_refresher(t);
    ck_assert_int_eq(requests, 0);
    ck_assert_int_ge(log_count("OG00602:"), 1);
}
END_TEST

START_TEST(poisoned_cache_is_not_stapled)
{
    memset(cached, 0x30, 300);
    cached_len = 300;
    og_cache_ops ops = { NULL, mem_load, NULL, mem_store };
    mode = MODE_CLOSE;
    pthread_t t = start_refresher(&ops);
    pass_ms(500);
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
    unsigned char older[OG_SLOT_CAPACITY], newer[OG_SLOT_CAPACITY];
    size_t len_old = make_response(&leaf, cert, V_OCSP_CERTSTATUS_GOOD, -100, 3600, older, NULL);
    size_t len_new = make_response(&leaf, cert, V_OCSP_CERTSTATUS_GOOD, -10, 3600, newer, NULL);
    time_t now = sim_now();
    ck_assert(og_adopt_response(table, &target, newer, len_new, now, OG_SOURCE_CACHE, &info));
    ck_assert(!og_adopt_response(table, &target, older, len_old, now, OG_SOURCE_CACHE, &info));
    ck_assert(!og_adopt_response(table, &target, newer, len_new, now, OG_SOURCE_CACHE, &info));
    unsigned char junk[64];
    memset(junk, 0x30, sizeof(junk));
    ck_assert(!og_adopt_response(table, &target, junk, sizeof(junk), now, OG_SOURCE_CACHE, &info));
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
    sim_clock()->wake(NULL, &gate_cond);
    pthread_mutex_unlock(&gate_lock);
}

static int gate_is_open(void)
{
    pthread_mutex_lock(&gate_lock);
    int open = gate_opened;
    pthread_mutex_unlock(&gate_lock);
    return open;
}

/* Blocks until the test opens the gate, at most seconds (simulated). */
static int gate_wait(int seconds)
{
    int64_t until = sim_now_us() + (int64_t)seconds * OG_USEC;
    pthread_mutex_lock(&gate_lock);
    while (!gate_opened && sim_now_us() < until)
        sim_clock()->wait(NULL, &gate_lock, &gate_cond, until);
    int open = gate_opened;
    pthread_mutex_unlock(&gate_lock);
    return open;
}

static int slot_meta(unsigned slot, og_slot_meta *m)
{
    size_t len = 0;
    return og_table_read(table, slot, NULL, 0, &len, m) && len > 0 &&
           og_meta_stapled(m, sim_now());
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
    if (strstr(line, "OG00619:") && strstr(line, cert->name) && !gate_is_open()) {
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
    pass_ms(1500);          /* another expiry pass */
    ck_assert_msg(b_fresh_in_slot(), "B's fresh response was wiped:\n%s", log_tail());
    stop_refresher(t);
    log_hook = NULL;
}
END_TEST

/* A's cache store hangs (a disk or Redis that does not answer): B is still
 * fetched and published, and the expiry loop still runs. The old code held
 * the refresher's lock across the store. */
static int a_store_hanging;

static int a_store_is_hanging(void) { return get(&a_store_hanging); }

static int t2_load(void *b, const unsigned char *id, unsigned char *buf, size_t cap, size_t *len)
{
    (void)b; (void)id; (void)buf; (void)cap; (void)len;
    return 0;
}

/* the shared tier is asked in the worker, right before the fetch (the local
 * tier in the local pass, before any fetch) */
static int t2_load_shared(void *b, const unsigned char *id, unsigned char *buf, size_t cap, size_t *len)
{
    (void)b; (void)buf; (void)cap; (void)len;
    /* B goes to the responder only once A's store hangs (asked at each of
     * B's refreshes: not once the test let A's store go) */
    if (!memcmp(id, cert_b->id, OG_ID_LEN) && !gate_is_open())
        wait_for(a_store_is_hanging, 5);
    return 0;
}

static int t2_store(void *b, const unsigned char *id, const unsigned char *der, size_t len, time_t exp)
{
    (void)b; (void)der; (void)len; (void)exp;
    if (!memcmp(id, cert->id, OG_ID_LEN) && !gate_is_open()) {
        set(&a_store_hanging, 1);
        gate_wait(15);
        set(&a_store_hanging, 0);
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
    return log_line_has(cert_b->name, "OG00619:");
}

START_TEST(slow_cache_store_blocks_no_other_publish_nor_expiry)
{
    og_cache_ops ops = { NULL, t2_load, t2_load_shared, t2_store };
    mode = MODE_SHORT;
    short_validity = 2;
    gate_opened = 0;
    a_store_hanging = 0;
    pthread_t t = start_refresher_both(&ops);
    ck_assert_msg(wait_for(a_store_is_hanging, 5), "A was not stored:\n%s", log_tail());
    ck_assert_msg(wait_for(b_stapled, 3), "B was not published while A's store hung:\n%s", log_tail());
    set(&mode, MODE_500);
    ck_assert_msg(wait_for(b_expiry_logged, 8), "no expiry pass while A's store hung:\n%s", log_tail());
    ck_assert(a_store_is_hanging());  /* all along */
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
    pass_ms(300);
    stop_refresher(t);
    ck_assert_int_eq(requests, 0);
    ck_assert_int_ge(local_loads, 1);
    ck_assert_int_ge(shared_loads, 1);
    ck_assert_int_ge(log_count("OG00603:"), 1);    /* a good response from the shared tier */
    ck_assert(log_line_has("OG00603:", ": good response"));
    og_slot_status st;
    ck_assert(og_table_status_read(table, 0, &st));
    ck_assert_uint_eq(st.last.source, OG_SOURCE_PEER);
    /* what came from the shared tier went to the store (the local tier) */
    ck_assert_int_eq(stores, 1);
    ck_assert_uint_eq(cached_len, shared_len);
    ck_assert_mem_eq(cached, shared_resp, shared_len);
}
END_TEST

/* ---- issue 12 point 6: the local tier before anything else ---- */

static int shared_asked_before_local_done;
static int local_gate_shared(void *b, const unsigned char *id, unsigned char *buf, size_t cap,
                             size_t *len)
{
    (void)b; (void)id; (void)buf; (void)cap; (void)len;
    if (!og_table_local_loaded(table, NULL))
        set(&shared_asked_before_local_done, 1);
    return 0;
}

static int local_loaded(void) { return og_table_local_loaded(table, NULL); }

/* Both certificates: target's record is in the local tier, target_b's is
 * not (the one-entry cache answers for both; target's response does not
 * verify for target_b). When the table says the local tier was read,
 * target's response is already published, and nothing went to the shared
 * tier or the responder before; target_b is fetched afterwards. */
START_TEST(local_pass_publishes_before_it_signals)
{
    cached_len = make_response(&leaf, cert, V_OCSP_CERTSTATUS_GOOD, -10, 3600, cached, NULL);
    og_cache_ops ops = { NULL, mem_load, local_gate_shared, mem_store };
    shared_asked_before_local_done = 0;
    mode = MODE_GOOD;
    ck_assert(!og_table_local_loaded(table, NULL));
    pthread_t t = start_refresher_both(&ops);
    ck_assert_msg(wait_for(local_loaded, 2), "the local pass never finished:\n%s", log_tail());
    ck_assert_msg(stapled(), "the local record was not published when the pass said done");
    ck_assert(wait_for(b_stapled, 5));
    stop_refresher(t);
    ck_assert(!get(&shared_asked_before_local_done));
    ck_assert_int_eq(get(&requests), 1);    /* target_b only */
    unsigned done = 0;
    og_table_local_loaded(table, &done);
    ck_assert_uint_eq(done, 2);
}
END_TEST

/* ---- issue 12 point 7: a round is marked in flight in the table ---- */

static int gated_shared(void *b, const unsigned char *id, unsigned char *buf, size_t cap, size_t *len)
{
    (void)b; (void)id; (void)buf; (void)cap; (void)len;
    gate_wait(5);
    return 0;
}

static int slot0_fetching(void) { return (og_table_flags(table, 0) & OG_SLOT_FETCHING) != 0; }
static int not_fetching0(void) { return !slot0_fetching(); }

START_TEST(a_round_in_flight_is_marked_in_the_table)
{
    og_cache_ops ops = { NULL, NULL, gated_shared, NULL };
    gate_opened = 0;
    og_table_mark_must_staple(table, 0);
    og_table_fetch_begin(table, 0);         /* left by a refresher that died */
    og_table_fetch_end(table, 0);
    og_table_fetch_begin(table, 0);
    pthread_t t = start_refresher(&ops);
    ck_assert(wait_for(slot0_fetching, 3));
    pass_ms(100);
    /* the round is held in the shared tier: in flight, nothing stapled yet */
    ck_assert(slot0_fetching());
    ck_assert(!stapled());
    gate_open();
    ck_assert(wait_for(stapled, 5));
    ck_assert(wait_for(not_fetching0, 3));
    stop_refresher(t);
    ck_assert_uint_eq(og_table_flags(table, 0), OG_SLOT_MUST_STAPLE | OG_SLOT_TRIED);
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
    time_t start = sim_now();
    cached_len = 0;
    shared_state_hook = shared_up;
    pthread_t t = start_refresher(&ops);
    ck_assert_msg(wait_for(stapled, 5), "no staple:\n%s", log_tail());
    ck_assert(wait_for(fetch_noted, 2));
    pass_ms(1500);               /* a turn of the main loop asks the shared tier */
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
    time_t start = sim_now();
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
    set(&mode, MODE_FIXED);      /* from now on a man in the middle answers */
    ck_assert(slot_meta(0, &m));
    int good = 0;
    for (int i = 0; i < 120 && sim_now() <= m.next_update; i++) {  /* through its expiry */
        good |= good_stapled();
        pass_ms(50);
    }
    pass_ms(300);
    good |= good_stapled();
    stop_refresher(t);
    ck_assert_msg(!good, "the replayed older good response was stapled:\n%s", log_tail());
    ck_assert_int_ge(fixed_served, 2);
    ck_assert(sim_now() > m.next_update);
    ck_assert_int_ge(log_count("OG00616:") + log_count("OG00617:"), 1);   /* refused as older */
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
    if (!get(&requests))         /* offered once the revocation was fetched */
        return 0;
    last_shared_load = sim_now();
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
    /* the responder is down (its breaker opens): the shared tier is still asked */
    for (int i = 0; i < 1200 && last_shared_load < m.next_update; i++) {
        good |= good_stapled();
        pass_ms(50);
    }
    pass_ms(300);
    good |= good_stapled();
    stop_refresher(t);
    ck_assert_msg(last_shared_load >= m.next_update, "the shared tier was not asked once expired (%lld, %lld):\n%s", (long long)last_shared_load, (long long)m.next_update, log_tail());
    ck_assert_msg(!good, "the older good response from the shared tier was stapled:\n%s", log_tail());
}
END_TEST

/* A restart: the cache holds the revocation, expired by now (it is stored
 * past its nextUpdate); the responder's path replays an older good
 * response, still valid. It is never stapled. */
static int replay_served(void) { return get(&fixed_served) > 0; }

START_TEST(expired_cached_revocation_is_a_floor_after_restart)
{
    cached_len = make_response(&leaf, cert, V_OCSP_CERTSTATUS_REVOKED, -7200, -3600, cached, NULL);
    fixed_len = make_response(&leaf, cert, V_OCSP_CERTSTATUS_GOOD, -7300, 3600, fixed_body, NULL);
    og_cache_ops ops = { NULL, mem_load, NULL, mem_store };
    mode = MODE_FIXED;
    pthread_t t = start_refresher(&ops);
    wait_for(replay_served, 3);
    pass_ms(300);
    int good = stapled();
    stop_refresher(t);
    ck_assert_int_ge(fixed_served, 1);
    ck_assert_msg(!good, "an older good response was stapled after a revocation:\n%s", log_tail());
    ck_assert_int_ge(log_count("OG00621:"), 1);    /* the cache's expired revocation */
}
END_TEST

/* A graceful restart (or a refresher respawn) after the revocation expired:
 * its slot was cleared, the cache record is gone (the server's user may
 * delete it), and the responder's path replays an older good response. The
 * table's status record still names the revocation: it is the floor. */
START_TEST(expired_revocation_in_the_table_is_a_floor_after_restart)
{
    unsigned char rev[OG_SLOT_CAPACITY];
    og_resp_info info;
    size_t rl = make_response(&leaf, cert, V_OCSP_CERTSTATUS_REVOKED, -7200, -3600, rev, NULL);
    ck_assert(og_adopt_response(table, &target, rev, rl, sim_now() - 5000, OG_SOURCE_RESPONDER, &info));
    og_table_clear(table, target.slot);          /* what expire_stale did */
    fixed_len = make_response(&leaf, cert, V_OCSP_CERTSTATUS_GOOD, -7300, 3600, fixed_body, NULL);
    cached_len = 0;
    mode = MODE_FIXED;
    pthread_t t = start_refresher(NULL);
    wait_for(replay_served, 3);
    pass_ms(300);
    int good = stapled();
    stop_refresher(t);
    ck_assert_int_ge(fixed_served, 1);
    ck_assert_msg(!good, "an older good response was stapled after an expired revocation:\n%s", log_tail());
}
END_TEST

/* The adopt path: a revocation in the slot is not replaced by an older good
 * response, nor by a good one of the same instant; a newer one may. */
START_TEST(adopt_never_rolls_back_a_revocation)
{
    unsigned char rev[OG_SLOT_CAPACITY], older[OG_SLOT_CAPACITY], same[OG_SLOT_CAPACITY],
        newer[OG_SLOT_CAPACITY];
    og_resp_info info;
    time_t now = sim_now();
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
    og_slot_meta m = og_slot_meta_of(&info, OG_SOURCE_RESPONDER);
    ck_assert(og_table_publish_begin(table, 0, der, len, &m));   /* and died */
    mode = MODE_CLOSE;
    pthread_t t = start_refresher(NULL);
    pass_ms(300);
    stop_refresher(t);
    ck_assert_msg(stapled(), "the response being written was lost:\n%s", log_tail());
    ck_assert_int_eq(requests, 0);
    ck_assert_int_ge(log_count("OG00622:"), 1);    /* left mid-write, repaired */
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
    pass_ms(300);
    stop_refresher(t);
    ck_assert_int_eq(log_count("OG00609:"), 1);
    ck_assert(log_line_has(cert->name, "as if it were valid for 7 days"));
}
END_TEST

/* ---- many certificates on one responder: the breaker, the rate ---- */
static tp_cert many_leaf[MAX_CERTS];
static og_cert *many_cert[MAX_CERTS];
static og_target many[MAX_CERTS];
static void *many_mem;
static og_table *many_table;
static unsigned nmany;

static void make_many(unsigned n)
{
    unsigned char (*ids)[OG_ID_LEN] = calloc(n, OG_ID_LEN);
    nmany = n;
    for (unsigned i = 0; i < n; i++) {
        char cn[64];
        snprintf(cn, sizeof(cn), "c%u.many.test", i);
        many_leaf[i] = tp_issue(&ca, cn, "leaf", url, 0x5000 + i);
        many_cert[i] = cert_of(&many_leaf[i]);
        memcpy(ids[i], many_cert[i]->id, OG_ID_LEN);
        subject_of[i] = &many_leaf[i];
        many[i] = target;
        many[i].cert = many_cert[i];
        many[i].slot = i;
    }
    many_mem = calloc(1, og_table_size(n));
    many_table = og_table_init(many_mem, og_table_size(n), n, (const unsigned char (*)[OG_ID_LEN])ids);
    ck_assert_ptr_nonnull(many_table);
    free(ids);
}

static void free_many(void)
{
    for (unsigned i = 0; i < nmany; i++) {
        og_cert_free(many_cert[i]);
        tp_free(&many_leaf[i]);
    }
    og_table_free(many_table);
    free(many_mem);
}

static pthread_t start_many(unsigned rate)
{
    memset(&cfg, 0, sizeof(cfg));
    cfg.targets = many;
    cfg.ntargets = nmany;
    cfg.table = many_table;
    cfg.concurrency = 4;
    cfg.responder_rate = rate;
    return start_with(&cfg);
}

/* How many certificates have a staple at least as new as since (0: any). */
static unsigned many_stapled_since(time_t since)
{
    unsigned n = 0;
    for (unsigned i = 0; i < nmany; i++) {
        og_slot_meta m;
        size_t len = 0;
        n += og_table_read(many_table, i, NULL, 0, &len, &m) && len > 0 &&
             og_meta_stapled(&m, sim_now()) && m.this_update >= since;
    }
    return n;
}

static time_t fresh_since;
static int all_stapled(void) { return many_stapled_since(0) == nmany; }
static int all_fresh(void) { return many_stapled_since(fresh_since) == nmany; }
static int breaker_down(void) { return log_count("OG01101:") > 0; }
static int breaker_back(void) { return log_count("OG01102:") > 0; }

/* 200 certificates on one responder that goes down: it sees a few probes
 * (one at a time, one per backoff step), not 200 certificates trying on
 * their own; one line when it goes down and one when it is back; every
 * certificate keeps its staple meanwhile; once back all are fresh within
 * a minute. */
START_TEST(breaker_one_responder_down_for_200_certificates)
{
    make_many(MAX_CERTS);
    pthread_t t = start_many(50);
    ck_assert_msg(sim_until(all_stapled, 60, 100), "not all filled:\n%s", log_tail());
    int filled = get(&requests);
    ck_assert_int_eq(filled, MAX_CERTS);
    /* down from now on; the refreshes begin after 40-50 % of the hour */
    set(&mode, MODE_CLOSE);
    time_t down = sim_now();
    ck_assert_msg(sim_until(breaker_down, 3600, 1000), "the breaker never opened:\n%s", log_tail());
    int opened_after = get(&requests);
    time_t opened = sim_now();
    ck_assert_int_le(opened_after - filled, OG_BREAKER_FAILURES + 3);   /* + in flight */
    /* ten more minutes down: probes only, one at a time */
    set(&max_in_flight, 0);
    int staples_kept = 1;
    for (int minute = 0; minute < 10; minute++) {
        sim_pass_us(60 * OG_USEC);
        staples_kept &= all_stapled();
    }
    int probes = get(&requests) - opened_after;
    ck_assert_msg(staples_kept, "a staple was lost before its nextUpdate:\n%s", log_tail());
    /* steps of 30, 60, 120, 240 s: at most one probe each */
    ck_assert_msg(probes >= 2 && probes <= 5, "%d probes in 10 minutes", probes);
    ck_assert_int_le(get(&max_in_flight), 1);
    for (int k = opened_after + 1; k < opened_after + probes; k++)
        ck_assert_int_ge(request_at[k] - request_at[k - 1], (int64_t)OG_BREAKER_FIRST * OG_USEC);
    ck_assert_int_ge(request_at[opened_after] - (int64_t)opened * OG_USEC,
                     (int64_t)(OG_BREAKER_FIRST - 1) * OG_USEC);
    /* one line for the responder, not one per certificate */
    ck_assert_int_eq(log_count("OG01101:"), 1);
    ck_assert_int_le(failure_lines(), OG_BREAKER_FAILURES);
    ck_assert(log_line_has("OG01101:", "200 of its 200 certificate(s) keep their valid staples"));
    /* back: all fresh within a minute of the probe that finds it */
    set(&mode, MODE_GOOD);
    ck_assert_msg(sim_until(breaker_back, OG_BREAKER_MAX + 60, 1000), "never back:\n%s", log_tail());
    fresh_since = sim_now() - 2;
    ck_assert_msg(sim_until(all_fresh, 60, 100), "%u of %u fresh a minute after:\n%s",
                  many_stapled_since(fresh_since), nmany, log_tail());
    ck_assert(all_stapled());
    stop_refresher(t);
    ck_assert_int_eq(log_count("OG01101:"), 1);
    ck_assert_int_eq(log_count("OG01102:"), 1);
    /* "stapling again" only for those that told their own failure */
    ck_assert_int_le(log_count("OG00606:"), failure_lines());
    ck_assert_int_le(sim_now() - down, 3000);     /* all before the first nextUpdate */
    free_many();
}
END_TEST

/* While its responder is down a certificate still takes a cluster peer's
 * response from the shared tier, at its own retry times, without asking
 * the responder: its staple outlives the nextUpdate it had. */
static int peer_loads;

static int peer_adopted(void) { return log_count("OG00604:") > 0; }

static int peer_load(void *b, const unsigned char *id, unsigned char *buf, size_t cap, size_t *len)
{
    (void)b; (void)id; (void)cap;
    if (!breaker_down())
        return 0;
    peer_loads++;
    *len = make_response(&leaf, cert, V_OCSP_CERTSTATUS_GOOD, -1, 120, buf, NULL);
    return 1;
}

START_TEST(down_responder_still_adopts_from_the_shared_tier)
{
    og_slot_meta before, after;
    og_cache_ops ops = { NULL, miss_load, peer_load, ok_store };
    good_validity = 120;
    peer_loads = 0;
    pthread_t t = start_refresher(&ops);
    ck_assert(wait_for(stapled, 5));
    ck_assert(slot_meta(0, &before));
    set(&mode, MODE_CLOSE);
    ck_assert_msg(sim_until(breaker_down, 120, 1000), "never down:\n%s", log_tail());
    int asked = get(&requests);
    ck_assert_msg(sim_until(peer_adopted, 60, 1000), "nothing adopted:\n%s", log_tail());
    ck_assert_int_eq(log_count("OG00604:"), 1);
    ck_assert_int_eq(get(&requests), asked);       /* the responder was not asked */
    pass_ms((int)(before.next_update - sim_now() + 5) * 1000);
    ck_assert_msg(slot_meta(0, &after) && after.next_update > before.next_update,
                  "the staple did not outlive its old nextUpdate:\n%s", log_tail());
    stop_refresher(t);
    ck_assert_int_ge(peer_loads, 1);
    ck_assert_int_eq(log_count("OG01102:"), 0);    /* still down all along */
}
END_TEST

/* With OCSPGuardResponderRate 20, the fill of 100 certificates never
 * brings more than 20 requests into one second, and takes the 5 s that
 * rate means; without a limit it is done in the first second. */
START_TEST(rate_caps_every_second_of_the_fill)
{
    int per_second[64] = { 0 };
    make_many(100);
    int64_t t0 = sim_now_us();
    pthread_t t = start_many(20);
    ck_assert_msg(sim_until(all_stapled, 30, 100), "not all filled:\n%s", log_tail());
    int64_t took = sim_now_us() - t0;
    stop_refresher(t);
    ck_assert_int_eq(requests, 100);
    for (int k = 0; k < 100; k++) {
        int64_t s = (request_at[k] - t0) / OG_USEC;
        ck_assert(s >= 0 && s < 64);
        per_second[s]++;
    }
    for (int s = 0; s < 64; s++)
        ck_assert_msg(per_second[s] <= 20, "%d requests in second %d", per_second[s], s);
    /* and any second, not only whole ones from the start */
    for (int k = 20; k < 100; k++)
        ck_assert_int_ge(request_at[k] - request_at[k - 20], OG_USEC);
    ck_assert_int_ge(took, 99 * og_bucket_interval(20));
    ck_assert_int_le(took, 6 * OG_USEC);
    ck_assert_int_eq(log_count("OG01105:"), 1);   /* said once */
    free_many();
}
END_TEST

START_TEST(no_rate_limit_fills_at_once)
{
    make_many(100);
    int64_t t0 = sim_now_us();
    pthread_t t = start_many(0);
    ck_assert(sim_until(all_stapled, 30, 100));
    stop_refresher(t);
    ck_assert_int_eq(requests, 100);
    ck_assert_int_lt(request_at[99] - t0, OG_USEC);
    ck_assert_int_eq(log_count("OG01105:"), 0);
    free_many();
}
END_TEST

Suite *refresher_suite(void)
{
    Suite *s = suite_create("refresher");
    TCase *tc = tcase_create("loop");
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_set_timeout(tc, 30);
    tcase_add_test(tc, first_fill_then_outage_keeps_staple_until_expiry);
    tcase_add_test(tc, garbage_never_replaces_good);
    tcase_add_test(tc, startup_loads_cache_without_fetching);
    tcase_add_test(tc, poisoned_cache_is_not_stapled);
    tcase_add_test(tc, adopt_only_newer_verified);
    tcase_add_test(tc, expiry_never_wipes_a_response_being_adopted);
    tcase_add_test(tc, slow_cache_store_blocks_no_other_publish_nor_expiry);
    tcase_add_test(tc, startup_tries_local_then_shared_and_stores_locally);
    tcase_add_test(tc, local_pass_publishes_before_it_signals);
    tcase_add_test(tc, a_round_in_flight_is_marked_in_the_table);
    tcase_add_test(tc, fetched_older_good_never_replaces_a_revocation);
    tcase_add_test(tc, shared_older_good_never_replaces_an_expired_revocation);
    tcase_add_test(tc, expired_cached_revocation_is_a_floor_after_restart);
    tcase_add_test(tc, expired_revocation_in_the_table_is_a_floor_after_restart);
    tcase_add_test(tc, adopt_never_rolls_back_a_revocation);
    tcase_add_test(tc, replace_rule);
    tcase_add_test(tc, startup_repairs_a_slot_left_mid_write);
    tcase_add_test(tc, suspicious_validity_is_logged_once);
    tcase_add_test(tc, status_follows_a_good_fetch);
    tcase_add_test(tc, status_follows_a_failing_responder);
    suite_add_tcase(s, tc);
    TCase *rs = tcase_create("responder");
    tcase_add_checked_fixture(rs, setup, teardown);
    tcase_set_timeout(rs, 30);
    tcase_add_test(rs, breaker_one_responder_down_for_200_certificates);
    tcase_add_test(rs, down_responder_still_adopts_from_the_shared_tier);
    tcase_add_test(rs, rate_caps_every_second_of_the_fill);
    tcase_add_test(rs, no_rate_limit_fills_at_once);
    suite_add_tcase(s, rs);
    return s;
}
