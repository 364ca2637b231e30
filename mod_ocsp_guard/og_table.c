/* Copyright 2026 the mod_ocsp_guard developers. Licensed under the Apache License 2.0 (LICENSE). */
#include "og_table.h"

#include <sched.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define TABLE_MAGIC 0x4f475442u /* "OGTB" */
#define TABLE_VERSION 5u         /* 2: spare buffers, owner and cur in the slot; 3: no fetched_at;
                                    4: status records, handshake and fetch counters;
                                    5: slot flags, local pass and start-up mark */
#define TABLE_SPARES 16          /* publishes in flight at once without readers waiting */
#define SPIN_TRIES 64            /* busy reads before a reader starts yielding */
#define YIELD_TRIES 8            /* then sched_yield, then sleeps of SLEEP_NS */
#define SLEEP_NS 50000L

/* A slot is a certificate's home buffer; the same layout serves for the
 * spare buffers after the slots. A publish copies the response into a spare,
 * points the home's cur at it (readers go there), rewrites the home in
 * place, and points cur back: readers always find a complete copy and never
 * wait for a writer's memcpy, nor for a writer that died mid-write. */
typedef struct og_slot {
    uint32_t seq;                /* odd while being written */
    uint32_t len;
    int32_t status;
    uint32_t source;
    int64_t this_update;
    int64_t next_update;
    int64_t produced_at;
    unsigned char id[OG_ID_LEN];
    uint32_t owner;              /* spare: 1 + index of the slot whose response it holds */
    uint32_t cur;                /* home: 0 read here, k + 1 read spare k (home being rewritten) */
    /* home: OG_SLOT_* (atomic, outside the seqlock). It also keeps the
     * header 72 bytes: the DER starts 8-byte aligned, as every slot does
     * (int64_t members), so the copy on the handshake path moves whole words
     * from an aligned start. */
    uint32_t flags;
    unsigned char data[OG_SLOT_CAPACITY];
} og_slot;

_Static_assert(offsetof(og_slot, data) == 72 && offsetof(og_slot, data) % 8 == 0,
               "slot header size changed: bump TABLE_VERSION");

/* A slot's status for the views, under a seqlock of its own (written by
 * the refresher, never on the handshake path). */
typedef struct status_rec {
    uint32_t seq;                /* odd while being written */
    uint32_t pad;
    og_slot_status s;
} status_rec;

/* Handshake counters, apart from the slots: a handshake's increment does
 * not dirty the cache line other readers of the slot use. */
typedef struct hs_counters {
    uint64_t stapled, unstapled;
} hs_counters;

/* The table's counters, bumped with relaxed atomics. */
typedef struct table_stats {
    uint64_t fetches[OG_FETCH_RESULTS];
    uint64_t buckets[OG_FETCH_BUCKETS + 1];
    uint64_t fetch_ms_sum;
    uint64_t restarts;
    int32_t shared_cache;
    uint32_t pad;
} table_stats;

/* The shared header. The server's user can write all of the shared memory
 * (any code in a child can): geometry is read from here once, validated,
 * and kept in the process's own og_table handle below. */
typedef struct table_hdr {
    uint32_t magic;
    uint32_t version;
    uint32_t nslots;
    uint32_t index_mask;         /* index has index_mask + 1 entries */
    uint64_t size;
    uint64_t spares_claimed;     /* bit k: spare k is in a writer's hands */
    /* start-up (atomic): the refresher's pass over the local cache tier,
     * which the parent waits for before children accept */
    uint32_t local_done;         /* certificates whose local record was looked at */
    uint32_t local_loaded;       /* 1: all of them */
    int64_t startup_mark_ms;     /* CLOCK_MONOTONIC ms when first fetches began; 0: not a cold start */
    uint64_t status_off;         /* byte offsets of status_rec[nslots] and hs_counters[nslots] */
    uint64_t counters_off;
    table_stats stats;
    /* followed by og_slot[nslots], og_slot[TABLE_SPARES], then
     * uint32_t index[index_mask + 1], status_rec[nslots], hs_counters[nslots] */
} table_hdr;

/* A process-private handle: forked children and the refresher inherit it,
 * the parent (root) reads shared memory only through the bounds it holds. */
struct og_table {
    table_hdr *h;
    unsigned nslots;
    uint32_t index_mask;
    og_slot *slots;              /* nslots homes, then TABLE_SPARES spares */
    uint32_t *index;
    status_rec *status;
    hs_counters *counters;
    unsigned char *must_staple;  /* nslots marks, set before the fork: what a handshake may wait for */
};

