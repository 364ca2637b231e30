/* Copyright 2026 the mod_ocsp_guard developers. Licensed under the Apache License 2.0 (LICENSE). */
/* The control region (refresh flags, import mailboxes, notification
 * memory) on its own, against hostile contents, and through the refresher:
 * imports verified and accepted by the replace rule while the responder is
 * down, refresh requests honoured within a second (and spaced), and
 * notifications run from the refresher. */
#include <check.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "og_control.h"
#include "og_refresher.h"
#include "testlog.h"
#include "testpki.h"

#define T0 1700000000

static unsigned char ids[3][OG_ID_LEN];
static void *region_mem;
static og_control *ctl;

static og_control *region(unsigned n, void **mem)
{
    for (unsigned i = 0; i < 3; i++)
        memset(ids[i], 0x11 * (i + 1), OG_ID_LEN);
    *mem = calloc(1, og_control_size(n));
    og_control *c = og_control_init(*mem, og_control_size(n), n, (const unsigned char (*)[OG_ID_LEN])ids);
    ck_assert_ptr_nonnull(c);
    return c;
}

START_TEST(mailbox_round_trip)
{
    unsigned char der[100], got[OG_CONTROL_BOX_CAP];
    char reason[256];
    unsigned slot;
    size_t len;
    uint32_t ticket, t2;
    ctl = region(2, &region_mem);
    ck_assert(!og_control_refresher_alive(ctl, T0));
    og_control_beat(ctl, T0);
    ck_assert(og_control_refresher_alive(ctl, T0 + OG_CONTROL_ALIVE));
    ck_assert(!og_control_refresher_alive(ctl, T0 + OG_CONTROL_ALIVE + 1));
    memset(der, 0x42, sizeof(der));
    int box = og_control_submit(ctl, 1, der, sizeof(der), T0, &ticket);
    ck_assert_int_ge(box, 0);
    ck_assert_int_eq(og_control_result(ctl, box, ticket, reason, sizeof(reason)), OG_IMPORT_PENDING);
    int taken = og_control_take_import(ctl, 2, T0, &slot, got, sizeof(got), &len);
    ck_assert_int_eq(taken, box);
    ck_assert_int_eq(slot, 1);
    ck_assert_int_eq(len, sizeof(der));
    ck_assert(!memcmp(got, der, len));
    ck_assert_int_eq(og_control_take_import(ctl, 2, T0, &slot, got, sizeof(got), &len), -1);
    og_control_answer(ctl, box, OG_IMPORT_STAPLED, "stapled: yes\nand a second line", T0);
    ck_assert_int_eq(og_control_result(ctl, box, ticket, reason, sizeof(reason)), OG_IMPORT_STAPLED);
    ck_assert_str_eq(reason, "stapled: yes?and a second line");   /* one line */
    /* free again: all boxes can be had, then none */
    for (int i = 0; i < OG_CONTROL_BOXES; i++)
        ck_assert_int_ge(og_control_submit(ctl, 0, der, sizeof(der), T0, &t2), 0);
    ck_assert_int_eq(og_control_submit(ctl, 0, der, sizeof(der), T0, &t2), -1);
    ck_assert_int_eq(og_control_submit(ctl, 0, der, 0, T0, &t2), -1);
    ck_assert_int_eq(og_control_submit(ctl, 0, der, OG_CONTROL_BOX_CAP + 1, T0, &t2), -1);
    free(region_mem);
}
END_TEST

