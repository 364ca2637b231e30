/* Copyright 2026 the mod_ocsp_guard developers. Licensed under the Apache License 2.0 (LICENSE). */
#include "og_sched.h"

/* time_t is a signed 64-bit type on every platform httpd 2.4 builds for here. */
#define TIME_MAX ((time_t)INT64_MAX)
#define TIME_MIN ((time_t)INT64_MIN)

static time_t sat_add(time_t a, time_t b)
{
    time_t r;
    if (__builtin_add_overflow(a, b, &r))
        return b > 0 ? TIME_MAX : TIME_MIN;
    return r;
}

/* next - this, or -1 when not positive, TIME_MAX when it overflows. */
static time_t window_of(time_t this_update, time_t next_update)
{
    time_t w;
    if (next_update <= this_update)
        return -1;
    if (__builtin_sub_overflow(next_update, this_update, &w))
        return TIME_MAX;
    return w;
}

int og_sched_window_suspicious(time_t this_update, time_t next_update)
{
    return window_of(this_update, next_update) > OG_SCHED_SUSPICIOUS_WINDOW;
}

time_t og_sched_refresh_at(time_t this_update, time_t next_update, int pct,
                           uint32_t rnd, time_t now)
{
    time_t window = window_of(this_update, next_update);
    time_t at, end, jitter_span;
    if (window <= 0)
        return now;
    if (window > OG_SCHED_SUSPICIOUS_WINDOW)
        window = OG_SCHED_CAPPED_WINDOW;
    /* window <= a year from here on: the products below stay far from overflow */
    end = sat_add(this_update, window);          /* <= next_update */
    if (pct < 1)
        pct = 1;
    if (pct > 99)
        pct = 99;
    at = sat_add(this_update, (time_t)((long long)window * pct / 100));
    jitter_span = (time_t)((long long)window * OG_JITTER_PERCENT / 100);
    if (jitter_span > 0)
        at = sat_add(at, -(time_t)((uint64_t)rnd % ((uint64_t)jitter_span + 1)));
    if (at >= end)
        at = end - 1;                            /* end > this_update >= TIME_MIN */
    if (at < now)
        at = now;
    return at;
}

/* first, doubled after each further failure, capped */
static time_t doubling(unsigned failures, time_t first, time_t cap)
{
    time_t d = first;
    for (unsigned i = 1; i < failures && d < cap; i++)
        d *= 2;
    return d > cap ? cap : d;
}

time_t og_sched_backoff(unsigned failures)
{
    return doubling(failures, OG_BACKOFF_FIRST, OG_BACKOFF_MAX);
}

time_t og_sched_retry_at(time_t now, unsigned failures, time_t valid_until)
{
    time_t at = sat_add(now, og_sched_backoff(failures));
    if (valid_until > now && at >= valid_until) {
        /* Halve the time left, so tries keep coming until the response expires. */
        time_t left = window_of(now, valid_until);
        at = sat_add(now, left / 2);
        if (at <= now)
            at = sat_add(now, 1);
    }
    return at;
}

time_t og_sched_probe_at(time_t now, unsigned step, time_t next_expiry)
{
    time_t at = sat_add(now, doubling(step, OG_BREAKER_FIRST, OG_BREAKER_MAX));
    time_t soonest = sat_add(now, OG_BREAKER_FIRST);
    /* One probe OG_BREAKER_FIRST before the staple expires, not a cascade
     * of them: the next one looks at the staple expiring after that. */
    if (next_expiry > soonest && at > sat_add(next_expiry, -OG_BREAKER_FIRST)) {
        at = sat_add(next_expiry, -OG_BREAKER_FIRST);
        if (at < soonest)
            at = soonest;
    }
    return at;
}

int og_breaker_probe(og_breaker *b, time_t now)
{
    if (b->state != OG_BREAKER_OPEN || now < b->probe_at)
        return 0;
    b->state = OG_BREAKER_PROBING;
    return 1;
}

void og_breaker_probe_cancel(og_breaker *b)
{
    if (b->state == OG_BREAKER_PROBING)
        b->state = OG_BREAKER_OPEN;
}

og_breaker_change og_breaker_result(og_breaker *b, int probe, int failed, time_t now,
                                    time_t next_expiry)
{
    if (b->state == OG_BREAKER_CLOSED) {
        if (!failed) {
            b->failures = 0;
            return OG_BREAKER_SAME;
        }
        if (++b->failures < OG_BREAKER_FAILURES)
            return OG_BREAKER_SAME;
        b->state = OG_BREAKER_OPEN;
        b->step = 1;
        b->down_since = now;
        b->probe_at = og_sched_probe_at(now, b->step, next_expiry);
        return OG_BREAKER_DOWN;
    }
    if (!probe || b->state != OG_BREAKER_PROBING)
        return OG_BREAKER_SAME;
    if (!failed) {
        b->state = OG_BREAKER_CLOSED;
        b->failures = 0;
        b->step = 0;
        return OG_BREAKER_BACK;
    }
    b->state = OG_BREAKER_OPEN;
    b->step++;
    b->probe_at = og_sched_probe_at(now, b->step, next_expiry);
    return OG_BREAKER_STILL_DOWN;
}

int64_t og_bucket_interval(unsigned rate)
{
    /* rounded up: rate + 1 intervals never fit in a second */
    int64_t per = 1000000LL * (100 + OG_RATE_MARGIN_PERCENT);
    return (per + 100LL * rate - 1) / (100LL * rate);
}

int64_t og_bucket_take(og_bucket *b, unsigned rate, int64_t now_us)
{
    if (!rate)
        return 0;
    if (now_us < b->next_us)
        return b->next_us;
    /* from the time it is taken, not when it was due: a worker that woke
     * late does not let the next one follow closer */
    b->next_us = now_us + og_bucket_interval(rate);
    return 0;
}
