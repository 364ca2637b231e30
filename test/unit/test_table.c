/* Copyright 2026 the mod_ocsp_guard developers. Licensed under the Apache License 2.0 (LICENSE). */
/* The staple table: lookup, publish/read, what is stapled, carry-over, and
 * readers never seeing a torn response while a writer works. */
#include <check.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <openssl/sha.h>

#include "og_table.h"

#define N 64

static unsigned char ids[N][OG_ID_LEN];
static void *mem;
static og_table *table;

static void make_ids(unsigned char (*out)[OG_ID_LEN], unsigned n, unsigned seed)
{
    for (unsigned i = 0; i < n; i++) {
        unsigned v = i + seed;
        SHA1((const unsigned char *)&v, sizeof(v), out[i]);
    }
}

static void setup(void)
{
    make_ids(ids, N, 0);
    mem = calloc(1, og_table_size(N));
    table = og_table_init(mem, og_table_size(N), N, (const unsigned char (*)[OG_ID_LEN])ids);
    ck_assert_ptr_nonnull(table);
}

static void teardown(void)
{
    og_table_free(table);
    free(mem);
}

static og_slot_meta meta(og_cert_status st, time_t next)
{
    og_resp_info info = { st, next - 100, next, 1, next - 100, 0 };
    return og_slot_meta_of(&info, OG_SOURCE_RESPONDER);
}

START_TEST(find_every_id_and_no_other)
{
    for (unsigned i = 0; i < N; i++)
        ck_assert_int_eq(og_table_find(table, ids[i], OG_ID_LEN), (int)i);
    unsigned char stranger[OG_ID_LEN];
    memset(stranger, 0xEE, sizeof(stranger));
    ck_assert_int_eq(og_table_find(table, stranger, OG_ID_LEN), -1);
    ck_assert_int_eq(og_table_find(table, ids[0], 19), -1);
    ck_assert(og_table_valid(mem, og_table_size(N)));
    ck_assert(!og_table_valid(mem, 16));
}
END_TEST

/* The shared memory is the server's user's to write (any code in a child
 * can): the parent, root, reads it through a handle whose bounds it computed
 * itself. A rewritten header is refused by og_table_attach and changes
 * nothing for a handle made before; a poisoned index ends the lookup. */
START_TEST(rewritten_shared_memory_is_never_trusted)
{
    size_t size = og_table_size(N);
    uint32_t huge = 0x7fffffffu;
    unsigned char stranger[OG_ID_LEN], buf[OG_SLOT_CAPACITY];
    size_t len;
    og_slot_meta m;
    og_table *attached = og_table_attach(mem, size);
    ck_assert_ptr_nonnull(attached);
    ck_assert_uint_eq(og_table_count(attached), N);
    og_table_free(attached);
    ck_assert_ptr_null(og_table_attach(mem, size - 1));
    memcpy((char *)mem + 8, &huge, sizeof(huge));             /* the header's slot count */
    ck_assert_ptr_null(og_table_attach(mem, size));
    ck_assert(!og_table_valid(mem, size));
    ck_assert_uint_eq(og_table_count(table), N);
    ck_assert_int_eq(og_table_find(table, ids[N - 1], OG_ID_LEN), N - 1);
    ck_assert(!og_table_read(table, N, buf, sizeof(buf), &len, &m));
    /* every word of the memory, index included, now says "slot 1" */
    for (size_t off = 0; off + 4 <= size; off += 4)
        memcpy((char *)mem + off, &(uint32_t){ 1 }, 4);
    memset(stranger, 0xEE, sizeof(stranger));
    ck_assert_int_eq(og_table_find(table, stranger, OG_ID_LEN), -1);
    ck_assert_ptr_null(og_table_attach(mem, size));
    /* every slot now looks mid-write: the parent's read gives up at once */
    ck_assert(!og_table_read_nowait(table, 0, &m));
    ck_assert(!og_table_read_nowait(table, N, &m));
}
END_TEST

START_TEST(duplicate_ids_rejected)
{
    unsigned char dup[2][OG_ID_LEN];
    memcpy(dup[0], ids[3], OG_ID_LEN);
    memcpy(dup[1], ids[3], OG_ID_LEN);
    void *m = calloc(1, og_table_size(2));
    ck_assert_ptr_null(og_table_init(m, og_table_size(2), 2, (const unsigned char (*)[OG_ID_LEN])dup));
    ck_assert_ptr_null(og_table_init(m, 10, 2, (const unsigned char (*)[OG_ID_LEN])ids));
    free(m);
}
END_TEST

