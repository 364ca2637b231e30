/* Copyright 2026 the mod_ocsp_guard developers. Licensed under the Apache License 2.0 (LICENSE). */
/* mkcerts: N leaf certificates for the scale benchmark, all issued by one
 * CA, all sharing one key (fast), each with its own name and serial and an
 * AIA OCSP URL. Writes DIR/leaf.key, DIR/cN.crt and DIR/index.txt lines for
 * `openssl ocsp`.   mkcerts CA.crt CA.key N DIR OCSP_URL */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <openssl/pem.h>
#include <openssl/x509v3.h>

int main(int argc, char **argv)
{
    if (argc != 6) {
        fprintf(stderr, "usage: mkcerts CA.crt CA.key N DIR OCSP_URL\n");
        return 2;
    }
    FILE *f = fopen(argv[1], "r");
    X509 *ca = f ? PEM_read_X509(f, NULL, NULL, NULL) : NULL;
    if (f) fclose(f);
    f = fopen(argv[2], "r");
    EVP_PKEY *cakey = f ? PEM_read_PrivateKey(f, NULL, NULL, NULL) : NULL;
    if (f) fclose(f);
    if (!ca || !cakey) {
        fprintf(stderr, "mkcerts: cannot read the CA\n");
        return 1;
    }
    int n = atoi(argv[3]);
    const char *dir = argv[4], *url = argv[5];
    char path[4096], aia[512], san[256];
    EVP_PKEY *key = EVP_EC_gen("P-256");
    snprintf(path, sizeof(path), "%s/leaf.key", dir);
    f = fopen(path, "w");
    PEM_write_PrivateKey(f, key, NULL, NULL, 0, NULL, NULL);
    fclose(f);
    snprintf(path, sizeof(path), "%s/index.txt", dir);
    FILE *index = fopen(path, "w");
    snprintf(aia, sizeof(aia), "OCSP;URI:%s", url);
    for (int i = 0; i < n; i++) {
        X509 *x = X509_new();
        char cn[64];
        long serial = 0x100000 + i;
        snprintf(cn, sizeof(cn), "h%d.bench.example", i);
        X509_set_version(x, 2);
        ASN1_INTEGER_set(X509_get_serialNumber(x), serial);
        X509_gmtime_adj(X509_getm_notBefore(x), -3600);
        X509_gmtime_adj(X509_getm_notAfter(x), 86400L * 90);
        X509_NAME_add_entry_by_txt(X509_get_subject_name(x), "CN", MBSTRING_ASC, (unsigned char *)cn, -1, -1, 0);
        X509_set_issuer_name(x, X509_get_subject_name(ca));
        X509_set_pubkey(x, key);
        X509V3_CTX v3;
        X509V3_set_ctx(&v3, ca, x, NULL, NULL, 0);
        snprintf(san, sizeof(san), "DNS:%s", cn);
        const struct { int nid; const char *value; } exts[] = {
            { NID_basic_constraints, "CA:FALSE" }, { NID_ext_key_usage, "serverAuth" },
            { NID_subject_alt_name, san }, { NID_info_access, aia } };
        for (size_t e = 0; e < sizeof(exts) / sizeof(exts[0]); e++) {
            X509_EXTENSION *ext = X509V3_EXT_conf_nid(NULL, &v3, exts[e].nid, exts[e].value);
            X509_add_ext(x, ext, -1);
            X509_EXTENSION_free(ext);
        }
        X509_sign(x, cakey, EVP_sha256());
        snprintf(path, sizeof(path), "%s/c%d.crt", dir, i);
        f = fopen(path, "w");
        PEM_write_X509(f, x);
        fclose(f);
        fprintf(index, "V\t%s\t\t%lX\tunknown\t/CN=%s\n", "351231235959Z", serial, cn);
        X509_free(x);
    }
    fclose(index);
    EVP_PKEY_free(key);
    EVP_PKEY_free(cakey);
    X509_free(ca);
    return 0;
}
