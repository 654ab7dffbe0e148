/*
 * libwire — transports over file descriptors you already have: a pipe (a
 * read fd and a write fd, either may be absent), a pair of pipes for
 * tests, and stdin/stdout (`stdio:`).
 *
 * Any kind of fd works: pipes, FIFOs, ttys and sockets are watched by the
 * loop; regular files and /dev/null (which the kernel cannot poll) are
 * read one chunk per loop turn.  Writing to a pipe whose reader is gone
 * gives EPIPE in connection_lost, never SIGPIPE.  An absent read side is
 * empty input (eof_received right after connection_made); an absent write
 * side refuses writes with WIRE_ECLOSED.  write_eof closes the write fd
 * (shutdown(SHUT_WR) on a socket used for both directions).
 */
#ifndef WIRE_PIPE_H
#define WIRE_PIPE_H

#include <stdbool.h>
#include <stddef.h>
#include <wire/common.h>
#include <wire/loop.h>
#include <wire/protocol.h>
#include <wire/transport.h>

#ifdef __cplusplus
extern "C" {
#endif

struct wire_pipe_options {
    /** Leave the fds open when the transport closes (default: close). */
    bool keep_fds;
    /** Put the fds back in blocking mode on close if they were (default:
     *  only with keep_fds). */
    bool restore_blocking;
    /** Most bytes per data_received (0: the loop's read buffer, 64 KiB). */
    size_t read_chunk;
};

/**
 * A transport over `rfd` (read) and `wfd` (write); either may be -1, and
 * they may be the same fd.  The fds become non-blocking.  `p` is started
 * (connection_made) from the loop.  Returns 0 and sets `*out` (may be
 * NULL), or a negative code with `err` set; on error the fds and `p` stay
 * the caller's.
 */
WIRE_EXPORT int wire_pipe_open(struct wire_loop *loop, int rfd, int wfd,
                               struct wire_protocol *p,
                               const struct wire_pipe_options *opts,
                               struct wire_transport **out,
                               struct wire_error *err);

/**
 * Two pipe transports joined back to back (two pipe(2)s): what `a` writes
 * `b` reads and the other way round.  Both protocols start from the loop.
 * On error nothing is created and the protocols stay the caller's.
 */
WIRE_EXPORT int wire_pipe_pair(struct wire_loop *loop, struct wire_protocol *a,
                               struct wire_protocol *b,
                               struct wire_transport **ta,
                               struct wire_transport **tb,
                               struct wire_error *err);

/**
 * stdin and stdout as one transport (`stdio:`).  Their blocking mode is
 * restored when it closes, and they are then pointed at /dev/null (so the
 * peer sees the end, and fds 0 and 1 stay valid).  One at a time per
 * process: WIRE_ESTATE while another is open.
 */
WIRE_EXPORT int wire_stdio_open(struct wire_loop *loop, struct wire_protocol *p,
                                struct wire_transport **out,
                                struct wire_error *err);

#ifdef __cplusplus
}
#endif
#endif /* WIRE_PIPE_H */
