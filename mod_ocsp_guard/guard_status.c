/* Copyright 2026 the mod_ocsp_guard developers. Licensed under the Apache License 2.0 (LICENSE). */
/* mod_ocsp_guard glue: server-status section, JSON status, Prometheus
 * metrics. All three show one snapshot of the shared table (snapshot()),
 * taken per request in the child that answers; nothing here writes. */
#include <string.h>
#include <time.h>

#include "httpd.h"
#include "http_config.h"
#include "http_core.h"
#include "http_log.h"
#include "http_protocol.h"
#include "http_request.h"
#include "apr_strings.h"
#include "apr_lib.h"
#include "mod_status.h"

#include "og_text.h"
#include "guard_config.h"
#include "guard_control.h"
#include "guard_log.h"
#include "guard_registry.h"
#include "guard_status.h"
#include "guard_table.h"

APLOG_USE_MODULE(ocsp_guard);

/* What a certificate's staple is now: good or revoked while stapled,
 * expired once the last response's nextUpdate passed with nothing newer,
 * none before any response. */
typedef enum { STATE_NONE, STATE_GOOD, STATE_REVOKED, STATE_EXPIRED, STATES } cert_state;
static const char *const state_name[STATES] = { "none", "good", "revoked", "expired" };

typedef struct cert_view {
    const og_target *t;
    const guard_place *places;   /* the first is where it is named */
    og_slot_status st;
    cert_state state;
    int stapled;
    apr_uint64_t hs_stapled, hs_unstapled;
} cert_view;

typedef struct status_view {
    time_t now;
    int n;
    cert_view *certs;
    og_table_stats stats;
    int stapled, failing, revoked, expired, must_unstapled;
    apr_uint64_t hs_stapled, hs_unstapled;
} status_view;

static status_view *snapshot(apr_pool_t *p)
{
    status_view *v = apr_pcalloc(p, sizeof(*v));
    guard_registry *r = guard_registry_current();
    og_table *table = guard_table_current();
    v->now = time(NULL);
    v->stats.shared_cache = OG_SHARED_NONE;
    if (table)
        og_table_stats_read(table, &v->stats);
    if (!r)
        return v;
    v->n = r->targets->nelts;
    v->certs = apr_pcalloc(p, sizeof(*v->certs) * (apr_size_t)(v->n ? v->n : 1));
    for (int i = 0; i < v->n; i++) {
        cert_view *c = &v->certs[i];
        og_slot_meta m;
        uint64_t yes = 0, no = 0;
        c->t = &((const og_target *)r->targets->elts)[i];
        c->places = APR_ARRAY_IDX(r->places, i, guard_place *);
        if (table) {
            if (!og_table_status_read(table, c->t->slot, &c->st))
                memset(&c->st, 0, sizeof(c->st));   /* a writer stuck mid-record: unknown */
            og_table_handshakes(table, c->t->slot, &yes, &no);
            c->stapled = guard_table_stapled(c->t->slot, v->now, &m);
        }
        c->hs_stapled = yes;
        c->hs_unstapled = no;
        c->state = c->stapled ? (m.status == OG_STATUS_REVOKED ? STATE_REVOKED : STATE_GOOD)
                 : c->st.last.status != OG_STATUS_NONE ? STATE_EXPIRED : STATE_NONE;
        v->stapled += c->stapled;
        v->failing += c->st.failures > 0;
        v->revoked += c->state == STATE_REVOKED;
        v->expired += c->state == STATE_EXPIRED;
        v->must_unstapled += c->t->cert->must_staple && !c->stapled;
        v->hs_stapled += yes;
        v->hs_unstapled += no;
    }
    return v;
}

static const char *time_text(apr_pool_t *p, time_t t)
{
    char buf[32];
    if (!t)
        return "-";
    og_format_time(t, buf, sizeof(buf));
    return apr_pstrdup(p, buf);
}

/* ------------------------------------------------------------ mod_status */

