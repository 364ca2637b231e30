/* OCSP core: certificate pairs, request building and response verification. */
#include "og_ocsp.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/asn1t.h>
#include <openssl/sha.h>
#include <openssl/x509v3.h>

static void set_err(char *err, size_t errlen, const char *fmt, const char *detail)
{
    if (err && errlen)
        snprintf(err, errlen, fmt, detail ? detail : "");
}

/* The last OpenSSL error as text, for the log line; clears the queue. */
static const char *openssl_reason(char *buf, size_t len)
{
    unsigned long e = ERR_peek_last_error();
    if (!e)
        snprintf(buf, len, "no detail");
    else
        ERR_error_string_n(e, buf, len);
    ERR_clear_error();
    return buf;
}

/* A certificate as far as stapling needs it: the public key is kept as
 * undecoded bytes (ASN1_ANY), which is what makes this parse cheap. */
typedef struct og_tbs_lite {
    ASN1_INTEGER *version;
    ASN1_INTEGER *serial;
    X509_ALGOR *signature;
    X509_NAME *issuer;
    ASN1_TYPE *validity;
    X509_NAME *subject;
    ASN1_TYPE *spki;
    ASN1_BIT_STRING *issuer_uid;
    ASN1_BIT_STRING *subject_uid;
    STACK_OF(X509_EXTENSION) *extensions;
} og_tbs_lite;

typedef struct og_cert_lite {
    og_tbs_lite *tbs;
    ASN1_TYPE *sig_alg;
    ASN1_TYPE *sig;
} og_cert_lite;

DECLARE_ASN1_ITEM(og_tbs_lite)
DECLARE_ASN1_ITEM(og_cert_lite)

ASN1_SEQUENCE(og_tbs_lite) = {
    ASN1_EXP_OPT(og_tbs_lite, version, ASN1_INTEGER, 0),
    ASN1_SIMPLE(og_tbs_lite, serial, ASN1_INTEGER),
    ASN1_SIMPLE(og_tbs_lite, signature, X509_ALGOR),
    ASN1_SIMPLE(og_tbs_lite, issuer, X509_NAME),
    ASN1_SIMPLE(og_tbs_lite, validity, ASN1_ANY),
    ASN1_SIMPLE(og_tbs_lite, subject, X509_NAME),
    ASN1_SIMPLE(og_tbs_lite, spki, ASN1_ANY),
    ASN1_IMP_OPT(og_tbs_lite, issuer_uid, ASN1_BIT_STRING, 1),
    ASN1_IMP_OPT(og_tbs_lite, subject_uid, ASN1_BIT_STRING, 2),
    ASN1_EXP_SEQUENCE_OF_OPT(og_tbs_lite, extensions, X509_EXTENSION, 3)
} ASN1_SEQUENCE_END(og_tbs_lite)

ASN1_SEQUENCE(og_cert_lite) = {
    ASN1_SIMPLE(og_cert_lite, tbs, og_tbs_lite),
    ASN1_SIMPLE(og_cert_lite, sig_alg, ASN1_ANY),
    ASN1_SIMPLE(og_cert_lite, sig, ASN1_ANY)
} ASN1_SEQUENCE_END(og_cert_lite)

static char *name_and_serial(const X509_NAME *subject_name, const ASN1_INTEGER *serial_number)
{
    char subject[256] = "?";
    char serial[80] = "?";
    char *out;
    BIO *mem = BIO_new(BIO_s_mem());
    if (mem) {
        int n;
        X509_NAME_print_ex(mem, subject_name, 0, XN_FLAG_RFC2253 & ~ASN1_STRFLGS_ESC_MSB);
        n = BIO_read(mem, subject, sizeof(subject) - 1);
        subject[n > 0 ? n : 0] = '\0';
        BIO_free(mem);
    }
    BIGNUM *bn = ASN1_INTEGER_to_BN(serial_number, NULL);
    if (bn) {
        char *hex = BN_bn2hex(bn);
        if (hex) {
            snprintf(serial, sizeof(serial), "%s", hex);
            OPENSSL_free(hex);
        }
        BN_free(bn);
    }
    size_t need = strlen(subject) + strlen(serial) + 32;
    out = malloc(need);
    if (out)
        snprintf(out, need, "subject %s, serial %s", subject, serial);
    return out;
}

