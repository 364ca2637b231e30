/* Copyright 2026 the mod_ocsp_guard developers. Licensed under the Apache License 2.0 (LICENSE). */
/* mod_ocsp_guard glue: the log bridge. */
#include <stdarg.h>
#include <stdio.h>

#include "httpd.h"
#include "http_log.h"
#include "apr_strings.h"

#include "guard_log.h"

APLOG_USE_MODULE(ocsp_guard);

void guard_log_core(void *baton, const char *file, int line, int level, const char *fmt, ...)
{
    server_rec *s = baton;
    char msg[1024];
    va_list ap;
    if (!APLOG_IS_LEVEL(s, level))
        return;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    /* the core's file and line, not this bridge's: LogLevel debug says
     * where a line came from */
    ap_log_error_(file, line, APLOG_MODULE_INDEX, level, 0, s, "%s", msg);
}

const char *guard_log_vhost(apr_pool_t *p, const server_rec *s)
{
    return apr_psprintf(p, "%s:%u", s->server_hostname ? s->server_hostname : "?",
                        s->addrs ? s->addrs->host_port : s->port);
}
