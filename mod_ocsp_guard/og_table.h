/* The staple table: one slot per certificate in a memory region shared by
 * the refresher (the only writer) and every handshake thread (readers).
 * Readers never lock: each slot is a seqlock, and a publish first fills one
 * of a few spare buffers and sends readers there while it rewrites the slot,
 * so a handshake during a publish still copies a whole response (the old or
 * the new one), even when the writer is preempted or dies mid-copy. Only
 * when every spare is in use does a reader wait for a writer, at most
 * OG_TABLE_READ_WAIT_NS. */
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

enum { OG_SOURCE_NONE = 0, OG_SOURCE_RESPONDER = 1, OG_SOURCE_CACHE = 2, OG_SOURCE_RESTART = 3,
       OG_SOURCE_IMPORT = 4 };
/* The metadata of a verified response from source: the one way to fill it. */
og_slot_meta og_slot_meta_of(const og_resp_info *info, uint32_t source);

/* Bytes needed for n slots. */
size_t og_table_size(unsigned n);
/* Formats mem (og_table_size(n) bytes, which must be zeroed, as fresh
 * shared memory is) for the given ids. Returns
 * NULL when two ids are equal or the region is too small. */
og_table *og_table_init(void *mem, size_t size, unsigned n, const unsigned char (*ids)[OG_ID_LEN]);
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
int og_meta_stapled(const og_slot_meta *m, time_t now);
/* The handshake question: 1 and the DER when the slot holds a good or revoked
 * response whose nextUpdate is after now; else 0. */
int og_table_staple(const og_table *t, unsigned slot, time_t now, unsigned char *buf,
                    size_t cap, size_t *len);
/* Copies every slot of from whose id is also in to (a graceful restart). */
unsigned og_table_carry_over(og_table *to, const og_table *from);
/* 1 when mem holds a table formatted by og_table_init. */
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
