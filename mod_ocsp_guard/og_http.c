/* Copyright 2026 the mod_ocsp_guard developers. Licensed under the Apache License 2.0 (LICENSE). */
/* OCSP over HTTP: our own name resolution and connect, then OpenSSL 3's HTTP
 * client on the connected socket. One deadline covers all of it: OpenSSL's
 * BIO_lookup resolves with a blocking getaddrinfo outside its timeout, and
 * OSSL_HTTP_get follows redirects to any host; neither is used here.
 *
 * Kind to responders and robust on real networks:
 * - a name is looked up once per DNS_TTL by one thread, whose answer every
 *   fetch shares (a lookup under way is joined, not repeated);
 * - the addresses are tried the RFC 8305 (Happy Eyeballs v2) way: families
 *   interleaved, the next attempt started after attempt_delay without a
 *   connection, the first to connect wins; a family that fails while the
 *   other works goes second for a while, logged once per change;
 * - connections are kept alive (HTTP/1.0 with Connection: keep-alive, as
 *   OpenSSL's client speaks it) in a pool keyed by responder, each serving
 *   one request at a time, closed after idle_ms or the server's own
 *   Keep-Alive timeout; a kept connection the server closed is retried once
 *   on a new one. */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include "og_http.h"
#include "og_ocsp.h"

#include <errno.h>
#include <limits.h>
#include <stdint.h>
#include <netdb.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <openssl/bio.h>
#include <openssl/err.h>
#include <openssl/http.h>

#define OCSP_REQUEST_TYPE "application/ocsp-request"
#define OCSP_RESPONSE_TYPE "application/ocsp-response"
/* Lookup threads at once: the workers' own (OCSPGuardFetchConcurrency, at
 * most 64) plus those that outlived a fetch that gave up. Beyond this a
 * resolver that hangs would cost a thread per fetch: new lookups fail. */
#define MAX_LOOKUP_THREADS 128
/* Room for the status line and headers on top of the body's cap. */
#define HEAD_ALLOWANCE 16384
/* What is kept of the answer's head to report a redirect. */
#define HEAD_KEEP 2048
/* How much of a Location goes into the error text. */
#define LOCATION_SHOWN 120
/* Addresses of one name tried at most. */
#define MAX_ADDRS 8
/* Names and connect targets remembered: a server talks to a handful of
 * responders; past this the least recently used is forgotten. */
#define DNS_SLOTS 64
#define FAMILY_SLOTS 64
/* A failed lookup is not repeated sooner (a resolver that says no says it
 * again; the fetches of a round share the answer). */
#define DNS_NEGATIVE_MS 5000
/* A lookup pending this long is not joined any more: a new one starts. */
#define LOOKUP_STALE_MS 30000

#define DEFAULT_ATTEMPT_DELAY_MS 250
#define DEFAULT_DNS_TTL_MS 30000
#define DEFAULT_IDLE_MS 30000
#define DEFAULT_FAMILY_RETRY_MS 60000
#define DEFAULT_MAX_IDLE 64

typedef long long og_ms;

static og_ms mono_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (og_ms)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

#define LOG(c, level, ...) \
    do { if ((c)->cfg.log) OG_LOG((c)->cfg.log, (c)->cfg.log_baton, level, __VA_ARGS__); } while (0)
#define STAT_ADD(c, field) __atomic_add_fetch(&(c)->stats.field, 1, __ATOMIC_RELAXED)

/* what, then OpenSSL's reason when it gave one. */
static void fill_err(char *err, size_t errlen, const char *what)
{
    char detail[512];
    og_openssl_error(detail, sizeof(detail));
    snprintf(err, errlen, "%s%s%s", what, *detail ? ": " : "", detail);
}

static void addr_text(const og_http_addr *a, char *buf, size_t len)
{
    char h[INET6_ADDRSTRLEN + 2] = "?", p[8] = "?";
    getnameinfo((const struct sockaddr *)&a->sa, a->len, h, sizeof(h), p, sizeof(p),
                NI_NUMERICHOST | NI_NUMERICSERV);
    snprintf(buf, len, a->sa.ss_family == AF_INET6 ? "[%s]:%s" : "%s:%s", h, p);
}

static const char *family_name(int family)
{
    return family == AF_INET6 ? "IPv6" : "IPv4";
}

static void set_port(og_http_addr *a, int port)
{
    if (a->sa.ss_family == AF_INET6)
        ((struct sockaddr_in6 *)&a->sa)->sin6_port = htons((uint16_t)port);
    else
        ((struct sockaddr_in *)&a->sa)->sin_port = htons((uint16_t)port);
}

/* ------------------------------------------------------------ the client */

typedef struct lookup lookup;
typedef struct conn conn;

typedef struct dns_entry {
    char *host;                  /* NULL: free slot */
    og_ms expires;               /* the answer below serves until then */
    og_ms used;
    int rc;                      /* 0, or the lookup's EAI_* code */
    int sys_errno;
    int naddr;
    og_http_addr addr[MAX_ADDRS];
    lookup *pending;             /* one reference, while a lookup is under way */
    og_ms pending_since;
} dns_entry;

/* Per connect target: a family that failed while the other worked. */
typedef struct family_entry {
    char *target;                /* "host:port"; NULL: free slot */
    int bad;                     /* AF_INET6 or AF_INET; 0: both fine as far as known */
    og_ms second_until;          /* the bad family goes second until then */
    og_ms used;
} family_entry;

struct og_http_client {
    og_http_config cfg;
    pthread_mutex_t lock;        /* everything below; never held across I/O */
    dns_entry dns[DNS_SLOTS];
    family_entry fam[FAMILY_SLOTS];
    conn *idle;                  /* kept connections, most recently used first */
    unsigned nidle;
    og_http_stats stats;         /* atomics */
};

/* ------------------------------------------------------------ resolving */

/* One lookup, shared by the fetches that wait for it, the cache entry that
 * names it and the thread that runs getaddrinfo; whichever lets go last
 * frees it, so a fetch can give up at its deadline while the thread
 * finishes in its own time. */
struct lookup {
    pthread_mutex_t lock;
    pthread_cond_t done_cv;
    int refs;
    int done;
    int rc;                      /* 0 or an EAI_* code */
    int sys_errno;               /* for EAI_SYSTEM */
    int naddr;
    og_http_addr addr[MAX_ADDRS];
    og_http_resolve_fn *fn;
    void *baton;
    char *host;
};

