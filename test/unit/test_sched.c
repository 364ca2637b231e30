/* Copyright 2026 the mod_ocsp_guard developers. Licensed under the Apache License 2.0 (LICENSE). */
/* Scheduling arithmetic: refresh point, jitter bounds, backoff, retries. */
#include <check.h>
#include <stdint.h>
#include <time.h>

#include "og_sched.h"

START_TEST(refresh_point_is_the_percentage)
{
    /* no jitter draw: exactly pct of the window */
    ck_assert_int_eq(og_sched_refresh_at(1000, 2000, 50, 0, 0), 1500);
    ck_assert_int_eq(og_sched_refresh_at(1000, 2000, 80, 0, 0), 1800);
    ck_assert_int_eq(og_sched_refresh_at(1000, 2000, 1, 0, 0), 1010);
}
END_TEST

START_TEST(jitter_stays_in_bounds)
{
    /* jitter only moves the point earlier, by at most OG_JITTER_PERCENT of the window */
    time_t lo = 1500 - 1000 * OG_JITTER_PERCENT / 100, seen_lo = 1500, seen_hi = 0;
    for (uint32_t r = 0; r < 5000; r++) {
        uint32_t rnd = r * 2654435761u;
        time_t at = og_sched_refresh_at(1000, 2000, 50, rnd, 0);
        ck_assert_int_ge(at, lo);
        ck_assert_int_le(at, 1500);
        if (at < seen_lo) seen_lo = at;
        if (at > seen_hi) seen_hi = at;
    }
    /* and it does spread: the draws cover most of the span */
    ck_assert_int_le(seen_lo, lo + 5);
    ck_assert_int_ge(seen_hi, 1495);
}
END_TEST

START_TEST(refresh_never_before_now_nor_past_next_update)
{
    for (uint32_t r = 0; r < 1000; r++) {
        time_t at = og_sched_refresh_at(1000, 2000, 99, r * 7919u, 0);
        ck_assert_int_lt(at, 2000);
        at = og_sched_refresh_at(1000, 2000, 50, r * 7919u, 1900);
        ck_assert_int_eq(at, 1900);
    }
    /* a window of one second still refreshes before nextUpdate */
    ck_assert_int_lt(og_sched_refresh_at(1000, 1001, 99, 12345, 0), 1001);
    /* nonsense windows refresh now */
    ck_assert_int_eq(og_sched_refresh_at(2000, 1000, 50, 0, 1234), 1234);
    /* out-of-range percentages are clamped */
    ck_assert_int_eq(og_sched_refresh_at(0, 1000, 0, 0, 0), 10);
    ck_assert_int_eq(og_sched_refresh_at(0, 1000, 150, 0, 0), 990);
}
END_TEST

START_TEST(backoff_doubles_and_caps)
{
    ck_assert_int_eq(og_sched_backoff(1), 30);
    ck_assert_int_eq(og_sched_backoff(2), 60);
    ck_assert_int_eq(og_sched_backoff(3), 120);
    ck_assert_int_eq(og_sched_backoff(7), 1920);
    ck_assert_int_eq(og_sched_backoff(8), 3600);
    ck_assert_int_eq(og_sched_backoff(1000), 3600);
    for (unsigned n = 1; n < 64; n++)
        ck_assert_int_le(og_sched_backoff(n), OG_BACKOFF_MAX);
}
END_TEST

START_TEST(retry_always_before_next_update)
{
    /* no valid response: plain backoff */
    ck_assert_int_eq(og_sched_retry_at(1000, 1, 0), 1030);
    ck_assert_int_eq(og_sched_retry_at(1000, 20, 0), 1000 + 3600);
    /* a response valid for 100 more seconds: retries come before it expires */
    time_t now = 1000, until = 1100;
    for (unsigned n = 1; n < 30; n++) {
        time_t at = og_sched_retry_at(now, n, until);
        ck_assert_int_gt(at, now);
        if (until - now > 1)
            ck_assert_int_lt(at, until);
        now = at;
        if (now >= until)
            break;
    }
    /* backoff shorter than what is left is kept as is */
    ck_assert_int_eq(og_sched_retry_at(1000, 1, 5000), 1030);
}
END_TEST

