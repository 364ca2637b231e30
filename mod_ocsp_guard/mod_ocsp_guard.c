/* mod_ocsp_guard: httpd glue. Directives, the core stapling hooks, the
 * shared staple table and the refresher process. The OCSP work itself is in
 * the og_* core, which knows nothing of httpd. */
#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include "httpd.h"
#include "http_config.h"
#include "http_core.h"
#include "http_log.h"
#include "http_ssl.h"
#include "ap_listen.h"
#include "ap_mpm.h"
#include "ap_provider.h"
#include "ap_socache.h"
#include "mpm_common.h"
#include "apr_shm.h"
#include "apr_strings.h"
#include "apr_thread_proc.h"

#include "mod_socache_ocsp.h"
#include "mod_ocsp_guard.h"
#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/sha.h>
#include <openssl/x509.h>

#include "og_ocsp.h"
#include "og_refresher.h"
#include "og_table.h"

#define TABLE_KEY "mod_ocsp_guard-staple-table"
#define RESPAWN_INTERVAL apr_time_from_sec(5)
APLOG_USE_MODULE(ocsp_guard);


/* Everything a config pass primes; lives in pconf. */
typedef struct guard_registry {
    apr_pool_t *pool;
    apr_array_header_t *targets; /* og_target */
    apr_hash_t *by_id;           /* id -> index in targets */
    apr_hash_t *declined;        /* ids already reported as not stapled */
    apr_hash_t *issuers;         /* issuer PEM digest -> X509, shared by targets */
    apr_interval_time_t prime_time; /* spent in the prime hook this pass */
} guard_registry;

typedef struct guard_cache {
    ap_socache_provider_t *provider;
    const char *name;
    ap_socache_instance_t *instance;
    const char *spec;
    server_rec *s;
    apr_pool_t *pool;
} guard_cache;

/* What the parent's monitor pass remembers per certificate, to rate-limit. */
typedef struct watch_state {
    time_t must_staple_logged;   /* last "must-staple without staple" error */
    int quarter_warned;          /* "little validity left" said for this response */
} watch_state;

static guard_registry *registry;    /* this config pass */
static watch_state *watch;          /* per target, parent only */
static og_table *staple_table;      /* what the handshakes read */
static pid_t refresher_pid;
static apr_time_t refresher_spawned;
static apr_proc_t refresher_proc;
static server_rec *main_server;
static guard_cache cache;

static int dry_run(void)
{
    return ap_state_query(AP_SQ_MAIN_STATE) == AP_SQ_MS_CREATE_PRE_CONFIG;
}

guard_server_conf *guard_conf(server_rec *s)
{
    return ap_get_module_config(s->module_config, &ocsp_guard_module);
}

/* ---------------------------------------------------------------- config */

static void *create_server_conf(apr_pool_t *p, server_rec *s)
{
    guard_server_conf *c = apr_pcalloc(p, sizeof(*c));
    (void)s;
    c->enabled = UNSET;
    c->refresh_pct = UNSET;
    c->timeout = UNSET;
    c->max_skew = UNSET;
    c->startup_wait = UNSET;
    c->concurrency = UNSET;
    return c;
}

#define MERGE_INT(f) m->f = (add->f != UNSET ? add->f : base->f)
#define MERGE_PTR(f) m->f = (add->f ? add->f : base->f)

static void *merge_server_conf(apr_pool_t *p, void *basev, void *addv)
{
    guard_server_conf *base = basev, *add = addv, *m = apr_pcalloc(p, sizeof(*m));
    MERGE_INT(enabled);
    MERGE_PTR(responder);
    MERGE_INT(refresh_pct);
    MERGE_INT(timeout);
    MERGE_INT(max_skew);
    MERGE_PTR(proxy);
    MERGE_INT(startup_wait);
    MERGE_INT(concurrency);
    MERGE_PTR(cache_spec);
    return m;
}

int guard_value_or(int v, int dflt)
{
    return v == UNSET ? dflt : v;
}

