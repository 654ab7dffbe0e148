/**
 * @file
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

#include <stddef.h>

#ifdef __cplusplus
extern "C" {
#endif

/** The struct of `type` whose member `member` is at `ptr`: how a transport
 *  or a layer gets back to its own struct from the struct wire_transport
 *  or struct wire_layer it embeds (the hooks receive those). */
#define wire_container_of(ptr, type, member)                                  \
    ((type *)(void *)((char *)(ptr)-offsetof(type, member)))

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

/** What a message layer puts around one write (see ops->frame).  `head`
 *  is copied by the core; `tail` must stay valid as long as the transport
 *  (a delimiter kept by the layer). */
struct wire_frame {
    unsigned char head[32]; /**< bytes sent before the payload */
    size_t head_len;        /**< how many of `head` are used (0: none) */
    const void *tail;       /**< bytes sent after the payload, or NULL */
    size_t tail_len;        /**< length of `tail` (0: none) */
};

/** A node in the loop's run-soon queue (see wire_impl_defer); embedded in
 *  its owner, never allocated.  The owner sets `fn` once; the queue links
 *  the rest. */
struct wire_soon {
    struct wire_soon *next;             /**< internal: queue link */
    void (*fn)(struct wire_soon *node); /**< what runs; it finds its owner
                                             from `node` (container_of) */
    bool queued;                        /**< internal: true while queued */
};

/**
 * The primitive hooks of a transport.  The core calls them; nothing else
 * does.  All hooks but `write`, `close` and `free` may be NULL.  The table
 * must outlive every transport that uses it (a `static const` table).
 */
struct wire_transport_ops {
    /** The transport's name (WIRE_INFO_NAME, wire_transport_name()); a
     *  static string. */
    const char *name;
    /** What the transport can do: enum wire_transport_caps bits. */
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
    /** Optional, for a transport whose handle can send from a file
     *  itself (a socket: sendfile(2)): send the `headcnt` buffers of
     *  `head` (queued bytes that go before the range; may be 0 of them),
     *  then up to `len` bytes of the regular file `fd` from `offset`,
     *  without blocking and without SIGPIPE, with the head held back to
     *  go out with the file's first bytes (MSG_MORE) rather than alone.
     *  Return the bytes sent, head bytes first (fewer than asked when the
     *  handle is full); 0 when the head is empty and the file ends at
     *  `offset` (the core reports the truncation); -EAGAIN when the
     *  handle takes nothing now (the core waits for wire_impl_writable);
     *  WIRE_ENOTSUP when this handle or this file cannot, with nothing
     *  sent (the core reads the range instead), or another negative code
     *  (fatal).  After a part of the head or file was sent, a later
     *  problem is reported by the next call.  NULL: the core reads file
     *  ranges a piece at a time and writes them through `write` (every
     *  layer does). */
    ssize_t (*sendfile)(struct wire_transport *t, const struct iovec *head,
                        int headcnt, int fd, off_t offset, size_t len);
};

struct wire__outq;
struct wire__handover;
struct wire_server;

/** The base every transport embeds as its first member.  Fields are the
 *  core's; a concrete transport reads `loop`, `protocol` and `lower` and
 *  writes none of them. */
struct wire_transport {
    /** The hooks, given to wire_impl_init(); not owned. */
    const struct wire_transport_ops *ops;
    /** The protocol fed by this transport (owned), from wire_impl_start()
     *  until it is destroyed after connection_lost. */
    struct wire_protocol *protocol;
    /** The loop (NULL for a transport that drives itself, and for a layer
     *  until the transport below it connects). */
    struct wire_loop *loop;
    /** The transport below a layer, for get_info forwarding (else NULL). */
    struct wire_transport *lower;
    /** internal: the output queue, allocated on first need */
    struct wire__outq *out;
    /** internal: the high watermark (wire_transport_set_write_buffer_limits) */
    size_t high_water, low_water; /**< internal: the low watermark */
    /** internal: the reference count (wire_transport_ref) */
    uint32_t refcnt;
    /** internal: the state machine's flags */
    uint32_t flags;
    /** internal: the error connection_lost will carry (NULL: clean) */
    struct wire_error *lost_err;
    /** internal: the run-soon node that delivers connection_lost */
    struct wire_soon soon;
    /** internal: bytes a hand-over (wire_transport_set_protocol) still
     *  owes the new protocol */
    struct wire__handover *handover;
    /** internal: the server that accepted this connection, or NULL (see
     *  wire_impl_server_adopt) */
    struct wire_server *server;
    /** internal: the previous connection in the server's list */
    struct wire_transport *srv_prev, *srv_next; /**< internal: the next one */
};

