/* Copyright 2026 the mod_ocsp_guard developers. Licensed under the Apache License 2.0 (LICENSE). */
/* mod_ocsp_guard glue, config room: the directives and each server's
 * settings. The main server's settings start from the defaults and virtual
 * hosts inherit what they do not set, so guard_conf() always gives the
 * values in effect. Depends on guard_cache (OCSPGuardCache is judged by its
 * provider when read). */
#ifndef GUARD_CONFIG_H
#define GUARD_CONFIG_H

#include "httpd.h"
#include "http_config.h"

extern module AP_MODULE_DECLARE_DATA ocsp_guard_module;

#define GUARD_DEFAULT_REFRESH_PCT 50
#define GUARD_DEFAULT_RESPONDER_TIMEOUT 10
#define GUARD_DEFAULT_MAX_SKEW 300
#define GUARD_DEFAULT_STARTUP_WAIT 5
#define GUARD_DEFAULT_CONCURRENCY 4
#define GUARD_DEFAULT_MUST_STAPLE_WAIT 5
#define GUARD_DEFAULT_RESPONDER_RATE 50

typedef struct guard_server_conf {
    int enabled;
    const char *responder;       /* NULL: the certificate's AIA */
    int refresh_pct;
    int timeout;                 /* seconds, one whole responder exchange */
    int max_skew;                /* seconds */
    const char *proxy;           /* NULL: direct */
    int must_staple_wait;        /* seconds a must-staple handshake waits for a fetch in flight */
    /* server config only (main server) */
    int startup_wait;
    int concurrency;
    int responder_rate;          /* requests a second per responder; 0: no limit */
    const char *cache_spec;      /* as configured: "provider:args", "none", or NULL (default) */
    int config_check_strict;     /* OCSPGuardConfigCheck strict: configtest warnings fail too */
    apr_array_header_t *notify_argv; /* OCSPGuardNotifyCmd: program, then its arguments; NULL: none */
} guard_server_conf;

/* The settings in effect for s (a virtual host or the main server). */
const guard_server_conf *guard_conf(const server_rec *s);

/* For the module structure. */
void *guard_config_create(apr_pool_t *p, server_rec *s);
void *guard_config_merge(apr_pool_t *p, void *basev, void *addv);
extern const command_rec guard_config_cmds[];

#endif
