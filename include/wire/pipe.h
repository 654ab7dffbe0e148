/**
 * @file
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

/** Options for wire_pipe_open(); a NULL pointer means all defaults (the
 *  fds are closed with the transport). */
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
 * they may be the same fd.  The fds become non-blocking, and the
 * transport owns them (closes them when it closes) unless
 * `opts->keep_fds`.  `p` is started (connection_made) from the loop,
 * never from inside this call; the transport owns it from this call on.
 * Returns 0 and sets `*out` (may be NULL; valid until `p`'s
 * connection_lost returns), or a negative code with `err` (if not NULL)
 * set: WIRE_EINVAL (no loop, no protocol, both fds -1, a directory),
 * -errno for an fd that cannot be used (-EBADF), WIRE_ENOMEM.  On error
 * the fds (in their original blocking mode) and `p` stay the caller's.
 */
WIRE_EXPORT int wire_pipe_open(struct wire_loop *loop, int rfd, int wfd,
                               struct wire_protocol *p,
                               const struct wire_pipe_options *opts,
                               struct wire_transport **out,
                               struct wire_error *err);

/**
 * Two pipe transports joined back to back (two pipe(2)s): what `a` writes
 * `b` reads and the other way round.  Both protocols start from the loop
 * (a first, then b), never from inside this call, and are owned by their
 * transports from this call on.  `*ta`/`*tb` (either may be NULL) receive
 * the transports, valid until their protocol's connection_lost returns.
 * Returns 0, WIRE_EINVAL (a NULL `loop`, `a` or `b`), -errno from pipe2()
 * (-EMFILE...) or WIRE_ENOMEM, with `err` (if not NULL) set.  On error
 * nothing is created and the protocols stay the caller's.
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
 * process: WIRE_ESTATE while another is open.  `p` is started from the
 * loop and owned by the transport from this call on; `*out` (may be NULL)
 * receives the transport.  Returns 0, or WIRE_EINVAL (a NULL `loop` or
 * `p`), WIRE_ESTATE, WIRE_ENOMEM or -errno (fd 0 or 1 unusable) with
 * `err` (if not NULL) set; on error `p` stays the caller's.
 */
WIRE_EXPORT int wire_stdio_open(struct wire_loop *loop, struct wire_protocol *p,
                                struct wire_transport **out,
                                struct wire_error *err);

#ifdef __cplusplus
}
#endif
#endif /* WIRE_PIPE_H */
