/* Copyright 2026 the mod_ocsp_guard developers. Licensed under the Apache License 2.0 (LICENSE). */
/* Pure OCSP core of mod_ocsp_guard: certificate pairs, requests and response
 * verification. Knows nothing of httpd; depends on OpenSSL only. */
#ifndef OG_OCSP_H
#define OG_OCSP_H

#include <stddef.h>
#include <time.h>
#include <openssl/x509.h>
#include <openssl/ocsp.h>
#include <openssl/opensslv.h>

#if OPENSSL_VERSION_NUMBER < 0x30000000L
#error "mod_ocsp_guard needs OpenSSL 3.0 or later (its HTTP client and OCSP API)"
#endif

#define OG_ID_LEN 20                 /* SHA-1 of the leaf DER, as mod_ssl primes it */
#define OG_MAX_RESPONSE (64 * 1024)  /* larger responses are refused */
#define OG_NO_NEXT_UPDATE_VALIDITY 3600 /* RFC 6960 allows no nextUpdate: trust it an hour */
#define OG_GET_MAX_B64 255           /* RFC 5019: GET for requests of at most 255 bytes */

/* Log levels share httpd's numbering so the glue can pass them through. */
enum { OG_LOG_ERR = 3, OG_LOG_WARN = 4, OG_LOG_NOTICE = 5, OG_LOG_INFO = 6, OG_LOG_DEBUG = 7 };
/* file and line are the core's own, so a log line says where it came from. */
typedef void og_log_fn(void *baton, const char *file, int line, int level, const char *fmt, ...)
    __attribute__((format(printf, 5, 6)));
#define OG_LOG(fn, baton, level, ...) (fn)((baton), __FILE__, __LINE__, (level), __VA_ARGS__)
/* Message IDs, in the spirit of httpd's APLOGNO: every line an operator may
 * alert on starts with one; docs/MESSAGES.md says what each means. */
#define OG_LOGNO(n) "OG" #n ": "

typedef struct og_cert {
    X509 *issuer;               /* one reference; issuers are usually shared */
    OCSP_CERTID *certid;        /* SHA-1 CertID of leaf under issuer */
    unsigned char id[OG_ID_LEN];/* SHA-1 of the leaf DER */
    char *ocsp_url;             /* first OCSP URL from the AIA, or NULL */
    int must_staple;            /* RFC 7633 TLS feature status_request */
    char *subject;              /* RFC 2253, e.g. "CN=x,O=y" */
    char *serial;               /* hex, e.g. "01AB" */
    char *name;                 /* "subject CN=x, serial 01AB" for logs */
} og_cert;

/* Issuers parsed once and shared by the certificates they issued. */
typedef struct og_issuer_cache og_issuer_cache;
og_issuer_cache *og_issuer_cache_new(void);
void og_issuer_cache_free(og_issuer_cache *ic);

/* Parses leaf then issuer from PEM (the text mod_ssl primes with); with
 * issuers, each distinct issuer text is parsed once and shared. Returns NULL
 * and fills err when the text is not two certificates, or the second did not
 * issue the first. */
og_cert *og_cert_from_pem(const char *pem, size_t len, og_issuer_cache *issuers, char *err,
                          size_t errlen);
/* The leaf as DER and its issuer (the caller keeps its reference; the
 * og_cert takes one of its own). The leaf is read without decoding its
 * public key, which OpenSSL 3 makes costly: thousands of certificates are
 * primed at every start. */
og_cert *og_cert_from_der(const unsigned char *leaf_der, size_t leaf_len, X509 *issuer,
                          char *err, size_t errlen);
/* The first PEM certificate of text as DER (OPENSSL_malloc'd); *rest points
 * after it. 0 when there is none. */
int og_pem_first_der(const char *text, size_t len, unsigned char **der, long *der_len,
                     const char **rest);
void og_cert_free(og_cert *c);
/* Names c by where it is configured in its name for logs: "PLACE, subject
 * S, serial N". 0 when out of memory (the name stays as it was). */
