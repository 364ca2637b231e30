/* configtest for mod_ocsp_guard. apache2 -t runs check_config but not
 * mod_ssl's post_config, so the certificates have not been loaded: walk the
 * configuration tree (as mod_info does), read each SSL virtual host's
 * certificate files ourselves, and report what cannot be stapled and why. */
#include <stdio.h>
#include <string.h>

#include "httpd.h"
#include "http_config.h"
#include "http_core.h"
#include "http_log.h"
#include "ap_provider.h"
#include "ap_socache.h"
#include "util_cfgtree.h"
#include "apr_strings.h"

#include <openssl/err.h>
#include <openssl/pem.h>

#include "mod_ocsp_guard.h"
#include "mod_socache_ocsp.h"
#include "og_ocsp.h"
#include "og_table.h"

APLOG_USE_MODULE(ocsp_guard);

/* What the configuration says about one virtual host. */
typedef struct vhost_conf {
    const char *name;            /* "addr (ServerName)" */
    int ssl_engine;
    apr_array_header_t *cert_files;
    const char *chain_file;
    const char *ca_file;
    int use_stapling;
    int guard;                   /* UNSET: default On */
    const char *responder;
} vhost_conf;

/* One certificate as configtest sees it. */
typedef struct checked_cert {
    const vhost_conf *vh;
    const char *file;
    X509 *leaf;
    X509 *issuer;                /* NULL: not in the configured chain */
    char *name;                  /* subject and serial */
    const char *url;             /* effective responder URL, or NULL */
    int must_staple;
    int guarded;
} checked_cert;

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
        else if (!strcasecmp(dir, "OCSPGuard"))
            v->guard = is_on(p, d->args);
        else if (!strcasecmp(dir, "OCSPGuardResponder"))
            v->responder = first_word(p, d->args);
        else if (!strcasecmp(dir, "ServerName"))
            v->name = apr_psprintf(p, "%s (%s)", v->name, first_word(p, d->args));
        else if (d->first_child && *dir == '<')
            collect(p, d->first_child, v);
    }
}

