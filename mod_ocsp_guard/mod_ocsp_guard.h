/* mod_ocsp_guard's httpd glue, shared between its files: configuration,
 * the configtest checks (mod_ocsp_guard_check.c). */
#ifndef MOD_OCSP_GUARD_H
#define MOD_OCSP_GUARD_H

#include "httpd.h"
#include "http_config.h"

extern module AP_MODULE_DECLARE_DATA ocsp_guard_module;

#define UNSET -1
#define DEFAULT_REFRESH_PCT 50
#define DEFAULT_RESPONDER_TIMEOUT 10
#define DEFAULT_MAX_SKEW 300
#define DEFAULT_STARTUP_WAIT 5
#define DEFAULT_CONCURRENCY 4

typedef struct guard_server_conf {
    int enabled;
    const char *responder;
    int refresh_pct;
    int timeout;
    int max_skew;
    const char *proxy;
    /* global (main server) only */
    int startup_wait;
    int concurrency;
    const char *cache_spec;      /* "provider:args" or "none" */
} guard_server_conf;

#define GUARD_CACHE_CONSUMER "ocsp_guard"   /* our socache consumer name */

guard_server_conf *guard_conf(server_rec *s);
int guard_value_or(int v, int dflt);
/* "provider:args" of the cache in use, or NULL for memory only. */
const char *guard_cache_spec(server_rec *s, apr_pool_t *p);

/* configtest (apache2 -t): every certificate that cannot be stapled, and
 * why. Returns the number of errors. */
int guard_configtest(apr_pool_t *p, server_rec *s);
/* apache2 -t -D DUMP_OCSP: one row per certificate on stdout. */
void guard_dump_ocsp(apr_pool_t *p, server_rec *s);

#endif
