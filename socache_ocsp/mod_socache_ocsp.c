/* mod_socache_ocsp: an ap_socache provider ("ocsp") with a crash-safe local
 * directory tier (restart persistence) and an optional Redis tier through
 * apr_redis (cluster sharing). The record format and file handling live in
 * soc_record.c, which knows nothing of httpd. */
#include <errno.h>
#include <string.h>
#include <unistd.h>

#include "httpd.h"
#include "http_config.h"
#include "http_log.h"
#include "http_protocol.h"
#include "ap_provider.h"
#include "ap_socache.h"
#include "unixd.h"
#include "apr_atomic.h"
#include "apr_file_info.h"
#include "apr_lib.h"
#include "apr_redis.h"
#include "apr_strings.h"

#include "mod_socache_ocsp.h"
#include "soc_record.h"

module AP_MODULE_DECLARE_DATA socache_ocsp_module;
APLOG_USE_MODULE(socache_ocsp);

#define REDIS_RETRY apr_time_from_sec(5)
#define REDIS_CONN_TTL apr_time_from_sec(60)

struct ap_socache_instance_t {
    soc_args args;
    const char *dir;             /* DIR/<consumer name> once initialised */
    const char *redis_prefix;    /* prefix + consumer name + ":" */
    apr_redis_t *redis;
    volatile apr_uint32_t redis_down;
    apr_time_t redis_retry_at;
    volatile apr_uint32_t store_failing;
    volatile apr_uint32_t hits, misses, redis_hits, redis_errors, corrupt;
};

static apr_int64_t now_usec(void)
{
    return (apr_int64_t)apr_time_now();
}

static const char *socache_ocsp_create(ap_socache_instance_t **instance, const char *arg,
                                       apr_pool_t *tmp, apr_pool_t *p)
{
    ap_socache_instance_t *inst = apr_pcalloc(p, sizeof(*inst));
    char err[512];
    (void)tmp;
    if (soc_parse_args(arg, &inst->args, err, sizeof(err)))
        return apr_psprintf(p, "socache ocsp: %s", err);
    *instance = inst;
    return NULL;
}

static int redis_usable(ap_socache_instance_t *inst)
{
    return inst->redis && (!inst->redis_down || apr_time_now() >= inst->redis_retry_at);
}

/* Tracks Redis health: a failure or an answer slower than timeout= marks it
 * down for a few seconds, so a sick Redis costs at most one caller per try. */
static void redis_outcome(ap_socache_instance_t *inst, server_rec *s, apr_status_t rv,
                          apr_time_t started)
{
    apr_interval_time_t took = apr_time_now() - started;
    int failed = (rv != APR_SUCCESS && rv != APR_NOTFOUND) ||
                 took > apr_time_from_msec(inst->args.timeout_ms);
    if (failed) {
        apr_atomic_inc32(&inst->redis_errors);
        inst->redis_retry_at = apr_time_now() + REDIS_RETRY;
        if (!apr_atomic_xchg32(&inst->redis_down, 1))
            ap_log_error(APLOG_MARK, APLOG_WARNING, rv, s, "Redis %s:%d %s (%" APR_TIME_T_FMT
                         " ms); working from %s alone and trying Redis again every %d s",
                         inst->args.redis_host, inst->args.redis_port,
                         rv == APR_SUCCESS || rv == APR_NOTFOUND ? "answered too slowly" : "failed",
                         apr_time_as_msec(took), inst->dir, (int)apr_time_sec(REDIS_RETRY));
    } else if (apr_atomic_xchg32(&inst->redis_down, 0)) {
        ap_log_error(APLOG_MARK, APLOG_NOTICE, 0, s, "Redis %s:%d answers again; sharing resumed",
                     inst->args.redis_host, inst->args.redis_port);
    }
}

static apr_status_t make_dir(ap_socache_instance_t *inst, server_rec *s, const char *dir,
                             apr_pool_t *p)
{
    apr_status_t rv = apr_dir_make_recursive(dir, APR_FPROT_OS_DEFAULT, p);
    if (rv != APR_SUCCESS && !APR_STATUS_IS_EEXIST(rv)) {
        ap_log_error(APLOG_MARK, APLOG_ERR, rv, s, "socache ocsp: cannot create directory %s", dir);
        return rv;
    }
    /* The parent runs as root; the children, which store, do not. */
    if (geteuid() == 0 && chown(dir, ap_unixd_config.user_id, ap_unixd_config.group_id) < 0) {
        rv = APR_FROM_OS_ERROR(errno);
        ap_log_error(APLOG_MARK, APLOG_ERR, rv, s, "socache ocsp: cannot hand %s to the server's "
                     "user", dir);
        return rv;
    }
    (void)inst;
    return APR_SUCCESS;
}

