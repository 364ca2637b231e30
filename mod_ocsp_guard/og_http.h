/* Copyright 2026 the mod_ocsp_guard developers. Licensed under the Apache License 2.0 (LICENSE). */
/* OCSP over HTTP: own DNS lookup (cached) and Happy Eyeballs connect, then
 * OpenSSL 3's HTTP client on kept-alive connections (GET or POST, proxy,
 * one deadline, no redirects). */
#ifndef OG_HTTP_H
#define OG_HTTP_H

#include <stddef.h>
#include <sys/socket.h>
#include "og_ocsp.h"

/* One address of a name, as the resolver gives it (port left 0). */
typedef struct og_http_addr {
    struct sockaddr_storage sa;
    socklen_t len;
} og_http_addr;

/* Stands in for getaddrinfo (tests): up to max addresses of host in the
 * order to try them, returns how many, or a negative EAI_* code. Runs on a
 * lookup thread that may outlive the fetch and the client: baton must. */
typedef int og_http_resolve_fn(void *baton, const char *host, og_http_addr *out, int max);

/* Zero fields take the defaults. */
typedef struct og_http_config {
    og_log_fn *log;              /* responder-level events; NULL: none */
    void *log_baton;
    int attempt_delay_ms;        /* 250: RFC 8305's Connection Attempt Delay */
    int dns_ttl_ms;              /* 30000: how long a lookup's answer is reused */
    int idle_ms;                 /* 30000: a kept connection's idle bound; < 0: no keep-alive */
    int family_retry_ms;         /* 60000: how long a failed family goes second */
    unsigned max_idle;           /* 64: kept connections in all */
    og_http_resolve_fn *resolve; /* NULL: getaddrinfo */
    void *resolve_baton;
} og_http_config;

typedef struct og_http_stats {
    unsigned long requests;      /* exchanges begun */
    unsigned long connects;      /* TCP connections opened */
    unsigned long reused;        /* requests sent on a kept connection */
    unsigned long retried;       /* requests repeated because a kept connection was closed */
    unsigned long lookups;       /* name lookups started (resolver cache misses) */
} og_http_stats;

/* Shared by threads: a resolver cache keyed by host, which address family
 * works per responder, and idle kept-alive connections keyed by responder
 * (a connection serves one request at a time). cfg NULL: defaults. */
typedef struct og_http_client og_http_client;
og_http_client *og_http_client_new(const og_http_config *cfg);
void og_http_client_free(og_http_client *c);
/* Closes kept connections past their idle bound or closed by the peer. */
void og_http_client_sweep(og_http_client *c);
void og_http_client_stats(og_http_client *c, og_http_stats *out);

/* "host:port" of the responder, "/proxyhost:port" appended with a proxy:
 * what connections are kept by, and a key for per-responder state. */
int og_http_responder_key(const char *url, const char *proxy, char *buf, size_t len);

/* Sends the DER request to url: GET when RFC 5019 allows it, else POST.
 * timeout (seconds) bounds the whole exchange, DNS lookup and connect
 * included; proxy is "http://host:port" or NULL (neither http_proxy nor
 * no_proxy from the environment is ever read). Only a 200 answer succeeds:
 * a redirect is never followed, err names its status and Location. On
 * success returns 1 with a malloc'd body in *resp; else 0 with err filled
 * (printable text, fit for a log line). A request that finds its kept
 * connection closed before any answer is sent once more on a new one.
 * c NULL: a client of its own for this request alone. Thread-safe. */
int og_http_fetch(og_http_client *c, const char *url, const unsigned char *req, size_t req_len,
                  const char *proxy, int timeout, size_t max_len, unsigned char **resp,
                  size_t *resp_len, char *err, size_t errlen);

/* og_http_fetch(NULL, ...). */
int og_http_fetch_ocsp(const char *url, const unsigned char *req, size_t req_len,
                       const char *proxy, int timeout, size_t max_len,
                       unsigned char **resp, size_t *resp_len, char *err, size_t errlen);

#endif
