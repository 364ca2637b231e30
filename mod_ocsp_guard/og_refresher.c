/* Copyright 2026 the mod_ocsp_guard developers. Licensed under the Apache License 2.0 (LICENSE). */
#include "og_refresher.h"
#include "og_http.h"
#include "og_sched.h"

#include <errno.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <openssl/rand.h>

/* One "state" per certificate, so a failure is logged once per change.
 * LS_RESPONDER_DOWN: the failure was told by its responder's line. */
enum log_state {
    LS_NONE = 0, LS_GOOD, LS_REVOKED, LS_UNKNOWN, LS_FETCH_FAILED, LS_INVALID, LS_EXPIRED,
    LS_OLDER, LS_RESPONDER_DOWN
};

/* Guarded by refresher.lock. A worker that sets busy is the only one doing
 * the target's I/O (cache, responder) until it clears it; every change of
 * its slot happens under the lock together with the state it implies. */
typedef struct target_state {
    int load_cache;              /* at start: try the cache before the responder (the local
                                  * tier in the local pass, then the shared tier) */
    time_t due;
    unsigned failures;
    unsigned repeats;            /* refreshes in a row that brought nothing newer */
    int busy;
    int log_state;
    int log_detail;              /* verify result for LS_INVALID */
    int long_window_logged;      /* a suspiciously long validity was reported */
    time_t valid_until;          /* nextUpdate of what is stapled; 0: nothing */
    time_t this_update;
    time_t window;               /* nextUpdate - thisUpdate of the last response */
    og_resp_known known;         /* what may replace what (rollback floor) */
    unsigned responder;          /* index in refresher.resp */
} target_state;

/* The certificates whose requests go to one og_http_responder_key. */
typedef struct responder {
    char key[256];
    char name[512];              /* for log lines: its first certificate's URL (and proxy) */
    og_breaker breaker;          /* under refresher.lock */
    og_bucket bucket;            /* under refresher.pace_lock */
    int paced;                   /* the rate has made a request wait (logged once) */
} responder;

/* The main loop's, for run-time control and notifications ("Run-time
 * control" below). */
typedef struct control_state {
    og_notifier *notifier;       /* NULL: no OCSPGuardNotifyCmd */
    og_notify_mem *own_mem;      /* per target, when there is no control region */
    time_t *forced_at;           /* per target: the last refresh asked at run time */
    unsigned char *store_pending;/* per target: an import to store in the cache */
    uint32_t requests_seen;
    int rescan;                  /* refreshes left asked (busy): look again next pass */
    unsigned char *buf;          /* an import, copied out of its mailbox */
    int ready;                   /* 0: out of memory at start, none of this runs */
} control_state;

typedef struct refresher {
    const og_refresher_cfg *cfg;
    const og_clock *clock;
    target_state *st;
    responder *resp;
    unsigned nresp;
    pthread_mutex_t lock;
    pthread_cond_t wake;
    int stopping;
    unsigned cursor;             /* where pick_due goes on from */
    og_http_client *http;        /* the workers' DNS cache and kept connections */
    og_fetch_fn *fetch;
    void *fetch_baton;
    /* Waits outside the lock (a turn at a responder's rate, naps), so
     * that nobody waits on the lock while a worker waits for time. */
    pthread_mutex_t pace_lock;
    pthread_cond_t pace;
    int pace_stop;
    control_state ctl;
} refresher;

#define LOG(r, level, ...) OG_LOG((r)->cfg->log, (r)->cfg->log_baton, level, __VA_ARGS__)
/* A line composed at source line `at` and written later */
#define LOG_AT(r, at, level, ...) (r)->cfg->log((r)->cfg->log_baton, __FILE__, (at), (level), __VA_ARGS__)

/* Lines composed under the lock and written after it: the log may be a
 * file or a pipe, and nobody waits on the lock for its I/O. */
typedef struct logq {
    char *buf;                   /* records: logq_head, text, NUL */
    size_t used, cap;
} logq;

typedef struct logq_head {
    int level;
    int at;                      /* source line that composed it */
} logq_head;

#define LOGQ(r, q, level, ...) logq_add((r), (q), __LINE__, (level), __VA_ARGS__)

static void logq_add(refresher *r, logq *q, int at, int level, const char *fmt, ...)
    __attribute__((format(printf, 5, 6)));
static void logq_add(refresher *r, logq *q, int at, int level, const char *fmt, ...)
{
    char line[1024];
    logq_head head = { level, at };
    va_list ap;
    size_t n;
    va_start(ap, fmt);
    vsnprintf(line, sizeof(line), fmt, ap);
    va_end(ap);
    n = sizeof(head) + strlen(line) + 1;
    if (q->used + n > q->cap) {
        size_t cap = q->cap ? q->cap * 2 : 2048;
        char *nb;
        while (cap < q->used + n)
            cap *= 2;
        if (!(nb = realloc(q->buf, cap))) {
            LOG_AT(r, at, level, "%s", line);   /* no memory: rather late than never */
            return;
        }
        q->buf = nb;
        q->cap = cap;
    }
    memcpy(q->buf + q->used, &head, sizeof(head));
    memcpy(q->buf + q->used + sizeof(head), line, n - sizeof(head));
    q->used += n;
}

static void logq_flush(refresher *r, logq *q)
{
    for (size_t pos = 0; pos < q->used;) {
        logq_head head;
        const char *text = q->buf + pos + sizeof(head);
        memcpy(&head, q->buf + pos, sizeof(head));
        LOG_AT(r, head.at, head.level, "%s", text);
        pos += sizeof(head) + strlen(text) + 1;
    }
    free(q->buf);
    memset(q, 0, sizeof(*q));
}

static uint32_t random32(void)
{
    uint32_t v = 0;
    if (RAND_bytes((unsigned char *)&v, sizeof(v)) != 1)
        v = (uint32_t)rand();
    return v;
}

static time_t now_s(const refresher *r)
{
    return og_clock_sec(r->clock);
}

/* Sleeps until until_us, or until the refresher stops; never under lock. */
static void nap_until(refresher *r, int64_t until_us)
{
    const og_clock *c = r->clock;
    pthread_mutex_lock(&r->pace_lock);
    while (!r->pace_stop && c->now(c->baton) < until_us)
        c->wait(c->baton, &r->pace_lock, &r->pace, until_us);
    pthread_mutex_unlock(&r->pace_lock);
}

/* The default exchange: og_http, on the workers' client (NULL: one of its own). */
static int http_fetch(void *baton, const og_target *t, const unsigned char *req, size_t req_len,
                      unsigned char **resp, size_t *resp_len, char *err, size_t errlen)
{
    return og_http_fetch(baton, t->url, req, req_len, t->proxy, t->timeout, OG_MAX_RESPONSE,
                         resp, resp_len, err, errlen);
}

/* Asks the responder about t. 1 with the answer's body when one came;
 * out says what happened either way. */
static int fetch_response(og_fetch_fn *fetch, void *baton, const og_target *t,
                          og_fetch_outcome *out, unsigned char **body, size_t *body_len)
{
    unsigned char *req = NULL;
    size_t req_len = 0;
    memset(out, 0, sizeof(*out));
    out->verify = OG_VERIFY_MALFORMED;
    *body = NULL;
    *body_len = 0;
    if (!og_request_der(t->cert, &req, &req_len)) {
        snprintf(out->why, sizeof(out->why), "cannot build the OCSP request");
        return 0;
    }
    out->fetched = fetch(baton, t, req, req_len, body, body_len, out->why, sizeof(out->why));
    OPENSSL_free(req);
    return out->fetched;
}