/* Windows whose jitter span + 1 is 2^32: the old `% (uint32_t)(span + 1)`
 * divided by zero (SIGFPE). span = window * 10 / 100 = 2^32 - 1. */
START_TEST(jitter_span_of_two_to_the_32_does_not_divide_by_zero)
{
    const time_t window = (time_t)42949672950LL;     /* 10 % = 4294967295 */
    for (uint32_t r = 0; r < 64; r++) {
        uint32_t rnd = r * 2654435761u;
        time_t at = og_sched_refresh_at(1000, 1000 + window, 50, rnd, 2000);
        ck_assert_int_ge(at, 2000);
        ck_assert_int_lt(at, 1000 + window);
    }
    /* and the neighbours of that window */
    for (time_t w = window - 20; w <= window + 20; w++)
        ck_assert_int_ge(og_sched_refresh_at(0, w, 50, 0xFFFFFFFFu, 5), 5);
}
END_TEST

/* Anything at all: no crash, no UB (the san build aborts on overflow), and
 * the answer is never before now nor, for a real window, at or after its end. */
START_TEST(absurd_windows_are_handled)
{
    const time_t vals[] = { INT64_MIN, INT64_MIN + 1, -((time_t)1 << 40), -86400, -1, 0, 1, 2,
                            86400, 1700000000, (time_t)1 << 40, INT64_MAX - 1, INT64_MAX };
    const int pcts[] = { -5, 0, 1, 50, 99, 100, 1000 };
    const uint32_t rnds[] = { 0, 1, 0x7FFFFFFFu, 0xFFFFFFFFu };
    const size_t nv = sizeof(vals) / sizeof(vals[0]);
    for (size_t a = 0; a < nv; a++)
        for (size_t b = 0; b < nv; b++)
            for (size_t c = 0; c < nv; c++)
                for (size_t p = 0; p < sizeof(pcts) / sizeof(pcts[0]); p++)
                    for (size_t k = 0; k < sizeof(rnds) / sizeof(rnds[0]); k++) {
                        time_t tu = vals[a], nu = vals[b], now = vals[c];
                        time_t at = og_sched_refresh_at(tu, nu, pcts[p], rnds[k], now);
                        ck_assert_int_ge(at, now);
                        if (nu > tu && now < nu - 1)
                            ck_assert_int_lt(at, nu);
                        if (nu <= tu)
                            ck_assert_int_eq(at, now);
                    }
    for (size_t a = 0; a < nv; a++)
        for (size_t b = 0; b < nv; b++)
            for (unsigned n = 0; n < 70; n += 7) {
                time_t now = vals[a], until = vals[b];
                time_t at = og_sched_retry_at(now, n, until);
                ck_assert_int_ge(at, now);
                if (now < INT64_MAX)
                    ck_assert_int_gt(at, now);
                if (until > now && (uint64_t)until - (uint64_t)now > 1)
                    ck_assert_int_lt(at, until);
            }
}
END_TEST

/* More than a year of validity is suspicious: refreshed as if valid for a
 * week, however long the response claims. */
START_TEST(suspicious_windows_refresh_within_a_week)
{
    const time_t day = 86400, t0 = 1700000000;
    ck_assert(!og_sched_window_suspicious(t0, t0 + 7 * day));
    ck_assert(!og_sched_window_suspicious(t0, t0 + OG_SCHED_SUSPICIOUS_WINDOW));
    ck_assert(og_sched_window_suspicious(t0, t0 + OG_SCHED_SUSPICIOUS_WINDOW + 1));
    ck_assert(og_sched_window_suspicious(t0, t0 + 50 * 365 * day));
    ck_assert(og_sched_window_suspicious(INT64_MIN, INT64_MAX));
    ck_assert(!og_sched_window_suspicious(t0, t0));
    ck_assert(!og_sched_window_suspicious(t0, t0 - 1));
    /* a 100-day window is honoured; a 50-year one is treated as a week */
    ck_assert_int_eq(og_sched_refresh_at(t0, t0 + 100 * day, 50, 0, t0), t0 + 50 * day);
    ck_assert_int_eq(og_sched_refresh_at(t0, t0 + 50 * 365 * day, 50, 0, t0), t0 + OG_SCHED_CAPPED_WINDOW / 2);
    for (uint32_t r = 0; r < 1000; r++) {
        time_t at = og_sched_refresh_at(t0, t0 + 50 * 365 * day, 99, r * 2654435761u, t0);
        ck_assert_int_lt(at, t0 + OG_SCHED_CAPPED_WINDOW);
        ck_assert_int_ge(at, t0 + OG_SCHED_CAPPED_WINDOW * (99 - OG_JITTER_PERCENT) / 100);
        at = og_sched_refresh_at(INT64_MIN, INT64_MAX, 50, r * 7919u, t0);
        ck_assert_int_eq(at, t0);   /* the capped week ended long ago: refresh now */
    }
}
END_TEST

