/* Copyright 2026 the mod_ocsp_guard developers. Licensed under the Apache License 2.0 (LICENSE). */
/* mod_ocsp_guard glue: the staple table's shared memory, per generation. */
#include <string.h>

#include "httpd.h"
#include "http_log.h"
#include "ap_mpm.h"
#include "apr_atomic.h"
#include "apr_shm.h"

#include "guard_config.h"
#include "guard_log.h"
#include "guard_table.h"

APLOG_USE_MODULE(ocsp_guard);

#define TABLE_KEY "mod_ocsp_guard-staple-table"

static og_table *staple_table;
static const guard_registry *table_registry;     /* its certificates, slot = index */

og_table *guard_table_current(void)
{
    return staple_table;
}

void guard_table_forget(void)
{
    staple_table = NULL;
}

/* The handle is this generation's (the shared memory outlives it). */
static apr_status_t free_handle(void *table)
{
    if (staple_table == table)
        staple_table = NULL;
    og_table_free(table);
    return APR_SUCCESS;
}

og_table *guard_table_create(server_rec *s, const guard_registry *r, int *carried, int *restarted)
{
    apr_pool_t *proc_pool = s->process->pool;
    apr_shm_t *shm = NULL, *old = NULL;
    unsigned n = (unsigned)r->targets->nelts;
    const og_target *t = (const og_target *)r->targets->elts;
    og_table *table;
    apr_status_t rv;

    rv = apr_shm_create(&shm, og_table_size(n), NULL, proc_pool);
    if (rv != APR_SUCCESS) {
        ap_log_error(APLOG_MARK, APLOG_ERR, rv, s, GUARD_LOGNO(00301) "cannot create shared memory "
                     "for %u staples; handshakes get no staple", n);
        return NULL;
    }
    table = og_table_init(apr_shm_baseaddr_get(shm), apr_shm_size_get(shm), n, guard_registry_ids(r));
    if (table)
        apr_pool_cleanup_register(s->process->pconf, table, free_handle, apr_pool_cleanup_null);
    for (unsigned i = 0; table && i < n; i++) {
        if (t[i].cert->must_staple)
            og_table_mark_must_staple(table, t[i].slot);
    }
    apr_pool_userdata_get((void **)&old, TABLE_KEY, proc_pool);
    *carried = 0;
    *restarted = old != NULL;
    if (old) {
        /* The old generation's memory was the server's user's to write: read
         * through a handle whose bounds come from the size we allocated. */
        og_table *from = og_table_attach(apr_shm_baseaddr_get(old), apr_shm_size_get(old));
        if (table && from)
            *carried = (int)og_table_carry_over(table, from);
        og_table_free(from);
        /* Old children keep their own mapping; the parent lets go of it. */
        apr_shm_destroy(old);
    }
    apr_pool_userdata_set(shm, TABLE_KEY, apr_pool_cleanup_null, proc_pool);
    staple_table = table;
    table_registry = r;
    return table;
}

int guard_table_stapled(unsigned slot, time_t now, og_slot_meta *m)
{
    return og_table_read(staple_table, slot, NULL, 0, NULL, m) && og_meta_stapled(m, now);
}

int guard_table_stapled_nowait(unsigned slot, time_t now, og_slot_meta *m)
{
    if (!og_table_read_nowait(staple_table, slot, m))
        return -1;
    return og_meta_stapled(m, now);
}

unsigned guard_table_count_stapled(void)
{
    unsigned n = 0;
    time_t now = time(NULL);
    og_slot_meta m;
    for (unsigned i = 0; i < og_table_count(staple_table); i++)
        n += guard_table_stapled_nowait(i, now, &m) == 1;
    return n;
}

/* Handshakes of this process waiting for a must-staple fetch, and how many
 * may: a quarter of its threads, so that one slow responder cannot take
 * every thread from the other virtual hosts. */
static volatile apr_uint32_t waiting;
static apr_uint32_t max_waiting;
static volatile apr_uint32_t cap_logged;     /* apr_time_sec of the last cap warning */
#define CAP_LOG_INTERVAL 60

static int may_wait(server_rec *s)
{
    if (!max_waiting) {
        int threads = 1;
        ap_mpm_query(AP_MPMQ_MAX_THREADS, &threads);
        max_waiting = threads >= 8 ? (apr_uint32_t)threads / 4 : 1;
    }
    if (apr_atomic_inc32(&waiting) < max_waiting)
        return 1;
    apr_atomic_dec32(&waiting);
    {
        apr_uint32_t now = (apr_uint32_t)apr_time_sec(apr_time_now()), last = cap_logged;
        if (now - last >= CAP_LOG_INTERVAL && apr_atomic_cas32(&cap_logged, now, last) == last)
            ap_log_error(APLOG_MARK, APLOG_WARNING, 0, s, GUARD_LOGNO(00704) "must-staple handshakes: "
                         "%u already wait for their fetch in this process (a quarter of its "
                         "threads); further ones go on without a staple", (unsigned)max_waiting);
    }
    return 0;
}

int guard_table_staple_wait(server_rec *s, unsigned slot, unsigned char *buf, size_t cap,
                            size_t *len)
{
    const guard_server_conf *gc = guard_conf(s);
    /* At start-up a must-staple certificate's first fetch is waited for up
     * to its responder timeout (and the second's worth of slack to pick it
     * up), as the start-up wait would; after that OCSPGuardMustStapleWait. */
    og_wait_bounds b = { gc->must_staple_wait * 1000L, (gc->timeout + 1) * 1000L };
    long waited = 0;
    int got;
    /* the common case, a certificate without must-staple: one load */
    if (!og_table_would_wait(staple_table, slot, &b) || !may_wait(s))
        return 0;
    got = og_table_staple_wait(staple_table, slot, &b, buf, cap, len, &waited);
    apr_atomic_dec32(&waiting);
    if (waited)
        ap_log_error(APLOG_MARK, APLOG_DEBUG, 0, s, GUARD_LOGNO(00703) "%s (must-staple): the "
                     "handshake waited %ld ms for the fetch in flight: %s",
                     ((const og_target *)table_registry->targets->elts)[slot].cert->name, waited,
                     got ? "stapled" : "still no staple");
    return got;
}
