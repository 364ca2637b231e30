/* Copyright 2026 the mod_ocsp_guard developers. Licensed under the Apache License 2.0 (LICENSE). */
/* hsload: the benchmark's TLS load client. Full handshakes (no session
 * resumption, no tickets) with status_request on, from several threads.
 *
 *   hsload HOST PORT SECONDS THREADS [tls12|tls13] [ec|rsa]
 *       timed round: prints "handshakes N seconds S rate R"; the staple is
 *       requested but never parsed, so client work does not skew ratios.
 *   hsload --check HOST PORT [tls12|tls13] [ec|rsa] [SNI]
 *       one handshake; prints "staple good|revoked|unknown|none|bad".
 *   hsload --first HOST PORT TIMEOUT [SNI]
 *       retries until the server accepts, one handshake; prints
 *       "first_ms MS staple STATUS" (MS from the first attempt). */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>
#include <openssl/err.h>
#include <openssl/ocsp.h>
#include <openssl/ssl.h>

static const char *host;
static int port;
static double seconds;
static volatile int stop;
static SSL_CTX *ctx;

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static int tcp_connect(void)
{
    struct sockaddr_in sa = { 0 };
    int fd = socket(AF_INET, SOCK_STREAM, 0), one = 1;
    sa.sin_family = AF_INET;
    sa.sin_port = htons((unsigned short)port);
    inet_pton(AF_INET, host, &sa.sin_addr);
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
    if (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0) {
        close(fd);
        return -1;
    }
    return fd;
}

/* One full handshake; returns the SSL (caller frees) or NULL. */
static SSL *handshake(const char *sni, int *fd_out)
{
    int fd = tcp_connect();
    SSL *ssl;
    if (fd < 0)
        return NULL;
    ssl = SSL_new(ctx);
    SSL_set_fd(ssl, fd);
    SSL_set_tlsext_status_type(ssl, TLSEXT_STATUSTYPE_ocsp);
    if (sni)
        SSL_set_tlsext_host_name(ssl, sni);
    if (SSL_connect(ssl) != 1) {
        SSL_free(ssl);
        close(fd);
        ERR_clear_error();
        return NULL;
    }
    *fd_out = fd;
    return ssl;
}

static void finish(SSL *ssl, int fd)
{
    SSL_shutdown(ssl);
    SSL_free(ssl);
    close(fd);
}

static void *worker(void *arg)
{
    long *count = arg;
    while (!stop) {
        int fd;
        SSL *ssl = handshake("localhost", &fd);
        if (ssl) {
            (*count)++;
            finish(ssl, fd);
        }
    }
    return NULL;
}

static const char *staple_status(SSL *ssl)
{
    const unsigned char *p;
    long len = SSL_get_tlsext_status_ocsp_resp(ssl, &p);
    OCSP_RESPONSE *resp;
    OCSP_BASICRESP *bs;
    const char *out = "bad";
    if (len <= 0 || !p)
        return "none";
    resp = d2i_OCSP_RESPONSE(NULL, &p, len);
    if (resp && OCSP_response_status(resp) == OCSP_RESPONSE_STATUS_SUCCESSFUL &&
        (bs = OCSP_response_get1_basic(resp))) {
        OCSP_SINGLERESP *single = OCSP_resp_get0(bs, 0);
        int reason;
        int st = single ? OCSP_single_get0_status(single, &reason, NULL, NULL, NULL) : -1;
        out = st == V_OCSP_CERTSTATUS_GOOD ? "good" : st == V_OCSP_CERTSTATUS_REVOKED ? "revoked"
            : st == V_OCSP_CERTSTATUS_UNKNOWN ? "unknown" : "bad";
        OCSP_BASICRESP_free(bs);
    }
    OCSP_RESPONSE_free(resp);
    return out;
}

static void make_ctx(const char *version, const char *key)
{
    ctx = SSL_CTX_new(TLS_client_method());
    SSL_CTX_set_verify(ctx, SSL_VERIFY_NONE, NULL);
    SSL_CTX_set_session_cache_mode(ctx, SSL_SESS_CACHE_OFF);
    SSL_CTX_set_options(ctx, SSL_OP_NO_TICKET);
    if (version && !strcmp(version, "tls12")) {
        SSL_CTX_set_min_proto_version(ctx, TLS1_2_VERSION);
        SSL_CTX_set_max_proto_version(ctx, TLS1_2_VERSION);
    } else if (version && !strcmp(version, "tls13")) {
        SSL_CTX_set_min_proto_version(ctx, TLS1_3_VERSION);
    }
    /* the signature algorithms choose which of the server's certificates is used */
    if (key && !strcmp(key, "rsa"))
        SSL_CTX_set1_sigalgs_list(ctx, "rsa_pss_rsae_sha256:RSA+SHA256");
    else if (key && !strcmp(key, "ec"))
        SSL_CTX_set1_sigalgs_list(ctx, "ECDSA+SHA256");
}

int main(int argc, char **argv)
{
    if (argc >= 4 && !strcmp(argv[1], "--check")) {
        int fd;
        host = argv[2];
        port = atoi(argv[3]);
        make_ctx(argc > 4 ? argv[4] : NULL, argc > 5 ? argv[5] : NULL);
        SSL *ssl = handshake(argc > 6 ? argv[6] : "localhost", &fd);
        printf("staple=%s\n", ssl ? staple_status(ssl) : "handshake-failed");
        if (ssl)
            finish(ssl, fd);
        return ssl ? 0 : 1;
    }
    if (argc >= 5 && !strcmp(argv[1], "--first")) {
        int fd;
        SSL *ssl = NULL;
        host = argv[2];
        port = atoi(argv[3]);
        double limit = atof(argv[4]), t0 = now_s();
        make_ctx(NULL, NULL);
        while (!ssl && now_s() - t0 < limit) {
            ssl = handshake(argc > 5 ? argv[5] : "localhost", &fd);
            if (!ssl)
                usleep(5000);
        }
        printf("first_ms=%.0f\nstaple=%s\n", (now_s() - t0) * 1000, ssl ? staple_status(ssl) : "handshake-failed");
        if (ssl)
            finish(ssl, fd);
        return ssl ? 0 : 1;
    }
    if (argc < 5) {
        fprintf(stderr, "usage: hsload HOST PORT SECONDS THREADS [tls12|tls13] [ec|rsa]\n"
                        "       hsload --check HOST PORT [tls12|tls13] [ec|rsa] [SNI]\n"
                        "       hsload --first HOST PORT TIMEOUT [SNI]\n");
        return 2;
    }
    host = argv[1];
    port = atoi(argv[2]);
    seconds = atof(argv[3]);
    int threads = atoi(argv[4]);
    make_ctx(argc > 5 ? argv[5] : NULL, argc > 6 ? argv[6] : NULL);
    pthread_t *t = calloc((size_t)threads, sizeof(*t));
    long *counts = calloc((size_t)threads, sizeof(*counts));
    double t0 = now_s();
    for (int i = 0; i < threads; i++)
        pthread_create(&t[i], NULL, worker, &counts[i]);
    usleep((useconds_t)(seconds * 1e6));
    stop = 1;
    long total = 0;
    for (int i = 0; i < threads; i++) {
        pthread_join(t[i], NULL);
        total += counts[i];
    }
    double took = now_s() - t0;
    printf("handshakes=%ld\nseconds=%.3f\nrate=%.1f\n", total, took, (double)total / took);
    free(t);
    free(counts);
    SSL_CTX_free(ctx);
    return total > 0 ? 0 : 1;
}
