/* mod_ocsp_guard glue: the certificates primed this configuration pass. */
#include <stdio.h>
#include <string.h>

#include "httpd.h"
#include "http_log.h"
#include "http_core.h"
#include "apr_hash.h"
#include "apr_strings.h"

#include "guard_config.h"
#include "guard_log.h"
#include "guard_registry.h"

APLOG_USE_MODULE(ocsp_guard);

static guard_registry *registry;

int guard_registry_dry_run(void)
{
    return ap_state_query(AP_SQ_MAIN_STATE) == AP_SQ_MS_CREATE_PRE_CONFIG;
}

guard_registry *guard_registry_current(void)
{
    return registry;
}

const unsigned char (*guard_registry_ids(const guard_registry *r))[OG_ID_LEN]
{
    const og_target *t = (const og_target *)r->targets->elts;
    unsigned char (*ids)[OG_ID_LEN] = apr_palloc(r->pool, (apr_size_t)r->targets->nelts * OG_ID_LEN + 1);
    for (int i = 0; i < r->targets->nelts; i++)
        memcpy(ids[t[i].slot], t[i].cert->id, OG_ID_LEN);
    return (const unsigned char (*)[OG_ID_LEN])ids;
}

static apr_status_t registry_cleanup(void *data)
{
    guard_registry *r = data;
    og_target *t = (og_target *)r->targets->elts;
    for (int i = 0; i < r->targets->nelts; i++)
        og_cert_free(t[i].cert);
    og_issuer_cache_free(r->issuers);
    if (registry == r)
        registry = NULL;
    return APR_SUCCESS;
}

static guard_registry *registry_get(server_rec *s)
{
    if (!registry) {
        apr_pool_t *p = s->process->pconf;
        registry = apr_pcalloc(p, sizeof(*registry));
        registry->pool = p;
        registry->targets = apr_array_make(p, 16, sizeof(og_target));
        registry->vhosts = apr_array_make(p, 16, sizeof(const server_rec *));
        registry->by_id = apr_hash_make(p);
        registry->declined = apr_hash_make(p);
        registry->issuers = og_issuer_cache_new();
        apr_pool_cleanup_register(p, registry, registry_cleanup, apr_pool_cleanup_null);
    }
    return registry;
}

static void log_declined(guard_registry *r, server_rec *s, const char *id, const char *why)
{
    if (apr_hash_get(r->declined, id, OG_ID_LEN))
        return;
    apr_hash_set(r->declined, apr_pmemdup(r->pool, id, OG_ID_LEN), OG_ID_LEN, "");
    ap_log_error(APLOG_MARK, APLOG_INFO, 0, s, GUARD_LOGNO(00201) "%s: %s; mod_ocsp_guard does "
                 "not staple it", guard_log_vhost(r->pool, s), why);
}

static int prime_one(server_rec *s, apr_pool_t *p, const char *id, const char *pem)
{
    const guard_server_conf *gc = guard_conf(s);
    guard_registry *r = registry_get(s);
    og_cert *cert;
    og_target *t;
    char err[256];
    const char *url;
    if (apr_hash_get(r->by_id, id, OG_ID_LEN))
        return OK;               /* the same certificate in another virtual host */
    if (apr_hash_get(r->declined, id, OG_ID_LEN))
        return DECLINED;
    cert = og_cert_from_pem(pem, strlen(pem), r->issuers, err, sizeof(err));
    if (!cert) {
        log_declined(r, s, id, apr_psprintf(p, "cannot read the certificate chain (%s)", err));
        return DECLINED;
    }
    url = gc->responder ? gc->responder : cert->ocsp_url;
    if (!url) {
        log_declined(r, s, id, apr_psprintf(p, "%s has no OCSP responder URL (no AIA OCSP entry "
                                            "and no OCSPGuardResponder)", cert->name));
        og_cert_free(cert);
        return DECLINED;
    }
    if (strncasecmp(url, "http://", 7)) {
        log_declined(r, s, id, apr_psprintf(p, "%s: responder URL %s is not http://", cert->name, url));
        og_cert_free(cert);
        return DECLINED;
    }
    t = apr_array_push(r->targets);
    t->cert = cert;
    t->url = apr_pstrdup(r->pool, url);
    t->proxy = gc->proxy;
    t->refresh_pct = gc->refresh_pct;
    t->timeout = gc->timeout;
    t->max_skew = gc->max_skew;
    t->slot = (unsigned)(r->targets->nelts - 1);
    APR_ARRAY_PUSH(r->vhosts, const server_rec *) = s;
    apr_hash_set(r->by_id, apr_pmemdup(r->pool, id, OG_ID_LEN), OG_ID_LEN, t);
    ap_log_error(APLOG_MARK, APLOG_DEBUG, 0, s, "%s: %s will be stapled from %s%s",
                 guard_log_vhost(p, s), cert->name, url, cert->must_staple ? " (must-staple)" : "");
    return OK;
}

int guard_registry_prime(server_rec *s, apr_pool_t *p, const char *id, apr_size_t id_len,
                         const char *pem)
{
    apr_time_t start;
    int rv;
    if (!guard_conf(s)->enabled || id_len != OG_ID_LEN)
        return DECLINED;
    /* The first pass only tests the configuration and its SSL contexts are
     * thrown away: claim the certificate without the parsing work. */
    if (guard_registry_dry_run())
        return OK;
    start = apr_time_now();
    rv = prime_one(s, p, id, pem);
    registry->prime_time += apr_time_now() - start;
    return rv;
}
