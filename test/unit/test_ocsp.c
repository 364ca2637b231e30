/* Copyright 2026 the mod_ocsp_guard developers. Licensed under the Apache License 2.0 (LICENSE). */
/* OCSP core: certificate pairs, requests, and the verification matrix. */
#include <check.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/rand.h>

#include "og_ocsp.h"
#include "testpki.h"

static tp_cert ca, other_ca, leaf, other_leaf, responder, responder_noeku, foreign_responder, must;
static og_cert *cert;

static void setup(void)
{
    char err[256];
    ca = tp_ca("Unit CA");
    other_ca = tp_ca("Other CA");
    leaf = tp_issue(&ca, "leaf.test", "leaf", "http://127.0.0.1:1/ocsp", 0x1001);
    other_leaf = tp_issue(&ca, "other.test", "leaf", "http://127.0.0.1:1/ocsp", 0x1002);
    responder = tp_issue(&ca, "Unit Responder", "responder", NULL, 0x2001);
    responder_noeku = tp_issue(&ca, "Unit Responder without EKU", "responder-noeku", NULL, 0x2002);
    foreign_responder = tp_issue(&other_ca, "Foreign Responder", "responder", NULL, 0x2003);
    must = tp_issue(&ca, "must.test", "muststaple", "http://127.0.0.1:1/", 0x1003);
    char *pem = tp_pair_pem(&leaf, &ca);
    cert = og_cert_from_pem(pem, strlen(pem), NULL, err, sizeof(err));
    free(pem);
    ck_assert_msg(cert != NULL, "%s", err);
}

static void teardown(void)
{
    og_cert_free(cert);
    tp_free(&ca); tp_free(&other_ca); tp_free(&leaf); tp_free(&other_leaf);
    tp_free(&responder); tp_free(&responder_noeku); tp_free(&foreign_responder); tp_free(&must);
}

static tp_resp_opts good_opts(void)
{
    return tp_good_opts(&ca, &leaf, -60, 3600);
}

static og_verify_result verify_opts(const tp_resp_opts *o, og_resp_info *info, long skew)
{
    size_t len;
    char why[256];
    unsigned char *der = tp_response(o, &len);
    og_verify_result r = og_verify_response(cert, der, len, time(NULL), skew, info, why, sizeof(why));
    OPENSSL_free(der);
    return r;
}

START_TEST(cert_pair_fields)
{
    unsigned char digest[20];
    unsigned int n;
    X509_digest(leaf.cert, EVP_sha1(), digest, &n);
    ck_assert_mem_eq(cert->id, digest, 20);
    ck_assert_str_eq(cert->ocsp_url, "http://127.0.0.1:1/ocsp");
    ck_assert_int_eq(cert->must_staple, 0);
    ck_assert_ptr_nonnull(strstr(cert->name, "CN=leaf.test"));
    ck_assert_ptr_nonnull(strstr(cert->name, "serial 1001"));
    ck_assert_int_eq(og_x509_must_staple(must.cert), 1);
}
END_TEST

START_TEST(cert_pair_subject_serial_and_shared_issuer)
{
    char err[256];
    ck_assert_str_eq(cert->subject, "CN=leaf.test");
    ck_assert_str_eq(cert->serial, "1001");
    ck_assert_str_eq(cert->name, "subject CN=leaf.test, serial 1001");
    /* the module's path: one issuer parsed once for the certificates it issued */
    og_issuer_cache *ic = og_issuer_cache_new();
    char *p1 = tp_pair_pem(&leaf, &ca), *p2 = tp_pair_pem(&other_leaf, &ca);
    og_cert *a = og_cert_from_pem(p1, strlen(p1), ic, err, sizeof(err));
    og_cert *b = og_cert_from_pem(p2, strlen(p2), ic, err, sizeof(err));
    ck_assert_ptr_nonnull(a);
    ck_assert_ptr_nonnull(b);
    ck_assert_ptr_eq(a->issuer, b->issuer);
    ck_assert_mem_eq(a->id, cert->id, OG_ID_LEN);
    /* many distinct issuers: the cache grows and keeps each one */
    tp_cert cas[40], leaves[40];
    og_cert *many[40];
    for (int i = 0; i < 40; i++) {
        char cn[32];
        snprintf(cn, sizeof(cn), "CA %d", i);
        cas[i] = tp_ca(cn);
        leaves[i] = tp_issue(&cas[i], "l.test", "leaf", NULL, 0x100 + i);
        char *pem = tp_pair_pem(&leaves[i], &cas[i]);
        many[i] = og_cert_from_pem(pem, strlen(pem), ic, err, sizeof(err));
        free(pem);
        ck_assert_ptr_nonnull(many[i]);
    }
    for (int i = 0; i < 40; i++) {
        ck_assert_int_eq(X509_cmp(many[i]->issuer, cas[i].cert), 0);
        og_cert_free(many[i]);
        tp_free(&cas[i]);
        tp_free(&leaves[i]);
    }
    og_cert_free(a);
    og_cert_free(b);
    og_issuer_cache_free(ic);
    free(p1);
    free(p2);
}
END_TEST