const unsigned og_fetch_bucket_ms[OG_FETCH_BUCKETS] = {
    50, 100, 250, 500, 1000, 2500, 5000, 10000, 30000, 60000, 300000 };

static size_t header_size(void)
{
    return (sizeof(table_hdr) + 63) & ~(size_t)63;
}

static uint32_t index_entries(unsigned n)
{
    uint32_t e = 16;
    while (e < 2u * n)
        e <<= 1;
    return e;
}

static og_slot *slots(const og_table *t)
{
    return t->slots;
}

static og_slot *spare(const og_table *t, unsigned k)
{
    return t->slots + t->nslots + k;
}

static uint32_t *index_of(const og_table *t)
{
    return t->index;
}

/* Offsets of the status records and counters for n slots, and the size. */
static size_t layout(unsigned n, size_t *status_off, size_t *counters_off)
{
    size_t index_end = header_size() + ((size_t)n + TABLE_SPARES) * sizeof(og_slot) +
                       (size_t)index_entries(n) * sizeof(uint32_t);
    size_t st = (index_end + 63) & ~(size_t)63;
    size_t co = (st + (size_t)n * sizeof(status_rec) + 63) & ~(size_t)63;
    if (status_off)
        *status_off = st;
    if (counters_off)
        *counters_off = co;
    return co + (size_t)n * sizeof(hs_counters);
}

static status_rec *status_of(const og_table *t, unsigned slot)
{
    return t->status + slot;
}

static hs_counters *counters_of(const og_table *t, unsigned slot)
{
    return t->counters + slot;
}

/* The handle on mem for n slots, every bound computed here, none read back
 * from shared memory. NULL when out of memory. */
static og_table *handle_of(void *mem, unsigned n)
{
    size_t status_off, counters_off;
    og_table *t = calloc(1, sizeof(*t));
    if (!t || !(t->must_staple = calloc(n ? n : 1, 1))) {
        free(t);
        return NULL;
    }
    layout(n, &status_off, &counters_off);
    t->h = mem;
    t->nslots = n;
    t->index_mask = index_entries(n) - 1;
    t->slots = (og_slot *)((char *)mem + header_size());
    t->index = (uint32_t *)(t->slots + n + TABLE_SPARES);
    t->status = (status_rec *)((char *)mem + status_off);
    t->counters = (hs_counters *)((char *)mem + counters_off);
    return t;
}

/* The slot count of a table og_table_init formatted in mem[size], read
 * once; -1 when the header does not describe a table that fits. */
static long checked_slots(const void *mem, size_t size)
{
    const table_hdr *h = mem;
    table_hdr copy;
    size_t status_off, counters_off;
    if (!mem || size < sizeof(copy))
        return -1;
    memcpy(&copy, h, sizeof(copy));  /* one read: the writer may change it meanwhile */
    if (copy.magic != TABLE_MAGIC || copy.version != TABLE_VERSION || copy.size > size ||
        copy.nslots > OG_TABLE_MAX_SLOTS || copy.index_mask != index_entries(copy.nslots) - 1 ||
        layout(copy.nslots, &status_off, &counters_off) != copy.size ||
        copy.status_off != status_off || copy.counters_off != counters_off)
        return -1;
    return copy.nslots;
}

static uint32_t id_hash(const unsigned char *id)
{
    /* ids are SHA-1 digests: their bytes are already uniform */
    uint32_t h;
    memcpy(&h, id, sizeof(h));
    return h;
}

og_slot_meta og_slot_meta_of(const og_resp_info *info, uint32_t source)
{
    og_slot_meta m;
    memset(&m, 0, sizeof(m));
    m.status = info->status;
    m.this_update = info->this_update;
    m.next_update = info->next_update;
    m.produced_at = info->produced_at;
    m.source = source;
    return m;
}

const char *og_source_name(uint32_t source)
{
    switch (source) {
    case OG_SOURCE_RESPONDER: return "responder";
    case OG_SOURCE_CACHE: return "cache";
    case OG_SOURCE_RESTART: return "memory";
    case OG_SOURCE_PEER: return "peer";
    case OG_SOURCE_IMPORT: return "import";
    default: return "none";
    }
}