/* Verifies the answer at now (once it is in: a slow exchange must not
 * make an expired response look valid); out keeps it when it verifies. */
static void verify_fetched(const og_target *t, unsigned char *body, size_t body_len, time_t now,
                           og_fetch_outcome *out)
{
    out->verify = og_verify_response(t->cert, body, body_len, now, t->max_skew, &out->info,
                                     out->why, sizeof(out->why));
    if (out->verify == OG_VERIFY_OK) {
        out->der = body;
        out->der_len = body_len;
    } else {
        free(body);
    }
}

og_replace og_response_may_replace(const og_resp_known *k, const og_resp_info *c)
{
    if (k->revoked && (c->this_update < k->revoked_floor ||
                       (c->this_update == k->revoked_floor && c->status != OG_STATUS_REVOKED)))
        return OG_REPLACE_OLDER;
    if (k->status == OG_STATUS_NONE)
        return OG_REPLACE_NEWER;
    if (c->this_update != k->this_update)
        return c->this_update > k->this_update ? OG_REPLACE_NEWER : OG_REPLACE_OLDER;
    if (c->produced_at != k->produced_at)
        return c->produced_at > k->produced_at ? OG_REPLACE_NEWER : OG_REPLACE_OLDER;
    if (c->status == k->status)
        return OG_REPLACE_SAME;
    /* two answers for the same instant: the revocation wins */
    return c->status == OG_STATUS_REVOKED ? OG_REPLACE_NEWER : OG_REPLACE_OLDER;
}

void og_resp_known_revoked(og_resp_known *k, time_t this_update)
{
    if (!k->revoked || this_update > k->revoked_floor)
        k->revoked_floor = this_update;
    k->revoked = 1;
}

void og_resp_known_accept(og_resp_known *k, const og_resp_info *info)
{
    k->status = info->status;
    k->this_update = info->this_update;
    k->produced_at = info->produced_at;
    if (info->status == OG_STATUS_REVOKED)
        og_resp_known_revoked(k, info->this_update);
}

time_t og_cache_expiry(const og_resp_info *info, time_t now)
{
    time_t base = info->next_update > now ? info->next_update : now, at;
    if (info->status != OG_STATUS_REVOKED)
        return info->next_update;
    if (__builtin_add_overflow(base, (time_t)OG_REVOKED_KEEP, &at))
        at = base;
    return at;
}

/* What a slot's metadata says of its response. */
static og_resp_info info_of_meta(const og_slot_meta *m)
{
    og_resp_info info = { m->status, m->this_update, m->next_update, 1, m->produced_at, 0 };
    return info;
}

void og_fetch_and_verify(const og_target *t, time_t now, og_fetch_outcome *out)
{
    unsigned char *body;
    size_t len;
    if (fetch_response(http_fetch, NULL, t, out, &body, &len))
        verify_fetched(t, body, len, now, out);
}

int og_adopt_response(og_table *table, const og_target *t, const unsigned char *der,
                      size_t len, time_t now, uint32_t source, og_resp_info *info)
{
    char why[256];
    og_slot_meta cur, meta;
    og_resp_known known = { 0 };
    if (og_verify_response(t->cert, der, len, now, t->max_skew, info, why, sizeof(why)) != OG_VERIFY_OK)
        return 0;
    if (!og_status_staplable(info->status))
        return 0;
    if (og_table_read(table, t->slot, NULL, 0, NULL, &cur) && og_status_staplable(cur.status)) {
        og_resp_info had = info_of_meta(&cur);
        og_resp_known_accept(&known, &had);
    }
    if (og_response_may_replace(&known, info) != OG_REPLACE_NEWER)
        return 0;
    meta = og_slot_meta_of(info, source);
    return og_table_publish(table, t->slot, der, len, &meta);
}

static void schedule_refresh(refresher *r, unsigned i, const og_resp_info *info, time_t now,
                             logq *q)
{
    const og_target *t = &r->cfg->targets[i];
    target_state *s = &r->st[i];
    s->failures = 0;
    s->valid_until = info->next_update;
    s->this_update = info->this_update;
    s->due = og_sched_refresh_at(info->this_update, info->next_update, t->refresh_pct,
                                 random32(), now);
    og_table_note_schedule(r->cfg->table, t->slot, now, s->due, 0);
    if (!s->long_window_logged && og_sched_window_suspicious(info->this_update, info->next_update)) {
        char tu[32], nu[32];
        s->long_window_logged = 1;
        og_format_time(info->this_update, tu, sizeof(tu));
        og_format_time(info->next_update, nu, sizeof(nu));
        LOGQ(r, q, OG_LOG_WARN, OG_LOGNO(00609) "%s: suspicious response from %s: valid from %s "
                 "to %s, more than %ld days; refreshing it as if it were valid for %ld days",
                 t->cert->name, t->url, tu, nu, OG_SCHED_SUSPICIOUS_WINDOW / 86400,
                 OG_SCHED_CAPPED_WINDOW / 86400);
    }
}

/* Where an accepted response came from: the ID and words of its line. */
enum via { VIA_RESPONDER, VIA_CACHE, VIA_SHARED_AT_START, VIA_SHARED, VIA_IMPORT };
static const struct {
    const char *id, *how;
} via_line[] = {
    [VIA_RESPONDER] = { OG_LOGNO(00601), "fetched" },
    [VIA_CACHE] = { OG_LOGNO(00602), "loaded from the cache" },
    [VIA_SHARED_AT_START] = { OG_LOGNO(00603), "loaded from the cache (shared tier)" },
    [VIA_SHARED] = { OG_LOGNO(00604), "adopted from the shared cache" },
    [VIA_IMPORT] = { OG_LOGNO(01015), "imported" },
};

/* Logs a success: one info line per refresh, with what an operator needs to
 * see drift: time left, next refresh, clock skew, validity changes. */
