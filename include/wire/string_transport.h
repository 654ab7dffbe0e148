/*
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
 * call connection_made.  The caller holds a reference: free it with
 * wire_string_transport_free() when done.  Returns NULL on ENOMEM (then
 * `p` stays the caller's).
 */
WIRE_EXPORT struct wire_transport *wire_string_transport_new(struct wire_protocol *p);

/** Release the caller's reference.  If the connection is still open it is
 *  aborted and stepped so the protocol gets connection_lost.  Accepts
 *  NULL. */
WIRE_EXPORT void wire_string_transport_free(struct wire_transport *t);

/**
 * Feed bytes as one data_received (or, if the protocol has get_buffer, in
 * pieces as big as the buffers it offers).  While reading is paused the
 * bytes are held and delivered on resume (by step).  Returns 0 or
 * WIRE_ECLOSED once EOF was fed or the transport is closing.
 */
WIRE_EXPORT int wire_string_transport_feed(struct wire_transport *t,
                                           const void *data, size_t len);
/** Feed `len` bytes in pieces of `chunk` bytes (1: byte by byte). */
WIRE_EXPORT int wire_string_transport_feed_split(struct wire_transport *t,
                                                 const void *data, size_t len,
                                                 size_t chunk);
/** Feed the peer's EOF (after held bytes). */
WIRE_EXPORT int wire_string_transport_feed_eof(struct wire_transport *t);
/** Make the connection fail with `code` (a reset, say). */
WIRE_EXPORT int wire_string_transport_feed_error(struct wire_transport *t,
                                                 int code, const char *msg);

/** Run deferred work (connection_lost, resumed deliveries).  Returns the
 *  number of items run. */
WIRE_EXPORT int wire_string_transport_step(struct wire_transport *t);

/** Everything the protocol wrote that the "handle" took, in order. */
WIRE_EXPORT const void *wire_string_transport_output(const struct wire_transport *t,
                                                     size_t *len);
/** Forget the recorded output. */
WIRE_EXPORT void wire_string_transport_clear_output(struct wire_transport *t);

/**
 * Limit how many more bytes the handle takes before it "would block"
 * (SIZE_MAX, the default, takes everything).  Writes beyond it queue in
 * the transport, so the watermarks fire.  Raising it makes the transport
 * flush, as a writable socket would.
 */
WIRE_EXPORT void wire_string_transport_set_capacity(struct wire_transport *t,
                                                    size_t capacity);

/** State a test can assert on. */
WIRE_EXPORT bool wire_string_transport_eof_written(const struct wire_transport *t);
WIRE_EXPORT bool wire_string_transport_closed(const struct wire_transport *t);
WIRE_EXPORT bool wire_string_transport_aborted(const struct wire_transport *t);

#ifdef __cplusplus
}
#endif
#endif /* WIRE_STRING_TRANSPORT_H */
