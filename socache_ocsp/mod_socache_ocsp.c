/* Copyright 2026 the mod_ocsp_guard developers. Licensed under the Apache License 2.0 (LICENSE). */
/* mod_socache_ocsp: an ap_socache provider ("ocsp") with a crash-safe local
 * directory tier (restart persistence) and an optional Redis tier (cluster
 * sharing). The record format and file handling live in soc_record.c, the
 * safe opening of the directory in soc_path.c and the Redis client in
 * soc_redis.c; none of them knows httpd.
 *
 * What root does here: init() runs in the root parent at every start and
 * graceful restart, configtest and DUMP_OCSP run as root. The consumer
 * directory belongs to the server's user, so root reaches it only through a
 * descriptor opened without following symlinks (soc_dir_walk), chowns only a
 * directory it has just created, and leaves the sweep of the directory's
 * content to a process running as the server's user. */
#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <unistd.h>

#include "httpd.h"
#include "http_config.h"
#include "http_log.h"
#include "http_protocol.h"
#include "ap_provider.h"
#include "ap_socache.h"
#include "unixd.h"
#include "mod_status.h"
#include "apr_atomic.h"
#include "apr_lib.h"
#include "apr_strings.h"

#include "mod_socache_ocsp.h"
#include "soc_path.h"
#include "soc_record.h"
#include "soc_redis.h"

module AP_MODULE_DECLARE_DATA socache_ocsp_module;
APLOG_USE_MODULE(socache_ocsp);

/* Message IDs, shared with mod_ocsp_guard's numbering (docs/MESSAGES.md). */
#define SOC_LOGNO(n) "OG" #n ": "

#define REDIS_RETRY apr_time_from_sec(5)

struct ap_socache_instance_t {
    soc_args args;
    char auth_user[256], auth_pass[512];   /* from auth=FILE, read at create() */
    const char *dir;             /* DIR/<consumer name> once initialised */
    int dirfd;                   /* that directory, opened without following symlinks */
    const char *redis_prefix;    /* prefix + consumer name + ":" */
    soc_redis *redis;
    volatile apr_uint32_t redis_down;
    volatile apr_uint32_t redis_heard;   /* apr_time_sec of the last operation's outcome */
    apr_time_t redis_retry_at;
    volatile apr_uint32_t store_failing;
    int sweep_later;             /* the consumer calls socache_ocsp_sweep itself */
    volatile apr_uint32_t hits, misses, redis_hits, redis_errors, corrupt;
};

static apr_int64_t now_usec(void)
{
    return (apr_int64_t)apr_time_now();
}

/* The password lives in the configuration pool; wipe it with the pool. */
static apr_status_t wipe_secret(void *data)
{
    ap_socache_instance_t *inst = data;
    explicit_bzero(inst->auth_pass, sizeof(inst->auth_pass));
    return APR_SUCCESS;
}

static const char *socache_ocsp_create(ap_socache_instance_t **instance, const char *arg,
                                       apr_pool_t *tmp, apr_pool_t *p)
{
    ap_socache_instance_t *inst = apr_pcalloc(p, sizeof(*inst));
    char err[1024];
    (void)tmp;
    inst->dirfd = -1;
    if (soc_parse_args(arg, &inst->args, err, sizeof(err)))
        return apr_psprintf(p, "socache ocsp: %s", err);
    if (*inst->args.auth_file) {
        if (!*inst->args.redis_host)
            return "socache ocsp: auth= needs redis=HOST:PORT";
        /* create() runs as root when the configuration is read: the file
         * can be one that only root reads */
        apr_pool_cleanup_register(p, inst, wipe_secret, apr_pool_cleanup_null);
        if (soc_redis_read_auth(inst->args.auth_file, inst->auth_user, sizeof(inst->auth_user),
                                inst->auth_pass, sizeof(inst->auth_pass), err, sizeof(err)))
            return apr_psprintf(p, "socache ocsp: %s", err);
    }
    *instance = inst;
    return NULL;
}

static int redis_usable(ap_socache_instance_t *inst)
{
    return inst->redis && (!inst->redis_down || apr_time_now() >= inst->redis_retry_at);
}

