/* Copyright 2026 the mod_ocsp_guard developers. Licensed under the Apache License 2.0 (LICENSE). */
#include "og_clock.h"

static int64_t real_now(void *baton)
{
    struct timespec ts;
    (void)baton;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * OG_USEC + ts.tv_nsec / 1000;
}

/* Condition variables are created with the default attributes, whose
 * timed waits count on CLOCK_REALTIME: the clock now() reads. */
static void real_wait(void *baton, pthread_mutex_t *lock, pthread_cond_t *cond, int64_t until_us)
{
    struct timespec until = { (time_t)(until_us / OG_USEC), (long)(until_us % OG_USEC) * 1000 };
    (void)baton;
    if (until_us < 0)
        until.tv_sec = 0, until.tv_nsec = 0;
    pthread_cond_timedwait(cond, lock, &until);
}

static void real_wake(void *baton, pthread_cond_t *cond)
{
    (void)baton;
    pthread_cond_broadcast(cond);
}

static const og_clock real_clock = { NULL, real_now, real_wait, real_wake, NULL, NULL };

const og_clock *og_clock_real(void)
{
    return &real_clock;
}