static void log_success(refresher *r, unsigned i, const og_resp_info *info, time_t now,
                        enum via via, logq *q)
{
    const og_target *t = &r->cfg->targets[i];
    target_state *s = &r->st[i];
    const char *how = via_line[via].how;
    char nu[32], due[32], rev[32];
    time_t window = info->next_update - info->this_update;
    long long skew = (long long)info->produced_at - (long long)now;
    og_format_time(info->next_update, nu, sizeof(nu));
    og_format_time(s->due, due, sizeof(due));
    if (info->status == OG_STATUS_REVOKED) {
        og_format_time(info->revoked_at, rev, sizeof(rev));
        if (s->log_state != LS_REVOKED)
            LOGQ(r, q, OG_LOG_ERR, OG_LOGNO(00605) "%s: the responder says REVOKED (revocation "
                     "time %s); stapling the revocation (nextUpdate %s); replace this certificate",
                     t->cert->name, rev, nu);
        s->log_state = LS_REVOKED;
    } else {
        /* after a failure its responder's line told, that line's "back" tells this too */
        if (s->log_state != LS_GOOD && s->log_state != LS_NONE && s->log_state != LS_RESPONDER_DOWN)
            LOGQ(r, q, OG_LOG_NOTICE, OG_LOGNO(00606) "%s: stapling again, a good response %s",
                     t->cert->name, how);
        s->log_state = LS_GOOD;
    }
    LOGQ(r, q, OG_LOG_INFO, "%s%s: %s response %s, nextUpdate %s (in %lld s), next refresh %s, "
             "producedAt skew %+lld s, validity %lld s", via_line[via].id, t->cert->name,
             og_status_name(info->status), how, nu, (long long)(info->next_update - now), due,
             skew, (long long)window);
    if (skew > t->max_skew / 2)
        LOGQ(r, q, OG_LOG_WARN, OG_LOGNO(00607) "%s: the responder's producedAt is %lld s ahead "
                 "of the local clock (more than half of OCSPGuardMaxSkew %ld s); check this host's "
                 "time source", t->cert->name, skew, t->max_skew);
    if (s->window > 0 && window < s->window)
        LOGQ(r, q, OG_LOG_WARN, OG_LOGNO(00608) "%s: the responder's validity period shrank "
                 "from %lld s to %lld s", t->cert->name, (long long)s->window, (long long)window);
    s->window = window;
}

/* A failure's ID: one per kind, the next one up when nothing is stapled. */
static const char *failure_id(int state, int stapling)
{
    switch (state) {
    case LS_FETCH_FAILED: return stapling ? OG_LOGNO(00610) : OG_LOGNO(00611);
    case LS_UNKNOWN: return stapling ? OG_LOGNO(00612) : OG_LOGNO(00613);
    case LS_OLDER: return stapling ? OG_LOGNO(00616) : OG_LOGNO(00617);
    default: return stapling ? OG_LOGNO(00614) : OG_LOGNO(00615);     /* LS_INVALID */
    }
}

/* A failure's kind in words, for the log and the status views. */
static const char *failure_what(int state, const og_fetch_outcome *o)
{
    return state == LS_FETCH_FAILED ? "cannot reach the OCSP responder"
         : state == LS_UNKNOWN ? "the responder does not know this certificate (status unknown)"
         : state == LS_OLDER ? "refused a response older than one already seen (a replay?)"
         : og_verify_result_name(o->verify);
}

static void log_failure(refresher *r, unsigned i, int state, const og_fetch_outcome *o, time_t now,
                        logq *q)
{
    const og_target *t = &r->cfg->targets[i];
    target_state *s = &r->st[i];
    char nu[32], due[32];
    int detail = state == LS_INVALID ? (int)o->verify : 0;
    og_format_time(s->due, due, sizeof(due));
    if (s->log_state == state && s->log_detail == detail) {
        LOGQ(r, q, OG_LOG_DEBUG, OG_LOGNO(00618) "%s: refresh failed again (%s), try %u, next at %s",
                 t->cert->name, o->why, s->failures, due);
        return;
    }
    s->log_state = state;
    s->log_detail = detail;
    const char *what = failure_what(state, o);
    if (s->valid_until > now) {
        og_format_time(s->valid_until, nu, sizeof(nu));
        LOGQ(r, q, state == LS_UNKNOWN ? OG_LOG_ERR : OG_LOG_WARN,
                 "%s%s: refresh from %s failed: %s (%s); still stapling the last %s response "
                 "until its nextUpdate %s; retrying at %s", failure_id(state, 1), t->cert->name,
                 t->url, what, o->why, og_status_name(s->known.status), nu, due);
    } else {
        LOGQ(r, q, OG_LOG_ERR, "%s%s: refresh from %s failed: %s (%s); no staple is sent until "
                 "a response verifies; retrying at %s", failure_id(state, 0), t->cert->name, t->url,
                 what, o->why, due);
    }
}

enum accept_result { ACCEPT_PUBLISHED, ACCEPT_SAME, ACCEPT_OLDER, ACCEPT_TOO_LARGE };

/* With r->lock held: the one way a verified response gets into a target's
 * slot, fetched or cached. The publish and the state it implies change in
 * one critical section, so the expiry loop never sees one without the
 * other, and writers of a slot never overlap. */
static enum accept_result accept_locked(refresher *r, unsigned i, const og_resp_info *info,
                                        const unsigned char *der, size_t len, uint32_t source,
                                        time_t now, logq *q)
{
    const og_target *t = &r->cfg->targets[i];
    target_state *s = &r->st[i];
    og_replace verdict = og_response_may_replace(&s->known, info);
    og_slot_meta meta = og_slot_meta_of(info, source);
    if (verdict == OG_REPLACE_OLDER)
        return ACCEPT_OLDER;
    if (verdict == OG_REPLACE_SAME && s->valid_until > now)
        return ACCEPT_SAME;      /* stapled already */
    if (!og_table_publish(r->cfg->table, t->slot, der, len, &meta))
        return ACCEPT_TOO_LARGE;
    og_resp_known_accept(&s->known, info);
    schedule_refresh(r, i, info, now, q);
    return ACCEPT_PUBLISHED;
}

/* Outside the lock (disk, network); the caller holds the target (busy). */
static void store_response(refresher *r, unsigned i, const unsigned char *der, size_t len,
                           const og_resp_info *info, time_t now)
{
    const og_target *t = &r->cfg->targets[i];
    const og_cache_ops *ops = r->cfg->cache;
    if (ops && ops->store && !ops->store(ops->baton, t->cert->id, der, len, og_cache_expiry(info, now)))
        LOG(r, OG_LOG_WARN, OG_LOGNO(00620) "%s: could not store the response in the cache; it "
            "is stapled from memory but will not survive a restart", t->cert->name);
}

static void describe_older(const target_state *s, const og_resp_info *info, char *why, size_t len)
{
    char tu[32], seen[32];
    int floor = s->known.revoked && info->this_update <= s->known.revoked_floor;
    og_format_time(info->this_update, tu, sizeof(tu));
    og_format_time(floor ? s->known.revoked_floor : s->known.this_update, seen, sizeof(seen));
    snprintf(why, len, "%s response of thisUpdate %s, not newer than the %s of thisUpdate %s",
             og_status_name(info->status), tu, floor ? "revocation seen" : "response stapled", seen);
}

/* ---- the responder's breaker, under r->lock ---- */

/* The responder did not answer usefully: no answer, or an OCSP error
 * status (tryLater, internalError, ...) rather than one about this
 * certificate. */
static int responder_failed(const og_fetch_outcome *o)
{
    return !o->fetched || o->verify == OG_VERIFY_NOT_SUCCESSFUL;
}

/* The earliest nextUpdate after `after` among the staples of responder k's
 * certificates (0: none), and how many staples and certificates it has. */
static time_t staples_of(const refresher *r, unsigned k, time_t now, time_t after,
                         unsigned *stapled, unsigned *total)
{
    time_t earliest = 0;
    *stapled = *total = 0;
    for (unsigned j = 0; j < r->cfg->ntargets; j++) {
        const target_state *s = &r->st[j];
        if (s->responder != k)
            continue;
        ++*total;
        if (s->valid_until <= now)
            continue;
        ++*stapled;
        if (s->valid_until > after && (!earliest || s->valid_until < earliest))
            earliest = s->valid_until;
    }
    return earliest;
}