START_TEST(mailbox_withdraw_and_abandon)
{
    unsigned char der[10] = { 1 }, got[OG_CONTROL_BOX_CAP];
    char reason[64];
    unsigned slot;
    size_t len;
    uint32_t ticket;
    ctl = region(2, &region_mem);
    int box = og_control_submit(ctl, 0, der, sizeof(der), T0, &ticket);
    ck_assert_int_eq(og_control_withdraw(ctl, box, ticket), 1);   /* not taken: nothing happens */
    ck_assert_int_eq(og_control_take_import(ctl, 2, T0, &slot, got, sizeof(got), &len), -1);
    box = og_control_submit(ctl, 0, der, sizeof(der), T0, &ticket);
    ck_assert_int_eq(og_control_take_import(ctl, 2, T0, &slot, got, sizeof(got), &len), box);
    ck_assert_int_eq(og_control_withdraw(ctl, box, ticket), 0);   /* taken: may still apply */
    og_control_answer(ctl, box, OG_IMPORT_STAPLED, "late", T0);
    ck_assert_int_ne(og_control_result(ctl, box, ticket, reason, sizeof(reason)), OG_IMPORT_STAPLED);
    /* the abandoned box is free at once, not after the sweep */
    for (int i = 0; i < OG_CONTROL_BOXES; i++)
        ck_assert_int_ge(og_control_submit(ctl, 0, der, sizeof(der), T0, &ticket), 0);
    free(region_mem);
}
END_TEST

START_TEST(mailbox_bounds_and_sweep)
{
    unsigned char der[10] = { 1 }, got[OG_CONTROL_BOX_CAP];
    char reason[128];
    unsigned slot;
    size_t len;
    uint32_t ticket, t_fill;
    ctl = region(2, &region_mem);
    /* a slot beyond the refresher's own count is answered, never used */
    int box = og_control_submit(ctl, 7, der, sizeof(der), T0, &ticket);
    ck_assert_int_eq(og_control_take_import(ctl, 2, T0, &slot, got, sizeof(got), &len), -1);
    ck_assert_int_eq(og_control_result(ctl, box, ticket, reason, sizeof(reason)), OG_IMPORT_NO_SLOT);
    /* more than the taker's buffer */
    box = og_control_submit(ctl, 0, der, sizeof(der), T0, &ticket);
    ck_assert_int_eq(og_control_take_import(ctl, 2, T0, &slot, got, 5, &len), -1);
    ck_assert_int_eq(og_control_result(ctl, box, ticket, reason, sizeof(reason)), OG_IMPORT_INVALID);
    /* taken by a refresher that died: the next one answers it at start */
    box = og_control_submit(ctl, 0, der, sizeof(der), T0, &ticket);
    ck_assert_int_ge(og_control_take_import(ctl, 2, T0, &slot, got, sizeof(got), &len), 0);
    og_control_sweep(ctl, T0 + 1, 1);
    ck_assert_int_eq(og_control_result(ctl, box, ticket, reason, sizeof(reason)), OG_IMPORT_UNAVAILABLE);
    ck_assert(strstr(reason, "restarted"));
    /* answered but never read (the child died): freed after OG_CONTROL_STALE */
    int left = og_control_submit(ctl, 0, der, sizeof(der), T0, &t_fill);
    ck_assert_int_ge(og_control_take_import(ctl, 2, T0, &slot, got, sizeof(got), &len), 0);
    og_control_answer(ctl, left, OG_IMPORT_STAPLED, "x", T0);
    int n = 0;
    while (og_control_submit(ctl, 0, der, sizeof(der), T0, &ticket) >= 0)
        n++;
    ck_assert_int_eq(n, OG_CONTROL_BOXES - 1);
    og_control_sweep(ctl, T0 + OG_CONTROL_STALE, 0);
    ck_assert_int_eq(og_control_submit(ctl, 0, der, sizeof(der), T0, &ticket), -1);
    og_control_sweep(ctl, T0 + OG_CONTROL_STALE + 1, 0);
    ck_assert_int_ge(og_control_submit(ctl, 0, der, sizeof(der), T0, &ticket), 0);
    free(region_mem);
}
END_TEST