START_TEST(cert_pair_rejects_wrong_issuer_and_garbage)
{
    char err[256];
    char *pem = tp_pair_pem(&leaf, &other_ca);
    ck_assert_ptr_null(og_cert_from_pem(pem, strlen(pem), NULL, err, sizeof(err)));
    ck_assert_ptr_nonnull(strstr(err, "did not issue"));
    free(pem);
    ck_assert_ptr_null(og_cert_from_pem("garbage", 7, NULL, err, sizeof(err)));
    ck_assert_ptr_nonnull(strstr(err, "PEM"));
}
END_TEST

START_TEST(request_get_or_post)
{
    unsigned char *der;
    size_t len;
    ck_assert(og_request_der(cert, &der, &len));
    ck_assert(len > 0 && len < 189);
    ck_assert(og_request_use_get(len));
    /* base64 of 189 bytes is 252 characters; of 190, 256: RFC 5019 says POST */
    ck_assert(og_request_use_get(189));
    ck_assert(!og_request_use_get(190));
    ck_assert(!og_request_use_get(1024));
    char *url = og_request_get_url("http://r.test/ocsp", der, len);
    ck_assert_ptr_nonnull(url);
    ck_assert(!strncmp(url, "http://r.test/ocsp/", 19));
    ck_assert_ptr_null(strpbrk(url + 19, "+/="));
    /* decoding the escaped path gives the request back */
    char b64[512];
    size_t o = 0;
    for (const char *p = url + 19; *p; p++) {
        if (*p == '%') {
            unsigned v;
            sscanf(p + 1, "%2X", &v);
            b64[o++] = (char)v;
            p += 2;
        } else {
            b64[o++] = *p;
        }
    }
    b64[o] = '\0';
    unsigned char back[512];
    int n = EVP_DecodeBlock(back, (unsigned char *)b64, (int)o);
    ck_assert_int_ge(n, (int)len);
    ck_assert_mem_eq(back, der, len);
    free(url);
    url = og_request_get_url("http://r.test/", der, len);
    ck_assert(strncmp(url, "http://r.test//", 15));
    free(url);
    OPENSSL_free(der);
}
END_TEST

START_TEST(verify_good_signed_by_issuer)
{
    og_resp_info info;
    tp_resp_opts o = good_opts();
    ck_assert_int_eq(verify_opts(&o, &info, 300), OG_VERIFY_OK);
    ck_assert_int_eq(info.status, OG_STATUS_GOOD);
    ck_assert(info.has_next_update);
    ck_assert(llabs((long long)(info.next_update - info.this_update) - 3660) <= 1);
}
END_TEST

START_TEST(verify_good_delegated_responder)
{
    og_resp_info info;
    tp_resp_opts o = good_opts();
    o.signer = &responder;
    o.include = &responder;
    ck_assert_int_eq(verify_opts(&o, &info, 300), OG_VERIFY_OK);
    ck_assert_int_eq(info.status, OG_STATUS_GOOD);
}
END_TEST

START_TEST(verify_revoked_and_unknown)
{
    og_resp_info info;
    tp_resp_opts o = good_opts();
    o.status = V_OCSP_CERTSTATUS_REVOKED;
    ck_assert_int_eq(verify_opts(&o, &info, 300), OG_VERIFY_OK);
    ck_assert_int_eq(info.status, OG_STATUS_REVOKED);
    ck_assert(info.revoked_at > 0);
    o.status = V_OCSP_CERTSTATUS_UNKNOWN;
    ck_assert_int_eq(verify_opts(&o, &info, 300), OG_VERIFY_OK);
    ck_assert_int_eq(info.status, OG_STATUS_UNKNOWN);
}
END_TEST

START_TEST(verify_wrong_certificate)
{
    og_resp_info info;
    tp_resp_opts o = good_opts();
    o.id_subject = &other_leaf;
    ck_assert_int_eq(verify_opts(&o, &info, 300), OG_VERIFY_NO_MATCH);
}
END_TEST

START_TEST(verify_wrong_issuer)
{
    og_resp_info info;
    tp_resp_opts o = good_opts();
    /* another CA signs a response about our certificate */
    o.signer = &other_ca;
    o.include = &other_ca;
    ck_assert_int_eq(verify_opts(&o, &info, 300), OG_VERIFY_UNTRUSTED_SIGNER);
    /* and a CertID computed under another issuer does not match */
    o = good_opts();
    o.id_issuer = &other_ca;
    ck_assert_int_eq(verify_opts(&o, &info, 300), OG_VERIFY_NO_MATCH);
}
END_TEST

START_TEST(verify_signer_without_ocsp_signing)
{
    og_resp_info info;
    tp_resp_opts o = good_opts();
    o.signer = &responder_noeku;
    o.include = &responder_noeku;
    ck_assert_int_eq(verify_opts(&o, &info, 300), OG_VERIFY_UNTRUSTED_SIGNER);
}
END_TEST

