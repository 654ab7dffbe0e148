/**
 * @file
 * libwire — the trace layer: see what crosses one point of a stack.
 *
 * A trace layer sits anywhere in a stack (over a transport, between two
 * layers) and reports every signal that crosses it, with a timestamp, to
 * a callback or as one line of text per event (stderr by default).  It
 * is transparent: bytes, flow control, EOF, close, abort, the loss and
 * get_info pass through unchanged (WIRE_INFO_NAME too: once connected it
 * answers the name of the transport below), and a failure to report
 * (stderr closed, a full disk) never touches the connection.
 *
 * What is reported, by direction:
 *
 *   up (`<`, from the transport below towards the protocol above):
 *   connection_made, data_received (length and bytes), eof_received,
 *   pause_writing / resume_writing (the transport below's watermarks),
 *   connection_lost (with the error, or none after a clean end).
 *
 *   down (`>`, from the protocol above towards the transport below):
 *   write (length and bytes: wire_transport_write, write_sequence and
 *   write_ref alike), write_eof, pause_reading / resume_reading (the
 *   protocol's pause_reading/resume_reading and the reading half of
 *   wire_transport_pause/resume), close, abort.
 *
 * When events happen.  Events are reported as the signal crosses the
 * layer, before it is passed on, so what the receiving side does in
 * answer is reported after it.  A write is reported when its bytes go
 * down: at once while the transport below takes bytes; while it is
 * paused (pause_writing) the bytes wait above the layer, as in every
 * layer, and are reported when they move, possibly in several pieces (a
 * write never goes down past the transport below's high watermark by
 * more than one byte).  A close is reported when it reaches the
 * transport below, after what was queued above was flushed; the
 * protocol above then gets its connection_lost when the transport below
 * has ended, with that transport's error after a clean close (a failed
 * flush, a child's non-zero exit), as it would without the layer.
 * Reading that stops because of EOF, a close or the loss is not a pause
 * and is not reported (a layer above that pauses reading as it closes
 * does call pause_reading, and that is).
 *
 * The text format: one line per event, a stamp in brackets, then fields
 * separated by single spaces (the label has no spaces, so everything
 * after the first "] " splits on spaces; `grep 'B > write'` works):
 *
 *     [     0.391 ms] tcp://127.0.0.1:36571 < connection_made peer=tcp://127.0.0.1:36571 local=tcp://127.0.0.1:53774
 *     [     0.422 ms] tcp://127.0.0.1:36571 > write 6 B  68 65 6c 6c 6f 0a  |hello.|
 *     [     0.630 ms] tcp://127.0.0.1:36571 < data_received 40 B  30 31 32 33 ...  |0123|...
 *     [     0.658 ms] tcp://127.0.0.1:36571 > write_eof
 *     [     0.704 ms] tcp://127.0.0.1:36571 < connection_lost ok
 *     [    13.002 ms] tcp://127.0.0.1:36571 < connection_lost ECONNRESET: Connection reset by peer
 *
 * - the stamp: the time since the layer was created (or since
 *   wire_trace_opts.start_us), in milliseconds with microseconds;
 * - the label (spaces and control characters shown as `_`);
 * - `<` for up, `>` for down;
 * - the event name, as in the API (connection_made, data_received,
 *   eof_received, pause_writing, resume_writing, connection_lost, write,
 *   write_eof, pause_reading, resume_reading, close, abort);
 * - for data_received and write: the length as `N B`; then, unless dumps
 *   are off, two spaces, the first bytes (wire_trace_opts.dump_len, 32 by
 *   default) in hex, ` ...` when there were more, two spaces and the same
 *   bytes as text between bars (bytes outside printable ASCII as `.`),
 *   `...` after the closing bar when cut (the third line above shows a
 *   dump length of 4);
 * - for connection_made: `peer=` and `local=` when the transport below
 *   knows them (WIRE_INFO_PEER, WIRE_INFO_LOCAL; spaces shown as `_`);
 * - for connection_lost: `ok` after a clean end, else the code's name
 *   (wire_err_name), a colon and the message on one line.
 *
 * Endpoints: the `trace` parameter.  Every endpoint that makes
 * connections accepts `trace=` (wire_connect and wire_listen, every
 * scheme: `tcp://127.0.0.1:0?trace=1`, `unix:/run/app.sock?trace=1`,
 * `exec:cat?trace=1`, `stdio:?trace=1`):
 *
 * - `trace=1` (or yes, true, on, or empty): each connection made through
 *   the endpoint gets a trace layer on top of the endpoint's stack,
 *   writing to stderr.  For `tls://` that is above TLS: the plaintext
 *   the protocol reads and writes.
 * - `trace=raw`: for `tls://`, under TLS instead: the TLS records as
 *   they go over TCP (label with `tcp://`).  `trace=both`: both.  For
 *   the other schemes there is no layer to go under: raw and both mean 1.
 * - `trace=0` (no, false, off): no tracing.  Any other value is refused
 *   with WIRE_EENDPOINT ("endpoint parameter trace=banana: expected yes,
 *   no, raw or both").
 *
 * The label of a dialled connection is the endpoint string up to its
 * query (`tcp://127.0.0.1:5000`, `tls://example.org:443`); that of an
 * accepted connection is the server's address and the connection's
 * number on that server (`tcp://127.0.0.1:40312#3`); its
 * connection_made line names the peer.  Times count from each
 * connection's trace layer.
 *
 * Limits (the first three are those of every layer):
 *
 * - A byte-stream layer: put it under framing layers, not above them
 *   (above one, empty messages are not passed on and messages queued
 *   while the layer below is paused may merge).
 * - Calls made for one kind of transport (wire_subprocess_kill,
 *   wire_serial_configure, wire_chunk_write, ...) refuse the trace layer
 *   with WIRE_EINVAL: it is not that transport.
 * - A server's graceful shutdown (wire_server_shutdown) closes each
 *   connection's own transport, under the layer: bytes still queued above
 *   the layer (only while that transport was paused for writing) are not
 *   sent.
 * - While the transport below is ending (a reset read, a close from its
 *   server), writes are accepted and dropped with the loss that follows,
 *   where the transport alone would refuse them with WIRE_ECLOSED.
 */
