/* Copyright 2026 the mod_ocsp_guard developers. Licensed under the Apache License 2.0 (LICENSE). */
#include "simclock.h"

#include <pthread.h>
#include <stdlib.h>

typedef struct waiter {
    pthread_cond_t *cond;        /* what wake() names it by */
    int64_t until;
    int done;
    pthread_cond_t cv;           /* its own, under sim.mu */
    struct waiter *next;
} waiter;

static struct {
    pthread_mutex_t mu;
    int64_t now;
    int running;                 /* known threads not waiting */
    waiter *waiters;
} sim = { PTHREAD_MUTEX_INITIALIZER, 0, 0, NULL };

static void release(waiter *w)
{
    w->done = 1;
    sim.running++;
    pthread_cond_signal(&w->cv);
}

/* Under sim.mu: once nobody runs, time moves to the earliest deadline and
 * its waiters go on. */
static void advance(void)
{
    while (sim.running == 0) {
        waiter *w;
        int64_t t = INT64_MAX;
        for (w = sim.waiters; w; w = w->next)
            if (!w->done && w->until < t)
                t = w->until;
        if (t == INT64_MAX)
            return;              /* everyone waits for a wake: a deadlock the test will see */
        if (t > sim.now)
            sim.now = t;
        for (w = sim.waiters; w; w = w->next)
            if (!w->done && w->until <= sim.now)
                release(w);
    }
}

static int64_t clock_now(void *baton)
{
    int64_t t;
    (void)baton;
    pthread_mutex_lock(&sim.mu);
    t = sim.now;
    pthread_mutex_unlock(&sim.mu);
    return t;
}

static void clock_wait(void *baton, pthread_mutex_t *lock, pthread_cond_t *cond, int64_t until)
{
    waiter w = { cond, until, 0, PTHREAD_COND_INITIALIZER, NULL };
    (void)baton;
    pthread_mutex_lock(&sim.mu);
    w.next = sim.waiters;
    sim.waiters = &w;
    sim.running--;
    if (until <= sim.now)
        release(&w);
    advance();
    pthread_mutex_unlock(&sim.mu);
    /* registered while holding lock: a wake(), which comes with lock held,
     * cannot slip in between */
    pthread_mutex_unlock(lock);
    pthread_mutex_lock(&sim.mu);
    while (!w.done)
        pthread_cond_wait(&w.cv, &sim.mu);
    for (waiter **p = &sim.waiters; *p; p = &(*p)->next) {
        if (*p == &w) {
            *p = w.next;
            break;
        }
    }
    pthread_mutex_unlock(&sim.mu);
    pthread_cond_destroy(&w.cv);
    pthread_mutex_lock(lock);
}

static void clock_wake(void *baton, pthread_cond_t *cond)
{
    (void)baton;
    pthread_mutex_lock(&sim.mu);
    for (waiter *w = sim.waiters; w; w = w->next)
        if (!w->done && w->cond == cond)
            release(w);
    pthread_mutex_unlock(&sim.mu);
}

void sim_thread_start(void)
{
    pthread_mutex_lock(&sim.mu);
    sim.running++;
    pthread_mutex_unlock(&sim.mu);
}

void sim_thread_end(void)
{
    pthread_mutex_lock(&sim.mu);
    sim.running--;
    advance();
    pthread_mutex_unlock(&sim.mu);
}

static void start_hook(void *baton)
{
    (void)baton;
    sim_thread_start();
}

static void end_hook(void *baton)
{
    (void)baton;
    sim_thread_end();
}

static const og_clock simulated = { NULL, clock_now, clock_wait, clock_wake, start_hook, end_hook };

void sim_init(time_t start_s)
{
    pthread_mutex_lock(&sim.mu);
    sim.now = (int64_t)start_s * OG_USEC;
    sim.running = 1;
    sim.waiters = NULL;
    pthread_mutex_unlock(&sim.mu);
}

const og_clock *sim_clock(void)
{
    return &simulated;
}

int64_t sim_now_us(void)
{
    return clock_now(NULL);
}

time_t sim_now(void)
{
    return (time_t)(clock_now(NULL) / OG_USEC);
}

void sim_pass_us(int64_t us)
{
    static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
    static pthread_cond_t never;    /* nobody wakes it: only time ends the wait */
    int64_t until = sim_now_us() + us;
    pthread_mutex_lock(&lock);
    while (sim_now_us() < until)
        clock_wait(NULL, &lock, &never, until);
    pthread_mutex_unlock(&lock);
}

int sim_until(int (*cond)(void), int seconds, int step_ms)
{
    int64_t end = sim_now_us() + (int64_t)seconds * OG_USEC;
    while (!cond()) {
        if (sim_now_us() >= end)
            return 0;
        sim_pass_us((int64_t)step_ms * 1000);
    }
    return 1;
}