START_TEST(staple_rules)
{
    unsigned char der[100], buf[OG_SLOT_CAPACITY];
    size_t len = 1;
    time_t now = 1000000;
    memset(der, 0x30, sizeof(der));
    /* empty slot: nothing */
    ck_assert(!og_table_staple(table, 5, now, buf, sizeof(buf), &len));
    og_slot_meta m = meta(OG_STATUS_GOOD, now + 10);
    ck_assert(og_table_publish(table, 5, der, sizeof(der), &m));
    ck_assert(og_table_staple(table, 5, now, buf, sizeof(buf), &len));
    ck_assert_uint_eq(len, sizeof(der));
    ck_assert_mem_eq(buf, der, sizeof(der));
    /* at and after nextUpdate: never stapled */
    ck_assert(!og_table_staple(table, 5, now + 10, buf, sizeof(buf), &len));
    ck_assert(!og_table_staple(table, 5, now + 1000, buf, sizeof(buf), &len));
    /* revoked is stapled, unknown is not */
    m = meta(OG_STATUS_REVOKED, now + 10);
    og_table_publish(table, 5, der, sizeof(der), &m);
    ck_assert(og_table_staple(table, 5, now, buf, sizeof(buf), &len));
    m = meta(OG_STATUS_UNKNOWN, now + 10);
    og_table_publish(table, 5, der, sizeof(der), &m);
    ck_assert(!og_table_staple(table, 5, now, buf, sizeof(buf), &len));
    /* cleared */
    m = meta(OG_STATUS_GOOD, now + 10);
    og_table_publish(table, 5, der, sizeof(der), &m);
    og_table_clear(table, 5);
    ck_assert(!og_table_staple(table, 5, now, buf, sizeof(buf), &len));
    /* too large for a slot, and slots out of range */
    unsigned char *big = calloc(1, OG_SLOT_CAPACITY + 1);
    ck_assert(!og_table_publish(table, 5, big, OG_SLOT_CAPACITY + 1, &m));
    free(big);
    ck_assert(!og_table_publish(table, N, der, sizeof(der), &m));
    ck_assert(!og_table_staple(table, N, now, buf, sizeof(buf), &len));
    /* a reader buffer too small gets nothing rather than a cut response */
    og_table_publish(table, 5, der, sizeof(der), &m);
    ck_assert(!og_table_staple(table, 5, now, buf, 10, &len));
}
END_TEST

START_TEST(carry_over_by_id)
{
    unsigned char other_ids[N][OG_ID_LEN], der[50], buf[OG_SLOT_CAPACITY];
    size_t len;
    time_t now = 1000;
    og_slot_meta m = meta(OG_STATUS_GOOD, now + 100), got;
    memset(der, 0x42, sizeof(der));
    og_table_publish(table, 7, der, sizeof(der), &m);
    og_table_publish(table, 9, der, 20, &m);
    /* the next generation has id 7 at another place, and no id 9 */
    make_ids(other_ids, N, 1000);
    memcpy(other_ids[40], ids[7], OG_ID_LEN);
    void *m2 = calloc(1, og_table_size(N));
    og_table *t2 = og_table_init(m2, og_table_size(N), N, (const unsigned char (*)[OG_ID_LEN])other_ids);
    ck_assert_ptr_nonnull(t2);
    ck_assert_uint_eq(og_table_carry_over(t2, table), 1);
    ck_assert(og_table_read(t2, 40, buf, sizeof(buf), &len, &got));
    ck_assert_uint_eq(len, sizeof(der));
    ck_assert_int_eq(got.next_update, now + 100);
    ck_assert_uint_eq(got.source, OG_SOURCE_RESTART);
    og_table_free(t2);
    free(m2);
}
END_TEST

/* A writer publishes responses whose bytes all equal their length's low
 * byte; readers check every copy they get is whole. */
static volatile int stop_flag;

static void *writer(void *arg)
{
    static unsigned char der[OG_SLOT_CAPACITY];
    unsigned n = 0;
    (void)arg;
    while (!stop_flag) {
        size_t len = 1 + (n * 7919u) % (OG_SLOT_CAPACITY - 1);
        memset(der, (int)(len & 0xFF), len);
        og_slot_meta m = meta(OG_STATUS_GOOD, (time_t)(2000000 + len));
        og_table_publish(table, 1, der, len, &m);
        n++;
    }
    return NULL;
}

static void *reader(void *arg)
{
    unsigned char *buf = malloc(OG_SLOT_CAPACITY);
    long *torn = arg;
    for (int i = 0; i < 200000; i++) {
        size_t len;
        og_slot_meta m;
        if (!og_table_read(table, 1, buf, OG_SLOT_CAPACITY, &len, &m) || len == 0)
            continue;
        if (m.next_update != (time_t)(2000000 + len))
            (*torn)++;
        for (size_t j = 0; j < len; j += 97)
            if (buf[j] != (unsigned char)(len & 0xFF)) {
                (*torn)++;
                break;
            }
    }
    free(buf);
    return NULL;
}

START_TEST(readers_never_see_torn_writes)
{
    pthread_t w, r[3];
    long torn[3] = { 0, 0, 0 };
    stop_flag = 0;
    pthread_create(&w, NULL, writer, NULL);
    for (int i = 0; i < 3; i++)
        pthread_create(&r[i], NULL, reader, &torn[i]);
    for (int i = 0; i < 3; i++)
        pthread_join(r[i], NULL);
    stop_flag = 1;
    pthread_join(w, NULL);
    ck_assert_int_eq(torn[0] + torn[1] + torn[2], 0);
}
END_TEST

