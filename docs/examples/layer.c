/*
 * Guide example (docs/layers.md): writing a layer.
 *
 * "rot13" is a complete layer: a protocol to the transport below and a
 * transport to the protocol above, written with the layer helper of
 * <wire/transport_impl.h>.  It rotates letters by 13 both ways and leaves
 * every other byte alone.  Flow control, EOF, close, abort and get_info
 * cross it without a line of its own.
 *
 * main() serves a greeter on tcp://127.0.0.1:0 with the stack
 *
 *     greeter (lines protocol form)  ->  rot13  ->  tcp
 *
 * and talks to it twice with a lines client: over rot13 (it reads plain
 * text), and without (it must read ROT13: what travels on the wire).
 * Exit status 0 only if both got the right answers and every layer was
 * freed.
 */
#include <wire/wire.h>
#include <wire/transport_impl.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---- the layer ---- */

struct rot13 {
    struct wire_layer base; /* first: the helper's part */
};

static int live_layers;

static void
rot13_copy(char *dst, const char *src, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        char c = src[i];
        if ((c >= 'a' && c <= 'm') || (c >= 'A' && c <= 'M'))
            c = (char)(c + 13);
        else if ((c >= 'n' && c <= 'z') || (c >= 'N' && c <= 'Z'))
            c = (char)(c - 13);
        dst[i] = c;
    }
}

/* Bytes from below: translate, pass up.  The helper holds what the
 * protocol above is not ready for (it paused reading). */
static int
rot13_recv(struct wire_layer *l, const void *data, size_t len)
{
    const char *d = data;
    char buf[4096];
    while (len > 0) {
        size_t n = len < sizeof(buf) ? len : sizeof(buf);
        rot13_copy(buf, d, n);
        if (wire_layer_deliver(l, buf, n) < 0)
            break; /* the protocol above is closing: drop the rest */
        d += n;
        len -= n;
    }
    return 0;
}

/* Bytes from above: translate, send below (which copies what it
 * queues).  Return how many bytes of `iov` were consumed. */
static ssize_t
rot13_send(struct wire_layer *l, const struct iovec *iov, int iovcnt)
{
    char buf[4096];
    size_t total = 0;
    for (int i = 0; i < iovcnt; i++) {
        const char *d = iov[i].iov_base;
        for (size_t off = 0; off < iov[i].iov_len; off += sizeof(buf)) {
            size_t n = iov[i].iov_len - off;
            if (n > sizeof(buf))
                n = sizeof(buf);
            rot13_copy(buf, d + off, n);
            struct iovec one = {buf, n};
            int rc = wire_layer_send(l, &one, 1);
            if (rc < 0)
                return rc;
            total += n;
        }
    }
    return (ssize_t)total;
}

static void
rot13_destroy(struct wire_layer *l)
{
    free(l);
    live_layers--;
}

static const struct wire_layer_ops rot13_ops = {
    /* Half-close works when the transport below can. */
    .transport = WIRE_LAYER_TRANSPORT_OPS("rot13", WIRE_CAP_HALF_CLOSE_IF_LOWER),
    .recv = rot13_recv,
    .send = rot13_send,
    .destroy = rot13_destroy,
};

/* A rot13 layer over `upper`, which it owns from now on (also on error).
 * Returns the protocol to give to the transport below. */
static struct wire_protocol *
rot13_layer_new(struct wire_protocol *upper)
{
    struct rot13 *r = upper != NULL ? calloc(1, sizeof(*r)) : NULL;
    if (r == NULL) {
        wire_protocol_destroy(upper);
        return NULL;
    }
    live_layers++;
    return wire_layer_init(&r->base, &rot13_ops, upper);
}

/* ---- the greeter: "NAME" in, "hello, NAME" out, one line each ---- */

static void
greet(void *arg, struct wire_transport *t, const void *data, size_t len)
{
    (void)arg;
    wire_line_writef(t, "hello, %.*s", (int)len, (const char *)data);
}

