/* Copyright 2026 the mod_ocsp_guard developers. Licensed under the Apache License 2.0 (LICENSE). */
/* mod_ocsp_guard glue: directives and settings. */
#include <errno.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "httpd.h"
#include "http_config.h"
#include "apr_strings.h"
#include "apr_uri.h"

#include "guard_cache.h"
#include "guard_config.h"

#define UNSET -1

const guard_server_conf *guard_conf(const server_rec *s)
{
    return ap_get_module_config(s->module_config, &ocsp_guard_module);
}

static guard_server_conf *conf_of(cmd_parms *cmd)
{
    return ap_get_module_config(cmd->server->module_config, &ocsp_guard_module);
}

void *guard_config_create(apr_pool_t *p, server_rec *s)
{
    guard_server_conf *c = apr_pcalloc(p, sizeof(*c));
    /* The main server holds the defaults; a virtual host starts unset and
     * inherits in guard_config_merge what it does not set itself. */
    int vhost = s->is_virtual;
    c->enabled = vhost ? UNSET : 1;
    c->refresh_pct = vhost ? UNSET : GUARD_DEFAULT_REFRESH_PCT;
    c->timeout = vhost ? UNSET : GUARD_DEFAULT_RESPONDER_TIMEOUT;
    c->max_skew = vhost ? UNSET : GUARD_DEFAULT_MAX_SKEW;
    c->must_staple_wait = vhost ? UNSET : GUARD_DEFAULT_MUST_STAPLE_WAIT;
    c->startup_wait = vhost ? UNSET : GUARD_DEFAULT_STARTUP_WAIT;
    c->concurrency = vhost ? UNSET : GUARD_DEFAULT_CONCURRENCY;
    c->responder_rate = vhost ? UNSET : GUARD_DEFAULT_RESPONDER_RATE;
    c->config_check_strict = vhost ? UNSET : 0;
    return c;
}

#define MERGE_INT(f) m->f = (add->f != UNSET ? add->f : base->f)
#define MERGE_PTR(f) m->f = (add->f ? add->f : base->f)

void *guard_config_merge(apr_pool_t *p, void *basev, void *addv)
{
    guard_server_conf *base = basev, *add = addv, *m = apr_pcalloc(p, sizeof(*m));
    MERGE_INT(enabled);
    MERGE_PTR(responder);
    MERGE_INT(refresh_pct);
    MERGE_INT(timeout);
    MERGE_INT(max_skew);
    MERGE_PTR(proxy);
    MERGE_INT(must_staple_wait);
    MERGE_INT(startup_wait);
    MERGE_INT(concurrency);
    MERGE_INT(responder_rate);
    MERGE_PTR(cache_spec);
    MERGE_INT(config_check_strict);
    MERGE_PTR(notify_argv);
    return m;
}

/* A whole-number directive: where it goes and what it allows. */
typedef struct int_directive {
    size_t offset;               /* of the int in guard_server_conf */
    int min, max;
    int server_only;             /* not inside <VirtualHost> */
} int_directive;

static const int_directive refresh_at = { offsetof(guard_server_conf, refresh_pct), 1, 99, 0 };
static const int_directive responder_timeout = { offsetof(guard_server_conf, timeout), 1, 300, 0 };
static const int_directive max_skew = { offsetof(guard_server_conf, max_skew), 0, 86400, 0 };
static const int_directive startup_wait = { offsetof(guard_server_conf, startup_wait), 0, 600, 1 };
static const int_directive fetch_concurrency = { offsetof(guard_server_conf, concurrency), 1, 64, 1 };
static const int_directive must_staple_wait = { offsetof(guard_server_conf, must_staple_wait), 0, 60, 0 };
static const int_directive responder_rate = { offsetof(guard_server_conf, responder_rate), 0, 10000, 1 };