/* Back: its certificates that fell due while it was down (or failed with
 * it) go within OG_BREAKER_SPREAD seconds, not all in one. */
static unsigned spread_due(refresher *r, unsigned k, unsigned except, time_t now)
{
    unsigned n = 0;
    for (unsigned j = 0; j < r->cfg->ntargets; j++) {
        target_state *s = &r->st[j];
        if (s->responder != k || j == except || s->busy || (s->due > now && !s->failures))
            continue;
        s->due = now + (time_t)(random32() % OG_BREAKER_SPREAD);
        n++;
    }
    return n;
}

/* After an exchange with responder k: its breaker's verdict, and the line
 * for a change of state (one per responder, not one per certificate). */
static og_breaker_change breaker_result(refresher *r, unsigned i, int probe,
                                        const og_fetch_outcome *o, time_t now, logq *q)
{
    unsigned k = r->st[i].responder, stapled, total;
    responder *rs = &r->resp[k];
    int failed = responder_failed(o);
    time_t next_expiry = 0;
    char at[32], first[32];
    og_breaker_change change;
    if (failed)
        next_expiry = staples_of(r, k, now, now + OG_BREAKER_FIRST, &stapled, &total);
    change = og_breaker_result(&rs->breaker, probe, failed, now, next_expiry);
    og_format_time(rs->breaker.probe_at, at, sizeof(at));
    switch (change) {
    case OG_BREAKER_DOWN:
        og_format_time(staples_of(r, k, now, now, &stapled, &total), first, sizeof(first));
        LOGQ(r, q, OG_LOG_WARN, OG_LOGNO(01101) "OCSP responder %s down: %d consecutive failures "
                 "(%s); %u of its %u certificate(s) keep their valid staples%s%s, %u have none; "
                 "no requests until a probe at %s (then backing off to %d s)", rs->name,
                 OG_BREAKER_FAILURES, o->why, stapled, total, stapled ? ", the first expiring at " : "",
                 stapled ? first : "", total - stapled, at, OG_BREAKER_MAX);
        break;
    case OG_BREAKER_STILL_DOWN:
        LOGQ(r, q, OG_LOG_DEBUG, OG_LOGNO(01103) "OCSP responder %s still down: the probe for %s "
                 "failed (%s); next probe at %s", rs->name, r->cfg->targets[i].cert->name, o->why, at);
        break;
    case OG_BREAKER_BACK:
        LOGQ(r, q, OG_LOG_NOTICE, OG_LOGNO(01102) "OCSP responder %s is back: it answered the "
                 "probe for %s after %lld s down; its %u certificate(s) due meanwhile are fetched "
                 "within %d s", rs->name, r->cfg->targets[i].cert->name,
                 (long long)(now - rs->breaker.down_since), spread_due(r, k, i, now),
                 OG_BREAKER_SPREAD);
        r->clock->wake(r->clock->baton, &r->wake);
        break;
    default:
        break;
    }
    return change;
}

/* What the status views learn of a responder exchange; under r->lock,
 * after the target's state took it in. */
static void note_fetch(refresher *r, unsigned i, int state, const og_fetch_outcome *o, time_t now)
{
    const target_state *s = &r->st[i];
    char err[512];               /* og_table_note_fetch keeps what fits */
    og_fetch_note n = { OG_FETCH_OK, o->started, o->duration_ms, s->failures, s->due, 0, 0, NULL };
    if (o->fetched && (o->verify == OG_VERIFY_OK || o->verify == OG_VERIFY_TOO_LARGE)) {
        n.skew_known = 1;
        n.skew = (long)(o->info.produced_at - now);
    }
    if (state) {
        n.result = state == LS_FETCH_FAILED ? OG_FETCH_ERROR : state == LS_UNKNOWN ? OG_FETCH_UNKNOWN
                 : state == LS_OLDER ? OG_FETCH_OLDER : OG_FETCH_INVALID;
        snprintf(err, sizeof(err), "%s (%s)", failure_what(state, o), o->why);
        n.error = err;
    }
    og_table_note_fetch(r->cfg->table, r->cfg->targets[i].slot, &n);
}

static void apply_outcome(refresher *r, unsigned i, og_fetch_outcome *o, time_t now, int probe)
{
    target_state *s = &r->st[i];
    int state = 0, store = 0;
    logq q = { 0 };
    pthread_mutex_lock(&r->lock);
    breaker_result(r, i, probe, o, now, &q);
    if (o->verify == OG_VERIFY_OK && og_status_staplable(o->info.status)) {
        switch (accept_locked(r, i, &o->info, o->der, o->der_len, OG_SOURCE_RESPONDER, now, &q)) {
        case ACCEPT_PUBLISHED:
            s->repeats = 0;
            store = 1;
            log_success(r, i, &o->info, now, VIA_RESPONDER, &q);
            break;
        case ACCEPT_SAME:
            schedule_refresh(r, i, &o->info, now, &q);
            /* nothing newer although the refresh point passed: ask again
             * later, not in a loop */
            if (s->due <= now)
                s->due = og_sched_retry_at(now, ++s->repeats, s->valid_until);
            log_success(r, i, &o->info, now, VIA_RESPONDER, &q);
            break;
        case ACCEPT_OLDER:
            describe_older(s, &o->info, o->why, sizeof(o->why));
            state = LS_OLDER;
            break;
        case ACCEPT_TOO_LARGE:
            snprintf(o->why, sizeof(o->why), "%zu bytes, more than the %d a staple may have",
                     o->der_len, OG_SLOT_CAPACITY);
            o->verify = OG_VERIFY_TOO_LARGE;
            state = LS_INVALID;
            break;
        }
    } else {
        state = !o->fetched ? LS_FETCH_FAILED : o->verify == OG_VERIFY_OK ? LS_UNKNOWN : LS_INVALID;
    }
    if (state) {
        s->failures++;
        s->due = og_sched_retry_at(now, s->failures, s->valid_until);
        if (responder_failed(o) && r->resp[s->responder].breaker.state != OG_BREAKER_CLOSED) {
            /* its responder's line (OG01101) tells it, once for all */
            LOGQ(r, &q, OG_LOG_DEBUG, OG_LOGNO(01104) "%s: refresh from %s failed (%s) while its "
                     "OCSP responder is down; it goes again once the responder answers a probe",
                     r->cfg->targets[i].cert->name, r->cfg->targets[i].url, o->why);
            s->log_state = LS_RESPONDER_DOWN;
        } else {
            log_failure(r, i, state, o, now, &q);
        }
    }
    note_fetch(r, i, state, o, now);
    pthread_mutex_unlock(&r->lock);
    logq_flush(r, &q);
    if (store)
        store_response(r, i, o->der, o->der_len, &o->info, now);
}

/* Verifies a cached response (no lock: the CPU-heavy part). 1 when it may
 * be stapled; an expired revocation still raises the rollback floor. */
