/* Copyright 2026 the mod_ocsp_guard developers. Licensed under the Apache License 2.0 (LICENSE). */
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
        registry->places = apr_array_make(p, 16, sizeof(guard_place *));
        registry->files = apr_hash_make(p);
        registry->by_id = apr_hash_make(p);
        registry->declined = apr_hash_make(p);
        registry->issuers = og_issuer_cache_new();
        apr_pool_cleanup_register(p, registry, registry_cleanup, apr_pool_cleanup_null);
    }
    return registry;
}


/* A virtual host's certificate files and how many of its certificates
 * were primed so far. */
typedef struct server_files {
    apr_array_header_t *files;   /* const char * */
    int primed;
} server_files;

int guard_registry_cert_files(server_rec *s, apr_pool_t *p, apr_array_header_t *cert_files,
                              apr_array_header_t *key_files)
{
    guard_registry *r;
    server_files *sf;
    (void)p;
    (void)key_files;
    if (guard_registry_dry_run() || !guard_conf(s)->enabled)
        return DECLINED;
    r = registry_get(s);
    sf = apr_pcalloc(r->pool, sizeof(*sf));
    sf->files = apr_array_copy(r->pool, cert_files);
    apr_hash_set(r->files, apr_pmemdup(r->pool, &s, sizeof(s)), sizeof(s), sf);
    return DECLINED;
}

/* Which of s's files holds the certificate primed with pem. mod_ssl primes
 * a virtual host's certificates by key type, not in file order, and skips
 * some, so the k-th prime is tried against the k-th file first, then the
 * others; a match is checked on the file's text (og_cert_file_is), cheap
 * enough for thousands at start-up. */
static const char *file_of(guard_registry *r, const server_rec *s, const char *pem,
                           const unsigned char *id)
{
    server_files *sf = apr_hash_get(r->files, &s, sizeof(s));
    size_t len = strlen(pem);
    int n, k;
    if (!sf)
        return NULL;
    n = sf->files->nelts;
    k = sf->primed++;
    for (int j = 0; j < n; j++) {
        const char *f = APR_ARRAY_IDX(sf->files, (k + j) % n, const char *);
        if (og_cert_file_is(f, pem, len, id))
            return f;
    }
    return NULL;
}

static void log_declined(guard_registry *r, server_rec *s, const char *id, const char *pem,
                         const char *why)
{
    const char *file;
    if (apr_hash_get(r->declined, id, OG_ID_LEN))
        return;
    apr_hash_set(r->declined, apr_pmemdup(r->pool, id, OG_ID_LEN), OG_ID_LEN, "");
    if (!APLOG_IS_LEVEL(s, APLOG_INFO))
        return;                  /* spare the file lookup */
    file = file_of(r, s, pem, (const unsigned char *)id);
    ap_log_error(APLOG_MARK, APLOG_INFO, 0, s, GUARD_LOGNO(00201) "%s%s%s%s: %s; mod_ocsp_guard does "
                 "not staple it", guard_log_vhost(r->pool, s), file ? " (" : "", file ? file : "",
                 file ? ")" : "", why);
}

/* mod_ssl primes the virtual hosts last-configured first (httpd keeps
 * them in that order): putting each place in front lists them in
 * configuration order, so a certificate is named by the first virtual host
 * that configures it. */
static void add_place(guard_registry *r, int slot, const server_rec *s, const char *file)
{
    guard_place *pl = apr_pcalloc(r->pool, sizeof(*pl));
    pl->s = s;
    pl->vhost = guard_log_vhost(r->pool, s);
    pl->file = file;
    if (slot == r->places->nelts)
        APR_ARRAY_PUSH(r->places, guard_place *) = NULL;
    pl->next = APR_ARRAY_IDX(r->places, slot, guard_place *);
    APR_ARRAY_IDX(r->places, slot, guard_place *) = pl;
}

void guard_registry_name_places(guard_registry *r)
{
    og_target *t = (og_target *)r->targets->elts;
    for (int i = 0; i < r->targets->nelts; i++) {
        const guard_place *first = APR_ARRAY_IDX(r->places, i, guard_place *), *pl;
        int more = 0;
        for (pl = first->next; pl; pl = pl->next)
            more++;
        og_cert_set_place(t[i].cert, apr_psprintf(r->pool, "vhost %s%s%s%s%s", first->vhost,
                                                  more ? apr_psprintf(r->pool, " and %d more", more) : "",
                                                  first->file ? " (" : "", first->file ? first->file : "",
                                                  first->file ? ")" : ""));
    }
}

static int prime_one(server_rec *s, apr_pool_t *p, const char *id, const char *pem)
{
    const guard_server_conf *gc = guard_conf(s);
    guard_registry *r = registry_get(s);
    og_cert *cert;
    og_target *t;
    char err[256];
    const char *url;
    if ((t = apr_hash_get(r->by_id, id, OG_ID_LEN))) {
        /* the same certificate in another virtual host */
        add_place(r, (int)t->slot, s, file_of(r, s, pem, (const unsigned char *)id));
        return OK;
    }
    if (apr_hash_get(r->declined, id, OG_ID_LEN))
        return DECLINED;
    cert = og_cert_from_pem(pem, strlen(pem), r->issuers, err, sizeof(err));
    if (!cert) {
        log_declined(r, s, id, pem, apr_psprintf(p, "cannot read the certificate chain (%s)", err));
        return DECLINED;
    }
    url = gc->responder ? gc->responder : cert->ocsp_url;
    if (!url) {
        log_declined(r, s, id, pem, apr_psprintf(p, "%s has no OCSP responder URL (no AIA OCSP entry "
                                            "and no OCSPGuardResponder)", cert->name));
        og_cert_free(cert);
        return DECLINED;
    }
    if (strncasecmp(url, "http://", 7)) {
        log_declined(r, s, id, pem, apr_psprintf(p, "%s: responder URL %s is not http://", cert->name, url));
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
    add_place(r, (int)t->slot, s, file_of(r, s, pem, (const unsigned char *)id));
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
