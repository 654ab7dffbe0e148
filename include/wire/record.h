/*
 * libwire — record and replay a connection.
 *
 * Recording is a layer (wire_record_layer_new): put it under a protocol
 * and it writes to a file everything that protocol receives and writes,
 * with the chunk boundaries and the times, while it stays out of the way
 * (bytes, flow control, EOF, close, abort and get_info pass through
 * unchanged).  Replay is a transport (wire_replay_start): it reads a
 * recording and plays one side of it to a protocol, chunk by chunk, as
 * fast as possible or with the recorded timing, and can check that what
 * the protocol writes is what was recorded.  One recording of a client
 * session drives either a client protocol (it gets the server's bytes) or
 * a server protocol (it gets the client's bytes).  A reader and a writer
 * give tools and tests the records themselves.
 *
 * The file format (version 1).  All integers are big-endian.
 *
 *   file    = header record*
 *   header  = 20 bytes:
 *             0  8  magic "WIREREC\n" (57 49 52 45 52 45 43 0a)
 *             8  2  version: 1
 *            10  2  reserved: 0
 *            12  8  the wall-clock time the recording was created, in
 *                   microseconds since the Unix epoch (information only)
 *   record  = a 16-byte head, then `length` bytes of payload:
 *             0  1  kind (enum wire_record_kind)
 *             1  3  reserved: 0
 *             4  4  length of the payload (at most WIRE_RECORD_MAX_LEN)
 *             8  8  time: microseconds since the connection was made
 *                   (the layer's connection_made), on a monotonic clock
 *            16     payload
 *
 * Payloads by kind: IN and OUT carry the bytes (a chunk larger than
 * WIRE_RECORD_MAX_LEN is written as several records of the same kind and
 * time); IN_EOF, OUT_EOF, CLOSE and ABORT carry nothing (length 0); END
 * carries a 4-byte signed code (0: a clean end, else a negative libwire
 * code) followed by the error's message (UTF-8, no NUL; empty when
 * clean); INFO carries a 4-byte enum wire_info key (positive) followed
 * by the value (a string, no NUL).  The writer cuts a message or a value
 * at 4096 bytes.
 *
 * Rules every recording keeps (the writer refuses to break them, the
 * reader reports a file that does): times never decrease; nothing
 * follows END, and there is at most one; no IN follows IN_EOF, and there
 * is one IN_EOF at most; no OUT or OUT_EOF follows OUT_EOF, CLOSE or
 * ABORT, and there is one CLOSE or ABORT at most.
 *
 * Nothing else is in the file: no index and no trailer, so a recording
 * is readable up to its last whole record however it was cut short.
 */
#ifndef WIRE_RECORD_H
#define WIRE_RECORD_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <wire/common.h>
#include <wire/loop.h>
#include <wire/protocol.h>
#include <wire/transport.h>

