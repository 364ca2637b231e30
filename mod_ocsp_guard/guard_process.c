/* Copyright 2026 the mod_ocsp_guard developers. Licensed under the Apache License 2.0 (LICENSE). */
/* mod_ocsp_guard glue: the refresher process and the parent's watch. */
#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include "httpd.h"
#include "http_log.h"
#include "ap_listen.h"
#include "ap_mpm.h"
#include "mpm_common.h"
#include "apr_thread_proc.h"

#include "guard_config.h"
#include "guard_control.h"
#include "guard_log.h"
#include "guard_process.h"
#include "guard_table.h"

APLOG_USE_MODULE(ocsp_guard);

#define RESPAWN_INTERVAL apr_time_from_sec(5)
#define MUST_STAPLE_REPEAT 60
/* The parent waits for the refresher's pass over the local cache tier while
 * it makes progress: at most this long without one more certificate done,
 * and LOCAL_WAIT_MAX in all. */
#define LOCAL_STALL apr_time_from_sec(2)
#define LOCAL_WAIT_MAX apr_time_from_sec(60)
#define LOCAL_POLL apr_time_from_msec(5)
#define REFRESHER_STOP_WAIT_MS 5000

/* What the parent's monitor pass remembers per certificate, to rate-limit. */
typedef struct watch_state {
    time_t must_staple_logged;   /* last "must-staple without staple" error */
    int quarter_warned;          /* "little validity left" said for this response */
} watch_state;

static struct {
    guard_registry *registry;
    guard_cache *cache;
    watch_state *watch;          /* per target */
    pid_t pid;                   /* 0: no refresher running */
    apr_time_t spawned;
    apr_proc_t proc;
    server_rec *s;               /* main server */
    apr_pool_t *pconf;
} refresher;

void guard_process_reset(void)
{
    memset(&refresher, 0, sizeof(refresher));
}

/* In the refresher: socache_ocsp's sweep, put off by guard_cache_open,
 * once the local pass has read what start-up needs. */
static void *sweep_thread(void *arg)
{
    og_table *t = arg;
    while (!og_table_local_loaded(t, NULL))
        apr_sleep(apr_time_from_msec(100));
    guard_cache_sweep(refresher.cache);
    return NULL;
}

/* OCSPGuardNotifyCmd for the refresher, each certificate named by the
 * ServerName of its first virtual host (as mod_md names a domain). */
static void notify_config(server_rec *s, og_refresher_cfg *cfg, og_notify_cfg *notify)
{
    const apr_array_header_t *argv = guard_conf(s)->notify_argv;
    const apr_array_header_t *places = refresher.registry->places;
    const char **names;
    if (!argv)
        return;
    names = apr_palloc(refresher.pconf, sizeof(*names) * ((apr_size_t)places->nelts + 1));
    for (int i = 0; i < places->nelts; i++) {
        const server_rec *v = APR_ARRAY_IDX(places, i, const guard_place *)->s;
        names[i] = v->server_hostname ? v->server_hostname : "localhost";
    }
    memset(notify, 0, sizeof(*notify));
    notify->argv = (const char *const *)argv->elts;
    notify->argc = (unsigned)argv->nelts;
    notify->log = guard_log_core;
    notify->log_baton = s;
    cfg->notify = notify;
    cfg->names = names;
}

static void refresher_main(pid_t parent)
{
    static volatile sig_atomic_t never = 0;
    server_rec *s = refresher.s;
    og_refresher_cfg cfg;
    og_notify_cfg notify;
    og_cache_ops ops;
    sigset_t all;
    int sig;

    /* httpd's parent handlers make no sense here: plain defaults, nothing blocked. */
    for (sig = 1; sig < NSIG; sig++)
        signal(sig, SIG_DFL);
    /* a responder's or Redis's reset must fail a write, not kill us */
    signal(SIGPIPE, SIG_IGN);
    sigemptyset(&all);
    sigprocmask(SIG_SETMASK, &all, NULL);
    ap_close_listeners();
    if (ap_run_drop_privileges(refresher.pconf, s) != OK) {
        ap_log_error(APLOG_MARK, APLOG_CRIT, 0, s, GUARD_LOGNO(00401) "refresher: cannot drop "
                     "privileges; exiting");
        _exit(1);
    }
    /* only now: changing credentials clears the death signal; and the
     * parent may have died before it was set */
    prctl(PR_SET_PDEATHSIG, SIGTERM);
    if (getppid() != parent)
        _exit(0);
    memset(&cfg, 0, sizeof(cfg));
    cfg.targets = (og_target *)refresher.registry->targets->elts;
    cfg.ntargets = (unsigned)refresher.registry->targets->nelts;
    cfg.table = guard_table_current();
    cfg.concurrency = (unsigned)guard_conf(s)->concurrency;
    cfg.responder_rate = (unsigned)guard_conf(s)->responder_rate;
    guard_cache_ops(refresher.cache, &ops);
    cfg.cache = ops.load ? &ops : NULL;
    cfg.shared_state = guard_cache_shared_state;
    cfg.log = guard_log_core;
    cfg.log_baton = s;
    cfg.parent = parent;
    cfg.stop = &never;
    cfg.control = guard_control_current();
    notify_config(s, &cfg, &notify);
    ap_log_error(APLOG_MARK, APLOG_INFO, 0, s, GUARD_LOGNO(00402) "refresher %ld started for %u "
                 "certificate(s)", (long)getpid(), cfg.ntargets);
    if (cfg.cache) {
        pthread_t sweeper;
        if (pthread_create(&sweeper, NULL, sweep_thread, cfg.table) == 0)
            pthread_detach(sweeper);
    }
    og_refresher_run(&cfg);
    _exit(0);
}