static const char *set_int(cmd_parms *cmd, void *dc, const char *arg)
{
    const int_directive *d = cmd->info;
    const char *err = d->server_only ? ap_check_cmd_context(cmd, GLOBAL_ONLY) : NULL;
    char *end;
    long v;
    (void)dc;
    if (err)
        return err;
    errno = 0;
    v = strtol(arg, &end, 10);
    if (errno || end == arg || *end || v < d->min || v > d->max)
        return apr_psprintf(cmd->pool, "%s: '%s' is not a whole number from %d to %d",
                            cmd->cmd->name, arg, d->min, d->max);
    *(int *)((char *)conf_of(cmd) + d->offset) = (int)v;
    return NULL;
}

static const char *check_http_url(cmd_parms *cmd, const char *arg, int path_allowed)
{
    apr_uri_t uri;
    char *end;
    long port;
    if (apr_uri_parse(cmd->pool, arg, &uri) != APR_SUCCESS || !uri.scheme || !uri.hostname ||
        !*uri.hostname || strcasecmp(uri.scheme, "http"))
        return apr_psprintf(cmd->pool, "%s: '%s' is not an http:// URL with a host",
                            cmd->cmd->name, arg);
    /* credentials would be neither sent nor kept out of the log lines that
     * name the responder or proxy */
    if (uri.user || uri.password)
        return apr_psprintf(cmd->pool, "%s: '%s': user names and passwords in the URL are not "
                            "supported", cmd->cmd->name, arg);
    if (uri.port_str && (port = strtol(uri.port_str, &end, 10), *end || port < 1 || port > 65535))
        return apr_psprintf(cmd->pool, "%s: '%s': the port must be a number from 1 to 65535",
                            cmd->cmd->name, arg);
    if (!path_allowed && uri.path && strcmp(uri.path, "/") && *uri.path)
        return apr_psprintf(cmd->pool, "%s: '%s' must be http://host:port without a path",
                            cmd->cmd->name, arg);
    return NULL;
}

static const char *set_responder(cmd_parms *cmd, void *dc, const char *arg)
{
    const char *err = check_http_url(cmd, arg, 1);
    (void)dc;
    if (!err)
        conf_of(cmd)->responder = arg;
    return err;
}

static const char *set_proxy(cmd_parms *cmd, void *dc, const char *arg)
{
    const char *err = check_http_url(cmd, arg, 0);
    (void)dc;
    if (!err)
        conf_of(cmd)->proxy = arg;
    return err;
}

static const char *set_enabled(cmd_parms *cmd, void *dc, int on)
{
    (void)dc;
    conf_of(cmd)->enabled = on;
    return NULL;
}

static const char *set_cache(cmd_parms *cmd, void *dc, const char *arg)
{
    const char *err = ap_check_cmd_context(cmd, GLOBAL_ONLY);
    guard_cache probe;
    (void)dc;
    if (err)
        return err;
    /* The provider judges its arguments now, so a mistake fails the
     * configuration (as SSLStaplingCache does) instead of a silent fallback. */
    if (strcasecmp(arg, "none") && (err = guard_cache_create(cmd->temp_pool, cmd->temp_pool, arg, &probe)))
        return apr_psprintf(cmd->pool, "OCSPGuardCache %s: %s", arg, err);
    conf_of(cmd)->cache_spec = arg;
    return NULL;
}

static const char *set_config_check(cmd_parms *cmd, void *dc, const char *arg)
{
    const char *err = ap_check_cmd_context(cmd, GLOBAL_ONLY);
    (void)dc;
    if (err)
        return err;
    if (strcasecmp(arg, "strict") && strcasecmp(arg, "relaxed"))
        return apr_psprintf(cmd->pool, "OCSPGuardConfigCheck: '%s' is not strict or relaxed", arg);
    conf_of(cmd)->config_check_strict = !strcasecmp(arg, "strict");
    return NULL;
}

/* The program is judged now, as root reads the configuration: an absolute
 * path to an executable file. It runs as the server's user, from the
 * refresher, with the reason and the certificate's name after these. */