static const char *parse_int_range(cmd_parms *cmd, const char *arg, int lo, int hi, int *out)
{
    char *end;
    long v;
    errno = 0;
    v = strtol(arg, &end, 10);
    if (errno || end == arg || *end || v < lo || v > hi)
        return apr_psprintf(cmd->pool, "%s: '%s' is not a whole number from %d to %d",
                            cmd->cmd->name, arg, lo, hi);
    *out = (int)v;
    return NULL;
}

static const char *set_int(cmd_parms *cmd, void *dc, const char *arg)
{
    guard_server_conf *c = guard_conf(cmd->server);
    (void)dc;
    switch ((long)cmd->info) {
    case 1: return parse_int_range(cmd, arg, 1, 99, &c->refresh_pct);
    case 2: return parse_int_range(cmd, arg, 1, 300, &c->timeout);
    case 3: return parse_int_range(cmd, arg, 0, 86400, &c->max_skew);
    case 4: return parse_int_range(cmd, arg, 0, 600, &c->startup_wait);
    default: return parse_int_range(cmd, arg, 1, 64, &c->concurrency);
    }
}

static const char *global_only(cmd_parms *cmd)
{
    return ap_check_cmd_context(cmd, GLOBAL_ONLY);
}

static const char *set_global_int(cmd_parms *cmd, void *dc, const char *arg)
{
    const char *err = global_only(cmd);
    return err ? err : set_int(cmd, dc, arg);
}

static const char *check_http_url(cmd_parms *cmd, const char *arg, int path_allowed)
{
    apr_uri_t uri;
    if (apr_uri_parse(cmd->pool, arg, &uri) != APR_SUCCESS || !uri.scheme || !uri.hostname ||
        strcasecmp(uri.scheme, "http"))
        return apr_psprintf(cmd->pool, "%s: '%s' is not an http:// URL with a host",
                            cmd->cmd->name, arg);
    if (!path_allowed && uri.path && strcmp(uri.path, "/") && *uri.path)
        return apr_psprintf(cmd->pool, "%s: '%s' must be http://host:port without a path",
                            cmd->cmd->name, arg);
    return NULL;
}

static const char *set_responder(cmd_parms *cmd, void *dc, const char *arg)
{
    const char *err = check_http_url(cmd, arg, 1);
    (void)dc;
    if (!err)
        guard_conf(cmd->server)->responder = arg;
    return err;
}

static const char *set_proxy(cmd_parms *cmd, void *dc, const char *arg)
{
    const char *err = check_http_url(cmd, arg, 0);
    (void)dc;
    if (!err)
        guard_conf(cmd->server)->proxy = arg;
    return err;
}

static const char *set_enabled(cmd_parms *cmd, void *dc, int on)
{
    (void)dc;
    guard_conf(cmd->server)->enabled = on;
    return NULL;
}

static const char *set_cache(cmd_parms *cmd, void *dc, const char *arg)
{
    const char *err = global_only(cmd), *sep, *name;
    ap_socache_provider_t *provider;
    ap_socache_instance_t *probe = NULL;
    (void)dc;
    if (err)
        return err;
    if (!strcasecmp(arg, "none")) {
        guard_conf(cmd->server)->cache_spec = "none";
        return NULL;
    }
    sep = strchr(arg, ':');
    name = sep ? apr_pstrmemdup(cmd->pool, arg, (apr_size_t)(sep - arg)) : arg;
    provider = ap_lookup_provider(AP_SOCACHE_PROVIDER_GROUP, name, AP_SOCACHE_PROVIDER_VERSION);
    if (!provider)
        return apr_psprintf(cmd->pool, "OCSPGuardCache: unknown socache provider '%s' "
                            "(load mod_socache_%s before this line, or say 'none')", name, name);
    /* Let the provider judge its arguments now, so a mistake fails the
     * configuration (as SSLStaplingCache does) instead of a silent fallback. */
    err = provider->create(&probe, sep ? sep + 1 : NULL, cmd->temp_pool, cmd->temp_pool);
    if (err)
        return apr_psprintf(cmd->pool, "OCSPGuardCache %s: %s", arg, err);
    guard_conf(cmd->server)->cache_spec = arg;
    return NULL;
}

