/* Copyright 2026 the mod_ocsp_guard developers. Licensed under the Apache License 2.0 (LICENSE). */
/* The staple table: one slot per certificate in a memory region shared by
 * the refresher (the only writer) and every handshake thread (readers).
 * Readers never lock: each slot is a seqlock, and a publish first fills one
 * of a few spare buffers and sends readers there while it rewrites the slot,
 * so a handshake during a publish still copies a whole response (the old or
 * the new one), even when the writer is preempted or dies mid-copy. Only
 * when every spare is in use does a reader wait for a writer, at most
 * OG_TABLE_READ_WAIT_NS.
 *
 * Beside each slot the table keeps what status views show of a certificate
 * (og_slot_status: schedule, last fetch, failures, last error; written by
 * the refresher, read by any child) and two handshake counters that
 * handshakes bump with one relaxed atomic increment; in its header, counters
 * of responder requests, a fetch-duration histogram, the refresher's
 * restarts and the shared cache tier's health. */
#ifndef OG_TABLE_H
#define OG_TABLE_H

#include <stddef.h>
#include <stdint.h>
#include <time.h>
#include "og_ocsp.h"

#define OG_SLOT_CAPACITY 10240   /* mod_ssl's stapling limit too */
#define OG_TABLE_READ_WAIT_NS 5000000L  /* a reader waits for a writer at most 5 ms */

typedef struct og_table og_table;

typedef struct og_slot_meta {
    og_cert_status status;
    time_t this_update;
    time_t next_update;
    time_t produced_at;
    uint32_t source;             /* where it came from: OG_SOURCE_* */
} og_slot_meta;

/* RESTART: carried over a graceful restart (the slot's own meta; status
 * views keep the source it had). IMPORT: handed in by an operator. PEER: a
 * cluster peer's response from the shared cache tier. */
enum { OG_SOURCE_NONE = 0, OG_SOURCE_RESPONDER = 1, OG_SOURCE_CACHE = 2, OG_SOURCE_RESTART = 3,
       OG_SOURCE_IMPORT = 4, OG_SOURCE_PEER = 5 };
/* "none", "responder", "cache", "memory", "import", "peer" */
const char *og_source_name(uint32_t source);
/* The metadata of a verified response from source: the one way to fill it. */
og_slot_meta og_slot_meta_of(const og_resp_info *info, uint32_t source);

/* How one responder exchange ended. */
typedef enum {
    OG_FETCH_OK = 0,             /* a good or revoked response verified (new or the same again) */
    OG_FETCH_ERROR,              /* no usable answer: DNS, connect, timeout, HTTP status, type */
    OG_FETCH_INVALID,            /* an answer that does not verify (or is too large to staple) */
    OG_FETCH_UNKNOWN,            /* verified, but the responder does not know the certificate */
    OG_FETCH_OLDER,              /* verified, but older than a response already seen */
    OG_FETCH_RESULTS
} og_fetch_result;
/* "ok", "error", "invalid", "unknown", "older" */
const char *og_fetch_result_name(og_fetch_result r);

/* Upper bounds (ms) of the fetch-duration histogram's buckets; one more
 * bucket counts what lies above the last. */
#define OG_FETCH_BUCKETS 11
extern const unsigned og_fetch_bucket_ms[OG_FETCH_BUCKETS];

#define OG_ERROR_TEXT 160            /* last error kept per certificate, cut to fit */

/* What status views show of one certificate besides the staple itself. */
typedef struct og_slot_status {
    og_slot_meta last;           /* the last response published, kept after it expired */
    time_t next_refresh;         /* 0: none scheduled yet */
    time_t last_fetch;           /* start of the last responder exchange; 0: none yet */
    unsigned last_fetch_ms;
    og_fetch_result last_result;
    unsigned failures;           /* consecutive failed refreshes; 0 once one works */
    time_t failing_since;        /* start of the first of them; 0 when not failing */
    int skew_known;
    long skew;                   /* producedAt - local receipt time, last responder answer */
    time_t last_error_at;        /* 0: never failed */
    char last_error[OG_ERROR_TEXT];
} og_slot_status;

