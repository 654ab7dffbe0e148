/*
 * libwire — files as a transport, for running a protocol against golden
 * files: `file:/path/in?out=/path/out&chunk=N`.
 *
 * The input file is delivered as data_received calls of exactly `chunk`
 * bytes (the last one shorter), one per loop turn, then eof_received;
 * what the protocol writes goes to the output file (created, or truncated
 * unless `append`).  Either side may be absent: no input is empty input,
 * no output refuses writes.  A FIFO works too (it is read as it arrives).
 * A file cannot be reset: abort is close without flushing.
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

struct wire_file_options {
    const char *in;  /**< input path, or NULL */
    const char *out; /**< output path, or NULL */
    size_t chunk;    /**< bytes per data_received (1..WIRE_FILE_MAX_CHUNK);
                          0: the default */
    bool append;     /**< append to the output instead of truncating */
};

/**
 * Open the files and start `p` on them from the loop.  Returns 0 and sets
 * `*out` (may be NULL), or a negative code with `err` naming the file and
 * the reason; on error `p` stays the caller's.
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