static apr_array_header_t *collect_vhosts(apr_pool_t *p)
{
    apr_array_header_t *all = apr_array_make(p, 8, sizeof(vhost_conf *));
    vhost_conf *main_conf = apr_pcalloc(p, sizeof(*main_conf));
    const ap_directive_t *d;
    main_conf->name = "main server";
    main_conf->cert_files = apr_array_make(p, 2, sizeof(const char *));
    main_conf->guard = UNSET;
    collect(p, ap_conftree, main_conf);
    APR_ARRAY_PUSH(all, vhost_conf *) = main_conf;
    for (d = ap_conftree; d; d = d->next) {
        if (strcasecmp(d->directive, "<VirtualHost"))
            continue;
        vhost_conf *v = apr_pmemdup(p, main_conf, sizeof(*v));
        v->name = apr_pstrdup(p, d->args);
        if (*v->name && v->name[strlen(v->name) - 1] == '>')
            ((char *)v->name)[strlen(v->name) - 1] = '\0';
        v->ssl_engine = 0;       /* mod_ssl: SSLEngine is per virtual host */
        v->cert_files = apr_array_make(p, 2, sizeof(const char *));
        v->chain_file = NULL;
        collect(p, d->first_child, v);
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
    X509_free(c->leaf);
    X509_free(c->issuer);
    free(c->name);
    return APR_SUCCESS;
}

/* Every certificate of every SSL virtual host, with its issuer if found. */
static apr_array_header_t *collect_certs(apr_pool_t *p, server_rec *s, int *errors)
{
    apr_array_header_t *vhosts = collect_vhosts(p);
    apr_array_header_t *out = apr_array_make(p, 8, sizeof(checked_cert *));
    const char *global_responder = guard_conf(s)->responder;
    for (int i = 0; i < vhosts->nelts; i++) {
        vhost_conf *v = APR_ARRAY_IDX(vhosts, i, vhost_conf *);
        if (!v->ssl_engine)
            continue;
        for (int j = 0; j < v->cert_files->nelts; j++) {
            const char *file = APR_ARRAY_IDX(v->cert_files, j, const char *);
            STACK_OF(X509) *certs = read_certs(file), *chain = read_certs(v->chain_file);
            STACK_OF(X509) *cas = read_certs(v->ca_file);
            if (sk_X509_num(certs) == 0) {
                ap_log_error(APLOG_MARK, APLOG_ERR, 0, s, "configtest: vhost %s: cannot read a "
                             "certificate from %s", v->name, file);
                (*errors)++;
            } else {
                checked_cert *c = apr_pcalloc(p, sizeof(*c));
                c->vh = v;
                c->file = file;
                c->leaf = sk_X509_shift(certs);
                for (int k = 0; k < sk_X509_num(chain); k++)
                    sk_X509_push(certs, X509_dup(sk_X509_value(chain, k)));
                for (int k = 0; k < sk_X509_num(cas); k++)
                    sk_X509_push(certs, X509_dup(sk_X509_value(cas, k)));
                c->issuer = find_issuer(c->leaf, certs);
                if (c->issuer)
                    X509_up_ref(c->issuer);
                c->name = og_x509_name(c->leaf);
                c->must_staple = og_x509_must_staple(c->leaf);
                c->guarded = v->guard == UNSET ? 1 : v->guard;
                c->url = v->responder ? v->responder : global_responder;
                if (!c->url) {
                    char *aia = og_x509_ocsp_url(c->leaf);
                    c->url = aia ? apr_pstrdup(p, aia) : NULL;
                    free(aia);
                }
                apr_pool_cleanup_register(p, c, free_checked, apr_pool_cleanup_null);
                APR_ARRAY_PUSH(out, checked_cert *) = c;
            }
            sk_X509_pop_free(certs, X509_free);
            sk_X509_pop_free(chain, X509_free);
            sk_X509_pop_free(cas, X509_free);
        }
    }
    return out;
}

#define REPORT(level, c, ...) \
    ap_log_error(APLOG_MARK, level, 0, s, "configtest: vhost %s, %s: %s", (c)->vh->name, \
                 (c)->name, apr_psprintf(p, __VA_ARGS__))

static int check_cert(apr_pool_t *p, server_rec *s, const checked_cert *c)
{
    int errors = 0;
    if (c->must_staple && !c->url) {
        REPORT(APLOG_ERR, c, "must-staple certificate (TLS feature status_request) cannot be "
               "stapled: it names no OCSP responder and no OCSPGuardResponder is set; clients "
               "that honour must-staple will refuse it");
        errors++;
    }
    if (c->must_staple && !c->guarded && !c->vh->use_stapling) {
        REPORT(APLOG_ERR, c, "must-staple certificate with OCSPGuard Off and SSLUseStapling off: "
               "nothing staples it");
        errors++;
    }
    if ((c->url && c->guarded) || c->must_staple) {
        if (!c->issuer) {
            REPORT(APLOG_ERR, c, "its issuer is not in the configured chain (%s%s%s): OCSP needs "
                   "the issuer; add it with SSLCertificateChainFile or to the certificate file",
                   c->file, c->vh->chain_file ? ", " : "", c->vh->chain_file ? c->vh->chain_file : "");
            errors++;
        }
    }
    if (!c->url && !c->must_staple)
        REPORT(APLOG_WARNING, c, "no OCSP URL in the certificate: not stapled (normal for CAs "
               "that stopped OCSP)");
    if (c->url && strncasecmp(c->url, "http://", 7))
        REPORT(APLOG_WARNING, c, "responder URL %s is not http://: not stapled by mod_ocsp_guard",
               c->url);
    if (c->guarded && c->url && c->vh->use_stapling)
        REPORT(APLOG_WARNING, c, "SSLUseStapling on as well: mod_ocsp_guard staples this "
               "certificate, mod_ssl's stapling is not used for it (turn it off to avoid confusion)");
    return errors;
}

static ap_socache_provider_t *cache_instance(apr_pool_t *p, server_rec *s,
                                             ap_socache_instance_t **inst, const char **name)
{
    const char *spec = guard_cache_spec(s, p), *args;
    char *n;
    ap_socache_provider_t *provider;
    if (!spec)
        return NULL;
    n = apr_pstrdup(p, spec);
    args = strchr(n, ':');
    if (args)
        *(char *)args++ = '\0';
    provider = ap_lookup_provider(AP_SOCACHE_PROVIDER_GROUP, n, AP_SOCACHE_PROVIDER_VERSION);
    if (!provider || provider->create(inst, args, p, p))
        return NULL;
    *name = n;
    return provider;
}

int guard_configtest(apr_pool_t *p, server_rec *s)
{
    int errors = 0;
    apr_array_header_t *certs = collect_certs(p, s, &errors);
    APR_OPTIONAL_FN_TYPE(socache_ocsp_selftest) *selftest =
        APR_RETRIEVE_OPTIONAL_FN(socache_ocsp_selftest);
    ap_socache_instance_t *inst;
    const char *name, *redis_problem = NULL, *dir_problem;
    for (int i = 0; i < certs->nelts; i++)
        errors += check_cert(p, s, APR_ARRAY_IDX(certs, i, checked_cert *));
    if (cache_instance(p, s, &inst, &name) && !strcmp(name, "ocsp") && selftest) {
        dir_problem = selftest(inst, s, GUARD_CACHE_CONSUMER, &redis_problem, p);
        if (dir_problem) {
            ap_log_error(APLOG_MARK, APLOG_ERR, 0, s, "configtest: OCSPGuardCache %s: %s",
                         guard_cache_spec(s, p), dir_problem);
            errors++;
        }
        if (redis_problem)
            ap_log_error(APLOG_MARK, APLOG_WARNING, 0, s, "configtest: OCSPGuardCache %s: %s; "
                         "responses will not be shared until it does", guard_cache_spec(s, p),
                         redis_problem);
    }
    ap_log_error(APLOG_MARK, errors ? APLOG_ERR : APLOG_INFO, 0, s, "configtest: %d "
                 "certificate(s) checked, %d error(s)", certs->nelts, errors);
    return errors;
}

static const char *time_text(apr_pool_t *p, time_t t)
{
    char buf[32];
    struct tm tm;
    gmtime_r(&t, &tm);
    strftime(buf, sizeof(buf), "%Y-%m-%dT%H:%M:%SZ", &tm);
    return apr_pstrdup(p, buf);
}

void guard_dump_ocsp(apr_pool_t *p, server_rec *s)
{
    int errors = 0;
    apr_array_header_t *certs = collect_certs(p, s, &errors);
    APR_OPTIONAL_FN_TYPE(socache_ocsp_inspect) *inspect =
        APR_RETRIEVE_OPTIONAL_FN(socache_ocsp_inspect);
    ap_socache_instance_t *inst = NULL;
    const char *cache_name = NULL;
    ap_socache_provider_t *provider = cache_instance(p, s, &inst, &cache_name);
    unsigned char *der = apr_palloc(p, OG_MAX_RESPONSE);

    printf("OCSP stapling (mod_ocsp_guard), cache %s:\n", provider ? guard_cache_spec(s, p) : "none");
    printf("%-28s %-32s %-12s %-34s %-11s %-9s %-20s %-20s %s\n", "VirtualHost", "Subject",
           "Serial", "Responder", "MustStaple", "Cached", "thisUpdate", "nextUpdate", "From");
    for (int i = 0; i < certs->nelts; i++) {
        checked_cert *c = APR_ARRAY_IDX(certs, i, checked_cert *);
        const char *status = "-", *this_u = "-", *next_u = "-", *where = "none";
        char *subject = apr_pstrdup(p, c->name + strlen("subject ")), *serial = strstr(subject, ", serial ");
        if (serial) {
            *serial = '\0';
            serial += strlen(", serial ");
        }
        if (!c->url || !c->guarded) {
            status = c->guarded ? "no-url" : "off";
        } else if (provider && inspect && !strcmp(cache_name, "ocsp") && c->issuer) {
            unsigned int len = OG_MAX_RESPONSE;
            char why[256];
            og_resp_info info;
            unsigned char *leaf_der = NULL;
            int leaf_len = i2d_X509(c->leaf, &leaf_der);
            og_cert *oc = leaf_len > 0 ? og_cert_from_der(leaf_der, (size_t)leaf_len, c->issuer,
                                                          why, sizeof(why)) : NULL;
            OPENSSL_free(leaf_der);
            if (oc && inspect(inst, s, GUARD_CACHE_CONSUMER, oc->id, OG_ID_LEN, der, &len, &where, p)
                      == APR_SUCCESS) {
                og_verify_result r = og_verify_response(oc, der, len, time(NULL),
                                                        guard_value_or(guard_conf(s)->max_skew,
                                                                       DEFAULT_MAX_SKEW),
                                                        &info, why, sizeof(why));
                status = r == OG_VERIFY_OK ? og_status_name(info.status)
                       : r == OG_VERIFY_EXPIRED ? "expired" : "invalid";
                if (info.this_update > 0) {
                    this_u = time_text(p, info.this_update);
                    next_u = time_text(p, info.next_update);
                }
            } else {
                status = "none";
            }
            og_cert_free(oc);
        } else if (!c->issuer) {
            status = "no-issuer";
        }
        printf("%-28s %-32s %-12s %-34s %-11s %-9s %-20s %-20s %s\n", c->vh->name, subject,
               serial ? serial : "?", c->url ? c->url : "-", c->must_staple ? "yes" : "no",
               status, this_u, next_u, where);
    }
    fflush(stdout);
}