const char *og_fetch_result_name(og_fetch_result r)
{
    static const char *const names[OG_FETCH_RESULTS] = { "ok", "error", "invalid", "unknown", "older" };
    return (unsigned)r < OG_FETCH_RESULTS ? names[r] : "?";
}

size_t og_table_size(unsigned n)
{
    return layout(n, NULL, NULL);
}

og_table *og_table_init(void *mem, size_t size, unsigned n, const unsigned char (*ids)[OG_ID_LEN])
{
    table_hdr *h = mem;
    og_table *t;
    size_t status_off, counters_off;
    if (!mem || n > OG_TABLE_MAX_SLOTS || size < og_table_size(n) || !(t = handle_of(mem, n)))
        return NULL;
    /* mem comes zeroed (fresh shared memory): writing it all would make
     * every slot's pages resident for nothing. */
    h->nslots = n;
    h->index_mask = t->index_mask;
    h->size = layout(n, &status_off, &counters_off);
    h->status_off = status_off;
    h->counters_off = counters_off;
    h->stats.shared_cache = OG_SHARED_NONE;
    uint32_t *idx = index_of(t);
    for (unsigned i = 0; i < n; i++) {
        memcpy(slots(t)[i].id, ids[i], OG_ID_LEN);
        uint32_t pos = id_hash(ids[i]) & t->index_mask;
        while (idx[pos]) {
            if (!memcmp(slots(t)[idx[pos] - 1].id, ids[i], OG_ID_LEN)) {
                og_table_free(t);
                return NULL;
            }
            pos = (pos + 1) & t->index_mask;
        }
        idx[pos] = i + 1;
    }
    h->version = TABLE_VERSION;
    h->magic = TABLE_MAGIC;
    return t;
}

int og_table_valid(const void *mem, size_t size)
{
    return checked_slots(mem, size) >= 0;
}

og_table *og_table_attach(void *mem, size_t size)
{
    long n = checked_slots(mem, size);
    return n < 0 ? NULL : handle_of(mem, (unsigned)n);
}

void og_table_free(og_table *t)
{
    if (t)
        free(t->must_staple);
    free(t);
}

unsigned og_table_count(const og_table *t)
{
    return t->nslots;
}

int og_table_find(const og_table *t, const unsigned char *id, size_t id_len)
{
    const uint32_t *idx = index_of(t);
    if (id_len != OG_ID_LEN)
        return -1;
    /* at most one turn of the index, and only entries that name a slot:
     * the index is in memory the server's user can write */
    uint32_t pos = id_hash(id) & t->index_mask;
    for (uint32_t probes = 0; probes <= t->index_mask; probes++, pos = (pos + 1) & t->index_mask) {
        uint32_t v = idx[pos];
        if (!v || v > t->nslots)
            return -1;
        if (!memcmp(slots(t)[v - 1].id, id, OG_ID_LEN))
            return (int)(v - 1);
    }
    return -1;
}

/* Marks the buffer busy (seq odd) and writes it; write_commit ends it. */
static void write_begin(og_slot *s, const unsigned char *der, size_t len, const og_slot_meta *meta,
                        uint32_t owner)
{
    uint32_t seq = __atomic_load_n(&s->seq, __ATOMIC_RELAXED);
    if (seq & 1)
        seq++;                   /* a writer died mid-write: start a fresh round */
    __atomic_store_n(&s->seq, seq + 1, __ATOMIC_RELAXED);
    __atomic_thread_fence(__ATOMIC_RELEASE);
    s->len = (uint32_t)len;
    s->status = meta ? (int32_t)meta->status : OG_STATUS_NONE;
    s->source = meta ? meta->source : OG_SOURCE_NONE;
    s->this_update = meta ? meta->this_update : 0;
    s->next_update = meta ? meta->next_update : 0;
    s->produced_at = meta ? meta->produced_at : 0;
    s->owner = owner;
    if (len)
        memcpy(s->data, der, len);
}

static void write_commit(og_slot *s)
{
    uint32_t seq = __atomic_load_n(&s->seq, __ATOMIC_RELAXED);
    if (seq & 1)
        __atomic_store_n(&s->seq, seq + 1, __ATOMIC_RELEASE);
}

/* A free spare, or -1 when TABLE_SPARES publishes are in flight already
 * (the home is then written in place and readers wait for it). */