static int verify_cached(refresher *r, unsigned i, const unsigned char *der, size_t len,
                         time_t now, og_resp_info *info)
{
    const og_target *t = &r->cfg->targets[i];
    char why[256], tu[32];
    og_verify_result v = og_verify_response(t->cert, der, len, now, t->max_skew, info, why, sizeof(why));
    if (v == OG_VERIFY_EXPIRED && info->status == OG_STATUS_REVOKED) {
        og_resp_known *k = &r->st[i].known;
        int raised;
        pthread_mutex_lock(&r->lock);
        raised = !k->revoked || info->this_update > k->revoked_floor;
        og_resp_known_revoked(k, info->this_update);
        pthread_mutex_unlock(&r->lock);
        og_format_time(info->this_update, tu, sizeof(tu));
        if (raised)
            LOG(r, OG_LOG_NOTICE, OG_LOGNO(00621) "%s: the cache holds an expired revocation "
                "(thisUpdate %s); no response older than it will be stapled", t->cert->name, tu);
        return 0;
    }
    return v == OG_VERIFY_OK && og_status_staplable(info->status);
}

/* A cached response, verified, published when newer than what is known;
 * one from the shared tier is then stored, so the local tier has it too. */
static int adopt_cached(refresher *r, unsigned i, const unsigned char *der, size_t len,
                        time_t now, enum via via)
{
    og_resp_info info;
    enum accept_result res;
    logq q = { 0 };
    if (!verify_cached(r, i, der, len, now, &info))
        return 0;
    pthread_mutex_lock(&r->lock);
    res = accept_locked(r, i, &info, der, len, via == VIA_CACHE ? OG_SOURCE_CACHE : OG_SOURCE_PEER,
                        now, &q);
    if (res == ACCEPT_PUBLISHED)
        log_success(r, i, &info, now, via, &q);
    pthread_mutex_unlock(&r->lock);
    logq_flush(r, &q);
    if (res != ACCEPT_PUBLISHED)
        return 0;
    if (via != VIA_CACHE)
        store_response(r, i, der, len, &info, now);
    return 1;
}

/* What a worker reads from the cache (larger responses cannot be stapled). */
static __thread unsigned char cache_buf[OG_SLOT_CAPACITY];

/* At start, after the local pass: (socache_ocsp) the cluster tier. */
static int startup_load(refresher *r, unsigned i, time_t now)
{
    unsigned char *buf = cache_buf;
    const og_cache_ops *ops = r->cfg->cache;
    size_t len = 0;
    return ops && ops->load_shared &&
           ops->load_shared(ops->baton, r->cfg->targets[i].cert->id, buf, sizeof(cache_buf), &len) &&
           adopt_cached(r, i, buf, len, now, VIA_SHARED_AT_START);
}

/* A cluster peer may have refreshed already: adopt its verified response
 * when it is newer than ours. */
static int adopt_from_shared(refresher *r, unsigned i, time_t now)
{
    unsigned char *buf = cache_buf;
    const og_cache_ops *ops = r->cfg->cache;
    size_t len = 0;
    if (!ops || !ops->load_shared ||
        !ops->load_shared(ops->baton, r->cfg->targets[i].cert->id, buf, sizeof(cache_buf), &len))
        return 0;
    return adopt_cached(r, i, buf, len, now, VIA_SHARED);
}

/* Any certificate that is due, scanning on from where the last pick
 * stopped, so thousands due at once cost one pass, not one pass each;
 * when none is due, *earliest says when the next one will be. While a
 * responder is down one of its certificates goes to it, the probe, when its
 * time has come (*probe set); the others only look in the shared tier, if
 * there is one (a cluster peer may reach the responder). Loading from the
 * cache at start never waits. */
static int pick_due(refresher *r, time_t now, time_t *earliest, int *probe)
{
    unsigned n = r->cfg->ntargets;
    int shared = r->cfg->cache && r->cfg->cache->load_shared;
    *earliest = now + 1;
    *probe = 0;
    for (unsigned k = 0; k < n; k++) {
        unsigned i = (r->cursor + k) % n;
        target_state *s = &r->st[i];
        og_breaker *b = &r->resp[s->responder].breaker;
        if (s->busy)
            continue;
        if (!s->load_cache && b->state != OG_BREAKER_CLOSED) {
            if (og_breaker_probe(b, now)) {
                *probe = 1;
                r->cursor = (i + 1) % n;
                return (int)i;
            }
            if (b->state == OG_BREAKER_OPEN && b->probe_at < *earliest)
                *earliest = b->probe_at;
            if (!shared)
                continue;
        }
        if (s->due <= now) {
            r->cursor = (i + 1) % n;
            return (int)i;
        }
        if (s->due < *earliest)
            *earliest = s->due;
    }
    return -1;
}

/* Waits, outside r->lock, for a turn at the responder's rate: a token
 * bucket per responder, shared by the workers. */
static void wait_turn(refresher *r, responder *rs)
{
    const og_clock *c = r->clock;
    unsigned rate = r->cfg->responder_rate;
    int first = 0;
    int64_t at;
    if (!rate)
        return;
    pthread_mutex_lock(&r->pace_lock);
    while (!r->pace_stop && (at = og_bucket_take(&rs->bucket, rate, c->now(c->baton))) != 0) {
        first |= !rs->paced;
        rs->paced = 1;
        c->wait(c->baton, &r->pace_lock, &r->pace, at);
    }
    pthread_mutex_unlock(&r->pace_lock);
    if (first)
        LOG(r, OG_LOG_INFO, OG_LOGNO(01105) "OCSP responder %s: requests go at most %u a second "
            "(OCSPGuardResponderRate); the others wait their turn", rs->name, rate);
}

/* Fetches for target i (a probe of its responder, or not) and applies the
 * outcome. Outside r->lock; the caller holds the target (busy). */
static void refresh_target(refresher *r, unsigned i, int probe)
{
    const og_target *t = &r->cfg->targets[i];
    og_fetch_outcome o;
    unsigned char *body;
    size_t len;
    int64_t start, end;
    int fetched;
    wait_turn(r, &r->resp[r->st[i].responder]);
    start = r->clock->now(r->clock->baton);
    fetched = fetch_response(r->fetch, r->fetch_baton, t, &o, &body, &len);
    end = r->clock->now(r->clock->baton);
    if (fetched)
        verify_fetched(t, body, len, now_s(r), &o);
    /* for the status views: when, and how long the exchange took */
    o.started = (time_t)(start / OG_USEC);
    o.duration_ms = (unsigned)((end - start) / 1000);
    apply_outcome(r, i, &o, now_s(r), probe);
    free(o.der);
}

static void clock_thread_start(const refresher *r)
{
    if (r->clock->thread_start)
        r->clock->thread_start(r->clock->baton);
}

static void clock_thread_end(const refresher *r)
{
    if (r->clock->thread_end)
        r->clock->thread_end(r->clock->baton);
}