START_TEST(verify_signer_from_another_ca)
{
    og_resp_info info;
    tp_resp_opts o = good_opts();
    o.signer = &foreign_responder;
    o.include = &foreign_responder;
    ck_assert_int_eq(verify_opts(&o, &info, 300), OG_VERIFY_UNTRUSTED_SIGNER);
    /* without the certificate inside, the signer cannot even be found */
    o.include = NULL;
    ck_assert_int_eq(verify_opts(&o, &info, 300), OG_VERIFY_UNTRUSTED_SIGNER);
}
END_TEST

START_TEST(verify_bad_signature)
{
    og_resp_info info;
    tp_resp_opts o = good_opts();
    o.corrupt_signature = 1;
    ck_assert_int_eq(verify_opts(&o, &info, 300), OG_VERIFY_BAD_SIGNATURE);
    o.signer = &responder;
    o.include = &responder;
    ck_assert_int_eq(verify_opts(&o, &info, 300), OG_VERIFY_BAD_SIGNATURE);
}
END_TEST

static og_verify_result verify_why(const tp_resp_opts *o, og_resp_info *info, char *why, size_t len)
{
    size_t n;
    unsigned char *der = tp_response(o, &n);
    og_verify_result r = og_verify_response(cert, der, n, time(NULL), 300, info, why, len);
    OPENSSL_free(der);
    return r;
}

/* We ask with a SHA-1 CertID; a responder may answer with SHA-256 (or
 * SHA-224/384/512): matched by recomputing ours with its algorithm, every
 * field still compared. */
START_TEST(verify_certid_with_sha2)
{
    const EVP_MD *mds[] = { EVP_sha256(), EVP_sha224(), EVP_sha384(), EVP_sha512() };
    tp_cert lookalike = tp_lookalike(&ca);
    og_resp_info info;
    char why[256];
    for (size_t i = 0; i < sizeof(mds) / sizeof(mds[0]); i++) {
        const char *name = EVP_MD_get0_name(mds[i]);
        tp_resp_opts o = good_opts();
        o.id_md = mds[i];
        ck_assert_msg(verify_why(&o, &info, why, sizeof(why)) == OG_VERIFY_OK, "%s good: %s", name, why);
        ck_assert_int_eq(info.status, OG_STATUS_GOOD);
        o.status = V_OCSP_CERTSTATUS_REVOKED;
        ck_assert_msg(verify_why(&o, &info, why, sizeof(why)) == OG_VERIFY_OK, "%s revoked: %s", name, why);
        ck_assert_int_eq(info.status, OG_STATUS_REVOKED);
        o = good_opts();
        o.id_md = mds[i];
        o.signer = &responder;
        o.include = &responder;
        ck_assert_msg(verify_why(&o, &info, why, sizeof(why)) == OG_VERIFY_OK, "%s delegated: %s",
                      name, why);
        /* an issuer of the same name with another key: wrong issuer key hash */
        o = good_opts();
        o.id_md = mds[i];
        o.id_issuer = &lookalike;
        ck_assert_msg(verify_why(&o, &info, why, sizeof(why)) == OG_VERIFY_NO_MATCH,
                      "%s: another issuer key matched", name);
        o.id_issuer = &ca;
        o.id_corrupt = TP_KEY_HASH;
        ck_assert_msg(verify_why(&o, &info, why, sizeof(why)) == OG_VERIFY_NO_MATCH,
                      "%s: a wrong issuer key hash matched", name);
        o.id_corrupt = TP_NAME_HASH;
        ck_assert_msg(verify_why(&o, &info, why, sizeof(why)) == OG_VERIFY_NO_MATCH,
                      "%s: a wrong issuer name hash matched", name);
        o.id_corrupt = 0;
        o.id_subject = &other_leaf;
        ck_assert_msg(verify_why(&o, &info, why, sizeof(why)) == OG_VERIFY_NO_MATCH,
                      "%s: another serial matched", name);
    }
    /* SHA-1, as requested: the same field checks */
    tp_resp_opts o = good_opts();
    o.id_corrupt = TP_NAME_HASH;
    ck_assert_int_eq(verify_why(&o, &info, why, sizeof(why)), OG_VERIFY_NO_MATCH);
    o.id_corrupt = TP_KEY_HASH;
    ck_assert_int_eq(verify_why(&o, &info, why, sizeof(why)), OG_VERIFY_NO_MATCH);
    tp_free(&lookalike);
}
END_TEST

/* A weak or unknown CertID algorithm never matches, even with hashes that
 * are right for it, and the reason says which algorithm was refused. */
START_TEST(verify_certid_weak_or_unknown_algorithm)
{
    og_resp_info info;
    char why[256];
    tp_resp_opts o = good_opts();
    o.id_md = EVP_md5();
    ck_assert_int_eq(verify_why(&o, &info, why, sizeof(why)), OG_VERIFY_NO_MATCH);
    ck_assert_msg(strstr(why, "md5"), "%s", why);
    o.id_md = EVP_sha3_256();
    ck_assert_int_eq(verify_why(&o, &info, why, sizeof(why)), OG_VERIFY_NO_MATCH);
    ck_assert_msg(strstr(why, "sha3-256"), "%s", why);
}
END_TEST