/* A handshake during a publish: the writer holds the slot mid-write for
 * about a millisecond (a writer preempted mid-copy); the reader must get a
 * consistent staple, the old or the new one, never "busy" and nothing. */
static volatile int mid_write;

static void *slow_writer(void *arg)
{
    static unsigned char der[OG_SLOT_CAPACITY];
    unsigned round = *(unsigned *)arg;
    struct timespec ms = { 0, 1000000 };
    size_t len = 2000 + round;
    memset(der, (int)(len & 0xFF), len);
    og_slot_meta m = meta(OG_STATUS_GOOD, (time_t)(2000000 + len));
    ck_assert(og_table_publish_begin(table, 2, der, len, &m));
    __atomic_store_n(&mid_write, 1, __ATOMIC_SEQ_CST);
    nanosleep(&ms, NULL);
    og_table_publish_commit(table, 2);
    return NULL;
}

START_TEST(reader_during_a_slow_publish_gets_a_staple)
{
    unsigned char *buf = malloc(OG_SLOT_CAPACITY), first[1000];
    memset(first, 1000 & 0xFF, sizeof(first));
    og_slot_meta m0 = meta(OG_STATUS_GOOD, 2000000 + sizeof(first));
    ck_assert(og_table_publish(table, 2, first, sizeof(first), &m0));
    for (unsigned round = 0; round < 20; round++) {
        pthread_t w;
        size_t len = 0;
        og_slot_meta m;
        mid_write = 0;
        pthread_create(&w, NULL, slow_writer, &round);
        while (!__atomic_load_n(&mid_write, __ATOMIC_SEQ_CST))
            ;
        /* the handshake's question, asked while the slot is mid-write */
        ck_assert_msg(og_table_staple(table, 2, 1000000, buf, OG_SLOT_CAPACITY, &len),
                      "round %u: no staple during a publish", round);
        ck_assert(og_table_read(table, 2, buf, OG_SLOT_CAPACITY, &len, &m));
        ck_assert_int_eq(m.next_update, (time_t)(2000000 + len));
        for (size_t j = 0; j < len; j++)
            ck_assert_uint_eq(buf[j], len & 0xFF);
        pthread_join(w, NULL);
    }
    free(buf);
}
END_TEST

static double elapsed_ms(const struct timespec *a)
{
    struct timespec b;
    clock_gettime(CLOCK_MONOTONIC, &b);
    return (double)(b.tv_sec - a->tv_sec) * 1e3 + (double)(b.tv_nsec - a->tv_nsec) / 1e6;
}

/* A writer that died mid-publish: readers get its response from the spare
 * at once (they never wait for a writer that will not finish), and
 * og_table_repair completes the slot and frees the spare. With every spare
 * held by such writers, a publish falls back to writing in place: readers of
 * that slot then wait a bounded time, not forever, until a repair. */
START_TEST(writer_dying_mid_publish_is_harmless_and_repaired)
{
    unsigned char der[300], buf[OG_SLOT_CAPACITY];
    size_t len = 0;
    struct timespec t0;
    og_slot_meta m = meta(OG_STATUS_GOOD, 2000000), got;
    memset(der, 0x30, sizeof(der));
    ck_assert(og_table_publish(table, 4, der, sizeof(der), &m));
    ck_assert(og_table_publish_begin(table, 3, der, 250, &m));   /* and never commits */
    ck_assert(og_table_staple(table, 3, 1000000, buf, sizeof(buf), &len));
    ck_assert_uint_eq(len, 250);
    ck_assert_uint_eq(og_table_repair(table), 1);
    ck_assert(og_table_read(table, 3, buf, sizeof(buf), &len, &got));
    ck_assert_uint_eq(len, 250);
    ck_assert_int_eq(got.next_update, 2000000);
    ck_assert_uint_eq(og_table_repair(table), 0);
    /* writers die on slots 10..10+N-1 until the spares run out */
    unsigned s, held = 0;
    for (s = 10; s < N; s++) {
        og_slot_meta ms = meta(OG_STATUS_GOOD, 3000000 + s);
        ck_assert(og_table_publish_begin(table, s, der, 100 + s, &ms));
        if (og_table_read(table, s, buf, sizeof(buf), &len, &got) && len == 100 + s) {
            held++;
            continue;
        }
        break;                   /* no spare left: written in place, readers wait */
    }
    ck_assert_msg(s < N && held >= 4, "%u spares", held);
    clock_gettime(CLOCK_MONOTONIC, &t0);
    ck_assert(!og_table_read(table, s, buf, sizeof(buf), &len, NULL));
    double waited = elapsed_ms(&t0);
    ck_assert_msg(waited >= OG_TABLE_READ_WAIT_NS / 1e6 * 0.9 && waited < 1000, "waited %.2f ms", waited);
    ck_assert_uint_eq(og_table_repair(table), held + 1);
    for (unsigned i = 10; i < s; i++) {
        ck_assert(og_table_read(table, i, buf, sizeof(buf), &len, &got));
        ck_assert_uint_eq(len, 100 + i);
        ck_assert_int_eq(got.next_update, 3000000 + i);
    }
    ck_assert(og_table_read(table, s, buf, sizeof(buf), &len, NULL));
    ck_assert_uint_eq(len, 0);   /* the in-place one was torn: cleared */
    /* the spares are free again: a held publish is readable at once */
    ck_assert(og_table_publish_begin(table, 5, der, 77, &m));
    ck_assert(og_table_read(table, 5, buf, sizeof(buf), &len, NULL));
    ck_assert_uint_eq(len, 77);
    og_table_publish_commit(table, 5);
    ck_assert(og_table_staple(table, 4, 1000000, buf, sizeof(buf), &len));
    ck_assert_uint_eq(len, sizeof(der));
}
END_TEST

