/* Copyright 2026 the mod_ocsp_guard developers. Licensed under the Apache License 2.0 (LICENSE). */
/* mod_ocsp_guard glue, registry room: the certificates this configuration
 * pass staples, as the prime hook hands them over, each with its settings.
 * Depends on guard_config and guard_log. */
#ifndef GUARD_REGISTRY_H
#define GUARD_REGISTRY_H

#include "httpd.h"
#include "apr_hash.h"
#include "og_refresher.h"

/* One place a certificate is configured: a virtual host, and the
 * SSLCertificateFile it came from (NULL when none of the virtual host's
 * files holds it: SSLOpenSSLConfCmd Certificate, or a file that changed
 * since mod_ssl read it). */
typedef struct guard_place {
    const server_rec *s;
    const char *vhost;           /* "host:port" */
    const char *file;
    struct guard_place *next;
} guard_place;

typedef struct guard_registry {
    apr_pool_t *pool;            /* pconf of this pass */
    apr_array_header_t *targets; /* og_target, slot = index */
    apr_array_header_t *places;  /* guard_place *: each target's places, in configuration order */
    apr_hash_t *files;           /* server_rec * -> its certificate files, as mod_ssl loads them */
    apr_hash_t *by_id;           /* id -> og_target */
    apr_hash_t *declined;        /* ids already reported as not stapled */
    og_issuer_cache *issuers;    /* each issuer parsed once, shared by its targets */
    apr_interval_time_t prime_time; /* spent priming this pass */
} guard_registry;

/* The prime hook's work for one (virtual host, certificate) pair: OK when
 * mod_ocsp_guard staples it, DECLINED (logged once) when not. */
int guard_registry_prime(server_rec *s, apr_pool_t *p, const char *id, apr_size_t id_len,
                         const char *pem);

/* The ssl_add_cert_files hook, run last: the certificate files mod_ssl is
 * about to load for s (its own SSLCertificateFile list and what modules
 * such as mod_md added), so each primed certificate can be tied to its
 * file. Always DECLINED. */
int guard_registry_cert_files(server_rec *s, apr_pool_t *p, apr_array_header_t *cert_files,
                              apr_array_header_t *key_files);

/* Once every certificate is primed: names each in log lines by its first
 * place, "vhost HOST:PORT[ and N more] (FILE), subject ..., serial ...". */
void guard_registry_name_places(guard_registry *r);

/* The ids of r's certificates, slot by slot (allocated from r's pool): what
 * the shared regions of this generation are laid out by. */
const unsigned char (*guard_registry_ids(const guard_registry *r))[OG_ID_LEN];

/* This pass's registry, or NULL when nothing was primed. */
guard_registry *guard_registry_current(void);

/* 1 on httpd's first start-up pass, whose configuration is only tested and
 * thrown away: nothing is parsed, created or started then. */
int guard_registry_dry_run(void);

#endif