/* One responder exchange as the refresher reports it. */
typedef struct og_fetch_note {
    og_fetch_result result;
    time_t started;
    unsigned duration_ms;
    unsigned failures;           /* consecutive failures after it */
    time_t next_refresh;
    int skew_known;
    long skew;
    const char *error;           /* why it failed; NULL when it worked */
} og_fetch_note;

/* Counters of the whole table. */
typedef struct og_table_stats {
    uint64_t fetches[OG_FETCH_RESULTS];
    uint64_t fetch_buckets[OG_FETCH_BUCKETS + 1];  /* per bucket, not cumulative */
    uint64_t fetch_ms_sum;
    uint64_t refresher_restarts;
    int shared_cache;            /* OG_SHARED_* */
} og_table_stats;

enum { OG_SHARED_NONE = -1, OG_SHARED_DOWN = 0, OG_SHARED_UP = 1 };

#define OG_TABLE_MAX_SLOTS (1u << 22)

/* Bytes needed for n slots. */
size_t og_table_size(unsigned n);
/* An og_table is the process's own handle on a table in shared memory: its
 * bounds are computed when it is made and never read back from the shared
 * header, which anyone who maps the memory (the server's user) can write.
 * Forked processes inherit it; og_table_free frees the handle only. */
/* Formats mem (og_table_size(n) bytes, which must be zeroed, as fresh
 * shared memory is) for the given ids. Returns
 * NULL when two ids are equal, n is above OG_TABLE_MAX_SLOTS, the region is
 * too small or memory runs out. */
og_table *og_table_init(void *mem, size_t size, unsigned n, const unsigned char (*ids)[OG_ID_LEN]);
/* A handle on a table og_table_init formatted in mem[size] (an earlier
 * generation's), its header read once and checked against size; NULL when
 * it does not describe such a table. */
og_table *og_table_attach(void *mem, size_t size);
void og_table_free(og_table *t);
unsigned og_table_count(const og_table *t);
/* Slot index of id, or -1. Constant time in the number of slots. */
int og_table_find(const og_table *t, const unsigned char *id, size_t id_len);

/* Writer side (one writer at a time per slot). Returns 0 when len exceeds
 * OG_SLOT_CAPACITY. */
int og_table_publish(og_table *t, unsigned slot, const unsigned char *der, size_t len,
                     const og_slot_meta *meta);
void og_table_clear(og_table *t, unsigned slot);
/* og_table_publish in its two halves, for tests that hold a slot mid-write:
 * begin leaves the slot itself being written (readers read the new response
 * from a spare meanwhile), commit finishes. Same return as og_table_publish. */
int og_table_publish_begin(og_table *t, unsigned slot, const unsigned char *der, size_t len,
                           const og_slot_meta *meta);
void og_table_publish_commit(og_table *t, unsigned slot);
/* Finishes or clears every slot a writer left mid-write (it died there) and
 * frees the spares it held; call only while no writer runs (the refresher at
 * start). Returns how many slots were repaired. */
unsigned og_table_repair(og_table *t);

/* Reader side: copies the slot's response and metadata. Returns 1 when a
 * consistent copy was made (len 0 when the slot is empty), 0 when a writer
 * kept it busy for OG_TABLE_READ_WAIT_NS. */
int og_table_read(const og_table *t, unsigned slot, unsigned char *buf, size_t cap,
                  size_t *len, og_slot_meta *meta);
/* 1 when a slot with this metadata may be stapled at time now. */
/* og_table_read's metadata in one attempt, never waiting: 0 when the slot
 * is mid-write (or out of range). For the parent, whom no slot held
 * mid-write by the server's user may slow down. */
int og_table_read_nowait(const og_table *t, unsigned slot, og_slot_meta *meta);
int og_meta_stapled(const og_slot_meta *m, time_t now);
/* The handshake question: 1 and the DER when the slot holds a good or revoked
 * response whose nextUpdate is after now; else 0. */
int og_table_staple(const og_table *t, unsigned slot, time_t now, unsigned char *buf,
                    size_t cap, size_t *len);