START_TEST(large_table_lookup)
{
    enum { BIG = 10000 };
    unsigned char (*big_ids)[OG_ID_LEN] = malloc(BIG * OG_ID_LEN);
    for (unsigned i = 0; i < BIG; i++)
        SHA1((const unsigned char *)&i, sizeof(i), big_ids[i]);
    void *m = calloc(1, og_table_size(BIG));
    og_table *t = og_table_init(m, og_table_size(BIG), BIG, (const unsigned char (*)[OG_ID_LEN])big_ids);
    ck_assert_ptr_nonnull(t);
    for (unsigned i = 0; i < BIG; i++)
        ck_assert_int_eq(og_table_find(t, big_ids[i], OG_ID_LEN), (int)i);
    og_table_free(t);
    free(m);
    free(big_ids);
}
END_TEST

/* ---- must-staple flags, start-up signals, the bounded wait ---- */

START_TEST(slot_flags_lifecycle)
{
    unsigned char der[40];
    og_slot_meta m = meta(OG_STATUS_GOOD, 2000000);
    memset(der, 0x30, sizeof(der));
    ck_assert_uint_eq(og_table_flags(table, 6), 0);
    og_table_mark_must_staple(table, 6);
    og_table_fetch_begin(table, 6);
    ck_assert_uint_eq(og_table_flags(table, 6), OG_SLOT_MUST_STAPLE | OG_SLOT_FETCHING);
    /* publishing, clearing and repairing the slot leave its flags alone */
    ck_assert(og_table_publish(table, 6, der, sizeof(der), &m));
    og_table_clear(table, 6);
    og_table_repair(table);
    ck_assert_uint_eq(og_table_flags(table, 6), OG_SLOT_MUST_STAPLE | OG_SLOT_FETCHING);
    og_table_fetch_end(table, 6);
    ck_assert_uint_eq(og_table_flags(table, 6), OG_SLOT_MUST_STAPLE | OG_SLOT_TRIED);
    /* a new round: in flight again, tried stays */
    og_table_fetch_begin(table, 6);
    og_table_fetch_begin(table, 8);
    og_table_fetch_reset(table);     /* a refresher died mid-fetch */
    ck_assert_uint_eq(og_table_flags(table, 6), OG_SLOT_MUST_STAPLE | OG_SLOT_TRIED);
    ck_assert_uint_eq(og_table_flags(table, 8), 0);
    ck_assert_uint_eq(og_table_flags(table, 7), 0);   /* neighbours untouched */
    /* out of range: nothing, no crash */
    og_table_mark_must_staple(table, N);
    og_table_fetch_begin(table, N);
    og_table_fetch_end(table, N);
    ck_assert_uint_eq(og_table_flags(table, N), 0);
    /* a new generation starts with no flags: carry-over copies responses only */
    void *m2 = calloc(1, og_table_size(N));
    og_table *t2 = og_table_init(m2, og_table_size(N), N, (const unsigned char (*)[OG_ID_LEN])ids);
    og_table_publish(table, 6, der, sizeof(der), &m);
    ck_assert_uint_eq(og_table_carry_over(t2, table), 1);
    ck_assert_uint_eq(og_table_flags(t2, 6), 0);
    og_table_free(t2);
    free(m2);
}
END_TEST

START_TEST(status_keeps_the_last_response_after_it_expired)
{
    unsigned char der[40], buf[OG_SLOT_CAPACITY];
    size_t len;
    og_slot_status st;
    og_slot_meta m = meta(OG_STATUS_REVOKED, 5000);
    memset(der, 1, sizeof(der));
    ck_assert(og_table_status_read(table, 3, &st));
    ck_assert_int_eq(st.last.status, OG_STATUS_NONE);
    ck_assert_int_eq(st.last_fetch, 0);
    og_table_publish(table, 3, der, sizeof(der), &m);
    ck_assert(og_table_status_read(table, 3, &st));
    ck_assert_int_eq(st.last.status, OG_STATUS_REVOKED);
    ck_assert_int_eq(st.last.next_update, 5000);
    ck_assert_uint_eq(st.last.source, OG_SOURCE_RESPONDER);
    /* expiry clears the staple, the views still know what expired */
    og_table_clear(table, 3);
    ck_assert(!og_table_staple(table, 3, 4000, buf, sizeof(buf), &len));
    ck_assert(og_table_status_read(table, 3, &st));
    ck_assert_int_eq(st.last.status, OG_STATUS_REVOKED);
    ck_assert_int_eq(st.last.this_update, 4900);
    ck_assert(!og_table_status_read(table, N, &st));
}
END_TEST

