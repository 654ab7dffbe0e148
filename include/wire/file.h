/**
 * @file
 * libwire — files as a transport, for running a protocol against golden
 * files: `file:/path/in?out=/path/out&chunk=N&append=yes`.
 *
 * The input file is delivered as data_received calls of exactly `chunk`
 * bytes (the last one shorter), one per loop turn, then eof_received.  A
 * protocol that offers get_buffer gets each chunk in its buffer: one
 * buffer_updated of the whole chunk when the buffer is large enough, else
 * the chunk in several buffer_updated calls in the same turn; a delivery
 * never spans two chunks.  pause_reading stops between two deliveries;
 * resume_reading continues where it stopped.
 *
 * What the protocol writes goes to the output file: created (mode 0666,
 * less the umask), truncated unless `append`.  Writes to a regular file
 * go through at once; they queue only while the protocol holds the
 * transport with wire_transport_pause().  write_eof closes the output
 * file (it is complete on disk when write_eof returns, unless writes were
 * queued by a pause: then when they are written); close writes what is
 * queued and closes both files.  A file cannot be reset: abort closes
 * both files at once and drops what is queued, and no error reaches the
 * file.
 *
 * Either side may be absent: no input (an empty path, `file:?out=/x`) is
 * empty input (eof_received right after connection_made); no output
 * refuses writes with WIRE_ECLOSED (as after write_eof).
 *
 * A FIFO works on either side.  The input FIFO is opened without waiting
 * for a writer and read as data arrives (deliveries of at most `chunk`
 * bytes); EOF comes when its last writer closes.  An output FIFO must
 * have a reader when it is opened, or the open fails with -ENXIO (the
 * kernel's answer for a FIFO nobody reads; the open never blocks the
 * loop).  Writes to a FIFO whose reader went away fail the connection
 * with -EPIPE, never SIGPIPE.
 *
 * get_info: WIRE_INFO_PEER is "file:" and the input path (where the bytes
 * come from), WIRE_INFO_LOCAL "file:" and the output path (where they go);
 * either is just "file:" when that side is absent.  WIRE_INFO_FD is the
 * input fd (the output fd when there is no input).
 */
#ifndef WIRE_FILE_H
#define WIRE_FILE_H

#include <stdbool.h>
#include <stddef.h>
#include <wire/common.h>
#include <wire/loop.h>
#include <wire/protocol.h>
#include <wire/transport.h>

#ifdef __cplusplus
extern "C" {
#endif

/** Default bytes per data_received. */
#define WIRE_FILE_DEFAULT_CHUNK ((size_t)64 * 1024)
/** Largest chunk. */
#define WIRE_FILE_MAX_CHUNK ((size_t)16 * 1024 * 1024)

/** What wire_file_open() opens (required; the strings are read during the
 *  call only). */
struct wire_file_options {
    const char *in;  /**< input path; NULL or "": no input (empty) */
    const char *out; /**< output path; NULL or "": no output */
    size_t chunk;    /**< bytes per data_received (1..WIRE_FILE_MAX_CHUNK);
                          0: WIRE_FILE_DEFAULT_CHUNK */
    bool append;     /**< append to the output instead of truncating */
};

/**
 * Open the files and start `p` on them from the loop (connection_made on
 * a later turn).  Both files are opened before this returns.  Returns 0
 * and sets `*out` (may be NULL; the transport is valid until `p`'s
 * connection_lost returns), or a negative code with `err` naming the file
 * and the reason ("file:/nope: cannot open input '/nope': No such file or
 * directory"); on error nothing stays open and `p` stays the caller's.
 *
 * Errors: -errno of a failed open (-ENOENT, -EACCES, -ENXIO for an
 * output FIFO without a reader, ...), -EISDIR for a directory on either
 * side, WIRE_EINVAL when input and output are the same regular file
 * (truncating the output would destroy the input), when `chunk` is above
 * WIRE_FILE_MAX_CHUNK, or when `loop`, `opts` or `p` is NULL.
 *
 * The endpoint form is the same: `file:IN?out=OUT&chunk=N&append=yes`
 * through wire_connect(), whose callback reports a failed open; a bad
 * parameter (chunk=0, chunk above WIRE_FILE_MAX_CHUNK, an unknown key) is
 * a synchronous WIRE_EENDPOINT error naming it.  Paths in the endpoint
 * may be %-escaped ('?' as %3F, '&' as %26).
 */
WIRE_EXPORT int wire_file_open(struct wire_loop *loop,
                               const struct wire_file_options *opts,
                               struct wire_protocol *p,
                               struct wire_transport **out,
                               struct wire_error *err);

#ifdef __cplusplus
}
#endif
#endif /* WIRE_FILE_H */
