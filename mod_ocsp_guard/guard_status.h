/* Copyright 2026 the mod_ocsp_guard developers. Licensed under the Apache License 2.0 (LICENSE). */
/* mod_ocsp_guard glue, status room: what the staple table says, for
 * operators and their monitoring. A section in mod_status's server-status
 * (HTML, and "Key: value" lines for ?auto), and two handlers, on only
 * where SetHandler names them: ocsp-guard-status (JSON, docs/STATUS.md)
 * and ocsp-guard-metrics (Prometheus text format). Reads only; answers
 * GET (and HEAD) alone; POST to ocsp-guard-status is guard_control's.
 * Depends on guard_table, guard_registry, guard_control (the handler's name
 * and its id syntax), guard_config and guard_log. */
#ifndef GUARD_STATUS_H
#define GUARD_STATUS_H

#include "httpd.h"

#define GUARD_METRICS_HANDLER "ocsp-guard-metrics"   /* GUARD_STATUS_HANDLER: guard_control.h */

/* mod_status's status_hook (an optional hook: harmless without it). */
int guard_status_hook(request_rec *r, int flags);

/* The handler hook: the two handlers above. Methods other than GET are
 * DECLINED on ocsp-guard-status, whose POST is the control unit's;
 * ocsp-guard-metrics answers them 405. */
int guard_status_handler(request_rec *r);

#endif
