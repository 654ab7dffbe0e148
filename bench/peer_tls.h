/*
 * OpenSSL helpers shared by the TLS peer programs in bench/ (tls_bulk_send,
 * peer_tls_bulk_blocking, tls_hs_client): the one TLS setup every side of
 * the TLS benchmarks agrees on, so that libwire and its peers are compared
 * on the same cryptography.  Clients offer TLS 1.3 only, the suite
 * TLS_AES_128_GCM_SHA256 only and the group X25519 only, and do not verify
 * the server's certificate (the handshake still checks the server's
 * CertificateVerify signature: that is the protocol, not verification).
 * Servers take the certificate and key the driver made (EC P-256) and
 * otherwise OpenSSL's defaults, as libwire's server layer does.
 * Header-only and static, like peer_util.h; no libwire dependency.
 */
#ifndef BENCH_PEER_TLS_H
#define BENCH_PEER_TLS_H

#include <openssl/err.h>
#include <openssl/ssl.h>
#include <stdio.h>
#include <stdlib.h>

#define PEER_TLS_SUITE "TLS_AES_128_GCM_SHA256"
#define PEER_TLS_GROUP "X25519"

/* Print WHAT and OpenSSL's error queue, then exit 1. */
static inline void
peer_tls_die(const char *what)
{
    fprintf(stderr, "peer: %s\n", what);
    ERR_print_errors_fp(stderr);
    exit(1);
}

/* The benchmark client context (see the header comment). */
static inline SSL_CTX *
peer_tls_client_ctx(void)
{
    SSL_CTX *ctx = SSL_CTX_new(TLS_client_method());

    if (ctx == NULL ||
        SSL_CTX_set_min_proto_version(ctx, TLS1_3_VERSION) != 1 ||
        SSL_CTX_set_ciphersuites(ctx, PEER_TLS_SUITE) != 1 ||
        SSL_CTX_set1_groups_list(ctx, PEER_TLS_GROUP) != 1)
        peer_tls_die("client context");
    SSL_CTX_set_verify(ctx, SSL_VERIFY_NONE, NULL);
    return ctx;
}

/* A server context with CERT and KEY (PEM files) and OpenSSL's defaults. */
static inline SSL_CTX *
peer_tls_server_ctx(const char *cert, const char *key)
{
    SSL_CTX *ctx = SSL_CTX_new(TLS_server_method());

    if (ctx == NULL ||
        SSL_CTX_use_certificate_chain_file(ctx, cert) != 1 ||
        SSL_CTX_use_PrivateKey_file(ctx, key, SSL_FILETYPE_PEM) != 1 ||
        SSL_CTX_check_private_key(ctx) != 1)
        peer_tls_die("server context (certificate or key)");
    return ctx;
}

#endif /* BENCH_PEER_TLS_H */
