/**
 * @file
 * libwire — protocols: what bytes mean.
 *
 * A protocol is a struct whose first member is a struct wire_protocol and
 * whose behaviour is a table of callbacks (struct wire_protocol_ops).  A
 * transport calls them; the protocol calls the transport back through
 * <wire/transport.h>.  A protocol never knows what carries it.
 *
 * The order of callbacks every protocol may rely on (checked at run time
 * by the contract checker unless configured with --disable-contract-checks):
 *
 *   connection_made                       exactly once, first
 *   data_received* / get_buffer+buffer_updated*
 *                                         only while reading is not paused,
 *                                         never after eof_received
 *   eof_received?                         at most once
 *   pause_writing / resume_writing        strictly alternating, starting
 *                                         with pause_writing
 *   connection_lost                       exactly once, last, from the
 *                                         loop, never re-entrantly
 *   destroy                               right after connection_lost (or
 *                                         when a connect fails), once
 *
 * Any callback may call close, abort or write on its transport.
 */
#ifndef WIRE_PROTOCOL_H
#define WIRE_PROTOCOL_H

#include <wire/common.h>

#ifdef __cplusplus
extern "C" {
#endif

struct wire_transport;
struct wire_protocol;

/** The callbacks of a protocol.  Every entry may be NULL, but `destroy`
 *  is what releases the protocol, so a protocol allocated on the heap sets
 *  it.  A NULL eof_received means "close on EOF"; get_buffer is used only
 *  when buffer_updated is set too.  The table must outlive every protocol
 *  that points at it (a `static const` table is usual).  While a callback
 *  runs the transport holds a reference on itself, so the callback may
 *  close, abort or write, or drop its own references. */
struct wire_protocol_ops {
    /** The transport is ready.  Called once, first: from the loop for a
     *  connection being made, or from inside the call that starts the
     *  protocol on a transport already connected
     *  (wire_string_transport_new(), wire_transport_set_protocol(), a
     *  layer starting the protocol above).  `t` stays valid until
     *  connection_lost returns; take a reference (wire_transport_ref) to
     *  keep it longer. */
    void (*connection_made)(struct wire_protocol *p, struct wire_transport *t);
    /** Bytes arrived.  `data` is valid only during the call.  On a byte
     *  stream `len` is never 0; on a message layer (chunk, lenprefix)
     *  each call is one message, and an empty message has `len` 0. */
    void (*data_received)(struct wire_protocol *p, const void *data,
                          size_t len);
    /** The peer will send nothing more.  Return true to keep the
     *  transport open for writing (half-close); false closes it. */
    bool (*eof_received)(struct wire_protocol *p);
    /** The connection is gone: `err` is NULL after a clean close, else the
     *  cause.  Called exactly once, from the loop.  `err` is valid during
     *  the call only. */
    void (*connection_lost)(struct wire_protocol *p,
                            const struct wire_error *err);
    /** The transport's write buffer went above the high watermark: stop
     *  producing until resume_writing.  May be called synchronously from
     *  inside the wire_transport_write() (or similar call) that crossed
     *  the mark. */
    void (*pause_writing)(struct wire_protocol *p);
    /** The write buffer drained to the low watermark (or the limits were
     *  raised above it by wire_transport_set_write_buffer_limits()); only
     *  after a pause_writing.  Usually called from the loop as the queue
     *  drains; may also come from inside a call that drains or re-limits
     *  the queue (wire_transport_set_write_buffer_limits(),
     *  wire_transport_close()). */
    void (*resume_writing)(struct wire_protocol *p);
    /** Optional zero-copy receive (asyncio's BufferedProtocol): return a
     *  buffer of at least 1 byte and its size in `*len` (`size_hint` is
     *  what the transport would like).  The transport reads into it and
     *  calls buffer_updated with the count.  Returning NULL falls back to
     *  data_received for this read. */
    void *(*get_buffer)(struct wire_protocol *p, size_t size_hint,
                        size_t *len);
    /** `n` bytes were written into the buffer get_buffer returned (the
     *  protocol owns that buffer; the transport only borrowed it during
     *  the read). */
    void (*buffer_updated)(struct wire_protocol *p, size_t n);
    /** Release the protocol.  Called by its owner (the transport or
     *  layer), after connection_lost, or when a connect fails; also by
     *  wire_protocol_destroy().  Called at most once. */
    void (*destroy)(struct wire_protocol *p);
};

/** The base every protocol embeds as its first member.  Initialise it
 *  with wire_protocol_init(). */
struct wire_protocol {
    /** The callbacks; set by wire_protocol_init(), not owned. */
    const struct wire_protocol_ops *ops;
    /** The transport feeding this protocol: set just before
     *  connection_made, cleared after connection_lost. */
    struct wire_transport *transport;
    unsigned contract__; /**< internal: contract checker state */
};

/** Initialise the base of a protocol: store `ops` (not copied; it must
 *  outlive the protocol) and clear the rest.  Call before handing the
 *  protocol to a transport. */
WIRE_EXPORT void wire_protocol_init(struct wire_protocol *p,
                                    const struct wire_protocol_ops *ops);

/**
 * Destroy a protocol that no transport owns (for instance after
 * wire_connect() returned an error, which leaves the protocol to the
 * caller).  Calls ops->destroy.  Accepts NULL.  Destroying a protocol
 * between connection_made and connection_lost, or twice, violates the
 * contract (the checker aborts the process).
 */
WIRE_EXPORT void wire_protocol_destroy(struct wire_protocol *p);

#ifdef __cplusplus
}
#endif
#endif /* WIRE_PROTOCOL_H */
