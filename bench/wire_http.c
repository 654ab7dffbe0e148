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
 * With --root DIR it also serves GET /static/NAME, the file DIR/NAME
 * (a plain name: no '/', not ".."), as examples/http-server.c does: its
 * body goes by wire_http_response_write_file (sendfile(2) over TCP); the
 * peer is nginx with `sendfile on` (bench/run-peers.sh).
 *
 * Usage: wire_http [--root DIR]
 */
#include <wire/wire.h>

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static struct wire_loop *loop;
static int root_fd = -1;

static void
not_found(struct wire_http_exchange *x)
{
    static const char nf[] = "not found\n";
    wire_http_respond(x, 404, "text/plain", nf, sizeof(nf) - 1);
}

static void
serve_file(struct wire_http_exchange *x, const char *name)
{
    struct stat st;
    int fd = strchr(name, '/') != NULL || strcmp(name, "..") == 0
                 ? -1
                 : openat(root_fd, name, O_RDONLY | O_CLOEXEC | O_NONBLOCK);
    if (fd < 0 || fstat(fd, &st) < 0 || !S_ISREG(st.st_mode)) {
        if (fd >= 0)
            close(fd);
        not_found(x);
        return;
    }
    wire_http_response_start(x, 200, NULL);
    wire_http_response_header(x, "Content-Type", "application/octet-stream");
    if (wire_http_response_write_file(x, fd, 0, (size_t)st.st_size, NULL, NULL) < 0) {
        close(fd);
        wire_transport_abort(wire_http_exchange_transport(x));
        return;
    }
    wire_http_response_end(x);
}

static void
on_request(void *arg, struct wire_http_exchange *x)
{
    (void)arg;
    const struct wire_http_head *h = wire_http_exchange_request(x);
    bool get = strcmp(h->method, "GET") == 0 || strcmp(h->method, "HEAD") == 0;
    if (strcmp(h->target, "/hello") == 0 && get) {
        wire_http_respond(x, 200, "text/plain", "hello", 5);
    } else if (root_fd >= 0 && get && strncmp(h->target, "/static/", 8) == 0) {
        serve_file(x, h->target + 8);
    } else {
        not_found(x);
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
main(int argc, char **argv)
{
    if (argc == 3 && strcmp(argv[1], "--root") == 0) {
        root_fd = open(argv[2], O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        if (root_fd < 0) {
            fprintf(stderr, "wire_http: --root %s: %s\n", argv[2], strerror(errno));
            return 1;
        }
    } else if (argc != 1) {
        fprintf(stderr, "usage: wire_http [--root DIR]\n");
        return 2;
    }
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
