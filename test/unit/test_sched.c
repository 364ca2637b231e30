/* Scheduling arithmetic: refresh point, jitter bounds, backoff, retries. */
#include <check.h>
#include <stdint.h>

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

Suite *sched_suite(void)
{
    Suite *s = suite_create("sched");
    TCase *tc = tcase_create("arithmetic");
    tcase_add_test(tc, refresh_point_is_the_percentage);
    tcase_add_test(tc, jitter_stays_in_bounds);
    tcase_add_test(tc, refresh_never_before_now_nor_past_next_update);
    tcase_add_test(tc, backoff_doubles_and_caps);
    tcase_add_test(tc, retry_always_before_next_update);
    suite_add_tcase(s, tc);
    return s;
}