START_TEST(refresh_flags)
{
    ctl = region(3, &region_mem);
    uint32_t r0 = og_control_requests(ctl);
    ck_assert_int_eq(og_control_request_refresh(ctl, 1), 1);
    ck_assert_uint_ne(og_control_requests(ctl), r0);
    ck_assert(!og_control_take_refresh(ctl, 0));
    ck_assert(og_control_take_refresh(ctl, 1));
    ck_assert(!og_control_take_refresh(ctl, 1));
    ck_assert(!og_control_take_refresh(ctl, 99));
    ck_assert_int_eq(og_control_request_refresh(ctl, -1), 3);
    for (unsigned i = 0; i < 3; i++)
        ck_assert(og_control_take_refresh(ctl, i));
    uint32_t r1 = og_control_requests(ctl);
    og_control_keep_refresh(ctl, 2);
    ck_assert_uint_eq(og_control_requests(ctl), r1);   /* no wake-up: the refresher's next pass */
    ck_assert(og_control_take_refresh(ctl, 2));
    ck_assert_ptr_null(og_control_notify_mem(ctl, 3));
    free(region_mem);
}
END_TEST

static void *request_later(void *arg)
{
    usleep(100000);
    og_control_request_refresh(arg, 0);
    return NULL;
}

static double since(const struct timespec *t0)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)(t.tv_sec - t0->tv_sec) + (double)(t.tv_nsec - t0->tv_nsec) / 1e9;
}

/* The refresher's pause ends at a request, not at its timeout. */
START_TEST(a_request_wakes_the_waiting_refresher)
{
    struct timespec t0;
    pthread_t t;
    ctl = region(1, &region_mem);
    clock_gettime(CLOCK_MONOTONIC, &t0);
    og_control_wait(ctl, og_control_requests(ctl), 200);
    ck_assert(since(&t0) >= 0.19);
    pthread_create(&t, NULL, request_later, ctl);
    clock_gettime(CLOCK_MONOTONIC, &t0);
    og_control_wait(ctl, og_control_requests(ctl), 5000);
    ck_assert_msg(since(&t0) < 1.0, "woke after %.2f s", since(&t0));
    pthread_join(t, NULL);
    clock_gettime(CLOCK_MONOTONIC, &t0);
    og_control_wait(ctl, og_control_requests(ctl) - 1, 5000);   /* changed already */
    ck_assert(since(&t0) < 0.1);
    free(region_mem);
}
END_TEST

/* A graceful restart: notification memory follows the certificate's id into
 * its new slot; only as much of the old region is read as was mapped,
 * whatever its header says. */
START_TEST(carry_over_by_id_within_the_mapped_size)
{
    void *old_mem, *new_mem, *table_mem;
    og_control *old = region(3, &old_mem);
    for (unsigned i = 0; i < 3; i++)
        og_control_notify_mem(old, i)->renewed_at = T0 + i;
    /* the new generation: ids[2] and ids[0] in that order, and a new one */
    unsigned char nids[3][OG_ID_LEN];
    memcpy(nids[0], ids[2], OG_ID_LEN);
    memcpy(nids[1], ids[0], OG_ID_LEN);
    memset(nids[2], 0x77, OG_ID_LEN);
    table_mem = calloc(1, og_table_size(3));
    og_table *table = og_table_init(table_mem, og_table_size(3), 3, (const unsigned char (*)[OG_ID_LEN])nids);
    new_mem = calloc(1, og_control_size(3));
    og_control *c = og_control_init(new_mem, og_control_size(3), 3, (const unsigned char (*)[OG_ID_LEN])nids);
    ck_assert_int_eq(og_control_carry_over(c, table, old_mem, og_control_size(3)), 2);
    ck_assert_int_eq(og_control_notify_mem(c, 0)->renewed_at, T0 + 2);
    ck_assert_int_eq(og_control_notify_mem(c, 1)->renewed_at, T0);
    ck_assert_int_eq(og_control_notify_mem(c, 2)->renewed_at, 0);
    /* a header claiming a million slots: only the mapped ones are read
     * (ASan would see a read past old_mem) */
    memset(old_mem, 0xff, 16);
    ck_assert_int_eq(og_control_carry_over(c, table, old_mem, og_control_size(3)), 0);
    ((uint32_t *)old_mem)[0] = 0x4f47434eu;
    ((uint32_t *)old_mem)[1] = 1;
    ck_assert_int_eq(og_control_carry_over(c, table, old_mem, og_control_size(3)), 2);
    ck_assert_int_eq(og_control_carry_over(c, table, old_mem, 10), 0);
    ck_assert_int_eq(og_control_carry_over(c, table, NULL, 0), 0);
    free(old_mem);
    free(new_mem);
    og_table_free(table);
    free(table_mem);
}
END_TEST

