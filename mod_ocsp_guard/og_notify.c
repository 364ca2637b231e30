/* Copyright 2026 the mod_ocsp_guard developers. Licensed under the Apache License 2.0 (LICENSE). */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE              /* close_range */
#endif
#include "og_notify.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#define LOG(n, level, ...) OG_LOG((n)->cfg.log, (n)->cfg.log_baton, level, __VA_ARGS__)

/* The programs' whole environment: nothing of httpd's is passed on. */
#define NOTIFY_PATH "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
/* The alarm that ends a program when no refresher is left to kill it. */
#define ALARM_GRACE 5

static const char *const reason_names[OG_NOTIFY_NREASONS] = {
    "ocsp-renewed", "ocsp-errored", "ocsp-expired", "ocsp-revoked", "must-staple-unstapled",
    "ocsp-validity-low", "ocsp-recovered"
};

const char *og_notify_reason_name(og_notify_reason r)
{
    return (unsigned)r < OG_NOTIFY_NREASONS ? reason_names[r] : "?";
}

/* ---- which reason for which change ---- */

/* 1 when every seconds have passed since last (0: never); a last in the
 * future (a clock set back, or garbage) does not silence it for ever. */
static int due(int64_t last, time_t now, long every)
{
    int64_t since;
    if (last == 0 || __builtin_sub_overflow((int64_t)now, last, &since))
        return 1;
    return since >= every || since < 0;
}

unsigned og_notify_look(og_notify_mem *m, const og_notify_facts *f, time_t now,
                        og_notify_reason out[OG_NOTIFY_MAX_PER_LOOK])
{
    unsigned n = 0;
    if (f->failures > 0) {
        /* once per run of failures; a run that starts within the hour of the
         * last one is told when the hour is over, if it still lasts */
        if (!(m->flags & OG_NOTIFY_F_ERRORING) && due(m->errored_at, now, OG_NOTIFY_ERRORED_EVERY)) {
            out[n++] = OG_NOTIFY_ERRORED;
            m->errored_at = now;
            m->flags |= OG_NOTIFY_F_ERRORING | OG_NOTIFY_F_TROUBLE;
        }
    } else {
        m->flags &= ~(uint32_t)OG_NOTIFY_F_ERRORING;
    }
    if (f->stapled) {
        int first = !(m->flags & OG_NOTIFY_F_SEEN);
        if (first || (int64_t)f->this_update > m->this_update) {
            m->this_update = f->this_update;
            m->next_update = f->next_update;
            m->flags |= OG_NOTIFY_F_SEEN;
            m->flags &= ~(uint32_t)(OG_NOTIFY_F_EXPIRED | OG_NOTIFY_F_UNSTAPLED);
            if (f->status == OG_STATUS_GOOD) {
                m->flags &= ~(uint32_t)OG_NOTIFY_F_REVOKED;
                if (m->flags & OG_NOTIFY_F_TROUBLE) {
                    if (f->failures == 0) {
                        out[n++] = OG_NOTIFY_RECOVERED;
                        m->flags &= ~(uint32_t)OG_NOTIFY_F_TROUBLE;
                    }
                } else if ((!first || f->fresh_source) &&
                           due(m->renewed_at, now, OG_NOTIFY_RENEWED_EVERY)) {
                    /* a restart that loads the cache renews nothing */
                    out[n++] = OG_NOTIFY_RENEWED;
                    m->renewed_at = now;
                }
            }
        }
        if (f->status == OG_STATUS_REVOKED && !(m->flags & OG_NOTIFY_F_REVOKED)) {
            /* the end of this certificate: no trouble left to recover from */
            out[n++] = OG_NOTIFY_REVOKED;
            m->flags |= OG_NOTIFY_F_REVOKED;
            m->flags &= ~(uint32_t)OG_NOTIFY_F_TROUBLE;
        }
        if ((f->failures > 0 || f->not_renewing) && m->low_for != (int64_t)f->this_update) {
            int64_t window = (int64_t)f->next_update - f->this_update;
            int64_t left = (int64_t)f->next_update - now;
            if (window > 0 && left < window / 4) {
                out[n++] = OG_NOTIFY_VALIDITY_LOW;
                m->low_for = f->this_update;
                m->flags |= OG_NOTIFY_F_TROUBLE;
            }
        }
    } else {
        if ((m->flags & OG_NOTIFY_F_SEEN) && !(m->flags & OG_NOTIFY_F_EXPIRED) &&
            m->next_update != 0 && (int64_t)now >= m->next_update) {
            out[n++] = OG_NOTIFY_EXPIRED;
            m->flags |= OG_NOTIFY_F_EXPIRED | OG_NOTIFY_F_TROUBLE;
        }
        /* not before a refresh was tried: a start-up fetch takes a moment */
        if (f->must_staple && !(m->flags & OG_NOTIFY_F_UNSTAPLED) &&
            (f->failures > 0 || (m->flags & OG_NOTIFY_F_EXPIRED))) {
            out[n++] = OG_NOTIFY_UNSTAPLED;
            m->flags |= OG_NOTIFY_F_UNSTAPLED | OG_NOTIFY_F_TROUBLE;
        }
    }
    return n;
}