static void status_short(request_rec *r, const status_view *v)
{
    ap_rprintf(r, "OCSPGuardCertificates: %d\nOCSPGuardStapled: %d\nOCSPGuardFailing: %d\n"
               "OCSPGuardRevoked: %d\nOCSPGuardExpired: %d\nOCSPGuardMustStapleUnstapled: %d\n"
               "OCSPGuardHandshakesStapled: %" APR_UINT64_T_FMT "\n"
               "OCSPGuardHandshakesUnstapled: %" APR_UINT64_T_FMT "\n", v->n, v->stapled, v->failing,
               v->revoked, v->expired, v->must_unstapled, v->hs_stapled, v->hs_unstapled);
}

int guard_status_hook(request_rec *r, int flags)
{
    status_view *v = snapshot(r->pool);
    apr_pool_t *p = r->pool;
    int table = !(flags & AP_STATUS_NOTABLE);
    if (flags & AP_STATUS_SHORT) {
        status_short(r, v);
        return OK;
    }
    ap_rputs("<hr />\n<h2>mod_ocsp_guard: OCSP stapling</h2>\n", r);
    ap_rprintf(r, "<dl><dt>%d certificate(s): %d stapled, %d failing, %d revoked, %d expired, "
               "%d must-staple without a staple</dt>\n<dt>handshakes asking for a staple: %"
               APR_UINT64_T_FMT " stapled, %" APR_UINT64_T_FMT " without</dt></dl>\n", v->n,
               v->stapled, v->failing, v->revoked, v->expired, v->must_unstapled, v->hs_stapled,
               v->hs_unstapled);
    if (!v->n)
        return OK;
    ap_rputs(table ? "<table border=\"0\"><tr><th>Virtual host</th><th>Subject</th><th>Serial</th>"
                     "<th>Status</th><th>nextUpdate</th><th>Next refresh</th><th>Failures</th>"
                     "<th>Last error</th></tr>\n" : "<dl>\n", r);
    for (int i = 0; i < v->n; i++) {
        const cert_view *c = &v->certs[i];
        const char *cells[8];
        cells[0] = ap_escape_html(p, c->places->vhost);
        cells[1] = ap_escape_html(p, c->t->cert->subject);
        cells[2] = ap_escape_html(p, c->t->cert->serial);
        cells[3] = apr_pstrcat(p, state_name[c->state],
                               c->t->cert->must_staple ? " (must-staple)" : "", NULL);
        cells[4] = time_text(p, c->st.last.next_update);
        cells[5] = time_text(p, c->st.next_refresh);
        cells[6] = apr_itoa(p, (int)c->st.failures);
        cells[7] = c->st.last_error[0] ? apr_pstrcat(p, time_text(p, c->st.last_error_at), " ",
                                                     ap_escape_html(p, c->st.last_error), NULL) : "-";
        if (table)
            ap_rprintf(r, "<tr><td>%s</td><td>%s</td><td>%s</td><td>%s</td><td>%s</td><td>%s</td>"
                       "<td>%s</td><td>%s</td></tr>\n", cells[0], cells[1], cells[2], cells[3],
                       cells[4], cells[5], cells[6], cells[7]);
        else
            ap_rprintf(r, "<dt>%s %s serial %s: %s, nextUpdate %s, next refresh %s, %s failure(s), "
                       "last error: %s</dt>\n", cells[0], cells[1], cells[2], cells[3], cells[4],
                       cells[5], cells[6], cells[7]);
    }
    ap_rputs(table ? "</table>\n" : "</dl>\n", r);
    return OK;
}

/* ----------------------------------------------------------------- JSON */

/* A JSON string, quoted, or null. */
static const char *js(apr_pool_t *p, const char *s)
{
    size_t n;
    char *out;
    if (!s)
        return "null";
    n = og_json_escape(NULL, 0, s);
    out = apr_palloc(p, n + 3);
    out[0] = '"';
    og_json_escape(out + 1, n + 1, s);
    out[n + 1] = '"';
    out[n + 2] = '\0';
    return out;
}

/* "KEY": "RFC 3339", "KEY_unix": seconds; both null when t is 0. */
static const char *jtime(apr_pool_t *p, const char *key, time_t t)
{
    if (!t)
        return apr_psprintf(p, "\"%s\": null, \"%s_unix\": null", key, key);
    return apr_psprintf(p, "\"%s\": \"%s\", \"%s_unix\": %" APR_INT64_T_FMT, key, time_text(p, t),
                        key, (apr_int64_t)t);
}