START_TEST(delegated_signer_cache_keeps_every_check)
{
    og_resp_info info;
    tp_resp_opts o = good_opts();
    o.signer = &responder;
    o.include = &responder;
    /* the first verification checks the chain and remembers the signer ... */
    ck_assert_int_eq(verify_opts(&o, &info, 300), OG_VERIFY_OK);
    /* ... later ones still check the signature */
    ck_assert_int_eq(verify_opts(&o, &info, 300), OG_VERIFY_OK);
    o.corrupt_signature = 1;
    ck_assert_int_eq(verify_opts(&o, &info, 300), OG_VERIFY_BAD_SIGNATURE);
    /* a look-alike responder (same name, other CA, other key) is not taken for it */
    tp_cert twin = tp_issue(&other_ca, "Unit Responder", "responder", NULL, 0x2001);
    o = good_opts();
    o.signer = &twin;
    o.include = &twin;
    ck_assert_int_eq(verify_opts(&o, &info, 300), OG_VERIFY_UNTRUSTED_SIGNER);
    /* and the cached responder is never trusted for another issuer's certificate */
    char err[256];
    tp_cert other_leaf2 = tp_issue(&other_ca, "x.test", "leaf", "http://127.0.0.1:1/", 0x9);
    char *pem = tp_pair_pem(&other_leaf2, &other_ca);
    og_cert *other_cert = og_cert_from_pem(pem, strlen(pem), NULL, err, sizeof(err));
    free(pem);
    o = good_opts();
    o.signer = &responder;
    o.include = &responder;
    o.id_issuer = &other_ca;
    o.id_subject = &other_leaf2;
    size_t len;
    char why[256];
    unsigned char *der = tp_response(&o, &len);
    ck_assert_int_eq(og_verify_response(other_cert, der, len, time(NULL), 300, &info, why, sizeof(why)),
                     OG_VERIFY_UNTRUSTED_SIGNER);
    OPENSSL_free(der);
    og_cert_free(other_cert);
    tp_free(&other_leaf2);
    tp_free(&twin);
}
END_TEST

/* Once a delegated responder is remembered, its responses are verified
 * without decoding the certificates they carry, when those are byte for
 * byte ones decoded before. Whatever verifies that way must still decode
 * whole (it is stapled as it is): a bit flipped anywhere, the carried
 * certificate included, is either refused or decodes. */
START_TEST(delegated_fast_path_accepts_only_what_decodes_whole)
{
    og_resp_info info;
    char why[256];
    size_t len;
    tp_resp_opts o = good_opts();
    o.signer = &responder;
    o.include = &responder;
    unsigned char *der = tp_response(&o, &len);
    time_t now = time(NULL);
    ck_assert_int_eq(og_verify_response(cert, der, len, now, 300, &info, why, sizeof(why)), OG_VERIFY_OK);
    ck_assert_int_eq(og_verify_response(cert, der, len, now, 300, &info, why, sizeof(why)), OG_VERIFY_OK);
    for (size_t i = 0; i < len; i++) {
        for (int bit = 0; bit < 8; bit += 3) {
            der[i] ^= (unsigned char)(1 << bit);
            if (og_verify_response(cert, der, len, now, 300, &info, why, sizeof(why)) == OG_VERIFY_OK) {
                const unsigned char *p = der;
                OCSP_RESPONSE *resp = d2i_OCSP_RESPONSE(NULL, &p, (long)len);
                OCSP_BASICRESP *bs = resp ? OCSP_response_get1_basic(resp) : NULL;
                ck_assert_msg(bs && p == der + len, "bit %d of byte %zu flipped: verified but does "
                              "not decode whole", bit, i);
                OCSP_BASICRESP_free(bs);
                OCSP_RESPONSE_free(resp);
            }
            der[i] ^= (unsigned char)(1 << bit);
        }
    }
    /* another responder certificate of the same name and key, not byte-identical
     * (a look-alike carried along): decoded whole, still verified by its key */
    tp_cert twin = tp_issue(&other_ca, "Unit Responder", "responder", NULL, 0x2001);
    o.extra[0] = &twin;
    unsigned char *der2 = tp_response(&o, &len);
    ck_assert_int_eq(og_verify_response(cert, der2, len, now, 300, &info, why, sizeof(why)), OG_VERIFY_OK);
    OPENSSL_free(der2);
    tp_free(&twin);
    OPENSSL_free(der);
}
END_TEST

/* Verifies the response built to o at time now; why gets the reason. */
static og_verify_result verify_at(const tp_resp_opts *o, time_t now, og_resp_info *info,
                                  char *why, size_t whylen)
{
    size_t len;
    unsigned char *der = tp_response(o, &len);
    og_verify_result r = og_verify_response(cert, der, len, now, 300, info, why, whylen);
    OPENSSL_free(der);
    return r;
}

#define FIFTY_YEARS (50L * 365 * 86400)

/* Issue 8, defect 1, as reported: a genuine issuer-signed response (ResponderID
 * byName) carrying a planted certificate with the issuer's name and an
 * attacker's key must not make the attacker's key trusted. */