static const char *set_notify_cmd(cmd_parms *cmd, void *dc, int argc, char *const argv[])
{
    const char *err = ap_check_cmd_context(cmd, GLOBAL_ONLY);
    apr_array_header_t *a;
    struct stat st;
    (void)dc;
    if (err)
        return err;
    if (argc < 1)
        return "OCSPGuardNotifyCmd: the program's absolute path is missing";
    if (argv[0][0] != '/')
        return apr_psprintf(cmd->pool, "OCSPGuardNotifyCmd: '%s' is not an absolute path", argv[0]);
    if (stat(argv[0], &st) != 0)
        return apr_psprintf(cmd->pool, "OCSPGuardNotifyCmd: '%s': %s", argv[0], strerror(errno));
    if (!S_ISREG(st.st_mode) || !(st.st_mode & (S_IXUSR | S_IXGRP | S_IXOTH)))
        return apr_psprintf(cmd->pool, "OCSPGuardNotifyCmd: '%s' is not an executable file", argv[0]);
    a = apr_array_make(cmd->pool, argc, sizeof(const char *));
    for (int i = 0; i < argc; i++)
        APR_ARRAY_PUSH(a, const char *) = apr_pstrdup(cmd->pool, argv[i]);
    conf_of(cmd)->notify_argv = a;
    return NULL;
}

const command_rec guard_config_cmds[] = {
    AP_INIT_FLAG("OCSPGuard", set_enabled, NULL, RSRC_CONF,
                 "On|Off: let mod_ocsp_guard staple this server's certificates (default On)"),
    AP_INIT_TAKE1("OCSPGuardResponder", set_responder, NULL, RSRC_CONF,
                  "http:// URL of the OCSP responder, overriding the certificates' AIA"),
    AP_INIT_TAKE1("OCSPGuardRefreshAt", set_int, (void *)&refresh_at, RSRC_CONF,
                  "percent (1-99) of a response's validity window at which to refresh (default 50)"),
    AP_INIT_TAKE1("OCSPGuardResponderTimeout", set_int, (void *)&responder_timeout, RSRC_CONF,
                  "seconds (1-300) one responder exchange may take (default 10)"),
    AP_INIT_TAKE1("OCSPGuardMaxSkew", set_int, (void *)&max_skew, RSRC_CONF,
                  "seconds (0-86400) a response's thisUpdate may lie in the future (default 300)"),
    AP_INIT_TAKE1("OCSPGuardProxy", set_proxy, NULL, RSRC_CONF,
                  "http://host:port of a proxy for responder requests"),
    AP_INIT_TAKE1("OCSPGuardMustStapleWait", set_int, (void *)&must_staple_wait, RSRC_CONF,
                  "seconds (0-60) a handshake for a must-staple certificate without a staple "
                  "waits for its fetch in flight (default 5, 0: never)"),
    AP_INIT_TAKE1("OCSPGuardStartupWait", set_int, (void *)&startup_wait, RSRC_CONF,
                  "seconds (0-600) startup waits for first responses (default 5)"),
    AP_INIT_TAKE1("OCSPGuardFetchConcurrency", set_int, (void *)&fetch_concurrency, RSRC_CONF,
                  "responder requests (1-64) in flight at once (default 4)"),
    AP_INIT_TAKE1("OCSPGuardResponderRate", set_int, (void *)&responder_rate, RSRC_CONF,
                  "requests a second (0-10000) to one responder at most, 0 for no limit (default 50)"),
    AP_INIT_TAKE1("OCSPGuardCache", set_cache, NULL, RSRC_CONF,
                  "PROVIDER:ARGS socache for verified responses, or none"),
    AP_INIT_TAKE1("OCSPGuardConfigCheck", set_config_check, NULL, RSRC_CONF,
                  "relaxed|strict: whether configtest warnings fail the test too (default relaxed)"),
    AP_INIT_TAKE_ARGV("OCSPGuardNotifyCmd", set_notify_cmd, NULL, RSRC_CONF,
                      "/path/to/program [args]: run for each certificate state change with the "
                      "reason and the certificate's name after args (default none)"),
    { NULL }
};