static void refresher_maint(int reason, void *data, apr_wait_t status)
{
    server_rec *s = data;
    switch (reason) {
    case APR_OC_REASON_DEATH:
    case APR_OC_REASON_LOST:
        ap_log_error(APLOG_MARK, APLOG_ERR, 0, s, GUARD_LOGNO(00403) "refresher process %ld ended "
                     "(status %d); a new one starts within seconds, stapling goes on from memory",
                     (long)refresher.pid, (int)status);
        apr_proc_other_child_unregister(s);
        refresher.pid = 0;
        /* counted where every child can read it (ocsp_guard_refresher_restarts_total) */
        if (guard_table_current())
            og_table_note_restart(guard_table_current());
        break;
    default:
        break;
    }
}

static apr_status_t refresher_stop(void *data);

static apr_status_t refresher_spawn(void)
{
    pid_t parent = getpid(), pid = fork();
    if (pid < 0)
        return errno;
    if (pid == 0)
        refresher_main(parent);
    refresher.pid = pid;
    refresher.spawned = apr_time_now();
    refresher.proc.pid = pid;
    apr_proc_other_child_register(&refresher.proc, refresher_maint, refresher.s, NULL, refresher.pconf);
    /* Registering puts APR's own unregistering cleanup on pconf; ours must
     * run before it (cleanups run last-registered first), or it would
     * unregister a record APR already dropped, which crashes in APR. A
     * respawn from the monitor hook registers anew, so move ours after. */
    apr_pool_cleanup_kill(refresher.pconf, NULL, refresher_stop);
    apr_pool_cleanup_register(refresher.pconf, NULL, refresher_stop, apr_pool_cleanup_null);
    return APR_SUCCESS;
}

/* 1 once pid is reaped, 0 when it is still there after ms. */
static int reaped_within(pid_t pid, int ms)
{
    for (int waited = 0;; waited += 10) {
        pid_t got = waitpid(pid, NULL, WNOHANG);
        if (got == pid || (got < 0 && errno != EINTR))
            return 1;
        if (waited >= ms)
            return 0;
        apr_sleep(apr_time_from_msec(10));
    }
}

/* The refresher runs as the server's user, who can stop it (SIGSTOP) or
 * slow it: the parent asks, then waits a bounded time, then kills. */
static apr_status_t refresher_stop(void *data)
{
    (void)data;
    if (refresher.pid > 0) {
        pid_t pid = refresher.pid;
        refresher.pid = 0;
        apr_proc_other_child_unregister(refresher.s);
        kill(pid, SIGTERM);
        kill(pid, SIGCONT);      /* a stopped process acts on SIGTERM only once it runs */
        if (!reaped_within(pid, REFRESHER_STOP_WAIT_MS)) {
            ap_log_error(APLOG_MARK, APLOG_WARNING, 0, refresher.s, GUARD_LOGNO(00408) "refresher "
                         "process %ld did not stop within %d ms; killed", (long)pid,
                         REFRESHER_STOP_WAIT_MS);
            kill(pid, SIGKILL);
            while (waitpid(pid, NULL, 0) < 0 && errno == EINTR)
                ;
        }
    }
    return APR_SUCCESS;
}

apr_status_t guard_process_start(server_rec *s, apr_pool_t *pconf, guard_registry *r, guard_cache *c)
{
    apr_status_t rv;
    refresher.registry = r;
    refresher.cache = c;
    refresher.s = s;
    refresher.pconf = pconf;
    refresher.watch = apr_pcalloc(pconf, sizeof(watch_state) * (apr_size_t)r->targets->nelts);
    if ((rv = refresher_spawn()) != APR_SUCCESS) {
        ap_log_error(APLOG_MARK, APLOG_ERR, rv, s, GUARD_LOGNO(00404) "cannot fork the refresher "
                     "process; handshakes get no staple");
        return rv;
    }
    return APR_SUCCESS;
}

/* Must-staple certificates without a staple: an error at most once a
 * minute, once a first fetch ended without one (not while one is in flight,
 * which handshakes wait for). */