START_TEST(forged_after_planted_certificate)
{
    og_resp_info info;
    char why[256];
    tp_cert planted = tp_lookalike(&ca);
    tp_resp_opts genuine = good_opts();
    genuine.include = &planted;    /* added on the way: certs is not signed */
    ck_assert_int_eq(verify_at(&genuine, time(NULL), &info, why, sizeof(why)), OG_VERIFY_OK);
    ck_assert_int_eq(info.status, OG_STATUS_GOOD);

    tp_resp_opts forged = good_opts();
    forged.signer = &planted;
    forged.include = &planted;
    forged.by_key = 1;
    forged.status = V_OCSP_CERTSTATUS_REVOKED;
    forged.next_offset = FIFTY_YEARS;
    og_verify_result r = verify_at(&forged, time(NULL), &info, why, sizeof(why));
    ck_assert_msg(r == OG_VERIFY_UNTRUSTED_SIGNER, "forged response: %s (%s), status %s",
                  og_verify_result_name(r), why, og_status_name(info.status));
    /* why names the signer and says what is wrong with it */
    ck_assert_msg(strstr(why, "signed by responder certificate subject CN=Unit CA") && strstr(why, "self-signed"),
                  "why: %s", why);
    /* and again, in case the first look remembered anything */
    ck_assert_int_eq(verify_at(&forged, time(NULL), &info, why, sizeof(why)), OG_VERIFY_UNTRUSTED_SIGNER);
    /* the genuine one still verifies */
    ck_assert_int_eq(verify_at(&genuine, time(NULL), &info, why, sizeof(why)), OG_VERIFY_OK);
    tp_free(&planted);
}
END_TEST

/* Forgeries that rely on certificates in the response, nothing remembered. */
START_TEST(forged_with_lookalikes_refused)
{
    og_resp_info info;
    char why[256];
    time_t now = time(NULL);
    tp_cert planted = tp_lookalike(&ca);
    /* a responder "issued" by the look-alike: the issuer's name, not its key */
    tp_cert fake_responder = tp_issue(&planted, "Unit Responder", "responder", NULL, 0x2001);
    tp_resp_opts o = good_opts();
    o.status = V_OCSP_CERTSTATUS_REVOKED;
    o.next_offset = FIFTY_YEARS;

    /* signed by the look-alike, identified by key */
    o.signer = &planted;
    o.include = &planted;
    o.by_key = 1;
    ck_assert_int_eq(verify_at(&o, now, &info, why, sizeof(why)), OG_VERIFY_UNTRUSTED_SIGNER);
    /* identified by name: the name designates the issuer, so only the issuer's key counts */
    o.by_key = 0;
    ck_assert_int_eq(verify_at(&o, now, &info, why, sizeof(why)), OG_VERIFY_BAD_SIGNATURE);
    ck_assert_ptr_nonnull(strstr(why, "issuer's key"));

    /* a delegated responder whose chain leads to the look-alike, both included */
    for (int by_key = 0; by_key <= 1; by_key++) {
        o.signer = &fake_responder;
        o.include = &fake_responder;
        o.extra[0] = &planted;
        o.by_key = by_key;
        ck_assert_int_eq(verify_at(&o, now, &info, why, sizeof(why)), OG_VERIFY_UNTRUSTED_SIGNER);
        ck_assert_msg(strstr(why, "signature failure") != NULL, "why: %s", why);
    }
    o.extra[0] = NULL;

    /* a delegated responder of another CA, by key */
    o.signer = &foreign_responder;
    o.include = &foreign_responder;
    o.by_key = 1;
    ck_assert_int_eq(verify_at(&o, now, &info, why, sizeof(why)), OG_VERIFY_UNTRUSTED_SIGNER);
    ck_assert_msg(strstr(why, "local issuer") != NULL, "why: %s", why);

    /* the issuer's responder certificate without id-kp-OCSPSigning, by key */
    o.signer = &responder_noeku;
    o.include = &responder_noeku;
    ck_assert_int_eq(verify_at(&o, now, &info, why, sizeof(why)), OG_VERIFY_UNTRUSTED_SIGNER);
    ck_assert_msg(strstr(why, "OCSPSigning") != NULL, "why: %s", why);

    /* nothing of that was remembered: the real responder's response still
     * verifies, the look-alike's still does not */
    o = good_opts();
    o.signer = &responder;
    o.include = &responder;
    ck_assert_int_eq(verify_at(&o, now, &info, why, sizeof(why)), OG_VERIFY_OK);
    o.signer = &fake_responder;
    o.include = &fake_responder;
    ck_assert_int_eq(verify_at(&o, now, &info, why, sizeof(why)), OG_VERIFY_UNTRUSTED_SIGNER);
    tp_free(&fake_responder);
    tp_free(&planted);
}
END_TEST

/* A decoy with the real responder's name put before it: the certificate
 * whose key verifies is the one checked and remembered, not the decoy. */