char *og_x509_name(X509 *x)
{
    return name_and_serial(X509_get_subject_name(x), X509_get0_serialNumber(x));
}

static X509_EXTENSION *find_ext(const STACK_OF(X509_EXTENSION) *exts, int nid)
{
    int idx = X509v3_get_ext_by_NID(exts, nid, -1);
    return idx < 0 ? NULL : X509v3_get_ext(exts, idx);
}

/* RFC 7633 TLS Feature extension: a SEQUENCE OF INTEGER; status_request is 5. */
static int exts_must_staple(const STACK_OF(X509_EXTENSION) *exts)
{
    X509_EXTENSION *ext = find_ext(exts, NID_tlsfeature);
    TLS_FEATURE *features = ext ? X509V3_EXT_d2i(ext) : NULL;
    int found = 0;
    for (int i = 0; features && i < sk_ASN1_INTEGER_num(features); i++) {
        if (ASN1_INTEGER_get(sk_ASN1_INTEGER_value(features, i)) == 5)
            found = 1;
    }
    sk_ASN1_INTEGER_pop_free(features, ASN1_INTEGER_free);
    ERR_clear_error();
    return found;
}

/* The first OCSP URI of the Authority Information Access extension. */
static char *exts_ocsp_url(const STACK_OF(X509_EXTENSION) *exts)
{
    X509_EXTENSION *ext = find_ext(exts, NID_info_access);
    AUTHORITY_INFO_ACCESS *aia = ext ? X509V3_EXT_d2i(ext) : NULL;
    char *out = NULL;
    for (int i = 0; aia && !out && i < sk_ACCESS_DESCRIPTION_num(aia); i++) {
        ACCESS_DESCRIPTION *ad = sk_ACCESS_DESCRIPTION_value(aia, i);
        if (OBJ_obj2nid(ad->method) == NID_ad_OCSP && ad->location->type == GEN_URI)
            out = strndup((const char *)ASN1_STRING_get0_data(ad->location->d.uniformResourceIdentifier),
                          (size_t)ASN1_STRING_length(ad->location->d.uniformResourceIdentifier));
    }
    AUTHORITY_INFO_ACCESS_free(aia);
    ERR_clear_error();
    return out;
}

int og_x509_must_staple(X509 *x)
{
    return exts_must_staple(X509_get0_extensions(x));
}

char *og_x509_ocsp_url(X509 *x)
{
    return exts_ocsp_url(X509_get0_extensions(x));
}

og_cert *og_cert_from_der(const unsigned char *leaf_der, size_t leaf_len, X509 *issuer,
                          char *err, size_t errlen)
{
    const unsigned char *p = leaf_der;
    og_cert_lite *leaf = NULL;
    ASN1_BIT_STRING *issuer_key;
    og_cert *c = calloc(1, sizeof(*c));
    if (!c) {
        set_err(err, errlen, "out of memory%s", NULL);
        return NULL;
    }
    c->issuer = issuer;
    X509_up_ref(issuer);
    if (leaf_len > 0x7fffffff ||
        !(leaf = (og_cert_lite *)ASN1_item_d2i(NULL, &p, (long)leaf_len, ASN1_ITEM_rptr(og_cert_lite)))) {
        set_err(err, errlen, "the certificate is not DER%s", NULL);
        goto fail;
    }
    if (X509_NAME_cmp(leaf->tbs->issuer, X509_get_subject_name(issuer)) != 0) {
        set_err(err, errlen, "the second certificate did not issue the first%s", NULL);
        goto fail;
    }
    issuer_key = X509_get0_pubkey_bitstr(issuer);
    c->certid = issuer_key ? OCSP_cert_id_new(EVP_sha1(), X509_get_subject_name(issuer), issuer_key,
                                              leaf->tbs->serial) : NULL;
    if (!c->certid || !SHA1(leaf_der, leaf_len, c->id)) {
        set_err(err, errlen, "cannot compute the certificate id%s", NULL);
        goto fail;
    }
    c->ocsp_url = exts_ocsp_url(leaf->tbs->extensions);
    c->must_staple = exts_must_staple(leaf->tbs->extensions);
    c->name = name_and_serial(leaf->tbs->subject, leaf->tbs->serial);
    if (!c->name)
        goto fail;
    ASN1_item_free((ASN1_VALUE *)leaf, ASN1_ITEM_rptr(og_cert_lite));
    ERR_clear_error();
    return c;
fail:
    ASN1_item_free((ASN1_VALUE *)leaf, ASN1_ITEM_rptr(og_cert_lite));
    og_cert_free(c);
    ERR_clear_error();
    return NULL;
}