int og_cert_set_place(og_cert *c, const char *place);
/* Whether the first certificate of PEM text a is that of b, compared on the
 * base64 of their "BEGIN CERTIFICATE" blocks, whitespace ignored (equal
 * text, equal DER; no decoding): 1 or 0, -1 when either has no such block. */
int og_pem_same_first_cert(const char *a, size_t alen, const char *b, size_t blen);
/* Whether the certificate file at path (PEM, the leaf first, as
 * SSLCertificateFile wants it) holds the leaf of pem (leaf first), whose id
 * (SHA-1 of its DER) is given: the base64 comparison above, or decoding
 * when the file's certificate is not a plain block. Reads at most 1 MiB. */
int og_cert_file_is(const char *path, const char *pem, size_t pem_len, const unsigned char *id);

/* "subject CN=..., serial 0A1B" with malloc'd storage. */
char *og_x509_name(X509 *x);
/* Subject (RFC 2253) and serial (hex) as separate malloc'd strings. */
void og_x509_subject_serial(X509 *x, char **subject, char **serial);
int og_x509_must_staple(X509 *x);
char *og_x509_ocsp_url(X509 *x);

/* DER OCSP request for the certificate (no nonce: responses are cached and
 * shared, as RFC 5019 prescribes). Caller frees *der with OPENSSL_free. */
int og_request_der(const og_cert *c, unsigned char **der, size_t *len);
/* 1 when the base64 of a request of der_len bytes fits RFC 5019's GET limit. */
int og_request_use_get(size_t der_len);
/* base_url + "/" + url-encoded base64 request; malloc'd. */
char *og_request_get_url(const char *base_url, const unsigned char *der, size_t len);

typedef enum { OG_STATUS_NONE = 0, OG_STATUS_GOOD = 1, OG_STATUS_REVOKED = 2,
               OG_STATUS_UNKNOWN = 3 } og_cert_status;
const char *og_status_name(og_cert_status s);
/* Good and revoked are stapled (revoked is the truth); unknown and none are not. */
static inline int og_status_staplable(og_cert_status s)
{
    return s == OG_STATUS_GOOD || s == OG_STATUS_REVOKED;
}

typedef struct og_resp_info {
    og_cert_status status;
    time_t this_update;
    time_t next_update;         /* effective: thisUpdate + 1 h when absent */
    int has_next_update;
    time_t produced_at;
    time_t revoked_at;
} og_resp_info;

typedef enum {
    OG_VERIFY_OK = 0,
    OG_VERIFY_MALFORMED,        /* not DER of an OCSPResponse, or trailing bytes */
    OG_VERIFY_TOO_LARGE,
    OG_VERIFY_NOT_SUCCESSFUL,   /* responseStatus other than successful */
    OG_VERIFY_NO_MATCH,         /* no single response for this certificate */
    OG_VERIFY_BAD_SIGNATURE,
    OG_VERIFY_UNTRUSTED_SIGNER, /* not the issuer nor its delegated responder */
    OG_VERIFY_NOT_YET_VALID,    /* thisUpdate later than now + max skew */
    OG_VERIFY_EXPIRED           /* nextUpdate not in the future */
} og_verify_result;
const char *og_verify_result_name(og_verify_result r);

/* Verifies a DER OCSPResponse for c at time now. On OG_VERIFY_OK info is
 * filled (status may still be revoked or unknown); otherwise why says what. */
og_verify_result og_verify_response(const og_cert *c, const unsigned char *der, size_t len,
                                    time_t now, long max_skew, og_resp_info *info,
                                    char *why, size_t whylen);

time_t og_asn1_time_to_unix(const ASN1_GENERALIZEDTIME *t);
/* OpenSSL's first queued reason (later ones are consequences) and its data
 * ("expected=..., actual=..."), which ERR_error_string_n leaves out; "" when
 * the queue is empty. Clears the queue. */
const char *og_openssl_error(char *buf, size_t len);
/* RFC 3339 UTC, "2026-11-27T16:36:13Z", into buf (at least 21 bytes). */
void og_format_time(time_t t, char *buf, size_t len);

#endif