/* ---- the runner ---- */

typedef struct pending {
    char **argv;                 /* NULL-ended, malloc'd with its strings */
    char **envp;
    char *what;                  /* "REASON NAME", for log lines */
    char *name;                  /* NAME: one program at a time for each */
} pending;

typedef struct running {
    pid_t pid;
    struct timespec started;
    int killed;
    char *what;
    char *name;
} running;

struct og_notifier {
    og_notify_cfg cfg;
    pending *queue;              /* ring of cfg.queue_max */
    unsigned head, queued;
    running *run;                /* cfg.running_max */
    unsigned nrun;
    unsigned dropped;            /* since the last tick: queue full */
    char last_dropped[160];
    unsigned lost;               /* since the last tick: out of memory */
};

static void free_strv(char **v)
{
    if (!v)
        return;
    for (char **p = v; *p; p++)
        free(*p);
    free(v);
}

static void pending_free(pending *p)
{
    free_strv(p->argv);
    free_strv(p->envp);
    free(p->what);
    free(p->name);
    memset(p, 0, sizeof(*p));
}

og_notifier *og_notifier_new(const og_notify_cfg *cfg)
{
    og_notifier *n = calloc(1, sizeof(*n));
    if (!n || !cfg->argc)
        goto fail;
    n->cfg = *cfg;
    if (!n->cfg.running_max)
        n->cfg.running_max = OG_NOTIFY_RUNNING_MAX;
    if (!n->cfg.queue_max)
        n->cfg.queue_max = OG_NOTIFY_QUEUE_MAX;
    if (!n->cfg.timeout)
        n->cfg.timeout = OG_NOTIFY_TIMEOUT;
    n->queue = calloc(n->cfg.queue_max, sizeof(*n->queue));
    n->run = calloc(n->cfg.running_max, sizeof(*n->run));
    if (!n->queue || !n->run)
        goto fail;
    return n;
fail:
    if (n) {
        free(n->queue);
        free(n->run);
        free(n);
    }
    return NULL;
}

static char *env_var(const char *name, const char *value)
{
    size_t len = strlen(name) + strlen(value) + 2;
    char *s = malloc(len);
    if (s)
        snprintf(s, len, "%s=%s", name, value);
    return s;
}

/* argv and envp for ev, built now (a child after fork may not allocate). */
static int build(og_notifier *n, const og_notify_event *ev, pending *p)
{
    const char *reason = og_notify_reason_name(ev->reason);
    const char *name = ev->name ? ev->name : ev->cert->subject;
    char id[2 * OG_ID_LEN + 1], nu[32] = "";
    unsigned argc = n->cfg.argc + 2, i;
    for (i = 0; i < OG_ID_LEN; i++)
        snprintf(id + 2 * i, 3, "%02x", ev->cert->id[i]);
    if (ev->next_update)
        og_format_time(ev->next_update, nu, sizeof(nu));
    p->argv = calloc(argc + 1, sizeof(char *));
    p->envp = calloc(9, sizeof(char *));
    if (!p->argv || !p->envp)
        return 0;
    for (i = 0; i < n->cfg.argc; i++)
        if (!(p->argv[i] = strdup(n->cfg.argv[i])))
            return 0;
    if (!(p->argv[i++] = strdup(reason)) || !(p->argv[i] = strdup(name)))
        return 0;
    p->envp[0] = strdup(NOTIFY_PATH);
    p->envp[1] = env_var("OCSP_GUARD_REASON", reason);
    p->envp[2] = env_var("OCSP_GUARD_NAME", name);
    p->envp[3] = env_var("OCSP_GUARD_SUBJECT", ev->cert->subject ? ev->cert->subject : "");
    p->envp[4] = env_var("OCSP_GUARD_SERIAL", ev->cert->serial ? ev->cert->serial : "");
    p->envp[5] = env_var("OCSP_GUARD_CERT_ID", id);
    p->envp[6] = env_var("OCSP_GUARD_RESPONDER", ev->url ? ev->url : "");
    p->envp[7] = env_var("OCSP_GUARD_NEXT_UPDATE", nu);
    for (i = 0; i < 8; i++)
        if (!p->envp[i])
            return 0;
    p->what = malloc(strlen(reason) + strlen(name) + 2);
    if (!p->what)
        return 0;
    sprintf(p->what, "%s %s", reason, name);
    return (p->name = strdup(name)) != NULL;
}

