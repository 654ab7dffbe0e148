/*
 * demo — libwire in one page: one protocol, five transports.
 *
 * A line-based calculator.  The client sends "add 2 3\n", the server
 * answers "5\n".  Each side is an ordinary protocol: a struct that starts
 * with struct wire_protocol, and a table of callbacks.  Neither knows what
 * carries its bytes.
 *
 * main() serves and calls the very same code over TCP, TCP over IPv6, a
 * Unix socket, an abstract Unix socket and the in-memory pair, one after
 * the other, all in this process on one loop.  Only the endpoint string
 * changes.  Each client makes CALLS calls, checks every answer, and main
 * prints one row per transport.  Exit status 0 only if every row is ok.
 */
#include <wire/wire.h>

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define CALLS 1000
#define LINE_LEN 64 /* the longest line either side accepts */

/* ---- both sides speak in lines ---- */

struct lines {
    char buf[LINE_LEN];
    size_t len;
};

/* Add received bytes; call `on_line` for each complete line, without its
 * '\n'.  Returns false when a line is too long. */
static bool
lines_feed(struct lines *l, const char *data, size_t len,
           void (*on_line)(struct wire_protocol *p, char *line),
           struct wire_protocol *p)
{
    for (size_t i = 0; i < len; i++) {
        if (data[i] != '\n') {
            if (l->len == sizeof(l->buf) - 1)
                return false;
            l->buf[l->len++] = data[i];
            continue;
        }
        l->buf[l->len] = '\0';
        l->len = 0;
        on_line(p, l->buf);
    }
    return true;
}

/* ---- the server: "OP A B" in, the result out ---- */

struct calc_server {
    struct wire_protocol base; /* first: libwire sees only this */
    struct lines in;
};

static void
server_line(struct wire_protocol *p, char *line)
{
    char op[8], out[LINE_LEN];
    long long a, b;
    if (sscanf(line, "%7s %lld %lld", op, &a, &b) != 3)
        snprintf(out, sizeof(out), "error: expected 'OP A B'\n");
    else if (a < -1000000000 || a > 1000000000 || b < -1000000000 ||
             b > 1000000000)
        snprintf(out, sizeof(out), "error: numbers are limited to 10^9\n");
    else if (strcmp(op, "add") == 0)
        snprintf(out, sizeof(out), "%lld\n", a + b);
    else if (strcmp(op, "sub") == 0)
        snprintf(out, sizeof(out), "%lld\n", a - b);
    else if (strcmp(op, "mul") == 0)
        snprintf(out, sizeof(out), "%lld\n", a * b);
    else
        snprintf(out, sizeof(out), "error: unknown operation '%s'\n", op);
    /* p->transport is whatever carries this connection. */
    wire_transport_write(p->transport, out, strlen(out));
}

static void
server_data(struct wire_protocol *p, const void *data, size_t len)
{
    struct calc_server *s = (struct calc_server *)p;
    if (!lines_feed(&s->in, data, len, server_line, p)) {
        static const char msg[] = "error: line too long\n";
        wire_transport_write(p->transport, msg, sizeof(msg) - 1);
        wire_transport_close(p->transport); /* flushes the message first */
    }
}

static void
server_destroy(struct wire_protocol *p)
{
    free(p);
}

/* No eof_received: at the client's EOF the server closes, after it has
 * sent everything it wrote. */
static const struct wire_protocol_ops server_ops = {
    .data_received = server_data,
    .destroy = server_destroy,
};

/* The server's factory: one protocol per accepted connection. */
static struct wire_protocol *
server_new(void *arg)
{
    (void)arg;
    struct calc_server *s = calloc(1, sizeof(*s));
    if (s == NULL)
        return NULL; /* refuses the connection */
    wire_protocol_init(&s->base, &server_ops);
    return &s->base;
}

/* ---- the client: CALLS calls, one at a time, each answer checked ---- */

struct run {                /* the outcome of one client, kept by main */
    int answered;           /* right answers */
    bool failed;
    bool finished;          /* the connection is over */
    double start_us, end_us;
    char why[200];
};

struct calc_client {
    struct wire_protocol base;
    struct lines in;
    struct run *run;
    int sent;
    long long expect;
};

static double
now_us(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec * 1e6 + (double)ts.tv_nsec / 1e3;
}

static void
fail(struct run *run, const char *why)
{
    if (!run->failed)
        snprintf(run->why, sizeof(run->why), "%s", why);
    run->failed = true;
}

static void
client_send(struct calc_client *c)
{
    static const char *const ops[] = {"add", "sub", "mul"};
    int k = c->sent % 3;
    long long a = c->sent * 7 + 1, b = c->sent % 13 - 6;
    c->expect = k == 0 ? a + b : k == 1 ? a - b : a * b;
    char line[LINE_LEN];
    int n = snprintf(line, sizeof(line), "%s %lld %lld\n", ops[k], a, b);
    c->sent++;
    wire_transport_write(c->base.transport, line, (size_t)n);
}

static void
client_made(struct wire_protocol *p, struct wire_transport *t)
{
    struct calc_client *c = (struct calc_client *)p;
    (void)t;
    c->run->start_us = now_us();
    client_send(c);
}

