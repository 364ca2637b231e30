/* Copyright 2026 the mod_ocsp_guard developers. Licensed under the Apache License 2.0 (LICENSE). */
/* socache-ocsp-record: reads and writes socache_ocsp records with the
 * provider's own code (soc_record.c), for operators and for the tests that
 * need a well-formed record with chosen contents.
 *
 *   socache-ocsp-record print FILE              header fields, key, value size, verdict
 *   socache-ocsp-record value FILE              the value bytes on stdout
 *   socache-ocsp-record encode KEYHEX EXPIRY VALUEFILE
 *                                               a record on stdout (EXPIRY: Unix
 *                                               seconds, or +SECONDS from now)
 *   socache-ocsp-record tamper FILE [OFFSET]    the same record with one bit of
 *                                               the value flipped (default: the
 *                                               middle byte), checksum made good
 *   socache-ocsp-record setvalue FILE VALUEFILE the same key and expiry, another value
 *   socache-ocsp-record rekey FILE KEYHEX       the same value under another key
 */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "soc_record.h"

static int usage(void)
{
    fprintf(stderr, "usage: socache-ocsp-record print|value FILE\n"
                    "       socache-ocsp-record encode KEYHEX EXPIRY VALUEFILE\n"
                    "       socache-ocsp-record tamper FILE [OFFSET]\n"
                    "       socache-ocsp-record setvalue FILE VALUEFILE\n"
                    "       socache-ocsp-record rekey FILE KEYHEX\n");
    return 2;
}

static unsigned char *slurp(const char *path, size_t *len)
{
    FILE *f = fopen(path, "rb");
    unsigned char *buf = NULL;
    size_t cap = 0, n;
    *len = 0;
    if (!f) {
        fprintf(stderr, "socache-ocsp-record: %s: %s\n", path, strerror(errno));
        exit(1);
    }
    do {
        if (*len == cap && !(buf = realloc(buf, cap = cap ? 2 * cap : 65536)))
            exit(1);
        n = fread(buf + *len, 1, cap - *len, f);
        *len += n;
    } while (n > 0 && *len <= SOC_MAX_RECORD);
    fclose(f);
    return buf;
}

static size_t parse_hex(const char *hex, unsigned char *out, size_t cap)
{
    size_t n = strlen(hex) / 2;
    if (strlen(hex) % 2 || n == 0 || n > cap)
        return 0;
    for (size_t i = 0; i < n; i++) {
        unsigned v;
        if (sscanf(hex + 2 * i, "%2x", &v) != 1)
            return 0;
        out[i] = (unsigned char)v;
    }
    return n;
}

/* A record read for rewriting: any verdict but a broken frame will do. */
static soc_record decode_or_die(const char *path, unsigned char **buf)
{
    size_t len;
    soc_record rec;
    soc_result r;
    *buf = slurp(path, &len);
    r = soc_record_decode(*buf, len, INT64_MIN, &rec);
    if (r != SOC_OK && r != SOC_BAD_CHECKSUM) {
        fprintf(stderr, "socache-ocsp-record: %s: %s\n", path, soc_result_name(r));
        exit(1);
    }
    return rec;
}

static int emit(const unsigned char *key, size_t klen, const unsigned char *value, size_t vlen,
                int64_t expiry)
{
    size_t n = soc_record_size(klen, vlen);
    unsigned char *out = malloc(n);
    if (!out)
        return 1;
    soc_record_encode(out, key, klen, value, vlen, expiry);
    fwrite(out, 1, n, stdout);
    free(out);
    return fflush(stdout) ? 1 : 0;
}

int main(int argc, char **argv)
{
    unsigned char *buf, key[SOC_MAX_KEY];
    size_t klen, vlen;
    if (argc < 3)
        return usage();
    if (!strcmp(argv[1], "print") || !strcmp(argv[1], "value")) {
        size_t len;
        soc_record rec;
        char hex[2 * SOC_MAX_KEY + 1] = "-";
        struct timespec ts;
        clock_gettime(CLOCK_REALTIME, &ts);
        buf = slurp(argv[2], &len);
        soc_result r = soc_record_decode(buf, len, (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000, &rec);
        if (!strcmp(argv[1], "value")) {
            if (r != SOC_OK && r != SOC_EXPIRED)
                return fprintf(stderr, "socache-ocsp-record: %s\n", soc_result_name(r)), 1;
            fwrite(rec.value, 1, rec.vlen, stdout);
            return 0;
        }
        printf("verdict=%s\nbytes=%zu\n", soc_result_name(r), len);
        if (r == SOC_OK || r == SOC_EXPIRED) {
            soc_key_filename(rec.key, rec.klen, hex, sizeof(hex));
            printf("key=%s\nvalue_bytes=%zu\nexpiry_us=%" PRId64 "\n", hex, rec.vlen, rec.expiry);
        }
        return r == SOC_OK ? 0 : 1;
    }
    if (!strcmp(argv[1], "encode") && argc == 5) {
        char *end;
        long long exp = strtoll(argv[3] + (argv[3][0] == '+'), &end, 10);
        if (*end || !(klen = parse_hex(argv[2], key, sizeof(key))))
            return usage();
        if (argv[3][0] == '+')
            exp += (long long)time(NULL);
        unsigned char *value = slurp(argv[4], &vlen);
        return emit(key, klen, value, vlen, (int64_t)exp * 1000000);
    }
    if (!strcmp(argv[1], "tamper") && argc <= 4) {
        soc_record rec = decode_or_die(argv[2], &buf);
        size_t at = argc == 4 ? strtoul(argv[3], NULL, 10) : rec.vlen / 2;
        if (at >= rec.vlen)
            return usage();
        ((unsigned char *)rec.value)[at] ^= 0x01;
        return emit(rec.key, rec.klen, rec.value, rec.vlen, rec.expiry);
    }
    if (!strcmp(argv[1], "setvalue") && argc == 4) {
        soc_record rec = decode_or_die(argv[2], &buf);
        unsigned char *value = slurp(argv[3], &vlen);
        return emit(rec.key, rec.klen, value, vlen, rec.expiry);
    }
    if (!strcmp(argv[1], "rekey") && argc == 4) {
        soc_record rec = decode_or_die(argv[2], &buf);
        if (!(klen = parse_hex(argv[3], key, sizeof(key))))
            return usage();
        return emit(key, klen, rec.value, rec.vlen, rec.expiry);
    }
    return usage();
}
