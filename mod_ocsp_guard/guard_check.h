/* Copyright 2026 the mod_ocsp_guard developers. Licensed under the Apache License 2.0 (LICENSE). */
/* mod_ocsp_guard glue, checks room: configtest (apache2 -t) and -D
 * DUMP_OCSP. Depends on guard_config, guard_cache and guard_log. */
#ifndef GUARD_CHECK_H
#define GUARD_CHECK_H

#include "httpd.h"

/* Checks every certificate of every SSL virtual host; with dump_table the
 * DUMP_OCSP table goes to stdout first. Returns the number of errors:
 * must-staple certificates that cannot be stapled and a cache that cannot be
 * used (under OCSPGuardConfigCheck strict, every warning too). */
int guard_check_run(apr_pool_t *p, server_rec *s, int dump_table);

#endif