/* Anything the server's user can write: random bytes over the whole region
 * cost the refresher's calls nothing (ASan and UBSan watch). */
START_TEST(random_region_contents_are_harmless)
{
    unsigned char got[OG_CONTROL_BOX_CAP];
    char reason[64];
    unsigned slot;
    size_t len, size = og_control_size(2);
    uint32_t ticket;
    srand(42);
    for (int round = 0; round < 50; round++) {
        ctl = region(2, &region_mem);
        for (size_t i = 16; i < size; i++)   /* keep the slot count: that one the owner knows */
            ((unsigned char *)region_mem)[i] = (unsigned char)rand();
        og_control_sweep(ctl, T0, round & 1);
        while (og_control_take_import(ctl, 2, T0, &slot, got, sizeof(got), &len) >= 0)
            ck_assert(slot < 2 && len <= sizeof(got));
        for (int b = -1; b <= OG_CONTROL_BOXES; b++) {
            og_control_result(ctl, b, (uint32_t)rand(), reason, sizeof(reason));
            og_control_withdraw(ctl, b, (uint32_t)rand());
        }
        for (unsigned s = 0; s < 3; s++)
            og_control_take_refresh(ctl, s);
        og_control_refresher_alive(ctl, T0);
        og_control_submit(ctl, 0, got, 10, T0, &ticket);
        free(region_mem);
    }
}
END_TEST

/* ---- through the refresher ---- */

static tp_cert ca, other_ca, leaf, leaf_b;
static og_cert *cert, *cert_b;
static void *table_mem;
static og_table *table;
static og_target targets[2];
static og_refresher_cfg cfg;
static volatile sig_atomic_t stop;
static pthread_t thread;
static int stores;
static time_t stored_expiry;

static int no_load(void *b, const unsigned char *id, unsigned char *buf, size_t cap, size_t *len)
{
    (void)b, (void)id, (void)buf, (void)cap, (void)len;
    return 0;
}

static int count_store(void *b, const unsigned char *id, const unsigned char *der, size_t len, time_t exp)
{
    (void)b, (void)id, (void)der, (void)len;
    __atomic_store_n(&stored_expiry, exp, __ATOMIC_SEQ_CST);
    __atomic_add_fetch(&stores, 1, __ATOMIC_SEQ_CST);
    return 1;
}

static og_cache_ops cache_ops = { NULL, no_load, NULL, count_store };

/* The responders are down: every exchange fails, counted per slot. */
static int attempts[2];

static int down_fetch(void *baton, const og_target *t, const unsigned char *req, size_t req_len,
                      unsigned char **resp, size_t *resp_len, char *err, size_t errlen)
{
    (void)baton, (void)req, (void)req_len, (void)resp, (void)resp_len;
    __atomic_add_fetch(&attempts[t->slot], 1, __ATOMIC_SEQ_CST);
    snprintf(err, errlen, "connection refused");
    return 0;
}

static int attempts_of(unsigned slot)
{
    return __atomic_load_n(&attempts[slot], __ATOMIC_SEQ_CST);
}

