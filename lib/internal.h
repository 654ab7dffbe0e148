/*
 * Private to libwire's core and its transports: state flags of the
 * transport base, loop internals and the contract checker.  Never
 * installed.  Protocols must not include it (see the arrows in DESIGN.md).
 */
#ifndef WIRE_INTERNAL_H
#define WIRE_INTERNAL_H

#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif

#include <wire/common.h>
#include <wire/loop.h>
#include <wire/loop_event.h>
#include <wire/transport_impl.h>

#include <stddef.h>

#define WIRE_UNUSED(x) ((void)(x))

/* wire_container_of: <wire/transport_impl.h> */

/* ---- transport state (struct wire_transport.flags) ---- */
#define WIRE_T_STARTED      (1u << 0)  /* connection_made delivered */
#define WIRE_T_READ_PAUSED  (1u << 1)  /* pause_reading by the protocol */
#define WIRE_T_PAUSED_ALL   (1u << 2)  /* PEP pause: both directions */
#define WIRE_T_READING      (1u << 3)  /* ops->read_start is in effect */
#define WIRE_T_EOF_RECEIVED (1u << 4)
#define WIRE_T_EOF_PENDING  (1u << 5)  /* write_eof waits for the flush */
#define WIRE_T_WRITE_SHUT   (1u << 6)
#define WIRE_T_CLOSING      (1u << 7)  /* close(): flushing, then close */
#define WIRE_T_HANDLE_CLOSED (1u << 8) /* ops->close called */
#define WIRE_T_LOST         (1u << 9)  /* loss began; lost is scheduled */
#define WIRE_T_LOST_DONE    (1u << 10) /* connection_lost delivered */
#define WIRE_T_PROTO_PAUSED (1u << 11) /* pause_writing delivered */
#define WIRE_T_WANT_WRITE   (1u << 12) /* ops->want_write(true) in effect */
#define WIRE_T_ABORTED      (1u << 13)
#define WIRE_T_FLUSHING     (1u << 14) /* inside the flush loop */
#define WIRE_T_KEEP_OPEN    (1u << 15) /* eof_received returned true */
#define WIRE_T_LOSS_HELD    (1u << 16) /* wire_impl_hold_loss: lost waits */
#define WIRE_T_HANDOVER     (1u << 17) /* bytes of a hand-over wait to go up:
                                        * nothing newer may pass them */
#define WIRE_T_CORKED       (1u << 18) /* delivering a read: writes queue,
                                        * flushed once it returns */
#define WIRE_T_CORK_AREA    (1u << 19) /* its queue is the loop's cork area */

/* ---- errors ---- */
struct wire_error *wire__error_new(int code, const char *fmt, va_list ap);
struct wire_error *wire__error_dup(const struct wire_error *src);
void wire__error_free(struct wire_error *e);

/* ---- loop internals ---- */
struct event_base;
struct evdns_base;
/* Queue `node` to run on a later turn (intrusive; no allocation).  A node
 * already queued stays where it is. */
void wire__loop_soon(struct wire_loop *loop, struct wire_soon *node);
/* The loop's shared receive buffer (data valid only during a callback). */
void *wire__loop_scratch(struct wire_loop *loop, size_t *len);
/* The loop's cork area (write.c, wire__cork_claim): while a transport
 * takes a read, the small answers it writes gather here, one memcpy each,
 * and go out in one write when the read returns, without the output
 * queue's allocations.  One transport owns it at a time: the outermost
 * read being delivered.  Its bytes are always that transport's whole
 * queue (WIRE_T_CORK_AREA); anything else queued moves them to the
 * output queue first. */
#define WIRE_CORK_AREA (16u * 1024u) /* the most a cork holds (cork_limit) */
struct wire__cork {
    char *buf; /* WIRE_CORK_AREA bytes, made on first use */
    size_t len;
    struct wire_transport *owner;
};
struct wire__cork *wire__loop_cork(struct wire_loop *loop);
/* The loop's DNS resolver, created on first use (NULL on failure).  Each
 * successful call counts a user; wire__loop_dns_release() ends the use
 * (the resolver is freed when no lookup is in flight). */
struct evdns_base *wire__loop_dns(struct wire_loop *loop);
void wire__loop_dns_release(struct wire_loop *loop);
/* A slot for a transport's per-loop registry (mem: names), with a
 * destructor run when the loop is freed (first thing: the loop is still
 * whole then). */
void **wire__loop_slot(struct wire_loop *loop, int which,
                       void (*dtor)(void *));
#define WIRE__SLOT_MEM 0
#define WIRE__SLOT_EXEC 1 /* exec: children to kill and reap at loop free */
#define WIRE__SLOT_TLS 2  /* tls:// listeners: their configs */
#define WIRE__SLOT_SOCK 3 /* tcp/unix: the socket poller (an epoll set);
                           * last, so the slots before it may still close
                           * sockets when the loop is freed */