static int lookup_threads;       /* atomic: running */

static void lookup_ref(lookup *l)
{
    pthread_mutex_lock(&l->lock);
    l->refs++;
    pthread_mutex_unlock(&l->lock);
}

static void lookup_release(lookup *l)
{
    int left;
    pthread_mutex_lock(&l->lock);
    left = --l->refs;
    pthread_mutex_unlock(&l->lock);
    if (left)
        return;
    pthread_cond_destroy(&l->done_cv);
    pthread_mutex_destroy(&l->lock);
    free(l->host);
    free(l);
}

/* getaddrinfo's answer as addresses, in its (RFC 6724) order. */
static int system_resolve(const char *host, og_http_addr *out, int max, int *sys_errno)
{
    struct addrinfo hints, *res = NULL;
    int rc, n = 0;
    memset(&hints, 0, sizeof(hints));
    hints.ai_family = AF_UNSPEC;
    hints.ai_socktype = SOCK_STREAM;
    hints.ai_flags = AI_ADDRCONFIG;
    rc = getaddrinfo(host, NULL, &hints, &res);
    *sys_errno = errno;
    if (rc)
        return rc < 0 ? rc : -rc;
    for (const struct addrinfo *a = res; a && n < max; a = a->ai_next) {
        if ((a->ai_family != AF_INET && a->ai_family != AF_INET6) ||
            a->ai_addrlen > sizeof(out[n].sa))
            continue;
        memcpy(&out[n].sa, a->ai_addr, a->ai_addrlen);
        out[n].len = a->ai_addrlen;
        n++;
    }
    freeaddrinfo(res);
    return n;
}

static void *lookup_main(void *arg)
{
    lookup *l = arg;
    og_http_addr addr[MAX_ADDRS];
    int sys_errno = 0;
    int n = l->fn ? l->fn(l->baton, l->host, addr, MAX_ADDRS)
                  : system_resolve(l->host, addr, MAX_ADDRS, &sys_errno);
    pthread_mutex_lock(&l->lock);
    if (n > 0) {
        memcpy(l->addr, addr, sizeof(addr[0]) * (size_t)n);
        l->naddr = n;
    }
    l->rc = n > 0 ? 0 : n < 0 ? n : EAI_NONAME;
    l->sys_errno = sys_errno;
    l->done = 1;
    pthread_cond_broadcast(&l->done_cv);
    pthread_mutex_unlock(&l->lock);
    __atomic_sub_fetch(&lookup_threads, 1, __ATOMIC_SEQ_CST);
    lookup_release(l);
    return NULL;
}

/* A lookup of host on a thread of its own, with a reference for the thread
 * and one for the caller; NULL with err filled when none could start. */
static lookup *lookup_start(og_http_client *c, const char *host, char *err, size_t errlen)
{
    pthread_condattr_t ca;
    pthread_attr_t attr;
    pthread_t th;
    lookup *l;
    int rc, pending = __atomic_add_fetch(&lookup_threads, 1, __ATOMIC_SEQ_CST);

    if (pending > MAX_LOOKUP_THREADS) {
        __atomic_sub_fetch(&lookup_threads, 1, __ATOMIC_SEQ_CST);
        snprintf(err, errlen, "cannot resolve %s: %d DNS lookups already waiting for the "
                 "resolver", host, pending - 1);
        return NULL;
    }
    if (!(l = calloc(1, sizeof(*l))) || !(l->host = strdup(host))) {
        __atomic_sub_fetch(&lookup_threads, 1, __ATOMIC_SEQ_CST);
        free(l);
        snprintf(err, errlen, "out of memory");
        return NULL;
    }
    l->fn = c->cfg.resolve;
    l->baton = c->cfg.resolve_baton;
    pthread_mutex_init(&l->lock, NULL);
    pthread_condattr_init(&ca);
    pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
    pthread_cond_init(&l->done_cv, &ca);
    pthread_condattr_destroy(&ca);
    l->refs = 2;                 /* the caller and the thread */
    pthread_attr_init(&attr);
    pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
    rc = pthread_create(&th, &attr, lookup_main, l);
    pthread_attr_destroy(&attr);
    if (rc) {
        __atomic_sub_fetch(&lookup_threads, 1, __ATOMIC_SEQ_CST);
        l->refs = 1;
        lookup_release(l);
        snprintf(err, errlen, "cannot resolve %s: no thread for the lookup (%s)", host,
                 strerror(rc));
        return NULL;
    }
    STAT_ADD(c, lookups);
    return l;
}

/* 1 once l is done, 0 at the deadline. */
static int lookup_wait(lookup *l, og_ms deadline)
{
    int done;
    pthread_mutex_lock(&l->lock);
    while (!l->done) {
        og_ms left = deadline - mono_ms();
        struct timespec ts;
        if (left <= 0)
            break;
        clock_gettime(CLOCK_MONOTONIC, &ts);
        ts.tv_sec += left / 1000;
        ts.tv_nsec += (left % 1000) * 1000000;
        if (ts.tv_nsec >= 1000000000) {
            ts.tv_sec++;
            ts.tv_nsec -= 1000000000;
        }
        pthread_cond_timedwait(&l->done_cv, &l->lock, &ts);
    }
    done = l->done;
    pthread_mutex_unlock(&l->lock);
    return done;
}

static void resolve_error(const char *host, int rc, int sys_errno, char *err, size_t errlen)
{
    snprintf(err, errlen, "cannot resolve %s: %s", host,
             rc == EAI_SYSTEM ? strerror(sys_errno) : gai_strerror(rc));
}

/* The cache slot of host (c->lock held): its own, else a free one, else
 * the least recently used one not waiting for a lookup. */
static dns_entry *dns_slot(og_http_client *c, const char *host)
{
    dns_entry *free_slot = NULL, *lru = NULL, *e;
    for (int i = 0; i < DNS_SLOTS; i++) {
        dns_entry *d = &c->dns[i];
        if (d->host && !strcmp(d->host, host))
            return d;
        if (!d->host) {
            if (!free_slot)
                free_slot = d;
        } else if (!d->pending && (!lru || d->used < lru->used)) {
            lru = d;
        }
    }
    if (!(e = free_slot ? free_slot : lru))
        return NULL;
    free(e->host);
    memset(e, 0, sizeof(*e));
    return (e->host = strdup(host)) ? e : NULL;
}

