/* Copyright 2026 the mod_ocsp_guard developers. Licensed under the Apache License 2.0 (LICENSE). */
/* mod_ocsp_guard glue: configtest and -D DUMP_OCSP. apache2 -t runs
 * check_config but not mod_ssl's post_config, so the certificates have not
 * been loaded: walk the configuration tree (as mod_info does) for each SSL
 * virtual host's certificate files, read them, and report what cannot be
 * stapled and why. Reads only: nothing here creates or removes a file. */
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "httpd.h"
#include "http_config.h"
#include "http_core.h"
#include "http_log.h"
#include "util_cfgtree.h"
#include "apr_strings.h"

#include <openssl/err.h>
#include <openssl/pem.h>

#include "mod_socache_ocsp.h"
#include "og_ocsp.h"
#include "guard_cache.h"
#include "guard_check.h"
#include "guard_config.h"
#include "guard_log.h"

APLOG_USE_MODULE(ocsp_guard);

#define NO_URL_NAMED 3           /* certificates without OCSP URL named in the summary */

/* What the configuration says about one virtual host. */
typedef struct vhost_conf {
    const char *name;            /* "addr (ServerName)" */
    const server_rec *s;         /* its server_rec: our merged settings */
    int ssl_engine;
    apr_array_header_t *cert_files;
    const char *chain_file;
    const char *ca_file;
    int use_stapling;
} vhost_conf;

typedef enum { BY_NONE, BY_GUARD, BY_MD, BY_SSL } stapler;
static const char *const stapler_name[] = { "none", "mod_ocsp_guard", "mod_md", "mod_ssl" };

/* One certificate as configtest sees it. */
typedef struct checked_cert {
    const vhost_conf *vh;
    const char *file;
    og_cert *cert;               /* NULL when its issuer is not in the configured chain */
    char *subject, *serial;      /* as in og_cert, read from the leaf alone */
    const char *url;             /* effective responder URL, or NULL */
    int must_staple;
    int guarded;                 /* OCSPGuard on for its virtual host */
    stapler by;
} checked_cert;

/* A configtest run: what it found and how it reports. */
typedef struct check_run {
    apr_pool_t *p;
    server_rec *s;
    int strict;
    int md_stapling;             /* mod_md loaded with MDStapling on somewhere */
    int errors, warnings;
} check_run;

static const char *first_word(apr_pool_t *p, const char *args)
{
    return ap_getword_conf(p, &args);
}

static int is_on(apr_pool_t *p, const char *args)
{
    return !strcasecmp(first_word(p, args), "on");
}

static void collect(apr_pool_t *p, const ap_directive_t *d, vhost_conf *v)
{
    for (; d; d = d->next) {
        const char *dir = d->directive;
        if (!strcasecmp(dir, "<VirtualHost"))
            continue;            /* each is a vhost of its own */
        if (!strcasecmp(dir, "SSLEngine"))
            v->ssl_engine = is_on(p, d->args);
        else if (!strcasecmp(dir, "SSLCertificateFile"))
            APR_ARRAY_PUSH(v->cert_files, const char *) =
                ap_server_root_relative(p, first_word(p, d->args));
        else if (!strcasecmp(dir, "SSLCertificateChainFile"))
            v->chain_file = ap_server_root_relative(p, first_word(p, d->args));
        else if (!strcasecmp(dir, "SSLCACertificateFile"))
            v->ca_file = ap_server_root_relative(p, first_word(p, d->args));
        else if (!strcasecmp(dir, "SSLUseStapling"))
            v->use_stapling = is_on(p, d->args);
        else if (!strcasecmp(dir, "ServerName"))
            v->name = apr_psprintf(p, "%s (%s)", v->name, first_word(p, d->args));
        else if (d->first_child && *dir == '<')
            collect(p, d->first_child, v);
    }
}

/* MDStapling on anywhere (globally or in an <MDomain>), with mod_md loaded. */
static int md_stapling_on(apr_pool_t *p, const ap_directive_t *d)
{
    for (; d; d = d->next) {
        if (!strcasecmp(d->directive, "MDStapling") && is_on(p, d->args))
            return 1;
        if (d->first_child && md_stapling_on(p, d->first_child))
            return 1;
    }
    return 0;
}

/* The server_rec httpd made of the <VirtualHost> at d: our merged settings. */
static const server_rec *server_of(const server_rec *main_s, const ap_directive_t *d)
{
    for (const server_rec *s = main_s->next; s; s = s->next) {
        if (s->defn_name && d->filename && s->defn_line_number == (unsigned)d->line_num &&
            !strcmp(s->defn_name, d->filename))
            return s;
    }
    return main_s;
}

