#include "og_refresher.h"
#include "og_http.h"
#include "og_sched.h"

#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <openssl/rand.h>

/* One "state" per certificate, so a failure is logged once per change. */
enum log_state {
    LS_NONE = 0, LS_GOOD, LS_REVOKED, LS_UNKNOWN, LS_FETCH_FAILED, LS_INVALID, LS_EXPIRED
};

typedef struct target_state {
    int load_cache;              /* at start: try the cache before the responder */
    time_t due;
    unsigned failures;
    int busy;
    int log_state;
    int log_detail;              /* verify result for LS_INVALID */
    time_t valid_until;          /* nextUpdate of what is stapled; 0: nothing */
    time_t this_update;
    time_t window;               /* nextUpdate - thisUpdate of the last response */
} target_state;

typedef struct refresher {
    const og_refresher_cfg *cfg;
    target_state *st;
    pthread_mutex_t lock;
    pthread_cond_t wake;
    int stopping;
    unsigned cursor;             /* where pick_due goes on from */
    og_http_client *http;        /* the workers' DNS cache and kept connections */
} refresher;

#define LOG(r, level, ...) OG_LOG((r)->cfg->log, (r)->cfg->log_baton, level, __VA_ARGS__)

static uint32_t random32(void)
{
    uint32_t v = 0;
    if (RAND_bytes((unsigned char *)&v, sizeof(v)) != 1)
        v = (uint32_t)rand();
    return v;
}

static void fetch_and_verify(og_http_client *http, const og_target *t, time_t now,
                             og_fetch_outcome *out)
{
    unsigned char *req = NULL, *body = NULL;
    size_t req_len = 0, body_len = 0;
    memset(out, 0, sizeof(*out));
    out->verify = OG_VERIFY_MALFORMED;
    if (!og_request_der(t->cert, &req, &req_len)) {
        snprintf(out->why, sizeof(out->why), "cannot build the OCSP request");
        return;
    }
    if (!og_http_fetch(http, t->url, req, req_len, t->proxy, t->timeout, OG_MAX_RESPONSE,
                       &body, &body_len, out->why, sizeof(out->why))) {
        OPENSSL_free(req);
        return;
    }
    OPENSSL_free(req);
    out->fetched = 1;
    out->verify = og_verify_response(t->cert, body, body_len, time(NULL), t->max_skew,
                                     &out->info, out->why, sizeof(out->why));
    (void)now;
    if (out->verify == OG_VERIFY_OK) {
        out->der = body;
        out->der_len = body_len;
    } else {
        free(body);
    }
}

void og_fetch_and_verify(const og_target *t, time_t now, og_fetch_outcome *out)
{
    fetch_and_verify(NULL, t, now, out);
}

int og_adopt_response(og_table *table, const og_target *t, const unsigned char *der,
                      size_t len, time_t now, uint32_t source, og_resp_info *info)
{
    char why[256];
    og_slot_meta cur = { 0 }, meta;
    if (og_verify_response(t->cert, der, len, now, t->max_skew, info, why, sizeof(why)) != OG_VERIFY_OK)
        return 0;
    if (!og_status_staplable(info->status))
        return 0;
    if (og_table_read(table, t->slot, NULL, 0, NULL, &cur) && cur.status != OG_STATUS_NONE &&
        cur.next_update > now && cur.this_update >= info->this_update)
        return 0;                /* what is stapled now is as fresh */
    meta.status = info->status;
    meta.this_update = info->this_update;
    meta.next_update = info->next_update;
    meta.produced_at = info->produced_at;
    meta.fetched_at = now;
    meta.source = source;
    return og_table_publish(table, t->slot, der, len, &meta);
}

static void schedule_refresh(refresher *r, unsigned i, const og_resp_info *info, time_t now)
{
    const og_target *t = &r->cfg->targets[i];
    target_state *s = &r->st[i];
    s->failures = 0;
    s->valid_until = info->next_update;
    s->this_update = info->this_update;
    s->due = og_sched_refresh_at(info->this_update, info->next_update, t->refresh_pct,
                                 random32(), now);
}

