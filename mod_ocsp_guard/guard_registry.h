/* mod_ocsp_guard glue, registry room: the certificates this configuration
 * pass staples, as the prime hook hands them over, each with its settings.
 * Depends on guard_config and guard_log. */
#ifndef GUARD_REGISTRY_H
#define GUARD_REGISTRY_H

#include "httpd.h"
#include "apr_hash.h"
#include "og_refresher.h"

typedef struct guard_registry {
    apr_pool_t *pool;            /* pconf of this pass */
    apr_array_header_t *targets; /* og_target, slot = index */
    apr_array_header_t *vhosts;  /* const server_rec *, the first virtual host of each target */
    apr_hash_t *by_id;           /* id -> og_target */
    apr_hash_t *declined;        /* ids already reported as not stapled */
    og_issuer_cache *issuers;    /* each issuer parsed once, shared by its targets */
    apr_interval_time_t prime_time; /* spent priming this pass */
} guard_registry;

/* The prime hook's work for one (virtual host, certificate) pair: OK when
 * mod_ocsp_guard staples it, DECLINED (logged once) when not. */
int guard_registry_prime(server_rec *s, apr_pool_t *p, const char *id, apr_size_t id_len,
                         const char *pem);

/* The ids of r's certificates, slot by slot (allocated from r's pool): what
 * the shared regions of this generation are laid out by. */
const unsigned char (*guard_registry_ids(const guard_registry *r))[OG_ID_LEN];

/* This pass's registry, or NULL when nothing was primed. */
guard_registry *guard_registry_current(void);

/* 1 on httpd's first start-up pass, whose configuration is only tested and
 * thrown away: nothing is parsed, created or started then. */
int guard_registry_dry_run(void);

#endif
