#include "og_http.h"
#include "og_ocsp.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <openssl/bio.h>
#include <openssl/err.h>
#include <openssl/http.h>

#define OCSP_REQUEST_TYPE "application/ocsp-request"
#define OCSP_RESPONSE_TYPE "application/ocsp-response"

static void fill_err(char *err, size_t errlen, const char *what)
{
    unsigned long e = ERR_peek_last_error();
    char detail[200] = "";
    if (e)
        ERR_error_string_n(e, detail, sizeof(detail));
    snprintf(err, errlen, "%s%s%s", what, e ? ": " : "", detail);
    ERR_clear_error();
}

int og_http_fetch_ocsp(const char *url, const unsigned char *req, size_t req_len,
                       const char *proxy, int timeout, size_t max_len,
                       unsigned char **resp, size_t *resp_len, char *err, size_t errlen)
{
    char *host = NULL, *port = NULL, *path = NULL, *get_url = NULL;
    int use_ssl = 0, ok = 0;
    BIO *body = NULL, *req_bio = NULL;
    /* "" rather than NULL: OpenSSL would otherwise read http_proxy from the
     * environment, which httpd's parent may have inherited by accident. */
    const char *use_proxy = proxy ? proxy : "";

    *resp = NULL;
    *resp_len = 0;
    ERR_clear_error();
    if (!OSSL_HTTP_parse_url(url, &use_ssl, NULL, &host, &port, NULL, &path, NULL, NULL)) {
        fill_err(err, errlen, "cannot parse responder URL");
        return 0;
    }
    if (use_ssl) {
        snprintf(err, errlen, "https responder URLs are not supported (use http://)");
        goto out;
    }
    if (og_request_use_get(req_len)) {
        get_url = og_request_get_url(url, req, req_len);
        if (!get_url) {
            snprintf(err, errlen, "out of memory");
            goto out;
        }
        body = OSSL_HTTP_get(get_url, use_proxy, NULL, NULL, NULL, NULL, NULL, 0, NULL,
                             OCSP_RESPONSE_TYPE, 1, max_len, timeout);
    } else {
        req_bio = BIO_new_mem_buf(req, (int)req_len);
        if (!req_bio) {
            snprintf(err, errlen, "out of memory");
            goto out;
        }
        body = OSSL_HTTP_transfer(NULL, host, port, path, 0, use_proxy, NULL, NULL, NULL,
                                  NULL, NULL, 0, NULL, OCSP_REQUEST_TYPE, req_bio,
                                  OCSP_RESPONSE_TYPE, 1, max_len, timeout, 0);
    }
    if (!body) {
        fill_err(err, errlen, get_url ? "GET failed" : "POST failed");
        goto out;
    }
    {
        char *data = NULL;
        long n = BIO_get_mem_data(body, &data);
        if (n <= 0 || (size_t)n > max_len) {
            snprintf(err, errlen, "empty or oversized body (%ld bytes)", n);
            goto out;
        }
        *resp = malloc((size_t)n);
        if (!*resp) {
            snprintf(err, errlen, "out of memory");
            goto out;
        }
        memcpy(*resp, data, (size_t)n);
        *resp_len = (size_t)n;
        ok = 1;
    }
out:
    BIO_free(body);
    BIO_free(req_bio);
    free(get_url);
    OPENSSL_free(host);
    OPENSSL_free(port);
    OPENSSL_free(path);
    ERR_clear_error();
    return ok;
}