/* Logs a success: one info line per refresh, with what an operator needs to
 * see drift: time left, next refresh, clock skew, validity changes. */
static void log_success(refresher *r, unsigned i, const og_resp_info *info, time_t now,
                        const char *how)
{
    const og_target *t = &r->cfg->targets[i];
    target_state *s = &r->st[i];
    char nu[32], due[32];
    time_t window = info->next_update - info->this_update;
    long long skew = (long long)info->produced_at - (long long)now;
    og_format_time(info->next_update, nu, sizeof(nu));
    og_format_time(s->due, due, sizeof(due));
    if (info->status == OG_STATUS_REVOKED) {
        if (s->log_state != LS_REVOKED)
            LOG(r, OG_LOG_ERR, "%s: the responder says REVOKED; stapling the revocation "
                "(nextUpdate %s); replace this certificate", t->cert->name, nu);
        s->log_state = LS_REVOKED;
    } else {
        if (s->log_state != LS_GOOD && s->log_state != LS_NONE)
            LOG(r, OG_LOG_NOTICE, "%s: stapling again, a good response %s", t->cert->name, how);
        s->log_state = LS_GOOD;
    }
    LOG(r, OG_LOG_INFO, "%s: %s response %s, nextUpdate %s (in %lld s), next refresh %s, "
        "producedAt skew %+lld s, validity %lld s", t->cert->name, og_status_name(info->status),
        how, nu, (long long)(info->next_update - now), due, skew, (long long)window);
    if (skew > t->max_skew / 2)
        LOG(r, OG_LOG_WARN, "%s: the responder's producedAt is %lld s ahead of the local clock "
            "(more than half of OCSPGuardMaxSkew %ld s); check this host's time source",
            t->cert->name, skew, t->max_skew);
    if (s->window > 0 && window < s->window)
        LOG(r, OG_LOG_WARN, "%s: the responder's validity period shrank from %lld s to %lld s",
            t->cert->name, (long long)s->window, (long long)window);
    s->window = window;
}

static void log_failure(refresher *r, unsigned i, int state, const og_fetch_outcome *o, time_t now)
{
    const og_target *t = &r->cfg->targets[i];
    target_state *s = &r->st[i];
    char nu[32], due[32];
    int detail = state == LS_INVALID ? (int)o->verify : 0;
    og_format_time(s->due, due, sizeof(due));
    if (s->log_state == state && s->log_detail == detail) {
        LOG(r, OG_LOG_DEBUG, "%s: refresh failed again (%s), try %u, next at %s", t->cert->name,
            o->why, s->failures, due);
        return;
    }
    s->log_state = state;
    s->log_detail = detail;
    const char *what = state == LS_FETCH_FAILED ? "cannot reach the OCSP responder"
                     : state == LS_UNKNOWN ? "the responder does not know this certificate (status unknown)"
                     : og_verify_result_name(o->verify);
    if (s->valid_until > now) {
        og_format_time(s->valid_until, nu, sizeof(nu));
        LOG(r, state == LS_UNKNOWN ? OG_LOG_ERR : OG_LOG_WARN,
            "%s: refresh from %s failed: %s (%s); still stapling the last good response "
            "until its nextUpdate %s; retrying at %s", t->cert->name, t->url, what, o->why, nu, due);
    } else {
        LOG(r, OG_LOG_ERR, "%s: refresh from %s failed: %s (%s); no staple is sent until a "
            "response verifies; retrying at %s", t->cert->name, t->url, what, o->why, due);
    }
}