static void rsetup(void)
{
    char err[256];
    ca = tp_ca("Control CA");
    other_ca = tp_ca("Control CA");     /* the same name, another key */
    leaf = tp_issue(&ca, "a.control.test", "leaf", "http://127.0.0.1:1/", 0x4001);
    leaf_b = tp_issue(&ca, "b.control.test", "leaf", "http://127.0.0.1:1/", 0x4002);
    char *pem = tp_pair_pem(&leaf, &ca);
    cert = og_cert_from_pem(pem, strlen(pem), NULL, err, sizeof(err));
    free(pem);
    pem = tp_pair_pem(&leaf_b, &ca);
    cert_b = og_cert_from_pem(pem, strlen(pem), NULL, err, sizeof(err));
    free(pem);
    ck_assert(cert && cert_b);
    memcpy(ids[0], cert->id, OG_ID_LEN);
    memcpy(ids[1], cert_b->id, OG_ID_LEN);
    table_mem = calloc(1, og_table_size(2));
    table = og_table_init(table_mem, og_table_size(2), 2, (const unsigned char (*)[OG_ID_LEN])ids);
    region_mem = calloc(1, og_control_size(2));
    ctl = og_control_init(region_mem, og_control_size(2), 2, (const unsigned char (*)[OG_ID_LEN])ids);
    ck_assert(table && ctl);
    for (int i = 0; i < 2; i++) {
        memset(&targets[i], 0, sizeof(targets[i]));
        targets[i].cert = i ? cert_b : cert;
        /* two responders: each its own breaker */
        targets[i].url = i ? "http://b.ocsp.test/" : "http://a.ocsp.test/";
        targets[i].refresh_pct = 50;
        targets[i].timeout = 2;
        targets[i].max_skew = 300;
        targets[i].slot = (unsigned)i;
    }
    memset(&cfg, 0, sizeof(cfg));
    cfg.targets = targets;
    cfg.ntargets = 2;
    cfg.table = table;
    cfg.concurrency = 1;
    cfg.cache = &cache_ops;
    cfg.log = tl_log;
    cfg.stop = &stop;
    cfg.control = ctl;
    cfg.fetch = down_fetch;
    tl_reset();
    stores = 0;
    attempts[0] = attempts[1] = 0;
}

static void rteardown(void)
{
    og_cert_free(cert);
    og_cert_free(cert_b);
    og_table_free(table);
    free(table_mem);
    free(region_mem);
    tp_free(&ca);
    tp_free(&other_ca);
    tp_free(&leaf);
    tp_free(&leaf_b);
}

static void *run(void *arg)
{
    (void)arg;
    og_refresher_run(&cfg);
    return NULL;
}

static void start(void)
{
    stop = 0;
    pthread_create(&thread, NULL, run, NULL);
    for (int i = 0; i < 40 && !og_control_refresher_alive(ctl, time(NULL)); i++)
        usleep(50000);
    ck_assert(og_control_refresher_alive(ctl, time(NULL)));
}

static void finish(void)
{
    stop = 1;
    pthread_join(thread, NULL);
}

/* Submits der for slot and waits for the verdict (at most 5 s). */
static og_import_verdict import(unsigned slot, const unsigned char *der, size_t len, char *reason)
{
    uint32_t ticket;
    og_import_verdict v = OG_IMPORT_PENDING;
    int box = og_control_submit(ctl, slot, der, len, time(NULL), &ticket);
    ck_assert_int_ge(box, 0);
    for (int i = 0; i < 100 && v == OG_IMPORT_PENDING; i++) {
        usleep(50000);
        v = og_control_result(ctl, box, ticket, reason, 256);
    }
    return v;
}

static og_import_verdict import_opts(unsigned slot, const tp_resp_opts *o, char *reason)
{
    size_t len;
    unsigned char *der = tp_response(o, &len);
    og_import_verdict v = import(slot, der, len, reason);
    OPENSSL_free(der);
    return v;
}

static int staple_of(unsigned slot, og_slot_meta *m)
{
    size_t len = 0;
    return og_table_read(table, slot, NULL, 0, &len, m) && len > 0 && og_meta_stapled(m, time(NULL));
}