static int claim_spare(og_table *t)
{
    uint64_t claimed = __atomic_load_n(&t->h->spares_claimed, __ATOMIC_RELAXED);
    for (;;) {
        uint64_t avail = ~claimed & ((1ull << TABLE_SPARES) - 1);
        if (!avail)
            return -1;
        int k = __builtin_ctzll(avail);
        if (__atomic_compare_exchange_n(&t->h->spares_claimed, &claimed, claimed | (1ull << k), 0,
                                        __ATOMIC_ACQUIRE, __ATOMIC_RELAXED))
            return k;
    }
}

static og_slot_meta meta_of(const og_slot *s)
{
    og_slot_meta m;
    m.status = (og_cert_status)s->status;
    m.source = s->source;
    m.this_update = (time_t)s->this_update;
    m.next_update = (time_t)s->next_update;
    m.produced_at = (time_t)s->produced_at;
    return m;
}

/* The status record's seqlock, like a slot's: odd while written. */
static og_slot_status *status_write_begin(og_table *t, unsigned slot)
{
    status_rec *r = status_of(t, slot);
    uint32_t seq = __atomic_load_n(&r->seq, __ATOMIC_RELAXED);
    if (seq & 1)
        seq++;                   /* a writer died mid-write: start a fresh round */
    __atomic_store_n(&r->seq, seq + 1, __ATOMIC_RELAXED);
    __atomic_thread_fence(__ATOMIC_RELEASE);
    return &r->s;
}

static void status_write_commit(og_table *t, unsigned slot)
{
    status_rec *r = status_of(t, slot);
    __atomic_store_n(&r->seq, __atomic_load_n(&r->seq, __ATOMIC_RELAXED) + 1, __ATOMIC_RELEASE);
}

int og_table_publish_begin(og_table *t, unsigned slot, const unsigned char *der, size_t len,
                           const og_slot_meta *meta)
{
    og_slot *home;
    int k;
    if (slot >= t->nslots || len > OG_SLOT_CAPACITY)
        return 0;
    home = &slots(t)[slot];
    if ((k = claim_spare(t)) >= 0) {
        og_slot *sp = spare(t, (unsigned)k);
        write_begin(sp, der, len, meta, slot + 1);
        write_commit(sp);
        /* release: a reader that sees cur sees the spare complete */
        __atomic_store_n(&home->cur, (uint32_t)k + 1, __ATOMIC_RELEASE);
    }
    write_begin(home, der, len, meta, 0);
    if (meta && len) {
        /* what the views show, kept when the slot is cleared at expiry */
        og_slot_status *st = status_write_begin(t, slot);
        st->last = *meta;
        status_write_commit(t, slot);
    }
    return 1;
}

void og_table_publish_commit(og_table *t, unsigned slot)
{
    og_slot *home;
    uint32_t k;
    if (slot >= t->nslots)
        return;
    home = &slots(t)[slot];
    write_commit(home);
    k = __atomic_load_n(&home->cur, __ATOMIC_RELAXED);
    if (k) {
        __atomic_store_n(&home->cur, 0, __ATOMIC_RELEASE);
        __atomic_fetch_and(&t->h->spares_claimed, ~(1ull << (k - 1)), __ATOMIC_RELEASE);
    }
}

int og_table_publish(og_table *t, unsigned slot, const unsigned char *der, size_t len,
                     const og_slot_meta *meta)
{
    if (!og_table_publish_begin(t, slot, der, len, meta))
        return 0;
    og_table_publish_commit(t, slot);
    return 1;
}

void og_table_clear(og_table *t, unsigned slot)
{
    if (og_table_publish_begin(t, slot, NULL, 0, NULL))
        og_table_publish_commit(t, slot);
}

unsigned og_table_repair(og_table *t)
{
    unsigned repaired = 0;
    for (unsigned i = 0; i < t->nslots; i++) {
        og_slot *home = &slots(t)[i];
        uint32_t k = __atomic_load_n(&home->cur, __ATOMIC_ACQUIRE);
        if (k) {
            /* died after readers were sent to the spare: its copy is whole */
            og_slot *sp = k <= TABLE_SPARES ? spare(t, k - 1) : NULL;
            if (sp && !(sp->seq & 1) && sp->owner == i + 1 && sp->len <= OG_SLOT_CAPACITY) {
                og_slot_meta m = meta_of(sp);
                write_begin(home, sp->data, sp->len, &m, 0);
            } else {
                write_begin(home, NULL, 0, NULL, 0);
            }
            write_commit(home);
            __atomic_store_n(&home->cur, 0, __ATOMIC_RELEASE);
            repaired++;
        } else if (__atomic_load_n(&home->seq, __ATOMIC_ACQUIRE) & 1) {
            /* died writing in place */
            write_begin(home, NULL, 0, NULL, 0);
            write_commit(home);
            repaired++;
        }
        /* a status record left mid-write is only informational: readable again */
        if (__atomic_load_n(&status_of(t, i)->seq, __ATOMIC_ACQUIRE) & 1)
            status_write_commit(t, i);
    }
    __atomic_store_n(&t->h->spares_claimed, 0, __ATOMIC_RELEASE);
    return repaired;
}

