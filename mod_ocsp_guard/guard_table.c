/* mod_ocsp_guard glue: the staple table's shared memory, per generation. */
#include <string.h>

#include "httpd.h"
#include "http_log.h"
#include "apr_shm.h"

#include "guard_log.h"
#include "guard_table.h"

APLOG_USE_MODULE(ocsp_guard);

#define TABLE_KEY "mod_ocsp_guard-staple-table"

static og_table *staple_table;

og_table *guard_table_current(void)
{
    return staple_table;
}

void guard_table_forget(void)
{
    staple_table = NULL;
}

og_table *guard_table_create(server_rec *s, const guard_registry *r, int *carried, int *restarted)
{
    apr_pool_t *proc_pool = s->process->pool;
    apr_shm_t *shm = NULL, *old = NULL;
    unsigned n = (unsigned)r->targets->nelts;
    og_table *table;
    apr_status_t rv;

    rv = apr_shm_create(&shm, og_table_size(n), NULL, proc_pool);
    if (rv != APR_SUCCESS) {
        ap_log_error(APLOG_MARK, APLOG_ERR, rv, s, GUARD_LOGNO(00301) "cannot create shared memory "
                     "for %u staples; handshakes get no staple", n);
        return NULL;
    }
    table = og_table_init(apr_shm_baseaddr_get(shm), apr_shm_size_get(shm), n, guard_registry_ids(r));
    apr_pool_userdata_get((void **)&old, TABLE_KEY, proc_pool);
    *carried = 0;
    *restarted = old != NULL;
    if (old) {
        if (table && og_table_valid(apr_shm_baseaddr_get(old), apr_shm_size_get(old)))
            *carried = (int)og_table_carry_over(table, apr_shm_baseaddr_get(old));
        /* Old children keep their own mapping; the parent lets go of it. */
        apr_shm_destroy(old);
    }
    apr_pool_userdata_set(shm, TABLE_KEY, apr_pool_cleanup_null, proc_pool);
    staple_table = table;
    return table;
}

int guard_table_stapled(unsigned slot, time_t now, og_slot_meta *m)
{
    return og_table_read(staple_table, slot, NULL, 0, NULL, m) && og_meta_stapled(m, now);
}

unsigned guard_table_count_stapled(void)
{
    unsigned n = 0;
    time_t now = time(NULL);
    og_slot_meta m;
    for (unsigned i = 0; i < og_table_count(staple_table); i++)
        n += (unsigned)guard_table_stapled(i, now, &m);
    return n;
}