START_TEST(fetch_notes_count_and_track_failures)
{
    og_slot_status st;
    og_table_stats ts;
    char longer[400];
    og_fetch_note fail = { OG_FETCH_ERROR, 1000, 50, 1, 1030, 0, 0, "cannot reach the OCSP responder (refused)" };
    og_fetch_note again = { OG_FETCH_INVALID, 1030, 51, 2, 1090, 1, 7, "bad signature (x)" };
    og_fetch_note ok = { OG_FETCH_OK, 1090, 400000, 0, 5000, 1, -3, NULL };
    og_table_stats_read(table, &ts);
    ck_assert_int_eq(ts.shared_cache, OG_SHARED_NONE);
    og_table_note_fetch(table, 2, &fail);
    ck_assert(og_table_status_read(table, 2, &st));
    ck_assert_uint_eq(st.failures, 1);
    ck_assert_int_eq(st.failing_since, 1000);
    ck_assert_int_eq(st.next_refresh, 1030);
    ck_assert_int_eq(st.last_result, OG_FETCH_ERROR);
    ck_assert_str_eq(st.last_error, "cannot reach the OCSP responder (refused)");
    ck_assert_int_eq(st.last_error_at, 1000);
    ck_assert(!st.skew_known);
    og_table_note_fetch(table, 2, &again);
    ck_assert(og_table_status_read(table, 2, &st));
    ck_assert_uint_eq(st.failures, 2);
    ck_assert_int_eq(st.failing_since, 1000);      /* since the first of them */
    ck_assert(st.skew_known);
    ck_assert_int_eq(st.skew, 7);
    og_table_note_fetch(table, 2, &ok);
    ck_assert(og_table_status_read(table, 2, &st));
    ck_assert_uint_eq(st.failures, 0);
    ck_assert_int_eq(st.failing_since, 0);
    ck_assert_int_eq(st.last_result, OG_FETCH_OK);
    ck_assert_int_eq(st.last_fetch, 1090);
    ck_assert_uint_eq(st.last_fetch_ms, 400000);
    ck_assert_str_eq(st.last_error, "bad signature (x)");  /* the last error stays, with its time */
    ck_assert_int_eq(st.last_error_at, 1030);
    ck_assert_int_eq(st.skew, -3);
    og_table_stats_read(table, &ts);
    ck_assert_uint_eq(ts.fetches[OG_FETCH_OK], 1);
    ck_assert_uint_eq(ts.fetches[OG_FETCH_ERROR], 1);
    ck_assert_uint_eq(ts.fetches[OG_FETCH_INVALID], 1);
    /* 50 ms is within the first bucket's bound, 51 ms the next one's,
     * 400 s above the last bound */
    ck_assert_uint_eq(ts.fetch_buckets[0], 1);
    ck_assert_uint_eq(ts.fetch_buckets[1], 1);
    ck_assert_uint_eq(ts.fetch_buckets[OG_FETCH_BUCKETS], 1);
    ck_assert_uint_eq(ts.fetch_ms_sum, 400101);
    /* an error text longer than the record is cut to fit */
    memset(longer, 'e', sizeof(longer) - 1);
    longer[sizeof(longer) - 1] = '\0';
    fail.error = longer;
    og_table_note_fetch(table, 2, &fail);
    ck_assert(og_table_status_read(table, 2, &st));
    ck_assert_uint_eq(strlen(st.last_error), OG_ERROR_TEXT - 1);
    og_table_note_schedule(table, 2, 2000, 2600, 0);
    ck_assert(og_table_status_read(table, 2, &st));
    ck_assert_int_eq(st.next_refresh, 2600);
    ck_assert_uint_eq(st.failures, 0);
    og_table_note_shared_cache(table, OG_SHARED_DOWN);
    og_table_note_restart(table);
    og_table_stats_read(table, &ts);
    ck_assert_int_eq(ts.shared_cache, OG_SHARED_DOWN);
    ck_assert_uint_eq(ts.refresher_restarts, 1);
}
END_TEST

START_TEST(handshake_counters)
{
    uint64_t yes, no;
    for (int i = 0; i < 3; i++)
        og_table_count_handshake(table, 4, 1);
    og_table_count_handshake(table, 4, 0);
    og_table_count_handshake(table, N, 1);          /* out of range: ignored */
    og_table_handshakes(table, 4, &yes, &no);
    ck_assert_uint_eq(yes, 3);
    ck_assert_uint_eq(no, 1);
    og_table_handshakes(table, 5, &yes, &no);
    ck_assert_uint_eq(yes + no, 0);
}
END_TEST

