/* OCSP core: certificate pairs, request building and response verification. */
#include "og_ocsp.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
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

char *og_x509_name(X509 *x)
{
    char subject[256] = "?";
    char serial[80] = "?";
    char *out;
    BIO *mem = BIO_new(BIO_s_mem());
    if (mem) {
        int n;
        X509_NAME_print_ex(mem, X509_get_subject_name(x), 0,
                           XN_FLAG_RFC2253 & ~ASN1_STRFLGS_ESC_MSB);
        n = BIO_read(mem, subject, sizeof(subject) - 1);
        subject[n > 0 ? n : 0] = '\0';
        BIO_free(mem);
    }
    BIGNUM *bn = ASN1_INTEGER_to_BN(X509_get0_serialNumber(x), NULL);
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

int og_x509_must_staple(X509 *x)
{
    /* RFC 7633 TLS Feature extension: a SEQUENCE OF INTEGER; status_request is 5. */
    TLS_FEATURE *features = X509_get_ext_d2i(x, NID_tlsfeature, NULL, NULL);
    int found = 0;
    for (int i = 0; features && i < sk_ASN1_INTEGER_num(features); i++) {
        if (ASN1_INTEGER_get(sk_ASN1_INTEGER_value(features, i)) == 5)
            found = 1;
    }
    sk_ASN1_INTEGER_pop_free(features, ASN1_INTEGER_free);
    ERR_clear_error();
    return found;
}

char *og_x509_ocsp_url(X509 *x)
{
    STACK_OF(OPENSSL_STRING) *urls = X509_get1_ocsp(x);
    char *out = NULL;
    if (urls && sk_OPENSSL_STRING_num(urls) > 0)
        out = strdup(sk_OPENSSL_STRING_value(urls, 0));
    X509_email_free(urls);
    return out;
}

og_cert *og_cert_from_x509(X509 *leaf, X509 *issuer, char *err, size_t errlen)
{
    og_cert *c = calloc(1, sizeof(*c));
    unsigned int idlen = 0;
    if (!c) {
        X509_free(leaf);
        X509_free(issuer);
        set_err(err, errlen, "out of memory%s", NULL);
        return NULL;
    }
    c->leaf = leaf;
    c->issuer = issuer;
    if (X509_check_issued(issuer, leaf) != X509_V_OK) {
        set_err(err, errlen, "the second certificate did not issue the first%s", NULL);
        goto fail;
    }
    c->certid = OCSP_cert_to_id(EVP_sha1(), leaf, issuer);
    if (!c->certid || !X509_digest(leaf, EVP_sha1(), c->id, &idlen) || idlen != OG_ID_LEN) {
        set_err(err, errlen, "cannot compute the certificate id%s", NULL);
        goto fail;
    }
    c->ocsp_url = og_x509_ocsp_url(leaf);
    c->must_staple = og_x509_must_staple(leaf);
    c->name = og_x509_name(leaf);
    if (!c->name)
        goto fail;
    ERR_clear_error();
    return c;
fail:
    og_cert_free(c);
    ERR_clear_error();
    return NULL;
}

og_cert *og_cert_from_pem(const char *pem, size_t len, char *err, size_t errlen)
{
    BIO *bio = BIO_new_mem_buf(pem, (int)len);
    X509 *leaf = NULL, *issuer = NULL;
    if (!bio) {
        set_err(err, errlen, "out of memory%s", NULL);
        return NULL;
    }
    leaf = PEM_read_bio_X509(bio, NULL, NULL, NULL);
    if (leaf)
        issuer = PEM_read_bio_X509(bio, NULL, NULL, NULL);
    BIO_free(bio);
    ERR_clear_error();
    if (!leaf || !issuer) {
        X509_free(leaf);
        set_err(err, errlen, "expected the certificate followed by its issuer in PEM%s", NULL);
        return NULL;
    }
    return og_cert_from_x509(leaf, issuer, err, errlen);
}

void og_cert_free(og_cert *c)
{
    if (!c)
        return;
    X509_free(c->leaf);
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

/* Signature and signer: the issuer itself, or a delegated responder the
 * issuer certified for id-kp-OCSPSigning (RFC 6960 4.2.2.2). */
static og_verify_result verify_signer(const og_cert *c, OCSP_BASICRESP *bs, char *why, size_t whylen)
{
    og_verify_result res = OG_VERIFY_OK;
    X509_STORE *store = X509_STORE_new();
    STACK_OF(X509) *issuer_only = sk_X509_new_null();
    char reason[256];
    if (!store || !issuer_only || !X509_STORE_add_cert(store, c->issuer) ||
        !sk_X509_push(issuer_only, c->issuer)) {
        res = OG_VERIFY_UNTRUSTED_SIGNER;
        set_err(why, whylen, "cannot set up verification: %s", openssl_reason(reason, sizeof(reason)));
        goto out;
    }
    /* The issuer may be an intermediate: it is the anchor, no root needed. */
    X509_STORE_set_flags(store, X509_V_FLAG_PARTIAL_CHAIN);
    /* TRUSTOTHER: a response signed by the issuer itself needs no chain.
     * NOEXPLICIT: the anchor is the issuer we hold, not an aux trust bit. */
    if (OCSP_basic_verify(bs, issuer_only, store, OCSP_TRUSTOTHER | OCSP_NOEXPLICIT) <= 0) {
        unsigned long e = ERR_peek_last_error();
        int lib = ERR_GET_LIB(e), r = ERR_GET_REASON(e);
        if ((lib == ERR_LIB_OCSP && r == OCSP_R_SIGNATURE_FAILURE) ||
            lib == ERR_LIB_EVP || lib == ERR_LIB_RSA || lib == ERR_LIB_EC || lib == ERR_LIB_ASN1)
            res = OG_VERIFY_BAD_SIGNATURE;
        else
            res = OG_VERIFY_UNTRUSTED_SIGNER;
        set_err(why, whylen, "%s", openssl_reason(reason, sizeof(reason)));
    }
out:
    sk_X509_free(issuer_only);
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