static void apply_outcome(refresher *r, unsigned i, og_fetch_outcome *o, time_t now)
{
    const og_target *t = &r->cfg->targets[i];
    target_state *s = &r->st[i];
    int good = o->verify == OG_VERIFY_OK &&
               og_status_staplable(o->info.status);
    if (good) {
        og_slot_meta meta = { o->info.status, o->info.this_update, o->info.next_update,
                              o->info.produced_at, now, OG_SOURCE_RESPONDER };
        if (!og_table_publish(r->cfg->table, t->slot, o->der, o->der_len, &meta)) {
            snprintf(o->why, sizeof(o->why), "%zu bytes, more than the %d a staple may have",
                     o->der_len, OG_SLOT_CAPACITY);
            o->verify = OG_VERIFY_TOO_LARGE;
            good = 0;
        }
    }
    if (good) {
        schedule_refresh(r, i, &o->info, now);
        if (r->cfg->cache && r->cfg->cache->store &&
            !r->cfg->cache->store(r->cfg->cache->baton, t->cert->id, o->der, o->der_len,
                                  o->info.next_update))
            LOG(r, OG_LOG_WARN, "%s: could not store the response in the cache; it is "
                "stapled from memory but will not survive a restart", t->cert->name);
        log_success(r, i, &o->info, now, "fetched");
        return;
    }
    s->failures++;
    s->due = og_sched_retry_at(now, s->failures, s->valid_until);
    log_failure(r, i, !o->fetched ? LS_FETCH_FAILED
                      : o->verify == OG_VERIFY_OK ? LS_UNKNOWN : LS_INVALID, o, now);
}

/* A cluster peer may have refreshed already: adopt its verified response
 * when it is newer than ours and not itself due for refresh. */
static int adopt_from_cache(refresher *r, unsigned i, time_t now, int shared, const char *how)
{
    static __thread unsigned char buf[OG_SLOT_CAPACITY];
    const og_target *t = &r->cfg->targets[i];
    const og_cache_ops *ops = r->cfg->cache;
    int (*load)(void *, const unsigned char *, unsigned char *, size_t, size_t *);
    size_t len = 0;
    og_resp_info info;
    load = !ops ? NULL : shared ? ops->load_shared : ops->load;
    if (!load || !load(ops->baton, t->cert->id, buf, sizeof(buf), &len))
        return 0;
    if (!og_adopt_response(r->cfg->table, t, buf, len, now, OG_SOURCE_CACHE, &info))
        return 0;
    pthread_mutex_lock(&r->lock);
    schedule_refresh(r, i, &info, now);
    if (r->st[i].due <= now) {
        /* adopted, but due already: refresh it ourselves soon */
        r->st[i].due = now;
    }
    log_success(r, i, &info, now, how);
    pthread_mutex_unlock(&r->lock);
    return 1;
}

/* Any certificate that is due, scanning on from where the last pick
 * stopped, so thousands due at once cost one pass, not one pass each;
 * when none is due, *earliest says when the next one will be. */
static int pick_due(refresher *r, time_t now, time_t *earliest)
{
    unsigned n = r->cfg->ntargets;
    *earliest = now + 1;
    for (unsigned k = 0; k < n; k++) {
        unsigned i = (r->cursor + k) % n;
        target_state *s = &r->st[i];
        if (s->busy)
            continue;
        if (s->due <= now) {
            r->cursor = (i + 1) % n;
            return (int)i;
        }
        if (s->due < *earliest)
            *earliest = s->due;
    }
    return -1;
}

static void *worker_main(void *arg)
{
    refresher *r = arg;
    pthread_mutex_lock(&r->lock);
    while (!r->stopping) {
        time_t now = time(NULL), earliest;
        int i = pick_due(r, now, &earliest);
        if (i < 0) {
            struct timespec until = { earliest, 0 };
            pthread_cond_timedwait(&r->wake, &r->lock, &until);
            continue;
        }
        r->st[i].busy = 1;
        pthread_mutex_unlock(&r->lock);

        og_fetch_outcome o;
        int adopted;
        /* At start each worker verifies cached responses itself, so that
         * thousands of them load on every core. */
        if (r->st[i].load_cache) {
            r->st[i].load_cache = 0;
            adopted = adopt_from_cache(r, (unsigned)i, now, 0, "loaded from the cache");
        } else {
            /* Due times are whole seconds: cluster peers due in the same second
             * would all fetch. A random part of a second between them lets the
             * first one's response reach the shared tier before the others look. */
            if (r->cfg->cache && r->cfg->cache->load_shared)
                usleep(random32() % 1000000);
            adopted = adopt_from_cache(r, (unsigned)i, time(NULL), 1, "adopted from the shared cache");
        }
        if (!adopted || r->st[i].due <= time(NULL)) {
            fetch_and_verify(r->http, &r->cfg->targets[i], now, &o);
            pthread_mutex_lock(&r->lock);
            apply_outcome(r, (unsigned)i, &o, time(NULL));
            free(o.der);
        } else {
            pthread_mutex_lock(&r->lock);
        }
        r->st[i].busy = 0;
    }
    pthread_mutex_unlock(&r->lock);
    return NULL;
}

