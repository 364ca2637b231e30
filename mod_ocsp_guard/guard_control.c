/* Copyright 2026 the mod_ocsp_guard developers. Licensed under the Apache License 2.0 (LICENSE). */
/* mod_ocsp_guard glue: run-time control (POST to ocsp-guard-status). */
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "httpd.h"
#include "http_log.h"
#include "http_protocol.h"
#include "http_request.h"
#include "apr_shm.h"
#include "apr_lib.h"
#include "apr_strings.h"

#include "guard_control.h"
#include "guard_log.h"
#include "guard_table.h"

APLOG_USE_MODULE(ocsp_guard);

#define CONTROL_KEY "mod_ocsp_guard-control"

static og_control *control;

og_control *guard_control_current(void)
{
    return control;
}

void guard_control_forget(void)
{
    control = NULL;
}

og_control *guard_control_create(server_rec *s, const guard_registry *r, const og_table *table)
{
    apr_pool_t *proc_pool = s->process->pool;
    apr_shm_t *shm = NULL, *old = NULL;
    unsigned n = og_table_count(table), carried = 0;
    apr_status_t rv;
    og_control *c;

    rv = apr_shm_create(&shm, og_control_size(n), NULL, proc_pool);
    if (rv != APR_SUCCESS) {
        ap_log_error(APLOG_MARK, APLOG_ERR, rv, s, GUARD_LOGNO(01020) "cannot create shared memory "
                     "for run-time control: POST to %s is refused, and notifications are not "
                     "remembered across restarts", GUARD_STATUS_HANDLER);
        return NULL;
    }
    c = og_control_init(apr_shm_baseaddr_get(shm), apr_shm_size_get(shm), n, guard_registry_ids(r));
    apr_pool_userdata_get((void **)&old, CONTROL_KEY, proc_pool);
    if (old) {
        /* the size is the one this process mapped, not what the region says */
        if (c)
            carried = og_control_carry_over(c, table, apr_shm_baseaddr_get(old), apr_shm_size_get(old));
        apr_shm_destroy(old);
    }
    apr_pool_userdata_set(shm, CONTROL_KEY, apr_pool_cleanup_null, proc_pool);
    ap_log_error(APLOG_MARK, APLOG_DEBUG, 0, s, "control region for %u certificate(s); "
                 "notification memory of %u carried over", n, carried);
    control = c;
    return c;
}

/* ---- the handler ---- */