static const command_rec guard_cmds[] = {
    AP_INIT_FLAG("OCSPGuard", set_enabled, NULL, RSRC_CONF,
                 "On|Off: let mod_ocsp_guard staple this server's certificates (default On)"),
    AP_INIT_TAKE1("OCSPGuardResponder", set_responder, NULL, RSRC_CONF,
                  "http:// URL of the OCSP responder, overriding the certificates' AIA"),
    AP_INIT_TAKE1("OCSPGuardRefreshAt", set_int, (void *)1, RSRC_CONF,
                  "percent (1-99) of a response's validity window at which to refresh (default 50)"),
    AP_INIT_TAKE1("OCSPGuardResponderTimeout", set_int, (void *)2, RSRC_CONF,
                  "seconds (1-300) one responder exchange may take (default 10)"),
    AP_INIT_TAKE1("OCSPGuardMaxSkew", set_int, (void *)3, RSRC_CONF,
                  "seconds (0-86400) a response's thisUpdate may lie in the future (default 300)"),
    AP_INIT_TAKE1("OCSPGuardProxy", set_proxy, NULL, RSRC_CONF,
                  "http://host:port of a proxy for responder requests"),
    AP_INIT_TAKE1("OCSPGuardStartupWait", set_global_int, (void *)4, RSRC_CONF,
                  "seconds (0-600) startup waits for first responses (default 5)"),
    AP_INIT_TAKE1("OCSPGuardFetchConcurrency", set_global_int, (void *)5, RSRC_CONF,
                  "responder requests (1-64) in flight at once (default 4)"),
    AP_INIT_TAKE1("OCSPGuardCache", set_cache, NULL, RSRC_CONF,
                  "PROVIDER:ARGS socache for verified responses, or none"),
    { NULL }
};

/* --------------------------------------------------------------- logging */

typedef struct log_baton {
    server_rec *s;
} log_baton;

static void core_log(void *baton, int level, const char *fmt, ...)
{
    log_baton *b = baton;
    char msg[1024];
    va_list ap;
    if (!APLOG_IS_LEVEL(b->s, level))
        return;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    ap_log_error(APLOG_MARK, level, 0, b->s, "%s", msg);
}

/* ----------------------------------------------------------------- cache */

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

const char *guard_cache_spec(server_rec *s, apr_pool_t *p)
{
    const char *spec = guard_conf(s)->cache_spec;
    if (spec)
        return strcasecmp(spec, "none") ? spec : NULL;
    if (!ap_lookup_provider(AP_SOCACHE_PROVIDER_GROUP, "ocsp", AP_SOCACHE_PROVIDER_VERSION))
        return NULL;
    return apr_pstrcat(p, "ocsp:", ap_runtime_dir_relative(p, "ocsp_guard"), NULL);
}

/* Sets the cache up for this pass; 0 when memory only. */
static int cache_setup(apr_pool_t *pconf, apr_pool_t *ptemp, server_rec *s)
{
    const char *spec = guard_cache_spec(s, pconf), *args, *err;
    char *name;
    struct ap_socache_hints hints = { OG_ID_LEN, 2048, apr_time_from_sec(600) };
    memset(&cache, 0, sizeof(cache));
    if (!spec) {
        if (guard_conf(s)->cache_spec)
            return 0;            /* OCSPGuardCache none: as asked */
        ap_log_error(APLOG_MARK, APLOG_NOTICE, 0, s, "no OCSPGuardCache and mod_socache_ocsp "
                     "is not loaded: responses are kept in memory only and will not survive "
                     "a restart");
        return 0;
    }
    name = apr_pstrdup(pconf, spec);
    args = strchr(name, ':');
    if (args)
        *(char *)args++ = '\0';
    cache.provider = ap_lookup_provider(AP_SOCACHE_PROVIDER_GROUP, name, AP_SOCACHE_PROVIDER_VERSION);
    cache.name = cache.provider ? name : NULL;
    if (!cache.provider)
        return 0;
    err = cache.provider->create(&cache.instance, args, ptemp, pconf);
    if (err) {
        ap_log_error(APLOG_MARK, APLOG_ERR, 0, s, "OCSPGuardCache %s: %s; keeping responses in "
                     "memory only", spec, err);
        cache.provider = NULL;
        return 0;
    }
    if (cache.provider->init(cache.instance, "ocsp_guard", &hints, s, pconf) != APR_SUCCESS) {
        ap_log_error(APLOG_MARK, APLOG_ERR, 0, s, "OCSPGuardCache %s: cannot initialise; keeping "
                     "responses in memory only", spec);
        cache.provider = NULL;
        return 0;
    }
    cache.spec = spec;
    cache.s = s;
    cache.pool = pconf;
    return 1;
}