/* One seqlock read of a buffer: 1 with a consistent copy, 0 when a writer
 * was at work there (or, for a spare, it holds another slot's response). */
static inline int read_once(const og_slot *s, uint32_t owner, unsigned char *buf, size_t cap,
                            size_t *len, og_slot_meta *meta)
{
    uint32_t before = __atomic_load_n(&s->seq, __ATOMIC_ACQUIRE);
    if (before & 1)
        return 0;
    size_t n = s->len;
    if (n > OG_SLOT_CAPACITY || (buf && n > cap))
        n = 0;
    og_slot_meta m = meta_of(s);
    uint32_t o = s->owner;
    if (buf && n)
        memcpy(buf, s->data, n);
    __atomic_thread_fence(__ATOMIC_ACQUIRE);
    if (__atomic_load_n(&s->seq, __ATOMIC_RELAXED) != before || (owner && o != owner))
        return 0;
    if (len)
        *len = n;
    if (meta)
        *meta = m;
    return 1;
}

/* The home, or the spare a publish sent readers to. */
static inline int read_slot(const og_table *t, unsigned slot, unsigned char *buf, size_t cap,
                            size_t *len, og_slot_meta *meta)
{
    const og_slot *home = &slots(t)[slot];
    uint32_t k = __atomic_load_n(&home->cur, __ATOMIC_ACQUIRE);
    if (__builtin_expect(k == 0, 1))
        return read_once(home, 0, buf, cap, len, meta);
    if (k > TABLE_SPARES)
        return 0;
    return read_once(spare(t, k - 1), slot + 1, buf, cap, len, meta);
}

static inline void cpu_relax(void)
{
#if defined(__x86_64__) || defined(__i386__)
    __builtin_ia32_pause();
#elif defined(__aarch64__)
    __asm__ __volatile__("yield" ::: "memory");
#else
    __asm__ __volatile__("" ::: "memory");
#endif
}

static int64_t monotonic_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

/* A read raced a writer: the next try normally succeeds at once (on the
 * spare or the rewritten home). Only a writer on the in-place fallback, or
 * one republishing the same slot back to back, makes a reader wait: spin a
 * little, then yield and sleep briefly (a preempted writer needs its core),
 * up to OG_TABLE_READ_WAIT_NS, rather than give up and send no staple. Out
 * of line: the common path, no writer, is one read_slot. */
static __attribute__((noinline)) int retry_read(int (*attempt)(void *), void *ctx)
{
    for (int i = 0; i < SPIN_TRIES; i++) {
        if (attempt(ctx))
            return 1;
        cpu_relax();
    }
    int64_t deadline = monotonic_ns() + OG_TABLE_READ_WAIT_NS;
    for (unsigned n = 0;; n++) {
        if (n < YIELD_TRIES) {
            sched_yield();
        } else {
            struct timespec pause = { 0, SLEEP_NS };
            nanosleep(&pause, NULL);
        }
        if (attempt(ctx))
            return 1;
        if (monotonic_ns() >= deadline)
            return 0;
    }
}

typedef struct slot_read {
    const og_table *t;
    unsigned slot;
    unsigned char *buf;
    size_t cap;
    size_t *len;
    og_slot_meta *meta;
} slot_read;

static int attempt_slot(void *ctx)
{
    slot_read *a = ctx;
    return read_slot(a->t, a->slot, a->buf, a->cap, a->len, a->meta);
}

/* Out of line too: og_table_read's fast path stays as small as it was. */
static __attribute__((noinline)) int read_waiting(const og_table *t, unsigned slot,
                                                  unsigned char *buf, size_t cap, size_t *len,
                                                  og_slot_meta *meta)
{
    slot_read a = { t, slot, buf, cap, len, meta };
    return retry_read(attempt_slot, &a);
}

