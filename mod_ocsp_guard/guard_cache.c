/* Copyright 2026 the mod_ocsp_guard developers. Licensed under the Apache License 2.0 (LICENSE). */
/* mod_ocsp_guard glue: socache wiring. */
#include <pthread.h>
#include <string.h>

#include "httpd.h"
#include "http_log.h"
#include "ap_provider.h"
#include "apr_strings.h"

#include "mod_socache_ocsp.h"
#include "guard_cache.h"
#include "guard_log.h"

APLOG_USE_MODULE(ocsp_guard);

/* Providers that are not MP-safe (shmcb, dbm) get one caller at a time;
 * only the refresher process uses this instance, so a thread mutex does. */
static pthread_mutex_t cache_lock = PTHREAD_MUTEX_INITIALIZER;
#define CACHE_CALL(c, call) do {                                             \
        int serialise_ = ((c)->provider->flags & AP_SOCACHE_FLAG_NOTMPSAFE); \
        if (serialise_) pthread_mutex_lock(&cache_lock);                     \
        call;                                                                \
        if (serialise_) pthread_mutex_unlock(&cache_lock);                   \
    } while (0)

static APR_OPTIONAL_FN_TYPE(socache_ocsp_retrieve_shared) *retrieve_shared;
/* socache_ocsp's local tier alone: its retrieve() would also return Redis
 * values, which are read through load_shared and stored once verified */
static APR_OPTIONAL_FN_TYPE(socache_ocsp_retrieve_local) *retrieve_local;

const char *guard_cache_effective_spec(apr_pool_t *p, const char *configured)
{
    if (configured)
        return strcasecmp(configured, "none") ? configured : NULL;
    if (!ap_lookup_provider(AP_SOCACHE_PROVIDER_GROUP, "ocsp", AP_SOCACHE_PROVIDER_VERSION))
        return NULL;
    return apr_pstrcat(p, "ocsp:", ap_runtime_dir_relative(p, GUARD_CACHE_CONSUMER), NULL);
}

const char *guard_cache_create(apr_pool_t *p, apr_pool_t *ptemp, const char *spec, guard_cache *c)
{
    const char *sep = strchr(spec, ':'), *err;
    memset(c, 0, sizeof(*c));
    c->spec = spec;
    c->name = sep ? apr_pstrmemdup(p, spec, (apr_size_t)(sep - spec)) : spec;
    c->args = sep ? sep + 1 : NULL;
    c->provider = ap_lookup_provider(AP_SOCACHE_PROVIDER_GROUP, c->name, AP_SOCACHE_PROVIDER_VERSION);
    if (!c->provider)
        return apr_psprintf(p, "unknown socache provider '%s' (load mod_socache_%s before this "
                            "line, or say 'none')", c->name, c->name);
    err = c->provider->create(&c->instance, c->args, ptemp, p);
    if (err) {
        c->provider = NULL;
        return err;
    }
    return NULL;
}

int guard_cache_open(apr_pool_t *pconf, apr_pool_t *ptemp, server_rec *s, const char *configured,
                     guard_cache *c)
{
    const char *spec = guard_cache_effective_spec(pconf, configured), *err;
    APR_OPTIONAL_FN_TYPE(socache_ocsp_sweep_later) *sweep_later;
    struct ap_socache_hints hints = { OG_ID_LEN, 2048, apr_time_from_sec(600) };
    memset(c, 0, sizeof(*c));
    if (!spec) {
        if (!configured)
            ap_log_error(APLOG_MARK, APLOG_NOTICE, 0, s, GUARD_LOGNO(00101) "no OCSPGuardCache and "
                         "mod_socache_ocsp is not loaded: responses are kept in memory only and "
                         "will not survive a restart");
        return 0;                /* OCSPGuardCache none: as asked */
    }
    if ((err = guard_cache_create(pconf, ptemp, spec, c)) != NULL) {
        ap_log_error(APLOG_MARK, APLOG_ERR, 0, s, GUARD_LOGNO(00102) "OCSPGuardCache %s: %s; "
                     "keeping responses in memory only", spec, err);
        return 0;
    }
    /* the refresher reads every record at start anyway: socache_ocsp's
     * sweep (reading them all once more) waits until it has (guard_cache_sweep) */
    sweep_later = APR_RETRIEVE_OPTIONAL_FN(socache_ocsp_sweep_later);
    if (sweep_later && !strcmp(c->provider->name, "ocsp"))
        sweep_later(c->instance);
    if (c->provider->init(c->instance, GUARD_CACHE_CONSUMER, &hints, s, pconf) != APR_SUCCESS) {
        ap_log_error(APLOG_MARK, APLOG_ERR, 0, s, GUARD_LOGNO(00103) "OCSPGuardCache %s: cannot "
                     "initialise; keeping responses in memory only", spec);
        c->provider = NULL;
        return 0;
    }
    c->s = s;
    return 1;
}