/* The breaker: a responder failing now and then, with answers in between,
 * never opens: failures must come in a row. Requests in flight when it
 * opened change nothing; one probe at a time decides; the probe goes
 * before the earliest staple expires. */
START_TEST(breaker_needs_failures_in_a_row_and_probes_before_expiry)
{
    og_breaker b = { 0 };
    ck_assert_int_eq(og_breaker_result(&b, 0, 1, 1000, 0), OG_BREAKER_SAME);
    ck_assert_int_eq(og_breaker_result(&b, 0, 1, 1001, 0), OG_BREAKER_SAME);
    ck_assert_int_eq(og_breaker_result(&b, 0, 0, 1002, 0), OG_BREAKER_SAME);   /* an answer */
    ck_assert_int_eq(og_breaker_result(&b, 0, 1, 1003, 0), OG_BREAKER_SAME);
    ck_assert_int_eq(og_breaker_result(&b, 0, 1, 1004, 0), OG_BREAKER_SAME);
    ck_assert_int_eq(og_breaker_result(&b, 0, 1, 1005, 1100), OG_BREAKER_DOWN);
    ck_assert_int_eq(b.probe_at, 1035);
    /* requests in flight when it opened change nothing, answered or not */
    ck_assert_int_eq(og_breaker_result(&b, 0, 0, 1006, 0), OG_BREAKER_SAME);
    ck_assert_int_eq(og_breaker_result(&b, 0, 1, 1006, 0), OG_BREAKER_SAME);
    ck_assert_int_eq(b.state, OG_BREAKER_OPEN);
    ck_assert(!og_breaker_probe(&b, 1034));
    ck_assert(og_breaker_probe(&b, 1035));
    ck_assert(!og_breaker_probe(&b, 1036));       /* one at a time */
    /* the staple expiring at 1100 gets a probe 30 s before it */
    ck_assert_int_eq(og_breaker_result(&b, 1, 1, 1040, 1100), OG_BREAKER_STILL_DOWN);
    ck_assert_int_eq(b.probe_at, 1070);
    ck_assert(og_breaker_probe(&b, 1070));
    og_breaker_probe_cancel(&b);                  /* it did not go: again at once */
    ck_assert(og_breaker_probe(&b, 1070));
    ck_assert_int_eq(og_breaker_result(&b, 1, 0, 1071, 0), OG_BREAKER_BACK);
    ck_assert_int_eq(b.state, OG_BREAKER_CLOSED);
    ck_assert_int_eq(b.failures, 0);
}
END_TEST

/* Probes: 30 s doubling to 15 min; moved to 30 s before the earliest
 * staple's nextUpdate, never closer than 30 s to each other. */
