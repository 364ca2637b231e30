/* Copyright 2026 the mod_ocsp_guard developers. Licensed under the Apache License 2.0 (LICENSE). */
/* socache_ocsp core: the record format, crash-safe record files and the
 * argument string. Knows nothing of httpd or APR. */
#ifndef SOC_RECORD_H
#define SOC_RECORD_H

#include <stddef.h>
#include <stdint.h>

/* A record, as stored in a file and as a Redis value. Integers are
 * big-endian; the CRC-32 covers everything from the expiry to the end.
 *
 *  0        4     5          8                16          20          24      28
 *  +--------+-----+----------+----------------+-----------+-----------+-------+--------+----------+
 *  | "OGSC" | ver | reserved | expiry, µs     | key       | value     | CRC32 | key    | value    |
 *  |        | = 1 | 0 0 0    | since epoch    | length    | length    |       | (klen) | (vlen)   |
 *  +--------+-----+----------+----------------+-----------+-----------+-------+--------+----------+
 */
#define SOC_MAGIC "OGSC"
#define SOC_MAGIC_LEN 4
#define SOC_VERSION 1
#define SOC_OFF_VERSION 4
#define SOC_OFF_RESERVED 5       /* 3 bytes, zero: other values are a format we do not know */
#define SOC_RESERVED_LEN 3
#define SOC_OFF_EXPIRY 8         /* 8 bytes: high 32 bits, then low 32 bits */
#define SOC_OFF_KEY_LEN 16
#define SOC_OFF_VALUE_LEN 20
#define SOC_OFF_CRC 24
#define SOC_HEADER_LEN 28        /* the key follows, then the value */
#define SOC_MAX_KEY 120          /* hex of it must fit a file name */
#define SOC_MAX_VALUE (1024 * 1024)
#define SOC_MAX_RECORD (SOC_HEADER_LEN + SOC_MAX_KEY + SOC_MAX_VALUE)

typedef enum {
    SOC_OK = 0,
    SOC_SHORT,                   /* fewer bytes than the header or the lengths say */
    SOC_BAD_MAGIC,
    SOC_BAD_VERSION,
    SOC_ZERO_LENGTH,
    SOC_TOO_LARGE,
    SOC_BAD_CHECKSUM,
    SOC_EXPIRED,
    SOC_WRONG_KEY,               /* a valid record, but for another key */
    SOC_NOT_REGULAR,             /* a symlink, FIFO, socket or directory at the record's name */
    SOC_IO_ERROR                 /* could not be examined or read; left alone */
} soc_result;

const char *soc_result_name(soc_result r);
uint32_t soc_crc32(uint32_t crc, const unsigned char *p, size_t n);

/* Bytes a record for these lengths takes. */
size_t soc_record_size(size_t klen, size_t vlen);
/* Writes the record into out (soc_record_size bytes). expiry is in
 * microseconds since the epoch, as apr_time_t. */
void soc_record_encode(unsigned char *out, const unsigned char *key, size_t klen,
                       const unsigned char *value, size_t vlen, int64_t expiry);

typedef struct soc_record {
    const unsigned char *key;
    size_t klen;
    const unsigned char *value;
    size_t vlen;
    int64_t expiry;
} soc_record;

/* Checks every field; on SOC_OK rec points into buf. now: microseconds. */
soc_result soc_record_decode(const unsigned char *buf, size_t len, int64_t now, soc_record *rec);

/* "DIR[,redis=HOST:PORT][,prefix=STRING][,timeout=MILLISECONDS][,auth=FILE]" */
typedef struct soc_args {
    char dir[4096];
    char redis_host[256];        /* empty: no Redis tier */
    int redis_port;
    char prefix[128];
    int timeout_ms;
    char auth_file[4096];        /* empty: no AUTH */
} soc_args;
#define SOC_DEFAULT_PREFIX "socache_ocsp:"
#define SOC_DEFAULT_TIMEOUT_MS 50

/* Returns NULL, or a message naming the part that is wrong (static or in
 * err). An empty DIR is left empty for the caller to default. */
const char *soc_parse_args(const char *arg, soc_args *out, char *err, size_t errlen);

/* Record files: DIR/<hex key>. */
int soc_key_filename(const unsigned char *key, size_t klen, char *out, size_t outlen);

/* Record files are handled relative to a directory descriptor (see
 * soc_path.h for opening one safely): names inside it are never symlinks
 * that are followed, and nothing is read that is not a regular file.
 *
 * Writes the record to a temporary file in the directory, flushes it, renames
 * it into place and flushes the directory, so readers see the old or the new
 * record, never a mix, and the new one survives a crash once this returns 0.
 * Returns 0 or an errno value; on failure the old record is untouched. */
int soc_file_store_at(int dirfd, const unsigned char *key, size_t klen,
                      const unsigned char *value, size_t vlen, int64_t expiry);

#define SOC_LOAD_READONLY 1      /* never remove anything (configtest, DUMP_OCSP) */
/* Reads the record for key. Returns SOC_OK with the value copied into buf
 * (cap bytes; *vlen set), or the reason it is unusable. A record that is
 * corrupt or expired is removed, unless SOC_LOAD_READONLY, and only if the
 * name still holds the very file that was read (*removed says so). Entries
 * that are not regular files and files that cannot be read are left alone.
 * *missing is set when there is no file. */
soc_result soc_file_load_at(int dirfd, const unsigned char *key, size_t klen, int64_t now,
                            unsigned char *buf, size_t cap, size_t *vlen, int64_t *expiry,
                            int flags, int *missing, int *removed);
int soc_file_remove_at(int dirfd, const unsigned char *key, size_t klen);

typedef int soc_visit_fn(void *ctx, const soc_record *rec);
/* Told of each record file found unusable (name relative to the directory). */
typedef void soc_bad_fn(void *ctx, const char *name, soc_result why);
typedef struct soc_sweep_stats {
    unsigned kept, expired, corrupt, stale_tmp;
    uint64_t bytes;
} soc_sweep_stats;
/* Visits every valid record (visit may be NULL; a non-zero return stops the
 * walk and is returned), removes expired and corrupt ones and temporary
 * files older than a minute (with SOC_LOAD_READONLY: counts them only).
 * Entries that are not regular files are skipped. */
int soc_sweep_at(int dirfd, int64_t now, int flags, soc_visit_fn *visit, soc_bad_fn *bad, void *ctx,
                 soc_sweep_stats *st);

/* The same by path, for tools and tests: the path's last component must be
 * a directory, not a symlink to one. */
int soc_file_store(const char *dir, const unsigned char *key, size_t klen,
                   const unsigned char *value, size_t vlen, int64_t expiry);
soc_result soc_file_load(const char *dir, const unsigned char *key, size_t klen, int64_t now,
                         unsigned char *buf, size_t cap, size_t *vlen, int64_t *expiry,
                         int *missing);
int soc_file_remove(const char *dir, const unsigned char *key, size_t klen);
int soc_sweep(const char *dir, int64_t now, soc_visit_fn *visit, soc_bad_fn *bad, void *ctx,
              soc_sweep_stats *st);

#endif