START_TEST(import_is_verified_and_follows_the_replace_rule)
{
    char reason[256];
    og_slot_meta m;
    size_t good_len, revoked_len;
    /* made once: the same bytes again are the same response */
    tp_resp_opts o = tp_good_opts(&ca, &leaf, -10, 3600);
    unsigned char *good = tp_response(&o, &good_len);
    o.this_offset = -5;
    o.status = V_OCSP_CERTSTATUS_REVOKED;
    unsigned char *revoked = tp_response(&o, &revoked_len);
    start();
    ck_assert(!staple_of(0, &m));
    ck_assert_int_eq(import(0, good, good_len, reason), OG_IMPORT_STAPLED);
    ck_assert_msg(!strncmp(reason, "stapled: good response", 22), "%s", reason);
    ck_assert(staple_of(0, &m));
    ck_assert_int_eq(m.source, OG_SOURCE_IMPORT);
    time_t tu = m.this_update;
    for (int i = 0; i < 40 && !__atomic_load_n(&stores, __ATOMIC_SEQ_CST); i++)
        usleep(50000);
    ck_assert_int_eq(stores, 1);
    ck_assert_int_eq(stored_expiry, m.next_update);
    /* refused, and the staple unchanged */
    ck_assert_int_eq(import(0, good, good_len, reason), OG_IMPORT_OLDER);
    ck_assert_msg(strstr(reason, "stapled already"), "%s", reason);
    tp_resp_opts older = tp_good_opts(&ca, &leaf, -100, 3600);
    ck_assert_int_eq(import_opts(0, &older, reason), OG_IMPORT_OLDER);
    ck_assert_msg(strstr(reason, "not newer than the response stapled"), "%s", reason);
    tp_resp_opts forged = tp_good_opts(&ca, &leaf, -1, 3600);
    forged.signer = &other_ca;
    ck_assert_int_eq(import_opts(0, &forged, reason), OG_IMPORT_INVALID);
    tp_resp_opts expired = tp_good_opts(&ca, &leaf, -7200, -3600);
    ck_assert_int_eq(import_opts(0, &expired, reason), OG_IMPORT_INVALID);
    ck_assert_msg(strstr(reason, "expired"), "%s", reason);
    tp_resp_opts others = tp_good_opts(&ca, &leaf_b, -1, 3600);
    ck_assert_int_eq(import_opts(0, &others, reason), OG_IMPORT_INVALID);
    tp_resp_opts unknown = tp_good_opts(&ca, &leaf, -1, 3600);
    unknown.status = V_OCSP_CERTSTATUS_UNKNOWN;
    ck_assert_int_eq(import_opts(0, &unknown, reason), OG_IMPORT_INVALID);
    unsigned char junk[64];
    memset(junk, 0x30, sizeof(junk));
    ck_assert_int_eq(import(0, junk, sizeof(junk), reason), OG_IMPORT_INVALID);
    ck_assert(staple_of(0, &m));
    ck_assert_int_eq(m.this_update, tu);
    ck_assert_int_eq(stores, 1);
    /* the other certificate's own response goes to its own slot */
    ck_assert_int_eq(import_opts(1, &others, reason), OG_IMPORT_STAPLED);
    /* a newer revocation replaces the good one; the good one never comes back */
    ck_assert_int_eq(import(0, revoked, revoked_len, reason), OG_IMPORT_STAPLED);
    ck_assert_int_eq(import(0, good, good_len, reason), OG_IMPORT_OLDER);
    ck_assert(staple_of(0, &m));
    ck_assert_int_eq(m.status, OG_STATUS_REVOKED);
    finish();
    OPENSSL_free(good);
    OPENSSL_free(revoked);
    ck_assert_int_eq(tl_count("OG01011"), 3);
    ck_assert_int_eq(tl_count("OG01012"), 8);
}
END_TEST

/* Refreshes asked at run time: noticed within a second, at most once per
 * OG_CONTROL_REFRESH_EVERY per certificate, not forgotten meanwhile. */