void og_notifier_post(og_notifier *n, const og_notify_event *ev)
{
    pending p = { 0 };
    if (!n)
        return;
    if (!build(n, ev, &p)) {
        pending_free(&p);
        n->lost++;
        return;
    }
    if (n->queued == n->cfg.queue_max) {
        pending *old = &n->queue[n->head];
        snprintf(n->last_dropped, sizeof(n->last_dropped), "%s", old->what);
        n->dropped++;
        pending_free(old);
        n->head = (n->head + 1) % n->cfg.queue_max;
        n->queued--;
    }
    n->queue[(n->head + n->queued) % n->cfg.queue_max] = p;
    n->queued++;
}

unsigned og_notifier_look(og_notifier *n, og_notify_mem *m, const og_notify_facts *f, time_t now,
                          og_notify_event *ev)
{
    og_notify_reason why[OG_NOTIFY_MAX_PER_LOOK];
    unsigned k = og_notify_look(m, f, now, why);
    for (unsigned i = 0; i < k; i++) {
        ev->reason = why[i];
        ev->next_update = f->stapled ? f->next_update : (time_t)m->next_update;
        og_notifier_post(n, ev);
    }
    return k;
}

static double elapsed(const struct timespec *since)
{
    struct timespec now;
    clock_gettime(CLOCK_MONOTONIC, &now);
    return (double)(now.tv_sec - since->tv_sec) + (double)(now.tv_nsec - since->tv_nsec) / 1e9;
}

/* In the child of a multi-threaded process: async-signal-safe calls only. */
static void child_exec(const pending *p, unsigned alarm_at)
{
    struct sigaction dfl;
    sigset_t none;
    int fd;
    setpgid(0, 0);               /* its own group: a timeout kills what it started too */
    memset(&dfl, 0, sizeof(dfl));
    dfl.sa_handler = SIG_DFL;
    for (int sig = 1; sig < NSIG; sig++)
        sigaction(sig, &dfl, NULL);   /* the refresher ignores SIGPIPE; the program must not */
    sigemptyset(&none);
    sigprocmask(SIG_SETMASK, &none, NULL);
    if ((fd = open("/dev/null", O_RDONLY)) >= 0 && fd != 0) {
        dup2(fd, 0);
        close(fd);
    }
    dup2(2, 1);                  /* what it prints goes to the error log */
    if (close_range(3, ~0U, 0) != 0)
        for (int i = 3; i < 1024; i++)
            close(i);
    alarm(alarm_at);
    execve(p->argv[0], p->argv, p->envp);
    _exit(127);
}

/* The k-th event waiting, 0 the oldest. */
static pending *waiting(const og_notifier *n, unsigned k)
{
    return &n->queue[(n->head + k) % n->cfg.queue_max];
}

/* 1 when the k-th waiting event must wait on: a program for its NAME runs,
 * or an older event for that NAME waits. */
static int held(const og_notifier *n, unsigned k)
{
    const char *name = waiting(n, k)->name;
    for (unsigned i = 0; i < n->nrun; i++)
        if (!strcmp(n->run[i].name, name))
            return 1;
    for (unsigned j = 0; j < k; j++)
        if (!strcmp(waiting(n, j)->name, name))
            return 1;
    return 0;
}

/* Takes the k-th waiting event out of the queue; the younger ones move up. */
static pending take(og_notifier *n, unsigned k)
{
    pending p = *waiting(n, k);
    for (unsigned j = k; j + 1 < n->queued; j++)
        *waiting(n, j) = *waiting(n, j + 1);
    n->queued--;
    memset(waiting(n, n->queued), 0, sizeof(pending));
    return p;
}