START_TEST(probe_times)
{
    const time_t t0 = 1700000000;
    ck_assert_int_eq(og_sched_probe_at(t0, 1, 0), t0 + 30);
    ck_assert_int_eq(og_sched_probe_at(t0, 2, 0), t0 + 60);
    ck_assert_int_eq(og_sched_probe_at(t0, 5, 0), t0 + 480);
    ck_assert_int_eq(og_sched_probe_at(t0, 6, 0), t0 + OG_BREAKER_MAX);
    ck_assert_int_eq(og_sched_probe_at(t0, 1000, 0), t0 + OG_BREAKER_MAX);
    /* a staple expiring in 10 min: the 15-min step comes 30 s before it */
    ck_assert_int_eq(og_sched_probe_at(t0, 9, t0 + 600), t0 + 570);
    /* within the step anyway: unchanged */
    ck_assert_int_eq(og_sched_probe_at(t0, 1, t0 + 600), t0 + 30);
    /* one expiring in 40 s: 30 s from now (10 s before it), no closer */
    ck_assert_int_eq(og_sched_probe_at(t0, 9, t0 + 40), t0 + 30);
    /* too close to save (30 s or less): ignored, the caller looks further */
    ck_assert_int_eq(og_sched_probe_at(t0, 2, t0 + 30), t0 + 60);
    /* time_t's extremes */
    ck_assert_int_eq(og_sched_probe_at(INT64_MAX - 10, 3, 0), INT64_MAX);
    ck_assert_int_eq(og_sched_probe_at(t0, 3, INT64_MAX), t0 + 120);
}
END_TEST

/* The token bucket per responder, in simulated time: a request per
 * interval, counted from when the token is taken; never rate + 1 requests
 * in any second; no limit at 0. */
START_TEST(bucket_paces_requests)
{
    const int64_t t = 1700000000LL * 1000000, iv = og_bucket_interval(20);
    og_bucket b = { 0 }, c = { 0 };
    static int64_t at[1000];
    int64_t now = t;
    ck_assert_int_eq(iv, 51000);     /* 1/20 s, and 2 % for the jitter on the way */
    ck_assert_int_eq(og_bucket_take(&b, 20, t), 0);
    ck_assert_int_eq(og_bucket_take(&b, 20, t), t + iv);
    ck_assert_int_eq(og_bucket_take(&b, 20, t + iv - 1), t + iv);
    ck_assert_int_eq(og_bucket_take(&b, 20, t + iv), 0);
    /* taken late: the next one counts from then, not from when it was due */
    ck_assert_int_eq(og_bucket_take(&b, 20, t + 5 * iv), 0);
    ck_assert_int_eq(og_bucket_take(&b, 20, t + 5 * iv + 1), t + 6 * iv);
    /* 1,000 requests, each going as soon as it may */
    for (int k = 0; k < 1000; k++) {
        int64_t wait;
        while ((wait = og_bucket_take(&c, 20, now)) != 0)
            now = wait;
        at[k] = now;
    }
    for (int k = 20; k < 1000; k++)
        ck_assert_int_ge(at[k] - at[k - 20], 1000000);
    ck_assert_int_le(at[999] - at[0], 999 * iv);  /* and no slower than the interval */
    /* whatever the rate, rate + 1 requests never fit in one second */
    for (unsigned r = 1; r <= 100000; r = r * 3 + 1)
        ck_assert_int_ge((int64_t)r * og_bucket_interval(r), 1000000);
    /* a fill of 10,000 at 2,500 a second fits in the 5 s start-up wait */
    ck_assert_int_lt(9999 * og_bucket_interval(2500), 5000000);
    for (int k = 0; k < 5; k++)
        ck_assert_int_eq(og_bucket_take(&b, 0, t), 0);
}
END_TEST

Suite *sched_suite(void)
{
    Suite *s = suite_create("sched");
    TCase *tc = tcase_create("arithmetic");
    tcase_add_test(tc, refresh_point_is_the_percentage);
    tcase_add_test(tc, jitter_stays_in_bounds);
    tcase_add_test(tc, refresh_never_before_now_nor_past_next_update);
    tcase_add_test(tc, backoff_doubles_and_caps);
    tcase_add_test(tc, retry_always_before_next_update);
    tcase_add_test(tc, jitter_span_of_two_to_the_32_does_not_divide_by_zero);
    tcase_add_test(tc, absurd_windows_are_handled);
    tcase_add_test(tc, suspicious_windows_refresh_within_a_week);
    tcase_add_test(tc, breaker_needs_failures_in_a_row_and_probes_before_expiry);
    tcase_add_test(tc, probe_times);
    tcase_add_test(tc, bucket_paces_requests);
    suite_add_tcase(s, tc);
    return s;
}
