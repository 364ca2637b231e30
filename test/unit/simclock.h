/* Copyright 2026 the mod_ocsp_guard developers. Licensed under the Apache License 2.0 (LICENSE). */
/* A simulated og_clock for the unit tests. Time stands still while any
 * thread it knows runs, and jumps to the earliest deadline once every one
 * of them waits on it: scenarios of hours run in milliseconds, without a
 * real wait, and at the same simulated times on every run.
 *
 * The threads it knows: the test's own (from sim_init), each one announced
 * with sim_thread_start before it is created (the refresher announces its
 * workers through og_clock.thread_start), until sim_thread_end. A thread
 * that blocks on anything but this clock (a join, a plain mutex held by
 * another waiter) must leave with sim_thread_end first, or time stops. */
#ifndef SIMCLOCK_H
#define SIMCLOCK_H

#include <stdint.h>
#include <time.h>
#include "og_clock.h"

/* Starts simulated time at start_s (seconds since the epoch), the calling
 * thread being the one thread known. */
void sim_init(time_t start_s);
const og_clock *sim_clock(void);
int64_t sim_now_us(void);
time_t sim_now(void);
void sim_thread_start(void);
void sim_thread_end(void);
/* The caller waits while us microseconds of simulated time pass. */
void sim_pass_us(int64_t us);
/* Polls cond every step_ms of simulated time, for at most seconds:
 * 1 as soon as it holds, else 0. */
int sim_until(int (*cond)(void), int seconds, int step_ms);

#endif
