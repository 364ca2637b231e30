/* Copyright 2026 the mod_ocsp_guard developers. Licensed under the Apache License 2.0 (LICENSE). */
/* mod_ocsp_guard glue, control room: this generation's control region (the
 * shared memory through which children ask the refresher for work) and the
 * POST side of the ocsp-guard-status handler: refresh now, import a
 * response. GET belongs to the status views, which change nothing. Depends
 * on guard_table, guard_registry and guard_log. */
#ifndef GUARD_CONTROL_H
#define GUARD_CONTROL_H

#include "httpd.h"
#include "og_control.h"
#include "guard_registry.h"

#define GUARD_STATUS_HANDLER "ocsp-guard-status"
#define GUARD_CONTROL_WAIT 10            /* seconds a POST waits for the refresher's verdict */
#define GUARD_CONTROL_FORM_MAX 1024      /* a form body (refresh) */

/* A new control region for r's certificates, slot for slot with table;
 * the last generation's notification memory is carried over. NULL (logged)
 * when the shared memory cannot be had: no run-time control then. */
og_control *guard_control_create(server_rec *s, const guard_registry *r, const og_table *table);
/* This generation's region, or NULL. */
og_control *guard_control_current(void);
void guard_control_forget(void);

/* 1 and the 20 bytes when hex is 40 hexadecimal digits (a certificate's id,
 * in the handlers' id= parameter). */
int guard_control_parse_id(const char *hex, unsigned char id[OG_ID_LEN]);

/* The handler hook: POST (and other non-GET methods) for the
 * ocsp-guard-status handler; DECLINED for everything else. */
int guard_control_handler(request_rec *r);

#endif
