/* OCSP over HTTP: own DNS lookup and connect, then OpenSSL 3's HTTP client
 * (GET or POST, proxy, one deadline, no redirects). */
#ifndef OG_HTTP_H
#define OG_HTTP_H

#include <stddef.h>

/* Sends the DER request to url: GET when RFC 5019 allows it, else POST.
 * timeout (seconds) bounds the whole exchange, DNS lookup and connect
 * included; proxy is "http://host:port" or NULL (neither http_proxy nor
 * no_proxy from the environment is ever read). Only a 200 answer succeeds:
 * a redirect is never followed, err names its status and Location. On
 * success returns 1 with a malloc'd body in *resp; else 0 with err filled
 * (printable text, fit for a log line). Thread-safe. */
int og_http_fetch_ocsp(const char *url, const unsigned char *req, size_t req_len,
                       const char *proxy, int timeout, size_t max_len,
                       unsigned char **resp, size_t *resp_len, char *err, size_t errlen);

#endif