int og_table_read(const og_table *t, unsigned slot, unsigned char *buf, size_t cap,
                  size_t *len, og_slot_meta *meta)
{
    if (slot >= t->nslots)
        return 0;
    if (read_slot(t, slot, buf, cap, len, meta))
        return 1;
    return read_waiting(t, slot, buf, cap, len, meta);
}

int og_table_read_nowait(const og_table *t, unsigned slot, og_slot_meta *meta)
{
    size_t len = 0;
    return slot < t->nslots && read_slot(t, slot, NULL, 0, &len, meta);
}

int og_meta_stapled(const og_slot_meta *m, time_t now)
{
    return og_status_staplable(m->status) && m->next_update > now;
}

int og_table_staple(const og_table *t, unsigned slot, time_t now, unsigned char *buf,
                    size_t cap, size_t *len)
{
    og_slot_meta m;
    return og_table_read(t, slot, buf, cap, len, &m) && *len > 0 && og_meta_stapled(&m, now);
}

void og_table_count_handshake(og_table *t, unsigned slot, int stapled)
{
    if (__builtin_expect(slot < t->nslots, 1)) {
        hs_counters *c = counters_of(t, slot);
        __atomic_fetch_add(stapled ? &c->stapled : &c->unstapled, 1, __ATOMIC_RELAXED);
    }
}

void og_table_handshakes(const og_table *t, unsigned slot, uint64_t *stapled, uint64_t *unstapled)
{
    hs_counters *c = slot < t->nslots ? counters_of(t, slot) : NULL;
    *stapled = c ? __atomic_load_n(&c->stapled, __ATOMIC_RELAXED) : 0;
    *unstapled = c ? __atomic_load_n(&c->unstapled, __ATOMIC_RELAXED) : 0;
}

typedef struct status_read {
    const status_rec *r;
    og_slot_status *out;
} status_read;

static int attempt_status(void *ctx)
{
    status_read *a = ctx;
    uint32_t before = __atomic_load_n(&a->r->seq, __ATOMIC_ACQUIRE);
    if (before & 1)
        return 0;
    memcpy(a->out, &a->r->s, sizeof(*a->out));
    __atomic_thread_fence(__ATOMIC_ACQUIRE);
    if (__atomic_load_n(&a->r->seq, __ATOMIC_RELAXED) != before)
        return 0;
    a->out->last_error[OG_ERROR_TEXT - 1] = '\0';   /* whatever the writer left there */
    return 1;
}

int og_table_status_read(const og_table *t, unsigned slot, og_slot_status *out)
{
    status_read a = { NULL, out };
    if (slot >= t->nslots)
        return 0;
    a.r = status_of(t, slot);
    return attempt_status(&a) || retry_read(attempt_status, &a);
}

void og_table_stats_read(const og_table *t, og_table_stats *out)
{
    const table_stats *ts = &t->h->stats;
    for (unsigned k = 0; k < OG_FETCH_RESULTS; k++)
        out->fetches[k] = __atomic_load_n(&ts->fetches[k], __ATOMIC_RELAXED);
    for (unsigned k = 0; k <= OG_FETCH_BUCKETS; k++)
        out->fetch_buckets[k] = __atomic_load_n(&ts->buckets[k], __ATOMIC_RELAXED);
    out->fetch_ms_sum = __atomic_load_n(&ts->fetch_ms_sum, __ATOMIC_RELAXED);
    out->refresher_restarts = __atomic_load_n(&ts->restarts, __ATOMIC_RELAXED);
    out->shared_cache = __atomic_load_n(&ts->shared_cache, __ATOMIC_RELAXED);
}

/* failing_since starts with the first failure and ends with a success. */
static void set_schedule(og_slot_status *st, time_t now, time_t next_refresh, unsigned failures)
{
    if (!failures)
        st->failing_since = 0;
    else if (!st->failures || !st->failing_since)
        st->failing_since = now;
    st->failures = failures;
    st->next_refresh = next_refresh;
}