int og_pem_first_der(const char *text, size_t len, unsigned char **der, long *der_len,
                     const char **rest)
{
    BIO *bio = BIO_new_mem_buf(text, (int)len);
    char *name = NULL, *header = NULL;
    int ok = 0;
    *der = NULL;
    if (bio && PEM_read_bio(bio, &name, &header, der, der_len) && !strcmp(name, PEM_STRING_X509)) {
        const char *start;
        long left = (long)BIO_get_mem_data(bio, (char **)&start);
        *rest = start;
        ok = left >= 0;
    }
    if (!ok) {
        OPENSSL_free(*der);
        *der = NULL;
    }
    OPENSSL_free(name);
    OPENSSL_free(header);
    BIO_free(bio);
    ERR_clear_error();
    return ok;
}

og_cert *og_cert_from_pem(const char *pem, size_t len, char *err, size_t errlen)
{
    unsigned char *der = NULL;
    long der_len = 0;
    const char *rest = NULL;
    X509 *issuer = NULL;
    og_cert *c = NULL;
    if (og_pem_first_der(pem, len, &der, &der_len, &rest)) {
        BIO *bio = BIO_new_mem_buf(rest, (int)(len - (size_t)(rest - pem)));
        issuer = bio ? PEM_read_bio_X509(bio, NULL, NULL, NULL) : NULL;
        BIO_free(bio);
    }
    ERR_clear_error();
    if (!der || !issuer)
        set_err(err, errlen, "expected the certificate followed by its issuer in PEM%s", NULL);
    else
        c = og_cert_from_der(der, (size_t)der_len, issuer, err, errlen);
    X509_free(issuer);
    OPENSSL_free(der);
    return c;
}

void og_cert_free(og_cert *c)
{
    if (!c)
        return;
    X509_free(c->issuer);
    OCSP_CERTID_free(c->certid);
    free(c->ocsp_url);
    free(c->name);
    free(c);
}

int og_request_der(const og_cert *c, unsigned char **der, size_t *len)
{
    OCSP_REQUEST *req = OCSP_REQUEST_new();
    OCSP_CERTID *id = OCSP_CERTID_dup(c->certid);
    int n;
    *der = NULL;
    if (!req || !id || !OCSP_request_add0_id(req, id)) {
        OCSP_CERTID_free(id);
        OCSP_REQUEST_free(req);
        return 0;
    }
    n = i2d_OCSP_REQUEST(req, der);
    OCSP_REQUEST_free(req);
    if (n <= 0)
        return 0;
    *len = (size_t)n;
    return 1;
}

int og_request_use_get(size_t der_len)
{
    return 4 * ((der_len + 2) / 3) <= OG_GET_MAX_B64;
}