START_TEST(refresh_requests_are_honoured_and_spaced)
{
    start();
    sleep(1);                      /* the first attempts at start failed; retries wait 30 s */
    ck_assert_int_eq(attempts_of(0), 1);
    ck_assert_int_eq(attempts_of(1), 1);
    og_control_request_refresh(ctl, 0);
    usleep(1200000);
    ck_assert_int_eq(attempts_of(0), 2);
    ck_assert_int_eq(attempts_of(1), 1);
    ck_assert_int_eq(tl_count("OG01014: subject CN=a.control.test"), 1);
    og_control_request_refresh(ctl, -1);    /* a within the spacing, b at once */
    usleep(1200000);
    ck_assert_int_eq(attempts_of(0), 2);
    ck_assert_int_eq(attempts_of(1), 2);
    sleep(OG_CONTROL_REFRESH_EVERY);       /* then a too, not forgotten */
    ck_assert_int_eq(attempts_of(0), 3);
    /* a's responder is down now (three failures): a request is its probe */
    ck_assert_int_eq(tl_count("OG01101:"), 1);
    sleep(OG_CONTROL_REFRESH_EVERY - 1);
    og_control_request_refresh(ctl, 0);
    usleep(1200000);
    ck_assert_int_eq(attempts_of(0), 4);
    finish();
}
END_TEST

static char dir[64];

/* The refresher runs OCSPGuardNotifyCmd: errored after the failed first
 * fetch, recovered once an import staples a response. */
START_TEST(notifications_come_from_the_refresher)
{
    char script[128], out[160], buf[512] = "";
    const char *argv[] = { script };
    og_notify_cfg notify = { argv, 1, 0, 0, 0, tl_log, NULL };
    const char *names[] = { "a.example", "b.example" };
    snprintf(dir, sizeof(dir), "/tmp/og_control.XXXXXX");
    ck_assert_ptr_nonnull(mkdtemp(dir));
    snprintf(script, sizeof(script), "%s/notify.sh", dir);
    snprintf(out, sizeof(out), "%s/out", dir);
    FILE *f = fopen(script, "w");
    fprintf(f, "#!/bin/sh\necho \"$@\" >> %s\n", out);
    fclose(f);
    chmod(script, 0755);
    cfg.notify = &notify;
    cfg.names = names;
    cfg.ntargets = 1;
    start();
    sleep(2);
    char reason[256];
    tp_resp_opts good = tp_good_opts(&ca, &leaf, -10, 3600);
    ck_assert_int_eq(import_opts(0, &good, reason), OG_IMPORT_STAPLED);
    sleep(2);
    finish();
    f = fopen(out, "r");
    ck_assert_ptr_nonnull(f);
    size_t n = fread(buf, 1, sizeof(buf) - 1, f);
    buf[n] = '\0';
    fclose(f);
    snprintf(out, sizeof(out), "rm -rf %s", dir);
    ck_assert_int_eq(system(out), 0);
    ck_assert_str_eq(buf, "ocsp-errored a.example\nocsp-recovered a.example\n");
}
END_TEST

Suite *control_suite(void)
{
    Suite *s = suite_create("control");
    TCase *tc = tcase_create("region");
    tcase_add_test(tc, mailbox_round_trip);
    tcase_add_test(tc, mailbox_withdraw_and_abandon);
    tcase_add_test(tc, mailbox_bounds_and_sweep);
    tcase_add_test(tc, refresh_flags);
    tcase_add_test(tc, a_request_wakes_the_waiting_refresher);
    tcase_add_test(tc, carry_over_by_id_within_the_mapped_size);
    tcase_add_test(tc, random_region_contents_are_harmless);
    suite_add_tcase(s, tc);
    TCase *rc = tcase_create("refresher");
    tcase_add_checked_fixture(rc, rsetup, rteardown);
    tcase_set_timeout(rc, 60);
    tcase_add_test(rc, import_is_verified_and_follows_the_replace_rule);
    tcase_add_test(rc, refresh_requests_are_honoured_and_spaced);
    tcase_add_test(rc, notifications_come_from_the_refresher);
    suite_add_tcase(s, rc);
    return s;
}