/* The handshake's count: one relaxed atomic increment, nothing else. */
void og_table_count_handshake(og_table *t, unsigned slot, int stapled);
void og_table_handshakes(const og_table *t, unsigned slot, uint64_t *stapled, uint64_t *unstapled);

/* Status views: a consistent copy of the slot's status (0 when a writer kept
 * it busy for OG_TABLE_READ_WAIT_NS), and the table's counters. */
int og_table_status_read(const og_table *t, unsigned slot, og_slot_status *out);
void og_table_stats_read(const og_table *t, og_table_stats *out);
/* Refresher side (the slot's one writer): a responder exchange, with the
 * counters and histogram it adds to; a new schedule without one. */
void og_table_note_fetch(og_table *t, unsigned slot, const og_fetch_note *n);
void og_table_note_schedule(og_table *t, unsigned slot, time_t now, time_t next_refresh,
                            unsigned failures);
/* The shared cache tier's health (OG_SHARED_*), as the refresher sees it. */
void og_table_note_shared_cache(og_table *t, int state);
/* The parent: the refresher process died and is restarted. */
void og_table_note_restart(og_table *t);

/* Copies every slot of from whose id is also in to (a graceful restart),
 * with its status and handshake counters, and the table's counters. */
unsigned og_table_carry_over(og_table *to, const og_table *from);
/* 1 when mem holds a table formatted by og_table_init (as og_table_attach checks). */
int og_table_valid(const void *mem, size_t size);

/* Per-slot flags (atomic, no lock): must-staple, set when the table is
 * made; FETCHING while the refresher is getting the slot a response (shared
 * tier or responder); TRIED once such a round ended in this table. */
enum { OG_SLOT_MUST_STAPLE = 1u, OG_SLOT_FETCHING = 2u, OG_SLOT_TRIED = 4u };
uint32_t og_table_flags(const og_table *t, unsigned slot);
void og_table_mark_must_staple(og_table *t, unsigned slot);
void og_table_fetch_begin(og_table *t, unsigned slot);
/* Clears FETCHING and sets TRIED, after the round's publish. */
void og_table_fetch_end(og_table *t, unsigned slot);
/* Clears every FETCHING a refresher that died left (at the refresher's start). */
void og_table_fetch_reset(og_table *t);

/* Start-up: the refresher counts the certificates whose local cache record
 * it looked at and says when all were; the parent waits for that before
 * children accept. */
void og_table_local_progress(og_table *t);
void og_table_local_finished(og_table *t);
/* 1 once finished; *done (may be NULL): how many so far. */
int og_table_local_loaded(const og_table *t, unsigned *done);

/* CLOCK_MONOTONIC in ms, the same in every process of the machine. */
int64_t og_table_now_ms(void);
/* On a cold start, when first fetches begin (og_table_now_ms); 0: none. */
void og_table_set_startup_mark(og_table *t, int64_t mark_ms);

#define OG_WAIT_POLL_MS 5        /* a waiting handshake looks at its slot this often */
typedef struct og_wait_bounds {
    long in_flight_ms;           /* a fetch in flight: wait for it this long (0: never) */
    long startup_ms;             /* the slot's first fetch after the start-up mark, queued or
                                  * in flight: wait up to this long after the mark (0: never) */
} og_wait_bounds;
/* For a handshake that found no staple (og_table_staple gave 0): when the
 * slot is must-staple and its fetch is in flight (or, at start-up, its
 * first fetch is still to end), polls the slot every OG_WAIT_POLL_MS, holding
 * no lock, until it can be stapled, the fetch ends, or the bound passes.
 * Returns 1 with the staple as og_table_staple does, else 0; *waited_ms
 * says how long it waited (0: it did not). Never waits for other slots. */
/* 1 when og_table_staple_wait would wait for slot now. */
int og_table_would_wait(const og_table *t, unsigned slot, const og_wait_bounds *b);
int og_table_staple_wait(const og_table *t, unsigned slot, const og_wait_bounds *b,
                         unsigned char *buf, size_t cap, size_t *len, long *waited_ms);

#endif