START_TEST(carry_over_keeps_status_counters_and_source)
{
    unsigned char other_ids[N][OG_ID_LEN], der[50];
    og_slot_meta m = meta(OG_STATUS_GOOD, 9000), got;
    og_fetch_note fail = { OG_FETCH_ERROR, 1000, 20, 3, 1100, 0, 0, "down" };
    og_slot_status st;
    og_table_stats ts;
    uint64_t yes, no;
    size_t len;
    memset(der, 0x42, sizeof(der));
    og_table_publish(table, 7, der, sizeof(der), &m);
    og_table_count_handshake(table, 7, 1);
    og_table_count_handshake(table, 9, 0);
    og_table_note_fetch(table, 9, &fail);            /* 9 never had a response */
    og_table_note_restart(table);
    make_ids(other_ids, N, 1000);
    memcpy(other_ids[40], ids[7], OG_ID_LEN);
    memcpy(other_ids[41], ids[9], OG_ID_LEN);
    void *m2 = calloc(1, og_table_size(N));
    og_table *t2 = og_table_init(m2, og_table_size(N), N, (const unsigned char (*)[OG_ID_LEN])other_ids);
    ck_assert_uint_eq(og_table_carry_over(t2, table), 1);
    ck_assert(og_table_read(t2, 40, NULL, 0, &len, &got));
    ck_assert_uint_eq(got.source, OG_SOURCE_RESTART);
    ck_assert(og_table_status_read(t2, 40, &st));
    ck_assert_uint_eq(st.last.source, OG_SOURCE_RESPONDER);   /* where it first came from */
    ck_assert_int_eq(st.last.next_update, 9000);
    og_table_handshakes(t2, 40, &yes, &no);
    ck_assert_uint_eq(yes, 1);
    ck_assert(og_table_status_read(t2, 41, &st));
    ck_assert_uint_eq(st.failures, 3);
    ck_assert_str_eq(st.last_error, "down");
    og_table_handshakes(t2, 41, &yes, &no);
    ck_assert_uint_eq(no, 1);
    og_table_stats_read(t2, &ts);
    ck_assert_uint_eq(ts.refresher_restarts, 1);
    ck_assert_uint_eq(ts.fetches[OG_FETCH_ERROR], 1);
    og_table_free(t2);
    free(m2);
}
END_TEST

START_TEST(local_pass_signals)
{
    unsigned done = 99;
    ck_assert(!og_table_local_loaded(table, &done));
    ck_assert_uint_eq(done, 0);
    og_table_local_progress(table);
    og_table_local_progress(table);
    ck_assert(!og_table_local_loaded(table, &done));
    ck_assert_uint_eq(done, 2);
    og_table_local_finished(table);
    ck_assert(og_table_local_loaded(table, NULL));
}
END_TEST

/* What the "refresher" thread does to slot 1 after delay_ms. */
typedef struct fetch_sim {
    unsigned delay_ms;
    int publish;                 /* a good response before the end of the round */
    int end;                     /* end the round (else it stays in flight) */
} fetch_sim;

static void *simulate_fetch(void *arg)
{
    const fetch_sim *f = arg;
    unsigned char der[64];
    og_slot_meta m = meta(OG_STATUS_GOOD, time(NULL) + 3600);
    struct timespec d = { f->delay_ms / 1000, (long)(f->delay_ms % 1000) * 1000000L };
    memset(der, 0x5a, sizeof(der));
    nanosleep(&d, NULL);
    if (f->publish)
        og_table_publish(table, 1, der, sizeof(der), &m);
    if (f->end)
        og_table_fetch_end(table, 1);
    return NULL;
}

/* og_table_staple_wait on slot 1 with sim running; returns its result,
 * *ms how long the call took. */
static int wait_with(const fetch_sim *sim, const og_wait_bounds *b, size_t *len, long *waited, double *ms)
{
    unsigned char buf[OG_SLOT_CAPACITY];
    struct timespec t0;
    pthread_t th;
    int got;
    pthread_create(&th, NULL, simulate_fetch, (void *)sim);
    clock_gettime(CLOCK_MONOTONIC, &t0);
    got = og_table_staple_wait(table, 1, b, buf, sizeof(buf), len, waited);
    *ms = elapsed_ms(&t0);
    pthread_join(th, NULL);
    if (got)
        ck_assert_uint_eq(buf[0], 0x5a);
    return got;
}

START_TEST(wait_only_for_must_staple_in_flight)
{
    og_wait_bounds b = { 2000, 0 };
    fetch_sim publish_late = { 300, 1, 1 };
    size_t len = 0;
    long waited = 1;
    double ms;
    /* not must-staple: never waits, even with its fetch in flight */
    og_table_fetch_begin(table, 1);
    ck_assert(!og_table_would_wait(table, 1, &b));
    ck_assert(!wait_with(&publish_late, &b, &len, &waited, &ms));
    ck_assert_int_eq(waited, 0);
    ck_assert_msg(ms < 50, "waited %.1f ms", ms);
    /* must-staple with no fetch in flight (and no start-up): no wait either */
    og_table_clear(table, 1);
    og_table_fetch_end(table, 1);
    og_table_mark_must_staple(table, 1);
    ck_assert(!og_table_would_wait(table, 1, &b));
    ck_assert(!wait_with(&publish_late, &b, &len, &waited, &ms));
    ck_assert_msg(waited == 0 && ms < 50, "waited %ld / %.1f ms", waited, ms);
    /* OCSPGuardMustStapleWait 0: no wait with the fetch in flight */
    og_wait_bounds off = { 0, 0 };
    og_table_clear(table, 1);
    og_table_fetch_begin(table, 1);
    ck_assert(!og_table_would_wait(table, 1, &off));
    ck_assert(!wait_with(&publish_late, &off, &len, &waited, &ms));
    ck_assert_msg(waited == 0 && ms < 50, "waited %ld / %.1f ms", waited, ms);
}
END_TEST

