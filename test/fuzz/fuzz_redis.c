/* Copyright 2026 the mod_ocsp_guard developers. Licensed under the Apache License 2.0 (LICENSE). */
/* libFuzzer target: the Redis value path of socache_ocsp. Bytes as a Redis
 * server could send them go through the RESP reply parser with a cap, and a
 * bulk payload through the record decoder, as redis_fetch() does. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "soc_record.h"
#include "soc_redis.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    /* the first byte picks the cap, so small caps get exercised too */
    size_t cap = size ? (size_t)data[0] * 64 : 0, used = 0;
    soc_reply reply;
    soc_record rec;
    soc_resp_state st;
    if (size)
        data++, size--;
    /* every prefix, as it could arrive from the socket */
    for (size_t n = 0; n <= size; n++) {
        st = soc_resp_parse(data, n, cap, &reply, &used);
        if (st == SOC_RESP_DONE && (used == 0 || used > n))
            abort();
        if (st != SOC_RESP_NEED_MORE)
            break;
    }
    st = soc_resp_parse(data, size, cap, &reply, &used);
    if (st != SOC_RESP_DONE)
        return 0;
    if (reply.type == SOC_REPLY_BULK) {
        if (reply.len > cap || reply.data < data || reply.data + reply.len > data + used)
            abort();
        /* a copy of exactly the payload, so ASan sees any overread */
        unsigned char *val = malloc(reply.len ? reply.len : 1);
        memcpy(val, reply.data, reply.len);
        if (soc_record_decode(val, reply.len, 0, &rec) == SOC_OK &&
            (rec.vlen > SOC_MAX_VALUE || soc_record_size(rec.klen, rec.vlen) != reply.len))
            abort();
        free(val);
    }
    return 0;
}
