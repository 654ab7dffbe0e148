/*
 * Guide example (docs/transports.md): writing a transport.
 *
 * "twin": two transports joined in one process, what one side writes
 * delivered to the other from the loop.  An inbox holds only TWIN_CAP
 * bytes, so writes are taken in part and the core queues the rest and
 * flushes it when the twin calls wire_impl_writable.  main() carries the
 * lines protocol of <wire/framing.h> over it: the client sends three
 * lines (one much longer than an inbox), half-closes, and checks the
 * answers.  Exit status 0 only if the answers are right, the core did
 * queue, and both transports were freed.
 */
#include <wire/wire.h>
#include <wire/transport_impl.h>

#include <errno.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define TWIN_CAP 16 /* bytes an inbox holds: tiny on purpose */

struct twin {
    struct wire_transport base; /* first: the core's part */
    struct twin *peer;          /* NULL once either side closed */
    char inbox[TWIN_CAP];       /* written by the peer, not yet delivered */
    size_t len;
    bool eof, reset;            /* the peer shut its write side / aborted */
    bool reading, want_write;   /* what the core asked for */
    struct wire_soon deliver;   /* deliver_run, on a later turn */
    struct wire_protocol *proto;/* until started */
};

static int live_twins;
static bool twins_freed;

/* From the embedded node back to the twin. */
#define TWIN_OF(node) wire_container_of(node, struct twin, deliver)

static void
schedule_deliver(struct twin *s)
{
    if (s->deliver.queued)
        return;
    wire_transport_ref(&s->base); /* keep s alive until deliver_run */
    wire_impl_defer(&s->base, &s->deliver);
}

static void
deliver_run(struct wire_soon *node)
{
    struct twin *s = TWIN_OF(node);
    struct wire_transport *t = &s->base;
    if (s->reset && wire_impl_is_active(t)) {
        s->reset = false;
        s->len = 0;
        wire_impl_fail(t, -ECONNRESET, "twin: connection reset by peer");
    }
    while (s->reading && s->len > 0 && wire_impl_is_active(t)) {
        char buf[TWIN_CAP];
        size_t n = s->len;
        memcpy(buf, s->inbox, n);
        s->len = 0;
        wire_impl_data(t, buf, n); /* the protocol may close or pause here */
        if (s->peer != NULL && s->peer->want_write)
            wire_impl_writable(&s->peer->base); /* room again: peer flushes */
    }
    if (s->reading && s->len == 0 && s->eof && wire_impl_is_active(t)) {
        s->eof = false;
        wire_impl_eof(t);
    }
    wire_transport_unref(t);
}

static void
twin_read_start(struct wire_transport *t)
{
    struct twin *s = (struct twin *)t;
    s->reading = true;
    if (s->len > 0 || s->eof || s->reset)
        schedule_deliver(s);
}

static void
twin_read_stop(struct wire_transport *t)
{
    ((struct twin *)t)->reading = false;
}

/* Take what fits in the peer's inbox; 0 means "would block". */
static ssize_t
twin_write(struct wire_transport *t, const struct iovec *iov, int iovcnt)
{
    struct twin *peer = ((struct twin *)t)->peer;
    if (peer == NULL)
        return -EPIPE; /* fatal: the core reports it to connection_lost */
    size_t taken = 0;
    for (int i = 0; i < iovcnt && peer->len < TWIN_CAP; i++) {
        size_t n = TWIN_CAP - peer->len;
        if (n > iov[i].iov_len)
            n = iov[i].iov_len;
        memcpy(peer->inbox + peer->len, iov[i].iov_base, n);
        peer->len += n;
        taken += n;
    }
    if (taken > 0 && peer->reading)
        schedule_deliver(peer);
    return (ssize_t)taken;
}

static void
twin_want_write(struct wire_transport *t, bool on)
{
    ((struct twin *)t)->want_write = on;
}

static int
twin_shutdown_write(struct wire_transport *t)
{
    struct twin *peer = ((struct twin *)t)->peer;
    if (peer != NULL) {
        peer->eof = true; /* after every byte: the core flushed first */
        if (peer->reading)
            schedule_deliver(peer);
    }
    return 0;
}

static void
twin_close(struct wire_transport *t, bool abort)
{
    struct twin *s = (struct twin *)t, *peer = s->peer;
    if (peer == NULL)
        return;
    if (abort)
        peer->reset = true;
    else
        peer->eof = true;
    peer->peer = NULL;
    s->peer = NULL;
    if (peer->reading || abort)
        schedule_deliver(peer);
}