/* ----------------------------------------------------------------- hooks */

static apr_status_t registry_cleanup(void *data)
{
    guard_registry *r = data;
    og_target *t = (og_target *)r->targets->elts;
    apr_hash_index_t *hi;
    for (int i = 0; i < r->targets->nelts; i++)
        og_cert_free(t[i].cert);
    for (hi = apr_hash_first(NULL, r->issuers); hi; hi = apr_hash_next(hi))
        X509_free(apr_hash_this_val(hi));
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
        registry->by_id = apr_hash_make(p);
        registry->declined = apr_hash_make(p);
        registry->issuers = apr_hash_make(p);
        apr_pool_cleanup_register(p, registry, registry_cleanup, apr_pool_cleanup_null);
    }
    return registry;
}

static const char *vhost_name(apr_pool_t *p, server_rec *s)
{
    return apr_psprintf(p, "%s:%u", s->server_hostname ? s->server_hostname : "?",
                        s->addrs ? s->addrs->host_port : s->port);
}

static void log_declined(guard_registry *r, server_rec *s, const char *id, const char *why)
{
    if (dry_run() || apr_hash_get(r->declined, id, OG_ID_LEN))
        return;
    apr_hash_set(r->declined, apr_pmemdup(r->pool, id, OG_ID_LEN), OG_ID_LEN, "");
    ap_log_error(APLOG_MARK, APLOG_INFO, 0, s, "%s: %s; mod_ocsp_guard does not staple it",
                 vhost_name(r->pool, s), why);
}

/* Thousands of certificates usually share a few issuers: parse each
 * issuer once (keyed by its PEM text) and share it. */
static X509 *shared_issuer(guard_registry *r, const char *pem, size_t len)
{
    unsigned char key[SHA256_DIGEST_LENGTH];
    X509 *issuer;
    BIO *bio;
    SHA256((const unsigned char *)pem, len, key);
    issuer = apr_hash_get(r->issuers, key, sizeof(key));
    if (issuer)
        return issuer;
    bio = BIO_new_mem_buf(pem, (int)len);
    issuer = bio ? PEM_read_bio_X509(bio, NULL, NULL, NULL) : NULL;
    BIO_free(bio);
    ERR_clear_error();
    if (issuer)
        apr_hash_set(r->issuers, apr_pmemdup(r->pool, key, sizeof(key)), sizeof(key), issuer);
    return issuer;
}

/* Leaf and issuer from the primed PEM, the issuer shared. */
static og_cert *parse_pair(guard_registry *r, const char *pem, char *err, size_t errlen)
{
    unsigned char *der = NULL;
    long der_len = 0;
    const char *rest = NULL;
    size_t len = strlen(pem);
    X509 *issuer;
    og_cert *cert;
    if (!og_pem_first_der(pem, len, &der, &der_len, &rest) ||
        !(issuer = shared_issuer(r, rest, len - (size_t)(rest - pem)))) {
        OPENSSL_free(der);
        snprintf(err, errlen, "expected the certificate followed by its issuer in PEM");
        return NULL;
    }
    cert = og_cert_from_der(der, (size_t)der_len, issuer, err, errlen);
    OPENSSL_free(der);
    return cert;
}

static int prime_one(server_rec *s, apr_pool_t *p, const char *id, apr_size_t id_len,
                     const char *pem);