/* Addresses of host by the deadline, port set. A numeric host needs no
 * lookup. A name's answer comes from the cache while fresh; otherwise from
 * a lookup on a thread of its own, which later callers join and which this
 * call stops waiting for at the deadline (getaddrinfo cannot be
 * interrupted). */
static int resolve(og_http_client *c, const char *host, int port, og_ms deadline, int timeout,
                   og_http_addr *out, int *nout, char *err, size_t errlen)
{
    struct addrinfo hints, *res = NULL;
    dns_entry *e;
    lookup *l = NULL, *drop = NULL;
    int rc = 0, sys_errno = 0, n = 0;
    og_ms now;

    *nout = 0;
    memset(&hints, 0, sizeof(hints));
    hints.ai_family = AF_UNSPEC;
    hints.ai_socktype = SOCK_STREAM;
    hints.ai_flags = AI_NUMERICHOST;
    if (getaddrinfo(host, NULL, &hints, &res) == 0) {
        if (res->ai_addrlen <= sizeof(out[0].sa)) {
            memcpy(&out[0].sa, res->ai_addr, res->ai_addrlen);
            out[0].len = res->ai_addrlen;
            set_port(&out[0], port);
            *nout = 1;
        }
        freeaddrinfo(res);
        if (!*nout)
            snprintf(err, errlen, "cannot use the address %s", host);
        return *nout;
    }

    pthread_mutex_lock(&c->lock);
    now = mono_ms();
    e = dns_slot(c, host);
    if (e && e->expires > now) {             /* a fresh answer */
        e->used = now;
        rc = e->rc;
        sys_errno = e->sys_errno;
        n = e->naddr;
        memcpy(out, e->addr, sizeof(out[0]) * (size_t)n);
        pthread_mutex_unlock(&c->lock);
        goto answer;
    }
    if (e && e->pending && now - e->pending_since < LOOKUP_STALE_MS) {
        l = e->pending;                       /* join the lookup under way */
        lookup_ref(l);
    } else if ((l = lookup_start(c, host, err, errlen))) {
        if (e) {
            drop = e->pending;
            e->pending = l;
            e->pending_since = now;
            lookup_ref(l);                    /* the entry's */
        }
    }
    if (e)
        e->used = now;
    pthread_mutex_unlock(&c->lock);
    if (drop)
        lookup_release(drop);
    if (!l)
        return 0;
    if (!lookup_wait(l, deadline)) {
        lookup_release(l);
        snprintf(err, errlen, "DNS lookup of %s got no answer within %d s", host, timeout);
        return 0;
    }
    /* done: the answer no longer changes */
    rc = l->rc;
    sys_errno = l->sys_errno;
    n = l->naddr;
    memcpy(out, l->addr, sizeof(out[0]) * (size_t)n);
    pthread_mutex_lock(&c->lock);
    drop = NULL;
    for (int i = 0; i < DNS_SLOTS; i++) {
        e = &c->dns[i];
        if (e->pending != l)
            continue;
        e->rc = rc;
        e->sys_errno = sys_errno;
        e->naddr = n;
        memcpy(e->addr, l->addr, sizeof(e->addr[0]) * (size_t)n);
        now = mono_ms();
        e->expires = now + (rc ? DNS_NEGATIVE_MS : c->cfg.dns_ttl_ms);
        e->pending = NULL;
        drop = l;
        break;
    }
    pthread_mutex_unlock(&c->lock);
    if (drop)
        lookup_release(drop);
    lookup_release(l);
answer:
    if (rc) {
        resolve_error(host, rc, sys_errno, err, errlen);
        return 0;
    }
    for (int i = 0; i < n; i++)
        set_port(&out[i], port);
    *nout = n;
    return 1;
}

/* ----------------------------------------------------------- connecting */

static int other_family(int family)
{
    return family == AF_INET6 ? AF_INET : AF_INET6;
}

/* RFC 8305 section 4: the families alternate, starting with first, each
 * family's addresses in the resolver's order. */
static void interleave(og_http_addr *a, int n, int first)
{
    og_http_addr one[MAX_ADDRS], two[MAX_ADDRS];
    int n1 = 0, n2 = 0, k = 0;
    for (int i = 0; i < n; i++) {
        if (a[i].sa.ss_family == first)
            one[n1++] = a[i];
        else
            two[n2++] = a[i];
    }
    for (int i = 0; i < n1 || i < n2; i++) {
        if (i < n1)
            a[k++] = one[i];
        if (i < n2)
            a[k++] = two[i];
    }
}

/* The family slot of target (c->lock held); with create, a free or the
 * least recently used one is taken. */
static family_entry *family_slot(og_http_client *c, const char *target, int create)
{
    family_entry *free_slot = NULL, *lru = NULL, *e;
    for (int i = 0; i < FAMILY_SLOTS; i++) {
        family_entry *f = &c->fam[i];
        if (f->target && !strcmp(f->target, target))
            return f;
        if (!f->target) {
            if (!free_slot)
                free_slot = f;
        } else if (!lru || f->used < lru->used) {
            lru = f;
        }
    }
    if (!create || !(e = free_slot ? free_slot : lru))
        return NULL;
    free(e->target);
    memset(e, 0, sizeof(*e));
    return (e->target = strdup(target)) ? e : NULL;
}

/* The family to start with: the resolver's first, unless it failed here
 * while the other worked, lately. */
static int first_family(og_http_client *c, const char *target, const og_http_addr *a, int n)
{
    int first = a[0].sa.ss_family, both = 0;
    family_entry *e;
    for (int i = 1; i < n; i++)
        both |= a[i].sa.ss_family != first;
    if (!both)
        return first;
    pthread_mutex_lock(&c->lock);
    e = family_slot(c, target, 0);
    if (e && e->bad == first && mono_ms() < e->second_until)
        first = other_family(first);
    pthread_mutex_unlock(&c->lock);
    return first;
}

typedef struct attempt {
    int fd;                      /* -1: not under way */
    int started;
    int err;                     /* errno of a failed attempt; 0: no answer */
    og_ms at;                    /* started then */
} attempt;

