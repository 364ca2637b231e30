/* Copyright 2026 the mod_ocsp_guard developers. Licensed under the Apache License 2.0 (LICENSE). */
#include "testpki.h"

#include <stdlib.h>
#include <string.h>
#include <openssl/pem.h>
#include <openssl/x509v3.h>

static EVP_PKEY *new_key(void)
{
    return EVP_EC_gen("P-256");
}

static void add_ext(X509 *x, X509 *issuer, int nid, const char *value)
{
    X509V3_CTX ctx;
    X509V3_set_ctx(&ctx, issuer, x, NULL, NULL, 0);
    X509_EXTENSION *ext = X509V3_EXT_conf_nid(NULL, &ctx, nid, value);
    X509_add_ext(x, ext, -1);
    X509_EXTENSION_free(ext);
}

static X509 *new_cert_valid(const char *cn, long serial, EVP_PKEY *key, long not_before, long not_after)
{
    X509 *x = X509_new();
    X509_set_version(x, 2);
    ASN1_INTEGER_set(X509_get_serialNumber(x), serial);
    X509_gmtime_adj(X509_getm_notBefore(x), not_before);
    X509_gmtime_adj(X509_getm_notAfter(x), not_after);
    X509_NAME_add_entry_by_txt(X509_get_subject_name(x), "CN", MBSTRING_ASC,
                               (const unsigned char *)cn, -1, -1, 0);
    X509_set_pubkey(x, key);
    return x;
}

static X509 *new_cert(const char *cn, long serial, EVP_PKEY *key)
{
    return new_cert_valid(cn, serial, key, -3600, 86400L * 365);
}

tp_cert tp_ca(const char *cn)
{
    tp_cert c;
    c.key = new_key();
    c.cert = new_cert(cn, 1, c.key);
    X509_set_issuer_name(c.cert, X509_get_subject_name(c.cert));
    add_ext(c.cert, c.cert, NID_basic_constraints, "critical,CA:TRUE");
    add_ext(c.cert, c.cert, NID_key_usage, "critical,keyCertSign,cRLSign,digitalSignature");
    add_ext(c.cert, c.cert, NID_subject_key_identifier, "hash");
    X509_sign(c.cert, c.key, EVP_sha256());
    return c;
}

tp_cert tp_lookalike(const tp_cert *ca)
{
    tp_cert c;
    c.key = new_key();
    c.cert = X509_new();
    X509_set_version(c.cert, 2);
    ASN1_INTEGER_set(X509_get_serialNumber(c.cert), 666);
    X509_gmtime_adj(X509_getm_notBefore(c.cert), -3600);
    X509_gmtime_adj(X509_getm_notAfter(c.cert), 86400L * 365);
    X509_set_subject_name(c.cert, X509_get_subject_name(ca->cert));
    X509_set_issuer_name(c.cert, X509_get_subject_name(ca->cert));
    X509_set_pubkey(c.cert, c.key);
    add_ext(c.cert, c.cert, NID_basic_constraints, "critical,CA:TRUE");
    add_ext(c.cert, c.cert, NID_key_usage, "critical,keyCertSign,cRLSign,digitalSignature");
    add_ext(c.cert, c.cert, NID_ext_key_usage, "OCSPSigning");
    add_ext(c.cert, c.cert, NID_subject_key_identifier, "hash");
    X509_sign(c.cert, c.key, EVP_sha256());
    return c;
}

tp_cert tp_issue(const tp_cert *ca, const char *cn, const char *kind, const char *url, long serial)
{
    return tp_issue_valid(ca, cn, kind, url, serial, -3600, 86400L * 365);
}

tp_cert tp_issue_valid(const tp_cert *ca, const char *cn, const char *kind, const char *url, long serial,
                       long not_before, long not_after)
{
    tp_cert c;
    c.key = new_key();
    c.cert = new_cert_valid(cn, serial, c.key, not_before, not_after);
    X509_set_issuer_name(c.cert, X509_get_subject_name(ca->cert));
    add_ext(c.cert, ca->cert, NID_basic_constraints, "CA:FALSE");
    if (!strcmp(kind, "responder")) {
        add_ext(c.cert, ca->cert, NID_ext_key_usage, "OCSPSigning");
    } else if (!strcmp(kind, "leaf") || !strcmp(kind, "muststaple")) {
        add_ext(c.cert, ca->cert, NID_ext_key_usage, "serverAuth");
    }
    if (!strcmp(kind, "muststaple"))
        add_ext(c.cert, ca->cert, NID_tlsfeature, "status_request");
    if (url) {
        char aia[512];
        snprintf(aia, sizeof(aia), "OCSP;URI:%s", url);
        add_ext(c.cert, ca->cert, NID_info_access, aia);
    }
    X509_sign(c.cert, ca->key, EVP_sha256());
    return c;
}

