/* Copyright 2026 the mod_ocsp_guard developers. Licensed under the Apache License 2.0 (LICENSE). */
/* The refresher's time: the wall clock by default, a simulated one in the
 * unit tests, so that outages, expiry, backoff and rate limits run in
 * simulated time without sleeping. Every wait of the refresher's threads
 * goes through one; nothing of the refresher reads the time otherwise. */
#ifndef OG_CLOCK_H
#define OG_CLOCK_H

#include <pthread.h>
#include <stdint.h>
#include <time.h>

#define OG_USEC 1000000LL        /* microseconds a second */

typedef struct og_clock {
    void *baton;
    /* Microseconds since the epoch: a wall clock, as OCSP times are. */
    int64_t (*now)(void *baton);
    /* Called with lock held: releases it until wake(cond) or until the
     * clock reaches until_us, then takes it again. May return early, so
     * callers check their condition again. */
    void (*wait)(void *baton, pthread_mutex_t *lock, pthread_cond_t *cond, int64_t until_us);
    /* Wakes every thread in wait() on cond; called with cond's lock held. */
    void (*wake)(void *baton, pthread_cond_t *cond);
    /* Optional (NULL: nothing): a thread that waits on this clock is about
     * to be created, or is ending. A simulated clock moves time on only
     * while every such thread waits, so it has to know them all. */
    void (*thread_start)(void *baton);
    void (*thread_end)(void *baton);
} og_clock;

/* CLOCK_REALTIME, and pthread_cond_timedwait on it. */
const og_clock *og_clock_real(void);

static inline time_t og_clock_sec(const og_clock *c)
{
    return (time_t)(c->now(c->baton) / OG_USEC);
}

#endif