static void log_bad_record(void *ctx, const char *path, soc_result why)
{
    ap_log_error(APLOG_MARK, APLOG_WARNING, 0, ctx, "socache ocsp: record %s was unusable (%s) "
                 "and is removed", path, soc_result_name(why));
}

static const char *base_dir(ap_socache_instance_t *inst, apr_pool_t *p)
{
    return *inst->args.dir ? inst->args.dir : ap_runtime_dir_relative(p, "socache_ocsp");
}

/* The consumer's name as a path and key component: [A-Za-z0-9_-] only. */
static const char *consumer_name(const char *cname, apr_pool_t *p)
{
    char *consumer = apr_pstrdup(p, cname && *cname ? cname : "default"), *c;
    for (c = consumer; *c; c++) {
        if (!apr_isalnum(*c) && *c != '-' && *c != '_')
            *c = '_';
    }
    return consumer;
}

static apr_status_t redis_connect(ap_socache_instance_t *inst, apr_redis_t **rc,
                                  apr_redis_server_t **server, apr_pool_t *p)
{
    /* apr_redis counts its socket timeout in whole seconds */
    apr_uint32_t rwto = (apr_uint32_t)((inst->args.timeout_ms + 999) / 1000);
    apr_status_t rv = apr_redis_create(p, 1, 0, rc);
    if (rv == APR_SUCCESS)
        rv = apr_redis_server_create(p, inst->args.redis_host, (apr_port_t)inst->args.redis_port,
                                     0, 1, 16, (apr_uint32_t)REDIS_CONN_TTL, rwto, server);
    if (rv == APR_SUCCESS)
        rv = apr_redis_add_server(*rc, *server);
    return rv;
}

static apr_status_t socache_ocsp_init(ap_socache_instance_t *inst, const char *cname,
                                      const struct ap_socache_hints *hints, server_rec *s,
                                      apr_pool_t *p)
{
    const char *consumer = consumer_name(cname, p);
    const char *base = base_dir(inst, p);
    soc_sweep_stats st;
    apr_status_t rv;
    (void)hints;
    inst->dir = apr_pstrcat(p, base, "/", consumer, NULL);
    if ((rv = make_dir(inst, s, base, p)) != APR_SUCCESS || (rv = make_dir(inst, s, inst->dir, p)) != APR_SUCCESS)
        return rv;
    if (access(inst->dir, W_OK) < 0 && geteuid() != 0) {
        rv = APR_FROM_OS_ERROR(errno);
        ap_log_error(APLOG_MARK, APLOG_ERR, rv, s, "socache ocsp: %s is not writable", inst->dir);
        return rv;
    }
    soc_sweep(inst->dir, now_usec(), NULL, log_bad_record, s, &st);
    ap_log_error(APLOG_MARK, APLOG_INFO, 0, s, "socache ocsp: %s holds %u record(s); swept %u "
                 "expired, %u corrupt, %u stale temporary", inst->dir, st.kept, st.expired,
                 st.corrupt, st.stale_tmp);
    if (*inst->args.redis_host) {
        apr_redis_server_t *server;
        inst->redis_prefix = apr_pstrcat(p, inst->args.prefix, consumer, ":", NULL);
        if ((rv = redis_connect(inst, &inst->redis, &server, p)) != APR_SUCCESS) {
            ap_log_error(APLOG_MARK, APLOG_ERR, rv, s, "socache ocsp: cannot set up Redis %s:%d",
                         inst->args.redis_host, inst->args.redis_port);
            return rv;
        }
    }
    return APR_SUCCESS;
}

static void socache_ocsp_destroy(ap_socache_instance_t *inst, server_rec *s)
{
    (void)inst;
    (void)s;                     /* everything lives in the pool */
}

static const char *redis_key(ap_socache_instance_t *inst, const unsigned char *id,
                             unsigned int idlen, apr_pool_t *p)
{
    char hex[2 * SOC_MAX_KEY + 1];
    if (!soc_key_filename(id, idlen, hex, sizeof(hex)))
        return NULL;
    return apr_pstrcat(p, inst->redis_prefix, hex, NULL);
}