void og_table_note_fetch(og_table *t, unsigned slot, const og_fetch_note *n)
{
    table_stats *ts = &t->h->stats;
    unsigned b = 0, result = (unsigned)n->result < OG_FETCH_RESULTS ? n->result : OG_FETCH_ERROR;
    og_slot_status *st;
    if (slot >= t->nslots)
        return;
    st = status_write_begin(t, slot);
    st->last_fetch = n->started;
    st->last_fetch_ms = n->duration_ms;
    st->last_result = (og_fetch_result)result;
    set_schedule(st, n->started, n->next_refresh, n->failures);
    if (n->skew_known) {
        st->skew_known = 1;
        st->skew = n->skew;
    }
    if (n->error) {
        size_t k = strlen(n->error);
        if (k >= OG_ERROR_TEXT)
            k = OG_ERROR_TEXT - 1;
        memcpy(st->last_error, n->error, k);
        st->last_error[k] = '\0';
        st->last_error_at = n->started;
    }
    status_write_commit(t, slot);
    while (b < OG_FETCH_BUCKETS && n->duration_ms > og_fetch_bucket_ms[b])
        b++;
    __atomic_fetch_add(&ts->fetches[result], 1, __ATOMIC_RELAXED);
    __atomic_fetch_add(&ts->buckets[b], 1, __ATOMIC_RELAXED);
    __atomic_fetch_add(&ts->fetch_ms_sum, n->duration_ms, __ATOMIC_RELAXED);
}

void og_table_note_schedule(og_table *t, unsigned slot, time_t now, time_t next_refresh,
                            unsigned failures)
{
    if (slot >= t->nslots)
        return;
    set_schedule(status_write_begin(t, slot), now, next_refresh, failures);
    status_write_commit(t, slot);
}

void og_table_note_shared_cache(og_table *t, int state)
{
    __atomic_store_n(&t->h->stats.shared_cache, state, __ATOMIC_RELAXED);
}

void og_table_note_restart(og_table *t)
{
    __atomic_fetch_add(&t->h->stats.restarts, 1, __ATOMIC_RELAXED);
}

/* Status and counters of slot i of from into slot dst of to. */
static void carry_status(og_table *to, unsigned dst, const og_table *from, unsigned i)
{
    og_slot_status st;
    uint64_t stapled, unstapled;
    status_read a = { status_of(from, i), &st };
    if (attempt_status(&a)) {        /* one attempt: a record left mid-write stays behind */
        *status_write_begin(to, dst) = st;
        status_write_commit(to, dst);
    }
    og_table_handshakes(from, i, &stapled, &unstapled);
    __atomic_store_n(&counters_of(to, dst)->stapled, stapled, __ATOMIC_RELAXED);
    __atomic_store_n(&counters_of(to, dst)->unstapled, unstapled, __ATOMIC_RELAXED);
}

unsigned og_table_carry_over(og_table *to, const og_table *from)
{
    static unsigned char buf[OG_SLOT_CAPACITY];
    unsigned carried = 0;
    og_table_stats fs;
    for (unsigned i = 0; i < from->nslots; i++) {
        og_slot_meta m;
        size_t len = 0;
        int dst = og_table_find(to, slots(from)[i].id, OG_ID_LEN);
        if (dst < 0)
            continue;
        /* one attempt, no wait: the old generation's children (the server's
         * user) may hold every slot mid-write; such a slot is loaded from
         * the cache or fetched again instead */
        if (read_slot(from, i, buf, sizeof(buf), &len, &m) && len > 0) {
            m.source = OG_SOURCE_RESTART;
            carried += (unsigned)og_table_publish(to, (unsigned)dst, buf, len, &m);
        }
        /* after the publish: the views keep where the response first came from */
        carry_status(to, (unsigned)dst, from, i);
    }
    /* counters stay monotonic across graceful restarts */
    og_table_stats_read(from, &fs);
    memcpy(to->h->stats.fetches, fs.fetches, sizeof(fs.fetches));
    memcpy(to->h->stats.buckets, fs.fetch_buckets, sizeof(fs.fetch_buckets));
    to->h->stats.fetch_ms_sum = fs.fetch_ms_sum;
    to->h->stats.restarts = fs.refresher_restarts;
    to->h->stats.shared_cache = fs.shared_cache;
    return carried;
}

/* ---- start-up signals and must-staple waits ----
 * Flags and counters are single atomic words outside the seqlocks: the
 * refresher, the parent and handshakes read and change them without a lock. */

uint32_t og_table_flags(const og_table *t, unsigned slot)
{
    return slot < t->nslots ? __atomic_load_n(&slots(t)[slot].flags, __ATOMIC_ACQUIRE) : 0;
}

void og_table_mark_must_staple(og_table *t, unsigned slot)
{
    if (slot < t->nslots) {
        t->must_staple[slot] = 1;
        __atomic_fetch_or(&slots(t)[slot].flags, OG_SLOT_MUST_STAPLE, __ATOMIC_RELEASE);
    }
}

