/*
 * The string transport: sans-I/O.  No loop and no handle: the test feeds
 * input, reads what the protocol wrote, and steps deferred work by hand.
 * It is the bottom of a loop-less stack, so layers above it defer through
 * it (struct wire_transport_ops.defer) and one wire_string_transport_step()
 * runs the whole stack's pending work.
 */
#include "../lib/internal.h"

#include <wire/string_transport.h>

#include <errno.h>
#include <event2/buffer.h>
#include <stdlib.h>
#include <string.h>

struct string_transport {
    struct wire_transport base;
    struct evbuffer *output;
    struct evbuffer *held; /* fed while paused */
    size_t capacity;
    bool eof_fed, eof_pending;
    bool reading, want_write;
    bool eof_written, closed, aborted;
    bool delivering; /* a feed is being delivered in place */
    struct wire_soon *pend_head, *pend_tail;
    struct wire_soon resume; /* deliver held input after a resume */
};

static struct string_transport *
st_of(struct wire_transport *t)
{
    return (struct string_transport *)t;
}

static void
st_defer(struct wire_transport *t, struct wire_soon *node)
{
    struct string_transport *s = st_of(t);
    if (node->queued)
        return;
    node->queued = true;
    node->next = NULL;
    if (s->pend_tail != NULL)
        s->pend_tail->next = node;
    else
        s->pend_head = node;
    s->pend_tail = node;
}

/* Deliver held input (and a fed EOF) while the protocol reads. */
static void
deliver_held(struct string_transport *s)
{
    struct wire_transport *t = &s->base;
    while (s->reading && evbuffer_get_length(s->held) > 0 && wire_impl_is_active(t)) {
        size_t n = evbuffer_get_length(s->held);
        size_t len = 0;
        void *buf = NULL;
        if (t->protocol->ops->get_buffer != NULL)
            buf = wire_impl_read_buffer(t, &len);
        if (buf != NULL) {
            size_t c = n < len ? n : len;
            evbuffer_remove(s->held, buf, c);
            wire_impl_read_done(t, buf, c);
            continue;
        }
        unsigned char *p = evbuffer_pullup(s->held, (ssize_t)n);
        /* Copy out first: the protocol may feed more (re-entrantly) while
         * it runs, which would move the pulled-up bytes. */
        unsigned char *copy = malloc(n);
        if (copy == NULL) {
            wire_impl_fail(t, WIRE_ENOMEM, "out of memory");
            return;
        }
        memcpy(copy, p, n);
        evbuffer_drain(s->held, n);
        wire_impl_data(t, copy, n);
        free(copy);
    }
    if (s->reading && s->eof_pending && evbuffer_get_length(s->held) == 0 &&
        wire_impl_is_active(t)) {
        s->eof_pending = false;
        wire_impl_eof(t);
    }
}

static void
resume_run(struct wire_soon *node)
{
    struct string_transport *s = wire_container_of(node, struct string_transport,
                                                   resume);
    deliver_held(s);
}

static void
st_read_start(struct wire_transport *t)
{
    struct string_transport *s = st_of(t);
    s->reading = true;
    if (evbuffer_get_length(s->held) > 0 || s->eof_pending)
        st_defer(t, &s->resume);
}

static void
st_read_stop(struct wire_transport *t)
{
    st_of(t)->reading = false;
}

static ssize_t
st_write(struct wire_transport *t, const struct iovec *iov, int iovcnt)
{
    struct string_transport *s = st_of(t);
    size_t taken = 0;
    for (int i = 0; i < iovcnt; i++) {
        size_t n = iov[i].iov_len;
        if (s->capacity != SIZE_MAX) {
            size_t room = s->capacity - taken;
            if (n > room)
                n = room;
        }
        if (n == 0) {
            if (iov[i].iov_len == 0)
                continue; /* an empty buffer: the next one may still fit */
            break;
        }
        if (evbuffer_add(s->output, iov[i].iov_base, n) != 0)
            return WIRE_ENOMEM;
        taken += n;
    }
    if (s->capacity != SIZE_MAX)
        s->capacity -= taken;
    return (ssize_t)taken;
}

