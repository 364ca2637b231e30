/* The background refresher: fetches, verifies and publishes responses into
 * the staple table, and keeps them fresh. Runs in its own process (the glue
 * forks it) with a few worker threads; knows nothing of httpd. */
#ifndef OG_REFRESHER_H
#define OG_REFRESHER_H

#include <signal.h>
#include <sys/types.h>
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

/* Optional persistence (socache_ocsp or any socache): raw DER by id. */
typedef struct og_cache_ops {
    void *baton;
    /* 1 and the DER in buf when found */
    int (*load)(void *baton, const unsigned char *id, unsigned char *buf, size_t cap, size_t *len);
    /* Optional: the shared (cluster) tier alone, where a peer may have
     * stored a newer response; consulted before each fetch. */
    int (*load_shared)(void *baton, const unsigned char *id, unsigned char *buf, size_t cap,
                       size_t *len);
    /* 1 when stored; expiry is the response's nextUpdate */
    int (*store)(void *baton, const unsigned char *id, const unsigned char *der, size_t len,
                 time_t expiry);
} og_cache_ops;

typedef struct og_refresher_cfg {
    og_target *targets;
    unsigned ntargets;
    og_table *table;
    unsigned concurrency;        /* fetches in flight at most */
    const og_cache_ops *cache;   /* NULL: memory only */
    og_log_fn *log;
    void *log_baton;
    pid_t parent;                /* exit once the parent is gone (0: no check) */
    volatile sig_atomic_t *stop; /* exit when it becomes non-zero */
} og_refresher_cfg;

/* Loads what the table and the cache already hold, then refreshes until
 * told to stop. Returns 0 on a clean stop. */
int og_refresher_run(const og_refresher_cfg *cfg);

/* Outcome of one fetch for one target, as the loop and the tests see it. */
typedef struct og_fetch_outcome {
    og_verify_result verify;     /* OG_VERIFY_OK when a response was verified */
    int fetched;                 /* 0: the HTTP exchange itself failed */
    og_resp_info info;
    unsigned char *der;          /* malloc'd when verify is OK */
    size_t der_len;
    char why[256];
} og_fetch_outcome;

/* One fetch and verification at time now; no table or cache involved. */
void og_fetch_and_verify(const og_target *t, time_t now, og_fetch_outcome *out);

/* Verifies DER from a store and publishes it into the table if valid and
 * newer than the slot's; returns 1 when published. */
int og_adopt_response(og_table *table, const og_target *t, const unsigned char *der,
                      size_t len, time_t now, uint32_t source, og_resp_info *info);

#endif