static apr_status_t socache_ocsp_store(ap_socache_instance_t *inst, server_rec *s,
                                       const unsigned char *id, unsigned int idlen,
                                       apr_time_t expiry, unsigned char *data,
                                       unsigned int datalen, apr_pool_t *p)
{
    int rc = soc_file_store(inst->dir, id, idlen, data, datalen, (int64_t)expiry);
    if (rc) {
        if (!apr_atomic_xchg32(&inst->store_failing, 1))
            ap_log_error(APLOG_MARK, APLOG_ERR, APR_FROM_OS_ERROR(rc), s, "socache ocsp: cannot "
                         "write records in %s; the previous records stay readable", inst->dir);
    } else if (apr_atomic_xchg32(&inst->store_failing, 0)) {
        ap_log_error(APLOG_MARK, APLOG_NOTICE, 0, s, "socache ocsp: writing records in %s works "
                     "again", inst->dir);
    }
    if (redis_usable(inst)) {
        const char *key = redis_key(inst, id, idlen, p);
        apr_size_t size = soc_record_size(idlen, datalen);
        unsigned char *rec = apr_palloc(p, size);
        apr_interval_time_t left = expiry - apr_time_now();
        apr_uint32_t ttl = left > 0 ? (apr_uint32_t)((left + APR_USEC_PER_SEC - 1) / APR_USEC_PER_SEC) : 1;
        if (key && left > 0) {
            apr_time_t started = apr_time_now();
            soc_record_encode(rec, id, idlen, data, datalen, (int64_t)expiry);
            redis_outcome(inst, s, apr_redis_setex(inst->redis, key, (char *)rec, size, ttl, 0),
                          started);
        }
    }
    return rc ? APR_FROM_OS_ERROR(rc) : APR_SUCCESS;
}

/* GET from Redis and check the record as strictly as a local one. */
static apr_status_t redis_fetch(ap_socache_instance_t *inst, server_rec *s,
                                const unsigned char *id, unsigned int idlen, soc_record *rec,
                                apr_pool_t *p)
{
    const char *key = redis_key(inst, id, idlen, p);
    char *val = NULL;
    apr_size_t len = 0;
    apr_time_t started = apr_time_now();
    apr_status_t rv;
    soc_result res;
    if (!key)
        return APR_NOTFOUND;
    rv = apr_redis_getp(inst->redis, p, key, &val, &len, NULL);
    redis_outcome(inst, s, rv, started);
    if (rv != APR_SUCCESS)
        return APR_NOTFOUND;
    res = soc_record_decode((unsigned char *)val, len, now_usec(), rec);
    if (res == SOC_OK && (rec->klen != idlen || memcmp(rec->key, id, idlen)))
        res = SOC_WRONG_KEY;
    if (res != SOC_OK) {
        ap_log_error(APLOG_MARK, res == SOC_EXPIRED ? APLOG_DEBUG : APLOG_WARNING, 0, s,
                     "socache ocsp: Redis key %s: %s; ignored", key, soc_result_name(res));
        return APR_NOTFOUND;
    }
    return APR_SUCCESS;
}

static apr_status_t copy_out(const soc_record *rec, unsigned char *data, unsigned int *datalen)
{
    if (rec->vlen > *datalen)
        return APR_ENOSPC;
    memcpy(data, rec->value, rec->vlen);
    *datalen = (unsigned int)rec->vlen;
    return APR_SUCCESS;
}

static apr_status_t socache_ocsp_retrieve(ap_socache_instance_t *inst, server_rec *s,
                                          const unsigned char *id, unsigned int idlen,
                                          unsigned char *data, unsigned int *datalen,
                                          apr_pool_t *p)
{
    size_t vlen = 0;
    int missing = 0;
    soc_result res = soc_file_load(inst->dir, id, idlen, now_usec(), data, *datalen, &vlen,
                                   NULL, &missing);
    if (res == SOC_OK) {
        apr_atomic_inc32(&inst->hits);
        *datalen = (unsigned int)vlen;
        return APR_SUCCESS;
    }
    if (!missing && res != SOC_EXPIRED) {
        apr_atomic_inc32(&inst->corrupt);
        ap_log_error(APLOG_MARK, APLOG_WARNING, 0, s, "socache ocsp: a record in %s was unusable "
                     "(%s) and is removed; treated as a miss", inst->dir, soc_result_name(res));
    }
    if (redis_usable(inst)) {
        soc_record rec;
        if (redis_fetch(inst, s, id, idlen, &rec, p) == APR_SUCCESS &&
            copy_out(&rec, data, datalen) == APR_SUCCESS) {
            apr_atomic_inc32(&inst->redis_hits);
            soc_file_store(inst->dir, id, idlen, rec.value, rec.vlen, rec.expiry);
            return APR_SUCCESS;
        }
    }
    apr_atomic_inc32(&inst->misses);
    return APR_NOTFOUND;
}