START_TEST(decoy_before_real_responder)
{
    og_resp_info info;
    char why[256];
    time_t now = time(NULL);
    tp_cert decoy = tp_issue(&other_ca, "Unit Responder", "responder", NULL, 0x2001);
    tp_resp_opts o = good_opts();
    o.signer = &responder;
    o.include = &decoy;
    o.extra[0] = &responder;
    ck_assert_int_eq(verify_at(&o, now, &info, why, sizeof(why)), OG_VERIFY_OK);
    o = good_opts();
    o.signer = &decoy;
    o.include = &decoy;
    o.status = V_OCSP_CERTSTATUS_REVOKED;
    o.next_offset = FIFTY_YEARS;
    for (int by_key = 0; by_key <= 1; by_key++) {
        o.by_key = by_key;
        ck_assert_int_eq(verify_at(&o, now, &info, why, sizeof(why)), OG_VERIFY_UNTRUSTED_SIGNER);
    }
    tp_free(&decoy);
}
END_TEST

/* The responder certificate's validity is judged at the now passed in, not
 * by the wall clock; why carries OpenSSL's verify detail. */
START_TEST(delegated_signer_validity_follows_now)
{
    og_resp_info info;
    char why[256];
    time_t wall = time(NULL);
    /* valid from an hour ago to a day ahead */
    tp_cert short_lived = tp_issue_valid(&ca, "Short Responder", "responder", NULL, 0x2010, -3600, 86400);
    tp_resp_opts o = good_opts();
    o.signer = &short_lived;
    o.include = &short_lived;
    o.next_offset = 10L * 86400;
    ck_assert_int_eq(verify_at(&o, wall + 2 * 86400, &info, why, sizeof(why)), OG_VERIFY_UNTRUSTED_SIGNER);
    ck_assert_msg(strstr(why, "certificate has expired") != NULL, "why: %s", why);
    ck_assert_int_eq(verify_at(&o, wall - 2 * 3600, &info, why, sizeof(why)), OG_VERIFY_UNTRUSTED_SIGNER);
    ck_assert_msg(strstr(why, "not yet valid") != NULL, "why: %s", why);
    ck_assert_int_eq(verify_at(&o, wall, &info, why, sizeof(why)), OG_VERIFY_OK);

    /* expired by the wall clock, valid at now: accepted (the CA itself is
     * valid from an hour ago) */
    tp_cert old = tp_issue_valid(&ca, "Old Responder", "responder", NULL, 0x2011, -3000, -600);
    o = good_opts();
    o.signer = &old;
    o.include = &old;
    o.this_offset = -1900;
    o.next_offset = -1000;
    og_verify_result r = verify_at(&o, wall - 1800, &info, why, sizeof(why));
    ck_assert_msg(r == OG_VERIFY_OK, "%s (%s)", og_verify_result_name(r), why);
    ck_assert_int_eq(verify_at(&o, wall, &info, why, sizeof(why)), OG_VERIFY_UNTRUSTED_SIGNER);
    ck_assert_msg(strstr(why, "certificate has expired") != NULL, "why: %s", why);
    tp_free(&old);
    tp_free(&short_lived);
}
END_TEST

/* A remembered responder past its notAfter at now is checked again, and refused. */
START_TEST(cached_signer_rechecked_at_now)
{
    og_resp_info info;
    char why[256];
    time_t wall = time(NULL);
    tp_cert short_lived = tp_issue_valid(&ca, "Short Responder", "responder", NULL, 0x2010, -3600, 86400);
    tp_resp_opts o = good_opts();
    o.signer = &short_lived;
    o.include = &short_lived;
    o.next_offset = 10L * 86400;
    ck_assert_int_eq(verify_at(&o, wall, &info, why, sizeof(why)), OG_VERIFY_OK);   /* remembered */
    ck_assert_int_eq(verify_at(&o, wall + 2 * 86400, &info, why, sizeof(why)), OG_VERIFY_UNTRUSTED_SIGNER);
    ck_assert_msg(strstr(why, "certificate has expired") != NULL, "why: %s", why);
    /* a response without certificates is verified with the remembered one:
     * within its validity only, and its signature still checked */
    o.include = NULL;
    for (int by_key = 0; by_key <= 1; by_key++) {
        o.by_key = by_key;
        o.corrupt_signature = 0;
        ck_assert_int_eq(verify_at(&o, wall, &info, why, sizeof(why)), OG_VERIFY_OK);
        ck_assert_int_eq(verify_at(&o, wall + 2 * 86400, &info, why, sizeof(why)), OG_VERIFY_UNTRUSTED_SIGNER);
        ck_assert_int_eq(verify_at(&o, wall - 2 * 3600, &info, why, sizeof(why)), OG_VERIFY_UNTRUSTED_SIGNER);
        o.corrupt_signature = 1;
        ck_assert_int_eq(verify_at(&o, wall, &info, why, sizeof(why)), OG_VERIFY_BAD_SIGNATURE);
    }
    tp_free(&short_lived);
}
END_TEST