/**
 * Initialise the base (zeroing it).  The transport starts with one
 * reference, dropped by the core after connection_lost has been delivered
 * (or by wire_impl_discard for a transport that never started); the last
 * unref calls ops->free.  `ops` is not copied and must outlive the
 * transport.  `loop` may be NULL only for transports that drive
 * themselves (the string transport).  Watermarks start at the defaults
 * (64 KiB high, 16 KiB low).
 */
WIRE_EXPORT void wire_impl_init(struct wire_transport *t,
                                const struct wire_transport_ops *ops,
                                struct wire_loop *loop);

/** Attach `p`, call its connection_made synchronously (from inside this
 *  call), then start reading unless the protocol paused.  The transport
 *  now owns `p`.  A protocol handed over while paused for writing gets its
 *  resume_writing here if there is room. */
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
 *
 * wire_impl_read_buffer() stores the buffer's size in `*len`; neither the
 * buffer nor its size may be kept past the matching read_done.  It
 * returns NULL with `*len` 0 when there is neither (a transport without a
 * loop whose protocol has no get_buffer): use wire_impl_data() then.
 */
WIRE_EXPORT void *wire_impl_read_buffer(struct wire_transport *t,
                                        size_t *len);
/** `n` bytes were read into `buf`, the buffer wire_impl_read_buffer()
 *  returned: deliver them (buffer_updated for the protocol's own buffer,
 *  else data_received), synchronously.  Returns true while the transport
 *  still wants input. */
WIRE_EXPORT bool wire_impl_read_done(struct wire_transport *t, void *buf,
                                     size_t n);
/** Deliver `len` bytes the transport holds in memory as one
 *  data_received, synchronously; `data` stays the transport's.  A zero
 *  `len` is dropped on a byte stream and delivered as an empty message on
 *  a message transport (one with ops->frame).  What the protocol writes
 *  during the call is gathered into one write when it returns.  Returns
 *  true while the transport still wants input. */
WIRE_EXPORT bool wire_impl_data(struct wire_transport *t, const void *data,
                                size_t len);

/** The peer sent EOF.  Delivers eof_received (synchronously) and closes
 *  the transport unless the protocol keeps it open.  Reading stops.
 *  Ignored after the first EOF and once the loss began. */
WIRE_EXPORT void wire_impl_eof(struct wire_transport *t);

/** The handle takes bytes again (after want_write(true)): flush the
 *  queue, then finish a write_eof or close that waited for it.  May call
 *  the protocol's resume_writing. */
WIRE_EXPORT void wire_impl_writable(struct wire_transport *t);

/** The connection failed: drop the queue, close the handle (ops->close,
 *  before returning), deliver connection_lost with `code` and the
 *  formatted message on a later turn.  No-op once the loss began (the
 *  first cause wins). */
WIRE_EXPORT void wire_impl_fail(struct wire_transport *t, int code,
                                const char *fmt, ...) WIRE_PRINTF(3, 4);
/** Same as wire_impl_fail() with a ready error (copied; the caller keeps
 *  `err`); NULL or a zero code means a clean loss (connection_lost(NULL)). */
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
 *  bytes, NUL-terminated, truncated to fit).  Returns strlen(s) (also when
 *  truncated) or WIRE_EINVAL when `out` is NULL or `len` is 0. */
WIRE_EXPORT int wire_impl_info_string(void *out, size_t len, const char *s);

/** Run `node->fn(node)` on a later turn: on the loop, or, for a stack
 *  without a loop, when the string transport at its bottom is stepped.
 *  A node already queued stays where it is.  `node` stays the caller's
 *  and must stay valid until it has run (take a reference on the owner). */
WIRE_EXPORT void wire_impl_defer(struct wire_transport *t,
                                 struct wire_soon *node);

/** True once connection_made was delivered and the loss has not begun. */
WIRE_EXPORT bool wire_impl_is_active(const struct wire_transport *t);

/* ---- servers ---- */

/** The listener hooks a server-capable transport supplies.  The core
 *  calls them; `accept_start`, `accept_stop` and `close` are required. */
struct wire_listener_ops {
    /** Start watching the listening handle: call wire_impl_server_adopt()
     *  for each accepted connection. */
    void (*accept_start)(struct wire_server *s);
    /** Stop watching the listening handle. */
    void (*accept_stop)(struct wire_server *s);
    /** Close the listening handle (unlink a Unix path, ...).  Called once,
     *  at shutdown or free. */
    void (*close)(struct wire_server *s);
    /** Free listener memory (may be NULL); called when the server's
     *  memory goes. */
    void (*free)(struct wire_server *s);
};

