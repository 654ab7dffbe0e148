/*
 * wire_bulk_recv: libwire's side of the bulk throughput benchmark.  The
 * same contract as peer_bulk_blocking (prints "port N", accepts one
 * connection, counts bytes until EOF, prints "bytes=N seconds=S MB/s=X"
 * timed from connection_made to EOF), but the receiver is a byte-counting
 * protocol on a libwire TCP server, so the figure is the whole libwire
 * receive path: loop, transport base, dispatch, contract checks.
 *
 * Usage: wire_bulk_recv
 */
#include <wire/wire.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

struct counter {
    struct wire_protocol base;
};

static unsigned long long count;
static double start;
static struct wire_server *server;

static double
now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void
c_made(struct wire_protocol *p, struct wire_transport *t)
{
    (void)p;
    (void)t;
    start = now();
    wire_server_stop_accepting(server);
}

static void
c_data(struct wire_protocol *p, const void *data, size_t len)
{
    (void)p;
    (void)data;
    count += len;
}

static void
c_lost(struct wire_protocol *p, const struct wire_error *err)
{
    (void)p;
    double secs = now() - start;
    if (err != NULL)
        fprintf(stderr, "wire_bulk_recv: %s\n", err->message);
    printf("bytes=%llu seconds=%.6f MB/s=%.1f\n", count, secs,
           (double)count / 1e6 / secs);
    fflush(stdout);
    wire_server_free(server);
    server = NULL;
}

static void
c_destroy(struct wire_protocol *p)
{
    free(p);
}

static const struct wire_protocol_ops counter_ops = {
    .connection_made = c_made,
    .data_received = c_data,
    .connection_lost = c_lost,
    .destroy = c_destroy,
};

static struct wire_protocol *
counter_new(void *arg)
{
    (void)arg;
    struct counter *c = calloc(1, sizeof(*c));
    if (c != NULL)
        wire_protocol_init(&c->base, &counter_ops);
    return c != NULL ? &c->base : NULL;
}

int
main(void)
{
    struct wire_loop *loop = wire_loop_new();
    struct wire_error err = {0};
    alarm(120);
    if (loop == NULL ||
        wire_listen(loop, "tcp://127.0.0.1:0", counter_new, NULL, NULL, &server,
                    &err) < 0) {
        fprintf(stderr, "wire_bulk_recv: %s\n", err.message ? err.message : "loop");
        return 1;
    }
    const char *addr = wire_server_address(server);
    printf("port %s\n", strrchr(addr, ':') + 1);
    fflush(stdout);
    wire_loop_run(loop);
    wire_loop_free(loop);
    return 0;
}
