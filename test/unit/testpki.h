/* Copyright 2026 the mod_ocsp_guard developers. Licensed under the Apache License 2.0 (LICENSE). */
/* Builds certificates and OCSP responses in memory for the unit tests, so
 * every case of the verification matrix can be made exactly. */
#ifndef TESTPKI_H
#define TESTPKI_H

#include <time.h>
#include <openssl/evp.h>
#include <openssl/ocsp.h>
#include <openssl/x509.h>

typedef struct tp_cert {
    X509 *cert;
    EVP_PKEY *key;
} tp_cert;

/* A self-signed CA. */
tp_cert tp_ca(const char *cn);
/* A certificate issued by ca. kind: "leaf", "responder" (OCSPSigning),
 * "responder-noeku", "muststaple". url: OCSP AIA or NULL. */
tp_cert tp_issue(const tp_cert *ca, const char *cn, const char *kind, const char *url, long serial);
/* The same with notBefore = now + not_before and notAfter = now + not_after. */
tp_cert tp_issue_valid(const tp_cert *ca, const char *cn, const char *kind, const char *url, long serial,
                       long not_before, long not_after);
/* A look-alike of ca: ca's subject (and issuer) name, CA:TRUE, OCSPSigning,
 * but a fresh key and self-signed: what an attacker can make. */
tp_cert tp_lookalike(const tp_cert *ca);
void tp_free(tp_cert *c);

typedef struct tp_resp_opts {
    int status;                  /* V_OCSP_CERTSTATUS_* */
    long this_offset;            /* thisUpdate = now + this_offset */
    long next_offset;            /* nextUpdate = now + next_offset */
    int no_next_update;
    const tp_cert *signer;       /* the key that signs */
    const tp_cert *include;      /* certificate put into the response, or NULL */
    const tp_cert *extra[4];     /* more certificates put in after it (NULL-ended) */
    int by_key;                  /* ResponderID byKey (SHA-1 of the key), else byName */
    const tp_cert *id_issuer;    /* issuer used for the CertID (normally the real one) */
    const tp_cert *id_subject;   /* subject whose serial is in the CertID */
    int corrupt_signature;       /* flip a bit in the signature */
    int response_status;         /* OCSP_RESPONSE_STATUS_*, 0 = successful */
    const EVP_MD *id_md;         /* the CertID's hash algorithm; NULL: SHA-1 */
    int id_corrupt;              /* flip a bit of the CertID's TP_NAME_HASH or TP_KEY_HASH */
    time_t at;                   /* the offsets count from here; 0: now */
} tp_resp_opts;
enum { TP_NAME_HASH = 1, TP_KEY_HASH = 2 };

/* Options for a good response about leaf, signed by its issuer ca, valid
 * from now + this_offset to now + next_offset. */
tp_resp_opts tp_good_opts(const tp_cert *ca, const tp_cert *leaf, long this_offset, long next_offset);

/* DER OCSPResponse (OPENSSL_malloc'd) built to the options. */
unsigned char *tp_response(const tp_resp_opts *o, size_t *len);
/* PEM of leaf then issuer, malloc'd. */
char *tp_pair_pem(const tp_cert *leaf, const tp_cert *issuer);

#endif