static void *worker_main(void *arg)
{
    refresher *r = arg;
    pthread_mutex_lock(&r->lock);
    while (!r->stopping) {
        time_t now = now_s(r), earliest;
        int probe, i = pick_due(r, now, &earliest, &probe);
        if (i < 0) {
            r->clock->wait(r->clock->baton, &r->lock, &r->wake, (int64_t)earliest * OG_USEC);
            continue;
        }
        target_state *s = &r->st[i];
        og_breaker *b = &r->resp[s->responder].breaker;
        int load_cache = s->load_cache, adopted, fetch;
        s->busy = 1;             /* ours until cleared: no other worker touches it */
        s->load_cache = 0;
        pthread_mutex_unlock(&r->lock);
        og_table_fetch_begin(r->cfg->table, r->cfg->targets[i].slot);

        /* At start, what the local pass did not find: the shared tier. */
        if (load_cache) {
            adopted = startup_load(r, (unsigned)i, now);
        } else {
            /* Due times are whole seconds: cluster peers due in the same second
             * would all fetch. A random part of a second between them lets the
             * first one's response reach the shared tier before the others look. */
            if (r->cfg->cache && r->cfg->cache->load_shared)
                nap_until(r, r->clock->now(r->clock->baton) + random32() % OG_USEC);
            adopted = adopt_from_shared(r, (unsigned)i, now_s(r));
        }
        pthread_mutex_lock(&r->lock);
        /* a responder that went down meanwhile gets no more requests */
        fetch = (!adopted || s->due <= now_s(r)) && (probe || b->state == OG_BREAKER_CLOSED);
        if (probe && !fetch)
            og_breaker_probe_cancel(b);
        else if (!fetch && !adopted) {   /* its responder is down: the shared tier again later */
            s->due = og_sched_retry_at(now_s(r), ++s->failures, s->valid_until);
            og_table_note_schedule(r->cfg->table, r->cfg->targets[i].slot, now_s(r), s->due,
                                   s->failures);
        }
        pthread_mutex_unlock(&r->lock);
        if (fetch)
            refresh_target(r, (unsigned)i, probe);
        og_table_fetch_end(r->cfg->table, r->cfg->targets[i].slot);
        pthread_mutex_lock(&r->lock);
        s->busy = 0;
    }
    pthread_mutex_unlock(&r->lock);
    clock_thread_end(r);
    return NULL;
}

/* Clears slots whose response expired with nothing fresher to replace it.
 * Under r->lock, as every publish is. */
static void expire_stale(refresher *r, time_t now, logq *q)
{
    for (unsigned i = 0; i < r->cfg->ntargets; i++) {
        target_state *s = &r->st[i];
        const og_target *t = &r->cfg->targets[i];
        if (s->valid_until == 0 || s->valid_until > now)
            continue;
        og_table_clear(r->cfg->table, t->slot);
        s->valid_until = 0;
        if (s->log_state != LS_EXPIRED) {
            LOGQ(r, q, OG_LOG_ERR, OG_LOGNO(00619) "%s: the last verified response expired and "
                     "no fresh one could be fetched from %s; handshakes get no staple until the "
                     "responder answers", t->cert->name, t->url);
            s->log_state = LS_EXPIRED;
        }
    }
}

/* Initial state: what a graceful restart carried over; the rest is due now
 * and looks in the cache first. Before the workers start. */
static void load_initial(refresher *r, time_t now, logq *q)
{
    unsigned repaired = og_table_repair(r->cfg->table);
    if (repaired)
        LOGQ(r, q, OG_LOG_NOTICE, OG_LOGNO(00622) "%u staple slot(s) left mid-write by a "
                 "refresher that died were repaired", repaired);
    for (unsigned i = 0; i < r->cfg->ntargets; i++) {
        const og_target *t = &r->cfg->targets[i];
        og_slot_meta m;
        og_slot_status st;
        size_t len = 0;
        r->st[i].due = now;
        /* The last response published, kept after expiry cleared its slot:
         * a revocation among them stays the rollback floor, even when the
         * cache lost its record. */
        if (og_table_status_read(r->cfg->table, t->slot, &st) && st.last.status == OG_STATUS_REVOKED)
            og_resp_known_revoked(&r->st[i].known, st.last.this_update);
        if (og_table_read(r->cfg->table, t->slot, NULL, 0, &len, &m) && len > 0 && og_meta_stapled(&m, now)) {
            og_resp_info info = info_of_meta(&m);
            og_resp_known_accept(&r->st[i].known, &info);
            schedule_refresh(r, i, &info, now, q);
            r->st[i].log_state = m.status == OG_STATUS_GOOD ? LS_GOOD : LS_REVOKED;
            continue;
        }
        og_table_clear(r->cfg->table, t->slot);
        r->st[i].load_cache = 1;
    }
}

/* Groups the targets by og_http_responder_key: one breaker and one rate
 * per responder. 0 when out of memory. */
static int group_responders(refresher *r)
{
    unsigned cap = 16, room = 0, *index;
    while (cap < 2 * r->cfg->ntargets)
        cap <<= 1;
    if (!(index = calloc(cap, sizeof(*index))))     /* open addressing: 1 + responder */
        return 0;
    for (unsigned i = 0; i < r->cfg->ntargets; i++) {
        const og_target *t = &r->cfg->targets[i];
        char key[sizeof(r->resp->key)];
        uint32_t h = 2166136261u;                   /* FNV-1a */
        if (!og_http_responder_key(t->url, t->proxy, key, sizeof(key)))
            snprintf(key, sizeof(key), "%s", t->url);   /* refused by og_http anyway */
        for (const char *p = key; *p; p++)
            h = (h ^ (unsigned char)*p) * 16777619u;
        for (h &= cap - 1; index[h] && strcmp(r->resp[index[h] - 1].key, key); h = (h + 1) & (cap - 1))
            ;
        if (!index[h]) {
            responder *rs;
            if (r->nresp == room) {
                room = room ? room * 2 : 4;
                if (!(rs = realloc(r->resp, room * sizeof(*rs)))) {
                    free(index);
                    return 0;
                }
                r->resp = rs;
            }
            rs = &r->resp[r->nresp];
            memset(rs, 0, sizeof(*rs));
            memcpy(rs->key, key, sizeof(key));
            snprintf(rs->name, sizeof(rs->name), "%s%s%s", t->url, t->proxy ? " via proxy " : "",
                     t->proxy ? t->proxy : "");
            index[h] = ++r->nresp;
        }
        r->st[i].responder = index[h] - 1;
    }
    free(index);
    return 1;
}

/* ---- Run-time control and notifications ----
 * The main loop, once a second: refreshes asked through the control region,
 * imports from its mailboxes (verified and accepted as any response), and a
 * look at every certificate for notifications. */

static int control_start(refresher *r)
{
    unsigned n = r->cfg->ntargets ? r->cfg->ntargets : 1;
    control_state *c = &r->ctl;
    c->forced_at = calloc(n, sizeof(*c->forced_at));
    c->store_pending = calloc(n, 1);
    c->own_mem = r->cfg->control ? NULL : calloc(n, sizeof(*c->own_mem));
    c->buf = r->cfg->control ? malloc(OG_CONTROL_BOX_CAP) : NULL;
    if (r->cfg->notify && !(c->notifier = og_notifier_new(r->cfg->notify)))
        return 0;
    if (!c->forced_at || !c->store_pending || (!r->cfg->control && !c->own_mem) ||
        (r->cfg->control && !c->buf))
        return 0;
    if (r->cfg->control)
        og_control_sweep(r->cfg->control, now_s(r), 1);
    return c->ready = 1;
}

static void control_end(refresher *r)
{
    og_notifier_free(r->ctl.notifier);
    free(r->ctl.forced_at);
    free(r->ctl.store_pending);
    free(r->ctl.own_mem);
    free(r->ctl.buf);
}

/* Refresh requests: due now, unless the certificate is being worked on or
 * was forced less than OG_CONTROL_REFRESH_EVERY ago (then next pass). */
