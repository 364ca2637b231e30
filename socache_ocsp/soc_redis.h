/* Copyright 2026 the mod_ocsp_guard developers. Licensed under the Apache License 2.0 (LICENSE). */
/* socache_ocsp core: a small Redis (RESP2) client for the shared tier.
 * Every operation has one deadline that covers connecting, AUTH, sending the
 * command and reading the whole reply; no reply larger than the caller's cap
 * is ever buffered. Knows nothing of httpd or APR. */
#ifndef SOC_REDIS_H
#define SOC_REDIS_H

#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

/* ---------------------------------------------------------------- replies */

typedef enum {
    SOC_RESP_NEED_MORE = 0,      /* a prefix of a valid reply */
    SOC_RESP_DONE,               /* one whole reply, *used bytes */
    SOC_RESP_TOO_BIG,            /* a bulk reply longer than the cap (not buffered) */
    SOC_RESP_PROTOCOL            /* not a RESP2 reply we accept */
} soc_resp_state;

typedef enum {
    SOC_REPLY_STATUS = '+',
    SOC_REPLY_ERROR = '-',
    SOC_REPLY_INTEGER = ':',
    SOC_REPLY_BULK = '$',
    SOC_REPLY_NIL = 'n'          /* $-1 */
} soc_reply_type;

typedef struct soc_reply {
    soc_reply_type type;
    const unsigned char *data;   /* status/error text or bulk payload, inside the input */
    size_t len;
    long long integer;
} soc_reply;

#define SOC_RESP_MAX_LINE 512    /* status and error lines longer than this are refused */

/* Parses one reply from in[0..n). Bulk payloads longer than cap are
 * SOC_RESP_TOO_BIG as soon as the length is read. Arrays and RESP3 types
 * are SOC_RESP_PROTOCOL: none of the commands used returns one. */
soc_resp_state soc_resp_parse(const unsigned char *in, size_t n, size_t cap, soc_reply *out,
                              size_t *used);

/* ---------------------------------------------------------------- client */

typedef enum {
    SOC_REDIS_OK = 0,
    SOC_REDIS_MISS,              /* no such key */
    SOC_REDIS_TOO_BIG,           /* the value is longer than the cap */
    SOC_REDIS_AUTH,              /* AUTH refused, or the server wants AUTH */
    SOC_REDIS_REFUSED,           /* the server answered the command with an error */
    SOC_REDIS_TIMEOUT,           /* the deadline passed */
    SOC_REDIS_IO,                /* connect/send/receive failed, connection closed */
    SOC_REDIS_PROTOCOL           /* not a reply we accept */
} soc_redis_status;

const char *soc_redis_status_name(soc_redis_status s);

typedef struct soc_redis soc_redis;

/* Resolves host once (the first address getaddrinfo gives): children and
 * the refresher inherit the address and never look the name up. user may be
 * empty (AUTH password) and pass empty (no AUTH). NULL with err set on
 * failure. */
soc_redis *soc_redis_new(const char *host, int port, int timeout_ms, const char *user,
                         const char *pass, char *err, size_t errlen);
void soc_redis_free(soc_redis *r);

/* Each call takes a pooled connection (one made in another process, found
 * by its pid, is never used), or connects and AUTHs, within timeout_ms in
 * all. Any failure closes the connection. err (may be NULL) gets a one-line
 * reason, with the server's own error text when it sent one. */

/* GETRANGE key 0 cap: at most cap bytes of value are ever read (a longer
 * value is SOC_REDIS_TOO_BIG, whatever the server sends). */
soc_redis_status soc_redis_get(soc_redis *r, const char *key, unsigned char *buf, size_t cap,
                               size_t *len, char *err, size_t errlen);
soc_redis_status soc_redis_setex(soc_redis *r, const char *key, const unsigned char *val, size_t len,
                                 unsigned ttl_seconds, char *err, size_t errlen);
soc_redis_status soc_redis_del(soc_redis *r, const char *key, char *err, size_t errlen);
soc_redis_status soc_redis_ping(soc_redis *r, char *err, size_t errlen);

/* ---------------------------------------------------------------- auth= */

/* Reads "PASSWORD" or "USER\nPASSWORD" from path, which must be a regular
 * file (not a symlink) owned by root (or by this process's user when it is
 * not root) and not accessible to group or others (0600 or 0400). NULL, or
 * a message naming the file and what is wrong. */
const char *soc_redis_read_auth(const char *path, char *user, size_t ulen, char *pass, size_t plen,
                                char *err, size_t errlen);

#endif