START_TEST(wait_ends_when_the_staple_appears)
{
    og_wait_bounds b = { 2000, 0 };
    fetch_sim publish_late = { 150, 1, 0 };      /* published, round not ended yet */
    size_t len = 0;
    long waited;
    double ms;
    og_table_mark_must_staple(table, 1);
    og_table_fetch_begin(table, 1);
    ck_assert(og_table_would_wait(table, 1, &b));
    ck_assert(wait_with(&publish_late, &b, &len, &waited, &ms));
    ck_assert_uint_eq(len, 64);
    ck_assert_msg(ms >= 140 && ms < 150 + 10 * OG_WAIT_POLL_MS, "%.1f ms", ms);
    ck_assert_msg(waited >= 140 && waited <= (long)ms + 1, "waited %ld", waited);
    /* the writer published while a handshake waited: the waiter holds no lock */
}
END_TEST

START_TEST(wait_ends_when_the_fetch_ends_without_one)
{
    og_wait_bounds b = { 2000, 0 };
    fetch_sim fail_late = { 150, 0, 1 };
    fetch_sim publish_then_end = { 100, 1, 1 };
    size_t len = 0;
    long waited;
    double ms;
    og_table_mark_must_staple(table, 1);
    og_table_fetch_begin(table, 1);
    ck_assert(!wait_with(&fail_late, &b, &len, &waited, &ms));
    ck_assert_msg(ms >= 140 && ms < 150 + 10 * OG_WAIT_POLL_MS, "%.1f ms", ms);
    /* a publish right before the end of the round is never missed */
    og_table_fetch_begin(table, 1);
    ck_assert(wait_with(&publish_then_end, &b, &len, &waited, &ms));
}
END_TEST

START_TEST(wait_is_bounded)
{
    og_wait_bounds b = { 200, 0 };
    fetch_sim hang = { 0, 0, 0 };                /* in flight for good */
    size_t len = 0;
    long waited;
    double ms;
    og_table_mark_must_staple(table, 1);
    og_table_fetch_begin(table, 1);
    ck_assert(!wait_with(&hang, &b, &len, &waited, &ms));
    ck_assert_msg(ms >= 195 && ms < 400, "%.1f ms", ms);
    ck_assert_msg(waited >= 195 && waited < 400, "waited %ld", waited);
}
END_TEST

START_TEST(startup_waits_for_the_first_fetch)
{
    og_wait_bounds b = { 0, 300 };               /* OCSPGuardMustStapleWait 0 */
    fetch_sim queued = { 0, 0, 0 }, late = { 100, 1, 1 };
    size_t len = 0;
    long waited;
    double ms;
    og_table_mark_must_staple(table, 1);
    /* no start-up mark (graceful restart, OCSPGuardStartupWait 0): no wait */
    ck_assert(!og_table_would_wait(table, 1, &b));
    og_table_set_startup_mark(table, og_table_now_ms());
    /* its first fetch queued, not yet in flight: waited for, until the window ends */
    ck_assert(og_table_would_wait(table, 1, &b));
    ck_assert(!wait_with(&queued, &b, &len, &waited, &ms));
    ck_assert_msg(ms >= 250 && ms < 500, "%.1f ms", ms);
    /* past the window: no wait */
    ck_assert(!og_table_would_wait(table, 1, &b));
    /* a first fetch that ends within the window brings the staple */
    og_table_set_startup_mark(table, og_table_now_ms());
    og_table_fetch_begin(table, 1);
    ck_assert(wait_with(&late, &b, &len, &waited, &ms));
    ck_assert_msg(ms < 300, "%.1f ms", ms);
    /* once tried, the start-up window no longer applies */
    og_table_clear(table, 1);
    og_table_set_startup_mark(table, og_table_now_ms());
    ck_assert(!og_table_would_wait(table, 1, &b));
}
END_TEST


/* ---- root and handshakes bound what the shared memory says ---- */

typedef struct bounded_wait {
    og_table *t;
    og_wait_bounds b;
    volatile int done;
    long waited;
} bounded_wait;

static void *bounded_waiter(void *arg)
{
    bounded_wait *w = arg;
    unsigned char buf[OG_SLOT_CAPACITY];
    size_t len = 0;
    og_table_staple_wait(w->t, 1, &w->b, buf, sizeof(buf), &len, &w->waited);
    w->done = 1;
    return NULL;
}

/* startup_mark_ms lives in the shared header, which any
 * child (the server's user) can write. A mark in the future makes every
 * must-staple handshake without a staple wait until mark + startup_ms, i.e.
 * without bound (OCSPGuardMustStapleWait 0.2 s, ResponderTimeout+1 = 0.3 s). */