/* The server's factory builds the whole stack, top-down. */
static struct wire_protocol *
greeter_stack(void *arg)
{
    static const struct wire_message_handler h = {.message = greet};
    struct wire_chunk_opts o;
    (void)arg;
    wire_lines_opts_init(&o, false, false);
    return rot13_layer_new(wire_chunk_protocol_new(&o, &h, NULL, NULL));
}

/* ---- two clients: the same lines protocol, with and without rot13 ---- */

struct client {
    const char *say[3]; /* lines to send, NULL-terminated */
    const char *want;   /* the answers expected, each followed by '|' */
    char got[256];
    bool done, clean;
};

static void
client_open(void *arg, struct wire_transport *t)
{
    struct client *c = arg;
    for (int i = 0; c->say[i] != NULL; i++)
        wire_line_write(t, c->say[i]);
    wire_transport_write_eof(t); /* crosses rot13 (if any) down to TCP */
}

static void
client_message(void *arg, struct wire_transport *t, const void *data, size_t len)
{
    struct client *c = arg;
    size_t have = strlen(c->got);
    (void)t;
    snprintf(c->got + have, sizeof(c->got) - have, "%.*s|", (int)len,
             (const char *)data);
}

static void
client_closed(void *arg, const struct wire_error *err)
{
    struct client *c = arg;
    c->done = true;
    c->clean = err == NULL;
}

static bool
run_client(struct wire_loop *loop, const char *address, struct client *c,
           bool with_rot13)
{
    static const struct wire_message_handler h = {
        .open = client_open, .message = client_message, .closed = client_closed};
    struct wire_chunk_opts o;
    struct wire_error err = {0};
    wire_lines_opts_init(&o, false, false);
    struct wire_protocol *p = wire_chunk_protocol_new(&o, &h, c, NULL);
    if (with_rot13)
        p = rot13_layer_new(p); /* top-down: lines, then rot13 under it */
    if (p == NULL || wire_connect(loop, address, p, NULL, NULL, NULL, &err) < 0) {
        fprintf(stderr, "layer: cannot connect: %s\n",
                err.message ? err.message : "out of memory");
        wire_error_clear(&err);
        wire_protocol_destroy(p); /* still ours after an error */
        return false;
    }
    bool ok = wire_loop_run_until(loop, &c->done, 2000) == 0 && c->clean &&
              strcmp(c->got, c->want) == 0;
    printf("layer: %-13s sent '%s', got '%s': %s\n",
           with_rot13 ? "with rot13" : "without rot13", c->say[0], c->got,
           ok ? "ok" : "FAILED");
    return ok;
}

static void
set_flag(void *arg)
{
    *(bool *)arg = true;
}

int
main(void)
{
    /* Outcomes outlive the client protocols: static. */
    static struct client plain = {{"alice", "bob", NULL},
                                  "hello, alice|hello, bob|", "", false, false};
    static struct client raw = {{"nyvpr", NULL, NULL}, /* "alice" in ROT13 */
                                "uryyb, nyvpr|", "", false, false};
    struct wire_loop *loop = wire_loop_new();
    struct wire_server *server = NULL;
    struct wire_error err = {0};
    if (loop == NULL || wire_listen(loop, "tcp://127.0.0.1:0", greeter_stack,
                                    NULL, NULL, &server, &err) < 0) {
        fprintf(stderr, "layer: cannot listen: %s\n",
                err.message ? err.message : "no loop");
        wire_error_clear(&err);
        wire_loop_free(loop);
        return 1;
    }
    const char *address = wire_server_address(server);
    /* With rot13 the client reads plain text; without, it must see ROT13:
     * that is what travels on the wire. */
    bool ok = run_client(loop, address, &plain, true);
    ok = run_client(loop, address, &raw, false) && ok;

    bool closed = false;
    wire_server_shutdown(server, 1000, set_flag, &closed);
    if (wire_loop_run_until(loop, &closed, 2000) != 0)
        ok = false;
    wire_server_free(server);
    wire_loop_free(loop);
    if (live_layers != 0) {
        fprintf(stderr, "layer: FAILED: %d layers not freed\n", live_layers);
        ok = false;
    }
    return ok ? 0 : 1;
}
