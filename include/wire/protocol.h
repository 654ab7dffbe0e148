/*
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

/** The callbacks of a protocol.  Only `destroy` is required; every other
 *  entry may be NULL (a NULL eof_received means "close on EOF"). */
struct wire_protocol_ops {
    /** The transport is ready.  `t` stays valid until connection_lost
     *  returns; take a reference (wire_transport_ref) to keep it longer. */
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
    /** The transport's write buffer went above the high watermark. */
    void (*pause_writing)(struct wire_protocol *p);
    /** The write buffer drained to the low watermark. */
    void (*resume_writing)(struct wire_protocol *p);
    /** Optional zero-copy receive (asyncio's BufferedProtocol): return a
     *  buffer of at least 1 byte and its size in `*len` (`size_hint` is
     *  what the transport would like).  The transport reads into it and
     *  calls buffer_updated with the count.  Returning NULL falls back to
     *  data_received for this read. */
    void *(*get_buffer)(struct wire_protocol *p, size_t size_hint,
                        size_t *len);
    /** `n` bytes were written into the buffer get_buffer returned. */
    void (*buffer_updated)(struct wire_protocol *p, size_t n);
    /** Release the protocol.  Called by its owner (the transport or
     *  layer), after connection_lost, or when a connect fails. */
    void (*destroy)(struct wire_protocol *p);
};

/** The base every protocol embeds as its first member. */
struct wire_protocol {
    const struct wire_protocol_ops *ops;
    /** The transport feeding this protocol: set just before
     *  connection_made, cleared after connection_lost. */
    struct wire_transport *transport;
    unsigned contract__; /**< internal: contract checker state */
};

/** Initialise the base of a protocol.  Call before handing it to a
 *  transport. */
WIRE_EXPORT void wire_protocol_init(struct wire_protocol *p,
                                    const struct wire_protocol_ops *ops);

/**
 * Destroy a protocol that no transport owns (for instance after
 * wire_connect() returned an error, which leaves the protocol to the
 * caller).  Calls ops->destroy.  Accepts NULL.
 */
WIRE_EXPORT void wire_protocol_destroy(struct wire_protocol *p);

#ifdef __cplusplus
}
#endif
#endif /* WIRE_PROTOCOL_H */