static apr_array_header_t *collect_vhosts(apr_pool_t *p, const server_rec *main_s)
{
    apr_array_header_t *all = apr_array_make(p, 8, sizeof(vhost_conf *));
    vhost_conf *main_conf = apr_pcalloc(p, sizeof(*main_conf));
    main_conf->name = "main server";
    main_conf->s = main_s;
    main_conf->cert_files = apr_array_make(p, 2, sizeof(const char *));
    collect(p, ap_conftree, main_conf);
    APR_ARRAY_PUSH(all, vhost_conf *) = main_conf;
    for (const ap_directive_t *d = ap_conftree; d; d = d->next) {
        if (strcasecmp(d->directive, "<VirtualHost"))
            continue;
        vhost_conf *v = apr_pmemdup(p, main_conf, sizeof(*v));
        v->name = apr_pstrdup(p, d->args);
        if (*v->name && v->name[strlen(v->name) - 1] == '>')
            ((char *)v->name)[strlen(v->name) - 1] = '\0';
        v->s = server_of(main_s, d);
        /* As mod_ssl merges a virtual host over the main server: SSLEngine,
         * the chain and the CA file when the host does not set them (copied
         * above), the main server's certificate files after its own. */
        v->cert_files = apr_array_make(p, 2, sizeof(const char *));
        collect(p, d->first_child, v);
        apr_array_cat(v->cert_files, main_conf->cert_files);
        APR_ARRAY_PUSH(all, vhost_conf *) = v;
    }
    return all;
}

static STACK_OF(X509) *read_certs(const char *file)
{
    STACK_OF(X509) *certs = sk_X509_new_null();
    BIO *b = file ? BIO_new_file(file, "r") : NULL;
    X509 *x;
    while (b && (x = PEM_read_bio_X509(b, NULL, NULL, NULL)))
        sk_X509_push(certs, x);
    BIO_free(b);
    ERR_clear_error();
    return certs;
}

static X509 *find_issuer(X509 *leaf, STACK_OF(X509) *candidates)
{
    for (int i = 0; i < sk_X509_num(candidates); i++) {
        X509 *c = sk_X509_value(candidates, i);
        if (c != leaf && X509_check_issued(c, leaf) == X509_V_OK)
            return c;
    }
    return NULL;
}

static apr_status_t free_checked(void *data)
{
    checked_cert *c = data;
    og_cert_free(c->cert);
    free(c->subject);
    free(c->serial);
    return APR_SUCCESS;
}

/* The leaf as og_cert with its issuer, through the core's own path. */
static og_cert *core_cert(X509 *leaf, X509 *issuer)
{
    unsigned char *der = NULL;
    char err[256];
    int len = i2d_X509(leaf, &der);
    og_cert *c = len > 0 ? og_cert_from_der(der, (size_t)len, issuer, err, sizeof(err)) : NULL;
    OPENSSL_free(der);
    return c;
}

static checked_cert *check_one(check_run *run, const vhost_conf *v, const char *file, X509 *leaf,
                               STACK_OF(X509) *candidates)
{
    checked_cert *c = apr_pcalloc(run->p, sizeof(*c));
    const guard_server_conf *gc = guard_conf(v->s);
    X509 *issuer = find_issuer(leaf, candidates);
    c->vh = v;
    c->file = file;
    c->cert = issuer ? core_cert(leaf, issuer) : NULL;
    og_x509_subject_serial(leaf, &c->subject, &c->serial);
    c->must_staple = og_x509_must_staple(leaf);
    c->guarded = gc->enabled;
    c->url = gc->responder;
    if (!c->url) {
        char *aia = og_x509_ocsp_url(leaf);
        c->url = aia ? apr_pstrdup(run->p, aia) : NULL;
        free(aia);
    }
    if (c->guarded && c->url && !strncasecmp(c->url, "http://", 7) && c->cert)
        c->by = BY_GUARD;
    else if (run->md_stapling && c->url)
        c->by = BY_MD;
    else if (v->use_stapling && c->url && issuer)
        c->by = BY_SSL;
    apr_pool_cleanup_register(run->p, c, free_checked, apr_pool_cleanup_null);
    return c;
}

