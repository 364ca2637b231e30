/* Copyright 2026 the mod_ocsp_guard developers. Licensed under the Apache License 2.0 (LICENSE). */
/* Notifications (OCSPGuardNotifyCmd): which state change of a certificate
 * gives which reason, how often (pure: every function takes now), and the
 * runner that starts the operator's program for each one: at most a few at
 * once, each killed after a timeout, a bounded queue for the rest. Used by
 * the refresher only: never by the parent, never in a handshake. */
#ifndef OG_NOTIFY_H
#define OG_NOTIFY_H

#include <stdint.h>
#include <sys/types.h>
#include <time.h>
#include "og_ocsp.h"

/* The reasons, in mod_md's MDMessageCmd style. */
typedef enum {
    OG_NOTIFY_RENEWED = 0,       /* a newer response is stapled (at most daily) */
    OG_NOTIFY_ERRORED,           /* a refresh failed (at most hourly) */
    OG_NOTIFY_EXPIRED,           /* the stapled response expired with nothing newer */
    OG_NOTIFY_REVOKED,           /* a revocation is stapled (once) */
    OG_NOTIFY_UNSTAPLED,         /* must-staple certificate without a staple */
    OG_NOTIFY_VALIDITY_LOW,      /* under a quarter of the validity left, refreshes not renewing */
    OG_NOTIFY_RECOVERED,         /* a fresh response after one of the troubles above */
    OG_NOTIFY_NREASONS
} og_notify_reason;

#define OG_NOTIFY_RENEWED_EVERY 86400   /* ocsp-renewed at most this often per certificate */
#define OG_NOTIFY_ERRORED_EVERY 3600    /* ocsp-errored at most this often per certificate */

/* "ocsp-renewed", "ocsp-errored", ..., "must-staple-unstapled". */
const char *og_notify_reason_name(og_notify_reason r);

/* What has been said about one certificate. Lives in the control region's
 * shared memory so that a restarted refresher, and the next generation after
 * a graceful restart, keep the limits; only the refresher writes it. Plain
 * integers: garbage in it can suppress or repeat a notification, nothing
 * else. */
typedef struct og_notify_mem {
    int64_t this_update;         /* of the newest response seen stapled */
    int64_t next_update;         /* of that response */
    int64_t renewed_at;          /* when ocsp-renewed was last sent (0: never) */
    int64_t errored_at;          /* when ocsp-errored was last sent (0: never) */
    int64_t low_for;             /* thisUpdate ocsp-validity-low was sent for */
    uint32_t flags;              /* OG_NOTIFY_F_* */
    uint32_t pad;
} og_notify_mem;

enum {
    OG_NOTIFY_F_SEEN = 1,        /* a response was seen stapled */
    OG_NOTIFY_F_TROUBLE = 2,     /* a trouble was sent; the next fresh response is ocsp-recovered */
    OG_NOTIFY_F_ERRORING = 4,    /* this run of failures was told (ocsp-errored) */
    OG_NOTIFY_F_EXPIRED = 8,     /* ocsp-expired sent for the response in this_update */
    OG_NOTIFY_F_UNSTAPLED = 16,  /* must-staple-unstapled sent, no staple since */
    OG_NOTIFY_F_REVOKED = 32     /* ocsp-revoked sent */
};

/* One look at a certificate, as the refresher sees it. */
typedef struct og_notify_facts {
    int stapled;                 /* the slot holds a response that may be stapled now */
    og_cert_status status;       /* of that response */
    time_t this_update, next_update;
    int fresh_source;            /* it came from the responder, an import or a cluster
                                  * peer (not this server's cache or the last generation) */
    unsigned failures;           /* consecutive failed refreshes (0: the last one worked) */
    int not_renewing;            /* refreshes answer, but with nothing newer */
    int must_staple;
} og_notify_facts;

#define OG_NOTIFY_MAX_PER_LOOK 4