static const char *hex_id(apr_pool_t *p, const unsigned char *id)
{
    char *out = apr_palloc(p, 2 * OG_ID_LEN + 1);
    for (int i = 0; i < OG_ID_LEN; i++)
        apr_snprintf(out + 2 * i, 3, "%02x", id[i]);
    return out;
}

static void json_cert(request_rec *r, const cert_view *c)
{
    apr_pool_t *p = r->pool;
    const og_slot_status *st = &c->st;
    const og_cert *cert = c->t->cert;
    int fetched = st->last_fetch != 0;
    ap_rprintf(r, "    {\"id\": \"%s\", \"subject\": %s, \"serial\": %s, \"responder\": %s, "
               "\"must_staple\": %s,\n     \"virtual_hosts\": [", hex_id(p, cert->id),
               js(p, cert->subject), js(p, cert->serial), js(p, c->t->url),
               cert->must_staple ? "true" : "false");
    for (const guard_place *pl = c->places; pl; pl = pl->next)
        ap_rprintf(r, "%s{\"name\": %s, \"file\": %s}", pl == c->places ? "" : ", ", js(p, pl->vhost),
                   js(p, pl->file));
    ap_rprintf(r, "],\n     \"status\": \"%s\", \"stapled\": %s, \"source\": %s,\n     %s, %s,\n     %s,\n"
               "     %s,\n", state_name[c->state], c->stapled ? "true" : "false",
               st->last.status != OG_STATUS_NONE ? js(p, og_source_name(st->last.source)) : "null",
               jtime(p, "this_update", st->last.this_update), jtime(p, "next_update", st->last.next_update),
               jtime(p, "produced_at", st->last.produced_at), jtime(p, "next_refresh", st->next_refresh));
    ap_rprintf(r, "     %s, \"last_fetch_duration_ms\": %s, \"last_fetch_result\": %s,\n"
               "     \"consecutive_failures\": %u, %s,\n     \"last_error\": %s, %s,\n"
               "     \"clock_skew_seconds\": %s,\n     \"handshakes\": {\"stapled\": %" APR_UINT64_T_FMT
               ", \"unstapled\": %" APR_UINT64_T_FMT "}}",
               jtime(p, "last_fetch", st->last_fetch),
               fetched ? apr_psprintf(p, "%u", st->last_fetch_ms) : "null",
               fetched ? js(p, og_fetch_result_name(st->last_result)) : "null", st->failures,
               jtime(p, "failing_since", st->failing_since),
               st->last_error[0] ? js(p, st->last_error) : "null",
               jtime(p, "last_error_at", st->last_error_at),
               st->skew_known ? apr_psprintf(p, "%ld", st->skew) : "null", c->hs_stapled,
               c->hs_unstapled);
}

/* Serial numbers compare as numbers: case and leading zeros aside. */
static const char *serial_key(apr_pool_t *p, const char *hex)
{
    char *k;
    while (*hex == '0' && hex[1])
        hex++;
    k = apr_pstrdup(p, hex);
    ap_str_toupper(k);
    return k;
}

static int all_hex(const char *s, size_t max)
{
    size_t n = strlen(s);
    if (n < 1 || n > max)
        return 0;
    for (; *s; s++) {
        if (!apr_isxdigit(*s))
            return 0;
    }
    return 1;
}

/* A one-line plain-text answer with status code. */
static int say(request_rec *r, int status, const char *line)
{
    r->status = status;
    ap_set_content_type(r, "text/plain; charset=utf-8");
    ap_rprintf(r, "%s\n", line);
    return OK;
}

