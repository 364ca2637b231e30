/* Copyright 2026 the mod_ocsp_guard developers. Licensed under the Apache License 2.0 (LICENSE). */
/* The control region: shared memory through which the httpd children (the
 * POST side of the ocsp-guard-status handler) ask the refresher for work,
 * and the refresher's notification memory. Per certificate slot: a refresh
 * request flag and what has been notified; plus a few mailboxes, each
 * carrying one imported DER response to the refresher and its verdict back.
 *
 * Every process that maps it runs as the server's user and may write any
 * byte of it: the refresher copies what it takes before looking at it,
 * bounds every index and length by what it knows itself, and verifies an
 * import exactly as a fetched response. The parent (root) only reads it at
 * a graceful restart, bounded by the size it created it with. */
#ifndef OG_CONTROL_H
#define OG_CONTROL_H

#include <stddef.h>
#include <stdint.h>
#include <time.h>
#include "og_notify.h"
#include "og_ocsp.h"
#include "og_table.h"

#define OG_CONTROL_BOXES 4               /* imports in flight at once */
#define OG_CONTROL_BOX_CAP OG_MAX_RESPONSE  /* larger imports are refused before they get here */
#define OG_CONTROL_ALIVE 5               /* seconds without a heartbeat: the refresher is not answering */
#define OG_CONTROL_STALE 60              /* a mailbox left this long by a process that died is freed */
#define OG_CONTROL_REFRESH_EVERY 5       /* forced refreshes of one certificate at most this often */

typedef struct og_control og_control;

/* How an import ended, as the refresher says it. */
typedef enum {
    OG_IMPORT_PENDING = 0,
    OG_IMPORT_STAPLED,           /* verified, newer: stapled and stored */
    OG_IMPORT_INVALID,           /* malformed, forged, another certificate's, expired, not yet valid,
                                  * or status unknown */
    OG_IMPORT_OLDER,             /* not newer than what is stapled (or a revocation seen) */
    OG_IMPORT_TOO_LARGE,         /* verified but more than a staple may have */
    OG_IMPORT_NO_SLOT,           /* no such certificate */
    OG_IMPORT_UNAVAILABLE        /* the refresher could not finish it (restarted) */
} og_import_verdict;

/* Bytes needed for n slots. */
size_t og_control_size(unsigned n);
/* Formats mem (og_control_size(n) bytes, zeroed) for n slots with the ids
 * of the staple table's slots, in the same order. NULL when too small. */
og_control *og_control_init(void *mem, size_t size, unsigned n, const unsigned char (*ids)[OG_ID_LEN]);
unsigned og_control_count(const og_control *c);
/* Copies the notification memory of every slot of the last generation's
 * region (from_mem, from_size bytes as its creator mapped it) whose id is
 * a slot of to_table, into the same slot of to; returns how many. Reads
 * nothing outside from_size, whatever the region says. */
unsigned og_control_carry_over(og_control *to, const og_table *to_table, const void *from_mem,
                               size_t from_size);

/* ---- the children's side ---- */

/* Asks for a refresh of slot, or of every slot when slot < 0. Returns how
 * many slots were asked. */
unsigned og_control_request_refresh(og_control *c, int slot);
/* 1 when the refresher showed life within OG_CONTROL_ALIVE seconds of now. */
int og_control_refresher_alive(const og_control *c, time_t now);
/* Hands der (at most OG_CONTROL_BOX_CAP bytes) for slot to the refresher.
 * Returns the mailbox, or -1 when all are in use; *ticket identifies this
 * import in og_control_result. */
int og_control_submit(og_control *c, unsigned slot, const unsigned char *der, size_t len,
                      time_t now, uint32_t *ticket);
/* The verdict on a submitted import: OG_IMPORT_PENDING while the refresher
 * works on it; otherwise the verdict (reason filled, one line) and the
 * mailbox is free again. */
og_import_verdict og_control_result(og_control *c, int box, uint32_t ticket, char *reason,
                                    size_t cap);
/* Gives up waiting. 1 when the refresher had not taken the import yet (it
 * never will: nothing changed); 0 when it had (it may still be applied). */
int og_control_withdraw(og_control *c, int box, uint32_t ticket);

/* ---- the refresher's side ---- */

/* Called each pass: the heartbeat the children look at. */
void og_control_beat(og_control *c, time_t now);
/* Changes at every request: compare with the last value seen to skip
 * scanning the flags when nothing was asked. */
uint32_t og_control_requests(const og_control *c);
/* Waits until og_control_requests differs from seen, at most timeout_ms:
 * a request wakes the refresher at once. */
void og_control_wait(og_control *c, uint32_t seen, int timeout_ms);
/* 1 when a refresh of slot was asked; the flag is cleared. */
int og_control_take_refresh(og_control *c, unsigned slot);
/* Sets the flag again without a wake-up (the certificate is busy: the
 * caller looks again at its next pass). */
void og_control_keep_refresh(og_control *c, unsigned slot);
/* The next import waiting, copied into der (cap bytes): returns its
 * mailbox and sets *slot and *len, or -1. An import whose slot is not below
 * nslots (the refresher's own count) or whose length does not fit is
 * answered OG_IMPORT_INVALID here. */
int og_control_take_import(og_control *c, unsigned nslots, time_t now, unsigned *slot,
                           unsigned char *der, size_t cap, size_t *len);
/* The verdict on a taken import, with a one-line reason. */
void og_control_answer(og_control *c, int box, og_import_verdict v, const char *reason, time_t now);
/* Frees mailboxes their process left (it died) and, at a refresher's start
 * (starting = 1), answers the imports a dead refresher had taken. */
void og_control_sweep(og_control *c, time_t now, int starting);
/* The slot's notification memory (only the refresher writes it), or NULL. */
og_notify_mem *og_control_notify_mem(og_control *c, unsigned slot);

#endif
