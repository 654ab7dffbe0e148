/*
 * Private to the TLS layer (tls.c, tls_config.c, tls_endpoint.c).
 */
#ifndef WIRE_TLS_INT_H
#define WIRE_TLS_INT_H

#include "../lib/internal.h"

#include <openssl/ssl.h>
#include <wire/tls.h>

/* tls_config.c */
SSL_CTX *wire__tls_config_ctx(struct wire_tls_config *c);
bool wire__tls_config_is_server(const struct wire_tls_config *c);
uint64_t wire__tls_config_handshake_ms(const struct wire_tls_config *c);
uint64_t wire__tls_config_shutdown_ms(const struct wire_tls_config *c);
/* A client SSL: SNI (unless `name` is an IP), the name or IP the
 * certificate must match (when verifying), a cached session to resume. */
int wire__tls_client_setup(struct wire_tls_config *c, SSL *ssl,
                           const char *name, struct wire_error *err);

/* tls.c */
/* Verification callback: records the first failure for the message. */
int wire__tls_verify_cb(int ok, X509_STORE_CTX *ctx);
/* The server name a client layer's SSL was made for (session cache). */
const char *wire__tls_layer_server_name(SSL *ssl);
/* A TLS layer over `upper` (NULL: none yet; set the layer's `upper`
 * later), for a client (`server_name` to verify) or a server.  On failure
 * `upper`, if any, is destroyed and NULL returned with `err` set. */
struct wire_protocol *wire__tls_layer_new(struct wire_protocol *upper,
                                          struct wire_tls_config *cfg,
                                          bool server, const char *server_name,
                                          struct wire_error *err);

/* tls_endpoint.c: tls://host:port */
int wire__tls_connect(struct wire_loop *loop, const struct wire_endpoint *ep,
                      const char *str, struct wire_protocol *p,
                      uint64_t timeout_ms, wire_connect_cb cb, void *arg,
                      struct wire_error *err);
int wire__tls_listen(struct wire_loop *loop, const struct wire_endpoint *ep,
                     wire_protocol_factory factory, void *farg,
                     const struct wire_listen_options *opts,
                     struct wire_server **out, struct wire_error *err);

#endif