static void take_refresh_requests(refresher *r, time_t now)
{
    og_control *c = r->cfg->control;
    uint32_t req = og_control_requests(c);
    logq q = { 0 };
    if (req == r->ctl.requests_seen && !r->ctl.rescan)
        return;
    r->ctl.requests_seen = req;
    r->ctl.rescan = 0;
    pthread_mutex_lock(&r->lock);
    for (unsigned i = 0; i < r->cfg->ntargets; i++) {
        const og_target *t = &r->cfg->targets[i];
        target_state *s = &r->st[i];
        if (!og_control_take_refresh(c, t->slot))
            continue;
        if (s->busy || now - r->ctl.forced_at[i] < OG_CONTROL_REFRESH_EVERY) {
            og_control_keep_refresh(c, t->slot);
            r->ctl.rescan = 1;
            continue;
        }
        r->ctl.forced_at[i] = now;
        s->due = now;
        /* its responder is down: the operator's request is the probe's time */
        if (r->resp[s->responder].breaker.state == OG_BREAKER_OPEN &&
            r->resp[s->responder].breaker.probe_at > now)
            r->resp[s->responder].breaker.probe_at = now;
        LOGQ(r, &q, OG_LOG_INFO, OG_LOGNO(01014) "%s: refresh from %s asked at run time",
             t->cert->name, t->url);
    }
    r->clock->wake(r->clock->baton, &r->wake);
    pthread_mutex_unlock(&r->lock);
    logq_flush(r, &q);
}

/* One import, verified like a fetched response and accepted by the same
 * rule; the verdict and a one-line reason go back to the child. */
static og_import_verdict import_one(refresher *r, unsigned i, const unsigned char *der, size_t len,
                                    time_t now, char *reason, size_t cap)
{
    const og_target *t = &r->cfg->targets[i];
    og_import_verdict v = OG_IMPORT_INVALID;
    og_resp_info info;
    char why[256], tu[32], nu[32];
    logq q = { 0 };
    og_verify_result res = og_verify_response(t->cert, der, len, now, t->max_skew, &info, why, sizeof(why));
    if (res != OG_VERIFY_OK) {
        snprintf(reason, cap, "refused: %s (%.150s)", og_verify_result_name(res), why);
    } else if (!og_status_staplable(info.status)) {
        snprintf(reason, cap, "refused: the response says %s, which is not stapled",
                 og_status_name(info.status));
    } else {
        og_format_time(info.this_update, tu, sizeof(tu));
        og_format_time(info.next_update, nu, sizeof(nu));
        pthread_mutex_lock(&r->lock);
        switch (accept_locked(r, i, &info, der, len, OG_SOURCE_IMPORT, now, &q)) {
        case ACCEPT_PUBLISHED:
            log_success(r, i, &info, now, VIA_IMPORT, &q);
            r->ctl.store_pending[i] = 1;
            snprintf(reason, cap, "stapled: %s response, thisUpdate %s, nextUpdate %s",
                     og_status_name(info.status), tu, nu);
            v = OG_IMPORT_STAPLED;
            break;
        case ACCEPT_SAME:
            snprintf(reason, cap, "refused: this response (thisUpdate %s) is stapled already", tu);
            v = OG_IMPORT_OLDER;
            break;
        case ACCEPT_OLDER:
            describe_older(&r->st[i], &info, why, sizeof(why));
            snprintf(reason, cap, "refused: %.180s", why);
            v = OG_IMPORT_OLDER;
            break;
        default:
            snprintf(reason, cap, "refused: %zu bytes, more than the %d a staple may have", len,
                     OG_SLOT_CAPACITY);
            v = OG_IMPORT_TOO_LARGE;
            break;
        }
        pthread_mutex_unlock(&r->lock);
        logq_flush(r, &q);
    }
    if (v == OG_IMPORT_STAPLED)
        LOG(r, OG_LOG_NOTICE, OG_LOGNO(01011) "%s: imported response %s", t->cert->name, reason);
    else
        LOG(r, OG_LOG_WARN, OG_LOGNO(01012) "%s: imported response %s", t->cert->name, reason);
    return v;
}

static void take_imports(refresher *r, time_t now)
{
    og_control *c = r->cfg->control;
    unsigned slot;
    size_t len;
    int box;
    while ((box = og_control_take_import(c, og_table_count(r->cfg->table), now, &slot, r->ctl.buf,
                                         OG_CONTROL_BOX_CAP, &len)) >= 0) {
        char reason[200] = "no such certificate";
        og_import_verdict v = OG_IMPORT_NO_SLOT;
        for (unsigned i = 0; i < r->cfg->ntargets; i++) {
            if (r->cfg->targets[i].slot == slot) {
                v = import_one(r, i, r->ctl.buf, len, now, reason, sizeof(reason));
                break;
            }
        }
        og_control_answer(c, box, v, reason, now);
    }
}

/* Stores imported responses once no worker holds their certificate (a
 * worker's cache I/O for the same id must not overlap ours). */
static void store_imports(refresher *r, time_t now)
{
    for (unsigned i = 0; i < r->cfg->ntargets; i++) {
        const og_target *t = &r->cfg->targets[i];
        og_slot_meta m;
        size_t len = 0;
        int mine;
        if (!r->ctl.store_pending[i])
            continue;
        pthread_mutex_lock(&r->lock);
        if ((mine = !r->st[i].busy)) {
            r->st[i].busy = 1;
            r->ctl.store_pending[i] = 0;
        }
        pthread_mutex_unlock(&r->lock);
        if (!mine)
            continue;
        /* what the slot holds now: a worker may have published a newer one */
        if (og_table_read(r->cfg->table, t->slot, cache_buf, sizeof(cache_buf), &len, &m) && len &&
            og_meta_stapled(&m, now)) {
            og_resp_info info = { m.status, m.this_update, m.next_update, 1, m.produced_at, 0 };
            store_response(r, i, cache_buf, len, &info, now);
        }
        pthread_mutex_lock(&r->lock);
        r->st[i].busy = 0;
        pthread_mutex_unlock(&r->lock);
    }
}

/* A look at every certificate; what changed goes to OCSPGuardNotifyCmd. */
static void notify_pass(refresher *r, time_t now)
{
    if (!r->ctl.notifier)
        return;
    pthread_mutex_lock(&r->lock);
    for (unsigned i = 0; i < r->cfg->ntargets; i++) {
        const og_target *t = &r->cfg->targets[i];
        og_notify_mem *mem = r->cfg->control ? og_control_notify_mem(r->cfg->control, t->slot)
                                             : &r->ctl.own_mem[i];
        og_notify_event ev = { 0, r->cfg->names ? r->cfg->names[i] : NULL, t->cert, t->url, 0 };
        og_notify_facts f;
        og_slot_meta m;
        if (!mem || !og_table_read(r->cfg->table, t->slot, NULL, 0, NULL, &m))
            continue;
        f.stapled = og_meta_stapled(&m, now);
        f.status = m.status;
        f.this_update = m.this_update;
        f.next_update = m.next_update;
        f.fresh_source = m.source == OG_SOURCE_RESPONDER || m.source == OG_SOURCE_IMPORT;
        f.failures = r->st[i].failures;
        f.not_renewing = r->st[i].repeats > 0;
        f.must_staple = t->cert->must_staple;
        og_notifier_look(r->ctl.notifier, mem, &f, now, &ev);
    }
    pthread_mutex_unlock(&r->lock);
    og_notifier_tick(r->ctl.notifier);
}

