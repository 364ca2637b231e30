/* libFuzzer target: og_verify_response on arbitrary bytes, for a fixed
 * certificate pair. Starts from a valid response built in memory. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "og_ocsp.h"
#include "testpki.h"

static og_cert *cert;
static unsigned char *seed, *seed_delegated;
static size_t seed_len, seed_delegated_len;

static void init(void)
{
    char err[256];
    static tp_cert ca, leaf, responder, decoy;
    ca = tp_ca("Fuzz CA");
    leaf = tp_issue(&ca, "fuzz.test", "leaf", "http://127.0.0.1:1/", 0x77);
    responder = tp_issue(&ca, "Fuzz Responder", "responder", NULL, 0x78);
    decoy = tp_lookalike(&ca);
    char *pem = tp_pair_pem(&leaf, &ca);
    cert = og_cert_from_pem(pem, strlen(pem), err, sizeof(err));
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
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    og_resp_info info;
    char why[256];
    if (!cert)
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
        og_verify_response(cert, copy, base_len, time(NULL), 300, &info, why, sizeof(why));
        free(copy);
        return 0;
    }
    og_verify_response(cert, data, size, time(NULL), 300, &info, why, sizeof(why));
    return 0;
}
