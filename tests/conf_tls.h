/*
 * The TLS factories (conf_tls.c): their functions and the table rows that
 * conf_factories.c puts in conf_factories[]: TLS over the memory pair,
 * over TCP (tls:// endpoints), over a pipe pair, and TLS inside TLS.
 */
#ifndef WIRE_TESTS_CONF_TLS_H
#define WIRE_TESTS_CONF_TLS_H

#include "conf.h"

/* Make the certificates and configs (before any test forks) / remove. */
void conf_tls_setup(void);
void conf_tls_cleanup(void);

bool conf_tls_available(struct conf_ctx *c, char *why, size_t len);
int conf_tls_mem_make_pair(struct conf_ctx *c, struct wire_protocol *client,
                           struct wire_protocol *server);
int conf_tls_in_tls_make_pair(struct conf_ctx *c, struct wire_protocol *client,
                              struct wire_protocol *server);
int conf_tls_pipe_make_pair(struct conf_ctx *c, struct wire_protocol *client,
                            struct wire_protocol *server);
void conf_tls_tcp_listen_ep(struct conf_ctx *c, char *buf, size_t len);
int conf_tls_tcp_make_pair(struct conf_ctx *c, struct wire_protocol *client,
                           struct wire_protocol *server);

#define TLS_FACTORIES                                                         \
    {                                                                         \
        .name = "tls-mem", .info_name = "tls",                                \
        .caps = CONF_CAP_HALF_CLOSE | CONF_CAP_RESET,                         \
        .info_prefix = "mem:", .available = conf_tls_available,              \
        .make_pair = conf_tls_mem_make_pair, .pair_address = "mem:pair",      \
        .no_timeout_reason = "a memory pair has no connect step",             \
        .bufsize = 16 * 1024,                                                 \
    },                                                                        \
    {                                                                         \
        .name = "tls-tcp", .info_name = "tls",                                \
        .caps = CONF_CAP_HALF_CLOSE | CONF_CAP_RESET | CONF_CAP_FD |          \
                CONF_CAP_SOCKADDR,                                            \
        .info_prefix = "tcp://", .available = conf_tls_available,                 \
        .listen_endpoint = conf_tls_tcp_listen_ep, .make_pair = conf_tls_tcp_make_pair, \
        .no_timeout_reason = "covered by the tcp entries (TLS adds no "       \
                             "connect step of its own)",                      \
    },                                                                        \
    {                                                                         \
        .name = "tls-pipe", .info_name = "tls",                               \
        .caps = CONF_CAP_HALF_CLOSE | CONF_CAP_FD | CONF_CAP_TRUNCATES,       \
        .info_prefix = "pipe:", .available = conf_tls_available,                  \
        .make_pair = conf_tls_pipe_make_pair,                                      \
        .no_timeout_reason = "a pipe pair has no connect step",               \
    },                                                                        \
    {                                                                         \
        .name = "tls-in-tls", .info_name = "tls",                             \
        .caps = CONF_CAP_HALF_CLOSE | CONF_CAP_RESET,                         \
        .info_prefix = "mem:", .available = conf_tls_available,              \
        .make_pair = conf_tls_in_tls_make_pair, .pair_address = "mem:pair",   \
        .no_timeout_reason = "a memory pair has no connect step",             \
        .bufsize = 16 * 1024,                                                 \
    }

#endif
