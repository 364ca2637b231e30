/* libFuzzer target: og_verify_response on arbitrary bytes, for a fixed
 * certificate pair. Starts from a valid response built in memory. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "og_ocsp.h"
#include "testpki.h"

static og_cert *cert;
static unsigned char *seed;
static size_t seed_len;

static void init(void)
{
    char err[256];
    static tp_cert ca, leaf;
    ca = tp_ca("Fuzz CA");
    leaf = tp_issue(&ca, "fuzz.test", "leaf", "http://127.0.0.1:1/", 0x77);
    char *pem = tp_pair_pem(&leaf, &ca);
    cert = og_cert_from_pem(pem, strlen(pem), err, sizeof(err));
    free(pem);
    tp_resp_opts o = tp_good_opts(&ca, &leaf, -60, 3600);
    seed = tp_response(&o, &seed_len);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    og_resp_info info;
    char why[256];
    if (!cert)
        init();
    /* inputs starting with 0xFF mutate the valid seed instead: deeper coverage */
    if (size > 1 && data[0] == 0xFF && seed_len) {
        unsigned char *copy = malloc(seed_len);
        memcpy(copy, seed, seed_len);
        for (size_t i = 1; i + 1 < size; i += 2)
            copy[data[i] % seed_len] ^= data[i + 1];
        og_verify_response(cert, copy, seed_len, time(NULL), 300, &info, why, sizeof(why));
        free(copy);
        return 0;
    }
    og_verify_response(cert, data, size, time(NULL), 300, &info, why, sizeof(why));
    return 0;
}