/* Tracks Redis health: a failure (timeout=, connection, AUTH, protocol)
 * marks it down for a few seconds, so a sick Redis costs at most one caller
 * per try. A miss or an oversized value says nothing about Redis's health. */
static void redis_outcome(ap_socache_instance_t *inst, server_rec *s, soc_redis_status st,
                          const char *why)
{
    apr_atomic_set32(&inst->redis_heard, (apr_uint32_t)apr_time_sec(apr_time_now()));
    if (st != SOC_REDIS_OK && st != SOC_REDIS_MISS && st != SOC_REDIS_TOO_BIG) {
        apr_atomic_inc32(&inst->redis_errors);
        inst->redis_retry_at = apr_time_now() + REDIS_RETRY;
        if (!apr_atomic_xchg32(&inst->redis_down, 1))
            ap_log_error(APLOG_MARK, st == SOC_REDIS_AUTH ? APLOG_ERR : APLOG_WARNING, 0, s,
                         SOC_LOGNO(00801) "socache ocsp: %s; working from %s alone and trying Redis again every %d s",
                         why, inst->dir, (int)apr_time_sec(REDIS_RETRY));
    } else if (apr_atomic_xchg32(&inst->redis_down, 0)) {
        ap_log_error(APLOG_MARK, APLOG_NOTICE, 0, s, SOC_LOGNO(00802) "socache ocsp: Redis %s:%d answers again; "
                     "sharing resumed", inst->args.redis_host, inst->args.redis_port);
    }
}

#define SWEEP_NAMED_MAX 10       /* unusable records named one by one; OG00804 counts them all */

typedef struct sweep_ctx {
    ap_socache_instance_t *inst;
    server_rec *s;
    unsigned named;
} sweep_ctx;

/* A directory the server's user filled with junk must not fill the log. */
static void log_bad_record(void *ctx, const char *name, soc_result why)
{
    sweep_ctx *c = ctx;
    if (c->named++ < SWEEP_NAMED_MAX)
        ap_log_error(APLOG_MARK, APLOG_WARNING, 0, c->s, SOC_LOGNO(00803) "socache ocsp: record %s/%s was unusable "
                     "(%s) and is removed%s", c->inst->dir, name, soc_result_name(why),
                     c->named == SWEEP_NAMED_MAX ? "; further ones are only counted (OG00804)" : "");
}

/* Runs as the server's user (see init): 0 when it can write its directory, else 2. */
static int check_as_server_user(void *data)
{
    sweep_ctx *c = data;
    return faccessat(c->inst->dirfd, ".", W_OK | X_OK, AT_EACCESS) < 0 ? 2 : 0;
}

/* Runs as the server's user (see init): its directory, its files. */
static int sweep_as_server_user(void *data)
{
    sweep_ctx *c = data;
    soc_sweep_stats st;
    if (check_as_server_user(c))
        return 2;
    soc_sweep_at(c->inst->dirfd, now_usec(), 0, NULL, log_bad_record, c, &st);
    ap_log_error(APLOG_MARK, APLOG_INFO, 0, c->s, SOC_LOGNO(00804) "socache ocsp: %s holds %u record(s); swept %u "
                 "expired, %u corrupt, %u stale temporary", c->inst->dir, st.kept, st.expired,
                 st.corrupt, st.stale_tmp);
    return 0;
}

/* The ids the children run as, when this process is root; else -1. */
static long server_uid(void)
{
    return geteuid() == 0 ? (long)ap_unixd_config.user_id : -1;
}

static long server_gid(void)
{
    return geteuid() == 0 ? (long)ap_unixd_config.group_id : -1;
}

/* fn(ctx) as the server's user: in a child process that drops to it when
 * this one is root, else here. soc_run_as's return values. */