static int
twin_get_info(struct wire_transport *t, int key, void *out, size_t len)
{
    (void)t;
    if (key == WIRE_INFO_PEER || key == WIRE_INFO_LOCAL)
        return wire_impl_info_string(out, len, "twin:");
    return WIRE_ENOTSUP;
}

static void
twin_free(struct wire_transport *t)
{
    free(t);
    if (--live_twins == 0)
        twins_freed = true;
}

static const struct wire_transport_ops twin_ops = {
    .name = "twin",
    .caps = WIRE_CAP_HALF_CLOSE | WIRE_CAP_RESET | WIRE_CAP_EOF,
    .read_start = twin_read_start,
    .read_stop = twin_read_stop,
    .write = twin_write,
    .want_write = twin_want_write,
    .shutdown_write = twin_shutdown_write,
    .close = twin_close,
    .get_info = twin_get_info,
    .free = twin_free,
};

static void
start_both(void *arg)
{
    struct twin *a = arg, *b = a->peer; /* a may close in connection_made */
    wire_impl_start(&a->base, a->proto); /* connection_made, then reading */
    wire_impl_start(&b->base, b->proto);
}

/* Join `pa` and `pb`; both start from the loop.  The twins own them. */
static int
twin_pair(struct wire_loop *loop, struct wire_protocol *pa,
          struct wire_protocol *pb, struct wire_transport **ta)
{
    struct twin *a = calloc(1, sizeof(*a)), *b = calloc(1, sizeof(*b));
    if (a == NULL || b == NULL || wire_loop_call_soon(loop, start_both, a) < 0) {
        free(a);
        free(b);
        return WIRE_ENOMEM; /* the protocols stay the caller's */
    }
    struct twin *side[2] = {a, b};
    struct wire_protocol *proto[2] = {pa, pb};
    for (int i = 0; i < 2; i++) {
        wire_impl_init(&side[i]->base, &twin_ops, loop);
        side[i]->peer = side[1 - i];
        side[i]->proto = proto[i];
        side[i]->deliver.fn = deliver_run;
        live_twins++;
    }
    *ta = &a->base;
    return 0;
}

/* ---- an existing protocol over it ---- */

static struct wire_transport *client_twin; /* valid until its lost */
static size_t queued_by_core;
static char answers[512], peer_name[32];
static bool client_clean;

static void
client_open(void *arg, struct wire_transport *t)
{
    (void)arg;
    wire_transport_get_info(t, WIRE_INFO_PEER, peer_name, sizeof(peer_name));
    wire_line_write(t, "short");
    wire_line_write(t, "a line of 61 bytes, far more than the 16 an inbox holds, see?");
    wire_line_write(t, "done");
    queued_by_core = wire_transport_get_write_buffer_size(client_twin);
    wire_transport_write_eof(t);
}

static void
client_message(void *arg, struct wire_transport *t, const void *data, size_t len)
{
    size_t have = strlen(answers);
    (void)arg;
    (void)t;
    snprintf(answers + have, sizeof(answers) - have, "%.*s|", (int)len,
             (const char *)data);
}

static void
client_closed(void *arg, const struct wire_error *err)
{
    (void)arg;
    client_clean = err == NULL;
}

static void
server_message(void *arg, struct wire_transport *t, const void *data, size_t len)
{
    (void)arg;
    (void)data;
    wire_line_writef(t, "%zu bytes", len); /* one answer per line */
}

int
main(void)
{
    static const struct wire_message_handler client = {
        .open = client_open, .message = client_message, .closed = client_closed};
    static const struct wire_message_handler server = {.message = server_message};
    struct wire_chunk_opts o;
    wire_lines_opts_init(&o, false, false);
    struct wire_loop *loop = wire_loop_new();
    struct wire_protocol *pc = wire_chunk_protocol_new(&o, &client, NULL, NULL);
    struct wire_protocol *ps = wire_chunk_protocol_new(&o, &server, NULL, NULL);
    if (loop == NULL || pc == NULL || ps == NULL ||
        twin_pair(loop, pc, ps, &client_twin) < 0) {
        fprintf(stderr, "transport: FAILED: setup\n");
        return 1;
    }
    int rc = wire_loop_run_until(loop, &twins_freed, 2000);
    wire_loop_free(loop);
    bool ok = rc == 0 && client_clean && queued_by_core > 0 &&
              strcmp(answers, "5 bytes|61 bytes|4 bytes|") == 0 &&
              strcmp(peer_name, "twin:") == 0;
    printf("transport: %s: answers '%s', %zu bytes queued by the core, "
           "peer '%s'\n", ok ? "ok" : "FAILED", answers, queued_by_core,
           peer_name);
    return ok ? 0 : 1;
}
