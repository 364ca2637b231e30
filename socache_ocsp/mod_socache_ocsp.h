/* Copyright 2026 the mod_ocsp_guard developers. Licensed under the Apache License 2.0 (LICENSE). */
/* Optional functions of mod_socache_ocsp. retrieve() reads the local
 * directory, then Redis; it never writes what it read from Redis to the
 * local directory. A consumer that verifies what it reads (mod_ocsp_guard)
 * reads the tiers one by one and store()s what it verified, which writes
 * both. */
#ifndef MOD_SOCACHE_OCSP_H
#define MOD_SOCACHE_OCSP_H

#include "apr_optional.h"
#include "ap_socache.h"

/* The shared (Redis) tier alone, bypassing the local directory: a cluster
 * peer may have stored something newer there. At most *datalen bytes of
 * value are read from Redis. APR_SUCCESS with the value; APR_NOTFOUND on a
 * miss; APR_ENOTIMPL when the instance has no Redis tier or it is marked
 * down. */
APR_DECLARE_OPTIONAL_FN(apr_status_t, socache_ocsp_retrieve_shared,
                        (ap_socache_instance_t *instance, server_rec *s,
                         const unsigned char *id, unsigned int idlen,
                         unsigned char *data, unsigned int *datalen, apr_pool_t *p));

/* The local directory alone: what this node stored itself. APR_SUCCESS
 * with the value, APR_NOTFOUND on a miss. */
APR_DECLARE_OPTIONAL_FN(apr_status_t, socache_ocsp_retrieve_local,
                        (ap_socache_instance_t *instance, server_rec *s,
                         const unsigned char *id, unsigned int idlen,
                         unsigned char *data, unsigned int *datalen, apr_pool_t *p));

/* For configtest (apache2 -t), before init(): reads the record of id for
 * consumer cname from the directory, else from Redis. *where is "file",
 * "redis" or "none". Read only: nothing is created or removed, no symlink
 * that other users could have planted is followed. */
APR_DECLARE_OPTIONAL_FN(apr_status_t, socache_ocsp_inspect,
                        (ap_socache_instance_t *instance, server_rec *s, const char *cname,
                         const unsigned char *id, unsigned int idlen, unsigned char *data,
                         unsigned int *datalen, const char **where, apr_pool_t *p));

/* For configtest: NULL when the directory for cname can be created (judged
 * without creating it) or exists and the server's user can write in it,
 * else why not; *redis_problem likewise for the Redis server (PING, with
 * AUTH when configured). Changes nothing on disk. */
APR_DECLARE_OPTIONAL_FN(const char *, socache_ocsp_selftest,
                        (ap_socache_instance_t *instance, server_rec *s, const char *cname,
                         const char **redis_problem, apr_pool_t *p));

/* Before init(): init() then only checks that the server's user can write
 * the directory, and leaves the sweep of expired, corrupt and stale
 * temporary records to the consumer's socache_ocsp_sweep call (a consumer
 * that reads its records at start anyway sweeps off its start-up path). */
APR_DECLARE_OPTIONAL_FN(void, socache_ocsp_sweep_later, (ap_socache_instance_t *instance));

/* After init(): sweeps the directory now, as the server's user (here when
 * this process runs as that user, else in a child process that drops to
 * it). APR_EACCES when that user cannot write the directory. */
APR_DECLARE_OPTIONAL_FN(apr_status_t, socache_ocsp_sweep,
                        (ap_socache_instance_t *instance, server_rec *s));
/* The Redis tier's health, for status views: -1 when the instance has no
 * Redis tier, 1 when it answers, 0 when it is marked down (or its name did
 * not resolve at start). When no operation has heard from Redis for
 * idle_sec seconds (and it is not waiting out a failure), PINGs it first,
 * within timeout=. */
APR_DECLARE_OPTIONAL_FN(int, socache_ocsp_redis_up,
                        (ap_socache_instance_t *instance, server_rec *s, int idle_sec));

#endif