static void
st_want_write(struct wire_transport *t, bool on)
{
    st_of(t)->want_write = on;
}

static int
st_shutdown_write(struct wire_transport *t)
{
    st_of(t)->eof_written = true;
    return 0;
}

static void
st_close(struct wire_transport *t, bool abort)
{
    struct string_transport *s = st_of(t);
    s->closed = true;
    s->aborted = abort;
}

static int
st_get_info(struct wire_transport *t, int key, void *out, size_t len)
{
    WIRE_UNUSED(t);
    if (key != WIRE_INFO_PEER && key != WIRE_INFO_LOCAL)
        return WIRE_ENOTSUP;
    return wire_impl_info_string(out, len, "string:");
}

static void
st_free(struct wire_transport *t)
{
    struct string_transport *s = st_of(t);
    evbuffer_free(s->output);
    evbuffer_free(s->held);
    free(s);
}

static const struct wire_transport_ops string_ops = {
    .name = "string",
    .caps = WIRE_CAP_HALF_CLOSE | WIRE_CAP_RESET | WIRE_CAP_EOF,
    .read_start = st_read_start,
    .read_stop = st_read_stop,
    .write = st_write,
    .want_write = st_want_write,
    .shutdown_write = st_shutdown_write,
    .close = st_close,
    .get_info = st_get_info,
    .free = st_free,
    .defer = st_defer,
};

struct wire_transport *
wire_string_transport_new(struct wire_protocol *p)
{
    struct string_transport *s = calloc(1, sizeof(*s));
    if (s == NULL)
        return NULL;
    s->output = evbuffer_new();
    s->held = evbuffer_new();
    if (s->output == NULL || s->held == NULL) {
        if (s->output)
            evbuffer_free(s->output);
        if (s->held)
            evbuffer_free(s->held);
        free(s);
        return NULL;
    }
    wire_impl_init(&s->base, &string_ops, NULL);
    s->capacity = SIZE_MAX;
    s->resume.fn = resume_run;
    wire_transport_ref(&s->base); /* the caller's reference */
    wire_impl_start(&s->base, p);
    return &s->base;
}

int
wire_string_transport_step(struct wire_transport *t)
{
    struct string_transport *s = st_of(t);
    int n = 0;
    wire_transport_ref(t);
    /* Run until quiet; work queued while running runs too (it is what a
     * loop's next turns would do), bounded to catch a runaway. */
    for (int round = 0; round < 10000 && s->pend_head != NULL; round++) {
        struct wire_soon *node = s->pend_head;
        s->pend_head = node->next;
        if (s->pend_head == NULL)
            s->pend_tail = NULL;
        node->next = NULL;
        node->queued = false;
        node->fn(node);
        n++;
    }
    wire_transport_unref(t);
    return n;
}

void
wire_string_transport_free(struct wire_transport *t)
{
    if (t == NULL)
        return;
    if (wire_impl_is_active(t))
        wire_transport_abort(t);
    wire_string_transport_step(t);
    wire_transport_unref(t);
}

/* Deliver the caller's bytes as a socket would: copied into the buffers
 * a get_buffer protocol offers, one read per buffer, while it reads; a
 * read it offers no buffer for takes the rest in place, as one
 * data_received.  Returns how many bytes went up. */
static size_t
feed_buffers(struct string_transport *s, const unsigned char *data, size_t len)
{
    struct wire_transport *t = &s->base;
    size_t off = 0;
    while (off < len && s->reading && wire_impl_is_active(t) &&
           evbuffer_get_length(s->held) == 0) {
        size_t n = 0;
        void *buf = wire_impl_read_buffer(t, &n);
        if (buf == NULL) {
            wire_impl_data(t, data + off, len - off);
            return len;
        }
        if (n > len - off)
            n = len - off;
        memcpy(buf, data + off, n);
        off += n;
        wire_impl_read_done(t, buf, n);
    }
    return off;
}