START_TEST(verify_expired)
{
    og_resp_info info;
    tp_resp_opts o = good_opts();
    o.this_offset = -7200;
    o.next_offset = -1;
    ck_assert_int_eq(verify_opts(&o, &info, 300), OG_VERIFY_EXPIRED);
    /* info is filled all the same: callers read an expired revocation's times */
    ck_assert_int_eq(info.status, OG_STATUS_GOOD);
    ck_assert(llabs((long long)(time(NULL) - 7200 - info.this_update)) <= 2);
    ck_assert(info.produced_at > 0);
}
END_TEST

START_TEST(verify_this_update_in_future)
{
    og_resp_info info;
    tp_resp_opts o = good_opts();
    o.this_offset = 600;
    o.next_offset = 7200;
    ck_assert_int_eq(verify_opts(&o, &info, 300), OG_VERIFY_NOT_YET_VALID);
    /* within the allowed skew it is accepted */
    o.this_offset = 200;
    ck_assert_int_eq(verify_opts(&o, &info, 300), OG_VERIFY_OK);
    ck_assert_int_eq(verify_opts(&o, &info, 0), OG_VERIFY_NOT_YET_VALID);
}
END_TEST

START_TEST(verify_no_next_update)
{
    og_resp_info info;
    tp_resp_opts o = good_opts();
    o.no_next_update = 1;
    ck_assert_int_eq(verify_opts(&o, &info, 300), OG_VERIFY_OK);
    ck_assert(!info.has_next_update);
    ck_assert_int_eq((long)(info.next_update - info.this_update), OG_NO_NEXT_UPDATE_VALIDITY);
    /* an hour after thisUpdate such a response is no longer trusted */
    o.this_offset = -OG_NO_NEXT_UPDATE_VALIDITY - 10;
    ck_assert_int_eq(verify_opts(&o, &info, 300), OG_VERIFY_EXPIRED);
}
END_TEST

START_TEST(verify_not_successful)
{
    og_resp_info info;
    tp_resp_opts o = good_opts();
    o.response_status = OCSP_RESPONSE_STATUS_TRYLATER;
    ck_assert_int_eq(verify_opts(&o, &info, 300), OG_VERIFY_NOT_SUCCESSFUL);
    o.response_status = OCSP_RESPONSE_STATUS_UNAUTHORIZED;
    ck_assert_int_eq(verify_opts(&o, &info, 300), OG_VERIFY_NOT_SUCCESSFUL);
}
END_TEST

START_TEST(verify_malformed_truncated_oversized)
{
    og_resp_info info;
    char why[256];
    size_t len;
    tp_resp_opts o = good_opts();
    unsigned char *der = tp_response(&o, &len);
    time_t now = time(NULL);
    /* every truncation fails cleanly */
    for (size_t cut = 0; cut < len; cut++)
        ck_assert_int_ne(og_verify_response(cert, der, cut, now, 300, &info, why, sizeof(why)), OG_VERIFY_OK);
    /* trailing bytes after a valid response */
    unsigned char *longer = malloc(len + 4);
    memcpy(longer, der, len);
    memcpy(longer + len, "junk", 4);
    ck_assert_int_eq(og_verify_response(cert, longer, len + 4, now, 300, &info, why, sizeof(why)),
                     OG_VERIFY_MALFORMED);
    free(longer);
    /* random bytes */
    unsigned char noise[512];
    RAND_bytes(noise, sizeof(noise));
    ck_assert_int_ne(og_verify_response(cert, noise, sizeof(noise), now, 300, &info, why, sizeof(why)), OG_VERIFY_OK);
    /* oversized */
    unsigned char *big = calloc(1, OG_MAX_RESPONSE + 1);
    ck_assert_int_eq(og_verify_response(cert, big, OG_MAX_RESPONSE + 1, now, 300, &info, why, sizeof(why)),
                     OG_VERIFY_TOO_LARGE);
    free(big);
    /* every bit flip is caught: framing, status, signed data or signature */
    for (size_t i = 0; i < len; i++) {
        for (int bit = 0; bit < 8; bit += 3) {
            der[i] ^= (unsigned char)(1 << bit);
            og_verify_result r = og_verify_response(cert, der, len, now, 300, &info, why, sizeof(why));
            der[i] ^= (unsigned char)(1 << bit);
            ck_assert_msg(r != OG_VERIFY_OK, "bit %d of byte %zu flipped, still verified", bit, i);
        }
    }
    OPENSSL_free(der);
}
END_TEST

/* A file of PEM text in the temporary directory; its path is malloc'd. */
static char *temp_file(const char *text, size_t len)
{
    char *path = strdup("/tmp/og_certfile.XXXXXX");
    int fd = mkstemp(path);
    ck_assert_int_ge(fd, 0);
    ck_assert_int_eq(write(fd, text, len), (ssize_t)len);
    close(fd);
    return path;
}

/* PEM of x alone, with other line breaks than PEM_write's: what a CA's
 * download or a hand-made chain file may look like. */
