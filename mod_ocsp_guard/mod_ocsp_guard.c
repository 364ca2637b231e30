/* Copyright 2026 the mod_ocsp_guard developers. Licensed under the Apache License 2.0 (LICENSE). */
/* mod_ocsp_guard: OCSP stapling through httpd's core stapling hooks. This
 * file registers the hooks and holds the two stapling hooks; the work is in
 * the rooms below it (guard_*.c, each with its header) and in the pure og_*
 * core, which knows nothing of httpd. */
#include <time.h>

#include "httpd.h"
#include "http_config.h"
#include "http_core.h"
#include "http_log.h"
#include "http_ssl.h"
#include "ap_mmn.h"
#include "mpm_common.h"
#include "mod_status.h"

#include "og_table.h"
#include "guard_cache.h"
#include "guard_check.h"
#include "guard_config.h"
#include "guard_control.h"
#include "guard_log.h"
#include "guard_process.h"
#include "guard_registry.h"
#include "guard_status.h"
#include "guard_table.h"

#if !AP_MODULE_MAGIC_AT_LEAST(20120211, 105)
#error "mod_ocsp_guard needs httpd 2.4.48 or later: the ap_ssl_ocsp_* stapling hooks"
#endif

APLOG_USE_MODULE(ocsp_guard);

static int guard_ocsp_prime(server_rec *s, apr_pool_t *p, const char *id, apr_size_t id_len,
                            const char *pem)
{
    return guard_registry_prime(s, p, id, id_len, pem);
}

/* The handshake path: a lookup in shared memory and a counter; only a
 * must-staple certificate without a staple may wait for its fetch in
 * flight (guard_table_staple_wait), polling, never holding a lock. The
 * handshake is counted once, after any wait, with what it finally got. */
static int guard_ocsp_get_resp(server_rec *s, conn_rec *c, const char *id, apr_size_t id_len,
                               ap_ssl_ocsp_copy_resp *cb, void *userdata)
{
    og_table *table = guard_table_current();
    unsigned char der[OG_SLOT_CAPACITY];
    size_t len = 0;
    int slot, stapled;
    (void)c;
    if (!table || (slot = og_table_find(table, (const unsigned char *)id, id_len)) < 0)
        return DECLINED;
    stapled = og_table_staple(table, (unsigned)slot, time(NULL), der, sizeof(der), &len) ||
              guard_table_staple_wait(s, (unsigned)slot, der, sizeof(der), &len);
    /* mod_ssl asks only for clients that sent status_request */
    og_table_count_handshake(table, (unsigned)slot, stapled);
    /* mod_ssl leaves its result unset: answer with (NULL, 0) when there is nothing. */
    if (stapled)
        cb(der, len, userdata);
    else
        cb(NULL, 0, userdata);
    return OK;
}

static int guard_post_config(apr_pool_t *pconf, apr_pool_t *plog, apr_pool_t *ptemp, server_rec *s)
{
    guard_registry *r = guard_registry_current();
    const guard_server_conf *gc = guard_conf(s);
    guard_cache *cache;
    int carried = 0, restarted = 0;
    (void)plog;
    guard_table_forget();
    guard_control_forget();
    guard_process_reset();
    if (guard_registry_dry_run())
        return OK;               /* the first pass does no network work */
    if (!r || r->targets->nelts == 0) {
        ap_log_error(APLOG_MARK, APLOG_DEBUG, 0, s, "no certificate to staple");
        return OK;
    }
    guard_registry_name_places(r);
    if (!guard_table_create(s, r, &carried, &restarted))
        return OK;               /* handshakes go without staples; the error is logged */
    guard_control_create(s, r, guard_table_current());
    cache = apr_pcalloc(pconf, sizeof(*cache));
    guard_cache_open(pconf, ptemp, s, gc->cache_spec, cache);
    if (guard_process_start(s, pconf, r, cache) != APR_SUCCESS)
        return OK;
    ap_log_error(APLOG_MARK, APLOG_INFO, 0, s, GUARD_LOGNO(00001) "mod_ocsp_guard/%s stapling %d "
                 "certificate(s) (read in %" APR_TIME_T_FMT " ms); %d carried over from the last "
                 "generation; cache %s", OG_VERSION, r->targets->nelts, apr_time_as_msec(r->prime_time),
                 carried, cache->provider ? cache->spec : "none (memory only)");
    guard_process_startup_wait(s, gc->startup_wait, restarted);
    return OK;
}

static int guard_monitor(apr_pool_t *p, server_rec *s)
{
    (void)p;
    guard_process_monitor(s);
    return DECLINED;
}

/* apache2 -t: report what cannot be stapled; errors fail the test. With -D
 * DUMP_OCSP the table is printed here too, before the checks, so it appears
 * even when they fail (test_config runs only when check_config passed). */
static int guard_check_config(apr_pool_t *pconf, apr_pool_t *plog, apr_pool_t *ptemp, server_rec *s)
{
    (void)pconf;
    (void)plog;
    if (ap_state_query(AP_SQ_RUN_MODE) != AP_SQ_RM_CONFIG_TEST)
        return OK;
    return guard_check_run(ptemp, s, ap_exists_config_define("DUMP_OCSP")) ? HTTP_INTERNAL_SERVER_ERROR : OK;
}

static void register_hooks(apr_pool_t *p)
{
    static const char *const after_ssl[] = { "mod_ssl.c", NULL };
    /* Where mod_md staples too (MDStapling on), mod_ocsp_guard's hooks run
     * first and so take the certificate; OCSPGuard Off leaves it to mod_md. */
    static const char *const before_md[] = { "mod_md.c", NULL };
    (void)p;
    ap_hook_ssl_ocsp_prime_hook(guard_ocsp_prime, NULL, before_md, APR_HOOK_MIDDLE);
    ap_hook_ssl_ocsp_get_resp_hook(guard_ocsp_get_resp, NULL, before_md, APR_HOOK_MIDDLE);
    ap_hook_post_config(guard_post_config, after_ssl, NULL, APR_HOOK_LAST);
    ap_hook_monitor(guard_monitor, NULL, NULL, APR_HOOK_MIDDLE);
    ap_hook_check_config(guard_check_config, NULL, NULL, APR_HOOK_MIDDLE);
    /* last: the files mod_ssl loads once every module added its own */
    ap_hook_ssl_add_cert_files(guard_registry_cert_files, NULL, NULL, APR_HOOK_REALLY_LAST);
    APR_OPTIONAL_HOOK(ap, status_hook, guard_status_hook, NULL, NULL, APR_HOOK_MIDDLE);
    /* ocsp-guard-status: GET is guard_status's, POST guard_control's */
    ap_hook_handler(guard_status_handler, NULL, NULL, APR_HOOK_MIDDLE);
    ap_hook_handler(guard_control_handler, NULL, NULL, APR_HOOK_MIDDLE);
}

module AP_MODULE_DECLARE_DATA ocsp_guard_module = {
    STANDARD20_MODULE_STUFF,
    NULL,
    NULL,
    guard_config_create,
    guard_config_merge,
    guard_config_cmds,
    register_hooks,
    AP_MODULE_FLAG_NONE
};