int
wire_string_transport_feed(struct wire_transport *t, const void *data, size_t len)
{
    struct string_transport *s = st_of(t);
    if (s->eof_fed || !wire_impl_is_active(t) || (t->flags & WIRE_T_CLOSING))
        return WIRE_ECLOSED;
    wire_transport_ref(t);
    if (len > 0 && s->reading && !s->delivering &&
        evbuffer_get_length(s->held) == 0) {
        /* Nothing waits before these bytes: hand the caller's buffer up
         * as one read, without copying it (it is valid for the call), or
         * copy it into the protocol's own buffers.  A feed from inside
         * the protocol takes the queued path below. */
        s->delivering = true;
        size_t off = len;
        if (t->protocol->ops->get_buffer == NULL)
            wire_impl_data(t, data, len);
        else
            off = feed_buffers(s, data, len);
        s->delivering = false;
        /* What the protocol did not take (it paused, or a feed from
         * inside it queued bytes, which come after these) waits. */
        int rc = 0;
        if (off < len &&
            evbuffer_prepend(s->held, (const char *)data + off, len - off) != 0)
            rc = WIRE_ENOMEM;
        deliver_held(s);
        wire_transport_unref(t);
        return rc;
    }
    if (evbuffer_add(s->held, data, len) != 0) {
        wire_transport_unref(t);
        return WIRE_ENOMEM;
    }
    deliver_held(s);
    wire_transport_unref(t);
    return 0;
}

int
wire_string_transport_feed_split(struct wire_transport *t, const void *data,
                                 size_t len, size_t chunk)
{
    const char *p = data;
    if (chunk == 0)
        chunk = 1;
    for (size_t off = 0; off < len; off += chunk) {
        size_t n = len - off < chunk ? len - off : chunk;
        int rc = wire_string_transport_feed(t, p + off, n);
        if (rc < 0)
            return rc;
    }
    return 0;
}

int
wire_string_transport_feed_eof(struct wire_transport *t)
{
    struct string_transport *s = st_of(t);
    if (s->eof_fed || !wire_impl_is_active(t))
        return WIRE_ECLOSED;
    s->eof_fed = true;
    s->eof_pending = true;
    wire_transport_ref(t);
    deliver_held(s);
    wire_transport_unref(t);
    return 0;
}

int
wire_string_transport_feed_error(struct wire_transport *t, int code,
                                 const char *msg)
{
    if (!wire_impl_is_active(t))
        return WIRE_ECLOSED;
    wire_impl_fail(t, code, "%s", msg != NULL ? msg : wire_strerror(code));
    return 0;
}

const void *
wire_string_transport_output(const struct wire_transport *t, size_t *len)
{
    struct string_transport *s = (struct string_transport *)(uintptr_t)t;
    size_t n = evbuffer_get_length(s->output);
    if (len != NULL)
        *len = n;
    return n ? (const void *)evbuffer_pullup(s->output, -1) : (const void *)"";
}

void
wire_string_transport_clear_output(struct wire_transport *t)
{
    struct string_transport *s = st_of(t);
    evbuffer_drain(s->output, evbuffer_get_length(s->output));
}

void
wire_string_transport_set_capacity(struct wire_transport *t, size_t capacity)
{
    struct string_transport *s = st_of(t);
    s->capacity = capacity;
    if (s->want_write && capacity > 0) {
        wire_transport_ref(t);
        wire_impl_writable(t);
        wire_transport_unref(t);
    }
}

bool
wire_string_transport_eof_written(const struct wire_transport *t)
{
    return ((const struct string_transport *)t)->eof_written;
}

bool
wire_string_transport_closed(const struct wire_transport *t)
{
    return ((const struct string_transport *)t)->closed;
}

bool
wire_string_transport_aborted(const struct wire_transport *t)
{
    return ((const struct string_transport *)t)->aborted;
}
