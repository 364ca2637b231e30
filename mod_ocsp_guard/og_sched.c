#include "og_sched.h"

time_t og_sched_refresh_at(time_t this_update, time_t next_update, int pct,
                           uint32_t rnd, time_t now)
{
    time_t window = next_update - this_update;
    time_t at, jitter_span;
    if (window <= 0)
        return now;
    if (pct < 1)
        pct = 1;
    if (pct > 99)
        pct = 99;
    at = this_update + (time_t)((long long)window * pct / 100);
    jitter_span = (time_t)((long long)window * OG_JITTER_PERCENT / 100);
    if (jitter_span > 0)
        at -= (time_t)(rnd % (uint32_t)(jitter_span + 1));
    if (at >= next_update)
        at = next_update - 1;
    if (at < now)
        at = now;
    return at;
}

time_t og_sched_backoff(unsigned failures)
{
    time_t d = OG_BACKOFF_FIRST;
    for (unsigned i = 1; i < failures && d < OG_BACKOFF_MAX; i++)
        d *= 2;
    return d > OG_BACKOFF_MAX ? OG_BACKOFF_MAX : d;
}

time_t og_sched_retry_at(time_t now, unsigned failures, time_t valid_until)
{
    time_t at = now + og_sched_backoff(failures);
    if (valid_until > now && at >= valid_until) {
        /* Halve the time left, so tries keep coming until the response expires. */
        at = now + (valid_until - now) / 2;
        if (at <= now)
            at = now + 1;
    }
    return at;
}