char *og_request_get_url(const char *base_url, const unsigned char *der, size_t len)
{
    size_t b64cap = 4 * ((len + 2) / 3) + 1;
    unsigned char *b64 = malloc(b64cap);
    size_t base_len = strlen(base_url);
    char *url, *o;
    if (!b64)
        return NULL;
    int n = EVP_EncodeBlock(b64, der, (int)len);
    /* '+', '/' and '=' are escaped: three bytes each at the most */
    url = malloc(base_len + 1 + (size_t)n * 3 + 1);
    if (!url) {
        free(b64);
        return NULL;
    }
    memcpy(url, base_url, base_len);
    o = url + base_len;
    if (base_len == 0 || base_url[base_len - 1] != '/')
        *o++ = '/';
    for (int i = 0; i < n; i++) {
        unsigned char ch = b64[i];
        if (ch == '+' || ch == '/' || ch == '=') {
            o += sprintf(o, "%%%02X", ch);
        } else {
            *o++ = (char)ch;
        }
    }
    *o = '\0';
    free(b64);
    return url;
}

const char *og_status_name(og_cert_status s)
{
    switch (s) {
    case OG_STATUS_GOOD: return "good";
    case OG_STATUS_REVOKED: return "revoked";
    case OG_STATUS_UNKNOWN: return "unknown";
    default: return "none";
    }
}

const char *og_verify_result_name(og_verify_result r)
{
    switch (r) {
    case OG_VERIFY_OK: return "ok";
    case OG_VERIFY_MALFORMED: return "malformed response";
    case OG_VERIFY_TOO_LARGE: return "response too large";
    case OG_VERIFY_NOT_SUCCESSFUL: return "responder refused";
    case OG_VERIFY_NO_MATCH: return "response is for another certificate";
    case OG_VERIFY_BAD_SIGNATURE: return "bad signature";
    case OG_VERIFY_UNTRUSTED_SIGNER: return "signer not authorised by the issuer";
    case OG_VERIFY_NOT_YET_VALID: return "thisUpdate in the future";
    case OG_VERIFY_EXPIRED: return "expired";
    }
    return "?";
}

time_t og_asn1_time_to_unix(const ASN1_GENERALIZEDTIME *t)
{
    struct tm tm;
    if (!t || !ASN1_TIME_to_tm(t, &tm))
        return (time_t)-1;
    return timegm(&tm);
}

/* Delegated responder certificates already checked against their issuer.
 * A CA signs every response with the same one, so once its chain and
 * id-kp-OCSPSigning have been checked, later responses need only their
 * signature checked with its key (while it is within its validity). */
#define SIGNER_CACHE_SIZE 32

typedef struct signer_entry {
    unsigned char issuer_digest[SHA256_DIGEST_LENGTH];
    unsigned char signer_digest[SHA256_DIGEST_LENGTH];
    X509 *signer;
} signer_entry;

static signer_entry signer_cache[SIGNER_CACHE_SIZE];
static unsigned signer_next;
static pthread_mutex_t signer_lock = PTHREAD_MUTEX_INITIALIZER;

static int cert_digest(X509 *x, unsigned char *out)
{
    unsigned int len = 0;
    return X509_digest(x, EVP_sha256(), out, &len) && len == SHA256_DIGEST_LENGTH;
}

/* A new reference to the cached signer equal to signer, or NULL. */
static X509 *signer_cached(const unsigned char *issuer_digest, X509 *signer)
{
    unsigned char digest[SHA256_DIGEST_LENGTH];
    X509 *found = NULL;
    if (!cert_digest(signer, digest))
        return NULL;
    pthread_mutex_lock(&signer_lock);
    for (unsigned i = 0; i < SIGNER_CACHE_SIZE && !found; i++) {
        signer_entry *e = &signer_cache[i];
        if (e->signer && !memcmp(e->issuer_digest, issuer_digest, sizeof(digest)) &&
            !memcmp(e->signer_digest, digest, sizeof(digest)) && X509_up_ref(e->signer))
            found = e->signer;
    }
    pthread_mutex_unlock(&signer_lock);
    if (found && (X509_cmp_current_time(X509_get0_notBefore(found)) >= 0 ||
                  X509_cmp_current_time(X509_get0_notAfter(found)) <= 0)) {
        X509_free(found);        /* outside its validity: check the chain again */
        found = NULL;
    }
    return found;
}