static char *rewrapped_pem(X509 *x, int width, const char *before)
{
    BIO *b = BIO_new(BIO_s_mem());
    char *text, *out;
    long n;
    PEM_write_bio_X509(b, x);
    n = BIO_get_mem_data(b, &text);
    out = calloc(1, (size_t)n * 2 + strlen(before) + 64);
    strcpy(out, before);
    const char *body = strchr(text, '\n') + 1, *end = strstr(text, "-----END");
    strcat(out, "-----BEGIN CERTIFICATE-----\r\n");
    for (int col = 0; body < end; body++) {
        if (*body == '\n')
            continue;
        strncat(out, body, 1);
        if (++col % width == 0)
            strcat(out, "\r\n");
    }
    strcat(out, "\r\n-----END CERTIFICATE-----\r\n");
    BIO_free(b);
    return out;
}

START_TEST(cert_file_matching)
{
    char *pair = tp_pair_pem(&leaf, &ca), *other = tp_pair_pem(&other_leaf, &ca);
    char *rewrapped = rewrapped_pem(leaf.cert, 76, "-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n");
    ck_assert_int_eq(og_pem_same_first_cert(pair, strlen(pair), pair, strlen(pair)), 1);
    ck_assert_int_eq(og_pem_same_first_cert(rewrapped, strlen(rewrapped), pair, strlen(pair)), 1);
    ck_assert_int_eq(og_pem_same_first_cert(other, strlen(other), pair, strlen(pair)), 0);
    ck_assert_int_eq(og_pem_same_first_cert("no pem", 6, pair, strlen(pair)), -1);
    /* a prefix of the base64 is not the same certificate */
    ck_assert_int_eq(og_pem_same_first_cert(pair, 200, pair, strlen(pair)), 0);

    char *f_same = temp_file(rewrapped, strlen(rewrapped)), *f_other = temp_file(other, strlen(other));
    ck_assert(og_cert_file_is(f_same, pair, strlen(pair), cert->id));
    ck_assert(!og_cert_file_is(f_other, pair, strlen(pair), cert->id));
    ck_assert(!og_cert_file_is("/nonexistent/cert.pem", pair, strlen(pair), cert->id));
    /* a TRUSTED CERTIFICATE block is decoded and compared by id */
    BIO *b = BIO_new(BIO_s_mem());
    char *trusted;
    PEM_write_bio_X509_AUX(b, leaf.cert);
    long n = BIO_get_mem_data(b, &trusted);
    char *f_trusted = temp_file(trusted, (size_t)n);
    ck_assert(og_cert_file_is(f_trusted, pair, strlen(pair), cert->id));
    unsigned char wrong_id[OG_ID_LEN] = { 0 };
    ck_assert(!og_cert_file_is(f_trusted, pair, strlen(pair), wrong_id));
    BIO_free(b);
    unlink(f_same);
    unlink(f_other);
    unlink(f_trusted);
    free(f_same);
    free(f_other);
    free(f_trusted);
    free(pair);
    free(other);
    free(rewrapped);
}
END_TEST

START_TEST(cert_named_by_place)
{
    ck_assert_str_eq(cert->name, "subject CN=leaf.test, serial 1001");
    ck_assert(og_cert_set_place(cert, "vhost a.test:443, /etc/ssl/a.pem"));
    ck_assert_str_eq(cert->name, "vhost a.test:443, /etc/ssl/a.pem, subject CN=leaf.test, serial 1001");
}
END_TEST

Suite *ocsp_suite(void)
{
    Suite *s = suite_create("ocsp");
    TCase *tc = tcase_create("core");
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, cert_pair_fields);
    tcase_add_test(tc, cert_pair_subject_serial_and_shared_issuer);
    tcase_add_test(tc, cert_pair_rejects_wrong_issuer_and_garbage);
    tcase_add_test(tc, request_get_or_post);
    tcase_add_test(tc, verify_good_signed_by_issuer);
    tcase_add_test(tc, verify_good_delegated_responder);
    tcase_add_test(tc, verify_revoked_and_unknown);
    tcase_add_test(tc, verify_wrong_certificate);
    tcase_add_test(tc, verify_wrong_issuer);
    tcase_add_test(tc, verify_signer_without_ocsp_signing);
    tcase_add_test(tc, verify_signer_from_another_ca);
    tcase_add_test(tc, verify_bad_signature);
    tcase_add_test(tc, verify_certid_with_sha2);
    tcase_add_test(tc, verify_certid_weak_or_unknown_algorithm);
    tcase_add_test(tc, delegated_signer_cache_keeps_every_check);
    tcase_add_test(tc, delegated_fast_path_accepts_only_what_decodes_whole);
    tcase_add_test(tc, forged_after_planted_certificate);
    tcase_add_test(tc, forged_with_lookalikes_refused);
    tcase_add_test(tc, decoy_before_real_responder);
    tcase_add_test(tc, delegated_signer_validity_follows_now);
    tcase_add_test(tc, cached_signer_rechecked_at_now);
    tcase_add_test(tc, verify_expired);
    tcase_add_test(tc, verify_this_update_in_future);
    tcase_add_test(tc, verify_no_next_update);
    tcase_add_test(tc, verify_not_successful);
    tcase_add_test(tc, verify_malformed_truncated_oversized);
    tcase_add_test(tc, cert_file_matching);
    tcase_add_test(tc, cert_named_by_place);
    suite_add_tcase(s, tc);
    return s;
}