/* Every certificate of every SSL virtual host, with its issuer if found. */
static apr_array_header_t *collect_certs(check_run *run)
{
    apr_array_header_t *vhosts = collect_vhosts(run->p, run->s);
    apr_array_header_t *out = apr_array_make(run->p, 8, sizeof(checked_cert *));
    for (int i = 0; i < vhosts->nelts; i++) {
        vhost_conf *v = APR_ARRAY_IDX(vhosts, i, vhost_conf *);
        if (!v->ssl_engine)
            continue;
        for (int j = 0; j < v->cert_files->nelts; j++) {
            const char *file = APR_ARRAY_IDX(v->cert_files, j, const char *);
            STACK_OF(X509) *certs = read_certs(file), *chain = read_certs(v->chain_file);
            STACK_OF(X509) *cas = read_certs(v->ca_file);
            X509 *leaf = sk_X509_shift(certs);
            if (!leaf) {
                ap_log_error(APLOG_MARK, APLOG_WARNING, 0, run->s, GUARD_LOGNO(00501) "configtest: "
                             "vhost %s: cannot read a certificate from %s", v->name, file);
                run->warnings++;
            } else {
                for (int k = 0; k < sk_X509_num(chain); k++)
                    sk_X509_push(certs, X509_dup(sk_X509_value(chain, k)));
                for (int k = 0; k < sk_X509_num(cas); k++)
                    sk_X509_push(certs, X509_dup(sk_X509_value(cas, k)));
                APR_ARRAY_PUSH(out, checked_cert *) = check_one(run, v, file, leaf, certs);
                X509_free(leaf);
            }
            sk_X509_pop_free(certs, X509_free);
            sk_X509_pop_free(chain, X509_free);
            sk_X509_pop_free(cas, X509_free);
        }
    }
    return out;
}

/* One finding about one certificate. Warnings fail the test too under
 * OCSPGuardConfigCheck strict. */
static void report(check_run *run, const checked_cert *c, int error, const char *id, const char *fmt, ...)
    __attribute__((format(printf, 5, 6)));
static void report(check_run *run, const checked_cert *c, int error, const char *id, const char *fmt, ...)
{
    va_list ap;
    char *what;
    int fails = error || run->strict;
    va_start(ap, fmt);
    what = apr_pvsprintf(run->p, fmt, ap);
    va_end(ap);
    ap_log_error(APLOG_MARK, fails ? APLOG_ERR : APLOG_WARNING, 0, run->s, "%sconfigtest: vhost %s, "
                 "%s (subject %s, serial %s): %s", id, c->vh->name, c->file, c->subject, c->serial, what);
    if (fails)
        run->errors++;
    else
        run->warnings++;
}

static void check_cert(check_run *run, const checked_cert *c)
{
    /* must-staple: without a staple clients refuse the certificate */
    if (c->must_staple && !c->url)
        report(run, c, 1, GUARD_LOGNO(00502), "must-staple certificate (TLS feature status_request) "
               "cannot be stapled: it names no OCSP responder and no OCSPGuardResponder is set; "
               "clients that honour must-staple will refuse it");
    else if (c->must_staple && !c->cert)
        report(run, c, 1, GUARD_LOGNO(00503), "must-staple certificate whose issuer is not in the "
               "configured chain (%s%s%s): it cannot be stapled and clients that honour must-staple "
               "will refuse it; add the issuer with SSLCertificateChainFile or to the certificate file",
               c->file, c->vh->chain_file ? ", " : "", c->vh->chain_file ? c->vh->chain_file : "");
    else if (c->must_staple && c->by == BY_NONE)
        report(run, c, 1, GUARD_LOGNO(00504), "must-staple certificate that nothing staples "
               "(OCSPGuard Off, SSLUseStapling off, no MDStapling): clients that honour must-staple "
               "will refuse it");
    /* a customer's missing chain: that certificate goes unstapled, the rest is fine */
    else if (c->guarded && c->url && !c->cert)
        report(run, c, 0, GUARD_LOGNO(00505), "its issuer is not in the configured chain (%s%s%s): "
               "not stapled; add the issuer with SSLCertificateChainFile or to the certificate file",
               c->file, c->vh->chain_file ? ", " : "", c->vh->chain_file ? c->vh->chain_file : "");
    if (c->guarded && c->url && strncasecmp(c->url, "http://", 7))
        report(run, c, 0, GUARD_LOGNO(00506), "responder URL %s is not http://: not stapled by "
               "mod_ocsp_guard", c->url);
    if (c->by == BY_GUARD && c->vh->use_stapling)
        report(run, c, 0, GUARD_LOGNO(00507), "SSLUseStapling on as well: mod_ocsp_guard staples this "
               "certificate, mod_ssl's stapling is not used for it (turn it off to avoid confusion)");
}