static int run_as_server_user(int (*fn)(void *ctx), sweep_ctx *ctx)
{
    return geteuid() == 0 ? soc_run_as(server_uid(), server_gid(), fn, ctx, SOC_RUN_AS_TIMEOUT_MS) : fn(ctx);
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

/* DIR/<consumer>: where this consumer's records live. */
static const char *consumer_dir(ap_socache_instance_t *inst, const char *cname, apr_pool_t *p)
{
    return apr_pstrcat(p, base_dir(inst, p), "/", consumer_name(cname, p), NULL);
}

static apr_status_t close_dirfd(void *data)
{
    ap_socache_instance_t *inst = data;
    if (inst->dirfd >= 0)
        close(inst->dirfd);
    inst->dirfd = -1;
    return APR_SUCCESS;
}

static apr_status_t free_redis(void *data)
{
    ap_socache_instance_t *inst = data;
    soc_redis_free(inst->redis);
    inst->redis = NULL;
    return APR_SUCCESS;
}

/* A client for the configured Redis; the name is resolved here, once. */
static soc_redis *redis_client(ap_socache_instance_t *inst, char *err, size_t errlen)
{
    return soc_redis_new(inst->args.redis_host, inst->args.redis_port, inst->args.timeout_ms,
                         inst->auth_user, inst->auth_pass, err, errlen);
}

static apr_status_t socache_ocsp_init(ap_socache_instance_t *inst, const char *cname,
                                      const struct ap_socache_hints *hints, server_rec *s,
                                      apr_pool_t *p)
{
    const char *consumer = consumer_name(cname, p);
    sweep_ctx ctx = { inst, s, 0 };
    soc_walk w;
    int rc, timed_out;
    (void)hints;
    inst->dir = consumer_dir(inst, cname, p);
    /* Creates what is missing (root-owned, 0755) and hands only a consumer
     * directory it created itself to the server's user. */
    soc_dir_walk(inst->dir, SOC_WALK_CREATE, server_uid(), server_gid(), &w);
    if (w.fd < 0) {
        ap_log_error(APLOG_MARK, APLOG_ERR, APR_FROM_OS_ERROR(w.err), s, SOC_LOGNO(00805) "socache ocsp: %s", w.msg);
        return APR_FROM_OS_ERROR(w.err);
    }
    inst->dirfd = w.fd;
    apr_pool_cleanup_register(p, inst, close_dirfd, apr_pool_cleanup_null);
    if (w.created)
        ap_log_error(APLOG_MARK, APLOG_INFO, 0, s, SOC_LOGNO(00806) "socache ocsp: created %s for the server's user",
                     inst->dir);
    /* The directory's content is the server's user's to write: read and
     * delete it as that user, so nothing planted there is ever acted on
     * with root's rights. A consumer that sweeps later (socache_ocsp_sweep,
     * off its start-up path) needs only the check now. */
    errno = 0;
    rc = run_as_server_user(inst->sweep_later ? check_as_server_user : sweep_as_server_user, &ctx);
    timed_out = rc < 0 && errno == ETIMEDOUT;
    if (rc == 2) {
        ap_log_error(APLOG_MARK, APLOG_ERR, APR_EACCES, s, SOC_LOGNO(00807) "socache ocsp: %s is not writable by the "
                     "server's user; it existed already and is left as it is: give it to that "
                     "user or remove it so it is created", inst->dir);
        return APR_EACCES;
    }
    if (rc != 0)
        ap_log_error(APLOG_MARK, APLOG_WARNING, 0, s, SOC_LOGNO(00808) "socache ocsp: could not %s %s as the "
                     "server's user (%s); continuing without it", inst->sweep_later ? "check" : "sweep", inst->dir,
                     rc == 126 ? "cannot switch to that user"
                     : timed_out ? "it did not finish within the time allowed and was killed" : "no process");
    if (*inst->args.redis_host) {
        char err[512];
        inst->redis_prefix = apr_pstrcat(p, inst->args.prefix, consumer, ":", NULL);
        if (!(inst->redis = redis_client(inst, err, sizeof(err)))) {
            ap_log_error(APLOG_MARK, APLOG_ERR, 0, s, SOC_LOGNO(00809) "socache ocsp: %s; working from %s alone "
                         "until the next restart", err, inst->dir);
        } else {
            apr_pool_cleanup_register(p, inst, free_redis, apr_pool_cleanup_null);
        }
    }
    return APR_SUCCESS;
}

static void socache_ocsp_sweep_later(ap_socache_instance_t *inst)
{
    inst->sweep_later = 1;
}

static apr_status_t socache_ocsp_sweep(ap_socache_instance_t *inst, server_rec *s)
{
    sweep_ctx ctx = { inst, s, 0 };
    int rc;
    if (inst->dirfd < 0)
        return APR_EINVAL;
    rc = run_as_server_user(sweep_as_server_user, &ctx);
    return rc == 0 ? APR_SUCCESS : rc == 2 ? APR_EACCES : APR_EGENERAL;
}

static void socache_ocsp_destroy(ap_socache_instance_t *inst, server_rec *s)
{
    (void)inst;
    (void)s;                     /* the pool's cleanups close and free */
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
    int rc = soc_file_store_at(inst->dirfd, id, idlen, data, datalen, (int64_t)expiry);
    if (rc) {
        if (!apr_atomic_xchg32(&inst->store_failing, 1))
            ap_log_error(APLOG_MARK, APLOG_ERR, APR_FROM_OS_ERROR(rc), s, SOC_LOGNO(00810) "socache ocsp: cannot "
                         "write records in %s; the previous records stay readable", inst->dir);
    } else if (apr_atomic_xchg32(&inst->store_failing, 0)) {
        ap_log_error(APLOG_MARK, APLOG_NOTICE, 0, s, SOC_LOGNO(00811) "socache ocsp: writing records in %s works "
                     "again", inst->dir);
    }
    if (redis_usable(inst)) {
        const char *key = redis_key(inst, id, idlen, p);
        apr_interval_time_t left = expiry - apr_time_now();
        if (key && left > 0 && datalen <= SOC_MAX_VALUE) {
            apr_size_t size = soc_record_size(idlen, datalen);
            unsigned char *rec = apr_palloc(p, size);
            unsigned ttl = (unsigned)((left + APR_USEC_PER_SEC - 1) / APR_USEC_PER_SEC);
            char why[512];
            soc_redis_status st;
            soc_record_encode(rec, id, idlen, data, datalen, (int64_t)expiry);
            st = soc_redis_setex(inst->redis, key, rec, size, ttl, why, sizeof(why));
            redis_outcome(inst, s, st, why);
        }
    }
    return rc ? APR_FROM_OS_ERROR(rc) : APR_SUCCESS;
}

/* Reads the Redis record of id, never more than a record holding *datalen
 * bytes of value can take, checks it as strictly as a local one and copies
 * the value out. The value is not verified (only the consumer can) and is
 * never written to the local directory. */
static apr_status_t redis_fetch(ap_socache_instance_t *inst, soc_redis *redis, server_rec *s,
                                const unsigned char *id, unsigned int idlen, unsigned char *data,
                                unsigned int *datalen, apr_pool_t *p)
{
    const char *key = redis_key(inst, id, idlen, p);
    size_t cap = soc_record_size(idlen, *datalen < SOC_MAX_VALUE ? *datalen : SOC_MAX_VALUE), len = 0;
    unsigned char *val;
    char why[512];
    soc_redis_status st;
    soc_result res;
    soc_record rec;
    if (!key)
        return APR_NOTFOUND;
    val = apr_palloc(p, cap);
    st = soc_redis_get(redis, key, val, cap, &len, why, sizeof(why));
    if (redis == inst->redis)
        redis_outcome(inst, s, st, why);
    if (st == SOC_REDIS_TOO_BIG) {
        ap_log_error(APLOG_MARK, APLOG_WARNING, 0, s, SOC_LOGNO(00812) "socache ocsp: Redis key %s holds more than "
                     "%" APR_SIZE_T_FMT " bytes, more than any record this consumer accepts; ignored",
                     key, cap);
        return APR_NOTFOUND;
    }
    if (st != SOC_REDIS_OK)
        return st == SOC_REDIS_MISS ? APR_NOTFOUND : APR_EGENERAL;
    res = soc_record_decode(val, len, now_usec(), &rec);
    if (res == SOC_OK && (rec.klen != idlen || memcmp(rec.key, id, idlen)))
        res = SOC_WRONG_KEY;
    if (res == SOC_OK && rec.vlen > *datalen)
        res = SOC_TOO_LARGE;
    if (res != SOC_OK) {
        ap_log_error(APLOG_MARK, res == SOC_EXPIRED ? APLOG_DEBUG : APLOG_WARNING, 0, s,
                     SOC_LOGNO(00813) "socache ocsp: Redis key %s: %s; ignored", key, soc_result_name(res));
        return APR_NOTFOUND;
    }
    memcpy(data, rec.value, rec.vlen);
    *datalen = (unsigned int)rec.vlen;
    return APR_SUCCESS;
}

static apr_status_t local_retrieve(ap_socache_instance_t *inst, server_rec *s,
                                   const unsigned char *id, unsigned int idlen,
                                   unsigned char *data, unsigned int *datalen)
{
    size_t vlen = 0;
    int missing = 0, removed = 0;
    soc_result res = soc_file_load_at(inst->dirfd, id, idlen, now_usec(), data, *datalen, &vlen,
                                      NULL, 0, &missing, &removed);
    if (res == SOC_OK) {
        apr_atomic_inc32(&inst->hits);
        *datalen = (unsigned int)vlen;
        return APR_SUCCESS;
    }
    if (!missing && res != SOC_EXPIRED) {
        char name[2 * SOC_MAX_KEY + 1] = "?";
        soc_key_filename(id, idlen, name, sizeof(name));
        apr_atomic_inc32(&inst->corrupt);
        ap_log_error(APLOG_MARK, APLOG_WARNING, 0, s, SOC_LOGNO(00814) "socache ocsp: record %s/%s was unusable "
                     "(%s)%s; treated as a miss", inst->dir, name, soc_result_name(res),
                     removed ? " and is removed" : "");
    }
    return APR_NOTFOUND;
}

/* The local directory, then Redis. What comes from Redis is handed to the
 * caller only: a Redis writer must not be able to plant records in the
 * local tier, which every later start trusts as this node's own. */
static apr_status_t socache_ocsp_retrieve(ap_socache_instance_t *inst, server_rec *s,
                                          const unsigned char *id, unsigned int idlen,
                                          unsigned char *data, unsigned int *datalen,
                                          apr_pool_t *p)
{
    if (local_retrieve(inst, s, id, idlen, data, datalen) == APR_SUCCESS)
        return APR_SUCCESS;
    if (redis_usable(inst) && redis_fetch(inst, inst->redis, s, id, idlen, data, datalen, p)
                              == APR_SUCCESS) {
        apr_atomic_inc32(&inst->redis_hits);
        return APR_SUCCESS;
    }
    apr_atomic_inc32(&inst->misses);
    return APR_NOTFOUND;
}

static apr_status_t socache_ocsp_retrieve_local(ap_socache_instance_t *inst, server_rec *s,
                                                const unsigned char *id, unsigned int idlen,
                                                unsigned char *data, unsigned int *datalen,
                                                apr_pool_t *p)
{
    (void)p;
    if (local_retrieve(inst, s, id, idlen, data, datalen) == APR_SUCCESS)
        return APR_SUCCESS;
    apr_atomic_inc32(&inst->misses);
    return APR_NOTFOUND;
}

static apr_status_t socache_ocsp_retrieve_shared(ap_socache_instance_t *inst, server_rec *s,
                                                 const unsigned char *id, unsigned int idlen,
                                                 unsigned char *data, unsigned int *datalen,
                                                 apr_pool_t *p)
{
    if (!redis_usable(inst))
        return APR_ENOTIMPL;
    if (redis_fetch(inst, inst->redis, s, id, idlen, data, datalen, p) != APR_SUCCESS)
        return APR_NOTFOUND;
    apr_atomic_inc32(&inst->redis_hits);
    return APR_SUCCESS;
}

static apr_status_t socache_ocsp_remove(ap_socache_instance_t *inst, server_rec *s,
                                        const unsigned char *id, unsigned int idlen, apr_pool_t *p)
{
    int rc = soc_file_remove_at(inst->dirfd, id, idlen);
    if (redis_usable(inst)) {
        const char *key = redis_key(inst, id, idlen, p);
        char why[512];
        if (key)
            redis_outcome(inst, s, soc_redis_del(inst->redis, key, why, sizeof(why)), why);
    }
    return rc ? APR_FROM_OS_ERROR(rc) : APR_SUCCESS;
}

static int socache_ocsp_redis_up(ap_socache_instance_t *inst, server_rec *s, int idle_sec)
{
    if (!*inst->args.redis_host)
        return -1;
    if (!inst->redis)
        return 0;
    if (redis_usable(inst) &&
        apr_time_sec(apr_time_now()) - (apr_time_t)apr_atomic_read32(&inst->redis_heard) >= idle_sec) {
        char why[512];
        redis_outcome(inst, s, soc_redis_ping(inst->redis, why, sizeof(why)), why);
    }
    return !apr_atomic_read32(&inst->redis_down);
}

/* The counters are this process's (each child has its own); ?auto gets
 * "Key: value" lines as mod_status's own and shmcb's. */
static void socache_ocsp_status(ap_socache_instance_t *inst, request_rec *r, int flags)
{
    soc_sweep_stats st;
    /* a status page counts; it does not clean up */
    soc_sweep_at(inst->dirfd, now_usec(), SOC_LOAD_READONLY, NULL, NULL, NULL, &st);
    if (flags & AP_STATUS_SHORT) {
        ap_rprintf(r, "CacheType: OCSP\nCacheDirectory: %s\nCacheCurrentEntries: %u\n"
                   "CacheBytes: %" APR_UINT64_T_FMT "\nCacheRetrieveHitCount: %u\n"
                   "CacheRetrieveMissCount: %u\nCacheCorruptCount: %u\n", inst->dir, st.kept,
                   (apr_uint64_t)st.bytes, apr_atomic_read32(&inst->hits),
                   apr_atomic_read32(&inst->misses), apr_atomic_read32(&inst->corrupt));
        if (*inst->args.redis_host)
            ap_rprintf(r, "CacheRedis: %s:%d\nCacheRedisUp: %d\nCacheRedisHitCount: %u\n"
                       "CacheRedisErrorCount: %u\n", inst->args.redis_host, inst->args.redis_port,
                       inst->redis && !inst->redis_down, apr_atomic_read32(&inst->redis_hits),
                       apr_atomic_read32(&inst->redis_errors));
        return;
    }
    ap_rprintf(r, "cache type: <b>ocsp</b>, directory: <b>%s</b><br>", ap_escape_html(r->pool, inst->dir));
    ap_rprintf(r, "records: <b>%u</b>, bytes: <b>%" APR_UINT64_T_FMT "</b>, hits: <b>%u</b>, "
               "misses: <b>%u</b>, removed as corrupt: <b>%u</b><br>", st.kept, (apr_uint64_t)st.bytes,
               apr_atomic_read32(&inst->hits), apr_atomic_read32(&inst->misses),
               apr_atomic_read32(&inst->corrupt));
    if (*inst->args.redis_host)
        ap_rprintf(r, "redis: <b>%s:%d</b> %s, hits: <b>%u</b>, errors: <b>%u</b><br>",
                   ap_escape_html(r->pool, inst->args.redis_host), inst->args.redis_port,
                   !inst->redis ? "<b>unresolved</b>" : inst->redis_down ? "<b>down</b>" : "up",
                   apr_atomic_read32(&inst->redis_hits), apr_atomic_read32(&inst->redis_errors));
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
    apr_status_t rv = (apr_status_t)soc_sweep_at(inst->dirfd, now_usec(), 0, iterate_visit, NULL,
                                                 &ctx, &st);
    if (st.corrupt)
        ap_log_error(APLOG_MARK, APLOG_WARNING, 0, s, SOC_LOGNO(00815) "socache ocsp: removed %u unusable record(s) "
                     "from %s", st.corrupt, inst->dir);
    return rv;
}

/* configtest's DUMP_OCSP, as root: reads only. The directory is reached
 * without following symlinks other users could have planted, the record is
 * opened O_NOFOLLOW and nothing is removed, whatever it holds. */
static apr_status_t socache_ocsp_inspect(ap_socache_instance_t *inst, server_rec *s,
                                         const char *cname, const unsigned char *id,
                                         unsigned int idlen, unsigned char *data,
                                         unsigned int *datalen, const char **where, apr_pool_t *p)
{
    const char *consumer = consumer_name(cname, p);
    soc_walk w;
    *where = "none";
    soc_dir_walk(consumer_dir(inst, cname, p), 0, -1, -1, &w);
    if (w.fd >= 0) {
        size_t vlen = 0;
        int missing = 0;
        soc_result res = soc_file_load_at(w.fd, id, idlen, now_usec(), data, *datalen, &vlen, NULL,
                                          SOC_LOAD_READONLY, &missing, NULL);
        close(w.fd);
        if (res == SOC_OK) {
            *datalen = (unsigned int)vlen;
            *where = "file";
            return APR_SUCCESS;
        }
    }
    if (*inst->args.redis_host) {
        char err[512];
        /* One client for the whole dump (this instance is configtest's and
         * never initialised): a Redis that fails is marked down like at run
         * time (redis_outcome) and not asked again for REDIS_RETRY. */
        if (!inst->redis_prefix) {
            inst->redis_prefix = apr_pstrcat(p, inst->args.prefix, consumer, ":", NULL);
            inst->dir = consumer_dir(inst, cname, p);
            if ((inst->redis = redis_client(inst, err, sizeof(err))))
                apr_pool_cleanup_register(p, inst, free_redis, apr_pool_cleanup_null);
        }
        if (redis_usable(inst) && redis_fetch(inst, inst->redis, s, id, idlen, data, datalen, p) == APR_SUCCESS) {
            *where = "redis";
            return APR_SUCCESS;
        }
    }
    return APR_NOTFOUND;
}

/* Runs as the server's user: 0, or why it cannot write in the directory. */
static int server_user_can_write(void *data)
{
    int *fd = data;
    return faccessat(*fd, ".", W_OK | X_OK, AT_EACCESS) < 0 ? (errno ? errno : EACCES) : 0;
}

/* configtest, as root: changes nothing on disk. A missing directory is
 * judged creatable without creating it; an existing one must be a real
 * directory the server's user can write in, which a process running as that
 * user checks. */
static const char *socache_ocsp_selftest(ap_socache_instance_t *inst, server_rec *s,
                                         const char *cname, const char **redis_problem,
                                         apr_pool_t *p)
{
    const char *dir = consumer_dir(inst, cname, p);
    const char *problem = NULL;
    soc_walk w;
    (void)s;
    *redis_problem = NULL;
    if (*inst->args.redis_host) {
        char err[512];
        soc_redis *redis = redis_client(inst, err, sizeof(err));
        soc_redis_status st = redis ? soc_redis_ping(redis, err, sizeof(err)) : SOC_REDIS_IO;
        if (st == SOC_REDIS_AUTH)
            *redis_problem = apr_psprintf(p, "Redis %s:%d refuses the credentials of %s (%s)",
                                          inst->args.redis_host, inst->args.redis_port,
                                          inst->args.auth_file, err);
        else if (st != SOC_REDIS_OK)
            *redis_problem = apr_psprintf(p, "Redis %s:%d does not answer (%s)", inst->args.redis_host,
                                          inst->args.redis_port, err);
        soc_redis_free(redis);
    }
    soc_dir_walk(dir, SOC_WALK_PROBE, -1, -1, &w);
    if (w.fd < 0)
        return w.missing ? NULL : apr_pstrdup(p, w.msg);
    {
        int rc = geteuid() == 0 ? soc_run_as(server_uid(), server_gid(), server_user_can_write, &w.fd, SOC_RUN_AS_TIMEOUT_MS)
                                : server_user_can_write(&w.fd);
        if (rc != 0)
            problem = apr_psprintf(p, "cannot write in %s as the server's user (%s)", dir,
                                   rc == 126 ? "cannot switch to that user" : rc < 0 ? "no process"
                                   : strerror(rc));
    }
    close(w.fd);
    return problem;
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
    APR_REGISTER_OPTIONAL_FN(socache_ocsp_retrieve_local);
    APR_REGISTER_OPTIONAL_FN(socache_ocsp_inspect);
    APR_REGISTER_OPTIONAL_FN(socache_ocsp_selftest);
    APR_REGISTER_OPTIONAL_FN(socache_ocsp_sweep_later);
    APR_REGISTER_OPTIONAL_FN(socache_ocsp_sweep);
    APR_REGISTER_OPTIONAL_FN(socache_ocsp_redis_up);
}

module AP_MODULE_DECLARE_DATA socache_ocsp_module = {
    STANDARD20_MODULE_STUFF,
    NULL, NULL, NULL, NULL, NULL,
    register_hooks,
    AP_MODULE_FLAG_NONE
};