#ifndef WIRE_TRACE_H
#define WIRE_TRACE_H

#include <stdio.h>
#include <sys/uio.h>
#include <wire/common.h>
#include <wire/protocol.h>

#ifdef __cplusplus
extern "C" {
#endif

/** How many bytes of data a trace line shows by default. */
#define WIRE_TRACE_DEFAULT_DUMP 32u

/** What crossed the layer. */
enum wire_trace_kind {
    /** Up: the transport below is connected (`peer`, `local`). */
    WIRE_TRACE_CONNECTION_MADE = 1,
    /** Up: bytes arrived (`iov`, `len`). */
    WIRE_TRACE_DATA_RECEIVED = 2,
    /** Up: the peer sent EOF. */
    WIRE_TRACE_EOF_RECEIVED = 3,
    /** Up: the transport below's write buffer went over its high mark. */
    WIRE_TRACE_PAUSE_WRITING = 4,
    /** Up: it drained to its low mark. */
    WIRE_TRACE_RESUME_WRITING = 5,
    /** Up: the connection below is gone (`error`, NULL when clean). */
    WIRE_TRACE_CONNECTION_LOST = 6,
    /** Down: bytes written (`iov`, `len`). */
    WIRE_TRACE_WRITE = 7,
    /** Down: half-close. */
    WIRE_TRACE_WRITE_EOF = 8,
    /** Down: the protocol above paused reading. */
    WIRE_TRACE_PAUSE_READING = 9,
    /** Down: it resumed reading. */
    WIRE_TRACE_RESUME_READING = 10,
    /** Down: a graceful close. */
    WIRE_TRACE_CLOSE = 11,
    /** Down: an abort. */
    WIRE_TRACE_ABORT = 12
};

/** Which way an event crossed the layer. */
enum wire_trace_dir {
    /** From the transport below towards the protocol above (`<`). */
    WIRE_TRACE_UP = 1,
    /** From the protocol above towards the transport below (`>`). */
    WIRE_TRACE_DOWN = 2
};

/**
 * One event, as given to a wire_trace_event_cb.  Every pointer is valid
 * during the callback only.
 */
struct wire_trace_event {
    /** What happened. */
    enum wire_trace_kind kind;
    /** Which way it went. */
    enum wire_trace_dir dir;
    /** Microseconds since the layer was created (or since
     *  wire_trace_opts.start_us); never decreases from one event of a
     *  layer to the next. */
    uint64_t time_us;
    /** The layer's label (never NULL). */
    const char *label;
    /** data_received and write: the bytes, whole (not cut to the dump
     *  length), in `iovcnt` pieces; else NULL and 0. */
    const struct iovec *iov;
    /** The number of pieces in `iov`. */
    int iovcnt;
    /** data_received and write: the number of bytes; else 0. */
    size_t len;
    /** connection_lost: the error, or NULL after a clean end. */
    const struct wire_error *error;
    /** connection_made: the peer and local side as endpoint strings, or
     *  NULL when the transport below does not know them. */
    const char *peer;
    /** See `peer`. */
    const char *local;
    /** How many bytes wire_trace_format() shows (0: no dump), from the
     *  layer's options. */
    size_t dump_len;
};

/** Receives each event of a trace layer.  It must not block for long; it
 *  may not free the layer's transports (it is given none). */
typedef void (*wire_trace_event_cb)(void *arg, const struct wire_trace_event *ev);

/**
 * Options for wire_trace_layer_new.  Zero-initialise, then set what you
 * need; a NULL pointer means all defaults (stderr, 32-byte dumps, label
 * from the transport below).
 */
struct wire_trace_opts {
    /** The name shown on every event (copied).  NULL: derived when the
     *  transport below connects, from its WIRE_INFO_PEER
     *  ("tcp://127.0.0.1:5000"), else WIRE_INFO_LOCAL, else its name
     *  ("mem"), else "trace". */
    const char *label;
    /** Receives every event; NULL: each event is written as a line to
     *  `file`. */
    wire_trace_event_cb cb;
    /** Passed to `cb`. */
    void *arg;
    /** Called with `arg` once the layer is freed (after its
     *  connection_lost, or when it is destroyed unstarted), and also when
     *  wire_trace_layer_new fails; may be NULL. */
    void (*arg_free)(void *arg);
    /** Where lines go when `cb` is NULL; NULL: stderr.  Not closed by
     *  the layer; must stay open while the layer lives.  Each line is
     *  written with one fwrite and flushed; a write error is cleared and
     *  ignored, and never raises SIGPIPE. */
    FILE *file;
    /** Bytes of data shown per event; 0: WIRE_TRACE_DEFAULT_DUMP. */
    size_t dump_len;
    /** Show no data bytes, only lengths. */
    bool no_dump;
    /** Count time from this instant of wire_trace_clock_us() instead of
     *  the layer's creation (0): gives several layers one time axis. */
    uint64_t start_us;
};

/**
 * A trace layer over `upper`, which it owns from now on (also on error:
 * a failure destroys `upper`).  Give the returned protocol to a
 * transport (wire_connect, wire_mem_pair, ...) or to another layer;
 * `opts` (may be NULL) is copied.
 *
 * Events are reported from inside the calls that cross the layer (see
 * the top of this file); the callback, or the line, comes before the
 * signal is passed on.  Returns NULL with `err` set: WIRE_EINVAL when
 * `upper` is NULL, WIRE_ENOMEM.
 */
WIRE_EXPORT struct wire_protocol *
wire_trace_layer_new(struct wire_protocol *upper,
                     const struct wire_trace_opts *opts,
                     struct wire_error *err);

/**
 * Format `ev` as the layer writes it (one line, see the top of this file,
 * without the newline) into `buf` of `size` bytes, NUL-terminated and cut
 * to fit.  Returns the length of the whole line (as snprintf: a result
 * >= `size` means it was cut), or WIRE_EINVAL when `ev` is NULL or `buf`
 * is NULL with a non-zero `size`.
 */
WIRE_EXPORT int wire_trace_format(const struct wire_trace_event *ev,
                                  char *buf, size_t size);

/** The event name of `kind` ("write", "connection_lost", ...); "?" for a
 *  value that is not a wire_trace_kind.  Never NULL; static. */
WIRE_EXPORT const char *wire_trace_kind_name(enum wire_trace_kind kind);

/** The clock of trace timestamps: a monotonic time in microseconds (for
 *  wire_trace_opts.start_us). */
WIRE_EXPORT uint64_t wire_trace_clock_us(void);

#ifdef __cplusplus
}
#endif
#endif /* WIRE_TRACE_H */