static apr_status_t socache_ocsp_retrieve_shared(ap_socache_instance_t *inst, server_rec *s,
                                                 const unsigned char *id, unsigned int idlen,
                                                 unsigned char *data, unsigned int *datalen,
                                                 apr_pool_t *p)
{
    soc_record rec;
    if (!redis_usable(inst))
        return APR_ENOTIMPL;
    if (redis_fetch(inst, s, id, idlen, &rec, p) != APR_SUCCESS)
        return APR_NOTFOUND;
    return copy_out(&rec, data, datalen);
}

static apr_status_t socache_ocsp_remove(ap_socache_instance_t *inst, server_rec *s,
                                        const unsigned char *id, unsigned int idlen, apr_pool_t *p)
{
    int rc = soc_file_remove(inst->dir, id, idlen);
    if (redis_usable(inst)) {
        const char *key = redis_key(inst, id, idlen, p);
        apr_time_t started = apr_time_now();
        if (key)
            redis_outcome(inst, s, apr_redis_delete(inst->redis, key, 0), started);
    }
    return rc ? APR_FROM_OS_ERROR(rc) : APR_SUCCESS;
}

static void socache_ocsp_status(ap_socache_instance_t *inst, request_rec *r, int flags)
{
    soc_sweep_stats st;
    (void)flags;
    soc_sweep(inst->dir, now_usec(), NULL, NULL, NULL, &st);
    ap_rprintf(r, "cache type: <b>ocsp</b>, directory: <b>%s</b><br>", ap_escape_html(r->pool, inst->dir));
    ap_rprintf(r, "records: <b>%u</b>, bytes: <b>%" APR_UINT64_T_FMT "</b>, hits: <b>%u</b>, "
               "misses: <b>%u</b>, removed as corrupt: <b>%u</b><br>", st.kept, (apr_uint64_t)st.bytes,
               apr_atomic_read32(&inst->hits), apr_atomic_read32(&inst->misses),
               apr_atomic_read32(&inst->corrupt));
    if (inst->redis)
        ap_rprintf(r, "redis: <b>%s:%d</b> %s, hits: <b>%u</b>, errors: <b>%u</b><br>",
                   ap_escape_html(r->pool, inst->args.redis_host), inst->args.redis_port,
                   inst->redis_down ? "<b>down</b>" : "up", apr_atomic_read32(&inst->redis_hits),
                   apr_atomic_read32(&inst->redis_errors));
    else
        ap_rputs("redis: not configured<br>", r);
}

typedef struct iterate_ctx {
    ap_socache_instance_t *inst;
    server_rec *s;
    void *userctx;
    ap_socache_iterator_t *iterator;
    apr_pool_t *pool;
} iterate_ctx;

static int iterate_visit(void *ctxv, const soc_record *rec)
{
    iterate_ctx *ctx = ctxv;
    /* the iterator is promised a trailing NUL after id and data */
    unsigned char *id = apr_pcalloc(ctx->pool, rec->klen + 1);
    unsigned char *data = apr_pcalloc(ctx->pool, rec->vlen + 1);
    memcpy(id, rec->key, rec->klen);
    memcpy(data, rec->value, rec->vlen);
    return (int)ctx->iterator(ctx->inst, ctx->s, ctx->userctx, id, (unsigned int)rec->klen,
                              data, (unsigned int)rec->vlen, ctx->pool);
}

static apr_status_t socache_ocsp_iterate(ap_socache_instance_t *inst, server_rec *s,
                                         void *userctx, ap_socache_iterator_t *iterator,
                                         apr_pool_t *pool)
{
    iterate_ctx ctx = { inst, s, userctx, iterator, pool };
    soc_sweep_stats st;
    apr_status_t rv = (apr_status_t)soc_sweep(inst->dir, now_usec(), iterate_visit, NULL, &ctx, &st);
    if (st.corrupt)
        ap_log_error(APLOG_MARK, APLOG_WARNING, 0, s, "socache ocsp: removed %u unusable record(s) "
                     "from %s", st.corrupt, inst->dir);
    return rv;
}

