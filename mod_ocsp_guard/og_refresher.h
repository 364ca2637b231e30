/* Copyright 2026 the mod_ocsp_guard developers. Licensed under the Apache License 2.0 (LICENSE). */
/* The background refresher: fetches, verifies and publishes responses into
 * the staple table, and keeps them fresh. Runs in its own process (the glue
 * forks it) with a few worker threads; knows nothing of httpd. */
#ifndef OG_REFRESHER_H
#define OG_REFRESHER_H

#include <signal.h>
#include <sys/types.h>
#include "og_clock.h"
#include "og_control.h"
#include "og_notify.h"
#include "og_ocsp.h"
#include "og_table.h"

typedef struct og_target {
    og_cert *cert;
    const char *url;             /* responder URL: OCSPGuardResponder or the AIA's */
    const char *proxy;           /* NULL: direct */
    int refresh_pct;
    int timeout;                 /* seconds, whole exchange */
    long max_skew;               /* seconds */
    unsigned slot;               /* in the staple table */
} og_target;

/* Optional persistence (socache_ocsp or any socache): raw DER by id. Called
 * from the refresher's worker threads, never under a lock other workers or
 * the expiry loop wait on; the refresher does not call two ops for the same
 * id at once. */
typedef struct og_cache_ops {
    void *baton;
    /* 1 and the DER in buf when found. With load_shared set, the local tier
     * only (the shared tier is then read through load_shared alone). */
    int (*load)(void *baton, const unsigned char *id, unsigned char *buf, size_t cap, size_t *len);
    /* Optional: the shared (cluster) tier alone, where a peer may have
     * stored a newer response; consulted at start when load finds nothing
     * usable, and before each fetch. What it gives is verified, then stored. */
    int (*load_shared)(void *baton, const unsigned char *id, unsigned char *buf, size_t cap,
                       size_t *len);
    /* 1 when stored; expiry is og_cache_expiry's (nextUpdate; later for a
     * revocation, which the cache must keep) */
    int (*store)(void *baton, const unsigned char *id, const unsigned char *der, size_t len,
                 time_t expiry);
} og_cache_ops;

/* The responder exchange for t: 1 and the answer's body (malloc'd) in
 * *resp; 0 and err filled (printable, for a log line) when no usable answer
 * came: connection, timeout, HTTP status, content type, size. The default
 * is og_http_fetch on one client the workers share; tests put in their own. */
typedef int og_fetch_fn(void *baton, const og_target *t, const unsigned char *req,
                        size_t req_len, unsigned char **resp, size_t *resp_len, char *err,
                        size_t errlen);

typedef struct og_refresher_cfg {
    og_target *targets;
    unsigned ntargets;
    og_table *table;
    unsigned concurrency;        /* fetches in flight at most */
    const og_cache_ops *cache;   /* NULL: memory only */
    /* Optional: the shared cache tier's health (OG_SHARED_*) for the status
     * views, asked with cache->baton by the main loop once a second, so it
     * may briefly probe a tier it has not heard from for a while. */
    int (*shared_state)(void *baton);
    og_log_fn *log;
    void *log_baton;
    pid_t parent;                /* exit once the parent is gone (0: no check) */
    volatile sig_atomic_t *stop; /* exit when it becomes non-zero (seen within a second) */
    unsigned responder_rate;     /* requests a second per responder at most; 0: no limit */
    const og_clock *clock;       /* NULL: the real one */
    og_fetch_fn *fetch;          /* NULL: og_http */
    void *fetch_baton;
    /* Run-time control: refresh requests and imports from the children, and
     * where notifications are remembered. NULL: none (memory of its own). */
    og_control *control;
    const og_notify_cfg *notify; /* OCSPGuardNotifyCmd; NULL: no notifications */
    const char *const *names;    /* per target, its name in notifications; NULL: subjects */
} og_refresher_cfg;

/* Loads what the table and the cache already hold, then refreshes until
 * told to stop. Returns 0 on a clean stop. Its worker threads are
 * announced to the clock (thread_start/thread_end); the thread that calls
 * it is the caller's to announce. */
int og_refresher_run(const og_refresher_cfg *cfg);

/* Outcome of one fetch for one target, as the loop and the tests see it. */
typedef struct og_fetch_outcome {
    og_verify_result verify;     /* OG_VERIFY_OK when a response was verified */
    int fetched;                 /* 0: the HTTP exchange itself failed */
    og_resp_info info;
    unsigned char *der;          /* malloc'd when verify is OK */
    size_t der_len;
    char why[256];
    time_t started;              /* when the exchange began */
    unsigned duration_ms;        /* how long the HTTP exchange took */
} og_fetch_outcome;

/* One fetch with og_http (a client of its own) and the answer verified at
 * time now; no table or cache involved. */
void og_fetch_and_verify(const og_target *t, time_t now, og_fetch_outcome *out);

/* What a certificate's responses have shown so far: the newest one accepted
 * (remembered after it expired and its slot was cleared) and the newest
 * revocation seen, which the cache keeps across restarts. */
typedef struct og_resp_known {
    og_cert_status status;       /* of the newest accepted; OG_STATUS_NONE: none yet */
    time_t this_update;
    time_t produced_at;
    int revoked;                 /* 1: a revocation was seen, thisUpdate revoked_floor */
    time_t revoked_floor;
} og_resp_known;

typedef enum {
    OG_REPLACE_OLDER = 0,        /* refused: older than what was seen (a replay?) */
    OG_REPLACE_NEWER = 1,        /* may replace it */
    OG_REPLACE_SAME = 2          /* the same response again (same times and status) */
} og_replace;

/* The one rule for what may replace what is known, for fetched and cached
 * responses alike: never an older thisUpdate (then producedAt); at equal
 * times a revocation beats good; never anything older than a revocation
 * seen, nor a good response as old as it. */
og_replace og_response_may_replace(const og_resp_known *known, const og_resp_info *cand);
/* Records an accepted (OG_REPLACE_NEWER) response. */
void og_resp_known_accept(og_resp_known *known, const og_resp_info *info);
/* Records a revocation that can no longer be stapled (expired): its
 * thisUpdate still bounds what may be stapled. */
void og_resp_known_revoked(og_resp_known *known, time_t this_update);

/* A revocation is kept in the cache this long after its nextUpdate, so that
 * after a restart it still refuses older responses (replays) the responder's
 * path may serve. */
#define OG_REVOKED_KEEP (400L * 86400)
/* The expiry to store a verified response with. */
time_t og_cache_expiry(const og_resp_info *info, time_t now);

/* Verifies DER from a store and publishes it into the table if valid and
 * newer (og_response_may_replace) than the slot's; returns 1 when
 * published. For a caller that is the slot's only writer. */
int og_adopt_response(og_table *table, const og_target *t, const unsigned char *der,
                      size_t len, time_t now, uint32_t source, og_resp_info *info);

#endif