#define WIRE__SLOT_COUNT 4
/* Take `node` off the run-soon queue (for an owner that must run or free
 * it now: a slot destructor at loop free).  Returns true when it was
 * queued and is not any more. */
bool wire__loop_unsoon(struct wire_loop *loop, struct wire_soon *node);

/* ---- contract checker ---- */
#define WIRE_C_MADE      (1u << 0)
#define WIRE_C_LOST      (1u << 1)
#define WIRE_C_EOF       (1u << 2)
#define WIRE_C_PAUSED_W  (1u << 3)
#define WIRE_C_IN_CB     (1u << 4)
#define WIRE_C_DESTROYED (1u << 5)
/* Not contract state: the protocol is a layer's `below` (wire_layer_init),
 * so wire__transport_top() can walk up a stack. */
#define WIRE_C_LAYER     (1u << 6)

/* Dispatch helpers: the only code that calls a protocol's ops.  Each takes
 * a reference on the transport around the call and checks the contract. */
void wire__proto_made(struct wire_transport *t);
/* data_received with every check (the slow path of wire__proto_data). */
void wire__proto_data_checked(struct wire_transport *t, const void *data,
                              size_t len);
void *wire__proto_get_buffer(struct wire_transport *t, size_t hint,
                             size_t *len);
void wire__proto_buffer_updated(struct wire_transport *t, size_t n);
bool wire__proto_eof(struct wire_transport *t);
void wire__proto_lost(struct wire_transport *t, const struct wire_error *err);
void wire__proto_pause_writing(struct wire_transport *t);
void wire__proto_resume_writing(struct wire_transport *t);
void wire__proto_destroy(struct wire_protocol *p);

/* A contract violation is a bug in a transport or in libwire: say what
 * happened and abort, so it cannot go unnoticed in any test. */
void wire__contract_violation(const struct wire_protocol *p, const char *what)
    __attribute__((noreturn));

#ifndef WIRE_CONTRACT_CHECKS
#define WIRE_CONTRACT_CHECKS 1
#endif

void wire_transport_unref(struct wire_transport *t);

/*
 * data_received, inline: it runs once per message of every layer, so the
 * common case (a started, reading protocol) costs one mask test, the
 * call, and a reference count kept by hand.  Anything unusual takes the
 * checked path, which reports the violation.
 */
static inline void
wire__proto_data(struct wire_transport *t, const void *data, size_t len)
{
    struct wire_protocol *p = t->protocol;
    if (WIRE_CONTRACT_CHECKS &&
        __builtin_expect(
            (p->contract__ & (WIRE_C_MADE | WIRE_C_LOST | WIRE_C_EOF)) != WIRE_C_MADE ||
                (t->flags & (WIRE_T_READ_PAUSED | WIRE_T_PAUSED_ALL |
                             WIRE_T_CLOSING | WIRE_T_LOST | WIRE_T_HANDOVER)) != 0,
            0)) {
        wire__proto_data_checked(t, data, len);
        return;
    }
    if (p->ops->data_received == NULL) {
        wire__proto_data_checked(t, data, len); /* buffers only, or nothing */
        return;
    }
    t->refcnt++;
    unsigned saved = p->contract__ & WIRE_C_IN_CB;
    p->contract__ |= WIRE_C_IN_CB;
    p->ops->data_received(p, data, len);
    p->contract__ = (p->contract__ & ~WIRE_C_IN_CB) | saved;
    if (t->refcnt > 1)
        t->refcnt--;
    else
        wire_transport_unref(t);
}

/* ---- servers ---- */
void wire__server_connection_lost(struct wire_transport *t);

/* ---- transports ---- */
static inline bool
wire__transport_wants_input(const struct wire_transport *t)
{
    return (t->flags & WIRE_T_STARTED) &&
           !(t->flags & (WIRE_T_READ_PAUSED | WIRE_T_PAUSED_ALL |
                         WIRE_T_EOF_RECEIVED | WIRE_T_CLOSING | WIRE_T_LOST |
                         WIRE_T_HANDLE_CLOSED | WIRE_T_HANDOVER));
}
/* Make the handle's reading match what the state wants. */
void wire__update_reading(struct wire_transport *t);
/* handover.c: the protocol resumed reading while hand-over bytes wait:
 * deliver them on a later turn.  Frees them with the transport. */
void wire__handover_kick(struct wire_transport *t);
void wire__handover_free(struct wire_transport *t);
/* layer.c: the top of the stack `t` is the bottom of: the transport the
 * application's protocol sees (t itself when no started layer is on it).
 * Closing there lets every layer flush what it holds on the way down. */
struct wire_transport *wire__transport_top(struct wire_transport *t);

/* layer.c: `t` is a layer's upper transport whose protocol changed. */
void wire__layer_protocol_changed(struct wire_transport *t);

#endif /* WIRE_INTERNAL_H */