static int serve_json(request_rec *r)
{
    apr_pool_t *p = r->pool;
    const char *args = r->args, *want_serial = NULL, *id_text = NULL;
    unsigned char want_id[OG_ID_LEN];
    status_view *v;
    int shown = 0;
    while (args && *args) {
        char *val = ap_getword(p, &args, '&');
        char *key = ap_getword(p, (const char **)&val, '=');
        if (ap_unescape_url(key) != OK || ap_unescape_url(val) != OK)
            return say(r, HTTP_BAD_REQUEST, "malformed query string");
        if (!strcmp(key, "id") && guard_control_parse_id(val, want_id))
            id_text = val;
        else if (!strcmp(key, "serial") && all_hex(val, 80))
            want_serial = serial_key(p, val);
        else if (!strcmp(key, "id") || !strcmp(key, "serial"))
            return say(r, HTTP_BAD_REQUEST, apr_psprintf(p, "%s must be hexadecimal (id: the 40 digits "
                                                         "of the certificate's SHA-1)", key));
        else if (*key)
            return say(r, HTTP_BAD_REQUEST, apr_psprintf(p, "unknown parameter '%s': GET takes "
                                                         "id=HEX or serial=HEX and changes nothing",
                                                         ap_escape_logitem(p, key)));
    }
    v = snapshot(p);
    for (int i = 0; i < v->n; i++) {
        const cert_view *c = &v->certs[i];
        if ((id_text && memcmp(want_id, c->t->cert->id, OG_ID_LEN)) ||
            (want_serial && strcmp(want_serial, serial_key(p, c->t->cert->serial))))
            continue;
        if (!shown++) {
            ap_set_content_type(r, "application/json");
            if (r->header_only)
                return OK;
            ap_rprintf(r, "{\"module\": \"mod_ocsp_guard\", \"version\": \"%s\", %s,\n"
                       " \"refresher_restarts\": %" APR_UINT64_T_FMT ", \"shared_cache\": %s,\n"
                       " \"handshakes\": {\"stapled\": %" APR_UINT64_T_FMT ", \"unstapled\": %"
                       APR_UINT64_T_FMT "},\n \"fetches\": {", OG_VERSION, jtime(p, "generated", v->now),
                       (apr_uint64_t)v->stats.refresher_restarts,
                       v->stats.shared_cache == OG_SHARED_NONE ? "null"
                       : v->stats.shared_cache == OG_SHARED_UP ? "\"up\"" : "\"down\"",
                       v->hs_stapled, v->hs_unstapled);
            for (int k = 0; k < OG_FETCH_RESULTS; k++)
                ap_rprintf(r, "%s\"%s\": %" APR_UINT64_T_FMT, k ? ", " : "",
                           og_fetch_result_name((og_fetch_result)k), (apr_uint64_t)v->stats.fetches[k]);
            ap_rprintf(r, "},\n \"summary\": {\"certificates\": %d, \"stapled\": %d, \"failing\": %d, "
                       "\"revoked\": %d, \"expired\": %d, \"must_staple_unstapled\": %d},\n"
                       " \"certificates\": [\n", v->n, v->stapled, v->failing, v->revoked, v->expired,
                       v->must_unstapled);
        } else {
            ap_rputs(",\n", r);
        }
        json_cert(r, c);
    }
    if (!shown && (id_text || want_serial))
        return say(r, HTTP_NOT_FOUND, apr_psprintf(p, "no certificate with %s %s is stapled by "
                                                   "mod_ocsp_guard", id_text ? "id" : "serial",
                                                   id_text ? id_text : want_serial));
    if (!shown) {
        ap_set_content_type(r, "application/json");
        if (!r->header_only)
            ap_rprintf(r, "{\"module\": \"mod_ocsp_guard\", \"version\": \"%s\", %s,\n \"certificates\": [",
                       OG_VERSION, jtime(p, "generated", v->now));
    }
    if (!r->header_only)
        ap_rputs("\n ]}\n", r);
    return OK;
}

/* ----------------------------------------------------------- Prometheus */

static const char *label(apr_pool_t *p, const char *s)
{
    size_t n = og_prom_label_escape(NULL, 0, s ? s : "");
    char *out = apr_palloc(p, n + 1);
    og_prom_label_escape(out, n + 1, s ? s : "");
    return out;
}

/* Milliseconds as seconds the way Prometheus clients write bucket bounds:
 * "0.05", "1", "2.5". */
static const char *seconds_text(apr_pool_t *p, unsigned ms)
{
    char *t = apr_psprintf(p, "%u.%03u", ms / 1000, ms % 1000), *end = t + strlen(t) - 1;
    while (*end == '0')
        *end-- = '\0';
    if (*end == '.')
        *end = '\0';
    return t;
}

static void family(request_rec *r, const char *name, const char *type, const char *help)
{
    ap_rprintf(r, "# HELP %s %s\n# TYPE %s %s\n", name, help, name, type);
}