void tp_free(tp_cert *c)
{
    X509_free(c->cert);
    EVP_PKEY_free(c->key);
    c->cert = NULL;
    c->key = NULL;
}

tp_resp_opts tp_good_opts(const tp_cert *ca, const tp_cert *leaf, long this_offset, long next_offset)
{
    tp_resp_opts o;
    memset(&o, 0, sizeof(o));
    o.status = V_OCSP_CERTSTATUS_GOOD;
    o.this_offset = this_offset;
    o.next_offset = next_offset;
    o.signer = ca;
    o.id_issuer = ca;
    o.id_subject = leaf;
    return o;
}

unsigned char *tp_response(const tp_resp_opts *o, size_t *len)
{
    OCSP_RESPONSE *resp;
    unsigned char *der = NULL;
    int n;
    if (o->response_status) {
        resp = OCSP_response_create(o->response_status, NULL);
    } else {
        OCSP_BASICRESP *bs = OCSP_BASICRESP_new();
        OCSP_CERTID *id = OCSP_cert_to_id(o->id_md ? o->id_md : EVP_sha1(), o->id_subject->cert,
                                          o->id_issuer->cert);
        time_t now = o->at ? o->at : time(NULL);
        ASN1_TIME *thisupd = ASN1_GENERALIZEDTIME_adj(NULL, now, 0, o->this_offset);
        ASN1_TIME *nextupd = o->no_next_update ? NULL : ASN1_GENERALIZEDTIME_adj(NULL, now, 0, o->next_offset);
        ASN1_TIME *revtime = ASN1_GENERALIZEDTIME_adj(NULL, now, 0, -86400);
        STACK_OF(X509) *certs = sk_X509_new_null();
        if (o->id_corrupt) {
            ASN1_OCTET_STRING *name_hash = NULL, *key_hash = NULL;
            OCSP_id_get0_info(&name_hash, NULL, &key_hash, NULL, id);
            ASN1_OCTET_STRING *h = o->id_corrupt == TP_NAME_HASH ? name_hash : key_hash;
            ((unsigned char *)ASN1_STRING_get0_data(h))[0] ^= 0x01;
        }
        if (o->include)
            sk_X509_push(certs, o->include->cert);
        for (size_t i = 0; i < sizeof(o->extra) / sizeof(o->extra[0]) && o->extra[i]; i++)
            sk_X509_push(certs, o->extra[i]->cert);
        OCSP_basic_add1_status(bs, id, o->status, OCSP_REVOKED_STATUS_KEYCOMPROMISE,
                               o->status == V_OCSP_CERTSTATUS_REVOKED ? revtime : NULL,
                               thisupd, nextupd);
        /* the signer's own certificate goes in only as include says */
        OCSP_basic_sign(bs, o->signer->cert, o->signer->key, EVP_sha256(), certs,
                        OCSP_NOCERTS | (o->by_key ? OCSP_RESPID_KEY : 0));
        for (int i = 0; i < sk_X509_num(certs); i++)
            OCSP_basic_add1_cert(bs, sk_X509_value(certs, i));
        if (o->corrupt_signature) {
            const ASN1_OCTET_STRING *sig = OCSP_resp_get0_signature(bs);
            unsigned char *p = (unsigned char *)ASN1_STRING_get0_data(sig);
            p[ASN1_STRING_length(sig) / 2] ^= 0x01;
        }
        resp = OCSP_response_create(OCSP_RESPONSE_STATUS_SUCCESSFUL, bs);
        OCSP_BASICRESP_free(bs);
        OCSP_CERTID_free(id);
        ASN1_TIME_free(thisupd);
        ASN1_TIME_free(nextupd);
        ASN1_TIME_free(revtime);
        sk_X509_free(certs);
    }
    n = i2d_OCSP_RESPONSE(resp, &der);
    OCSP_RESPONSE_free(resp);
    *len = n > 0 ? (size_t)n : 0;
    return der;
}

char *tp_pair_pem(const tp_cert *leaf, const tp_cert *issuer)
{
    BIO *b = BIO_new(BIO_s_mem());
    char *data, *out;
    long n;
    PEM_write_bio_X509(b, leaf->cert);
    PEM_write_bio_X509(b, issuer->cert);
    n = BIO_get_mem_data(b, &data);
    out = malloc((size_t)n + 1);
    memcpy(out, data, (size_t)n);
    out[n] = '\0';
    BIO_free(b);
    return out;
}
