/*
 * wire_stack: libwire's side of the whole-stack benchmark (bench/run,
 * group "stack"; bench/run-stack.sh drives it).  A JSON-RPC 2.0 server
 * with one method, subtract [a, b] -> a - b, on the stack MODE names,
 * top-down, built from the public API as examples/jsonrpc-server.c and
 * examples/demo.c build theirs:
 *
 *   lines-tcp      jsonrpc / lines / tcp         one JSON text per line
 *   lines-tls-tcp  jsonrpc / lines / tls / tcp
 *   http-tcp       jsonrpc / http / tcp          wire_http_server_layer_new:
 *                                                each POST (any path) one
 *                                                call, answered as 200
 *                                                application/json; HTTP/1.1
 *                                                keep-alive and pipelining
 *   http-tls-tcp   jsonrpc / http / tls / tcp    HTTPS
 *
 * so that the cost of each layer shows as the difference between two
 * stacks, and in the callgrind pass of bench/run-stack.sh by the source
 * file of each function.  The TLS modes take the certificate and key
 * (PEM) the driver made (EC P-256, as for the TLS benchmark) and
 * otherwise libwire's defaults (OpenSSL's suites and groups, session
 * tickets on).  It listens on an ephemeral port of 127.0.0.1, prints
 * "port N" first, and serves until SIGTERM or SIGINT, then exits 0
 * (under valgrind too: the callgrind pass counts a run from start to
 * exit).  The load generator is bench/stack_load; the peer is jayson
 * (bench/peer_stack_jayson.js).
 *
 * Usage: wire_stack lines-tcp|http-tcp
 *        wire_stack lines-tls-tcp|http-tls-tcp CERT KEY
 */
#include <wire/wire.h>

#include <stdio.h>
#include <string.h>
#include <unistd.h>

static bool http, tls;
static struct wire_tls_config *tls_cfg;

static void
m_subtract(void *arg, struct wire_jsonrpc_call *call, json_t *params)
{
    (void)arg;
    json_t *a = json_array_get(params, 0), *b = json_array_get(params, 1);
    if (json_array_size(params) != 2 || !json_is_integer(a) ||
        !json_is_integer(b)) {
        wire_jsonrpc_respond_error(call, WIRE_JSONRPC_INVALID_PARAMS, NULL,
                                   json_string("subtract takes [a, b], integers"));
        return;
    }
    wire_jsonrpc_respond(call, json_integer(json_integer_value(a) -
                                            json_integer_value(b)));
}

static const struct wire_jsonrpc_method methods[] = {
    {"subtract", m_subtract, NULL},
};

/* A connection that failed (a bad request, a reset) is said on stderr;
 * the others go on. */
static void
on_close(void *arg, const struct wire_error *err)
{
    (void)arg;
    if (err != NULL)
        fprintf(stderr, "wire_stack: %s\n", err->message);
}

static const struct wire_jsonrpc_opts rpc_opts = {
    .methods = methods,
    .nmethods = 1,
    .on_close = on_close,
};

/* One connection's stack, built top-down; NULL refuses the connection. */
static struct wire_protocol *
stack_new(void *arg)
{
    (void)arg;
    struct wire_error err = {0};
    struct wire_protocol *p = wire_jsonrpc_new(&rpc_opts, NULL, &err);
    if (p != NULL && http) {
        struct wire_http_layer_opts ho = {
            .content_type = "application/json",
            .limits.max_body = WIRE_JSONRPC_DEFAULT_MAX_MESSAGE,
        };
        p = wire_http_server_layer_new(p, &ho, &err);
    } else if (p != NULL) {
        struct wire_chunk_opts o;
        wire_lines_opts_init(&o, true, false);
        o.max_len = WIRE_JSONRPC_DEFAULT_MAX_MESSAGE;
        p = wire_chunk_layer_new(p, &o, &err);
    }
    if (p != NULL && tls)
        p = wire_tls_server_layer_new(p, tls_cfg, &err);
    if (p == NULL) {
        fprintf(stderr, "wire_stack: %s\n", err.message);
        wire_error_clear(&err);
    }
    return p;
}

static int
usage(void)
{
    fprintf(stderr, "usage: wire_stack lines-tcp|http-tcp\n"
                    "       wire_stack lines-tls-tcp|http-tls-tcp CERT KEY\n");
    return 2;
}

int
main(int argc, char **argv)
{
    if (argc < 2)
        return usage();
    const char *mode = argv[1];
    http = strncmp(mode, "http-", 5) == 0;
    tls = strstr(mode, "-tls-") != NULL;
    if ((strcmp(mode, "lines-tcp") != 0 && strcmp(mode, "http-tcp") != 0 &&
         strcmp(mode, "lines-tls-tcp") != 0 &&
         strcmp(mode, "http-tls-tcp") != 0) ||
        argc != (tls ? 4 : 2))
        return usage();
    struct wire_error err = {0};
    struct wire_listen_options lopts = {.backlog = 4096};
    struct wire_loop *loop = NULL;
    struct wire_server *server = NULL;
    int status = 1;
    alarm(900); /* a hard bound, whatever the driver does (valgrind is slow) */
    if ((tls && ((tls_cfg = wire_tls_config_new(true, &err)) == NULL ||
                 wire_tls_config_set_cert(tls_cfg, argv[2], argv[3], &err) < 0)) ||
        (loop = wire_loop_new()) == NULL ||
        wire_listen(loop, "tcp://127.0.0.1:0", stack_new, NULL, &lopts, &server,
                    &err) < 0 ||
        /* SIGTERM or SIGINT: close every connection (1 s to flush, then
         * abort); the loop ends when nothing is left. */
        wire_server_shutdown_on_signals(server, 1000, NULL, NULL, NULL,
                                        &err) < 0) {
        fprintf(stderr, "wire_stack: %s\n",
                err.message != NULL ? err.message : "cannot create the event loop");
        wire_error_clear(&err);
    } else {
        printf("port %s\n", strrchr(wire_server_address(server), ':') + 1);
        fflush(stdout);
        wire_loop_run(loop); /* until the signal's shutdown is over */
        status = 0;
    }
    wire_server_free(server);
    if (loop != NULL)
        wire_loop_free(loop);
    wire_tls_config_unref(tls_cfg);
    return status;
}
