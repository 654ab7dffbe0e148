/**
 * @file
 * libwire — the stream reader/writer: write a parser the way you would
 * write it by hand ("wait for 4 bytes, then for that many"), as asyncio's
 * StreamReader/StreamWriter and ohneio let you, with callbacks.
 *
 *   static void on_open(struct wire_stream *s, void *arg)
 *   {   wire_stream_read_exactly(s, 4, on_header, arg);   }
 *   static void on_header(struct wire_stream *s, const void *d, size_t n,
 *                         const struct wire_error *err, void *arg)
 *   {   if (err) return;  wire_stream_read_exactly(s, be32(d), on_body, arg);   }
 *
 * Reads are queued and completed in the order they were asked for.  A
 * read's callback is never called from inside the call that asked for it:
 * it runs as soon as the current callback returns (so a parser walking a
 * buffer of many messages neither recurses nor waits for the loop), or
 * from the loop when the read was asked for outside any callback.
 *
 * The data a callback receives is valid during the call only.  When a read
 * cannot complete, its callback gets the error and whatever partial data
 * it consumed:
 *   WIRE_EINCOMPLETE  the input ended first (the partial data is given and
 *                     consumed);
 *   WIRE_EMSGSIZE     read_until found no separator within the limit (the
 *                     data is given but stays buffered: read it with
 *                     read/read_exactly, or close);
 *   other             the connection was lost with that error (partial
 *                     data given and consumed).
 *
 * Flow control: reading from the transport pauses while more than `limit`
 * bytes (or what the first queued read needs, if more) are buffered, and
 * resumes as reads consume them.  The stream owns the transport's reading
 * state: a stream that asks for no read stops reading once `limit` bytes
 * are buffered.  Writes are the transport's; drain()
 * waits, if writing is paused, for the output queue to fall to the low
 * watermark.
 */
#ifndef WIRE_STREAM_H
#define WIRE_STREAM_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/uio.h>
#include <wire/common.h>
#include <wire/protocol.h>
#include <wire/transport.h>

