/*
 * wire_http: libwire's side of the HTTP benchmark (bench/run, group
 * "http").  A minimal HTTP/1.1 server on the public API, written as
 * examples/http-server.c writes it: GET (or HEAD) /hello answers 200
 * "hello" as text/plain with wire_http_respond, anything else 404.  It
 * listens on an ephemeral loopback port (printed as "port N" first),
 * keeps connections alive as HTTP/1.1 does by default, and runs until
 * SIGTERM or SIGINT, then exits 0.  The load generator is wrk; the peers
 * are nginx (`return 200 "hello"`) and libevent's evhttp
 * (bench/peer_http_evhttp.c), answering the same request with the same
 * Content-Type and body.
 *
 * Usage: wire_http
 */
#include <wire/wire.h>

#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

static struct wire_loop *loop;

static void
on_request(void *arg, struct wire_http_exchange *x)
{
    (void)arg;
    const struct wire_http_head *h = wire_http_exchange_request(x);
    if (strcmp(h->target, "/hello") == 0 &&
        (strcmp(h->method, "GET") == 0 || strcmp(h->method, "HEAD") == 0)) {
        wire_http_respond(x, 200, "text/plain", "hello", 5);
    } else {
        static const char nf[] = "not found\n";
        wire_http_respond(x, 404, "text/plain", nf, sizeof(nf) - 1);
    }
}

static const struct wire_http_handler handler = {
    .on_request = on_request,
};

static void
on_signal(void *arg, int signo)
{
    (void)arg;
    (void)signo;
    wire_loop_stop(loop);
}

int
main(void)
{
    struct wire_error err = {0};
    struct wire_server *server = NULL;
    struct wire_signal *sigs[2] = {NULL, NULL};
    struct wire_listen_options lopts = {.backlog = 4096};
    alarm(600); /* a hard bound, whatever the driver does */
    loop = wire_loop_new();
    if (loop == NULL) {
        fprintf(stderr, "wire_http: cannot create the event loop\n");
        return 1;
    }
    struct wire_http_service *svc = wire_http_service_new(NULL, &handler, NULL, &err);
    if (svc == NULL ||
        wire_listen(loop, "tcp://127.0.0.1:0", wire_http_service_factory, svc,
                    &lopts, &server, &err) < 0) {
        fprintf(stderr, "wire_http: %s\n", err.message ? err.message : "?");
        return 1;
    }
    sigs[0] = wire_signal_new(loop, SIGTERM, on_signal, NULL, &err);
    sigs[1] = wire_signal_new(loop, SIGINT, on_signal, NULL, &err);
    if (sigs[0] == NULL || sigs[1] == NULL) {
        fprintf(stderr, "wire_http: %s\n", err.message);
        return 1;
    }
    const char *addr = wire_server_address(server);
    printf("port %s\n", strrchr(addr, ':') + 1);
    fflush(stdout);
    wire_loop_run(loop);
    wire_signal_free(sigs[0]);
    wire_signal_free(sigs[1]);
    wire_server_free(server);
    /* Let the aborted connections deliver connection_lost. */
    while (wire_loop_run_once(loop, false) == 0)
        ;
    wire_http_service_unref(svc);
    wire_loop_free(loop);
    return 0;
}