/* Compares f with what m remembers, updates m, and writes the reasons to
 * send, in order, into out (at most OG_NOTIFY_MAX_PER_LOOK); returns how
 * many. The rules:
 * - a newer response stapled: revoked -> ocsp-revoked (once); good after a
 *   trouble -> ocsp-recovered; else ocsp-renewed, at most daily, and not
 *   for the first response seen when it came from the cache or the last
 *   generation (a restart renews nothing);
 * - the response seen stapled expired -> ocsp-expired (once per response);
 * - a must-staple certificate without a staple after a failed refresh or an
 *   expiry -> must-staple-unstapled (once until stapled again);
 * - failures -> ocsp-errored once per run of failures, at most hourly (a run
 *   whose start fell in the hour is told once the hour is over);
 * - less than a quarter of the validity left while refreshes fail or bring
 *   nothing newer -> ocsp-validity-low (once per response).
 * Troubles are errored, expired, unstapled and validity-low. */
unsigned og_notify_look(og_notify_mem *m, const og_notify_facts *f, time_t now,
                        og_notify_reason out[OG_NOTIFY_MAX_PER_LOOK]);

/* ---- the runner ----
 * Programs for different NAMEs run side by side (at most running_max); a
 * NAME's own programs run one at a time, each started only once the one
 * before it for that NAME ended (or was killed at the timeout), in the
 * order the events were posted. So what a program does for a certificate
 * (a mail, a state file per NAME) is done in the order of its changes, and
 * the last one reflects its state; a program that hangs delays only its
 * NAME's next notifications, by at most the timeout. Within one notifier:
 * programs a previous refresher started are not waited for. */

#define OG_NOTIFY_RUNNING_MAX 4      /* programs running at once */
#define OG_NOTIFY_QUEUE_MAX 64       /* waiting; beyond, the oldest is dropped */
#define OG_NOTIFY_TIMEOUT 30         /* seconds before the program's group is killed */

typedef struct og_notify_cfg {
    const char *const *argv;     /* program (absolute) and its configured arguments */
    unsigned argc;
    unsigned running_max;        /* 0: OG_NOTIFY_RUNNING_MAX */
    unsigned queue_max;          /* 0: OG_NOTIFY_QUEUE_MAX */
    unsigned timeout;            /* seconds; 0: OG_NOTIFY_TIMEOUT */
    og_log_fn *log;
    void *log_baton;
} og_notify_cfg;

/* One notification: the program gets argv, then reason, then name; the
 * environment holds PATH and the OCSP_GUARD_* variables below. */
typedef struct og_notify_event {
    og_notify_reason reason;
    const char *name;            /* the certificate's name (its virtual host's ServerName) */
    const og_cert *cert;         /* subject, serial, id */
    const char *url;             /* responder */
    time_t next_update;          /* of the last response seen (0: none) */
} og_notify_event;

typedef struct og_notifier og_notifier;

/* NULL when out of memory. The configuration is copied. */
og_notifier *og_notifier_new(const og_notify_cfg *cfg);
/* Queues the event (copied); the program starts at the next tick with a free
 * place and no program running or waiting for the same name before it. A
 * full queue drops its oldest event. Never logs (the caller may
 * hold a lock): drops are logged at the next tick. */
void og_notifier_post(og_notifier *n, const og_notify_event *ev);
/* og_notify_look, then each reason posted as ev (its reason and
 * next_update filled: of the response stapled, else of the last one seen).
 * Returns how many. */
unsigned og_notifier_look(og_notifier *n, og_notify_mem *m, const og_notify_facts *f, time_t now,
                          og_notify_event *ev);
/* Reaps finished programs (a non-zero status is logged), kills those past
 * the timeout (their whole process group), starts queued ones (the oldest
 * first, skipping those whose name is busy). Call about
 * once a second from one thread. */
void og_notifier_tick(og_notifier *n);
/* Programs running now, events waiting. */
unsigned og_notifier_running(const og_notifier *n);
unsigned og_notifier_queued(const og_notifier *n);
/* Forgets the queue; programs still running are left to finish. Each is
 * started with an alarm a little after the timeout, which ends a program
 * that does not catch SIGALRM even when no refresher is left to kill it. */
void og_notifier_free(og_notifier *n);

#endif
