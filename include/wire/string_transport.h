/**
 * @file
 * libwire — the string transport: sans-I/O protocol testing.
 *
 * No loop, no socket.  The test feeds bytes, EOF and errors in; the
 * transport records what the protocol writes; the test steps flow control
 * by hand (a capacity makes writes queue up, draining frees room).
 * Deferred work (connection_lost, held data after resume) runs when the
 * test calls wire_string_transport_step(), so a test can assert that
 * nothing was delivered re-entrantly.
 */
#ifndef WIRE_STRING_TRANSPORT_H
#define WIRE_STRING_TRANSPORT_H

#include <wire/transport.h>

#ifdef __cplusplus
extern "C" {
#endif

/**
 * Create a string transport running `p` (which it owns from now on) and
 * call connection_made, before this returns.  The caller holds a
 * reference: free it with wire_string_transport_free() when done.
 * Returns NULL on ENOMEM (then `p` stays the caller's and no callback was
 * called).
 */
WIRE_EXPORT struct wire_transport *wire_string_transport_new(struct wire_protocol *p);

/** Release the caller's reference.  If the connection is still open it is
 *  aborted; pending work is stepped either way, so the protocol gets its
 *  connection_lost and destroy before this returns.  Accepts NULL. */
WIRE_EXPORT void wire_string_transport_free(struct wire_transport *t);

/**
 * Feed bytes as one data_received (or, if the protocol has get_buffer, in
 * pieces as big as the buffers it offers), delivered before this returns.
 * While reading is paused the bytes are held (copied) and delivered on
 * resume (by step).  `data` stays the caller's.  Returns 0; WIRE_ECLOSED
 * once EOF was fed, the transport is closing or the connection is lost;
 * WIRE_ENOMEM.
 */
WIRE_EXPORT int wire_string_transport_feed(struct wire_transport *t,
                                           const void *data, size_t len);
/** Feed `len` bytes in pieces of `chunk` bytes (1 or 0: byte by byte), as
 *  as many wire_string_transport_feed() calls.  Returns 0 or the first
 *  piece's error (the pieces before it were fed). */
WIRE_EXPORT int wire_string_transport_feed_split(struct wire_transport *t,
                                                 const void *data, size_t len,
                                                 size_t chunk);
/** Feed the peer's EOF: eof_received follows the held bytes, before this
 *  returns unless reading is paused (then on resume, by step).  Returns 0
 *  or WIRE_ECLOSED (EOF already fed, or the connection is lost). */
WIRE_EXPORT int wire_string_transport_feed_eof(struct wire_transport *t);
/** Make the connection fail with `code` (a reset, say) and message `msg`
 *  (copied; NULL: wire_strerror(code)): the protocol's connection_lost
 *  gets them at the next step.  Returns 0 or WIRE_ECLOSED (already lost
 *  or never started). */
WIRE_EXPORT int wire_string_transport_feed_error(struct wire_transport *t,
                                                 int code, const char *msg);

/** Run deferred work (connection_lost, resumed deliveries), including
 *  work queued while it runs, until none is left (bounded at 10000
 *  items, to stop a runaway).  Returns the number of items run. */
WIRE_EXPORT int wire_string_transport_step(struct wire_transport *t);

/** Everything the protocol wrote that the "handle" took, in order, with
 *  its length in `*len` (if not NULL).  The bytes belong to the transport
 *  and stay valid until the next write, clear or free; never NULL ("" when
 *  empty). */
WIRE_EXPORT const void *wire_string_transport_output(const struct wire_transport *t,
                                                     size_t *len);
/** Forget the recorded output (the capacity is not restored). */
WIRE_EXPORT void wire_string_transport_clear_output(struct wire_transport *t);

/**
 * Limit how many more bytes the handle takes before it "would block"
 * (SIZE_MAX, the default, takes everything); each byte taken uses one up.
 * Writes beyond it queue in the transport, so the watermarks fire.
 * Setting a capacity above 0 while bytes wait makes the transport flush
 * before this returns, as a writable socket would (resume_writing may be
 * called from inside this call).
 */
WIRE_EXPORT void wire_string_transport_set_capacity(struct wire_transport *t,
                                                    size_t capacity);

/** State a test can assert on: true once the protocol's write_eof shut
 *  the "handle"'s write side (after the queue drained). */
WIRE_EXPORT bool wire_string_transport_eof_written(const struct wire_transport *t);
/** True once the "handle" was closed: after a close finished flushing, an
 *  abort, or a failure. */
WIRE_EXPORT bool wire_string_transport_closed(const struct wire_transport *t);
/** True when the "handle" was closed by an abort (a reset), not a
 *  graceful close or a failure. */
WIRE_EXPORT bool wire_string_transport_aborted(const struct wire_transport *t);

#ifdef __cplusplus
}
#endif
#endif /* WIRE_STRING_TRANSPORT_H */