/* One gauge per certificate that has a value for it. */
typedef int cert_value(const cert_view *c, apr_int64_t *out);

static int v_this_update(const cert_view *c, apr_int64_t *o) { *o = c->st.last.this_update; return *o != 0; }
static int v_next_update(const cert_view *c, apr_int64_t *o) { *o = c->st.last.next_update; return *o != 0; }
static int v_next_refresh(const cert_view *c, apr_int64_t *o) { *o = c->st.next_refresh; return *o != 0; }
static int v_last_fetch(const cert_view *c, apr_int64_t *o) { *o = c->st.last_fetch; return *o != 0; }
static int v_failures(const cert_view *c, apr_int64_t *o) { *o = c->st.failures; return 1; }
static int v_failing_since(const cert_view *c, apr_int64_t *o) { *o = c->st.failing_since; return *o != 0; }
static int v_skew(const cert_view *c, apr_int64_t *o) { *o = c->st.skew; return c->st.skew_known; }
static int v_must_staple(const cert_view *c, apr_int64_t *o) { *o = c->t->cert->must_staple; return 1; }

static void per_cert(request_rec *r, const status_view *v, const char **labels, const char *name,
                     const char *help, cert_value *value)
{
    family(r, name, "gauge", help);
    for (int i = 0; i < v->n; i++) {
        apr_int64_t x;
        if (value(&v->certs[i], &x))
            ap_rprintf(r, "%s{%s} %" APR_INT64_T_FMT "\n", name, labels[i], x);
    }
}