/* Certificates without an OCSP URL are normal since CAs stopped OCSP: one
 * summary line, each one named at LogLevel ocsp_guard:info. */
static void report_no_url(check_run *run, apr_array_header_t *certs)
{
    int n = 0;
    const char *names = "";
    for (int i = 0; i < certs->nelts; i++) {
        const checked_cert *c = APR_ARRAY_IDX(certs, i, checked_cert *);
        if (c->url || c->must_staple)
            continue;
        if (n < NO_URL_NAMED)
            names = apr_psprintf(run->p, "%s%s%s", names, n ? ", " : "", c->file);
        n++;
        ap_log_error(APLOG_MARK, APLOG_INFO, 0, run->s, GUARD_LOGNO(00508) "configtest: vhost %s, %s "
                     "(subject %s, serial %s): no OCSP URL in the certificate: not stapled",
                     c->vh->name, c->file, c->subject, c->serial);
    }
    if (n)
        ap_log_error(APLOG_MARK, APLOG_NOTICE, 0, run->s, GUARD_LOGNO(00509) "configtest: %d "
                     "certificate(s) have no OCSP URL and are not stapled (normal for CAs that "
                     "stopped OCSP): %s%s", n, names, n > NO_URL_NAMED ? ", ..." : "");
}

static void report_md_overlap(check_run *run, apr_array_header_t *certs)
{
    int n = 0;
    for (int i = 0; i < certs->nelts; i++)
        n += APR_ARRAY_IDX(certs, i, checked_cert *)->by == BY_GUARD;
    if (!run->md_stapling || !n)
        return;
    ap_log_error(APLOG_MARK, run->strict ? APLOG_ERR : APLOG_WARNING, 0, run->s, GUARD_LOGNO(00510)
                 "configtest: mod_md has MDStapling on, and %d certificate(s) are stapled by "
                 "mod_ocsp_guard, whose hooks run before mod_md's; mod_md staples only what has "
                 "OCSPGuard Off. Set one of the two off to silence this", n);
    if (run->strict)
        run->errors++;
    else
        run->warnings++;
}

static void check_cache(check_run *run)
{
    APR_OPTIONAL_FN_TYPE(socache_ocsp_selftest) *selftest =
        APR_RETRIEVE_OPTIONAL_FN(socache_ocsp_selftest);
    const char *spec = guard_cache_effective_spec(run->p, guard_conf(run->s)->cache_spec);
    const char *redis_problem = NULL, *dir_problem;
    guard_cache c;
    if (!spec || guard_cache_create(run->p, run->p, spec, &c) || strcmp(c.name, "ocsp") || !selftest)
        return;
    dir_problem = selftest(c.instance, run->s, GUARD_CACHE_CONSUMER, &redis_problem, run->p);
    if (dir_problem) {
        ap_log_error(APLOG_MARK, APLOG_ERR, 0, run->s, GUARD_LOGNO(00511) "configtest: "
                     "OCSPGuardCache %s: %s", spec, dir_problem);
        run->errors++;
    }
    if (redis_problem) {
        ap_log_error(APLOG_MARK, run->strict ? APLOG_ERR : APLOG_WARNING, 0, run->s,
                     GUARD_LOGNO(00512) "configtest: OCSPGuardCache %s: %s; responses will not be "
                     "shared until it does", spec, redis_problem);
        if (run->strict)
            run->errors++;
        else
            run->warnings++;
    }
}

static void run_init(check_run *run, apr_pool_t *p, server_rec *s)
{
    memset(run, 0, sizeof(*run));
    run->p = p;
    run->s = s;
    run->strict = guard_conf(s)->config_check_strict;
    run->md_stapling = ap_find_linked_module("mod_md.c") && md_stapling_on(p, ap_conftree);
}

static const char *time_text(apr_pool_t *p, time_t t)
{
    char buf[32];
    og_format_time(t, buf, sizeof(buf));
    return apr_pstrdup(p, buf);
}