/* The answer: one line of text with the status. */
static int reply(request_rec *r, int status, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static int reply(request_rec *r, int status, const char *fmt, ...)
{
    va_list ap;
    char line[512];
    va_start(ap, fmt);
    vsnprintf(line, sizeof(line), fmt, ap);
    va_end(ap);
    r->status = status;
    ap_set_content_type(r, "text/plain; charset=utf-8");
    apr_table_setn(r->headers_out, "Cache-Control", "no-store");
    if (!r->header_only)
        ap_rprintf(r, "%s\n", line);
    return OK;
}

/* Before an answer given without reading the body: a small body is read
 * and dropped so the connection can be kept; a large or unknown one closes
 * it instead of being read. */
static int refuse(request_rec *r, int status, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static int refuse(request_rec *r, int status, const char *fmt, ...)
{
    const char *cl = apr_table_get(r->headers_in, "Content-Length");
    va_list ap;
    char line[512];
    va_start(ap, fmt);
    vsnprintf(line, sizeof(line), fmt, ap);
    va_end(ap);
    if (cl && apr_atoi64(cl) >= 0 && apr_atoi64(cl) <= OG_MAX_RESPONSE &&
        !apr_table_get(r->headers_in, "Transfer-Encoding"))
        ap_discard_request_body(r);
    else
        r->connection->keepalive = AP_CONN_CLOSE;
    return reply(r, status, "%s", line);
}

typedef struct params {
    const char *action;
    const char *id;
} params;

/* key=value&... into p. NULL, or what is wrong. */
static const char *parse_params(apr_pool_t *pool, const char *text, params *p)
{
    char *copy = apr_pstrdup(pool, text ? text : ""), *last = NULL;
    for (char *kv = apr_strtok(copy, "&", &last); kv; kv = apr_strtok(NULL, "&", &last)) {
        char *val = strchr(kv, '=');
        const char **slot;
        if (val)
            *val++ = '\0';
        if (!strcmp(kv, "action"))
            slot = &p->action;
        else if (!strcmp(kv, "id"))
            slot = &p->id;
        else
            return apr_psprintf(pool, "unknown parameter '%.40s' (action and id are known)",
                                ap_escape_logitem(pool, kv));
        if (*slot)
            return apr_psprintf(pool, "parameter '%s' given twice", kv);
        if (!val || ap_unescape_urlencoded(val) != OK)
            return apr_psprintf(pool, "parameter '%s' has no valid value", kv);
        *slot = val;
    }
    return NULL;
}

/* The media type of the body, lower case, without parameters; "" when none. */
static const char *media_type(request_rec *r)
{
    const char *ct = apr_table_get(r->headers_in, "Content-Type");
    char *t;
    if (!ct)
        return "";
    t = apr_pstrndup(r->pool, ct, strcspn(ct, "; \t"));
    ap_str_tolower(t);
    return t;
}

/* Reads at most limit bytes of body. OK with *too_large set when there is
 * more (a Content-Length over the limit is refused before reading). */
static int read_body(request_rec *r, apr_size_t limit, char **buf, apr_size_t *len, int *too_large)
{
    int rc = ap_setup_client_block(r, REQUEST_CHUNKED_DECHUNK);
    long got;
    *len = 0;
    *too_large = 0;
    *buf = NULL;
    if (rc != OK)
        return rc;
    if (r->remaining > (apr_off_t)limit) {
        *too_large = 1;
        r->connection->keepalive = AP_CONN_CLOSE;
        return OK;
    }
    *buf = apr_palloc(r->pool, limit + 1);
    if (!ap_should_client_block(r))
        return OK;
    while ((got = ap_get_client_block(r, *buf + *len, limit + 1 - *len)) > 0) {
        *len += (apr_size_t)got;
        if (*len > limit) {
            *too_large = 1;
            r->connection->keepalive = AP_CONN_CLOSE;
            return OK;
        }
    }
    return got < 0 ? HTTP_BAD_REQUEST : OK;
}

int guard_control_parse_id(const char *hex, unsigned char id[OG_ID_LEN])
{
    if (strlen(hex) != 2 * OG_ID_LEN)
        return 0;
    for (int i = 0; i < OG_ID_LEN; i++) {
        unsigned v;
        if (!apr_isxdigit(hex[2 * i]) || !apr_isxdigit(hex[2 * i + 1]) ||
            sscanf(hex + 2 * i, "%2x", &v) != 1)
            return 0;
        id[i] = (unsigned char)v;
    }
    return 1;
}

static const char *cert_name(int slot)
{
    const guard_registry *reg = guard_registry_current();
    if (!reg || slot < 0 || slot >= reg->targets->nelts)
        return "?";
    return ((const og_target *)reg->targets->elts)[slot].cert->name;
}

static int do_refresh(request_rec *r, og_control *c, int slot)
{
    unsigned n = og_control_request_refresh(c, slot);
    ap_log_rerror(APLOG_MARK, APLOG_NOTICE, 0, r, GUARD_LOGNO(01010) "control: %s asked for a "
                  "refresh of %s", r->useragent_ip,
                  slot < 0 ? apr_psprintf(r->pool, "all %u certificate(s)", n) : cert_name(slot));
    return reply(r, HTTP_ACCEPTED, "refresh asked for %u certificate(s); the refresher fetches "
                 "within seconds (at most once per %d s per certificate)", n,
                 OG_CONTROL_REFRESH_EVERY);
}

static const int verdict_status[] = {
    [OG_IMPORT_PENDING] = HTTP_SERVICE_UNAVAILABLE,
    [OG_IMPORT_STAPLED] = HTTP_OK,
    [OG_IMPORT_INVALID] = HTTP_BAD_REQUEST,
    [OG_IMPORT_OLDER] = HTTP_CONFLICT,
    [OG_IMPORT_TOO_LARGE] = HTTP_REQUEST_ENTITY_TOO_LARGE,
    [OG_IMPORT_NO_SLOT] = HTTP_NOT_FOUND,
    [OG_IMPORT_UNAVAILABLE] = HTTP_SERVICE_UNAVAILABLE,
};

static int do_import(request_rec *r, og_control *c, int slot)
{
    apr_time_t deadline = apr_time_now() + apr_time_from_sec(GUARD_CONTROL_WAIT);
    og_import_verdict v = OG_IMPORT_PENDING;
    char *der, reason[256] = "";
    apr_size_t len;
    uint32_t ticket;
    int too_large, box, rc;

    if (strcmp(media_type(r), "application/ocsp-response"))
        return refuse(r, HTTP_UNSUPPORTED_MEDIA_TYPE, "an import is a DER OCSP response with "
                      "Content-Type: application/ocsp-response");
    if ((rc = read_body(r, OG_MAX_RESPONSE, &der, &len, &too_large)) != OK)
        return refuse(r, HTTP_BAD_REQUEST, "the body could not be read");
    if (too_large)
        return reply(r, HTTP_REQUEST_ENTITY_TOO_LARGE, "an OCSP response may have at most %d bytes",
                     OG_MAX_RESPONSE);
    if (len == 0)
        return reply(r, HTTP_BAD_REQUEST, "the body is empty: send the DER OCSP response");
    box = og_control_submit(c, (unsigned)slot, (const unsigned char *)der, len, time(NULL), &ticket);
    if (box < 0)
        return reply(r, HTTP_SERVICE_UNAVAILABLE, "%d imports are in progress already; try again",
                     OG_CONTROL_BOXES);
    while ((v = og_control_result(c, box, ticket, reason, sizeof(reason))) == OG_IMPORT_PENDING &&
           apr_time_now() < deadline)
        apr_sleep(apr_time_from_msec(20));
    if (v == OG_IMPORT_PENDING) {
        if (og_control_withdraw(c, box, ticket))
            apr_snprintf(reason, sizeof(reason), "the refresher did not take the import within "
                         "%d s; nothing was changed", GUARD_CONTROL_WAIT);
        else if ((v = og_control_result(c, box, ticket, reason, sizeof(reason))) == OG_IMPORT_PENDING)
            apr_snprintf(reason, sizeof(reason), "the refresher did not answer within %d s; the "
                         "response may still be stapled: look at the status", GUARD_CONTROL_WAIT);
    }
    ap_log_rerror(APLOG_MARK, v == OG_IMPORT_STAPLED ? APLOG_NOTICE : APLOG_WARNING, 0, r,
                  GUARD_LOGNO(01013) "control: %s imported a response for %s: %d, %s",
                  r->useragent_ip, cert_name(slot), verdict_status[v], reason);
    return reply(r, verdict_status[v], "%s", reason);
}

int guard_control_handler(request_rec *r)
{
    og_table *table = guard_table_current();
    og_control *c = guard_control_current();
    unsigned char id[OG_ID_LEN];
    params p = { NULL, NULL };
    const char *err;
    int slot = -1;

    if (!r->handler || strcmp(r->handler, GUARD_STATUS_HANDLER))
        return DECLINED;
    if (r->method_number == M_GET || r->method_number == M_OPTIONS)
        return DECLINED;         /* the views answer GET and change nothing */
    if (r->method_number != M_POST) {
        apr_table_setn(r->headers_out, "Allow", "GET, HEAD, POST, OPTIONS");
        return refuse(r, HTTP_METHOD_NOT_ALLOWED, "GET shows the status; POST (action=refresh "
                      "or action=import) changes it");
    }
    /* a browser page elsewhere could POST here with an operator's address;
     * the control is for tools (curl, scripts), which send no Origin */
    if (apr_table_get(r->headers_in, "Origin"))
        return refuse(r, HTTP_FORBIDDEN, "refused: a request from a web page (Origin header); "
                      "use curl or a script");
    if ((err = parse_params(r->pool, r->args, &p)))
        return refuse(r, HTTP_BAD_REQUEST, "%s", err);
    if (!strcmp(media_type(r), "application/x-www-form-urlencoded")) {
        char *body;
        apr_size_t len;
        int too_large;
        if (read_body(r, GUARD_CONTROL_FORM_MAX, &body, &len, &too_large) != OK)
            return refuse(r, HTTP_BAD_REQUEST, "the body could not be read");
        if (too_large)
            return reply(r, HTTP_REQUEST_ENTITY_TOO_LARGE, "a form may have at most %d bytes",
                         GUARD_CONTROL_FORM_MAX);
        if ((err = parse_params(r->pool, apr_pstrmemdup(r->pool, body, len), &p)))
            return reply(r, HTTP_BAD_REQUEST, "%s", err);
    }
    if (!p.action || (strcmp(p.action, "refresh") && strcmp(p.action, "import")))
        return refuse(r, HTTP_BAD_REQUEST, "action must be refresh or import");
    if (!p.id)
        return refuse(r, HTTP_BAD_REQUEST, "id is missing: the certificate's 40 hex digits "
                      "(SHA-1 of its DER)%s", strcmp(p.action, "refresh") ? "" : ", or all");
    if (!strcmp(p.id, "all") && !strcmp(p.action, "refresh")) {
        slot = -1;
    } else if (!guard_control_parse_id(p.id, id)) {
        return refuse(r, HTTP_BAD_REQUEST, "id must be 40 hexadecimal digits (SHA-1 of the "
                      "certificate's DER)%s", strcmp(p.action, "refresh") ? "" : " or all");
    } else if (!table || (slot = og_table_find(table, id, OG_ID_LEN)) < 0) {
        return refuse(r, HTTP_NOT_FOUND, "no certificate with id %s is stapled here",
                      ap_escape_logitem(r->pool, p.id));
    }
    if (!table || !c)
        return refuse(r, HTTP_NOT_FOUND, "mod_ocsp_guard staples no certificate here");
    if (!og_control_refresher_alive(c, time(NULL)))
        return refuse(r, HTTP_SERVICE_UNAVAILABLE, "the refresher is not answering; nothing "
                      "was changed");
    if (strcmp(p.action, "refresh"))
        return do_import(r, c, slot);
    /* a form body was read already; a refresh takes no other */
    if (strcmp(media_type(r), "application/x-www-form-urlencoded") &&
        (apr_table_get(r->headers_in, "Transfer-Encoding") ||
         apr_atoi64(apr_table_get(r->headers_in, "Content-Length") ?
                    apr_table_get(r->headers_in, "Content-Length") : "0") != 0))
        return refuse(r, HTTP_UNSUPPORTED_MEDIA_TYPE, "a refresh takes its parameters in the "
                      "query string or an application/x-www-form-urlencoded body");
    return do_refresh(r, c, slot);
}
