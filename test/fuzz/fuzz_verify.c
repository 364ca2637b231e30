/* Copyright 2026 the mod_ocsp_guard developers. Licensed under the Apache License 2.0 (LICENSE). */
/* libFuzzer target: og_verify_response on arbitrary bytes, for a certificate
 * pair built in memory and for the pairs of the committed test PKI
 * (test/fuzz/pki/, the certificates the seed corpus's real `openssl ocsp`
 * answers are about, so mutations reach the signer checks). */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "og_ocsp.h"
#include "testpki.h"

#define MAX_PAIRS 4
static og_cert *certs[MAX_PAIRS];
static int ncerts;
static unsigned char *seed, *seed_delegated;
static size_t seed_len, seed_delegated_len;

static char *read_text(const char *path, size_t *len)
{
    FILE *f = fopen(path, "rb");
    char *buf = f ? malloc(65536) : NULL;
    *len = buf ? fread(buf, 1, 65535, f) : 0;
    if (f)
        fclose(f);
    return buf;
}

/* The leaf's PEM followed by the issuer's: what mod_ssl primes with. */
static void add_pki_pair(const char *leaf)
{
    char path[256], err[256];
    size_t llen = 0, clen = 0;
    snprintf(path, sizeof(path), "test/fuzz/pki/%s.crt", leaf);
    char *l = read_text(path, &llen), *c = read_text("test/fuzz/pki/ca.crt", &clen);
    if (l && c && llen + clen < 65536) {
        memcpy(l + llen, c, clen);
        og_cert *oc = og_cert_from_pem(l, llen + clen, NULL, err, sizeof(err));
        if (oc)
            certs[ncerts++] = oc;
    }
    free(l);
    free(c);
}

static void init(void)
{
    char err[256];
    static tp_cert ca, leaf, responder, decoy;
    ca = tp_ca("Fuzz CA");
    leaf = tp_issue(&ca, "fuzz.test", "leaf", "http://127.0.0.1:1/", 0x77);
    responder = tp_issue(&ca, "Fuzz Responder", "responder", NULL, 0x78);
    decoy = tp_lookalike(&ca);
    char *pem = tp_pair_pem(&leaf, &ca);
    certs[ncerts++] = og_cert_from_pem(pem, strlen(pem), NULL, err, sizeof(err));
    free(pem);
    tp_resp_opts o = tp_good_opts(&ca, &leaf, -60, 3600);
    seed = tp_response(&o, &seed_len);
    /* a delegated responder (byKey) with a look-alike of the CA in certs:
     * reaches the signer choice and the chain check */
    o.signer = &responder;
    o.include = &decoy;
    o.extra[0] = &responder;
    o.by_key = 1;
    seed_delegated = tp_response(&o, &seed_delegated_len);
    add_pki_pair("leaf");
    add_pki_pair("muststaple");
    add_pki_pair("noocsp");
}

static void verify_all(const unsigned char *der, size_t len)
{
    og_resp_info info;
    char why[256];
    for (int i = 0; i < ncerts; i++)
        og_verify_response(certs[i], der, len, time(NULL), 300, &info, why, sizeof(why));
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (!ncerts)
        init();
    /* inputs starting with 0xFF (0xFE) mutate the valid issuer-signed
     * (delegated) seed instead: deeper coverage */
    if (size > 1 && (data[0] == 0xFF || data[0] == 0xFE)) {
        const unsigned char *base = data[0] == 0xFF ? seed : seed_delegated;
        size_t base_len = data[0] == 0xFF ? seed_len : seed_delegated_len;
        if (!base_len)
            return 0;
        unsigned char *copy = malloc(base_len);
        memcpy(copy, base, base_len);
        for (size_t i = 1; i + 1 < size; i += 2)
            copy[data[i] % base_len] ^= data[i + 1];
        verify_all(copy, base_len);
        free(copy);
        return 0;
    }
    verify_all(data, size);
    return 0;
}