/* The cached response of c as DUMP_OCSP shows it, read only. */
static void cached_state(check_run *run, guard_cache *cache, const checked_cert *c, const char **status,
                         const char **this_u, const char **next_u, const char **where)
{
    APR_OPTIONAL_FN_TYPE(socache_ocsp_inspect) *inspect = APR_RETRIEVE_OPTIONAL_FN(socache_ocsp_inspect);
    unsigned char *der = apr_palloc(run->p, OG_MAX_RESPONSE);
    unsigned int len = OG_MAX_RESPONSE;
    og_resp_info info;
    char why[256];
    *status = "-", *this_u = "-", *next_u = "-", *where = "none";
    if (c->by != BY_GUARD) {
        *status = !c->url ? "no-url" : !c->guarded ? "off" : !c->cert ? "no-issuer" : "-";
        return;
    }
    if (!cache->provider || strcmp(cache->name, "ocsp") || !inspect) {
        *status = "unknown";     /* other providers cannot be read before init() */
        return;
    }
    if (inspect(cache->instance, run->s, GUARD_CACHE_CONSUMER, c->cert->id, OG_ID_LEN, der, &len,
                where, run->p) != APR_SUCCESS) {
        *status = "none";
        return;
    }
    og_verify_result r = og_verify_response(c->cert, der, len, time(NULL), guard_conf(run->s)->max_skew,
                                            &info, why, sizeof(why));
    *status = r == OG_VERIFY_OK ? og_status_name(info.status) : r == OG_VERIFY_EXPIRED ? "expired"
            : "invalid";
    if (info.this_update > 0) {
        *this_u = time_text(run->p, info.this_update);
        *next_u = time_text(run->p, info.next_update);
    }
}

#define DUMP_COLUMNS 11

/* One table on stdout, every column as wide as its widest cell. */
static void dump(check_run *run, apr_array_header_t *certs)
{
    static const char *const head[DUMP_COLUMNS] = {
        "VirtualHost", "File", "StapledBy", "Subject", "Serial", "Responder", "MustStaple",
        "Cached", "thisUpdate", "nextUpdate", "From" };
    const char *spec = guard_cache_effective_spec(run->p, guard_conf(run->s)->cache_spec);
    const char ***rows = apr_pcalloc(run->p, sizeof(*rows) * (apr_size_t)(certs->nelts + 1));
    int width[DUMP_COLUMNS];
    guard_cache cache;
    memset(&cache, 0, sizeof(cache));
    if (spec)
        guard_cache_create(run->p, run->p, spec, &cache);
    rows[0] = (const char **)head;
    for (int i = 0; i < certs->nelts; i++) {
        const checked_cert *c = APR_ARRAY_IDX(certs, i, checked_cert *);
        const char **row = apr_pcalloc(run->p, sizeof(*row) * DUMP_COLUMNS);
        row[0] = c->vh->name;
        row[1] = c->file;
        row[2] = stapler_name[c->by];
        row[3] = c->subject;
        row[4] = c->serial;
        row[5] = c->url ? c->url : "-";
        row[6] = c->must_staple ? "yes" : "no";
        cached_state(run, &cache, c, &row[7], &row[8], &row[9], &row[10]);
        rows[i + 1] = row;
    }
    for (int k = 0; k < DUMP_COLUMNS; k++) {
        width[k] = 0;
        for (int i = 0; i <= certs->nelts; i++)
            width[k] = (int)strlen(rows[i][k]) > width[k] ? (int)strlen(rows[i][k]) : width[k];
    }
    printf("OCSP stapling (mod_ocsp_guard/%s), cache %s:\n", OG_VERSION, spec ? spec : "none");
    for (int i = 0; i <= certs->nelts; i++) {
        for (int k = 0; k < DUMP_COLUMNS; k++)
            printf(k + 1 < DUMP_COLUMNS ? "%-*s  " : "%-*s\n", k + 1 < DUMP_COLUMNS ? width[k] : 0,
                   rows[i][k]);
    }
    fflush(stdout);
}

int guard_check_run(apr_pool_t *p, server_rec *s, int dump_table)
{
    check_run run;
    apr_array_header_t *certs;
    run_init(&run, p, s);
    certs = collect_certs(&run);
    /* the table first, so it is printed even when the checks fail */
    if (dump_table)
        dump(&run, certs);
    for (int i = 0; i < certs->nelts; i++)
        check_cert(&run, APR_ARRAY_IDX(certs, i, checked_cert *));
    report_no_url(&run, certs);
    report_md_overlap(&run, certs);
    check_cache(&run);
    ap_log_error(APLOG_MARK, run.errors ? APLOG_ERR : APLOG_INFO, 0, s, GUARD_LOGNO(00513)
                 "configtest: %d certificate(s) checked, %d error(s), %d warning(s)%s", certs->nelts,
                 run.errors, run.warnings, run.strict ? " (OCSPGuardConfigCheck strict)" : "");
    return run.errors;
}
