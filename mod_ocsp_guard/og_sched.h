/* Refresh scheduling arithmetic: when to refresh, how long to back off. */
#ifndef OG_SCHED_H
#define OG_SCHED_H

#include <stdint.h>
#include <time.h>

#define OG_JITTER_PERCENT 10     /* refreshes spread over this share of the window */
#define OG_BACKOFF_FIRST 30      /* seconds after the first failure */
#define OG_BACKOFF_MAX 3600

/* Refresh point: this_update + pct % of the window, moved earlier by a
 * random part (rnd) of OG_JITTER_PERCENT of the window; never before now
 * and always before next_update. */
time_t og_sched_refresh_at(time_t this_update, time_t next_update, int pct,
                           uint32_t rnd, time_t now);
/* Delay after the n-th consecutive failure (n >= 1): 30 s doubling, capped. */
time_t og_sched_backoff(unsigned failures);
/* Next try after a failure. While a response is valid until valid_until
 * (0: none), the retry comes before it expires. */
time_t og_sched_retry_at(time_t now, unsigned failures, time_t valid_until);

#endif