static void serve_metrics(request_rec *r)
{
    apr_pool_t *p = r->pool;
    status_view *v = snapshot(p);
    const char **labels = apr_pcalloc(p, sizeof(*labels) * (apr_size_t)(v->n ? v->n : 1));
    apr_uint64_t cumulative = 0;
    ap_set_content_type(r, "text/plain; version=0.0.4; charset=utf-8");
    if (r->header_only)
        return;
    for (int i = 0; i < v->n; i++)
        labels[i] = apr_psprintf(p, "vhost=\"%s\",subject=\"%s\",serial=\"%s\"",
                                 label(p, v->certs[i].places->vhost), label(p, v->certs[i].t->cert->subject),
                                 label(p, v->certs[i].t->cert->serial));
    family(r, "ocsp_guard_certificates", "gauge", "Certificates mod_ocsp_guard staples.");
    ap_rprintf(r, "ocsp_guard_certificates %d\n", v->n);
    family(r, "ocsp_guard_certificate_info", "gauge",
           "Where each certificate is configured (its first virtual host and file) and its responder; always 1.");
    for (int i = 0; i < v->n; i++) {
        const cert_view *c = &v->certs[i];
        ap_rprintf(r, "ocsp_guard_certificate_info{%s,file=\"%s\",responder=\"%s\",id=\"%s\"} 1\n",
                   labels[i], label(p, c->places->file ? c->places->file : ""), label(p, c->t->url),
                   hex_id(p, c->t->cert->id));
    }
    per_cert(r, v, labels, "ocsp_guard_certificate_must_staple",
             "1 when the certificate demands a staple (TLS feature status_request).", v_must_staple);
    family(r, "ocsp_guard_response_status", "gauge",
           "The certificate's staple: 1 on the series of its state (good and revoked are stapled; "
           "expired: the last response's nextUpdate passed; none: no response yet).");
    for (int i = 0; i < v->n; i++)
        for (int k = 0; k < STATES; k++)
            ap_rprintf(r, "ocsp_guard_response_status{%s,status=\"%s\"} %d\n", labels[i], state_name[k],
                       v->certs[i].state == (cert_state)k);
    per_cert(r, v, labels, "ocsp_guard_response_this_update_timestamp_seconds",
             "thisUpdate of the certificate's last verified response.", v_this_update);
    per_cert(r, v, labels, "ocsp_guard_response_next_update_timestamp_seconds",
             "nextUpdate of the certificate's last verified response: the staple ends then.", v_next_update);
    per_cert(r, v, labels, "ocsp_guard_next_refresh_timestamp_seconds",
             "When the next responder request for the certificate is due.", v_next_refresh);
    per_cert(r, v, labels, "ocsp_guard_last_fetch_timestamp_seconds",
             "When the last responder request for the certificate began.", v_last_fetch);
    per_cert(r, v, labels, "ocsp_guard_consecutive_failures",
             "Failed refreshes of the certificate in a row (0 once one works).", v_failures);
    per_cert(r, v, labels, "ocsp_guard_failing_since_timestamp_seconds",
             "Start of the certificate's current run of failed refreshes (absent when none failed).",
             v_failing_since);
    per_cert(r, v, labels, "ocsp_guard_clock_skew_seconds",
             "producedAt of the responder's last answer minus the local time it arrived; above 0 "
             "the local clock is behind (a response cannot be produced in the future).", v_skew);
    family(r, "ocsp_guard_handshakes_total", "counter",
           "TLS handshakes that asked for a staple (status_request), by whether they got one.");
    ap_rprintf(r, "ocsp_guard_handshakes_total{stapled=\"true\"} %" APR_UINT64_T_FMT "\n"
               "ocsp_guard_handshakes_total{stapled=\"false\"} %" APR_UINT64_T_FMT "\n",
               v->hs_stapled, v->hs_unstapled);
    family(r, "ocsp_guard_fetches_total", "counter", "Requests to OCSP responders, by result.");
    for (int k = 0; k < OG_FETCH_RESULTS; k++)
        ap_rprintf(r, "ocsp_guard_fetches_total{result=\"%s\"} %" APR_UINT64_T_FMT "\n",
                   og_fetch_result_name((og_fetch_result)k), (apr_uint64_t)v->stats.fetches[k]);
    family(r, "ocsp_guard_fetch_duration_seconds", "histogram",
           "Duration of requests to OCSP responders (DNS, connect and exchange).");
    for (int k = 0; k <= OG_FETCH_BUCKETS; k++) {
        cumulative += v->stats.fetch_buckets[k];
        if (k < OG_FETCH_BUCKETS)
            ap_rprintf(r, "ocsp_guard_fetch_duration_seconds_bucket{le=\"%s\"} %" APR_UINT64_T_FMT "\n",
                       seconds_text(p, og_fetch_bucket_ms[k]), cumulative);
    }
    ap_rprintf(r, "ocsp_guard_fetch_duration_seconds_bucket{le=\"+Inf\"} %" APR_UINT64_T_FMT "\n"
               "ocsp_guard_fetch_duration_seconds_sum %.3f\n"
               "ocsp_guard_fetch_duration_seconds_count %" APR_UINT64_T_FMT "\n", cumulative,
               (double)v->stats.fetch_ms_sum / 1000.0, cumulative);
    family(r, "ocsp_guard_refresher_restarts_total", "counter",
           "Times the refresher process died and the parent started a new one.");
    ap_rprintf(r, "ocsp_guard_refresher_restarts_total %" APR_UINT64_T_FMT "\n",
               (apr_uint64_t)v->stats.refresher_restarts);
    if (v->stats.shared_cache != OG_SHARED_NONE) {
        family(r, "socache_ocsp_redis_up", "gauge",
               "1 when socache_ocsp's Redis tier answers the refresher, 0 while it is marked down.");
        ap_rprintf(r, "socache_ocsp_redis_up %d\n", v->stats.shared_cache == OG_SHARED_UP);
    }
}

/* -------------------------------------------------------------- handler */

int guard_status_handler(request_rec *r)
{
    int json = r->handler && !strcmp(r->handler, GUARD_STATUS_HANDLER);
    if (!json && !(r->handler && !strcmp(r->handler, GUARD_METRICS_HANDLER)))
        return DECLINED;
    if (r->method_number != M_GET) {
        if (json)
            return DECLINED;     /* POST there is the control unit's */
        ap_allow_methods(r, REPLACE_ALLOW, "GET", "HEAD", NULL);
        return HTTP_METHOD_NOT_ALLOWED;
    }
    /* what they show is data, never a page to run */
    apr_table_setn(r->headers_out, "X-Content-Type-Options", "nosniff");
    apr_table_setn(r->headers_out, "Cache-Control", "no-store");
    if (json)
        return serve_json(r);
    serve_metrics(r);
    return OK;
}
