/* Refresh scheduling arithmetic: when to refresh, how long to back off.
 * Every function takes any time_t values, however absurd (negative, zero or
 * inverted windows, time_t's extremes), without overflow. */
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

#endif
