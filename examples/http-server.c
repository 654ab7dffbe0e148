/*
 * http-server [--root DIR] ENDPOINT — a small HTTP/1.1 server on libwire.
 *
 *   GET /hello   200, "hello", text/plain
 *   POST /echo   200, the request body streamed back (chunked), in constant
 *                memory: the body pauses while the response is above its
 *                write high watermark and resumes on on_writable
 *   GET /static/NAME  (with --root DIR; HEAD too) the file DIR/NAME, sent
 *                with wire_http_response_write_file: by sendfile(2) over
 *                TCP and Unix sockets, read a piece at a time under TLS;
 *                404 when it does not exist, 403 for a NAME with a ".."
 *                segment or a leading "/", or that is not a regular file
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

#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static int root_fd = -1; /* --root DIR, open; -1: no /static/ */

static void
respond_text(struct wire_http_exchange *x, int status, const char *text)
{
    wire_http_respond(x, status, "text/plain", text, strlen(text));
}

/* A name under the root that cannot leave it: not empty, no leading '/'
 * (openat would ignore the directory), no ".." segment. */
static bool
safe_name(const char *name, size_t len)
{
    if (len == 0 || name[0] == '/')
        return false;
    for (size_t i = 0; i < len;) {
        size_t j = i;
        while (j < len && name[j] != '/')
            j++;
        if (j - i == 2 && name[i] == '.' && name[i + 1] == '.')
            return false;
        i = j + 1;
    }
    return true;
}

static const char *
content_type(const char *name)
{
    static const char *const types[][2] = {
        {".html", "text/html"}, {".txt", "text/plain"}, {".css", "text/css"},
        {".js", "text/javascript"}, {".json", "application/json"},
        {".png", "image/png"}, {".jpg", "image/jpeg"},
    };
    const char *dot = strrchr(name, '.');
    for (size_t i = 0; dot != NULL && i < sizeof(types) / sizeof(types[0]); i++)
        if (strcmp(dot, types[i][0]) == 0)
            return types[i][1];
    return "application/octet-stream";
}

/* GET or HEAD /static/NAME: the file, its bytes straight from the file
 * where the transport can (the response owns the fd once given). */
static void
serve_static(struct wire_http_exchange *x, const char *target)
{
    const char *name = target + strlen("/static/");
    size_t len = strcspn(name, "?#"); /* the query is not part of it */
    char path[4096];
    if (len >= sizeof(path) || !safe_name(name, len)) {
        respond_text(x, len == 0 ? 404 : 403, len == 0 ? "not found\n" : "forbidden\n");
        return;
    }
    memcpy(path, name, len);
    path[len] = '\0';
    /* O_NONBLOCK: opening a FIFO must not wait for a writer. */
    int fd = openat(root_fd, path, O_RDONLY | O_CLOEXEC | O_NONBLOCK | O_NOCTTY);
    struct stat st;
    if (fd < 0) {
        respond_text(x, errno == ENOENT || errno == ENOTDIR ? 404 : 403,
                     errno == ENOENT || errno == ENOTDIR ? "not found\n"
                                                        : "forbidden\n");
        return;
    }
    if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode)) {
        close(fd);
        respond_text(x, 403, "forbidden\n");
        return;
    }
    wire_http_response_start(x, 200, NULL);
    wire_http_response_header(x, "Content-Type", content_type(path));
    /* The file is the whole body: Content-Length is its size. */
    int rc = wire_http_response_write_file(x, fd, 0, (size_t)st.st_size, NULL, NULL);
    if (rc < 0) {
        /* Nothing was queued and the fd is still ours; the head has not
         * gone out, but a 200 is started: cut the connection rather than
         * send a wrong body. */
        close(fd);
        if (rc != WIRE_ECLOSED) {
            fprintf(stderr, "http-server: %s: %s\n", path, wire_strerror(rc));
            wire_transport_abort(wire_http_exchange_transport(x));
        }
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
        serve_static(x, h->target);
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

int
main(int argc, char **argv)
{
    const char *root = NULL;
    if (argc == 4 && strcmp(argv[1], "--root") == 0) {
        root = argv[2];
        argv += 2;
        argc -= 2;
    }
    if (argc != 2 || argv[1][0] == '-') {
        fprintf(stderr, "usage: %s [--root DIR] ENDPOINT\n"
                        "  serves GET /hello, POST /echo (streamed back), with --root\n"
                        "  GET /static/NAME (the file DIR/NAME), and 404 on ENDPOINT\n"
                        "  (tcp://HOST:PORT, unix:/PATH, tls://HOST:PORT?cert=..&key=..)\n",
                argv[0]);
        return 2;
    }
    if (root != NULL &&
        (root_fd = open(root, O_RDONLY | O_DIRECTORY | O_CLOEXEC)) < 0) {
        fprintf(stderr, "http-server: --root %s: %s\n", root, strerror(errno));
        return 1;
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
    struct wire_server *server = NULL;
    /* SIGINT / SIGTERM: stop accepting, let connections finish for up to
     * 5 s; then the loop runs out of work. */
    if (wire_listen(loop, argv[1], wire_http_service_factory, svc, NULL,
                    &server, &err) < 0 ||
        wire_server_shutdown_on_signals(server, 5000, NULL, NULL, NULL, &err) < 0) {
        fprintf(stderr, "http-server: %s\n", err.message);
        wire_error_clear(&err);
        wire_server_free(server);
        wire_http_service_unref(svc);
        wire_loop_free(loop);
        return 1;
    }
    printf("listening on %s\n", wire_server_address(server));
    fflush(stdout);
    wire_loop_run(loop);
    wire_server_free(server);
    /* Every connection is gone: the service's last reference is ours. */
    wire_http_service_unref(svc);
    wire_loop_free(loop);
    if (root_fd >= 0)
        close(root_fd);
    return 0;
}
