/*
 * echo-server [--lines [--max-line N]] ENDPOINT — the smallest useful
 * libwire server.
 *
 * Listens on ENDPOINT (tcp://127.0.0.1:0, unix:/tmp/echo.sock, ...),
 * prints exactly one line "listening on <endpoint with the real port>",
 * echoes every byte back, and on a peer's EOF finishes echoing and closes.
 * SIGINT or SIGTERM shuts the server down gracefully (connections get 5 s
 * to finish) and the program exits 0.  A bad endpoint or a busy port is a
 * message on stderr and exit status 1.  A connection that ends with an
 * error (a reset, ...) is reported on stderr; the others go on.
 *
 * An endpoint that cannot be listened on because it is already a
 * connection (stdio:, exec:COMMAND, serial:/dev/tty..., file:IN?out=OUT)
 * is connected to instead, and that one connection is echoed the same
 * way: until its EOF, then the rest is written, the connection closes and
 * the program exits 0.  Nothing is printed on stdout in this mode (for
 * stdio: it carries the echo).  A connect that fails, or a connection
 * lost with an error, is a message on stderr and exit status 1; SIGINT or
 * SIGTERM closes the connection (after writing what is queued) and exits
 * 0.
 *
 * With --lines the same server speaks lines instead of bytes, through the
 * lines layer (<wire/framing.h>): a line ends with "\n" or "\r\n", and each
 * one is echoed back as a complete line ending with "\r\n" (the network's
 * line ending, which readers of either style accept).  A last line the
 * peer ends with EOF instead of a terminator is echoed too.  A line longer
 * than N bytes (default 65536, terminator excluded) closes that connection
 * only: the reason, which names the limit and the stream offset where the
 * line began, goes to stderr, and the server keeps serving the others.
 */
#include <wire/wire.h>

#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <unistd.h>

struct echo {
    struct wire_protocol base;
    struct wire_transport *t;
};

static void connection_over(const struct wire_error *err);

static void
echo_made(struct wire_protocol *p, struct wire_transport *t)
{
    ((struct echo *)p)->t = t;
}

static void
echo_data(struct wire_protocol *p, const void *data, size_t len)
{
    wire_transport_write(((struct echo *)p)->t, data, len);
}

/* Flow control: a peer that sends but does not read its echo fills our
 * write buffer; stop reading from it until the echo drains, so memory
 * stays bounded by the watermarks instead of growing with what it sends. */
static void
echo_pause_writing(struct wire_protocol *p)
{
    wire_transport_pause_reading(((struct echo *)p)->t);
}

static void
echo_resume_writing(struct wire_protocol *p)
{
    wire_transport_resume_reading(((struct echo *)p)->t);
}

static bool
echo_eof(struct wire_protocol *p)
{
    (void)p;
    return false; /* close: the core flushes what is queued first */
}

static void
echo_lost(struct wire_protocol *p, const struct wire_error *err)
{
    (void)p;
    connection_over(err);
}

static void
echo_destroy(struct wire_protocol *p)
{
    free(p);
}

static const struct wire_protocol_ops echo_ops = {
    .connection_made = echo_made,
    .data_received = echo_data,
    .eof_received = echo_eof,
    .pause_writing = echo_pause_writing,
    .resume_writing = echo_resume_writing,
    .connection_lost = echo_lost,
    .destroy = echo_destroy,
};

static struct wire_protocol *
echo_new(void *arg)
{
    (void)arg;
    struct echo *e = calloc(1, sizeof(*e));
    if (e == NULL)
        return NULL;
    wire_protocol_init(&e->base, &echo_ops);
    return &e->base;
}

/* ---- --lines: a callback per line (the protocol form of the lines
 * layer); `t` is the framed transport, so one write is one line. ---- */

static size_t max_line = WIRE_CHUNK_DEFAULT_MAX;