/* The main loop's pause: a second, or less when a child asks for work. A
 * simulated clock (tests) moves only while every thread waits on it: there
 * the pause is the clock's, and requests are seen at the next second. */
static void control_sleep(refresher *r)
{
    if (r->ctl.ready && r->cfg->control && r->clock == og_clock_real())
        og_control_wait(r->cfg->control, r->ctl.requests_seen, 1000);
    else
        nap_until(r, r->clock->now(r->clock->baton) + OG_USEC);
}

static void control_pass(refresher *r, time_t now)
{
    if (!r->ctl.ready)
        return;
    if (r->cfg->control) {
        og_control_beat(r->cfg->control, now);
        og_control_sweep(r->cfg->control, now, 0);
        take_refresh_requests(r, now);
        take_imports(r, now);
        store_imports(r, now);
    }
    notify_pass(r, now);
}

/* The local pass: before any fetch, each certificate still without a
 * staple gets its own record from the local cache tier (files, no network
 * I/O), verified and published, on every core; then the table says so, and
 * the parent lets children accept (guard_process_startup_wait). The shared
 * tier and the responder come after, in the workers. */
typedef struct local_pass_ctx {
    refresher *r;
    time_t now;
    unsigned next;               /* atomic: the next target to look at */
} local_pass_ctx;

static void *local_pass_thread(void *arg)
{
    local_pass_ctx *lp = arg;
    refresher *r = lp->r;
    const og_cache_ops *ops = r->cfg->cache;
    unsigned i;
    /* target i is this thread's alone (the workers start after the pass),
     * so load_cache needs no lock; adopt_cached takes it to publish */
    while ((i = __atomic_fetch_add(&lp->next, 1, __ATOMIC_RELAXED)) < r->cfg->ntargets) {
        size_t len = 0;
        if (r->st[i].load_cache && ops && ops->load &&
            ops->load(ops->baton, r->cfg->targets[i].cert->id, cache_buf, sizeof(cache_buf), &len) &&
            adopt_cached(r, i, cache_buf, len, lp->now, VIA_CACHE))
            r->st[i].load_cache = 0;     /* the workers go on from its refresh point */
        og_table_local_progress(r->cfg->table);
    }
    return NULL;
}

#define LOCAL_PASS_MAX_THREADS 16

static void local_pass(refresher *r, time_t now)
{
    local_pass_ctx lp = { r, now, 0 };
    pthread_t threads[LOCAL_PASS_MAX_THREADS];
    /* two a core: the work is mostly signature checks, but a record not in
     * the page cache waits for the disk meanwhile */
    long cpus = sysconf(_SC_NPROCESSORS_ONLN);
    unsigned n = cpus < 1 ? 2 : cpus >= LOCAL_PASS_MAX_THREADS / 2 ? LOCAL_PASS_MAX_THREADS : 2 * (unsigned)cpus,
             started = 0;
    /* a dead refresher's in-flight marks, so no handshake waits on them */
    og_table_fetch_reset(r->cfg->table);
    if (r->cfg->cache && r->cfg->cache->load) {
        if (n > r->cfg->ntargets)
            n = r->cfg->ntargets;
        while (started + 1 < n && pthread_create(&threads[started], NULL, local_pass_thread, &lp) == 0)
            started++;
        local_pass_thread(&lp);  /* this thread helps (and does it all if none started) */
        for (unsigned k = 0; k < started; k++)
            pthread_join(threads[k], NULL);
    }
    og_table_local_finished(r->cfg->table);
}

int og_refresher_run(const og_refresher_cfg *cfg)
{
    refresher r;
    pthread_t *workers;
    unsigned nworkers = cfg->concurrency ? cfg->concurrency : 1, started = 0;
    memset(&r, 0, sizeof(r));
    r.cfg = cfg;
    r.clock = cfg->clock ? cfg->clock : og_clock_real();
    r.st = calloc(cfg->ntargets ? cfg->ntargets : 1, sizeof(*r.st));
    workers = calloc(nworkers, sizeof(*workers));
    if (!r.st || !workers || !group_responders(&r)) {
        free(r.st);
        free(r.resp);
        free(workers);
        return -1;
    }
    pthread_mutex_init(&r.lock, NULL);
    pthread_cond_init(&r.wake, NULL);
    pthread_mutex_init(&r.pace_lock, NULL);
    pthread_cond_init(&r.pace, NULL);
    if (cfg->fetch) {
        r.fetch = cfg->fetch;
        r.fetch_baton = cfg->fetch_baton;
    } else {
        /* NULL (out of memory): each fetch then uses a client of its own */
        r.http = og_http_client_new(&(og_http_config){ .log = cfg->log, .log_baton = cfg->log_baton });
        r.fetch = http_fetch;
        r.fetch_baton = r.http;
    }
    if (!control_start(&r))
        LOG(&r, OG_LOG_ERR, OG_LOGNO(01016) "out of memory: no run-time control and no notifications");
    {
        logq q = { 0 };
        load_initial(&r, now_s(&r), &q);
        logq_flush(&r, &q);
    }
    local_pass(&r, now_s(&r));
    if (nworkers > cfg->ntargets && cfg->ntargets > 0)
        nworkers = cfg->ntargets;
    for (unsigned i = 0; i < nworkers; i++) {
        clock_thread_start(&r);
        if (pthread_create(&workers[i], NULL, worker_main, &r) == 0)
            started++;
        else
            clock_thread_end(&r);
    }
    if (!started)
        LOG(&r, OG_LOG_ERR, OG_LOGNO(00623) "cannot start refresher threads (%s)", strerror(errno));
    for (;;) {
        if ((cfg->stop && *cfg->stop) || (cfg->parent && getppid() != cfg->parent) || !started)
            break;
        logq q = { 0 };
        pthread_mutex_lock(&r.lock);
        expire_stale(&r, now_s(&r), &q);
        r.clock->wake(r.clock->baton, &r.wake);
        pthread_mutex_unlock(&r.lock);
        logq_flush(&r, &q);
        og_http_client_sweep(r.http);
        if (cfg->cache && cfg->shared_state)
            og_table_note_shared_cache(cfg->table, cfg->shared_state(cfg->cache->baton));
        control_pass(&r, now_s(&r));
        control_sleep(&r);
    }
    pthread_mutex_lock(&r.lock);
    r.stopping = 1;
    r.clock->wake(r.clock->baton, &r.wake);
    pthread_mutex_unlock(&r.lock);
    pthread_mutex_lock(&r.pace_lock);
    r.pace_stop = 1;
    r.clock->wake(r.clock->baton, &r.pace);
    pthread_mutex_unlock(&r.pace_lock);
    for (unsigned i = 0; i < started; i++)
        pthread_join(workers[i], NULL);
    og_http_client_free(r.http);
    control_end(&r);
    pthread_cond_destroy(&r.pace);
    pthread_mutex_destroy(&r.pace_lock);
    pthread_cond_destroy(&r.wake);
    pthread_mutex_destroy(&r.lock);
    free(workers);
    free(r.resp);
    free(r.st);
    return 0;
}