void og_table_fetch_begin(og_table *t, unsigned slot)
{
    if (slot < t->nslots)
        __atomic_fetch_or(&slots(t)[slot].flags, OG_SLOT_FETCHING, __ATOMIC_RELEASE);
}

void og_table_fetch_end(og_table *t, unsigned slot)
{
    uint32_t *f, old;
    if (slot >= t->nslots)
        return;
    f = &slots(t)[slot].flags;
    old = __atomic_load_n(f, __ATOMIC_RELAXED);
    /* one change, so a waiter never sees "ended" without "tried"; release:
     * whoever sees it sees what the fetch published */
    while (!__atomic_compare_exchange_n(f, &old, (old & ~OG_SLOT_FETCHING) | OG_SLOT_TRIED, 1,
                                        __ATOMIC_RELEASE, __ATOMIC_RELAXED))
        ;
}

void og_table_fetch_reset(og_table *t)
{
    for (unsigned i = 0; i < t->nslots; i++)
        __atomic_fetch_and(&slots(t)[i].flags, ~OG_SLOT_FETCHING, __ATOMIC_RELEASE);
}

void og_table_local_progress(og_table *t)
{
    __atomic_fetch_add(&t->h->local_done, 1, __ATOMIC_RELEASE);
}

void og_table_local_finished(og_table *t)
{
    __atomic_store_n(&t->h->local_loaded, 1, __ATOMIC_RELEASE);
}

int og_table_local_loaded(const og_table *t, unsigned *done)
{
    if (done)
        *done = __atomic_load_n(&t->h->local_done, __ATOMIC_ACQUIRE);
    return (int)__atomic_load_n(&t->h->local_loaded, __ATOMIC_ACQUIRE);
}

int64_t og_table_now_ms(void)
{
    return monotonic_ns() / 1000000;
}

void og_table_set_startup_mark(og_table *t, int64_t mark_ms)
{
    __atomic_store_n(&t->h->startup_mark_ms, mark_ms, __ATOMIC_RELEASE);
}

/* How long a handshake may still wait, from flags: 0 when not at all. */
static int64_t wait_until(const og_table *t, unsigned slot, uint32_t f, const og_wait_bounds *b,
                          int64_t start)
{
    int64_t until = 0, mark = __atomic_load_n(&t->h->startup_mark_ms, __ATOMIC_ACQUIRE);
    /* the must-staple mark from this process's own handle; flags and the
     * start-up mark are in memory the server's user can write: a mark
     * after the handshake began is none */
    if (!t->must_staple[slot])
        return 0;
    if (mark > start)
        mark = 0;
    if ((f & OG_SLOT_FETCHING) && b->in_flight_ms > 0)
        until = start + b->in_flight_ms;
    /* its first fetch since start-up, queued or in flight */
    if (mark && b->startup_ms > 0 && !(f & OG_SLOT_TRIED) && mark + b->startup_ms > until)
        until = mark + b->startup_ms;
    return until;
}

int og_table_would_wait(const og_table *t, unsigned slot, const og_wait_bounds *b)
{
    int64_t now = og_table_now_ms();
    return slot < t->nslots && wait_until(t, slot, og_table_flags(t, slot), b, now) > now;
}

int og_table_staple_wait(const og_table *t, unsigned slot, const og_wait_bounds *b,
                         unsigned char *buf, size_t cap, size_t *len, long *waited_ms)
{
    int64_t start = og_table_now_ms(), now = start, until;
    int slept = 0;
    *waited_ms = 0;
    if (slot >= t->nslots)
        return 0;
    while ((until = wait_until(t, slot, og_table_flags(t, slot), b, start)) > now) {
        int64_t ms = until - now < OG_WAIT_POLL_MS ? until - now : OG_WAIT_POLL_MS;
        struct timespec pause = { 0, (long)ms * 1000000L };
        nanosleep(&pause, NULL);
        slept = 1;
        now = og_table_now_ms();
        if (og_table_staple(t, slot, time(NULL), buf, cap, len)) {
            *waited_ms = (long)(now - start);
            return 1;
        }
    }
    *waited_ms = (long)(now - start);
    /* the fetch may have published just before it said it ended */
    return slept && og_table_staple(t, slot, time(NULL), buf, cap, len);
}