static void
line_message(void *arg, struct wire_transport *t, const void *data, size_t len)
{
    (void)arg;
    /* The layer adds the "\r\n"; the line cannot contain "\n", so the
     * write cannot fail the delimiter check.  A write error (the peer
     * went away) is reported by the closed callback. */
    wire_transport_write(t, data, len);
}

static void
line_closed(void *arg, const struct wire_error *err)
{
    (void)arg;
    connection_over(err); /* an over-long line, a reset, ... */
}

static const struct wire_message_handler line_handler = {
    .message = line_message,
    .closed = line_closed, /* .eof NULL: close after echoing the rest */
};

static struct wire_protocol *
line_echo_new(void *arg)
{
    (void)arg;
    struct wire_chunk_opts o;
    wire_lines_opts_init(&o, true, true); /* accept \n and \r\n; write \r\n */
    o.max_len = max_line;
    o.partial_at_eof = true;
    struct wire_error err = {0};
    struct wire_protocol *p = wire_chunk_protocol_new(&o, &line_handler, NULL, &err);
    if (p == NULL) { /* refuse this connection, keep serving */
        fprintf(stderr, "echo-server: %s\n", err.message);
        wire_error_clear(&err);
    }
    return p;
}

/* What runs the loop: a server, or (for an endpoint that cannot listen)
 * one connection and the SIGINT / SIGTERM watchers (a server watches its
 * own: wire_server_shutdown_on_signals). */
static bool one_connection;        /* connected instead of listening */
static struct wire_transport *conn; /* that connection, while it is up */
static bool stop_early;            /* a signal came before it was up */
static int exit_status;
static struct wire_signal *sigint_watch, *sigterm_watch;

static void
stop_watching_signals(void)
{
    wire_signal_free(sigint_watch);
    wire_signal_free(sigterm_watch);
    sigint_watch = sigterm_watch = NULL;
}

/* A connection ended; `err` is NULL after a clean close, else the cause.
 * A server goes on serving the others.  The one connection was all there
 * was to do: once the signal watchers are gone the loop runs out of work
 * and wire_loop_run returns. */
static void
connection_over(const struct wire_error *err)
{
    if (err != NULL)
        fprintf(stderr, "echo-server: %s\n", err->message);
    if (!one_connection)
        return;
    if (err != NULL)
        exit_status = 1;
    conn = NULL;
    stop_watching_signals();
}

/* The outcome of wire_connect.  On failure the library has destroyed the
 * protocol, and there is nothing else to do. */
static void
on_connected(void *arg, struct wire_transport *t, const struct wire_error *err)
{
    (void)arg;
    if (err != NULL) {
        fprintf(stderr, "echo-server: %s\n", err->message);
        exit_status = 1;
        stop_watching_signals();
        return;
    }
    conn = t; /* valid until connection_lost, which clears it */
    if (stop_early)
        wire_transport_close(conn);
}

/* SIGINT / SIGTERM for the one connection (watched by the loop): it
 * writes what is queued and closes.  Then the loop runs out of work. */
static void
on_signal(void *arg, int signo)
{
    (void)arg;
    (void)signo;
    stop_watching_signals();
    if (conn != NULL)
        wire_transport_close(conn);
    else
        stop_early = true;
}

static int
usage(const char *argv0)
{
    fprintf(stderr,
            "usage: %s [--lines [--max-line N]] ENDPOINT\n"
            "  ENDPOINT to listen on (tcp://HOST:PORT, unix:/PATH, unix:@NAME):\n"
            "           prints \"listening on ADDRESS\" and serves until SIGINT\n"
            "           or SIGTERM\n"
            "  ENDPOINT that is a connection (stdio:, exec:COMMAND,\n"
            "           serial:/dev/DEVICE, file:IN?out=OUT): connects, prints\n"
            "           nothing, echoes until EOF and exits 0 (1 on an error)\n"
            "  default  echo every byte back\n"
            "  --lines  echo each line (ended by \\n or \\r\\n) back as a line\n"
            "           ended by \\r\\n; a last line ended by EOF is echoed too\n"
            "  --max-line N\n"
            "           longest line in bytes, terminator excluded (default %zu);\n"
            "           a longer line closes that connection, with the reason\n"
            "           on stderr\n",
            argv0, (size_t)WIRE_CHUNK_DEFAULT_MAX);
    return 2;
}

