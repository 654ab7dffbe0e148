/*
 * The one place that calls a protocol's callbacks, and the contract
 * checker.
 *
 * Every dispatch takes a reference on the transport around the call (Redis
 * callHandler), so a callback may close, abort or drop its own last
 * reference without the transport vanishing under the caller.  Before each
 * call the checker asserts the order every protocol may rely on (see
 * <wire/protocol.h>); a violation is a bug in a transport or in libwire,
 * so it is reported and the process aborts.
 */
#include "internal.h"

#include <string.h>

#include <stdio.h>
#include <stdlib.h>

void
wire_protocol_init(struct wire_protocol *p, const struct wire_protocol_ops *ops)
{
    p->ops = ops;
    p->transport = NULL;
    p->contract__ = 0;
}

void
wire_protocol_destroy(struct wire_protocol *p)
{
    if (p == NULL)
        return;
    wire__proto_destroy(p);
}

void
wire__contract_violation(const struct wire_protocol *p, const char *what)
{
    fprintf(stderr, "libwire: protocol contract violated (protocol %p): %s\n",
            (const void *)p, what);
    abort();
}

#if WIRE_CONTRACT_CHECKS
#define CHECK(p, cond, what)                                                  \
    do {                                                                      \
        if (!(cond))                                                          \
            wire__contract_violation((p), (what));                            \
    } while (0)
#else
#define CHECK(p, cond, what) ((void)0)
#endif

/* Callbacks of one protocol never nest, except that the calls a protocol
 * makes on its transport may synchronously deliver pause_writing /
 * resume_writing (as in asyncio).  IN_CB guards connection_lost: it must
 * never arrive while another callback of the same protocol runs. */
#define ENTER(p) unsigned saved__ = (p)->contract__ & WIRE_C_IN_CB;           \
    (p)->contract__ |= WIRE_C_IN_CB
#define LEAVE(p) (p)->contract__ = ((p)->contract__ & ~WIRE_C_IN_CB) | saved__

void
wire__proto_made(struct wire_transport *t)
{
    struct wire_protocol *p = t->protocol;
    CHECK(p, !(p->contract__ & (WIRE_C_MADE | WIRE_C_LOST | WIRE_C_DESTROYED)),
          "connection_made called twice or after connection_lost");
    p->contract__ |= WIRE_C_MADE;
    if (p->ops->connection_made == NULL)
        return;
    wire_transport_ref(t);
    ENTER(p);
    p->ops->connection_made(p, t);
    LEAVE(p);
    wire_transport_unref(t);
}

static void
check_input(const struct wire_transport *t, const struct wire_protocol *p,
            const char *what)
{
    WIRE_UNUSED(what);
    CHECK(p, p->contract__ & WIRE_C_MADE, "data before connection_made");
    CHECK(p, !(p->contract__ & WIRE_C_LOST), "data after connection_lost");
    CHECK(p, !(p->contract__ & WIRE_C_EOF), "data after eof_received");
    CHECK(p, !(t->flags & (WIRE_T_READ_PAUSED | WIRE_T_PAUSED_ALL)),
          "data while reading is paused");
    CHECK(p, !(t->flags & (WIRE_T_CLOSING | WIRE_T_LOST)),
          "data after close or abort");
}

/*
 * A protocol with get_buffer and buffer_updated but no data_received
 * (asyncio's BufferedProtocol alone): bytes that come as one piece (the
 * memory pair, a layer, hand-over bytes) are copied into its buffers, as
 * many as it takes, in the same delivery -- so a pause in one
 * buffer_updated applies after the last, as a pause inside data_received
 * does (asyncio feeds a BufferedProtocol the same way).  A protocol that
 * gives no buffer fails the connection: the bytes are never dropped
 * unseen.  Closing or handing the transport over inside buffer_updated
 * ends the delivery, as it would inside data_received.
 */
static void
data_into_buffers(struct wire_transport *t, struct wire_protocol *p,
                  const char *data, size_t len)
{
    wire_transport_ref(t);
    while (len > 0 && t->protocol == p &&
           !(t->flags & (WIRE_T_CLOSING | WIRE_T_LOST))) {
        size_t blen = 0;
        void *buf;
        {
            ENTER(p);
            buf = p->ops->get_buffer(p, len, &blen);
            LEAVE(p);
        }
        if (buf == NULL || blen == 0) {
            wire_impl_fail(t, WIRE_EPROTO,
                           "%zu bytes arrived and the protocol, which has no "
                           "data_received, gave no buffer for them", len);
            break;
        }
        size_t n = blen < len ? blen : len;
        memcpy(buf, data, n);
        {
            ENTER(p);
            p->ops->buffer_updated(p, n);
            LEAVE(p);
        }
        data += n;
        len -= n;
    }
    wire_transport_unref(t);
}