static void
client_line(struct wire_protocol *p, char *line)
{
    struct calc_client *c = (struct calc_client *)p;
    if (wire_transport_is_closing(p->transport))
        return;
    char *end;
    long long v = strtoll(line, &end, 10);
    if (end == line || *end != '\0' || v != c->expect) {
        char why[200];
        snprintf(why, sizeof(why), "call %d: expected %lld, got '%.80s'",
                 c->sent, c->expect, line);
        fail(c->run, why);
        wire_transport_close(p->transport);
        return;
    }
    if (++c->run->answered < CALLS) {
        client_send(c);
        return;
    }
    c->run->end_us = now_us();
    wire_transport_close(p->transport); /* all done: hang up */
}

static void
client_data(struct wire_protocol *p, const void *data, size_t len)
{
    struct calc_client *c = (struct calc_client *)p;
    if (!lines_feed(&c->in, data, len, client_line, p)) {
        fail(c->run, "answer too long");
        wire_transport_close(p->transport);
    }
}

static void
client_lost(struct wire_protocol *p, const struct wire_error *err)
{
    struct calc_client *c = (struct calc_client *)p;
    if (err != NULL)
        fail(c->run, err->message);
    if (c->run->answered < CALLS)
        fail(c->run, "connection closed early");
    c->run->finished = true;
}

static void
client_destroy(struct wire_protocol *p)
{
    free(p);
}

static const struct wire_protocol_ops client_ops = {
    .connection_made = client_made,
    .data_received = client_data,
    .connection_lost = client_lost,
    .destroy = client_destroy,
};

/* A failed connect never reaches the protocol: it is reported here. */
static void
on_connect(void *arg, struct wire_transport *t, const struct wire_error *err)
{
    struct run *run = arg;
    (void)t;
    if (err != NULL) {
        fail(run, err->message);
        run->finished = true;
    }
}

/* ---- main: the same two protocols over every transport ---- */

static void
set_flag(void *arg)
{
    *(bool *)arg = true;
}

/* Serve `endpoint`, make CALLS calls to it, print one row.  Returns false
 * when the row is not ok. */
static bool
run_stack(struct wire_loop *loop, const char *name, const char *endpoint,
          struct run *run)
{
    struct wire_server *server;
    struct wire_error err = {0};
    if (wire_listen(loop, endpoint, server_new, NULL, NULL, &server, &err) < 0) {
        bool no_v6 = strstr(endpoint, "[::1]") != NULL &&
                     (err.code == -EADDRNOTAVAIL || err.code == -EAFNOSUPPORT);
        if (no_v6)
            printf("%-9s %-40s %5s  skip (no ::1)\n", name, endpoint, "-");
        else
            printf("%-9s %-40s %5d  FAIL    (%s)\n", name, endpoint, 0,
                   err.message);
        wire_error_clear(&err);
        return no_v6;
    }
    /* The address with the real port (for :0) is where the client goes. */
    const char *address = wire_server_address(server);
    struct calc_client *c = calloc(1, sizeof(*c));
    if (c == NULL) {
        fail(run, "out of memory");
    } else {
        wire_protocol_init(&c->base, &client_ops);
        c->run = run;
        if (wire_connect(loop, address, &c->base, NULL, on_connect, run,
                         &err) < 0) {
            fail(run, err.message);
            wire_error_clear(&err);
            wire_protocol_destroy(&c->base); /* still ours after an error */
        } else if (wire_loop_run_until(loop, &run->finished, 5000) != 0) {
            fail(run, "did not finish within 5 s");
        }
    }
    bool closed = false;
    wire_server_shutdown(server, 1000, set_flag, &closed);
    wire_loop_run_until(loop, &closed, 5000);
    printf("%-9s %-40s %5d  %-6s", name, address, run->answered,
           run->failed ? "FAIL" : "ok");
    if (run->failed)
        printf("  (%s)\n", run->why);
    else
        printf("  %7.1f\n", (run->end_us - run->start_us) / CALLS);
    wire_server_free(server);
    return !run->failed;
}

int
main(void)
{
    char dir[] = "/tmp/libwire-demo-XXXXXX";
    if (mkdtemp(dir) == NULL) {
        perror("demo: mkdtemp");
        return 1;
    }
    char unix_ep[80], abstract_ep[80];
    snprintf(unix_ep, sizeof(unix_ep), "unix:%s/calc.sock", dir);
    snprintf(abstract_ep, sizeof(abstract_ep), "unix:@libwire-demo-%ld",
             (long)getpid());
    const struct {
        const char *name, *endpoint;
    } stacks[] = {
        {"tcp", "tcp://127.0.0.1:0"},
        {"tcp6", "tcp://[::1]:0"},
        {"unix", unix_ep},
        {"abstract", abstract_ep},
        {"mem", "mem:calc"},
    };
    enum { NSTACKS = sizeof(stacks) / sizeof(stacks[0]) };
    /* Outcomes live here, not on run_stack's stack: a client that timed
     * out may still hold its pointer. */
    static struct run runs[NSTACKS];

    struct wire_loop *loop = wire_loop_new();
    if (loop == NULL) {
        fprintf(stderr, "demo: cannot create the event loop\n");
        rmdir(dir);
        return 1;
    }
    printf("%-9s %-40s %5s  %-6s  µs/call\n", "transport", "endpoint",
           "calls", "result");
    bool all_ok = true;
    for (size_t i = 0; i < NSTACKS; i++)
        if (!run_stack(loop, stacks[i].name, stacks[i].endpoint, &runs[i]))
            all_ok = false;
    wire_loop_free(loop);
    rmdir(dir);
    return all_ok ? 0 : 1;
}