#ifdef __cplusplus
extern "C" {
#endif

/** The version of the format this library writes and reads. */
#define WIRE_RECORD_VERSION 1
/** The file's first 8 bytes. */
#define WIRE_RECORD_MAGIC "WIREREC\n"
/** Bytes of the file header. */
#define WIRE_RECORD_HEADER_SIZE 20
/** Bytes of each record's head (before its payload). */
#define WIRE_RECORD_HEAD_SIZE 16
/** The largest payload of one record (16 MiB). */
#define WIRE_RECORD_MAX_LEN ((size_t)16 * 1024 * 1024)

/** What a record says.  "The recorded side" is the protocol above the
 *  record layer; "its peer" is whoever is at the other end. */
enum wire_record_kind {
    /** Bytes the recorded side received: one data_received. */
    WIRE_RECORD_IN = 1,
    /** Bytes it wrote: one wire_transport_write, write_sequence or
     *  write_ref call, at the time of the call. */
    WIRE_RECORD_OUT = 2,
    /** Its peer's EOF reached it (eof_received). */
    WIRE_RECORD_IN_EOF = 3,
    /** It shut its write side (write_eof, once its queue was flushed). */
    WIRE_RECORD_OUT_EOF = 4,
    /** It closed (close, once its queue was flushed). */
    WIRE_RECORD_CLOSE = 5,
    /** It aborted. */
    WIRE_RECORD_ABORT = 6,
    /** The connection ended (the transport below was lost), with its
     *  code and message. */
    WIRE_RECORD_END = 7,
    /** What the transport below told about itself: a get_info string
     *  (WIRE_INFO_PEER and WIRE_INFO_LOCAL), recorded when the
     *  connection was made, so a replay answers the same. */
    WIRE_RECORD_INFO = 8
};

/** The name of a kind ("IN", "OUT", "IN_EOF", ...), or "?" for a value
 *  that is none.  The string is static. */
WIRE_EXPORT const char *wire_record_kind_name(int kind);

/** One record, as the reader returns it and the writer takes it. */
struct wire_record {
    /** enum wire_record_kind. */
    int kind;
    /** Microseconds since the connection was made. */
    uint64_t time_us;
    /** IN, OUT: the bytes; END: the message; INFO: the value.  NULL (or
     *  anything, with `len` 0) when empty. */
    const void *data;
    /** Bytes at `data`. */
    size_t len;
    /** END: the code (0 or negative); INFO: the enum wire_info key;
     *  otherwise 0. */
    int code;
    /** Reader: where the record starts in the file.  Ignored by the
     *  writer. */
    uint64_t offset;
};

/* ---- the writer ---- */

struct wire_record_writer;

/**
 * Create (or truncate) the recording `path` (mode 0666 less the umask)
 * and write its header.  The file is opened without blocking: a FIFO
 * without a reader fails with -ENXIO, and a FIFO whose reader does not
 * keep up fails a later write with -EAGAIN.  Returns 0 with `*out` set
 * (free it with wire_record_writer_close), or -errno with `err` naming
 * the file.
 */
WIRE_EXPORT int wire_record_writer_open(const char *path,
                                        struct wire_record_writer **out,
                                        struct wire_error *err);

/**
 * The same on an open file descriptor, which the writer owns from now on
 * (also on error: it is then closed) and closes in
 * wire_record_writer_close.  Its flags are left as they are: a blocking
 * pipe blocks the caller while its reader is slow.  Writes to a pipe or
 * socket whose reader has gone fail with -EPIPE, never SIGPIPE.
 */
WIRE_EXPORT int wire_record_writer_open_fd(int fd,
                                           struct wire_record_writer **out,
                                           struct wire_error *err);

/**
 * Append one record, written to the file (one writev) before the call
 * returns: nothing is buffered, so the file holds every whole record
 * even if the process dies.  The writer copies nothing it keeps.
 *
 * Returns 0; WIRE_EINVAL (nothing written; the writer goes on) for a
 * kind that is none, an EOF, CLOSE or ABORT record with bytes, a record
 * that breaks the rules above (a time before the previous one, a record
 * after END...); or, when writing fails, -errno.  A failed write stops
 * the writer: the file is cut back to its last whole record where it
 * can be (a regular file), and every later call returns the same error.
 * `err` (may be NULL) gets the reason and the file offset.
 */
WIRE_EXPORT int wire_record_writer_add(struct wire_record_writer *w,
                                       const struct wire_record *rec,
                                       struct wire_error *err);

/** Bytes written to the file so far (the header and whole records). */
WIRE_EXPORT uint64_t wire_record_writer_offset(const struct wire_record_writer *w);

/**
 * Close the file and free the writer.  Returns 0, or the error that
 * stopped the writer, or the -errno of close(2), with `err` set.
 * Accepts NULL (returns 0).
 */
WIRE_EXPORT int wire_record_writer_close(struct wire_record_writer *w,
                                         struct wire_error *err);

/* ---- the reader ---- */

struct wire_record_reader;

/**
 * Read the recording `path` into memory and check its header.  Returns 0
 * with `*out` set (free it with wire_record_reader_free), -errno when the
 * file cannot be read (-ENOENT...), or WIRE_EPROTO when it is not a
 * recording this library reads (a wrong magic, another version, a
 * truncated header), with `err` naming the file and the offset.
 */
WIRE_EXPORT int wire_record_reader_open(const char *path,
                                        struct wire_record_reader **out,
                                        struct wire_error *err);

/**
 * The same over `len` bytes in memory, which must stay valid and
 * unchanged until the reader is freed (they are not copied).
 */
WIRE_EXPORT int wire_record_reader_new(const void *data, size_t len,
                                       struct wire_record_reader **out,
                                       struct wire_error *err);

/** The header's wall-clock time: microseconds since the Unix epoch. */
WIRE_EXPORT uint64_t wire_record_reader_created(const struct wire_record_reader *r);

/**
 * The next record.  Returns 1 with `*rec` filled (its `data` points into
 * the reader's memory and stays valid until the reader is freed), 0 at
 * the clean end of the file, or WIRE_EPROTO for a record that is cut
 * short, longer than WIRE_RECORD_MAX_LEN, of an unknown kind, with
 * non-zero reserved bytes, a malformed END or INFO payload, or against
 * the rules above; `err` then says what and at which offset.  The error
 * stays: every later call returns it again.  The records before it were
 * whole, so a recording cut short (the process died) is read up to its
 * last whole record.  WIRE_EINVAL when `r` or `rec` is NULL.
 */
WIRE_EXPORT int wire_record_reader_next(struct wire_record_reader *r,
                                        struct wire_record *rec,
                                        struct wire_error *err);

/** Free the reader (and the file's bytes it read).  Accepts NULL. */
WIRE_EXPORT void wire_record_reader_free(struct wire_record_reader *r);

/* ---- the record layer ---- */

/** Keys for wire_transport_get_info() on a record layer. */
enum wire_record_info {
    /** int: 0 while recording, else the negative code that stopped the
     *  recording (the file could not be written). */
    WIRE_INFO_RECORD_ERROR = 400,
    /** char[]: the recording's path ("fd:N" for a descriptor). */
    WIRE_INFO_RECORD_PATH = 401
};

/** Options of the record layer. */
struct wire_record_opts {
    /**
     * Called once when the recording is complete and its file closed:
     * right after the END record, when the transport below is gone (from
     * the loop: its connection_lost), or, for a layer that never started
     * (a connect that failed), when the layer is destroyed.  `err` is
     * NULL when every record was written, else why the recording stopped
     * early (also the failure of close(2)).  May be NULL.
     *
     * When the protocol above closes, the transport below may still be
     * flushing: its connection_lost, the END record and on_done can come
     * after the connection_lost of the protocol above.  Wait for on_done,
     * not for that, before reading the whole recording.
     */
    void (*on_done)(void *arg, const struct wire_error *err);
    /** Passed to on_done. */
    void *arg;
};

/**
 * A layer that records what `upper` (owned from now on, also on error)
 * receives and writes to the new recording `path` (created or truncated,
 * as wire_record_writer_open).  Returns the protocol to give to the
 * transport below, or NULL with `err` set (the -errno of the open,
 * WIRE_ENOMEM).  `opts` may be NULL.
 *
 * What is recorded, in order, with the time of each: INFO records of the
 * peer and local names of the transport below (when it knows them) when
 * the connection is made; each chunk delivered to `upper` (IN, with its
 * boundaries as they came from below); each write `upper` makes (OUT, at
 * the call, one record per call, so also bytes that an abort drops
 * later); the EOF it receives (IN_EOF); its write_eof (OUT_EOF, once
 * flushed); its close (CLOSE, once flushed) or abort (ABORT); and the end
 * of the connection below with its code and message (END).  Empty writes
 * record nothing.
 *
 * The layer is transparent: bytes, flow control, pause, EOF, close and
 * abort pass through as they are, wire_transport_hint_reply is
 * forwarded, and get_info keys other than its own (enum
 * wire_record_info) are answered below; only WIRE_INFO_NAME says
 * "record".  It carries bytes, not messages: put it right above a byte
 * stream (tcp, unix, tls, a pipe, the memory pair), under any message
 * layer.
 *
 * Each record is written to the file before the call that made it
 * returns (see wire_record_writer_add): a regular file is the right
 * place, and it is readable up to its last whole record at any time.
 * Writing the file never breaks the connection: when a write fails the
 * recording stops (the file keeps its whole records), the failure is
 * logged on the loop (WIRE_LOG_WARN), answered by WIRE_INFO_RECORD_ERROR
 * and given to on_done; the connection goes on unrecorded.
 */
WIRE_EXPORT struct wire_protocol *
wire_record_layer_new(struct wire_protocol *upper, const char *path,
                      const struct wire_record_opts *opts,
                      struct wire_error *err);

/** The same, recording to the open descriptor `fd`, which the layer owns
 *  from now on (also on error) and closes when the recording is done
 *  (see wire_record_writer_open_fd). */
WIRE_EXPORT struct wire_protocol *
wire_record_layer_new_fd(struct wire_protocol *upper, int fd,
                         const struct wire_record_opts *opts,
                         struct wire_error *err);

/* ---- replay ---- */

/** Which side of a recording the replayed protocol takes. */
enum wire_replay_side {
    /**
     * The recorded side's: the protocol gets the IN records (each one
     * data_received with exactly those bytes; a protocol with get_buffer
     * gets them in its buffers, in several buffer_updated calls in a row
     * when a buffer is smaller, never one spanning two records), IN_EOF
     * (eof_received),
     * and the END (a clean end, or a loss with the recorded code and
     * message); its writes are checked against the OUT records and its
     * write_eof against OUT_EOF.
     */
    WIRE_REPLAY_RECORDED = 0,
    /**
     * Its peer's: the protocol gets the OUT records as data_received,
     * OUT_EOF and CLOSE as eof_received (the recorded side's close is
     * an EOF to its peer), ABORT as a loss with -ECONNRESET, and END as
     * a clean end; its writes are checked against the IN records and its
     * write_eof against IN_EOF.
     */
    WIRE_REPLAY_PEER = 1
};

/** Options of a replay.  All zero: the recorded side, as fast as
 *  possible, no verification. */
struct wire_replay_opts {
    /** Which side the protocol plays. */
    enum wire_replay_side side;
    /**
     * 0: as fast as possible, one record per loop turn.  Otherwise each
     * gap between two records the protocol gets (and before the first,
     * from connection_made) is the recorded gap multiplied by this: 1.0
     * is the recorded timing, 0.5 twice as fast, 2.0 twice as slow.  A
     * gap runs from the delivery of the previous record, so a protocol
     * that paused reading delays what follows by as long, and never
     * shortens the gaps after it.
     */
    double time_scale;
    /**
     * Check the protocol's output: its bytes, taken as one stream, must
     * be the recorded ones (the boundaries of its writes may differ).
     * The first difference ends the replay: the protocol's
     * connection_lost gets WIRE_EPROTO with a message that names the
     * byte offset in the output, the file offset of the record, and the
     * expected and written bytes there.  So do more bytes than recorded,
     * a write_eof that the recording does not have or that comes early,
     * and, when the connection ends (however it ends), bytes recorded
     * and never written.
     */
    bool verify;
    /**
     * Called once the replay is over, when the transport is freed: right
     * after the protocol's connection_lost and destroy (from the loop),
     * or at the last wire_transport_unref when the caller held a
     * reference.  `err` is NULL when the output matched the recording
     * (or `verify` was off), else the mismatch the protocol was told of.
     * May be NULL.
     */
    void (*on_done)(void *arg, const struct wire_error *err);
    /** Passed to on_done. */
    void *arg;
};

/**
 * Replay the recording `path` to `p`, which the transport owns from now
 * on; connection_made follows on a later turn of `loop`, then one record
 * per turn (or at the recorded times, see time_scale).  The whole file
 * is read and checked first, so a bad recording never starts.
 *
 * The transport behaves as any other: pause_reading holds the records
 * back (nothing is delivered until resume_reading, though an END or a
 * peer's ABORT still ends a paused connection, as a reset would);
 * writes are taken at once (and checked when `verify`), so the protocol
 * never has to pause writing; close and abort end the replay
 * (connection_lost NULL, or WIRE_EABORTED), and a write after them, or
 * after write_eof, returns WIRE_ECLOSED.  When the records run out
 * without an END the replay ends cleanly.  The replay does not wait for
 * the protocol's writes: records are played on their schedule whatever
 * the protocol does.
 *
 * get_info: WIRE_INFO_NAME is "replay"; WIRE_INFO_PEER and
 * WIRE_INFO_LOCAL are the recorded ones (swapped for
 * WIRE_REPLAY_PEER), or "replay:" and the path when not recorded.  A
 * protocol whose output depends on other information (a clock, a random
 * number) writes different bytes in a replay: verify such a protocol
 * only where the recording makes it deterministic.
 *
 * Returns 0 and sets `*out` (may be NULL; valid until `p`'s
 * connection_lost returns, longer with wire_transport_ref), or a
 * negative code with `err` set, and `p` stays the caller's: -errno when
 * the file cannot be read, WIRE_EPROTO for a file that is not a whole,
 * valid recording (the reader's message, with the offset), WIRE_EINVAL
 * for a NULL loop, path or protocol, a side that is none or a negative
 * time_scale, WIRE_ENOMEM.
 */
WIRE_EXPORT int wire_replay_start(struct wire_loop *loop, const char *path,
                                  struct wire_protocol *p,
                                  const struct wire_replay_opts *opts,
                                  struct wire_transport **out,
                                  struct wire_error *err);

#ifdef __cplusplus
}
#endif
#endif /* WIRE_RECORD_H */