/* Clears slots whose response expired with nothing fresher to replace it. */
static void expire_stale(refresher *r, time_t now)
{
    for (unsigned i = 0; i < r->cfg->ntargets; i++) {
        target_state *s = &r->st[i];
        const og_target *t = &r->cfg->targets[i];
        if (s->valid_until == 0 || s->valid_until > now)
            continue;
        og_table_clear(r->cfg->table, t->slot);
        s->valid_until = 0;
        if (s->log_state != LS_EXPIRED) {
            LOG(r, OG_LOG_ERR, "%s: the last verified response expired and no fresh one could "
                "be fetched from %s; handshakes get no staple until the responder answers",
                t->cert->name, t->url);
            s->log_state = LS_EXPIRED;
        }
    }
}

/* Initial state: what a graceful restart carried over; the rest is due now
 * and looks in the cache first. */
static void load_initial(refresher *r, time_t now)
{
    for (unsigned i = 0; i < r->cfg->ntargets; i++) {
        const og_target *t = &r->cfg->targets[i];
        og_slot_meta m;
        size_t len = 0;
        r->st[i].due = now;
        if (og_table_read(r->cfg->table, t->slot, NULL, 0, &len, &m) &&
            og_meta_stapled(&m, now)) {
            og_resp_info info = { m.status, m.this_update, m.next_update, 1, m.produced_at, 0 };
            schedule_refresh(r, i, &info, now);
            r->st[i].log_state = m.status == OG_STATUS_GOOD ? LS_GOOD : LS_REVOKED;
            continue;
        }
        og_table_clear(r->cfg->table, t->slot);
        r->st[i].load_cache = 1;
    }
}

int og_refresher_run(const og_refresher_cfg *cfg)
{
    refresher r;
    pthread_t *workers;
    unsigned nworkers = cfg->concurrency ? cfg->concurrency : 1, started = 0;
    memset(&r, 0, sizeof(r));
    r.cfg = cfg;
    r.st = calloc(cfg->ntargets ? cfg->ntargets : 1, sizeof(*r.st));
    workers = calloc(nworkers, sizeof(*workers));
    if (!r.st || !workers) {
        free(r.st);
        free(workers);
        return -1;
    }
    pthread_mutex_init(&r.lock, NULL);
    pthread_cond_init(&r.wake, NULL);
    /* NULL (out of memory): each fetch then uses a client of its own */
    r.http = og_http_client_new(&(og_http_config){ .log = cfg->log, .log_baton = cfg->log_baton });
    load_initial(&r, time(NULL));
    if (nworkers > cfg->ntargets && cfg->ntargets > 0)
        nworkers = cfg->ntargets;
    for (unsigned i = 0; i < nworkers; i++) {
        if (pthread_create(&workers[i], NULL, worker_main, &r) == 0)
            started++;
    }
    if (!started)
        LOG(&r, OG_LOG_ERR, "cannot start refresher threads (%s)", strerror(errno));
    for (;;) {
        if ((cfg->stop && *cfg->stop) || (cfg->parent && getppid() != cfg->parent) || !started)
            break;
        pthread_mutex_lock(&r.lock);
        expire_stale(&r, time(NULL));
        pthread_cond_broadcast(&r.wake);
        pthread_mutex_unlock(&r.lock);
        og_http_client_sweep(r.http);
        sleep(1);
    }
    pthread_mutex_lock(&r.lock);
    r.stopping = 1;
    pthread_cond_broadcast(&r.wake);
    pthread_mutex_unlock(&r.lock);
    for (unsigned i = 0; i < started; i++)
        pthread_join(workers[i], NULL);
    og_http_client_free(r.http);
    pthread_cond_destroy(&r.wake);
    pthread_mutex_destroy(&r.lock);
    free(workers);
    free(r.st);
    return 0;
}