/* N in 1..2^30: a positive decimal with nothing after it. */
static bool
parse_max_line(const char *s, size_t *out)
{
    char *end;
    if (s == NULL || *s < '0' || *s > '9')
        return false;
    errno = 0;
    unsigned long long v = strtoull(s, &end, 10);
    if (errno != 0 || *end != '\0' || v == 0 || v > (1ull << 30))
        return false;
    *out = (size_t)v;
    return true;
}

int
main(int argc, char **argv)
{
    bool lines = false, max_given = false;
    int i = 1;
    for (; i < argc && strncmp(argv[i], "--", 2) == 0; i++) {
        if (strcmp(argv[i], "--") == 0) {
            i++;
            break;
        } else if (strcmp(argv[i], "--lines") == 0) {
            lines = true;
        } else if (strcmp(argv[i], "--max-line") == 0 ||
                   strncmp(argv[i], "--max-line=", 11) == 0) {
            const char *v = argv[i][10] == '=' ? argv[i] + 11 : argv[++i];
            if (!parse_max_line(v, &max_line)) {
                fprintf(stderr, "echo-server: --max-line wants a number of "
                                "bytes from 1 to 1073741824\n");
                return 2;
            }
            max_given = true;
        } else {
            fprintf(stderr, "echo-server: unknown option %s\n", argv[i]);
            return usage(argv[0]);
        }
    }
    if (i != argc - 1)
        return usage(argv[0]);
    if (max_given && !lines) {
        fprintf(stderr, "echo-server: --max-line needs --lines\n");
        return 2;
    }
    const char *endpoint = argv[i];
    struct wire_loop *loop = wire_loop_new();
    if (loop == NULL) {
        fprintf(stderr, "echo-server: cannot create the event loop\n");
        return 1;
    }
    wire_protocol_factory factory = lines ? line_echo_new : echo_new;
    struct wire_server *server = NULL;
    struct wire_error err = {0};
    int rc = wire_listen(loop, endpoint, factory, NULL, NULL, &server, &err);
    if (rc == WIRE_ENOTSUP) {
        /* Nothing to listen on: the endpoint is a connection already
         * (stdio:, exec:, serial:, file:).  Echo on that one. */
        wire_error_clear(&err);
        one_connection = true;
        struct wire_protocol *p = factory(NULL);
        if (p == NULL) {
            fputs("echo-server: cannot make the protocol\n", stderr);
            wire_loop_free(loop);
            return 1;
        }
        rc = wire_connect(loop, endpoint, p, NULL, on_connected, NULL, &err);
        if (rc < 0) /* the protocol is still ours */
            wire_protocol_destroy(p);
    } else if (rc == 0) {
        /* SIGINT / SIGTERM: stop accepting, let open connections finish
         * for up to 5 s; then the loop runs out of work. */
        rc = wire_server_shutdown_on_signals(server, 5000, NULL, NULL, NULL,
                                             &err);
    }
    if (rc < 0) {
        fprintf(stderr, "echo-server: %s\n", err.message);
        wire_error_clear(&err);
        wire_server_free(server);
        wire_loop_free(loop);
        return 1;
    }
    if (one_connection) {
        sigint_watch = wire_signal_new(loop, SIGINT, on_signal, NULL, NULL);
        sigterm_watch = wire_signal_new(loop, SIGTERM, on_signal, NULL, NULL);
    } else {
        printf("listening on %s\n", wire_server_address(server));
        fflush(stdout);
    }
    wire_loop_run(loop);
    wire_server_free(server);
    wire_loop_free(loop);
    return exit_status;
}
