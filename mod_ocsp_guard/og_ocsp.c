/* Copyright 2026 the mod_ocsp_guard developers. Licensed under the Apache License 2.0 (LICENSE). */
/* OCSP core: certificate pairs, request building and response verification. */
#include "og_ocsp.h"

#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
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

const char *og_openssl_error(char *buf, size_t len)
{
    const char *data = NULL;
    int flags = 0;
    unsigned long e = ERR_peek_error_data(&data, &flags);
    char reason[200] = "";
    if (e)
        ERR_error_string_n(e, reason, sizeof(reason));
    if (!(flags & ERR_TXT_STRING) || !data)
        data = "";
    snprintf(buf, len, "%s%s%s", reason, *data ? " " : "", data);
    ERR_clear_error();
    return buf;
}

static const char *openssl_reason(char *buf, size_t len)
{
    og_openssl_error(buf, len);
    if (!*buf)
        snprintf(buf, len, "no detail");
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

static char *subject_text(const X509_NAME *subject_name)
{
    char subject[256] = "?";
    BIO *mem = BIO_new(BIO_s_mem());
    if (mem) {
        int n;
        X509_NAME_print_ex(mem, subject_name, 0, XN_FLAG_RFC2253 & ~ASN1_STRFLGS_ESC_MSB);
        n = BIO_read(mem, subject, sizeof(subject) - 1);
        subject[n > 0 ? n : 0] = '\0';
        BIO_free(mem);
    }
    return strdup(subject);
}

static char *serial_text(const ASN1_INTEGER *serial_number)
{
    char serial[80] = "?";
    BIGNUM *bn = ASN1_INTEGER_to_BN(serial_number, NULL);
    if (bn) {
        char *hex = BN_bn2hex(bn);
        if (hex) {
            snprintf(serial, sizeof(serial), "%s", hex);
            OPENSSL_free(hex);
        }
        BN_free(bn);
    }
    return strdup(serial);
}

/* "subject S, serial N", after "PLACE, " when there is a place. */
static char *display_name(const char *place, const char *subject, const char *serial)
{
    size_t need = (place ? strlen(place) : 0) + strlen(subject) + strlen(serial) + 32;
    char *out = malloc(need);
    if (out)
        snprintf(out, need, "%s%ssubject %s, serial %s", place ? place : "", place ? ", " : "",
                 subject, serial);
    return out;
}

int og_cert_set_place(og_cert *c, const char *place)
{
    char *name = display_name(place, c->subject, c->serial);
    if (!name)
        return 0;
    free(c->name);
    c->name = name;
    return 1;
}

void og_x509_subject_serial(X509 *x, char **subject, char **serial)
{
    *subject = subject_text(X509_get_subject_name(x));
    *serial = serial_text(X509_get0_serialNumber(x));
}

char *og_x509_name(X509 *x)
{
    char *subject, *serial, *name;
    og_x509_subject_serial(x, &subject, &serial);
    name = subject && serial ? display_name(NULL, subject, serial) : NULL;
    free(subject);
    free(serial);
    return name;
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
    c->subject = subject_text(leaf->tbs->subject);
    c->serial = serial_text(leaf->tbs->serial);
    c->name = c->subject && c->serial ? display_name(NULL, c->subject, c->serial) : NULL;
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

#define PEM_CERT_BEGIN "-----BEGIN CERTIFICATE-----"
#define CERT_FILE_MAX (1024 * 1024)

static const char *find_text(const char *s, size_t len, const char *needle)
{
    size_t n = strlen(needle);
    for (size_t i = 0; i + n <= len; i++) {
        if (s[i] == needle[0] && !memcmp(s + i, needle, n))
            return s + i;
    }
    return NULL;
}

static int pem_space(char c)
{
    return c == ' ' || c == '\t' || c == '\r' || c == '\n';
}

int og_pem_same_first_cert(const char *a, size_t alen, const char *b, size_t blen)
{
    const char *pa = find_text(a, alen, PEM_CERT_BEGIN), *pb = find_text(b, blen, PEM_CERT_BEGIN);
    const char *ea = a + alen, *eb = b + blen;
    if (!pa || !pb)
        return -1;
    pa += strlen(PEM_CERT_BEGIN);
    pb += strlen(PEM_CERT_BEGIN);
    for (;;) {
        while (pa < ea && pem_space(*pa))
            pa++;
        while (pb < eb && pem_space(*pb))
            pb++;
        if (pa == ea || pb == eb)
            return 0;
        if (*pa == '-' || *pb == '-')
            return *pa == '-' && *pb == '-';
        if (*pa++ != *pb++)
            return 0;
    }
}

/* The slow way, for a file whose certificate is not a plain "BEGIN
 * CERTIFICATE" block: decode it and compare its SHA-1 with id. */
static int first_cert_has_id(const char *text, size_t len, const unsigned char *id)
{
    BIO *bio = BIO_new_mem_buf(text, (int)len);
    X509 *x = bio ? PEM_read_bio_X509_AUX(bio, NULL, NULL, NULL) : NULL;
    unsigned char *der = NULL, md[SHA_DIGEST_LENGTH];
    int n = x ? i2d_X509(x, &der) : -1, same;
    same = n > 0 && SHA1(der, (size_t)n, md) && !memcmp(md, id, OG_ID_LEN);
    OPENSSL_free(der);
    X509_free(x);
    BIO_free(bio);
    ERR_clear_error();
    return same;
}

int og_cert_file_is(const char *path, const char *pem, size_t pem_len, const unsigned char *id)
{
    /* most certificate files fit: no malloc, no fstat for thousands of
     * them at start-up */
    char stack[16384], *buf = stack, *grown;
    size_t len = 0, cap = sizeof(stack);
    ssize_t n = 0;
    int fd = open(path, O_RDONLY | O_CLOEXEC), same = 0;
    if (fd < 0)
        return 0;
    while ((n = read(fd, buf + len, cap - len)) > 0) {
        len += (size_t)n;
        if (len < cap)
            continue;
        if (cap >= CERT_FILE_MAX || !(grown = realloc(buf == stack ? NULL : buf, cap * 2)))
            break;
        if (buf == stack)
            memcpy(grown, stack, len);
        buf = grown;
        cap *= 2;
    }
    close(fd);
    if (n >= 0) {
        same = og_pem_same_first_cert(buf, len, pem, pem_len);
        if (same < 0)
            same = first_cert_has_id(buf, len, id);
    }
    if (buf != stack)
        free(buf);
    return same > 0;
}

/* Issuers parsed once per distinct PEM text: thousands of certificates
 * usually share a few issuers. Open addressing over SHA-256 of the text;
 * grows at half full. */
typedef struct issuer_entry {
    unsigned char key[SHA256_DIGEST_LENGTH];
    X509 *issuer;                /* NULL: free entry */
} issuer_entry;

struct og_issuer_cache {
    issuer_entry *entries;
    size_t cap, used;            /* cap is a power of two */
};

og_issuer_cache *og_issuer_cache_new(void)
{
    og_issuer_cache *ic = calloc(1, sizeof(*ic));
    if (ic && !(ic->entries = calloc(ic->cap = 16, sizeof(*ic->entries)))) {
        free(ic);
        ic = NULL;
    }
    return ic;
}

void og_issuer_cache_free(og_issuer_cache *ic)
{
    if (!ic)
        return;
    for (size_t i = 0; i < ic->cap; i++)
        X509_free(ic->entries[i].issuer);
    free(ic->entries);
    free(ic);
}

static issuer_entry *issuer_slot(issuer_entry *entries, size_t cap, const unsigned char *key)
{
    size_t pos;
    memcpy(&pos, key, sizeof(pos));  /* a digest: its bytes are already uniform */
    for (pos &= cap - 1;; pos = (pos + 1) & (cap - 1)) {
        if (!entries[pos].issuer || !memcmp(entries[pos].key, key, sizeof(entries[pos].key)))
            return &entries[pos];
    }
}

static int issuer_cache_grow(og_issuer_cache *ic)
{
    size_t cap = ic->cap * 2;
    issuer_entry *entries = calloc(cap, sizeof(*entries));
    if (!entries)
        return 0;
    for (size_t i = 0; i < ic->cap; i++) {
        if (ic->entries[i].issuer)
            *issuer_slot(entries, cap, ic->entries[i].key) = ic->entries[i];
    }
    free(ic->entries);
    ic->entries = entries;
    ic->cap = cap;
    return 1;
}

static X509 *parse_issuer(const char *pem, size_t len)
{
    BIO *bio = BIO_new_mem_buf(pem, (int)len);
    X509 *issuer = bio ? PEM_read_bio_X509(bio, NULL, NULL, NULL) : NULL;
    BIO_free(bio);
    ERR_clear_error();
    return issuer;
}

/* A new reference to the issuer of this PEM text, parsed at most once. */
static X509 *issuer_of(og_issuer_cache *ic, const char *pem, size_t len)
{
    unsigned char key[SHA256_DIGEST_LENGTH];
    issuer_entry *e;
    X509 *issuer;
    if (!ic)
        return parse_issuer(pem, len);
    SHA256((const unsigned char *)pem, len, key);
    e = issuer_slot(ic->entries, ic->cap, key);
    if (!e->issuer) {
        if (!(issuer = parse_issuer(pem, len)))
            return NULL;
        if (2 * (ic->used + 1) > ic->cap && issuer_cache_grow(ic))
            e = issuer_slot(ic->entries, ic->cap, key);
        memcpy(e->key, key, sizeof(key));
        e->issuer = issuer;
        ic->used++;
    }
    return X509_up_ref(e->issuer) ? e->issuer : NULL;
}

og_cert *og_cert_from_pem(const char *pem, size_t len, og_issuer_cache *issuers, char *err,
                          size_t errlen)
{
    unsigned char *der = NULL;
    long der_len = 0;
    const char *rest = NULL;
    X509 *issuer = NULL;
    og_cert *c = NULL;
    if (og_pem_first_der(pem, len, &der, &der_len, &rest))
        issuer = issuer_of(issuers, rest, len - (size_t)(rest - pem));
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
    free(c->subject);
    free(c->serial);
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

void og_format_time(time_t t, char *buf, size_t len)
{
    struct tm tm;
    gmtime_r(&t, &tm);
    strftime(buf, len, "%Y-%m-%dT%H:%M:%SZ", &tm);
}

time_t og_asn1_time_to_unix(const ASN1_GENERALIZEDTIME *t)
{
    struct tm tm;
    if (!t || !ASN1_TIME_to_tm(t, &tm))
        return (time_t)-1;
    return timegm(&tm);
}

/* Who signed a response is decided here, never by OpenSSL's search of the
 * response's `certs` field: that field is outside the signature, so anyone on
 * the path to the (plain HTTP) responder can add certificates to it.
 *
 * - A ResponderID designating the issuer: the signature must verify with the
 *   issuer's key, and nothing else is tried.
 * - Otherwise a delegated responder (RFC 6960 4.2.2.2): a certificate matching
 *   the ResponderID, issued and signed by the issuer itself, carrying
 *   id-kp-OCSPSigning, within its validity at `now`, whose key verifies the
 *   signature. Candidates are the matching certificates of the response and
 *   those remembered below.
 *
 * Delegated responders already checked are remembered per issuer: a CA signs
 * every response with the same one, so later responses need only its
 * validity at `now` and their signature checked with its key. */
#define SIGNER_CACHE_SIZE 32
/* Certificates of one response looked at, at most: bounds the work a
 * response stuffed with look-alikes can cause (a real one carries one). */
#define MAX_CANDIDATES 8

typedef struct signer_entry {
    unsigned char issuer_digest[SHA256_DIGEST_LENGTH];
    X509 *signer;
    unsigned char *der;          /* its DER (certs_all_known), or NULL */
    int der_len;
} signer_entry;

static signer_entry signer_cache[SIGNER_CACHE_SIZE];
static unsigned signer_next;
static pthread_mutex_t signer_lock = PTHREAD_MUTEX_INITIALIZER;

static int cert_digest(X509 *x, unsigned char *out)
{
    unsigned int len = 0;
    return X509_digest(x, EVP_sha256(), out, &len) && len == SHA256_DIGEST_LENGTH;
}

/* The response's ResponderID, byName or byKey. */
typedef struct responder_id {
    const ASN1_OCTET_STRING *key_hash;
    const X509_NAME *name;
} responder_id;

/* OCSP_RESPID_match's rule (OpenSSL exposes no OCSP_RESPID of a parsed
 * response): byName is the subject, byKey the SHA-1 of the public key bits. */
static int respid_match(const responder_id *rid, X509 *x)
{
    unsigned char md[SHA_DIGEST_LENGTH];
    if (rid->name)
        return X509_NAME_cmp(rid->name, X509_get_subject_name(x)) == 0;
    return rid->key_hash && ASN1_STRING_length(rid->key_hash) == SHA_DIGEST_LENGTH &&
           X509_pubkey_digest(x, EVP_sha1(), md, NULL) &&
           !memcmp(ASN1_STRING_get0_data(rid->key_hash), md, SHA_DIGEST_LENGTH);
}

static int within_validity(X509 *x, time_t now)
{
    return X509_cmp_time(X509_get0_notBefore(x), &now) < 0 &&
           X509_cmp_time(X509_get0_notAfter(x), &now) > 0;
}

/* 1 when tbsResponseData's signature verifies with signer's key. NOINTERN:
 * the response's own certificates are not searched; TRUSTOTHER|NOVERIFY:
 * signer is taken as given (its checks are ours). */
static int signed_by(OCSP_BASICRESP *bs, X509 *signer)
{
    STACK_OF(X509) *one = sk_X509_new_null();
    int ok = one && sk_X509_push(one, signer) &&
             OCSP_basic_verify(bs, one, NULL, OCSP_NOINTERN | OCSP_TRUSTOTHER | OCSP_NOVERIFY) > 0;
    sk_X509_free(one);
    return ok;
}

/* 1 when signer was issued and signed by issuer itself (nothing from the
 * response in between), is valid at now and carries id-kp-OCSPSigning;
 * otherwise 0 with OpenSSL's verify detail in why. */
static int delegation_checked(X509 *issuer, X509 *signer, time_t now, char *why, size_t whylen)
{
    X509_STORE *store = X509_STORE_new();
    X509_STORE_CTX *ctx = X509_STORE_CTX_new();
    STACK_OF(X509) *chain;
    int ok = 0;
    char reason[128];
    if (!store || !ctx || !X509_STORE_add_cert(store, issuer) ||
        !X509_STORE_CTX_init(ctx, store, signer, NULL)) {
        set_err(why, whylen, "cannot set up verification: %s", openssl_reason(reason, sizeof(reason)));
        goto out;
    }
    /* The issuer may be an intermediate: it is the anchor, no root needed. */
    X509_STORE_CTX_set_flags(ctx, X509_V_FLAG_PARTIAL_CHAIN);
    X509_STORE_CTX_set_purpose(ctx, X509_PURPOSE_OCSP_HELPER);
    X509_STORE_CTX_set_time(ctx, 0, now);
    if (X509_verify_cert(ctx) <= 0) {
        set_err(why, whylen, "%s", X509_verify_cert_error_string(X509_STORE_CTX_get_error(ctx)));
        goto out;
    }
    chain = X509_STORE_CTX_get0_chain(ctx);
    if (sk_X509_num(chain) != 2 || X509_cmp(sk_X509_value(chain, 1), issuer) != 0) {
        set_err(why, whylen, "%s", "not issued by the certificate's issuer itself");
        goto out;
    }
    /* An absent EKU reads as "any" in X509_get_extended_key_usage: require it. */
    if (!(X509_get_extension_flags(signer) & EXFLAG_XKUSAGE) ||
        !(X509_get_extended_key_usage(signer) & XKU_OCSP_SIGN)) {
        set_err(why, whylen, "%s", "no id-kp-OCSPSigning in its extended key usage");
        goto out;
    }
    ok = 1;
out:
    X509_STORE_CTX_free(ctx);
    X509_STORE_free(store);
    ERR_clear_error();
    return ok;
}

/* Appends new references to the remembered signers of this issuer that
 * match the ResponderID. */
static void signers_cached(const unsigned char *issuer_digest, const responder_id *rid,
                           X509 **out, int *n)
{
    pthread_mutex_lock(&signer_lock);
    for (unsigned i = 0; i < SIGNER_CACHE_SIZE && *n < MAX_CANDIDATES; i++) {
        signer_entry *e = &signer_cache[i];
        if (e->signer && !memcmp(e->issuer_digest, issuer_digest, SHA256_DIGEST_LENGTH) &&
            respid_match(rid, e->signer) && X509_up_ref(e->signer))
            out[(*n)++] = e->signer;
    }
    pthread_mutex_unlock(&signer_lock);
}

static void signer_remember(const unsigned char *issuer_digest, X509 *signer)
{
    pthread_mutex_lock(&signer_lock);
    for (unsigned i = 0; i < SIGNER_CACHE_SIZE; i++) {
        signer_entry *e = &signer_cache[i];
        if (e->signer && !memcmp(e->issuer_digest, issuer_digest, SHA256_DIGEST_LENGTH) &&
            !X509_cmp(e->signer, signer))
            goto out;            /* another worker was first */
    }
    if (X509_up_ref(signer)) {
        signer_entry *e = &signer_cache[signer_next];
        X509_free(e->signer);
        OPENSSL_free(e->der);
        e->der = NULL;
        e->der_len = i2d_X509(signer, &e->der);
        memcpy(e->issuer_digest, issuer_digest, SHA256_DIGEST_LENGTH);
        e->signer = signer;
        signer_next = (signer_next + 1) % SIGNER_CACHE_SIZE;
    }
out:
    pthread_mutex_unlock(&signer_lock);
}

/* 1 when each certificate of the DER SEQUENCE OF at p (n bytes) is byte for
 * byte a responder certificate checked before: it was decoded then, so
 * decoding it again would succeed, and the response need not be decoded
 * whole (basic_without_certs). */
static int certs_all_known(const unsigned char *p, long n)
{
    const unsigned char *end = p + n;
    int ok = 1;
    pthread_mutex_lock(&signer_lock);
    while (ok && p < end) {
        const unsigned char *start = p;
        long m;
        int t, cls, ret = ASN1_get_object(&p, &m, &t, &cls, (long)(end - p));
        ok = 0;
        if ((ret & 0x80) || (ret & 0x01) || m > end - p)
            break;
        p += m;
        for (unsigned i = 0; i < SIGNER_CACHE_SIZE && !ok; i++) {
            const signer_entry *e = &signer_cache[i];
            ok = e->signer && e->der && e->der_len == p - start && !memcmp(e->der, start, (size_t)e->der_len);
        }
    }
    pthread_mutex_unlock(&signer_lock);
    return ok;
}

/* why for a responder certificate: "<what> responder certificate <name>[: detail]". */
static void describe_signer(X509 *x, const char *what, const char *detail, char *why, size_t whylen)
{
    char *name = og_x509_name(x);
    if (why && whylen)
        snprintf(why, whylen, "%s responder certificate %s%s%s", what, name ? name : "?",
                 detail ? ": " : "", detail ? detail : "");
    free(name);
}

static og_verify_result verify_signer(const og_cert *c, OCSP_BASICRESP *bs, time_t now,
                                      char *why, size_t whylen)
{
    og_verify_result res;
    responder_id rid = { NULL, NULL };
    const STACK_OF(X509) *certs = OCSP_resp_get0_certs(bs);
    X509 *cand[MAX_CANDIDATES];
    int ncached = 0, n = 0, untrusted_signer = 0;
    unsigned char issuer_digest[SHA256_DIGEST_LENGTH];
    char reason[256], detail[256];

    if (!OCSP_resp_get0_id(bs, &rid.key_hash, &rid.name)) {
        set_err(why, whylen, "%s", "unreadable ResponderID");
        return OG_VERIFY_MALFORMED;
    }
    if (respid_match(&rid, c->issuer)) {
        if (signed_by(bs, c->issuer))
            return OG_VERIFY_OK;
        set_err(why, whylen, "the signature does not verify with the issuer's key (%s)",
                openssl_reason(reason, sizeof(reason)));
        return OG_VERIFY_BAD_SIGNATURE;
    }
    if (!cert_digest(c->issuer, issuer_digest)) {
        set_err(why, whylen, "cannot digest the issuer: %s", openssl_reason(reason, sizeof(reason)));
        return OG_VERIFY_UNTRUSTED_SIGNER;
    }
    signers_cached(issuer_digest, &rid, cand, &n);
    ncached = n;
    for (int i = 0; i < sk_X509_num(certs) && n < MAX_CANDIDATES; i++) {
        X509 *x = sk_X509_value(certs, i);
        int seen = 0;
        for (int j = 0; j < n && !seen; j++)
            seen = !X509_cmp(cand[j], x);
        if (!seen && respid_match(&rid, x) && X509_up_ref(x))
            cand[n++] = x;
    }
    res = n ? OG_VERIFY_BAD_SIGNATURE : OG_VERIFY_UNTRUSTED_SIGNER;
    if (!n)
        set_err(why, whylen, "%s", "the ResponderID names neither the issuer nor a certificate "
                "in the response or checked before");
    else
        describe_signer(cand[0], "the signature does not verify with the key of", NULL, why, whylen);
    for (int i = 0; i < n; i++) {
        if (!signed_by(bs, cand[i]))
            continue;            /* not the key that signed: a decoy or a stale one */
        if (i < ncached && within_validity(cand[i], now)) {
            res = OG_VERIFY_OK;
            break;
        }
        if (delegation_checked(c->issuer, cand[i], now, detail, sizeof(detail))) {
            signer_remember(issuer_digest, cand[i]);
            res = OG_VERIFY_OK;
            break;
        }
        /* Its key signed, so it is the designated signer: not authorised. */
        if (!untrusted_signer)
            describe_signer(cand[i], "signed by", detail, why, whylen);
        untrusted_signer = 1;
        res = OG_VERIFY_UNTRUSTED_SIGNER;
    }
    if (res == OG_VERIFY_OK && why && whylen)
        why[0] = '\0';
    for (int i = 0; i < n; i++)
        X509_free(cand[i]);
    ERR_clear_error();
    return res;
}

/* CertID hash algorithms a response may use for our certificate. We ask
 * with SHA-1 (index 0: the CertID made with the certificate); a responder
 * may answer with another one. Anything else, MD5 included, never matches. */
static const struct {
    int nid;
    const EVP_MD *(*md)(void);
} certid_algs[] = {
    { NID_sha1, EVP_sha1 }, { NID_sha224, EVP_sha224 }, { NID_sha256, EVP_sha256 },
    { NID_sha384, EVP_sha384 }, { NID_sha512, EVP_sha512 },
};
#define CERTID_ALGS (sizeof(certid_algs) / sizeof(certid_algs[0]))

/* The SingleResponse about c: its CertID recomputed with the hash algorithm
 * the response chose (issuer name hash, issuer key hash, serial), so that a
 * SHA-256 CertID matches as a SHA-1 one does (OCSP_resp_find compares the
 * algorithm too, so it never would). NULL with why filled when none does. */
static OCSP_SINGLERESP *find_single(OCSP_BASICRESP *bs, const og_cert *c, char *why, size_t whylen)
{
    ASN1_INTEGER *serial = NULL;
    const ASN1_BIT_STRING *issuer_key = X509_get0_pubkey_bitstr(c->issuer);
    OCSP_CERTID *ours[CERTID_ALGS] = { NULL };  /* made when first needed */
    OCSP_SINGLERESP *found = NULL;
    char refused[64] = "";

    if (!OCSP_id_get0_info(NULL, NULL, NULL, &serial, c->certid) || !issuer_key)
        goto out;
    for (int i = 0; i < OCSP_resp_count(bs) && !found; i++) {
        OCSP_SINGLERESP *single = OCSP_resp_get0(bs, i);
        OCSP_CERTID *theirs = single ? (OCSP_CERTID *)OCSP_SINGLERESP_get0_id(single) : NULL;
        ASN1_OBJECT *oid = NULL;
        const OCSP_CERTID *mine;
        size_t k;
        int nid;
        if (!theirs || !OCSP_id_get0_info(NULL, &oid, NULL, NULL, theirs))
            continue;
        nid = OBJ_obj2nid(oid);
        for (k = 0; k < CERTID_ALGS && certid_algs[k].nid != nid; k++)
            ;
        if (k == CERTID_ALGS) {
            if (!refused[0])
                OBJ_obj2txt(refused, sizeof(refused), oid, 0);
            continue;
        }
        if (k > 0 && !ours[k])
            ours[k] = OCSP_cert_id_new(certid_algs[k].md(), X509_get_subject_name(c->issuer),
                                       issuer_key, serial);
        mine = k ? ours[k] : c->certid;
        /* algorithm OID, both hashes and the serial (not the algorithm's
         * parameters, NULL or absent as responders please) */
        if (mine && OCSP_id_cmp(mine, theirs) == 0)
            found = single;
    }
out:
    for (size_t k = 1; k < CERTID_ALGS; k++)
        OCSP_CERTID_free(ours[k]);
    if (!found) {
        if (refused[0] && why && whylen)
            snprintf(why, whylen, "no single response matches the certificate's CertID (one "
                     "with hash algorithm %s was not considered: only SHA-1 and SHA-2 are "
                     "accepted)", refused);
        else
            set_err(why, whylen, "%s", "no single response matches the certificate's CertID");
    }
    return found;
}

/* One DER header at *p (within end): 1 with *p past it and *content_len
 * set when it has the tag and class asked (constructed or not as asked) and
 * a definite length that fits. */
static int der_header(const unsigned char **p, const unsigned char *end, int tag, int cls,
                      int constructed, long *content_len)
{
    int t, c, ret = ASN1_get_object(p, content_len, &t, &c, (long)(end - *p));
    return !(ret & 0x80) && !(ret & 0x01) && !!(ret & V_ASN1_CONSTRUCTED) == constructed &&
           t == tag && c == cls && *content_len <= end - *p;
}

/* The BasicOCSPResponse inside a DER OCSPResponse, parsed without its
 * `certs` field, when that field holds only responder certificates checked
 * before (the usual case: the responder's own): decoding them costs more
 * than the signature check (~120 µs for one certificate with OpenSSL 3: its
 * public key), at every start for thousands of cached responses, and they
 * are byte for byte certificates that decoded before. The field is cut
 * from the DER before parsing. NULL otherwise, or when the DER is not laid
 * out as expected: the caller then parses it all, as before. */
static OCSP_BASICRESP *basic_without_certs(const unsigned char *der, size_t len)
{
    const unsigned char *p = der, *end = der + len, *inner_end, *body, *body_end, *oid;
    const ASN1_OBJECT *basic = OBJ_nid2obj(NID_id_pkix_OCSP_basic);
    unsigned char *cut = NULL, *w;
    OCSP_BASICRESP *bs = NULL;
    long n, oid_len;
    int head;
    if (!der_header(&p, end, V_ASN1_SEQUENCE, V_ASN1_UNIVERSAL, 1, &n) ||      /* OCSPResponse */
        !der_header(&p, end, V_ASN1_ENUMERATED, V_ASN1_UNIVERSAL, 0, &n))      /* responseStatus */
        return NULL;
    p += n;
    if (!der_header(&p, end, 0, V_ASN1_CONTEXT_SPECIFIC, 1, &n) ||              /* responseBytes */
        !der_header(&p, end, V_ASN1_SEQUENCE, V_ASN1_UNIVERSAL, 1, &n) ||
        !der_header(&p, end, V_ASN1_OBJECT, V_ASN1_UNIVERSAL, 0, &oid_len))    /* responseType */
        return NULL;
    oid = p;
    p += oid_len;
    if (!basic || oid_len != (long)OBJ_length(basic) || memcmp(oid, OBJ_get0_data(basic), (size_t)oid_len) ||
        !der_header(&p, end, V_ASN1_OCTET_STRING, V_ASN1_UNIVERSAL, 0, &n))   /* response */
        return NULL;
    inner_end = p + n;
    if (!der_header(&p, inner_end, V_ASN1_SEQUENCE, V_ASN1_UNIVERSAL, 1, &n))  /* BasicOCSPResponse */
        return NULL;
    body = p;
    body_end = p + n;
    /* tbsResponseData, signatureAlgorithm, signature: kept as they are */
    for (int i = 0; i < 3; i++) {
        long m;
        int t, cl, ret = ASN1_get_object(&p, &m, &t, &cl, (long)(body_end - p));
        if ((ret & 0x80) || (ret & 0x01) || m > body_end - p)
            return NULL;
        p += m;
    }
    /* what follows may only be the [0] certs field, up to the end, with
     * certificates known already */
    if (p < body_end) {
        const unsigned char *q = p;
        if (!der_header(&q, body_end, 0, V_ASN1_CONTEXT_SPECIFIC, 1, &n) || q + n != body_end ||
            !der_header(&q, body_end, V_ASN1_SEQUENCE, V_ASN1_UNIVERSAL, 1, &n) ||
            q + n != body_end || !certs_all_known(q, n))
            return NULL;
    }
    head = ASN1_object_size(1, (int)(p - body), V_ASN1_SEQUENCE);
    if (head <= 0 || !(cut = OPENSSL_malloc((size_t)head)))
        return NULL;
    w = cut;
    ASN1_put_object(&w, 1, (int)(p - body), V_ASN1_SEQUENCE, V_ASN1_UNIVERSAL);
    memcpy(w, body, (size_t)(p - body));
    w = cut;
    bs = d2i_OCSP_BASICRESP(NULL, (const unsigned char **)&w, head);
    if (bs && w != cut + head) {
        OCSP_BASICRESP_free(bs);
        bs = NULL;
    }
    OPENSSL_free(cut);
    return bs;
}

og_verify_result og_verify_response(const og_cert *c, const unsigned char *der, size_t len,
                                    time_t now, long max_skew, og_resp_info *info,
                                    char *why, size_t whylen)
{
    const unsigned char *p = der;
    OCSP_RESPONSE *resp = NULL;
    OCSP_BASICRESP *bs = NULL;
    OCSP_SINGLERESP *single;
    og_verify_result res;
    int status = -1, reason = 0, lite;
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
    /* without its certificates first: enough when a signer checked before signed it */
    lite = 1;
    if (!(bs = basic_without_certs(der, len))) {
        lite = 0;
        bs = OCSP_response_get1_basic(resp);
    }
    if (!bs) {
        set_err(why, whylen, "%s", "no basic response inside");
        res = OG_VERIFY_MALFORMED;
        goto out;
    }
    if (!(single = find_single(bs, c, why, whylen))) {
        res = OG_VERIFY_NO_MATCH;
        goto out;
    }
    status = OCSP_single_get0_status(single, &reason, &rev, &thisupd, &nextupd);
    if (status < 0) {
        set_err(why, whylen, "%s", "unreadable certStatus");
        res = OG_VERIFY_MALFORMED;
        goto out;
    }
    res = verify_signer(c, bs, now, why, whylen);
    if (res != OG_VERIFY_OK && lite) {
        /* a signer met for the first time: the whole response, certificates too */
        OCSP_BASICRESP *full = OCSP_response_get1_basic(resp);
        if (!full) {
            set_err(why, whylen, "%s", "no basic response inside");
            res = OG_VERIFY_MALFORMED;
            goto out;
        }
        res = verify_signer(c, full, now, why, whylen);
        OCSP_BASICRESP_free(full);
    }
    if (res != OG_VERIFY_OK)
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
