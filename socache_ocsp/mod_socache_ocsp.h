/* Optional function of mod_socache_ocsp for consumers that want the shared
 * (Redis) tier's view, bypassing the local directory: a cluster peer may
 * have stored something newer there. */
#ifndef MOD_SOCACHE_OCSP_H
#define MOD_SOCACHE_OCSP_H

#include "apr_optional.h"
#include "ap_socache.h"

/* APR_SUCCESS with the value; APR_NOTFOUND on a miss; APR_ENOTIMPL when the
 * instance has no Redis tier or it is marked down. */
APR_DECLARE_OPTIONAL_FN(apr_status_t, socache_ocsp_retrieve_shared,
                        (ap_socache_instance_t *instance, server_rec *s,
                         const unsigned char *id, unsigned int idlen,
                         unsigned char *data, unsigned int *datalen, apr_pool_t *p));

/* For configtest (apache2 -t), before init(): reads the record of id for
 * consumer cname from the directory, else from Redis. *where is "file",
 * "redis" or "none". Nothing is created or removed. */
APR_DECLARE_OPTIONAL_FN(apr_status_t, socache_ocsp_inspect,
                        (ap_socache_instance_t *instance, server_rec *s, const char *cname,
                         const unsigned char *id, unsigned int idlen, unsigned char *data,
                         unsigned int *datalen, const char **where, apr_pool_t *p));

/* For configtest: NULL when the directory for cname can be created and
 * written, else why not; *redis_problem likewise for the Redis server. */
APR_DECLARE_OPTIONAL_FN(const char *, socache_ocsp_selftest,
                        (ap_socache_instance_t *instance, server_rec *s, const char *cname,
                         const char **redis_problem, apr_pool_t *p));

#endif