static void signer_remember(const unsigned char *issuer_digest, X509 *signer)
{
    signer_entry e;
    memcpy(e.issuer_digest, issuer_digest, sizeof(e.issuer_digest));
    if (!cert_digest(signer, e.signer_digest) || !X509_up_ref(signer))
        return;
    e.signer = signer;
    pthread_mutex_lock(&signer_lock);
    X509_free(signer_cache[signer_next].signer);
    signer_cache[signer_next] = e;
    signer_next = (signer_next + 1) % SIGNER_CACHE_SIZE;
    pthread_mutex_unlock(&signer_lock);
}

static og_verify_result classify_failure(char *why, size_t whylen)
{
    char reason[256];
    unsigned long e = ERR_peek_last_error();
    int lib = ERR_GET_LIB(e), r = ERR_GET_REASON(e);
    og_verify_result res =
        (lib == ERR_LIB_OCSP && r == OCSP_R_SIGNATURE_FAILURE) || lib == ERR_LIB_EVP ||
        lib == ERR_LIB_RSA || lib == ERR_LIB_EC || lib == ERR_LIB_ASN1
            ? OG_VERIFY_BAD_SIGNATURE : OG_VERIFY_UNTRUSTED_SIGNER;
    set_err(why, whylen, "%s", openssl_reason(reason, sizeof(reason)));
    return res;
}

/* Signature and signer: the issuer itself, or a delegated responder the
 * issuer certified for id-kp-OCSPSigning (RFC 6960 4.2.2.2). */
static og_verify_result verify_signer(const og_cert *c, OCSP_BASICRESP *bs, char *why, size_t whylen)
{
    og_verify_result res = OG_VERIFY_OK;
    X509_STORE *store = NULL;
    STACK_OF(X509) *trusted = sk_X509_new_null();
    X509 *signer = NULL, *known = NULL;
    unsigned char issuer_digest[SHA256_DIGEST_LENGTH];
    char reason[256];
    int have_digest = cert_digest(c->issuer, issuer_digest);

    if (!trusted || !sk_X509_push(trusted, c->issuer)) {
        res = OG_VERIFY_UNTRUSTED_SIGNER;
        set_err(why, whylen, "cannot set up verification: %s", openssl_reason(reason, sizeof(reason)));
        goto out;
    }
    /* A delegated signer checked before: only the signature is left to check.
     * TRUSTOTHER makes OpenSSL trust signers found in our list as they are. */
    if (have_digest && OCSP_resp_get0_signer(bs, &signer, NULL) && signer &&
        X509_cmp(signer, c->issuer) != 0 && (known = signer_cached(issuer_digest, signer))) {
        sk_X509_push(trusted, known);
        if (OCSP_basic_verify(bs, trusted, NULL, OCSP_TRUSTOTHER | OCSP_NOVERIFY) <= 0)
            res = classify_failure(why, whylen);
        goto out;
    }
    ERR_clear_error();
    store = X509_STORE_new();
    if (!store || !X509_STORE_add_cert(store, c->issuer)) {
        res = OG_VERIFY_UNTRUSTED_SIGNER;
        set_err(why, whylen, "cannot set up verification: %s", openssl_reason(reason, sizeof(reason)));
        goto out;
    }
    /* The issuer may be an intermediate: it is the anchor, no root needed. */
    X509_STORE_set_flags(store, X509_V_FLAG_PARTIAL_CHAIN);
    /* TRUSTOTHER: a response signed by the issuer itself needs no chain.
     * NOEXPLICIT: the anchor is the issuer we hold, not an aux trust bit. */
    if (OCSP_basic_verify(bs, trusted, store, OCSP_TRUSTOTHER | OCSP_NOEXPLICIT) <= 0) {
        res = classify_failure(why, whylen);
        goto out;
    }
    if (have_digest && signer && X509_cmp(signer, c->issuer) != 0)
        signer_remember(issuer_digest, signer);
out:
    X509_free(known);
    sk_X509_free(trusted);
    X509_STORE_free(store);
    ERR_clear_error();
    return res;
}