#ifdef __cplusplus
extern "C" {
#endif

struct wire_stream;

/** Default buffering limit (asyncio's). */
#define WIRE_STREAM_DEFAULT_LIMIT ((size_t)64 * 1024)
/** Default maximum for read_to_eof. */
#define WIRE_STREAM_DEFAULT_EOF_LIMIT ((size_t)16 * 1024 * 1024)

/** A read completed (err NULL) or failed (see the top of this file), with
 *  the `arg` given to the read.  `data` and `err` are valid during the
 *  call only.  The callback may ask for more reads, write or close. */
typedef void (*wire_stream_read_cb)(struct wire_stream *s, const void *data,
                                    size_t len, const struct wire_error *err,
                                    void *arg);
/** drain: writing is not paused (err NULL; see wire_stream_drain), or
 *  the connection is gone (err says why; WIRE_ECLOSED after a clean
 *  close).  `err` is valid during the call only. */
typedef void (*wire_stream_done_cb)(struct wire_stream *s,
                                    const struct wire_error *err, void *arg);

/** Options for wire_stream_new(); NULL or zeroes mean the defaults. */
struct wire_stream_opts {
    /** Buffering limit and read_until's limit; 0: default. */
    size_t limit;
    /** Most read_to_eof will gather; 0: default. */
    size_t eof_limit;
};

/** What a stream calls, with the `arg` given to wire_stream_new().  Every
 *  entry may be NULL. */
struct wire_stream_handler {
    /** The connection is up: ask for the first read here. */
    void (*open)(struct wire_stream *s, void *arg);
    /** The connection is gone (after every queued read was answered and
     *  every drain waiter called): err NULL after a clean close.  The
     *  stream is freed after this returns. */
    void (*closed)(struct wire_stream *s, const struct wire_error *err,
                   void *arg);
    /** The protocol is being destroyed (also when never started, and when
     *  wire_stream_new() fails): release `arg`.  Called once, last. */
    void (*destroy)(void *arg);
};

/** A stream protocol, to give to a transport (wire_connect(), a server
 *  factory...), which then owns it.  `o` NULL: defaults; `o` and `h` are
 *  copied; `h` may be NULL.  Returns NULL on ENOMEM (after calling
 *  h->destroy(arg)). */
WIRE_EXPORT struct wire_protocol *
wire_stream_new(const struct wire_stream_opts *o,
                const struct wire_stream_handler *h, void *arg);

/* ---- reading: each returns 0 (queued) or an error (nothing queued):
 * WIRE_EINVAL for bad arguments, WIRE_ESTATE before open, WIRE_ECLOSED
 * once closing or lost, WIRE_ENOMEM. ---- */

/** Up to `n` (> 0) bytes, as soon as at least one is there; 0 bytes with
 *  no error at end of input.  `cb(s, data, len, err, arg)` is called once
 *  (see the top of this file for when).  Returns 0 (queued), WIRE_EINVAL
 *  (bad arguments: a NULL `s` or `cb`, `n` 0), WIRE_ESTATE (before open),
 *  WIRE_ECLOSED once closing or lost, or WIRE_ENOMEM; then `cb` is never
 *  called.  The other reads
 *  return the same way. */
WIRE_EXPORT int wire_stream_read(struct wire_stream *s, size_t n,
                                 wire_stream_read_cb cb, void *arg);
/** Exactly `n` bytes (n may exceed the limit; n == 0 completes, empty, in
 *  its turn like any other read).  Returns as wire_stream_read(). */
WIRE_EXPORT int wire_stream_read_exactly(struct wire_stream *s, size_t n,
                                         wire_stream_read_cb cb, void *arg);
/** Up to and including the separator (1..64 bytes, copied).  Returns as
 *  wire_stream_read() (WIRE_EINVAL also for a NULL, empty or longer
 *  separator). */
WIRE_EXPORT int wire_stream_read_until(struct wire_stream *s, const void *sep,
                                       size_t seplen, wire_stream_read_cb cb,
                                       void *arg);
/** read_until `"\n"`.  Returns as wire_stream_read(). */
WIRE_EXPORT int wire_stream_read_line(struct wire_stream *s,
                                      wire_stream_read_cb cb, void *arg);
/** Everything until end of input (at most eof_limit, else WIRE_EMSGSIZE
 *  with the data left buffered).  Returns as wire_stream_read(). */
WIRE_EXPORT int wire_stream_read_to_eof(struct wire_stream *s,
                                        wire_stream_read_cb cb, void *arg);

/** Bytes buffered and not yet consumed by a read. */
WIRE_EXPORT size_t wire_stream_buffered(const struct wire_stream *s);
/** True once the peer's end of input arrived and every byte was read. */
WIRE_EXPORT bool wire_stream_at_eof(const struct wire_stream *s);

/* ---- writing ---- */

/** Write on the stream's transport, as wire_transport_write() (the bytes
 *  are copied or written through).  Returns its result, or WIRE_EINVAL
 *  (a NULL `s`), WIRE_ESTATE (before open) or WIRE_ECLOSED (after
 *  wire_stream_close/abort or the loss). */
WIRE_EXPORT int wire_stream_write(struct wire_stream *s, const void *data,
                                  size_t len);
/** Gathered write, as wire_transport_write_sequence(); returns as
 *  wire_stream_write(). */
WIRE_EXPORT int wire_stream_write_sequence(struct wire_stream *s,
                                           const struct iovec *iov, int iovcnt);
/** Call `cb` once writing is not paused, as asyncio's drain(): from the
 *  loop (never inside this call) when the transport has not paused
 *  writing (the queue is under the high watermark), else once the queue
 *  has fallen to the low watermark.  If the connection starts closing
 *  first, `cb` gets the outcome when it ends (the error, or WIRE_ECLOSED
 *  after a clean close), unless writing was paused and the close's flush
 *  brings the queue down to the low watermark (then err is NULL).
 *  Any number of waiters, each called once, in the order they asked.
 *  0 or WIRE_ECLOSED / WIRE_ESTATE (before open) / WIRE_EINVAL /
 *  WIRE_ENOMEM (cb not called). */
WIRE_EXPORT int wire_stream_drain(struct wire_stream *s,
                                  wire_stream_done_cb cb, void *arg);
/** Half-close: wire_transport_write_eof() on the stream's transport
 *  (reading goes on).  Returns its result (WIRE_ENOTSUP where the
 *  transport cannot half-close), or as wire_stream_write(). */
WIRE_EXPORT int wire_stream_write_eof(struct wire_stream *s);
/** Close after the queued output is written (wire_transport_close());
 *  `closed` follows from the loop.  Does nothing before open or once
 *  closing. */
WIRE_EXPORT void wire_stream_close(struct wire_stream *s);
/** Close now, dropping queued output (wire_transport_abort()); `closed`
 *  follows from the loop with WIRE_EABORTED.  Does nothing before open or
 *  once lost. */
WIRE_EXPORT void wire_stream_abort(struct wire_stream *s);
/** The transport, between open and closed (else NULL); not a new
 *  reference. */
WIRE_EXPORT struct wire_transport *wire_stream_transport(const struct wire_stream *s);

#ifdef __cplusplus
}
#endif
#endif /* WIRE_STREAM_H */