static int guard_ocsp_prime(server_rec *s, apr_pool_t *p, const char *id, apr_size_t id_len,
                            const char *pem)
{
    apr_time_t start = apr_time_now();
    int rv = prime_one(s, p, id, id_len, pem);
    if (registry)
        registry->prime_time += apr_time_now() - start;
    return rv;
}

static int prime_one(server_rec *s, apr_pool_t *p, const char *id, apr_size_t id_len,
                     const char *pem)
{
    guard_server_conf *gc = guard_conf(s);
    guard_registry *r;
    og_cert *cert;
    og_target *t;
    char err[256];
    const char *url;
    (void)p;
    if (!guard_value_or(gc->enabled, 1) || id_len != OG_ID_LEN)
        return DECLINED;
    /* The first pass only tests the configuration and its SSL contexts are
     * thrown away: claim the certificate without the parsing work. */
    if (dry_run())
        return OK;
    r = registry_get(s);
    if (apr_hash_get(r->by_id, id, OG_ID_LEN))
        return OK;               /* the same certificate in another virtual host */
    if (apr_hash_get(r->declined, id, OG_ID_LEN))
        return DECLINED;
    cert = parse_pair(r, pem, err, sizeof(err));
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
    t->refresh_pct = guard_value_or(gc->refresh_pct, DEFAULT_REFRESH_PCT);
    t->timeout = guard_value_or(gc->timeout, DEFAULT_RESPONDER_TIMEOUT);
    t->max_skew = guard_value_or(gc->max_skew, DEFAULT_MAX_SKEW);
    t->slot = (unsigned)(r->targets->nelts - 1);
    apr_hash_set(r->by_id, apr_pmemdup(r->pool, id, OG_ID_LEN), OG_ID_LEN, t);
    ap_log_error(APLOG_MARK, APLOG_DEBUG, 0, s, "%s: %s will be stapled from %s%s",
                 vhost_name(p, s), cert->name, url, cert->must_staple ? " (must-staple)" : "");
    return OK;
}

static int guard_ocsp_get_resp(server_rec *s, conn_rec *c, const char *id, apr_size_t id_len,
                               ap_ssl_ocsp_copy_resp *cb, void *userdata)
{
    unsigned char der[OG_SLOT_CAPACITY];
    size_t len = 0;
    int slot;
    (void)s;
    (void)c;
    if (!staple_table || (slot = og_table_find(staple_table, (const unsigned char *)id, id_len)) < 0)
        return DECLINED;
    /* mod_ssl leaves its result unset: answer with (NULL, 0) when there is nothing. */
    if (og_table_staple(staple_table, (unsigned)slot, time(NULL), der, sizeof(der), &len))
        cb(der, len, userdata);
    else
        cb(NULL, 0, userdata);
    return OK;
}

/* ------------------------------------------------------------- refresher */

static void refresher_main(server_rec *s, apr_pool_t *p)
{
    static volatile sig_atomic_t never = 0;
    guard_server_conf *gc = guard_conf(s);
    og_refresher_cfg cfg;
    og_cache_ops ops = { &cache, cache_load, NULL, cache_store };
    log_baton lb = { s };
    sigset_t all;
    int sig;

    /* httpd's parent handlers make no sense here: plain defaults, nothing blocked. */
    for (sig = 1; sig < NSIG; sig++)
        signal(sig, SIG_DFL);
    sigemptyset(&all);
    sigprocmask(SIG_SETMASK, &all, NULL);
    prctl(PR_SET_PDEATHSIG, SIGTERM);
    ap_close_listeners();
    if (ap_run_drop_privileges(p, s) != OK) {
        ap_log_error(APLOG_MARK, APLOG_CRIT, 0, s, "refresher: cannot drop privileges; exiting");
        _exit(1);
    }
    memset(&cfg, 0, sizeof(cfg));
    cfg.targets = (og_target *)registry->targets->elts;
    cfg.ntargets = (unsigned)registry->targets->nelts;
    cfg.table = staple_table;
    cfg.concurrency = (unsigned)guard_value_or(gc->concurrency, DEFAULT_CONCURRENCY);
    /* only socache_ocsp has a shared tier to ask before each fetch */
    retrieve_shared = APR_RETRIEVE_OPTIONAL_FN(socache_ocsp_retrieve_shared);
    if (retrieve_shared && cache.provider && !strcmp(cache.provider->name, "ocsp"))
        ops.load_shared = cache_load_shared;
    if (cache.provider && !strcmp(cache.provider->name, "ocsp"))
        retrieve_local = APR_RETRIEVE_OPTIONAL_FN(socache_ocsp_retrieve_local);
    cfg.cache = cache.provider ? &ops : NULL;
    cfg.log = core_log;
    cfg.log_baton = &lb;
    cfg.parent = getppid();
    cfg.stop = &never;
    ap_log_error(APLOG_MARK, APLOG_INFO, 0, s, "refresher %ld started for %u certificate(s)",
                 (long)getpid(), cfg.ntargets);
    og_refresher_run(&cfg);
    _exit(0);
}