og_verify_result og_verify_response(const og_cert *c, const unsigned char *der, size_t len,
                                    time_t now, long max_skew, og_resp_info *info,
                                    char *why, size_t whylen)
{
    const unsigned char *p = der;
    OCSP_RESPONSE *resp = NULL;
    OCSP_BASICRESP *bs = NULL;
    og_verify_result res;
    int status = -1, reason = 0;
    ASN1_GENERALIZEDTIME *rev = NULL, *thisupd = NULL, *nextupd = NULL;
    char buf[64];

    memset(info, 0, sizeof(*info));
    if (why && whylen)
        why[0] = '\0';
    if (len > OG_MAX_RESPONSE) {
        snprintf(why, whylen, "%zu bytes, limit %d", len, OG_MAX_RESPONSE);
        return OG_VERIFY_TOO_LARGE;
    }
    if (len == 0 || len > (size_t)0x7fffffff ||
        !(resp = d2i_OCSP_RESPONSE(NULL, &p, (long)len)) || p != der + len) {
        set_err(why, whylen, "%s", len == 0 ? "empty" : "not a DER OCSP response");
        res = OG_VERIFY_MALFORMED;
        goto out;
    }
    status = OCSP_response_status(resp);
    if (status != OCSP_RESPONSE_STATUS_SUCCESSFUL) {
        set_err(why, whylen, "responseStatus %s", OCSP_response_status_str(status));
        res = OG_VERIFY_NOT_SUCCESSFUL;
        goto out;
    }
    if (!(bs = OCSP_response_get1_basic(resp))) {
        set_err(why, whylen, "%s", "no basic response inside");
        res = OG_VERIFY_MALFORMED;
        goto out;
    }
    if (!OCSP_resp_find_status(bs, c->certid, &status, &reason, &rev, &thisupd, &nextupd)) {
        set_err(why, whylen, "%s", "no single response matches the certificate's CertID");
        res = OG_VERIFY_NO_MATCH;
        goto out;
    }
    if ((res = verify_signer(c, bs, why, whylen)) != OG_VERIFY_OK)
        goto out;

    info->status = status == V_OCSP_CERTSTATUS_GOOD ? OG_STATUS_GOOD
                 : status == V_OCSP_CERTSTATUS_REVOKED ? OG_STATUS_REVOKED : OG_STATUS_UNKNOWN;
    info->this_update = og_asn1_time_to_unix(thisupd);
    info->has_next_update = nextupd != NULL;
    info->next_update = nextupd ? og_asn1_time_to_unix(nextupd)
                                : info->this_update + OG_NO_NEXT_UPDATE_VALIDITY;
    info->produced_at = og_asn1_time_to_unix(OCSP_resp_get0_produced_at(bs));
    info->revoked_at = rev ? og_asn1_time_to_unix(rev) : 0;
    if (info->this_update == (time_t)-1 || info->next_update == (time_t)-1) {
        set_err(why, whylen, "%s", "unreadable thisUpdate or nextUpdate");
        res = OG_VERIFY_MALFORMED;
        goto out;
    }
    if (info->this_update > now + max_skew) {
        snprintf(buf, sizeof(buf), "%lld s ahead of the local clock", (long long)(info->this_update - now));
        set_err(why, whylen, "thisUpdate is %s", buf);
        res = OG_VERIFY_NOT_YET_VALID;
        goto out;
    }
    if (info->next_update <= now || info->next_update <= info->this_update) {
        snprintf(buf, sizeof(buf), "%lld s ago", (long long)(now - info->next_update));
        set_err(why, whylen, "nextUpdate passed %s", buf);
        res = OG_VERIFY_EXPIRED;
        goto out;
    }
    res = OG_VERIFY_OK;
out:
    OCSP_BASICRESP_free(bs);
    OCSP_RESPONSE_free(resp);
    ERR_clear_error();
    return res;
}