/* One retrieve, from the whole cache or (socache_ocsp) its shared tier only. */
static int cache_retrieve(guard_cache *c, int shared, const unsigned char *id, unsigned char *buf,
                          size_t cap, size_t *len)
{
    unsigned int n = (unsigned int)cap;
    apr_pool_t *tmp;
    apr_status_t rv;
    apr_pool_create(&tmp, NULL);
    if (shared)
        rv = retrieve_shared(c->instance, c->s, id, OG_ID_LEN, buf, &n, tmp);
    else if (retrieve_local)
        rv = retrieve_local(c->instance, c->s, id, OG_ID_LEN, buf, &n, tmp);
    else
        CACHE_CALL(c, rv = c->provider->retrieve(c->instance, c->s, id, OG_ID_LEN, buf, &n, tmp));
    apr_pool_destroy(tmp);
    *len = n;
    return rv == APR_SUCCESS && n > 0;
}

static int cache_load(void *baton, const unsigned char *id, unsigned char *buf, size_t cap, size_t *len)
{
    return cache_retrieve(baton, 0, id, buf, cap, len);
}

static int cache_load_shared(void *baton, const unsigned char *id, unsigned char *buf, size_t cap,
                             size_t *len)
{
    return cache_retrieve(baton, 1, id, buf, cap, len);
}

static int cache_store(void *baton, const unsigned char *id, const unsigned char *der, size_t len,
                       time_t expiry)
{
    guard_cache *c = baton;
    apr_pool_t *tmp;
    apr_status_t rv;
    apr_pool_create(&tmp, NULL);
    CACHE_CALL(c, rv = c->provider->store(c->instance, c->s, id, OG_ID_LEN,
                                          apr_time_from_sec(expiry), (unsigned char *)der,
                                          (unsigned int)len, tmp));
    apr_pool_destroy(tmp);
    return rv == APR_SUCCESS;
}

#define SHARED_PROBE_IDLE 10   /* seconds without Redis traffic before a PING */

int guard_cache_shared_state(void *baton)
{
    guard_cache *c = baton;
    APR_OPTIONAL_FN_TYPE(socache_ocsp_redis_up) *up = APR_RETRIEVE_OPTIONAL_FN(socache_ocsp_redis_up);
    int state;
    if (!c || !c->provider || strcmp(c->provider->name, "ocsp") || !up)
        return OG_SHARED_NONE;
    state = up(c->instance, c->s, SHARED_PROBE_IDLE);
    return state < 0 ? OG_SHARED_NONE : state ? OG_SHARED_UP : OG_SHARED_DOWN;
}

void guard_cache_ops(guard_cache *c, og_cache_ops *ops)
{
    memset(ops, 0, sizeof(*ops));
    if (!c->provider)
        return;
    ops->baton = c;
    ops->load = cache_load;
    ops->store = cache_store;
    /* only socache_ocsp has a shared tier to ask before each fetch */
    retrieve_shared = APR_RETRIEVE_OPTIONAL_FN(socache_ocsp_retrieve_shared);
    if (retrieve_shared && !strcmp(c->provider->name, "ocsp"))
        ops->load_shared = cache_load_shared;
    if (!strcmp(c->provider->name, "ocsp"))
        retrieve_local = APR_RETRIEVE_OPTIONAL_FN(socache_ocsp_retrieve_local);
}

void guard_cache_sweep(guard_cache *c)
{
    APR_OPTIONAL_FN_TYPE(socache_ocsp_sweep) *sweep = APR_RETRIEVE_OPTIONAL_FN(socache_ocsp_sweep);
    if (c->provider && sweep && !strcmp(c->provider->name, "ocsp"))
        sweep(c->instance, c->s);
}
