/* Copyright 2026 the mod_ocsp_guard developers. Licensed under the Apache License 2.0 (LICENSE). */
/* libFuzzer target: the socache_ocsp record decoder and argument parser. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "soc_record.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    soc_record rec;
    soc_args args;
    char err[256];
    if (soc_record_decode(data, size, 0, &rec) == SOC_OK) {
        /* a record that decodes must re-encode to the same bytes */
        size_t n = soc_record_size(rec.klen, rec.vlen);
        unsigned char *again = malloc(n);
        soc_record_encode(again, rec.key, rec.klen, rec.value, rec.vlen, rec.expiry);
        if (n != size || memcmp(again, data, n))
            abort();
        free(again);
    }
    char *text = malloc(size + 1);
    memcpy(text, data, size);
    text[size] = '\0';
    soc_parse_args(text, &args, err, sizeof(err));
    free(text);
    return 0;
}
