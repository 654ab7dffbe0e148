/*
 * echo-server ENDPOINT — the smallest useful libwire server.
 *
 * Listens on ENDPOINT (tcp://127.0.0.1:0, unix:/tmp/echo.sock, ...),
 * prints exactly one line "listening on <endpoint with the real port>",
 * echoes every byte back, and on a peer's EOF finishes echoing and closes.
 * SIGINT or SIGTERM shuts the server down gracefully (connections get 5 s
 * to finish) and the program exits 0.  A bad endpoint or a busy port is a
 * message on stderr and exit status 1.
 */
#include <wire/wire.h>

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

static bool
echo_eof(struct wire_protocol *p)
{
    (void)p;
    return false; /* close: the core flushes what is queued first */
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

/* Signals arrive on another stack: the handler only sets a flag and the
 * loop polls it with a short timer. */
static volatile sig_atomic_t got_signal;
static struct wire_server *server;
static struct wire_timer *sigtimer;

static void
on_signal(int sig)
{
    (void)sig;
    got_signal = 1;
}

static void
shutdown_done(void *arg)
{
    (void)arg;
    wire_server_free(server);
    server = NULL;
}

static void
poll_signal(void *arg)
{
    (void)arg;
    if (!got_signal)
        return;
    wire_timer_free(sigtimer);
    sigtimer = NULL;
    wire_server_shutdown(server, 5000, shutdown_done, NULL);
}

int
main(int argc, char **argv)
{
    if (argc != 2) {
        fprintf(stderr, "usage: %s ENDPOINT\n", argv[0]);
        return 2;
    }
    struct wire_loop *loop = wire_loop_new();
    if (loop == NULL) {
        fprintf(stderr, "echo-server: cannot create the event loop\n");
        return 1;
    }
    struct wire_error err = {0};
    if (wire_listen(loop, argv[1], echo_new, NULL, NULL, &server, &err) < 0) {
        fprintf(stderr, "echo-server: %s\n", err.message);
        wire_error_clear(&err);
        wire_loop_free(loop);
        return 1;
    }
    struct sigaction sa;
    memset(&sa, 0, sizeof(sa));
    sa.sa_handler = on_signal;
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);
    sigtimer = wire_timer_new(loop, poll_signal, NULL);
    wire_timer_start(sigtimer, 50, 50);
    printf("listening on %s\n", wire_server_address(server));
    fflush(stdout);
    wire_loop_run(loop);
    wire_loop_free(loop);
    return 0;
}