/** Create the generic part of a server; the listener keeps its own state
 *  in `impl` (see wire_impl_server_impl), which `ops->free` releases.
 *  `ops` must outlive the server.  The server starts accepting when the
 *  listener calls wire_impl_server_started().  The caller of wire_listen()
 *  owns the server.  Returns NULL on ENOMEM. */
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
 *  `t` with it (connection_made runs before this returns), or discard `t`
 *  if the factory returns NULL.  Takes over `t`'s initial reference.  The
 *  server tracks `t` until its connection_lost. */
WIRE_EXPORT void wire_impl_server_adopt(struct wire_server *s,
                                        struct wire_transport *t);
/** The server's loop. */
WIRE_EXPORT struct wire_loop *wire_impl_server_loop(struct wire_server *s);
/** Accepting hit EMFILE/ENFILE: pause accepting and retry later without
 *  spinning (after 10 ms, doubling up to 1 s, or sooner if one of our
 *  connections closes).  Logs a warning naming `code`. */
WIRE_EXPORT void wire_impl_server_backoff(struct wire_server *s, int code);

/* ---- layers ---- */

struct wire_layer;

/* The generic hooks of a layer's upper transport; use them through
 * WIRE_LAYER_TRANSPORT_OPS, never directly. */
/** Layer hook for ops->read_start: deliver held input (on a later turn)
 *  and resume reading below.  Use through WIRE_LAYER_TRANSPORT_OPS. */
WIRE_EXPORT void wire_layer_hook_read_start(struct wire_transport *t);
/** Layer hook for ops->read_stop: pause reading below.  Use through
 *  WIRE_LAYER_TRANSPORT_OPS. */
WIRE_EXPORT void wire_layer_hook_read_stop(struct wire_transport *t);
/** Layer hook for ops->write: hand bytes to the layer's `send` (or below
 *  as they are), no more than the transport below has room for.  Use
 *  through WIRE_LAYER_TRANSPORT_OPS. */
WIRE_EXPORT ssize_t wire_layer_hook_write(struct wire_transport *t,
                                          const struct iovec *iov, int iovcnt);
/** Layer hook for ops->want_write.  Use through WIRE_LAYER_TRANSPORT_OPS. */
WIRE_EXPORT void wire_layer_hook_want_write(struct wire_transport *t, bool on);
/** Layer hook for ops->shutdown_write: the layer's `send_eof`, or
 *  write_eof below.  Use through WIRE_LAYER_TRANSPORT_OPS. */
WIRE_EXPORT int wire_layer_hook_shutdown_write(struct wire_transport *t);
/** Layer hook for ops->close: the layer's `close`, or close / abort
 *  below.  Use through WIRE_LAYER_TRANSPORT_OPS. */
WIRE_EXPORT void wire_layer_hook_close(struct wire_transport *t, bool abort);
/** Layer hook for ops->get_info: the layer's `get_info`, else forwarded
 *  below by the core.  Use through WIRE_LAYER_TRANSPORT_OPS. */
WIRE_EXPORT int wire_layer_hook_get_info(struct wire_transport *t, int key,
                                         void *out, size_t len);
/** A ready ops->hint_reply for a layer that carries bytes without reading
 *  messages (trace, record, fault): a reply hint is the business of the
 *  transport that delivered the message, which is below, so it is passed
 *  on; WIRE_ECLOSED once the transport below is gone.  Not part of
 *  WIRE_LAYER_TRANSPORT_OPS: a layer that reads messages answers hints
 *  itself or leaves the hook NULL. */
WIRE_EXPORT int wire_layer_hook_hint_reply(struct wire_transport *t,
                                           enum wire_reply_hint hint);
/** Layer hook for ops->free: release held input, the reference on the
 *  transport below and a protocol above never started, then call the
 *  layer's `destroy`.  Use through WIRE_LAYER_TRANSPORT_OPS. */
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
 * a layer supplies only its translation.  Every hook but `destroy` may be
 * NULL, meaning "pass through unchanged".  The table must outlive the
 * layer.
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
    /** Release the layer's own state and memory (required).  Called once,
     *  when the last reference on `above` goes, after the protocol above
     *  was destroyed. */
    void (*destroy)(struct wire_layer *l);
    /** The transport below is gone (its connection_lost; `err` NULL for a
     *  clean end) after the layer started the protocol above: called
     *  before the protocol above hears of it, and also when the protocol
     *  above was lost already.  For a layer with state that
     *  outlives a close from above (an engine still reading answers, with
     *  timers).  The layer may fail the protocol above here
     *  (wire_impl_lost on `above`) to give a better reason. */
    void (*lost)(struct wire_layer *l, const struct wire_error *err);
    /** Optional zero-copy receive: the layer is then a BufferedProtocol
     *  to the transport below (struct wire_protocol_ops.get_buffer), which
     *  reads straight into the layer's own buffer instead of its scratch
     *  buffer.  Return where the next read may go and its size in `*len`
     *  (at least 1 byte; `size_hint` is what the transport below would
     *  like), or NULL to take this read through `recv` as usual.  Used
     *  only when `buffer_updated` is set too, and never asked while the
     *  layer is inside its own `recv` or `buffer_updated` (a read made
     *  then comes through `recv`).  The buffer stays the layer's. */
    void *(*get_buffer)(struct wire_layer *l, size_t size_hint, size_t *len);
    /** `n` bytes (at least 1) were read into the buffer get_buffer
     *  returned last: translate them as `recv` would have (the stream is
     *  the same whichever way its bytes came).  Return 0, or a negative
     *  code to fail the connection. */
    int (*buffer_updated)(struct wire_layer *l, size_t n);
};

