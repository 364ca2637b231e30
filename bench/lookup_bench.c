/* Copyright 2026 the mod_ocsp_guard developers. Licensed under the Apache License 2.0 (LICENSE). */
/* lookup_bench: what one staple lookup on the handshake path costs (find
 * the slot, copy the response under its seqlock, check the time), with 1,
 * 1,000 and 10,000 primed certificates. Prints one row per size. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <openssl/sha.h>

#include "og_table.h"

static double now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec * 1e9 + (double)ts.tv_nsec;
}

int main(int argc, char **argv)
{
    long iterations = argc > 1 ? atol(argv[1]) : 2000000;
    unsigned sizes[] = { 1, 1000, 10000 };
    unsigned char der[1200], buf[OG_SLOT_CAPACITY];
    memset(der, 0x30, sizeof(der));
    for (size_t k = 0; k < sizeof(sizes) / sizeof(sizes[0]); k++) {
        unsigned n = sizes[k];
        unsigned char (*ids)[OG_ID_LEN] = malloc((size_t)n * OG_ID_LEN);
        for (unsigned i = 0; i < n; i++)
            SHA1((const unsigned char *)&i, sizeof(i), ids[i]);
        void *mem = calloc(1, og_table_size(n));
        og_table *t = og_table_init(mem, og_table_size(n), n, (const unsigned char (*)[OG_ID_LEN])ids);
        time_t now = time(NULL);
        og_resp_info info = { OG_STATUS_GOOD, now - 60, now + 3600, 1, now - 60, 0 };
        og_slot_meta m = og_slot_meta_of(&info, OG_SOURCE_RESPONDER);
        for (unsigned i = 0; i < n; i++)
            og_table_publish(t, i, der, sizeof(der), &m);
        /* a pseudo-random visiting order, fixed ahead so it costs nothing in the loop */
        unsigned *order = malloc(sizeof(unsigned) * 4096);
        for (unsigned i = 0; i < 4096; i++)
            order[i] = (unsigned)((i * 2654435761u) % n);
        long hits = 0;
        double t0 = now_ns();
        for (long i = 0; i < iterations; i++) {
            size_t len;
            int slot = og_table_find(t, ids[order[i & 4095]], OG_ID_LEN);
            hits += og_table_staple(t, (unsigned)slot, now, buf, sizeof(buf), &len);
        }
        double ns = (now_ns() - t0) / (double)iterations;
        printf("lookup.%u.ns=%.1f\nlookup.%u.iterations=%ld\n", n, ns, n, iterations);
        if (hits != iterations) {
            fprintf(stderr, "lookup_bench: %ld of %ld lookups missed\n", iterations - hits, iterations);
            return 1;
        }
        free(order);
        og_table_free(t);
        free(mem);
        free(ids);
    }
    return 0;
}