static void refresher_maint(int reason, void *data, apr_wait_t status);

static apr_status_t refresher_spawn(server_rec *s, apr_pool_t *pconf)
{
    pid_t pid = fork();
    if (pid < 0)
        return errno;
    if (pid == 0)
        refresher_main(s, pconf);
    refresher_pid = pid;
    refresher_spawned = apr_time_now();
    refresher_proc.pid = pid;
    apr_proc_other_child_register(&refresher_proc, refresher_maint, s, NULL, pconf);
    return APR_SUCCESS;
}

static void refresher_maint(int reason, void *data, apr_wait_t status)
{
    server_rec *s = data;
    switch (reason) {
    case APR_OC_REASON_DEATH:
    case APR_OC_REASON_LOST:
        ap_log_error(APLOG_MARK, APLOG_ERR, 0, s, "refresher process %ld ended (status %d); "
                     "a new one starts within seconds, stapling goes on from memory",
                     (long)refresher_pid, (int)status);
        apr_proc_other_child_unregister(s);
        refresher_pid = 0;
        break;
    case APR_OC_REASON_RESTART:
    case APR_OC_REASON_UNREGISTER:
    default:
        break;
    }
}

static apr_status_t refresher_stop(void *data)
{
    (void)data;
    if (refresher_pid > 0) {
        pid_t pid = refresher_pid;
        refresher_pid = 0;
        apr_proc_other_child_unregister(main_server);
        kill(pid, SIGTERM);
        while (waitpid(pid, NULL, 0) < 0 && errno == EINTR)
            ;
    }
    return APR_SUCCESS;
}

#define MUST_STAPLE_REPEAT 60

/* Reads one slot's state: 1 when it holds something to staple now. */
static int slot_stapled(unsigned slot, time_t now, og_slot_meta *m)
{
    return og_table_read(staple_table, slot, NULL, 0, NULL, m) && og_meta_stapled(m, now);
}

/* Must-staple certificates without a staple: an error at most once a minute. */
static void watch_must_staple(server_rec *s, const og_target *t, watch_state *w, int stapled,
                              time_t now)
{
    if (!t->cert->must_staple || stapled || now - w->must_staple_logged < MUST_STAPLE_REPEAT)
        return;
    w->must_staple_logged = now;
    ap_log_error(APLOG_MARK, APLOG_ERR, 0, s, "%s is must-staple and has no valid staple: clients "
                 "that honour must-staple refuse it until %s answers", t->cert->name, t->url);
}

/* Less than a quarter of the validity left means the refresh at
 * OCSPGuardRefreshAt did not succeed: warn once per response. */
static void watch_validity(server_rec *s, const og_target *t, watch_state *w,
                           const og_slot_meta *m, int stapled, time_t now)
{
    time_t window = m->next_update - m->this_update, left = m->next_update - now;
    if (!stapled || left >= window / 4) {
        w->quarter_warned = 0;
        return;
    }
    if (w->quarter_warned)
        return;
    w->quarter_warned = 1;
    /* APR's formatter knows APR_INT64_T_FMT, not %lld */
    ap_log_error(APLOG_MARK, APLOG_WARNING, 0, s, "%s: only %" APR_INT64_T_FMT " s of the "
                 "response's %" APR_INT64_T_FMT " s validity left and no fresher response: "
                 "refreshes from %s keep failing; the staple stops when it expires", t->cert->name,
                 (apr_int64_t)left, (apr_int64_t)window, t->url);
}

