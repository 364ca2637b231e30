/* Copyright 2026 the mod_ocsp_guard developers. Licensed under the Apache License 2.0 (LICENSE). */
/* mod_ocsp_guard glue, log room: the core's log callback as httpd log lines,
 * and how a virtual host is named in them. Below every other glue unit. */
#ifndef GUARD_LOG_H
#define GUARD_LOG_H

#include "httpd.h"

/* Message IDs: every line an operator may alert on starts with one, in the
 * spirit of httpd's APLOGNO; docs/MESSAGES.md says what each means. */
#define GUARD_LOGNO(n) "OG" #n ": "

/* The og_log_fn the cores log through: baton is the server_rec to log
 * against; file and line are the core's own, shown at LogLevel debug. */
void guard_log_core(void *baton, const char *file, int line, int level, const char *fmt, ...)
    __attribute__((format(printf, 5, 6)));

/* "host:port" of a virtual host, for log lines. */
const char *guard_log_vhost(apr_pool_t *p, const server_rec *s);

#endif