static void watch_must_staple(server_rec *s, const og_target *t, watch_state *w, int stapled,
                              time_t now)
{
    uint32_t f;
    if (!t->cert->must_staple || stapled || now - w->must_staple_logged < MUST_STAPLE_REPEAT)
        return;
    f = og_table_flags(guard_table_current(), t->slot);
    if ((f & OG_SLOT_FETCHING) || !(f & OG_SLOT_TRIED))
        return;
    w->must_staple_logged = now;
    ap_log_error(APLOG_MARK, APLOG_ERR, 0, s, GUARD_LOGNO(00405) "%s is must-staple and has no "
                 "valid staple: clients that honour must-staple refuse it until %s answers",
                 t->cert->name, t->url);
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
    ap_log_error(APLOG_MARK, APLOG_WARNING, 0, s, GUARD_LOGNO(00406) "%s: only %" APR_INT64_T_FMT
                 " s of the response's %" APR_INT64_T_FMT " s validity left and no fresher "
                 "response: refreshes from %s keep failing; the staple stops when it expires",
                 t->cert->name, (apr_int64_t)left, (apr_int64_t)window, t->url);
}

void guard_process_monitor(server_rec *s)
{
    const og_target *t;
    time_t now = time(NULL);
    if (!guard_table_current() || !refresher.registry || !refresher.watch)
        return;
    if (refresher.pid == 0 && apr_time_now() - refresher.spawned > RESPAWN_INTERVAL)
        refresher_spawn();
    t = (const og_target *)refresher.registry->targets->elts;
    for (int i = 0; i < refresher.registry->targets->nelts; i++) {
        og_slot_meta m;
        int stapled = guard_table_stapled_nowait(t[i].slot, now, &m);
        if (stapled < 0)
            continue;            /* mid-write: looked at again next second */
        watch_must_staple(s, &t[i], &refresher.watch[i], stapled, now);
        watch_validity(s, &t[i], &refresher.watch[i], &m, stapled, now);
    }
}

/* Until the refresher has looked at every certificate's local cache record
 * (verified and published what it found), while it makes progress. */
static void wait_local_tier(server_rec *s, apr_time_t start)
{
    og_table *t = guard_table_current();
    apr_time_t now = start, progressed = start;
    unsigned done = 0, seen = 0, total = og_table_count(t);
    while (!og_table_local_loaded(t, &done)) {
        now = apr_time_now();
        /* the count is in memory the server's user can write: only a rise
         * up to the number of certificates is progress, and LOCAL_WAIT_MAX
         * holds whatever it says */
        if (done > seen && done <= total) {
            seen = done;
            progressed = now;
        }
        if (now - progressed > LOCAL_STALL || now - start > LOCAL_WAIT_MAX) {
            ap_log_error(APLOG_MARK, APLOG_WARNING, 0, s, GUARD_LOGNO(00702) "startup: the "
                         "refresher looked at the local cache for only %u of %u certificate(s) "
                         "in %" APR_TIME_T_FMT " ms and stalled; children accept now, the rest "
                         "get a staple when it is loaded or fetched", seen, total,
                         apr_time_as_msec(now - start));
            return;
        }
        apr_sleep(LOCAL_POLL);
    }
    ap_log_error(APLOG_MARK, APLOG_INFO, 0, s, GUARD_LOGNO(00701) "startup: %u of %u "
                 "certificate(s) have a verified staple after the local cache was read (%"
                 APR_TIME_T_FMT " ms)", guard_table_count_stapled(), total,
                 apr_time_as_msec(apr_time_now() - start));
}

void guard_process_startup_wait(server_rec *s, int seconds, int restarted)
{
    apr_time_t start = apr_time_now(), deadline = start + apr_time_from_sec(seconds);
    unsigned total = og_table_count(guard_table_current()), have;
    const og_target *t = (const og_target *)refresher.registry->targets->elts;
    time_t now;
    /* Always, even with OCSPGuardStartupWait 0 and on graceful restarts
     * (where it covers only what was not carried over): reading files costs
     * no responder a request and takes little time. */
    wait_local_tier(s, start);
    if (restarted)
        return;
    /* First fetches begin now: a must-staple certificate's handshakes may
     * wait for its first one (guard_table_staple_wait). */
    if (seconds > 0)
        og_table_set_startup_mark(guard_table_current(), og_table_now_ms());
    have = guard_table_count_stapled();
    while (have < total && apr_time_now() < deadline) {
        apr_sleep(apr_time_from_msec(50));
        have = guard_table_count_stapled();
    }
    ap_log_error(APLOG_MARK, have < total ? APLOG_WARNING : APLOG_INFO, 0, s, GUARD_LOGNO(00407)
                 "startup: %u of %u certificate(s) have a verified staple after %" APR_TIME_T_FMT
                 " ms%s", have, total, apr_time_as_msec(apr_time_now() - start),
                 have < total ? " (OCSPGuardStartupWait); the rest get one when their responder "
                 "answers" : "");
    now = time(NULL);
    for (int i = 0; i < refresher.registry->targets->nelts; i++) {
        og_slot_meta m;
        watch_must_staple(s, &t[i], &refresher.watch[i], guard_table_stapled(t[i].slot, now, &m), now);
    }
}
