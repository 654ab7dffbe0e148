/**
 * @file
 * libwire — transports: how bytes move.
 *
 * What a protocol may call on the transport that feeds it.  Every call
 * here is safe from inside any protocol callback, including calls that
 * close or abort the transport; none of them calls connection_lost before
 * returning (that is delivered on a later turn of the loop).
 *
 * Writing after close, abort or write_eof returns WIRE_ECLOSED: it never
 * crashes and never raises SIGPIPE.
 */
#ifndef WIRE_TRANSPORT_H
#define WIRE_TRANSPORT_H

#include <sys/types.h>
#include <sys/uio.h>
#include <wire/common.h>
#include <wire/protocol.h>

#ifdef __cplusplus
extern "C" {
#endif

struct wire_transport;
struct wire_loop;

/** Called when the transport no longer needs bytes given to
 *  wire_transport_write_ref(): `arg`, `data` and `len` are the values
 *  given there.  Called exactly once per successful write_ref, from
 *  whichever call or loop turn wrote or dropped the bytes. */
typedef void (*wire_free_cb)(void *arg, const void *data, size_t len);

/**
 * Queue `len` bytes.  When nothing is queued and the handle is writable
 * the bytes are written through at once; what is left is copied, so
 * `data` stays the caller's and may be reused at once.  On a message layer
 * (chunk, lenprefix, an HTTP body) one call is one message.  May call the
 * protocol's pause_writing before returning, when the queue crosses the
 * high watermark.
 *
 * Returns 0; WIRE_ESTATE before connection_made; WIRE_ECLOSED after
 * close/abort/write_eof or once the connection is lost; WIRE_ENOMEM; or
 * what a message layer refuses (WIRE_EMSGSIZE for a message over its
 * limit).  A failure of the connection while writing is not returned here:
 * it is reported once, to connection_lost.
 */
WIRE_EXPORT int wire_transport_write(struct wire_transport *t,
                                     const void *data, size_t len);

/**
 * Gathered write: the same as writing each buffer in order, but in one
 * writev() when the handle is writable (and, on a message layer, one
 * message).  The buffers stay the caller's.  Same returns as
 * wire_transport_write(), plus WIRE_EINVAL for a negative `iovcnt` or a
 * NULL `iov` with `iovcnt` > 0.
 */
WIRE_EXPORT int wire_transport_write_sequence(struct wire_transport *t,
                                              const struct iovec *iov,
                                              int iovcnt);

/**
 * Zero-copy write: the transport keeps a reference to `data` instead of
 * copying it, and calls `free_cb(arg, data, len)` once it no longer needs
 * it (written, or dropped by abort/connection loss).  `free_cb` may be
 * called before this function returns, when the bytes were written
 * through.  `data` must stay valid and unchanged until then.  On an error
 * return `free_cb` is never called and `data` stays the caller's.  Same
 * returns as wire_transport_write(), plus WIRE_EINVAL for a NULL
 * `free_cb`.
 */
WIRE_EXPORT int wire_transport_write_ref(struct wire_transport *t,
                                         const void *data, size_t len,
                                         wire_free_cb free_cb, void *arg);

/** Called when the transport no longer needs the file given to
 *  wire_transport_write_file(): `arg` and `fd` are the values given
 *  there.  Called exactly once per successful write_file, from whichever
 *  call or loop turn sent or dropped the range (possibly before
 *  write_file returns).  `fd` is the caller's again: close it or reuse
 *  it. */
typedef void (*wire_file_done_cb)(void *arg, int fd);

/**
 * Send `len` bytes of the regular file `fd`, from `offset`, in order with
 * the bytes written before and after this call.  The file is never read
 * whole: on a socket transport (tcp, unix, and stdio on a socket) with
 * no layer above it, the kernel sends the range straight from the file
 * (sendfile(2)), a piece at a time as the socket takes it; everywhere else
 * (TLS and every other layer, pipes, the memory pair, the string
 * transport) the transport reads the range a piece at a time (at most the
 * high watermark, between 4 and 64 KiB) once what is ahead of it has been
 * written, so memory stays bounded by the watermarks plus one piece.
 * wire_transport_get_write_stats() says which way the bytes went.  The
 * file's offset (lseek) is not used or moved; the same fd may be given
 * several times.
 *
 * Ownership of `fd`: with `done` NULL the transport owns it from a
 * successful call on and closes it once the range is sent or dropped;
 * with `done`, the caller keeps it, and it must stay open and unchanged
 * until `done(arg, fd)`.  On an error return nothing was queued, `done`
 * is never called and `fd` stays the caller's.  A `len` of 0 sends
 * nothing and releases `fd` before returning.
 *
 * Flow control: the range's bytes count in the write buffer size (see
 * wire_transport_get_write_buffer_size) until they are sent, so queueing
 * a range larger than the high watermark calls the protocol's
 * pause_writing before this returns, and resume_writing follows once the
 * rest of the range and what follows it fall to the low watermark.
 *
 * Failures while sending go to connection_lost, as for every write: a
 * read or sendfile error names the fd, the offset and the system's
 * reason; a file that ends before `offset + len` (truncated under us)
 * fails the connection with WIRE_EINCOMPLETE instead of waiting for bytes
 * that will not come.  close() sends the rest of the range first;
 * abort() and a lost connection drop it.  No SIGPIPE, ever.
 *
 * Returns 0; WIRE_EINVAL for a negative `fd` or `offset`, `offset + len`
 * past the largest file offset, or an `fd` that is not an open regular
 * file readable by this process; WIRE_ENOTSUP on a message transport
 * (chunk, lenprefix, the HTTP body transport, the record layer: a file is
 * not one message; read it and write it there); WIRE_ESTATE before
 * connection_made; WIRE_ECLOSED after close/abort/write_eof or once the
 * connection is lost; WIRE_ENOMEM.
 */
WIRE_EXPORT int wire_transport_write_file(struct wire_transport *t, int fd,
                                          off_t offset, size_t len,
                                          wire_file_done_cb done, void *arg);

/** Stop delivering data_received/eof_received until resumed.  Idempotent;
 *  takes effect at once, also when called from inside data_received.
 *  Returns 0, or WIRE_ECLOSED once the connection is lost. */
WIRE_EXPORT int wire_transport_pause_reading(struct wire_transport *t);
/** Resume delivering data: bytes held while paused are delivered from the
 *  loop, never from inside this call.  Idempotent.  A PEP pause
 *  (wire_transport_pause) still holds reading until wire_transport_resume.
 *  Returns 0, or WIRE_ECLOSED once the connection is lost. */
WIRE_EXPORT int wire_transport_resume_reading(struct wire_transport *t);
/** True unless reading is paused (by pause_reading or pause) or closed. */
WIRE_EXPORT bool wire_transport_is_reading(const struct wire_transport *t);

/**
 * PEP 3153 pause: hold both directions.  Reading stops and writes are
 * kept in the buffer (nothing is sent) until wire_transport_resume(),
 * which flushes them.  close() flushes even while paused.  Idempotent.
 * Returns 0, or WIRE_ECLOSED once the connection is lost.
 */
WIRE_EXPORT int wire_transport_pause(struct wire_transport *t);
/** End a PEP 3153 pause: reading restarts (unless paused with
 *  wire_transport_pause_reading()) and what was written meanwhile is
 *  flushed, followed by a write_eof that waited.  Does nothing when not
 *  paused.  Returns 0, or WIRE_ECLOSED once the connection is lost. */
WIRE_EXPORT int wire_transport_resume(struct wire_transport *t);

/**
 * Half-close: flush what is queued, then shut the write side.  Further
 * writes return WIRE_ECLOSED; reading goes on.  If the peer's EOF already
 * arrived (and eof_received kept the transport open), the transport
 * closes once the write side is shut.  A second call returns 0 and does
 * nothing.  Returns 0; WIRE_ENOTSUP when the transport cannot half-close
 * (see wire_transport_can_write_eof); WIRE_ESTATE before
 * connection_made; WIRE_ECLOSED when closing or lost.  A failure to shut
 * the write side goes to connection_lost.
 */
WIRE_EXPORT int wire_transport_write_eof(struct wire_transport *t);
/** True when wire_transport_write_eof() is supported: the transport can
 *  shut its write side and keep reading (TCP, Unix sockets, pipes, the
 *  memory pair, TLS by close_notify...), or, for a framing layer (chunk,
 *  lenprefix), the transport below it can. */
WIRE_EXPORT bool wire_transport_can_write_eof(const struct wire_transport *t);

/**
 * Close gracefully: stop reading, flush what is queued, then close.
 * connection_lost(NULL) follows on a later turn of the loop (or the
 * connection's error, if flushing fails).  Idempotent; does nothing on a
 * transport whose protocol has not had connection_made yet.
 */
WIRE_EXPORT void wire_transport_close(struct wire_transport *t);

/**
 * Close now: drop what is queued (calling write_ref free callbacks before
 * returning), reset the connection where the transport can (TCP: RST),
 * and deliver connection_lost with WIRE_EABORTED on a later turn.
 * Idempotent; after a close() it cuts the flush short; once the
 * connection is already lost it does nothing (the first cause stays).
 */
WIRE_EXPORT void wire_transport_abort(struct wire_transport *t);

/** True once close, abort, or the loss of the connection began (and
 *  still true after connection_lost, while a reference keeps `t`). */
WIRE_EXPORT bool wire_transport_is_closing(const struct wire_transport *t);

/**
 * Flow control: the protocol's pause_writing fires when the buffered
 * bytes rise above `high`, resume_writing when they fall to `low` or
 * below.  `high` 0 means the default (64 KiB); `low` == SIZE_MAX means
 * high/4 (the default low mark).  New limits apply at once: the protocol
 * may get pause_writing or resume_writing before this returns.  Returns
 * 0, or WIRE_EINVAL (nothing changed) when `low` is above `high`.
 */
WIRE_EXPORT int wire_transport_set_write_buffer_limits(struct wire_transport *t,
                                                       size_t high, size_t low);
/** The current high and low watermarks, stored through the pointers that
 *  are not NULL. */
WIRE_EXPORT void wire_transport_get_write_buffer_limits(const struct wire_transport *t,
                                                        size_t *high,
                                                        size_t *low);
/** Bytes queued and not yet handed to the handle (or the layer below),
 *  counting the bytes of queued file ranges (wire_transport_write_file)
 *  not yet sent: what the watermarks compare. */
WIRE_EXPORT size_t wire_transport_get_write_buffer_size(const struct wire_transport *t);

/** What a transport's output queue holds and how file ranges went out
 *  (wire_transport_get_write_stats). */
struct wire_write_stats {
    /** Bytes held in memory in the queue (written bytes, and pieces of
     *  files read and not yet handed to the handle). */
    size_t buffered;
    /** Bytes of queued file ranges neither sent nor read yet. */
    size_t file_pending;
    /** File bytes the handle sent straight from the file (sendfile(2)),
     *  since the transport's queue was first needed. */
    uint64_t file_sent_direct;
    /** File bytes read into memory to be written (every transport that
     *  cannot send from a file, and every layer), likewise. */
    uint64_t file_read;
    /** Bytes of writes copied into the queue because the handle could not
     *  take them at once, likewise.  Bytes the handle takes at once are
     *  never copied.  Through a layer, the layer's own queue copies
     *  nothing the transport below takes at once: a write_ref's bytes
     *  are copied once, at the bottom, and only what the bottom's handle
     *  cannot take, bounded by the bottom's high watermark. */
    uint64_t copied;
    /** Bytes of write_ref buffers queued by reference (not copied),
     *  likewise. */
    uint64_t referenced;
};

/** Fill `st` with the state of `t`'s output queue (all zero for a
 *  transport that never queued anything).  `buffered` + `file_pending`
 *  is wire_transport_get_write_buffer_size(). */
WIRE_EXPORT void wire_transport_get_write_stats(const struct wire_transport *t,
                                                struct wire_write_stats *st);

/** What a protocol on a message transport says about the message it was
 *  given last (see wire_transport_hint_reply). */
enum wire_reply_hint {
    /** This message gets no answer. */
    WIRE_REPLY_NONE = 1,
    /** An answer will be written, maybe on a later turn. */
    WIRE_REPLY_LATER = 2
};

/**
 * Say whether the message delivered last (the latest data_received) will
 * be answered, for a transport that pairs each message with an answer: a
 * request/response carrier such as the HTTP server layer (<wire/http.h>,
 * "The 204 rule"), which must answer every request, with "nothing" (HTTP
 * 204) when the protocol above has nothing to say.  Without a hint such
 * a carrier must guess when "nothing" is the answer (a deadline); with it,
 * WIRE_REPLY_NONE lets it answer "nothing" at once and WIRE_REPLY_LATER
 * lets it wait for an answer however long it takes.  Call it once the
 * protocol knows, usually from inside data_received; a message written
 * for it already is its answer, whatever the hint says.
 *
 * The hint is the transport's own business: it is not forwarded below,
 * and transports that do not pair messages with answers (every byte
 * stream, the framing layers, the HTTP client layer) return WIRE_ENOTSUP,
 * which the protocol ignores, so one protocol runs unchanged over both
 * kinds.  Returns 0, WIRE_ENOTSUP, WIRE_EINVAL (not a wire_reply_hint),
 * WIRE_ESTATE (before connection_made) or WIRE_ECLOSED (closing or lost).
 */
WIRE_EXPORT int wire_transport_hint_reply(struct wire_transport *t,
                                          enum wire_reply_hint hint);

/** Keys for wire_transport_get_info(). */
enum wire_info {
    /** char[]: the transport's name ("tcp", "unix", "mem", "tls", ...) */
    WIRE_INFO_NAME = 1,
    /** char[]: the peer as an endpoint string ("tcp://127.0.0.1:5000") */
    WIRE_INFO_PEER = 2,
    /** char[]: the local side as an endpoint string */
    WIRE_INFO_LOCAL = 3,
    /** struct sockaddr_storage: the peer's socket address */
    WIRE_INFO_PEER_SOCKADDR = 4,
    /** struct sockaddr_storage: the local socket address */
    WIRE_INFO_LOCAL_SOCKADDR = 5,
    /** int: the file descriptor */
    WIRE_INFO_FD = 6,
    /** Keys from 100 on are reserved for layers (TLS, HTTP, ...). */
    WIRE_INFO_LAYER_BASE = 100
};

/**
 * Ask the transport (or, through layers, the transports below it) for
 * information: the first transport from the top that knows `key`
 * answers.  Writes into `out` (`len` bytes, the caller's); strings are
 * NUL-terminated and truncated to fit.  Returns the size of the value
 * (for strings, its full length without the NUL, even when truncated, as
 * snprintf does), WIRE_ENOTSUP when no transport in the stack knows
 * `key`, WIRE_EINVAL when `out` is NULL or too small for a fixed-size
 * value, or another negative code (an fd-based transport whose handle is
 * closed: WIRE_ECLOSED).
 */
WIRE_EXPORT int wire_transport_get_info(struct wire_transport *t, int key,
                                        void *out, size_t len);

/**
 * Hand a live transport over to another protocol: STARTTLS, an HTTP
 * Upgrade, a CONNECT tunnel (see also wire_tls_start).  May be called
 * from any callback of the current protocol, typically data_received.
 *
 * - `p` (a protocol no transport has made) gets connection_made(t) at
 *   once and owns `t` from now on; its pause_writing follows if the
 *   queue is above the high watermark.
 * - `pending`/`len`: bytes the old protocol read past the switch point
 *   (copied).  They are `p`'s first data_received, on a later turn, and
 *   nothing newer is read before them; if `p` pauses reading they wait
 *   for its resume.
 * - The old protocol is detached: it gets no further callback from `t`,
 *   not even connection_lost, and is returned to the caller, who
 *   destroys it (wire_protocol_destroy) or gives it to another transport
 *   (a layer above `p`, say), where it gets connection_made again.  If
 *   it was paused for writing, it stays paused until that transport has
 *   room.  Bytes it wrote before the call stay queued in `t`, ahead of
 *   anything `p` writes; its read pause and its EOF choice do not carry
 *   over (`p` makes its own).
 *
 * Returns the old protocol, or NULL with `err` (if not NULL) set
 * (WIRE_ECLOSED: `t` is not started, closing, or the peer sent EOF;
 * WIRE_ESTATE: the previous hand-over's bytes are not delivered yet;
 * WIRE_EINVAL: a NULL `t` or `p`, `pending` NULL with `len` > 0, or `p`
 * already made by a transport; WIRE_ENOMEM); on error nothing changed
 * and `p` is still the caller's.
 */
WIRE_EXPORT struct wire_protocol *
wire_transport_set_protocol(struct wire_transport *t, struct wire_protocol *p,
                            const void *pending, size_t len,
                            struct wire_error *err);

/** Keep `t` valid past connection_lost: every ref needs an unref.  A
 *  reference keeps the memory, not the connection: the transport still
 *  closes and its protocol is still destroyed after connection_lost.
 *  Returns `t`. */
WIRE_EXPORT struct wire_transport *wire_transport_ref(struct wire_transport *t);
/** Drop a reference taken with wire_transport_ref(); the last one frees
 *  the transport.  Accepts NULL. */
WIRE_EXPORT void wire_transport_unref(struct wire_transport *t);

/** The loop the transport runs on (NULL for the string transport). */
WIRE_EXPORT struct wire_loop *wire_transport_loop(const struct wire_transport *t);
/** The protocol the transport feeds (NULL once it was destroyed). */
WIRE_EXPORT struct wire_protocol *wire_transport_protocol(const struct wire_transport *t);
/** The transport's name, as WIRE_INFO_NAME; a static string. */
WIRE_EXPORT const char *wire_transport_name(const struct wire_transport *t);

#ifdef __cplusplus
}
#endif
#endif /* WIRE_TRANSPORT_H */