/* Happy Eyeballs (RFC 8305 section 5): attempts in order, the next one
 * started when the last has had attempt_delay without a connection or
 * when every one under way has failed; the first to connect wins and the
 * rest are closed. The winner's non-blocking socket, or -1. */
static int race(og_http_client *c, const og_http_addr *a, int n, og_ms deadline, attempt *at,
                int *winner)
{
    int next = 0, active = 0;
    og_ms next_at = 0;
    *winner = -1;
    for (int i = 0; i < n; i++)
        at[i] = (attempt){ -1, 0, 0, 0 };
    for (;;) {
        struct pollfd pf[MAX_ADDRS];
        int idx[MAX_ADDRS], np = 0;
        og_ms now = mono_ms(), wait;
        while (next < n && (active == 0 || now >= next_at) && now < deadline) {
            attempt *t = &at[next];
            int fd = socket(a[next].sa.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
            t->started = 1;
            t->at = now;
            if (fd < 0) {
                t->err = errno;
            } else if (connect(fd, (const struct sockaddr *)&a[next].sa, a[next].len) == 0) {
                t->fd = fd;
                *winner = next;
                goto won;
            } else if (errno != EINPROGRESS) {
                t->err = errno;
                close(fd);
            } else {
                t->fd = fd;
                active++;
                next_at = now + c->cfg.attempt_delay_ms;
            }
            next++;
        }
        if (!active || now >= deadline)
            break;
        wait = deadline - now;
        if (next < n && next_at - now < wait)
            wait = next_at - now;
        for (int i = 0; i < next; i++) {
            if (at[i].fd >= 0) {
                pf[np] = (struct pollfd){ at[i].fd, POLLOUT, 0 };
                idx[np++] = i;
            }
        }
        if (poll(pf, (nfds_t)np, wait > INT_MAX ? INT_MAX : (int)wait) <= 0)
            continue;            /* the time to start the next, or EINTR */
        for (int j = 0; j < np; j++) {
            attempt *t = &at[idx[j]];
            int soerr = 0;
            socklen_t sl = sizeof(soerr);
            if (!pf[j].revents)
                continue;
            if (getsockopt(t->fd, SOL_SOCKET, SO_ERROR, &soerr, &sl) < 0)
                soerr = errno;
            if (!soerr) {
                *winner = idx[j];
                goto won;
            }
            t->err = soerr;
            close(t->fd);
            t->fd = -1;
            active--;
            next_at = 0;         /* a failure starts the next at once */
        }
    }
    for (int i = 0; i < n; i++) {
        if (at[i].fd >= 0)
            close(at[i].fd);
        at[i].fd = -1;
    }
    return -1;
won:
    for (int i = 0; i < n; i++) {
        if (i != *winner && at[i].fd >= 0) {
            close(at[i].fd);
            at[i].fd = -1;
        }
    }
    return at[*winner].fd;
}

/* After a won race: an attempt of the other family that started before
 * the winner and did not connect means that family fails here while this
 * one works; logged once per change, and that family goes second for a
 * while. The family that failed here winning again is logged too. */
static void family_learn(og_http_client *c, const char *label, const char *target,
                         const og_http_addr *a, const attempt *at, int winner)
{
    int wf = a[winner].sa.ss_family, failed = -1, logged = 0, recovered = 0;
    char fa[INET6_ADDRSTRLEN + 10], wa[INET6_ADDRSTRLEN + 10], why[80];
    og_ms now = mono_ms();
    family_entry *e;
    for (int i = 0; i < winner && failed < 0; i++)
        if (at[i].started && a[i].sa.ss_family != wf)
            failed = i;
    pthread_mutex_lock(&c->lock);
    e = family_slot(c, target, failed >= 0);
    if (e) {
        e->used = now;
        if (failed >= 0) {
            logged = e->bad != a[failed].sa.ss_family;
            e->bad = a[failed].sa.ss_family;
            e->second_until = now + c->cfg.family_retry_ms;
        } else if (e->bad == wf) {
            recovered = 1;
            e->bad = 0;
        }
    }
    pthread_mutex_unlock(&c->lock);
    addr_text(&a[winner], wa, sizeof(wa));
    if (logged) {
        addr_text(&a[failed], fa, sizeof(fa));
        if (at[failed].err)
            snprintf(why, sizeof(why), "%s", strerror(at[failed].err));
        else
            snprintf(why, sizeof(why), "no connection within %lld ms", now - at[failed].at);
        LOG(c, OG_LOG_WARN, OG_LOGNO(01201) "%s: %s fails (%s: %s) while %s works (%s); %s "
            "goes first for the next %d s", label, family_name(a[failed].sa.ss_family), fa, why,
            family_name(wf), wa, family_name(wf), c->cfg.family_retry_ms / 1000);
    } else if (recovered) {
        LOG(c, OG_LOG_NOTICE, OG_LOGNO(01202) "%s: %s works again (%s)", label, family_name(wf),
            wa);
    }
}

/* A connected non-blocking socket to one of the addresses, or -1 with err
 * naming what each attempt met. */
static int connect_addrs(og_http_client *c, const char *label, const char *target,
                         og_http_addr *a, int n, og_ms deadline, int timeout, char *err,
                         size_t errlen)
{
    attempt at[MAX_ADDRS];
    int winner, fd;
    og_ms t0 = mono_ms();
    size_t o;
    interleave(a, n, first_family(c, target, a, n));
    fd = race(c, a, n, deadline, at, &winner);
    if (fd >= 0) {
        char where[INET6_ADDRSTRLEN + 10];
        STAT_ADD(c, connects);
        family_learn(c, label, target, a, at, winner);
        addr_text(&a[winner], where, sizeof(where));
        LOG(c, OG_LOG_DEBUG, OG_LOGNO(01203) "%s: connected to %s in %lld ms (address %d of %d)",
            label, where, mono_ms() - t0, winner + 1, n);
        return fd;
    }
    o = (size_t)snprintf(err, errlen, "cannot connect to %s%s", target,
                         mono_ms() >= deadline ? "" : ":");
    if (mono_ms() >= deadline && o < errlen)
        o += (size_t)snprintf(err + o, errlen - o, " within %d s:", timeout);
    for (int i = 0; i < n && o < errlen; i++) {
        char where[INET6_ADDRSTRLEN + 10];
        if (!at[i].started)
            continue;
        addr_text(&a[i], where, sizeof(where));
        o += (size_t)snprintf(err + o, errlen - o, "%s %s %s", i ? ";" : "", where,
                              at[i].err ? strerror(at[i].err) : "no answer");
    }
    return -1;
}

/* ------------------------------------------- a socket BIO with a deadline */

/* OpenSSL's HTTP client runs on this BIO, which waits for the socket itself
 * up to the deadline (in ms; OpenSSL's own timeouts count whole seconds),
 * never raises SIGPIPE, caps what it reads, and keeps the first bytes of
 * the answer so that a redirect can be reported with its Location and a
 * Keep-Alive timeout honoured. Reset for each request on a connection. */
typedef struct dl_sock {
    int fd;
    og_ms deadline;
    int timed_out;
    int eof;                     /* the peer closed */
    int sys_err;                 /* errno of a failed recv/send */
    int over_cap;
    size_t received;
    size_t cap;
    size_t head_len;
    char head[HEAD_KEEP + 1];
} dl_sock;

/* Waits for events on fd until the deadline: 1 ready, 0 deadline, -1 error. */
static int wait_fd(int fd, short events, og_ms deadline)
{
    for (;;) {
        og_ms left = deadline - mono_ms();
        struct pollfd p = { fd, events, 0 };
        int n;
        if (left <= 0)
            return 0;
        n = poll(&p, 1, left > INT_MAX ? INT_MAX : (int)left);
        if (n > 0)
            return 1;            /* errors and hang-ups too: the next call tells */
        if (n == 0)
            return 0;
        if (errno != EINTR)
            return -1;
    }
}

static int dl_wait(dl_sock *s, short events)
{
    int w = wait_fd(s->fd, events, s->deadline);
    if (w == 0)
        s->timed_out = 1;
    else if (w < 0)
        s->sys_err = errno;
    return w > 0;
}

static int dl_read(BIO *b, char *buf, int len)
{
    dl_sock *s = BIO_get_data(b);
    BIO_clear_retry_flags(b);
    if (len <= 0)
        return 0;
    if (s->received >= s->cap) {
        s->over_cap = 1;
        return -1;
    }
    if ((size_t)len > s->cap - s->received)
        len = (int)(s->cap - s->received);
    for (;;) {
        ssize_t n = recv(s->fd, buf, (size_t)len, 0);
        if (n > 0) {
            size_t keep = s->head_len < HEAD_KEEP ? HEAD_KEEP - s->head_len : 0;
            if (keep > (size_t)n)
                keep = (size_t)n;
            memcpy(s->head + s->head_len, buf, keep);
            s->head_len += keep;
            s->head[s->head_len] = '\0';
            s->received += (size_t)n;
            return (int)n;
        }
        if (n == 0) {
            s->eof = 1;
            return 0;
        }
        if (errno == EINTR)
            continue;
        if (errno != EAGAIN && errno != EWOULDBLOCK) {
            s->sys_err = errno;
            return -1;
        }
        if (!dl_wait(s, POLLIN))
            return -1;
    }
}

static int dl_write(BIO *b, const char *buf, int len)
{
    dl_sock *s = BIO_get_data(b);
    BIO_clear_retry_flags(b);
    if (len <= 0)
        return 0;
    for (;;) {
        ssize_t n = send(s->fd, buf, (size_t)len, MSG_NOSIGNAL);
        if (n >= 0)
            return (int)n;
        if (errno == EINTR)
            continue;
        if (errno != EAGAIN && errno != EWOULDBLOCK) {
            s->sys_err = errno;
            return -1;
        }
        if (!dl_wait(s, POLLOUT))
            return -1;
    }
}

static long dl_ctrl(BIO *b, int cmd, long num, void *ptr)
{
    (void)b;
    (void)num;
    (void)ptr;
    return cmd == BIO_CTRL_FLUSH ? 1 : 0;
}

static BIO_METHOD *dl_method;

static void dl_method_init(void)
{
    /* once per process: BIO type indexes are a small finite pool */
    BIO_METHOD *m = BIO_meth_new(BIO_get_new_index() | BIO_TYPE_SOURCE_SINK, "og deadline socket");
    if (m && BIO_meth_set_read(m, dl_read) && BIO_meth_set_write(m, dl_write) &&
        BIO_meth_set_ctrl(m, dl_ctrl)) {
        dl_method = m;
        return;
    }
    BIO_meth_free(m);
}

/* ----------------------------------------------------------- connections */

/* A connection to one responder (through one proxy), with OpenSSL's
 * request context on it: the context's Host header is the responder's, so
 * a connection serves that responder alone. */
struct conn {
    conn *next;
    char *key;                   /* og_http_responder_key */
    int fd;
    BIO *bio;
    OSSL_HTTP_REQ_CTX *rctx;
    og_ms idle_until;
    unsigned served;             /* requests answered on it */
    dl_sock s;
};

static void conn_close(conn *k)
{
    if (!k)
        return;
    OSSL_HTTP_close(k->rctx, 1); /* leaves our BIO alone */
    BIO_free(k->bio);
    close(k->fd);
    free(k->key);
    free(k);
}

static void conn_close_list(conn *k)
{
    while (k) {
        conn *next = k->next;
        conn_close(k);
        k = next;
    }
}

/* Takes over fd. */
static conn *conn_new(int fd, const char *server, const char *key, char *err, size_t errlen)
{
    static pthread_once_t once = PTHREAD_ONCE_INIT;
    conn *k = calloc(1, sizeof(*k));
    pthread_once(&once, dl_method_init);
    if (!k || !(k->key = strdup(key)) || !dl_method || !(k->bio = BIO_new(dl_method))) {
        snprintf(err, errlen, "out of memory");
        if (k) {
            free(k->key);
            free(k);
        }
        close(fd);
        return NULL;
    }
    k->fd = fd;
    k->s.fd = fd;
    BIO_set_data(k->bio, &k->s);
    BIO_set_init(k->bio, 1);
    /* bio given as both ends: OpenSSL neither connects nor reads any proxy
     * setting from the environment; no timeout of its own (the BIO has it) */
    k->rctx = OSSL_HTTP_open(server, NULL, NULL, NULL, 0, k->bio, k->bio, NULL, NULL, 0, 0);
    if (!k->rctx) {
        fill_err(err, errlen, "cannot set up the HTTP client");
        conn_close(k);
        return NULL;
    }
    return k;
}

/* A kept connection to key, most recently used first; one the server has
 * closed (or sent something unasked on) in the meantime is dropped. */
static conn *pool_take(og_http_client *c, const char *key)
{
    for (;;) {
        conn *k = NULL, *expired = NULL, **pp = &c->idle;
        og_ms now = mono_ms();
        struct pollfd p;
        pthread_mutex_lock(&c->lock);
        while (*pp) {
            conn *x = *pp;
            if (x->idle_until <= now || (!k && !strcmp(x->key, key))) {
                *pp = x->next;
                c->nidle--;
                if (x->idle_until <= now) {
                    x->next = expired;
                    expired = x;
                } else {
                    k = x;
                }
                continue;
            }
            pp = &x->next;
        }
        pthread_mutex_unlock(&c->lock);
        conn_close_list(expired);
        if (!k)
            return NULL;
        p = (struct pollfd){ k->fd, POLLIN, 0 };
        if (poll(&p, 1, 0) == 0)
            return k;
        conn_close(k);           /* EOF, reset or stray bytes: not reusable */
    }
}

/* Keeps k for its next request until idle_ms from now; the oldest kept
 * connection goes when there are more than max_idle. */
static void pool_put(og_http_client *c, conn *k, int idle_ms)
{
    conn *drop = NULL;
    k->idle_until = mono_ms() + idle_ms;
    pthread_mutex_lock(&c->lock);
    k->next = c->idle;
    c->idle = k;
    if (++c->nidle > c->cfg.max_idle) {
        conn **pp = &c->idle;
        while ((*pp)->next)
            pp = &(*pp)->next;
        drop = *pp;
        *pp = NULL;
        c->nidle--;
    }
    pthread_mutex_unlock(&c->lock);
    conn_close(drop);
}

/* The idle bound for a connection the server keeps: ours, cut to a
 * second under the timeout of the server's Keep-Alive header, if any
 * (closing first avoids sending into a connection the server is closing). */
static int idle_bound(const og_http_client *c, const char *head)
{
    const char *end = strstr(head, "\r\n\r\n");
    int idle = c->cfg.idle_ms;
    for (const char *p = strchr(head, '\n'); p && (!end || p < end); p = strchr(p, '\n')) {
        const char *t;
        p++;
        if (strncasecmp(p, "Keep-Alive:", 11))
            continue;
        t = strcasestr(p, "timeout=");
        if (t && (!end || t < end) && t < p + strcspn(p, "\r\n")) {
            long secs = strtol(t + 8, NULL, 10);
            if (secs >= 0 && secs < INT_MAX / 1000 && secs * 1000 - 1000 < idle)
                idle = (int)(secs * 1000 - 1000);
        }
    }
    return idle;
}

/* ------------------------------------------------------------- exchange */

/* Printable, bounded copy of an untrusted header value for the log. */
static void shown(char *dst, size_t len, const char *src, size_t src_len)
{
    size_t o = 0;
    for (size_t i = 0; i < src_len && o + 4 < len; i++) {
        if (o >= LOCATION_SHOWN) {
            memcpy(dst + o, "...", 3);
            o += 3;
            break;
        }
        dst[o++] = src[i] > 0x20 && src[i] < 0x7f ? src[i] : '?';
    }
    dst[o] = '\0';
}

/* The status code of the answer's head, 0 if there is none. */
static int head_status(const char *head)
{
    int code = 0;
    if (strncmp(head, "HTTP/", 5) || sscanf(head + 5, "%*s %3d", &code) != 1)
        return 0;
    return code;
}

/* The Location header of the answer's head, or NULL. */
static const char *head_location(const char *head, size_t *len)
{
    const char *end = strstr(head, "\r\n\r\n");
    for (const char *p = strchr(head, '\n'); p && (!end || p < end); p = strchr(p, '\n')) {
        p++;
        if (!strncasecmp(p, "Location:", 9)) {
            p += 9;
            while (*p == ' ' || *p == '\t')
                p++;
            *len = strcspn(p, "\r\n");
            return p;
        }
    }
    return NULL;
}

/* Why the exchange failed, most telling first. A 3xx answer is a failure
 * like any other but worth its Location: OpenSSL hands it over only for a
 * GET's 301/302, the kept head has it for the rest. */
static void report_failure(const dl_sock *s, const char *redirection_url, const char *server,
                           int post, int timeout, size_t max_len, char *err, size_t errlen)
{
    int code = head_status(s->head);
    char text[LOCATION_SHOWN + 8];
    if (redirection_url || (code >= 300 && code <= 399)) {
        const char *loc = redirection_url;
        size_t loc_len = loc ? strlen(loc) : 0;
        if (!loc)
            loc = head_location(s->head, &loc_len);
        if (loc)
            shown(text, sizeof(text), loc, loc_len);
        snprintf(err, errlen, "the responder answered HTTP %d redirecting to %s; redirects are "
                 "not followed", code ? code : 302, loc ? text : "(no Location)");
    } else if (s->timed_out) {
        snprintf(err, errlen, "no complete answer from %s within %d s", server, timeout);
    } else if (s->over_cap) {
        snprintf(err, errlen, "the answer from %s exceeds %zu bytes", server, max_len);
    } else if (s->sys_err) {
        snprintf(err, errlen, "%s %s: %s", post ? "POST to" : "GET from", server,
                 strerror(s->sys_err));
    } else if (code && code != 200) {
        const char *reason = s->head + 5 + strcspn(s->head + 5, " ");
        reason += strspn(reason, " ");
        reason += strspn(reason, "0123456789");
        reason += strspn(reason, " ");
        shown(text, 48, reason, strcspn(reason, "\r\n"));
        snprintf(err, errlen, "the responder answered HTTP %d %s", code, text);
    } else if (!s->received) {
        snprintf(err, errlen, "%s closed the connection without answering", server);
    } else {
        fill_err(err, errlen, post ? "POST failed" : "GET failed");
    }
    ERR_clear_error();
}


/* One request on k, path in origin or absolute form. 1 with the body;
 * 0 with err filled and k's dl_sock telling how far it got. */
static int exchange(conn *k, const char *server, const char *path, const unsigned char *req,
                    size_t req_len, int post, og_ms deadline, int timeout, int keep_alive,
                    size_t max_len, unsigned char **resp, size_t *resp_len, char *err,
                    size_t errlen)
{
    dl_sock *s = &k->s;
    BIO *req_bio = NULL, *body = NULL;
    char *redirection_url = NULL;
    int ok = 0;

    memset(s, 0, sizeof(*s));
    s->fd = k->fd;
    s->deadline = deadline;
    s->cap = max_len > SIZE_MAX - HEAD_ALLOWANCE ? SIZE_MAX : max_len + HEAD_ALLOWANCE;
    if (post && !(req_bio = BIO_new_mem_buf(req, (int)req_len))) {
        snprintf(err, errlen, "out of memory");
        goto out;
    }
    if (!OSSL_HTTP_set1_request(k->rctx, path, NULL, post ? OCSP_REQUEST_TYPE : NULL, req_bio,
                                OCSP_RESPONSE_TYPE, 1, max_len, 0, keep_alive)) {
        fill_err(err, errlen, "cannot set up the HTTP request");
        goto out;
    }
    body = OSSL_HTTP_exchange(k->rctx, &redirection_url);
    if (!body) {
        report_failure(s, redirection_url, server, post, timeout, max_len, err, errlen);
        goto out;
    }
    {
        char *data = NULL;
        long n = BIO_get_mem_data(body, &data);
        if (n <= 0 || (size_t)n > max_len) {
            snprintf(err, errlen, "empty or oversized body (%ld bytes)", n);
            goto out;
        }
        *resp = malloc((size_t)n);
        if (!*resp) {
            snprintf(err, errlen, "out of memory");
            goto out;
        }
        memcpy(*resp, data, (size_t)n);
        *resp_len = (size_t)n;
        ok = 1;
    }
out:
    OPENSSL_free(redirection_url);
    BIO_free(body);
    BIO_free(req_bio);
    ERR_clear_error();
    return ok;
}

/* A kept connection the server closed while idle: the request met EOF or
 * a reset before a byte of answer came, so the server never saw it. */
static int closed_while_idle(const dl_sock *s)
{
    return !s->received && !s->timed_out && !s->over_cap &&
           (s->eof || s->sys_err == ECONNRESET || s->sys_err == EPIPE ||
            s->sys_err == ECONNABORTED);
}

/* ------------------------------------------------------------ the fetch */

/* host as OSSL_HTTP_parse_url gives it ("[::1]" for IPv6) without brackets. */
static char *bare_host(const char *host)
{
    size_t n = strlen(host);
    if (n >= 2 && host[0] == '[' && host[n - 1] == ']')
        return strndup(host + 1, n - 2);
    return strdup(host);
}

/* "host:port[/proxyhost:proxyport]"; 1 when it fits. */
static int make_key(const char *host, const char *port, const char *phost, const char *pport,
                    char *buf, size_t len)
{
    int n = snprintf(buf, len, "%s:%s%s%s%s%s", host, port, phost ? "/" : "", phost ? phost : "",
                     phost ? ":" : "", phost ? pport : "");
    return n >= 0 && (size_t)n < len;
}

int og_http_responder_key(const char *url, const char *proxy, char *buf, size_t len)
{
    char *host = NULL, *port = NULL, *phost = NULL, *pport = NULL;
    int ok = OSSL_HTTP_parse_url(url, NULL, NULL, &host, &port, NULL, NULL, NULL, NULL) &&
             (!proxy || !*proxy ||
              OSSL_HTTP_parse_url(proxy, NULL, NULL, &phost, &pport, NULL, NULL, NULL, NULL)) &&
             make_key(host, port, phost, pport, buf, len);
    OPENSSL_free(host);
    OPENSSL_free(port);
    OPENSSL_free(phost);
    OPENSSL_free(pport);
    ERR_clear_error();
    return ok;
}

/* A new connection for key: addresses of host (the responder's, or the
 * proxy's), raced. */
static conn *connect_new(og_http_client *c, const char *host, const char *port, int via_proxy,
                         const char *server, const char *key, og_ms deadline, int timeout,
                         char *err, size_t errlen)
{
    og_http_addr addrs[MAX_ADDRS];
    char *bare = bare_host(host), label[300], target[280];
    int n = 0, fd = -1;
    if (!bare) {
        snprintf(err, errlen, "out of memory");
        return NULL;
    }
    snprintf(target, sizeof(target), "%s:%s", host, port);
    snprintf(label, sizeof(label), "%s %s", via_proxy ? "proxy" : "OCSP responder", target);
    if (resolve(c, bare, atoi(port), deadline, timeout, addrs, &n, err, errlen))
        fd = connect_addrs(c, label, target, addrs, n, deadline, timeout, err, errlen);
    free(bare);
    return fd < 0 ? NULL : conn_new(fd, server, key, err, errlen);
}

int og_http_fetch(og_http_client *c, const char *url, const unsigned char *req, size_t req_len,
                  const char *proxy, int timeout, size_t max_len, unsigned char **resp,
                  size_t *resp_len, char *err, size_t errlen)
{
    og_ms deadline = mono_ms() + (og_ms)timeout * 1000;
    char *host = NULL, *port = NULL, *path = NULL, *get_url = NULL;
    char *phost = NULL, *pport = NULL, *server = NULL, *abs_path = NULL, key[600];
    int use_ssl = 0, ok = 0, post = !og_request_use_get(req_len), reused, keep_alive;
    const char *target = url;
    conn *k = NULL;

    if (!c) {
        /* one request: nothing to keep */
        og_http_config once = { .idle_ms = -1 };
        og_http_client *tmp = og_http_client_new(&once);
        if (!tmp) {
            snprintf(err, errlen, "out of memory");
            return 0;
        }
        ok = og_http_fetch(tmp, url, req, req_len, proxy, timeout, max_len, resp, resp_len, err,
                           errlen);
        og_http_client_free(tmp);
        return ok;
    }
    *resp = NULL;
    *resp_len = 0;
    keep_alive = c->cfg.idle_ms > 0;
    ERR_clear_error();
    if (!post && !(target = get_url = og_request_get_url(url, req, req_len))) {
        snprintf(err, errlen, "out of memory");
        return 0;
    }
    if (!OSSL_HTTP_parse_url(target, &use_ssl, NULL, &host, &port, NULL, &path, NULL, NULL)) {
        fill_err(err, errlen, "cannot parse responder URL");
        goto out;
    }
    if (use_ssl) {
        snprintf(err, errlen, "https responder URLs are not supported (use http://)");
        goto out;
    }
    /* Host header with the port unless it is the default */
    server = malloc(strlen(host) + strlen(port) + 2);
    if (!server) {
        snprintf(err, errlen, "out of memory");
        goto out;
    }
    sprintf(server, strcmp(port, "80") ? "%s:%s" : "%s", host, port);
    if (proxy && *proxy) {
        /* through a proxy: connect to it, absolute-form request line */
        if (!OSSL_HTTP_parse_url(proxy, NULL, NULL, &phost, &pport, NULL, NULL, NULL, NULL)) {
            fill_err(err, errlen, "cannot parse the proxy URL");
            goto out;
        }
        abs_path = malloc(strlen(server) + strlen(path) + 8);
        if (!abs_path) {
            snprintf(err, errlen, "out of memory");
            goto out;
        }
        sprintf(abs_path, "http://%s%s", server, path);
    }
    if (!make_key(host, port, phost, pport, key, sizeof(key))) {
        snprintf(err, errlen, "responder URL too long");
        goto out;
    }
    STAT_ADD(c, requests);
    k = keep_alive ? pool_take(c, key) : NULL;
    reused = k != NULL;
    for (;;) {
        if (!k && !(k = connect_new(c, phost ? phost : host, phost ? pport : port, phost != NULL,
                                    server, key, deadline, timeout, err, errlen)))
            goto out;
        if (reused)
            STAT_ADD(c, reused);
        ok = exchange(k, server, abs_path ? abs_path : path, req, req_len, post, deadline,
                      timeout, keep_alive, max_len, resp, resp_len, err, errlen);
        if (ok)
            break;
        /* the server closed it while it was idle: once more on a new one */
        int again = reused && closed_while_idle(&k->s) && mono_ms() < deadline;
        if (again)
            LOG(c, OG_LOG_DEBUG, OG_LOGNO(01204) "%s: the kept connection was closed by the "
                "server after %u request(s); sending again on a new one", key, k->served);
        conn_close(k);
        k = NULL;
        if (!again)
            goto out;
        STAT_ADD(c, retried);
        reused = 0;
    }
    k->served++;
    if (keep_alive && OSSL_HTTP_is_alive(k->rctx)) {
        int idle = idle_bound(c, k->s.head);
        if (idle > 0) {
            pool_put(c, k, idle);
            k = NULL;
        }
    }
    conn_close(k);
out:
    /* the text goes into the error log and parts of it come from the peer */
    for (char *ch = err; !ok && *ch; ch++)
        if ((unsigned char)*ch < 0x20 || *ch == 0x7f)
            *ch = '?';
    free(get_url);
    free(server);
    free(abs_path);
    OPENSSL_free(host);
    OPENSSL_free(port);
    OPENSSL_free(path);
    OPENSSL_free(phost);
    OPENSSL_free(pport);
    ERR_clear_error();
    return ok;
}

int og_http_fetch_ocsp(const char *url, const unsigned char *req, size_t req_len,
                       const char *proxy, int timeout, size_t max_len,
                       unsigned char **resp, size_t *resp_len, char *err, size_t errlen)
{
    return og_http_fetch(NULL, url, req, req_len, proxy, timeout, max_len, resp, resp_len, err,
                         errlen);
}

/* ----------------------------------------------------------- the client */

og_http_client *og_http_client_new(const og_http_config *cfg)
{
    og_http_client *c = calloc(1, sizeof(*c));
    if (!c)
        return NULL;
    if (cfg)
        c->cfg = *cfg;
    if (c->cfg.attempt_delay_ms <= 0)
        c->cfg.attempt_delay_ms = DEFAULT_ATTEMPT_DELAY_MS;
    if (c->cfg.dns_ttl_ms <= 0)
        c->cfg.dns_ttl_ms = DEFAULT_DNS_TTL_MS;
    if (c->cfg.idle_ms == 0)
        c->cfg.idle_ms = DEFAULT_IDLE_MS;
    if (c->cfg.family_retry_ms <= 0)
        c->cfg.family_retry_ms = DEFAULT_FAMILY_RETRY_MS;
    if (c->cfg.max_idle == 0)
        c->cfg.max_idle = DEFAULT_MAX_IDLE;
    pthread_mutex_init(&c->lock, NULL);
    return c;
}

void og_http_client_free(og_http_client *c)
{
    if (!c)
        return;
    conn_close_list(c->idle);
    for (int i = 0; i < DNS_SLOTS; i++) {
        if (c->dns[i].pending)
            lookup_release(c->dns[i].pending);
        free(c->dns[i].host);
    }
    for (int i = 0; i < FAMILY_SLOTS; i++)
        free(c->fam[i].target);
    pthread_mutex_destroy(&c->lock);
    free(c);
}

void og_http_client_sweep(og_http_client *c)
{
    conn *drop = NULL, **pp;
    og_ms now = mono_ms();
    if (!c)
        return;
    pp = &c->idle;
    pthread_mutex_lock(&c->lock);
    while (*pp) {
        conn *x = *pp;
        struct pollfd p = { x->fd, POLLIN, 0 };
        if (x->idle_until <= now || poll(&p, 1, 0) != 0) {
            *pp = x->next;
            c->nidle--;
            x->next = drop;
            drop = x;
            continue;
        }
        pp = &x->next;
    }
    pthread_mutex_unlock(&c->lock);
    conn_close_list(drop);
}

void og_http_client_stats(og_http_client *c, og_http_stats *out)
{
    out->requests = __atomic_load_n(&c->stats.requests, __ATOMIC_RELAXED);
    out->connects = __atomic_load_n(&c->stats.connects, __ATOMIC_RELAXED);
    out->reused = __atomic_load_n(&c->stats.reused, __ATOMIC_RELAXED);
    out->retried = __atomic_load_n(&c->stats.retried, __ATOMIC_RELAXED);
    out->lookups = __atomic_load_n(&c->stats.lookups, __ATOMIC_RELAXED);
}
