/*
 * http-server ENDPOINT — a small HTTP/1.1 server on libwire.
 *
 *   GET /hello   200, "hello", text/plain
 *   POST /echo   200, the request body streamed back (chunked), in constant
 *                memory: the body pauses while the response is above its
 *                write high watermark and resumes on on_writable
 *   else         404
 *
 * Listens on ENDPOINT (tcp://127.0.0.1:0, unix:/tmp/http.sock,
 * tls://127.0.0.1:8443?cert=..&key=.., ...), prints exactly one line
 * "listening on <endpoint with the real port>", and serves until SIGINT
 * or SIGTERM, which shut it down gracefully (connections get 5 s to
 * finish) with exit status 0.  A bad endpoint or a busy port is a message
 * on stderr and exit status 1.  Bodies have no size limit (the echo
 * streams them).
 */
#include <wire/wire.h>

#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static void
on_request(void *arg, struct wire_http_exchange *x)
{
    (void)arg;
    const struct wire_http_head *h = wire_http_exchange_request(x);
    if (strcmp(h->target, "/hello") == 0 &&
        (strcmp(h->method, "GET") == 0 || strcmp(h->method, "HEAD") == 0)) {
        wire_http_respond(x, 200, "text/plain", "hello", 5);
    } else if (strcmp(h->target, "/echo") == 0 && strcmp(h->method, "POST") == 0) {
        /* The head goes out with the first body write (or with end). */
        wire_http_response_start(x, 200, NULL);
        const char *ct = wire_http_head_get(h, "Content-Type");
        wire_http_response_header(x, "Content-Type",
                                  ct != NULL ? ct : "application/octet-stream");
        wire_http_exchange_set_data(x, x); /* marks "echoing" */
    } else {
        static const char nf[] = "not found\n";
        wire_http_respond(x, 404, "text/plain", nf, sizeof(nf) - 1);
    }
}

static void
on_body(void *arg, struct wire_http_exchange *x, const void *data, size_t len)
{
    (void)arg;
    if (wire_http_exchange_data(x) == NULL)
        return; /* not an echo: dropped */
    /* 1: queued, but the connection is above its high watermark: stop
     * reading the request until the response drains. */
    if (wire_http_response_write(x, data, len) == 1)
        wire_http_body_pause(x);
}

static void
on_body_end(void *arg, struct wire_http_exchange *x)
{
    (void)arg;
    if (wire_http_exchange_data(x) != NULL)
        wire_http_response_end(x);
}

static void
on_writable(void *arg, struct wire_http_exchange *x)
{
    (void)arg;
    wire_http_body_resume(x);
}

static void
on_done(void *arg, struct wire_http_exchange *x, const struct wire_error *err)
{
    (void)arg;
    (void)x;
    if (err != NULL && err->code != WIRE_ECLOSED)
        fprintf(stderr, "http-server: %s\n", err->message);
}

static const struct wire_http_handler handler = {
    .on_request = on_request,
    .on_body = on_body,
    .on_body_end = on_body_end,
    .on_writable = on_writable,
    .on_done = on_done,
};

static struct wire_server *server;
static struct wire_signal *sigint_watch, *sigterm_watch;

static void
shutdown_done(void *arg)
{
    (void)arg;
    wire_server_free(server);
    server = NULL;
}

/* SIGINT / SIGTERM: stop accepting, let connections finish for up to
 * 5 s; then the loop runs out of work. */
static void
on_signal(void *arg, int signo)
{
    (void)arg;
    (void)signo;
    wire_signal_free(sigint_watch);
    wire_signal_free(sigterm_watch);
    sigint_watch = sigterm_watch = NULL;
    if (server != NULL)
        wire_server_shutdown(server, 5000, shutdown_done, NULL);
}

int
main(int argc, char **argv)
{
    if (argc != 2 || argv[1][0] == '-') {
        fprintf(stderr, "usage: %s ENDPOINT\n"
                        "  serves GET /hello, POST /echo (streamed back) and 404 "
                        "on ENDPOINT\n  (tcp://HOST:PORT, unix:/PATH, tls://HOST:PORT?cert=..&key=..)\n",
                argv[0]);
        return 2;
    }
    struct wire_loop *loop = wire_loop_new();
    if (loop == NULL) {
        fprintf(stderr, "http-server: cannot create the event loop\n");
        return 1;
    }
    struct wire_error err = {0};
    struct wire_http_service_opts opts;
    memset(&opts, 0, sizeof(opts));
    opts.limits.max_body = UINT64_MAX; /* the echo streams any size */
    struct wire_http_service *svc = wire_http_service_new(&opts, &handler, NULL, &err);
    if (svc == NULL) {
        fprintf(stderr, "http-server: %s\n", err.message);
        wire_error_clear(&err);
        wire_loop_free(loop);
        return 1;
    }
    int rc = wire_listen(loop, argv[1], wire_http_service_factory, svc, NULL,
                         &server, &err);
    if (rc < 0) {
        fprintf(stderr, "http-server: %s\n", err.message);
        wire_error_clear(&err);
        wire_http_service_unref(svc);
        wire_loop_free(loop);
        return 1;
    }
    sigint_watch = wire_signal_new(loop, SIGINT, on_signal, NULL, NULL);
    sigterm_watch = wire_signal_new(loop, SIGTERM, on_signal, NULL, NULL);
    printf("listening on %s\n", wire_server_address(server));
    fflush(stdout);
    wire_loop_run(loop);
    /* Every connection is gone: the service's last reference is ours. */
    wire_http_service_unref(svc);
    wire_loop_free(loop);
    return 0;
}
