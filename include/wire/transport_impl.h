/*
 * libwire — for people who write a transport or a layer.
 *
 * Ordinary users never include this header.  It shows the base struct every
 * transport embeds as its first member, the primitive hooks a concrete
 * transport supplies (struct wire_transport_ops), the calls through which
 * a transport reports what its handle did (wire_impl_*), and the layer
 * helper (struct wire_layer) for protocols that are also transports.
 *
 * The core owns every rule that is the same for all transports: the state
 * machine, write buffering and watermarks, pause/resume bookkeeping,
 * deferred delivery of connection_lost, reference counting and the
 * contract checks.  A concrete transport only moves bytes.
 */
#ifndef WIRE_TRANSPORT_IMPL_H
#define WIRE_TRANSPORT_IMPL_H

#include <wire/loop.h>
#include <wire/transport.h>
#include <wire/endpoint.h>

#ifdef __cplusplus
extern "C" {
#endif

/** Capabilities a transport declares (struct wire_transport_ops.caps). */
enum wire_transport_caps {
    /** write_eof works (the handle can shut its write side alone). */
    WIRE_CAP_HALF_CLOSE = 1u << 0,
    /** abort resets the connection so the peer sees an error. */
    WIRE_CAP_RESET = 1u << 1,
    /** the peer can tell the difference between EOF and close. */
    WIRE_CAP_EOF = 1u << 2,
    /** (layers) half-close works when the transport below can. */
    WIRE_CAP_HALF_CLOSE_IF_LOWER = 1u << 3
};

/** A node in the loop's run-soon queue; embedded, never allocated. */
/** What a message layer puts around one write (see ops->frame).  `head`
 *  is copied by the core; `tail` must stay valid as long as the transport
 *  (a delimiter kept by the layer). */
struct wire_frame {
    unsigned char head[32];
    size_t head_len;
    const void *tail;
    size_t tail_len;
};

struct wire_soon {
    struct wire_soon *next;
    void (*fn)(struct wire_soon *node);
    bool queued;
};

/**
 * The primitive hooks of a transport.  The core calls them; nothing else
 * does.  All hooks but `write`, `close` and `free` may be NULL.
 */
struct wire_transport_ops {
    const char *name;
    unsigned caps;
    /** Start delivering input (through wire_impl_read_buffer and wire_impl_data). */
    void (*read_start)(struct wire_transport *t);
    /** Stop delivering input. */
    void (*read_stop)(struct wire_transport *t);
    /** Write what the handle takes now, without blocking: return the bytes
     *  taken (0 when it would block) or a negative code (fatal). */
    ssize_t (*write)(struct wire_transport *t, const struct iovec *iov,
                     int iovcnt);
    /** on: call wire_impl_writable() once the handle takes more bytes;
     *  off: stop. */
    void (*want_write)(struct wire_transport *t, bool on);
    /** Shut the write side (everything queued was written).  NULL when
     *  the transport cannot half-close. */
    int (*shutdown_write)(struct wire_transport *t);
    /** Release the handle.  `abort`: reset where possible.  Called once. */
    void (*close)(struct wire_transport *t, bool abort);
    /** Answer a get_info key, or return WIRE_ENOTSUP to forward it to
     *  `lower`. */
    int (*get_info)(struct wire_transport *t, int key, void *out, size_t len);
    /** Free the memory (the reference count reached zero). */
    void (*free)(struct wire_transport *t);
    /** Only for transports without a loop (the string transport): queue
     *  `node` to run when the test steps the transport.  Layers stacked on
     *  such a transport defer through it. */
    void (*defer)(struct wire_transport *t, struct wire_soon *node);
    /** Optional, for message layers (chunk, lenprefix): frame each write
     *  as it is made, before anything is queued, so message boundaries
     *  survive the output queue.  Fill `f` with the bytes that go before
     *  and after the payload (`total` bytes in `iov`), or return a
     *  negative code to refuse the write (nothing is written; the caller
     *  gets the code).  Called for empty writes too: an empty message is
     *  still a message. */
    int (*frame)(struct wire_transport *t, const struct iovec *iov,
                 int iovcnt, size_t total, struct wire_frame *f);
    /** Optional, for transports that pair each message they deliver with
     *  an answer (the HTTP server layer): wire_transport_hint_reply about
     *  the message delivered last, `hint` a valid enum wire_reply_hint,
     *  the transport started and not closing.  NULL: WIRE_ENOTSUP. */
    int (*hint_reply)(struct wire_transport *t, enum wire_reply_hint hint);
};

struct wire__outq;
struct wire__handover;
struct wire_server;

/** The base every transport embeds as its first member.  Fields are the
 *  core's; a concrete transport reads `loop`, `protocol` and `lower` and
 *  writes none of them. */
struct wire_transport {
    const struct wire_transport_ops *ops;
    struct wire_protocol *protocol;
    struct wire_loop *loop;
    /** The transport below a layer, for get_info forwarding (else NULL). */
    struct wire_transport *lower;
    struct wire__outq *out;
    size_t high_water, low_water;
    uint32_t refcnt;
    uint32_t flags;
    struct wire_error *lost_err;
    struct wire_soon soon;
    /* Bytes a hand-over (wire_transport_set_protocol) still owes the new
     * protocol. */
    struct wire__handover *handover;
    /* A server's connection list (see wire_impl_server_adopt). */
    struct wire_server *server;
    struct wire_transport *srv_prev, *srv_next;
};

/**
 * Initialise the base.  The transport starts with one reference, dropped
 * by the core after connection_lost has been delivered (or by
 * wire_impl_discard for a transport that never started).  `loop` may be
 * NULL only for transports that drive themselves (the string transport).
 */
WIRE_EXPORT void wire_impl_init(struct wire_transport *t,
                                const struct wire_transport_ops *ops,
                                struct wire_loop *loop);

/** Attach `p`, call its connection_made, then start reading unless the
 *  protocol paused.  The transport now owns `p`. */
WIRE_EXPORT void wire_impl_start(struct wire_transport *t,
                                 struct wire_protocol *p);

/** Drop a transport that was never started (e.g. a failed connect);
 *  releases the initial reference.  The protocol is not touched. */
WIRE_EXPORT void wire_impl_discard(struct wire_transport *t);

/**
 * Receive path.  wire_impl_read_buffer() gives the buffer to read into:
 * the protocol's own (get_buffer) or the loop's shared scratch buffer;
 * wire_impl_read_done() delivers `n` bytes read into it.  wire_impl_data()
 * delivers bytes already in memory.  Each returns true while the
 * transport still wants input (not paused, not closing), so a reader loop
 * knows whether to read again.
 */
WIRE_EXPORT void *wire_impl_read_buffer(struct wire_transport *t,
                                        size_t *len);
WIRE_EXPORT bool wire_impl_read_done(struct wire_transport *t, void *buf,
                                     size_t n);
WIRE_EXPORT bool wire_impl_data(struct wire_transport *t, const void *data,
                                size_t len);

/** The peer sent EOF.  Delivers eof_received and closes the transport
 *  unless the protocol keeps it open. */
WIRE_EXPORT void wire_impl_eof(struct wire_transport *t);

/** The handle takes bytes again (after want_write(true)). */
WIRE_EXPORT void wire_impl_writable(struct wire_transport *t);

/** The connection failed: drop the queue, close the handle, deliver
 *  connection_lost with `code` and the formatted message.  No-op once the
 *  loss began. */
WIRE_EXPORT void wire_impl_fail(struct wire_transport *t, int code,
                                const char *fmt, ...) WIRE_PRINTF(3, 4);
/** Same with a ready error (copied); NULL means a clean loss. */
WIRE_EXPORT void wire_impl_lost(struct wire_transport *t,
                                const struct wire_error *err);

/**
 * Hold the loss: for a transport whose end is more than its handle (a
 * child process, which must also exit).  Called from ops->close, it keeps
 * connection_lost from being scheduled when the handle closes; the
 * transport then calls wire_impl_release_loss() exactly once when the
 * rest has ended.  The transport keeps its initial reference until the
 * loss is delivered, so it stays alive meanwhile.
 */
WIRE_EXPORT void wire_impl_hold_loss(struct wire_transport *t);
/**
 * End the hold: connection_lost follows on a later turn.  `err` (may be
 * NULL; copied) becomes the loss's error when the loss was clean, or is
 * added to its message in parentheses when the loss already had a cause
 * (whose code is kept).  No-op when nothing is held.
 */
WIRE_EXPORT void wire_impl_release_loss(struct wire_transport *t,
                                        const struct wire_error *err);

/** Answer a string-valued get_info key: copy `s` into `out` (`len`
 *  bytes, NUL-terminated, truncated to fit).  Returns strlen(s) or
 *  WIRE_EINVAL when there is no room for the NUL. */
WIRE_EXPORT int wire_impl_info_string(void *out, size_t len, const char *s);

/** Run `node->fn(node)` on a later turn: on the loop, or, for a stack
 *  without a loop, when the string transport at its bottom is stepped.
 *  A node already queued stays where it is. */
WIRE_EXPORT void wire_impl_defer(struct wire_transport *t,
                                 struct wire_soon *node);

/** True once connection_made was delivered and the loss has not begun. */
WIRE_EXPORT bool wire_impl_is_active(const struct wire_transport *t);

/* ---- servers ---- */

/** The listener hooks a server-capable transport supplies. */
struct wire_listener_ops {
    /** Start/stop watching the listening handle. */
    void (*accept_start)(struct wire_server *s);
    void (*accept_stop)(struct wire_server *s);
    /** Close the listening handle (unlink a Unix path, ...). */
    void (*close)(struct wire_server *s);
    /** Free listener memory. */
    void (*free)(struct wire_server *s);
};

/** Create the generic part of a server; the listener keeps its own state
 *  in `impl` (see wire_impl_server_impl).  The server starts accepting
 *  when the listener calls wire_impl_server_started().  Returns NULL on
 *  ENOMEM. */
WIRE_EXPORT struct wire_server *wire_impl_server_new(struct wire_loop *loop,
                                                     const struct wire_listener_ops *ops,
                                                     void *impl,
                                                     wire_protocol_factory factory,
                                                     void *factory_arg);
/** The listening handle is ready: start accepting. */
WIRE_EXPORT void wire_impl_server_started(struct wire_server *s);
/** The listener's state given to wire_impl_server_new. */
WIRE_EXPORT void *wire_impl_server_impl(struct wire_server *s);
/** Set the address reported by wire_server_address (copied). */
WIRE_EXPORT void wire_impl_server_set_address(struct wire_server *s,
                                              const char *address);
/** A connection was accepted: ask the factory for a protocol and start
 *  `t` with it (or discard `t` if the factory returns NULL).  The server
 *  tracks `t` until its connection_lost. */
WIRE_EXPORT void wire_impl_server_adopt(struct wire_server *s,
                                        struct wire_transport *t);
/** The server's loop. */
WIRE_EXPORT struct wire_loop *wire_impl_server_loop(struct wire_server *s);
/** Accepting hit EMFILE/ENFILE: pause accepting and retry later without
 *  spinning (sooner if one of our connections closes). */
WIRE_EXPORT void wire_impl_server_backoff(struct wire_server *s, int code);

/* ---- layers ---- */

struct wire_layer;

/* The generic hooks of a layer's upper transport; use them through
 * WIRE_LAYER_TRANSPORT_OPS, never directly. */
WIRE_EXPORT void wire_layer_hook_read_start(struct wire_transport *t);
WIRE_EXPORT void wire_layer_hook_read_stop(struct wire_transport *t);
WIRE_EXPORT ssize_t wire_layer_hook_write(struct wire_transport *t,
                                          const struct iovec *iov, int iovcnt);
WIRE_EXPORT void wire_layer_hook_want_write(struct wire_transport *t, bool on);
WIRE_EXPORT int wire_layer_hook_shutdown_write(struct wire_transport *t);
WIRE_EXPORT void wire_layer_hook_close(struct wire_transport *t, bool abort);
WIRE_EXPORT int wire_layer_hook_get_info(struct wire_transport *t, int key,
                                         void *out, size_t len);
WIRE_EXPORT void wire_layer_hook_free(struct wire_transport *t);

/** The transport ops of a message layer whose writes are framed by
 *  `framefn` (see ops->frame). */
#define WIRE_LAYER_FRAMING_OPS(lname, lcaps, framefn)                         \
    {                                                                         \
        .name = (lname), .caps = (lcaps),                                     \
        .read_start = wire_layer_hook_read_start,                             \
        .read_stop = wire_layer_hook_read_stop,                               \
        .write = wire_layer_hook_write,                                       \
        .want_write = wire_layer_hook_want_write,                             \
        .shutdown_write = wire_layer_hook_shutdown_write,                     \
        .close = wire_layer_hook_close,                                       \
        .get_info = wire_layer_hook_get_info,                                 \
        .free = wire_layer_hook_free,                                         \
        .defer = NULL, .frame = (framefn),                                    \
    }

/** The transport ops of a layer named `lname` with capabilities `lcaps`,
 *  for struct wire_layer_ops.transport:
 *  `.transport = WIRE_LAYER_TRANSPORT_OPS("chunk", WIRE_CAP_HALF_CLOSE_IF_LOWER)`. */
#define WIRE_LAYER_TRANSPORT_OPS(lname, lcaps)                                \
    WIRE_LAYER_FRAMING_OPS(lname, lcaps, NULL)

/**
 * What a layer translates.  A layer is a protocol to the transport below
 * (`below`) and a transport to the protocol above (`above`).  The helper
 * carries flow control, pause, EOF, close, abort and get_info across;
 * a layer supplies only its translation.  Every hook may be NULL, meaning
 * "pass through unchanged".
 */
struct wire_layer_ops {
    /** The upper transport's ops: always WIRE_LAYER_TRANSPORT_OPS(...). */
    struct wire_transport_ops transport;
    /** The transport below is connected.  Default: start the protocol
     *  above at once (wire_layer_start).  A layer with a handshake starts
     *  it when the handshake is done. */
    void (*made)(struct wire_layer *l);
    /** Bytes from below.  Call wire_layer_deliver for each message to
     *  pass up.  Return 0, or a negative code to fail the connection. */
    int (*recv)(struct wire_layer *l, const void *data, size_t len);
    /** EOF from below.  Default: deliver EOF above
     *  (wire_layer_deliver_eof). */
    int (*recv_eof)(struct wire_layer *l);
    /** Bytes from above: translate and wire_layer_send them down.  Return
     *  the bytes consumed (all of them, normally) or a negative code. */
    ssize_t (*send)(struct wire_layer *l, const struct iovec *iov,
                    int iovcnt);
    /** write_eof from above, after the above's queue is flushed.  Default:
     *  write_eof below.  NULL in a layer whose caps lack HALF_CLOSE is
     *  never called. */
    int (*send_eof)(struct wire_layer *l);
    /** close (abort false) or abort from above, after the above's queue
     *  was flushed (close) or dropped (abort).  Default: close / abort
     *  below. */
    void (*close)(struct wire_layer *l, bool abort);
    /** Answer a get_info key or return WIRE_ENOTSUP to forward it below. */
    int (*get_info)(struct wire_layer *l, int key, void *out, size_t len);
    /** Release the layer's own state and memory. */
    void (*destroy)(struct wire_layer *l);
    /** The transport below is gone (its connection_lost; `err` NULL for a
     *  clean end) after the layer started the protocol above: called
     *  before the protocol above hears of it, and also when the protocol
     *  above was lost already.  For a layer with state that
     *  outlives a close from above (an engine still reading answers, with
     *  timers).  The layer may fail the protocol above here
     *  (wire_impl_lost on `above`) to give a better reason. */
    void (*lost)(struct wire_layer *l, const struct wire_error *err);
};

/** The base every layer embeds as its first member. */
struct wire_layer {
    struct wire_protocol below;  /**< what the transport below feeds */
    struct wire_transport above; /**< what the protocol above sees */
    const struct wire_layer_ops *lops;
    struct wire_protocol *upper; /**< the protocol above, until started */
    struct wire_transport *lower;/**< the transport below, while alive */
    struct wire__held *held;     /**< input held while above is paused */
    struct wire_soon write_node; /**< internal: deferred writable */
    unsigned lflags;
    /** internal: the above's data_received, cached when it starts */
    void (*fast_data)(struct wire_protocol *p, const void *data, size_t len);
};

/**
 * Initialise a layer over `upper` (which the layer now owns).  Returns the
 * protocol to give to the transport below (&l->below).
 */
WIRE_EXPORT struct wire_protocol *wire_layer_init(struct wire_layer *l,
                                                  const struct wire_layer_ops *lops,
                                                  struct wire_protocol *upper);
/** Start the protocol above (connection_made).  For layers with a
 *  handshake; the default `made` calls it at once. */
WIRE_EXPORT void wire_layer_start(struct wire_layer *l);
/** Pass `len` bytes up as one data_received (held if above is paused). */
WIRE_EXPORT int wire_layer_deliver(struct wire_layer *l, const void *data,
                                   size_t len);
/** Pass EOF up (after any held data). */
WIRE_EXPORT void wire_layer_deliver_eof(struct wire_layer *l);
/** Send bytes down (to the transport below). */
WIRE_EXPORT int wire_layer_send(struct wire_layer *l, const struct iovec *iov,
                                int iovcnt);
/** Fail the layer: the transport below is aborted and the protocol above
 *  gets connection_lost with this error.  Before the layer started the
 *  protocol above (a handshake that failed), it is started first, so the
 *  error always reaches it. */
WIRE_EXPORT void wire_layer_fail(struct wire_layer *l, int code,
                                 const char *fmt, ...) WIRE_PRINTF(3, 4);
/** Hold the above's writes (they queue in its output queue, under its
 *  watermarks) while `hold`, e.g. during a key exchange; releasing
 *  flushes them.  The send hook is not called while held. */
WIRE_EXPORT void wire_layer_hold_writes(struct wire_layer *l, bool hold);
/** The layer a protocol pointer returned by wire_layer_init belongs to. */
WIRE_EXPORT struct wire_layer *wire_layer_from_protocol(struct wire_protocol *p);

#ifdef __cplusplus
}
#endif
#endif /* WIRE_TRANSPORT_IMPL_H */