START_TEST(poisoned_startup_mark_bounds_the_handshake_wait)
{
    bounded_wait w = { table, { 200, 300 }, 0, 0 };
    pthread_t th;
    og_table_mark_must_staple(table, 1);
    /* what a child writing the header does: a start-up mark an hour ahead */
    og_table_set_startup_mark(table, og_table_now_ms() + 3600 * 1000);
    ck_assert(pthread_create(&th, NULL, bounded_waiter, &w) == 0);
    for (int i = 0; i < 150 && !w.done; i++)
        usleep(10000);
    /* 1.5 s later: a handshake may wait at most max(200, 300) ms */
    ck_assert_msg(w.done, "the handshake still waits after 1.5 s (bounds 200/300 ms)");
    pthread_join(th, NULL);
    /* must-staple and in flight in the shared flags only (written through
     * another mapping): this process's handle never marked slot 2 */
    og_table *other = og_table_attach(mem, og_table_size(N));
    ck_assert_ptr_nonnull(other);
    og_table_mark_must_staple(other, 2);
    og_table_fetch_begin(other, 2);
    og_table_set_startup_mark(table, og_table_now_ms());
    ck_assert(og_table_flags(table, 2) & OG_SLOT_MUST_STAPLE);
    ck_assert(!og_table_would_wait(table, 2, &w.b));
    og_table_free(other);
}
END_TEST

/* At a graceful restart root (the parent) carries over the
 * old generation's table, which the server's user could write; every slot
 * left odd (mid-write) costs og_table_read's OG_TABLE_READ_WAIT_NS (5 ms),
 * and a status record left odd 5 ms more: 1000 certificates, 5-10 s in
 * post_config, while no child of either generation accepts. */
#define REVIEW_OLD 1000
START_TEST(carry_over_from_a_poisoned_table_is_quick)
{
    static unsigned char oids[REVIEW_OLD][OG_ID_LEN];
    unsigned char der[100];
    struct timespec a, b;
    double ms;
    size_t size = og_table_size(REVIEW_OLD);
    void *omem = calloc(1, size), *nmem = calloc(1, size);
    og_table *old, *neu;
    og_slot_meta m = meta(OG_STATUS_GOOD, time(NULL) + 3600);
    make_ids(oids, REVIEW_OLD, 7);
    old = og_table_init(omem, size, REVIEW_OLD, (const unsigned char (*)[OG_ID_LEN])oids);
    neu = og_table_init(nmem, size, REVIEW_OLD, (const unsigned char (*)[OG_ID_LEN])oids);
    ck_assert_ptr_nonnull(old);
    ck_assert_ptr_nonnull(neu);
    memset(der, 0x30, sizeof(der));
    /* the server's user leaves every slot mid-write (spares all claimed) */
    for (unsigned i = 0; i < REVIEW_OLD; i++)
        og_table_publish_begin(old, i, der, sizeof(der), &m);
    og_table *from = og_table_attach(omem, size);
    ck_assert_ptr_nonnull(from);
    clock_gettime(CLOCK_MONOTONIC, &a);
    og_table_carry_over(neu, from);
    clock_gettime(CLOCK_MONOTONIC, &b);
    ms = (b.tv_sec - a.tv_sec) * 1e3 + (b.tv_nsec - a.tv_nsec) / 1e6;
    ck_assert_msg(ms < 1000, "root's carry-over of %u poisoned slots took %.0f ms", REVIEW_OLD, ms);
    og_table_free(from);
    og_table_free(old);
    og_table_free(neu);
    free(omem);
    free(nmem);
}
END_TEST

Suite *table_suite(void)
{
    Suite *s = suite_create("table");
    TCase *tc = tcase_create("slots");
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, find_every_id_and_no_other);
    tcase_add_test(tc, rewritten_shared_memory_is_never_trusted);
    tcase_add_test(tc, duplicate_ids_rejected);
    tcase_add_test(tc, staple_rules);
    tcase_add_test(tc, carry_over_by_id);
    tcase_add_test(tc, readers_never_see_torn_writes);
    tcase_add_test(tc, reader_during_a_slow_publish_gets_a_staple);
    tcase_add_test(tc, writer_dying_mid_publish_is_harmless_and_repaired);
    tcase_add_test(tc, large_table_lookup);
    tcase_add_test(tc, slot_flags_lifecycle);
    tcase_add_test(tc, local_pass_signals);
    tcase_add_test(tc, wait_only_for_must_staple_in_flight);
    tcase_add_test(tc, wait_ends_when_the_staple_appears);
    tcase_add_test(tc, wait_ends_when_the_fetch_ends_without_one);
    tcase_add_test(tc, wait_is_bounded);
    tcase_add_test(tc, startup_waits_for_the_first_fetch);
    tcase_add_test(tc, status_keeps_the_last_response_after_it_expired);
    tcase_add_test(tc, fetch_notes_count_and_track_failures);
    tcase_add_test(tc, handshake_counters);
    tcase_add_test(tc, carry_over_keeps_status_counters_and_source);
    suite_add_tcase(s, tc);
    tcase_add_test(tc, poisoned_startup_mark_bounds_the_handshake_wait);
    tcase_add_test(tc, carry_over_from_a_poisoned_table_is_quick);
    return s;
}
