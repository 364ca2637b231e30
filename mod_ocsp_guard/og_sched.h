/* Copyright 2026 the mod_ocsp_guard developers. Licensed under the Apache License 2.0 (LICENSE). */
/* Refresh scheduling arithmetic: when to refresh, how long to back off,
 * and per responder the breaker and the request rate. Every function takes
 * any time_t values, however absurd (negative, zero or inverted windows,
 * time_t's extremes), without overflow. Times come from the caller: nothing
 * here reads a clock. */
#ifndef OG_SCHED_H
#define OG_SCHED_H

#include <stdint.h>
#include <time.h>

#define OG_JITTER_PERCENT 10     /* refreshes spread over this share of the window */
#define OG_BACKOFF_FIRST 30      /* seconds after the first failure */
#define OG_BACKOFF_MAX 3600
/* A response valid for longer than this is suspicious (responders sign for
 * days, not years): it is refreshed as if valid for OG_SCHED_CAPPED_WINDOW. */
#define OG_SCHED_SUSPICIOUS_WINDOW (365L * 86400)
#define OG_SCHED_CAPPED_WINDOW (7L * 86400)

/* Refresh point: this_update + pct % of the window, moved earlier by a
 * random part (rnd) of OG_JITTER_PERCENT of the window; never before now
 * and always before next_update. A suspicious window counts as
 * OG_SCHED_CAPPED_WINDOW; an empty or inverted one means now. */
time_t og_sched_refresh_at(time_t this_update, time_t next_update, int pct,
                           uint32_t rnd, time_t now);
/* 1 when next_update - this_update exceeds OG_SCHED_SUSPICIOUS_WINDOW. */
int og_sched_window_suspicious(time_t this_update, time_t next_update);
/* Delay after the n-th consecutive failure (n >= 1): 30 s doubling, capped. */
time_t og_sched_backoff(unsigned failures);
/* Next try after a failure. While a response is valid until valid_until
 * (0: none), the retry comes before it expires. */
time_t og_sched_retry_at(time_t now, unsigned failures, time_t valid_until);

/* ---- one breaker per responder ---- */
#define OG_BREAKER_FAILURES 3    /* responder failures in a row that open it */
#define OG_BREAKER_FIRST 30      /* seconds to the first probe; probes never come closer */
#define OG_BREAKER_MAX 900       /* the probe backoff's cap */
#define OG_BREAKER_SPREAD 5      /* seconds over which a recovered responder's due
                                  * certificates are fetched */

typedef enum { OG_BREAKER_CLOSED = 0, OG_BREAKER_OPEN, OG_BREAKER_PROBING } og_breaker_state;

/* Closed: requests go as certificates fall due. Open: none until probe_at,
 * then one, the probe (probing), whose outcome alone decides: an answer
 * closes the breaker, a failure opens it for the next backoff step. */
typedef struct og_breaker {
    og_breaker_state state;
    unsigned failures;           /* responder failures in a row */
    unsigned step;               /* open: failed probes + 1 */
    time_t probe_at;             /* open: when the probe may go */
    time_t down_since;
} og_breaker;

typedef enum {
    OG_BREAKER_SAME = 0,
    OG_BREAKER_DOWN,             /* it opened */
    OG_BREAKER_STILL_DOWN,       /* the probe failed: open again, one step further */
    OG_BREAKER_BACK              /* the probe was answered: closed */
} og_breaker_change;

/* When the probe after the step-th failure goes: OG_BREAKER_FIRST doubling
 * to OG_BREAKER_MAX, moved earlier to OG_BREAKER_FIRST before next_expiry
 * (the earliest nextUpdate of a staple the probe can still save; 0: none),
 * never closer than OG_BREAKER_FIRST to now. */
time_t og_sched_probe_at(time_t now, unsigned step, time_t next_expiry);
/* Open with its probe time come: it becomes probing and returns 1 (the
 * caller sends the probe); else 0. */
int og_breaker_probe(og_breaker *b, time_t now);
/* The probe did not go after all: open again, the probe due at once. */
void og_breaker_probe_cancel(og_breaker *b);
/* After an exchange with the responder: failed (no usable answer) or not;
 * probe: it was the probe. Only failures while closed and the probe's
 * outcome count: requests sent before the breaker opened change nothing. */
og_breaker_change og_breaker_result(og_breaker *b, int probe, int failed, time_t now,
                                    time_t next_expiry);

/* ---- the request rate per responder ---- */
/* Added to each request's interval, so that the jitter between us and the
 * responder does not bring rate + 1 requests into one of its seconds. */
#define OG_RATE_MARGIN_PERCENT 2

/* A token bucket holding one token, refilled rate times a second: requests
 * go at least 1/rate s (plus the margin) apart, so no second, wherever it
 * starts, sees more than rate of them. */
typedef struct og_bucket {
    int64_t next_us;             /* when the token is there again */
} og_bucket;

/* Takes the token at now_us and returns 0; or returns the time (> now_us)
 * when it will be there. rate 0: no limit (always 0). */
int64_t og_bucket_take(og_bucket *b, unsigned rate, int64_t now_us);
/* Microseconds between two requests at rate (> 0). */
int64_t og_bucket_interval(unsigned rate);

#endif