void
wire__proto_data_checked(struct wire_transport *t, const void *data,
                         size_t len)
{
    struct wire_protocol *p = t->protocol;
    check_input(t, p, "data_received");
    if (p->ops->data_received == NULL) {
        if (p->ops->get_buffer != NULL && p->ops->buffer_updated != NULL)
            data_into_buffers(t, p, data, len);
        return;
    }
    wire_transport_ref(t);
    ENTER(p);
    p->ops->data_received(p, data, len);
    LEAVE(p);
    wire_transport_unref(t);
}

void *
wire__proto_get_buffer(struct wire_transport *t, size_t hint, size_t *len)
{
    struct wire_protocol *p = t->protocol;
    check_input(t, p, "get_buffer");
    *len = 0;
    if (p->ops->get_buffer == NULL || p->ops->buffer_updated == NULL)
        return NULL;
    wire_transport_ref(t);
    ENTER(p);
    void *buf = p->ops->get_buffer(p, hint, len);
    LEAVE(p);
    wire_transport_unref(t);
    if (buf == NULL || *len == 0)
        return NULL;
    return buf;
}

void
wire__proto_buffer_updated(struct wire_transport *t, size_t n)
{
    struct wire_protocol *p = t->protocol;
    check_input(t, p, "buffer_updated");
    wire_transport_ref(t);
    ENTER(p);
    p->ops->buffer_updated(p, n);
    LEAVE(p);
    wire_transport_unref(t);
}

bool
wire__proto_eof(struct wire_transport *t)
{
    struct wire_protocol *p = t->protocol;
    CHECK(p, p->contract__ & WIRE_C_MADE, "eof before connection_made");
    CHECK(p, !(p->contract__ & (WIRE_C_LOST | WIRE_C_EOF)),
          "eof_received twice or after connection_lost");
    p->contract__ |= WIRE_C_EOF;
    if (p->ops->eof_received == NULL)
        return false;
    wire_transport_ref(t);
    ENTER(p);
    bool keep = p->ops->eof_received(p);
    LEAVE(p);
    wire_transport_unref(t);
    return keep;
}

void
wire__proto_lost(struct wire_transport *t, const struct wire_error *err)
{
    struct wire_protocol *p = t->protocol;
    CHECK(p, p->contract__ & WIRE_C_MADE, "connection_lost before connection_made");
    CHECK(p, !(p->contract__ & WIRE_C_LOST), "connection_lost twice");
    CHECK(p, !(p->contract__ & WIRE_C_IN_CB),
          "connection_lost delivered re-entrantly, inside another callback");
    p->contract__ |= WIRE_C_LOST;
    if (p->ops->connection_lost == NULL)
        return;
    wire_transport_ref(t);
    ENTER(p);
    p->ops->connection_lost(p, err);
    LEAVE(p);
    wire_transport_unref(t);
}

void
wire__proto_pause_writing(struct wire_transport *t)
{
    struct wire_protocol *p = t->protocol;
    CHECK(p, p->contract__ & WIRE_C_MADE, "pause_writing before connection_made");
    CHECK(p, !(p->contract__ & WIRE_C_LOST), "pause_writing after connection_lost");
    CHECK(p, !(p->contract__ & WIRE_C_PAUSED_W), "pause_writing twice in a row");
    p->contract__ |= WIRE_C_PAUSED_W;
    if (p->ops->pause_writing == NULL)
        return;
    wire_transport_ref(t);
    ENTER(p);
    p->ops->pause_writing(p);
    LEAVE(p);
    wire_transport_unref(t);
}

void
wire__proto_resume_writing(struct wire_transport *t)
{
    struct wire_protocol *p = t->protocol;
    CHECK(p, !(p->contract__ & WIRE_C_LOST), "resume_writing after connection_lost");
    CHECK(p, p->contract__ & WIRE_C_PAUSED_W, "resume_writing without pause_writing");
    p->contract__ &= ~WIRE_C_PAUSED_W;
    if (p->ops->resume_writing == NULL)
        return;
    wire_transport_ref(t);
    ENTER(p);
    p->ops->resume_writing(p);
    LEAVE(p);
    wire_transport_unref(t);
}

void
wire__proto_destroy(struct wire_protocol *p)
{
    CHECK(p, !(p->contract__ & WIRE_C_DESTROYED), "protocol destroyed twice");
    CHECK(p, !(p->contract__ & WIRE_C_MADE) || (p->contract__ & WIRE_C_LOST),
          "protocol destroyed between connection_made and connection_lost");
    p->contract__ |= WIRE_C_DESTROYED;
    if (p->ops->destroy != NULL)
        p->ops->destroy(p);
}