static void start_one(og_notifier *n, unsigned k)
{
    pending p = take(n, k);
    running *r;
    pid_t pid;
    pid = fork();
    if (pid == 0)
        child_exec(&p, n->cfg.timeout + ALARM_GRACE);
    if (pid < 0) {
        LOG(n, OG_LOG_ERR, OG_LOGNO(01006) "notify: cannot start %s (fork: %s): %s not sent",
            p.argv[0], strerror(errno), p.what);
        pending_free(&p);
        return;
    }
    setpgid(pid, pid);           /* both sides: whichever runs first */
    r = &n->run[n->nrun++];
    r->pid = pid;
    r->killed = 0;
    clock_gettime(CLOCK_MONOTONIC, &r->started);
    r->what = p.what;
    r->name = p.name;
    p.what = p.name = NULL;
    LOG(n, OG_LOG_INFO, OG_LOGNO(01001) "notify: running %s %s (pid %ld)", n->cfg.argv[0],
        r->what, (long)pid);
    pending_free(&p);
}

/* 1 when the program ended (logged); its place is then free. */
static int reap(og_notifier *n, running *r)
{
    int status;
    pid_t got = waitpid(r->pid, &status, WNOHANG);
    if (got == 0)
        return 0;
    if (got < 0) {
        if (errno == EINTR)
            return 0;
        return 1;                /* not ours any more (ECHILD): forget it */
    }
    if (r->killed)
        return 1;                /* said when it was killed */
    if (WIFEXITED(status) && WEXITSTATUS(status) == 0)
        LOG(n, OG_LOG_DEBUG, "notify: %s %s exited with status 0 after %.1f s", n->cfg.argv[0],
            r->what, elapsed(&r->started));
    else if (WIFEXITED(status))
        LOG(n, OG_LOG_WARN, OG_LOGNO(01002) "notify: %s %s exited with status %d%s",
            n->cfg.argv[0], r->what, WEXITSTATUS(status),
            WEXITSTATUS(status) == 127 ? " (127: it may not have been executable by the server's user)" : "");
    else if (WIFSIGNALED(status))
        LOG(n, OG_LOG_WARN, OG_LOGNO(01003) "notify: %s %s ended by signal %d", n->cfg.argv[0],
            r->what, WTERMSIG(status));
    return 1;
}

void og_notifier_tick(og_notifier *n)
{
    if (!n)
        return;
    if (n->dropped)
        LOG(n, OG_LOG_WARN, OG_LOGNO(01005) "notify: %u notification(s) dropped, the oldest waiting "
            "when more than %u were (the last dropped: %s)", n->dropped, n->cfg.queue_max,
            n->last_dropped);
    if (n->lost)
        LOG(n, OG_LOG_ERR, OG_LOGNO(01007) "notify: out of memory: %u notification(s) not sent",
            n->lost);
    n->dropped = n->lost = 0;
    for (unsigned i = 0; i < n->nrun;) {
        running *r = &n->run[i];
        if (reap(n, r)) {
            free(r->what);
            free(r->name);
            n->run[i] = n->run[--n->nrun];
            continue;
        }
        if (!r->killed && elapsed(&r->started) >= n->cfg.timeout) {
            kill(-r->pid, SIGKILL);
            r->killed = 1;
            LOG(n, OG_LOG_WARN, OG_LOGNO(01004) "notify: %s %s still running after %u s: killed, "
                "with its process group", n->cfg.argv[0], r->what, n->cfg.timeout);
        }
        i++;
    }
    /* the oldest first, skipping those whose NAME is busy: a NAME's
     * programs run one at a time, in the order of its changes */
    for (unsigned k = 0; k < n->queued && n->nrun < n->cfg.running_max;) {
        if (held(n, k))
            k++;
        else
            start_one(n, k);     /* the younger ones move up to k */
    }
}

unsigned og_notifier_running(const og_notifier *n)
{
    return n ? n->nrun : 0;
}

unsigned og_notifier_queued(const og_notifier *n)
{
    return n ? n->queued : 0;
}

void og_notifier_free(og_notifier *n)
{
    if (!n)
        return;
    while (n->queued) {
        pending_free(&n->queue[n->head]);
        n->head = (n->head + 1) % n->cfg.queue_max;
        n->queued--;
    }
    for (unsigned i = 0; i < n->nrun; i++) {
        free(n->run[i].what);
        free(n->run[i].name);
    }
    free(n->queue);
    free(n->run);
    free(n);
}
