/* Copyright 2026 the mod_ocsp_guard developers. Licensed under the Apache License 2.0 (LICENSE). */
/* mod_ocsp_guard glue, process room: the refresher process (forked by the
 * parent, running as the server's user, restarted when it dies), the
 * start-up wait, and the parent's watch over the staples from the MPM's
 * monitor hook. Depends on guard_control, guard_table, guard_registry, guard_cache,
 * guard_config and guard_log. */
#ifndef GUARD_PROCESS_H
#define GUARD_PROCESS_H

#include "httpd.h"
#include "guard_cache.h"
#include "guard_registry.h"

/* Starts this generation's refresher for r's certificates with the cache c
 * (whose lifetime is pconf's); stopped by a pconf cleanup. */
apr_status_t guard_process_start(server_rec *s, apr_pool_t *pconf, guard_registry *r, guard_cache *c);

/* Waits until the refresher has read the local cache tier (at every start,
 * graceful restarts too, bounded by its progress); then, at a cold start
 * (restarted 0), up to seconds for first staples, says how many there are,
 * and names must-staple certificates without one. */
void guard_process_startup_wait(server_rec *s, int seconds, int restarted);

/* The monitor hook's work (parent, about every 10 s; never blocks). */
void guard_process_monitor(server_rec *s);

/* Forgets the last generation's process state (post_config). */
void guard_process_reset(void);

#endif