/* From the MPM's maintenance loop (parent, about every 10 s): no I/O, no
 * blocking. Restarts a dead refresher and watches the staples. */
static int guard_monitor(apr_pool_t *p, server_rec *s)
{
    og_target *t;
    time_t now = time(NULL);
    (void)p;
    if (!staple_table || !registry || !watch)
        return DECLINED;
    if (refresher_pid == 0 && apr_time_now() - refresher_spawned > RESPAWN_INTERVAL)
        refresher_spawn(main_server, registry->pool);
    t = (og_target *)registry->targets->elts;
    for (int i = 0; i < registry->targets->nelts; i++) {
        og_slot_meta m;
        int stapled = slot_stapled(t[i].slot, now, &m);
        watch_must_staple(s, &t[i], &watch[i], stapled, now);
        watch_validity(s, &t[i], &watch[i], &m, stapled, now);
    }
    return DECLINED;
}

/* ---------------------------------------------------------- post_config */

/* A new table for this generation; what the last one held for the same
 * certificates is carried over so a graceful restart fetches nothing. */
static og_table *table_create(server_rec *s, guard_registry *r, int *carried, int *restarted)
{
    apr_pool_t *proc_pool = s->process->pool;
    apr_shm_t *shm = NULL, *old = NULL;
    unsigned n = (unsigned)r->targets->nelts;
    unsigned char (*ids)[OG_ID_LEN] = apr_palloc(r->pool, (apr_size_t)n * OG_ID_LEN + 1);
    og_target *t = (og_target *)r->targets->elts;
    og_table *table;
    apr_status_t rv;

    for (unsigned i = 0; i < n; i++)
        memcpy(ids[i], t[i].cert->id, OG_ID_LEN);
    rv = apr_shm_create(&shm, og_table_size(n), NULL, proc_pool);
    if (rv != APR_SUCCESS) {
        ap_log_error(APLOG_MARK, APLOG_ERR, rv, s, "cannot create shared memory for %u staples", n);
        return NULL;
    }
    table = og_table_init(apr_shm_baseaddr_get(shm), apr_shm_size_get(shm), n,
                          (const unsigned char (*)[OG_ID_LEN])ids);
    apr_pool_userdata_get((void **)&old, TABLE_KEY, proc_pool);
    *carried = 0;
    *restarted = old != NULL;
    if (old) {
        if (table && og_table_valid(apr_shm_baseaddr_get(old), apr_shm_size_get(old)))
            *carried = (int)og_table_carry_over(table, apr_shm_baseaddr_get(old));
        /* Old children keep their own mapping; the parent lets go of it. */
        apr_shm_destroy(old);
    }
    apr_pool_userdata_set(shm, TABLE_KEY, apr_pool_cleanup_null, proc_pool);
    return table;
}

static unsigned count_stapled(void)
{
    unsigned n = 0;
    time_t now = time(NULL);
    og_slot_meta m;
    for (unsigned i = 0; i < og_table_count(staple_table); i++)
        n += (unsigned)slot_stapled(i, now, &m);
    return n;
}

static void startup_wait(server_rec *s, int seconds)
{
    apr_time_t start = apr_time_now(), deadline = start + apr_time_from_sec(seconds);
    unsigned total = og_table_count(staple_table), have = count_stapled();
    while (have < total && apr_time_now() < deadline) {
        apr_sleep(apr_time_from_msec(50));
        have = count_stapled();
    }
    ap_log_error(APLOG_MARK, have < total ? APLOG_WARNING : APLOG_INFO, 0, s,
                 "startup: %u of %u certificate(s) have a verified staple after %" APR_TIME_T_FMT
                 " ms%s", have, total, apr_time_as_msec(apr_time_now() - start),
                 have < total ? " (OCSPGuardStartupWait); the rest get one when their responder "
                 "answers" : "");
}