static apr_status_t socache_ocsp_inspect(ap_socache_instance_t *inst, server_rec *s,
                                         const char *cname, const unsigned char *id,
                                         unsigned int idlen, unsigned char *data,
                                         unsigned int *datalen, const char **where, apr_pool_t *p)
{
    const char *consumer = consumer_name(cname, p);
    const char *dir = apr_pstrcat(p, base_dir(inst, p), "/", consumer, NULL);
    size_t vlen = 0;
    int missing = 0;
    *where = "none";
    if (soc_file_load(dir, id, idlen, now_usec(), data, *datalen, &vlen, NULL, &missing) == SOC_OK) {
        *datalen = (unsigned int)vlen;
        *where = "file";
        return APR_SUCCESS;
    }
    if (*inst->args.redis_host) {
        ap_socache_instance_t probe = *inst;
        apr_redis_server_t *server;
        soc_record rec;
        probe.dir = dir;
        probe.redis_prefix = apr_pstrcat(p, inst->args.prefix, consumer, ":", NULL);
        if (redis_connect(&probe, &probe.redis, &server, p) == APR_SUCCESS &&
            redis_fetch(&probe, s, id, idlen, &rec, p) == APR_SUCCESS &&
            copy_out(&rec, data, datalen) == APR_SUCCESS) {
            *where = "redis";
            return APR_SUCCESS;
        }
    }
    return APR_NOTFOUND;
}

static const char *socache_ocsp_selftest(ap_socache_instance_t *inst, server_rec *s,
                                         const char *cname, const char **redis_problem,
                                         apr_pool_t *p)
{
    const char *dir = apr_pstrcat(p, base_dir(inst, p), "/", consumer_name(cname, p), NULL);
    const char *probe = apr_pstrcat(p, dir, "/.tmp.configtest", NULL);
    apr_status_t rv = apr_dir_make_recursive(dir, APR_FPROT_OS_DEFAULT, p);
    apr_file_t *f;
    char err[128];
    (void)s;
    *redis_problem = NULL;
    if (*inst->args.redis_host) {
        apr_redis_t *rc;
        apr_redis_server_t *server;
        apr_status_t rrv = redis_connect(inst, &rc, &server, p);
        if (rrv == APR_SUCCESS)
            rrv = apr_redis_ping(server);
        if (rrv != APR_SUCCESS)
            *redis_problem = apr_psprintf(p, "Redis %s:%d does not answer (%s)", inst->args.redis_host,
                                          inst->args.redis_port, apr_strerror(rrv, err, sizeof(err)));
    }
    if (rv != APR_SUCCESS && !APR_STATUS_IS_EEXIST(rv))
        return apr_psprintf(p, "cannot create %s (%s)", dir, apr_strerror(rv, err, sizeof(err)));
    rv = apr_file_open(&f, probe, APR_FOPEN_WRITE | APR_FOPEN_CREATE | APR_FOPEN_TRUNCATE,
                       APR_FPROT_OS_DEFAULT, p);
    if (rv != APR_SUCCESS)
        return apr_psprintf(p, "cannot write in %s (%s)", dir, apr_strerror(rv, err, sizeof(err)));
    apr_file_close(f);
    apr_file_remove(probe, p);
    return NULL;
}

static const ap_socache_provider_t socache_ocsp_provider = {
    "ocsp",
    0,                           /* MP-safe: writes are atomic renames, reads take no lock */
    socache_ocsp_create,
    socache_ocsp_init,
    socache_ocsp_destroy,
    socache_ocsp_store,
    socache_ocsp_retrieve,
    socache_ocsp_remove,
    socache_ocsp_status,
    socache_ocsp_iterate
};

static void register_hooks(apr_pool_t *p)
{
    ap_register_provider(p, AP_SOCACHE_PROVIDER_GROUP, "ocsp", AP_SOCACHE_PROVIDER_VERSION,
                         &socache_ocsp_provider);
    APR_REGISTER_OPTIONAL_FN(socache_ocsp_retrieve_shared);
    APR_REGISTER_OPTIONAL_FN(socache_ocsp_inspect);
    APR_REGISTER_OPTIONAL_FN(socache_ocsp_selftest);
}

module AP_MODULE_DECLARE_DATA socache_ocsp_module = {
    STANDARD20_MODULE_STUFF,
    NULL, NULL, NULL, NULL, NULL,
    register_hooks,
    AP_MODULE_FLAG_NONE
};
