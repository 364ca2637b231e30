/* Copyright 2026 the mod_ocsp_guard developers. Licensed under the Apache License 2.0 (LICENSE). */
/* mod_ocsp_guard glue, cache room: the one place that reads an
 * OCSPGuardCache "PROVIDER:ARGS" string and opens a socache instance for the
 * refresher. Depends on guard_log only. */
#ifndef GUARD_CACHE_H
#define GUARD_CACHE_H

#include "httpd.h"
#include "ap_socache.h"
#include "og_refresher.h"

#define GUARD_CACHE_CONSUMER "ocsp_guard"   /* our socache consumer name */

typedef struct guard_cache {
    ap_socache_provider_t *provider;     /* NULL: memory only */
    const char *name;                    /* provider name, "ocsp" for socache_ocsp */
    const char *args;                    /* what follows the ':', or NULL */
    ap_socache_instance_t *instance;
    const char *spec;                    /* "provider:args" as in use */
    server_rec *s;
} guard_cache;

/* The spec in effect: the configured one ("none": NULL), else socache_ocsp
 * under the runtime directory when that provider is loaded, else NULL. */
const char *guard_cache_effective_spec(apr_pool_t *p, const char *configured);

/* Splits spec at its first ':', finds the provider and lets it judge its
 * arguments (create()). Returns NULL and fills c, or an error naming the
 * part that is wrong. Opens nothing. */
const char *guard_cache_create(apr_pool_t *p, apr_pool_t *ptemp, const char *spec, guard_cache *c);

/* The cache for this generation's refresher: create() and init() for our
 * consumer. Returns 0, logged, when responses stay in memory only. */
int guard_cache_open(apr_pool_t *pconf, apr_pool_t *ptemp, server_rec *s, const char *configured,
                     guard_cache *c);

/* The core's view of an opened cache: load reads the local tier, load_shared
 * (socache_ocsp only) the cluster tier, store writes through. */
void guard_cache_ops(guard_cache *c, og_cache_ops *ops);

/* socache_ocsp's sweep of expired and corrupt records, which
 * guard_cache_open put off: the refresher runs it once it has read the
 * records it needs (as the server's user). Nothing for other providers. */
void guard_cache_sweep(guard_cache *c);
/* The refresher's og_refresher_cfg.shared_state for the cache of
 * guard_cache_ops (baton): socache_ocsp's Redis tier's health, probed when
 * idle for 10 s; OG_SHARED_NONE for other providers or no Redis tier. */
int guard_cache_shared_state(void *baton);

#endif