/** The base every layer embeds as its first member.  Set up by
 *  wire_layer_init(); a layer reads `lower` and `above` and writes no
 *  field. */
struct wire_layer {
    struct wire_protocol below;  /**< what the transport below feeds */
    struct wire_transport above; /**< what the protocol above sees */
    const struct wire_layer_ops *lops; /**< the layer's hooks (not owned) */
    struct wire_protocol *upper; /**< the protocol above, until started */
    struct wire_transport *lower;/**< the transport below, while alive */
    struct wire__held *held;     /**< input held while above is paused */
    struct wire_soon write_node; /**< internal: deferred writable */
    unsigned lflags;             /**< internal: the helper's state flags */
    /** internal: the above's data_received, cached when it starts */
    void (*fast_data)(struct wire_protocol *p, const void *data, size_t len);
};

/**
 * Initialise a layer over `upper` (which the layer now owns, and destroys
 * with itself if it is never started).  `lops` must outlive
 * the layer.  Returns the protocol to give to the transport below
 * (&l->below); whoever takes it (a transport, wire_connect) then owns the
 * layer, which frees itself through `lops->destroy`.  If it is never
 * given to a transport, release it with wire_protocol_destroy() on the
 * returned pointer.
 */
WIRE_EXPORT struct wire_protocol *wire_layer_init(struct wire_layer *l,
                                                  const struct wire_layer_ops *lops,
                                                  struct wire_protocol *upper);
/** Start the protocol above (its connection_made runs before this
 *  returns).  For layers with a handshake; the default `made` calls it at
 *  once.  Does nothing when already started or without a protocol. */
WIRE_EXPORT void wire_layer_start(struct wire_layer *l);
/** Pass `len` bytes up as one data_received (held, copied, if above is
 *  paused, and delivered in order on its resume).  `data` stays the
 *  layer's.  Returns 0; WIRE_ECLOSED when the protocol above is not
 *  started, closing, lost or past its EOF (the bytes are dropped);
 *  WIRE_ENOMEM when holding failed (the layer has then failed, see
 *  wire_layer_fail()). */
WIRE_EXPORT int wire_layer_deliver(struct wire_layer *l, const void *data,
                                   size_t len);
/** Pass EOF up (after any held data): eof_received, now or on the
 *  resume that delivers the held data.  Ignored before the protocol above
 *  started and once it is lost. */
WIRE_EXPORT void wire_layer_deliver_eof(struct wire_layer *l);
/** Send bytes down (to the transport below), as
 *  wire_transport_write_sequence() there; the buffers stay the caller's.
 *  Returns its result, or WIRE_ECLOSED once the transport below is gone. */
WIRE_EXPORT int wire_layer_send(struct wire_layer *l, const struct iovec *iov,
                                int iovcnt);
/** Fail the layer: the transport below is aborted and the protocol above
 *  gets connection_lost (on a later turn) with `code` and the formatted
 *  message.  Before the layer started the protocol above (a handshake that
 *  failed), it is started first, so the error always reaches it.  What is
 *  queued above is dropped. */
WIRE_EXPORT void wire_layer_fail(struct wire_layer *l, int code,
                                 const char *fmt, ...) WIRE_PRINTF(3, 4);
/** Hold the above's writes (they queue in its output queue, under its
 *  watermarks) while `hold`, e.g. during a key exchange; releasing
 *  flushes them.  The send hook is not called while held. */
WIRE_EXPORT void wire_layer_hold_writes(struct wire_layer *l, bool hold);
/** The layer a protocol pointer returned by wire_layer_init belongs to
 *  (a container_of; `p` must be such a pointer). */
WIRE_EXPORT struct wire_layer *wire_layer_from_protocol(struct wire_protocol *p);

#ifdef __cplusplus
}
#endif
#endif /* WIRE_TRANSPORT_IMPL_H */
