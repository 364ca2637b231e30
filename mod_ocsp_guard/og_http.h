/* OCSP over HTTP with OpenSSL 3's own client (GET or POST, proxy, timeout). */
#ifndef OG_HTTP_H
#define OG_HTTP_H

#include <stddef.h>

/* Sends the DER request to url: GET when RFC 5019 allows it, else POST.
 * timeout bounds the whole exchange in seconds; proxy is "http://host:port"
 * or NULL (the environment's http_proxy is never consulted). On success
 * returns 1 with a malloc'd body in *resp; else 0 with err filled. */
int og_http_fetch_ocsp(const char *url, const unsigned char *req, size_t req_len,
                       const char *proxy, int timeout, size_t max_len,
                       unsigned char **resp, size_t *resp_len, char *err, size_t errlen);

#endif