static int guard_post_config(apr_pool_t *pconf, apr_pool_t *plog, apr_pool_t *ptemp, server_rec *s)
{
    guard_registry *r = registry;
    guard_server_conf *gc = guard_conf(s);
    int carried = 0, restarted = 0;
    (void)plog;
    main_server = s;
    staple_table = NULL;
    watch = NULL;
    refresher_pid = 0;
    if (dry_run())
        return OK;               /* the first pass does no network work */
    if (!r || r->targets->nelts == 0) {
        ap_log_error(APLOG_MARK, APLOG_DEBUG, 0, s, "no certificate to staple");
        return OK;
    }
    staple_table = table_create(s, r, &carried, &restarted);
    if (!staple_table)
        return OK;               /* handshakes go without staples; the error is logged */
    cache_setup(pconf, ptemp, s);
    if (refresher_spawn(s, pconf) != APR_SUCCESS) {
        ap_log_error(APLOG_MARK, APLOG_ERR, errno, s, "cannot fork the refresher process");
        return OK;
    }
    apr_pool_cleanup_register(pconf, NULL, refresher_stop, apr_pool_cleanup_null);
    ap_log_error(APLOG_MARK, APLOG_INFO, 0, s, "stapling %d certificate(s) (read in %"
                 APR_TIME_T_FMT " ms); %d carried over from the last generation; cache %s",
                 r->targets->nelts, apr_time_as_msec(r->prime_time), carried,
                 cache.spec ? cache.spec : "none (memory only)");
    watch = apr_pcalloc(pconf, sizeof(*watch) * (apr_size_t)r->targets->nelts);
    if (!restarted) {
        og_target *t = (og_target *)r->targets->elts;
        time_t now = time(NULL);
        startup_wait(s, guard_value_or(gc->startup_wait, DEFAULT_STARTUP_WAIT));
        for (int i = 0; i < r->targets->nelts; i++) {
            og_slot_meta m;
            watch_must_staple(s, &t[i], &watch[i], slot_stapled(t[i].slot, now, &m), now);
        }
    }
    return OK;
}

/* apache2 -t: report what cannot be stapled; errors fail the test. */
static int guard_check_config(apr_pool_t *pconf, apr_pool_t *plog, apr_pool_t *ptemp, server_rec *s)
{
    (void)pconf;
    (void)plog;
    if (ap_state_query(AP_SQ_RUN_MODE) != AP_SQ_RM_CONFIG_TEST)
        return OK;
    return guard_configtest(ptemp, s) ? HTTP_INTERNAL_SERVER_ERROR : OK;
}

static void guard_test_config(apr_pool_t *p, server_rec *s)
{
    if (ap_exists_config_define("DUMP_OCSP"))
        guard_dump_ocsp(p, s);
}

static void register_hooks(apr_pool_t *p)
{
    static const char *const after_ssl[] = { "mod_ssl.c", NULL };
    (void)p;
    ap_hook_ssl_ocsp_prime_hook(guard_ocsp_prime, NULL, NULL, APR_HOOK_MIDDLE);
    ap_hook_ssl_ocsp_get_resp_hook(guard_ocsp_get_resp, NULL, NULL, APR_HOOK_MIDDLE);
    ap_hook_post_config(guard_post_config, after_ssl, NULL, APR_HOOK_LAST);
    ap_hook_monitor(guard_monitor, NULL, NULL, APR_HOOK_MIDDLE);
    ap_hook_check_config(guard_check_config, NULL, NULL, APR_HOOK_MIDDLE);
    ap_hook_test_config(guard_test_config, NULL, NULL, APR_HOOK_MIDDLE);
}

module AP_MODULE_DECLARE_DATA ocsp_guard_module = {
    STANDARD20_MODULE_STUFF,
    NULL,
    NULL,
    create_server_conf,
    merge_server_conf,
    guard_cmds,
    register_hooks,
    AP_MODULE_FLAG_NONE
};
