/*
 * Private to transports/: the transport over file descriptors that pipe,
 * stdio, subprocess, serial and file are built on.
 *
 * A transport has a read side and a write side, each an fd or absent, and
 * both may be the same fd (a tty, a socket given as stdin).  Each side is
 * one of:
 *   POLL   the fd works with epoll (pipes, FIFOs, ttys, sockets): a
 *          libevent event tells when it is ready;
 *   READY  it does not (regular files, /dev/null): it is always ready, so
 *          the transport reads one chunk per loop turn and writes through.
 * Writes to a pipe or FIFO suppress SIGPIPE for the calling thread (block,
 * write, consume a SIGPIPE we caused, restore); sockets use MSG_NOSIGNAL.
 * An absent read side reads as empty input (EOF right after
 * connection_made); an absent write side refuses writes (WIRE_ECLOSED).
 *
 * A concrete transport embeds struct wire__fdio first, builds its ops with
 * WIRE__FDIO_OPS and may wrap close / get_info / free.
 */
#ifndef WIRE_TRANSPORTS_FDIO_H
#define WIRE_TRANSPORTS_FDIO_H

#include "../lib/internal.h"

#include <event2/event_struct.h>
#include <sys/uio.h>

enum wire__fd_kind {
    WIRE__FD_POLL = 0,
    WIRE__FD_READY = 1
};

struct wire__fd_side {
    int fd;              /* -1: absent (or already closed) */
    uint8_t kind;        /* enum wire__fd_kind */
    bool own;            /* close it when the transport closes */
    bool is_fifo;        /* a pipe or FIFO: writes may raise SIGPIPE */
    bool is_sock;        /* a socket: send with MSG_NOSIGNAL, shutdown */
    bool registered;     /* the event is added (POLL), or armed (the
                            timer of a READY read side) */
    bool restore_block;  /* clear O_NONBLOCK again on close */
    bool stdio;          /* fd 0/1/2: never closed, pointed at /dev/null */
    struct event ev;     /* POLL: the fd's event; a READY read side: a
                            zero timer, one chunk per loop iteration */
    struct wire_soon ready; /* deferred readiness: READY writes, and the
                               EOF of an absent read side */
};

struct wire__fdio {
    struct wire_transport base;
    struct wire__fd_side r, w;
    bool same;           /* r.fd == w.fd */
    bool hup_eio;        /* EIO is a hangup (ttys): EOF from read,
                            EPIPE from write */
    bool want_read, want_write;
    bool eof_sent;       /* absent read side: EOF delivered */
    size_t chunk;        /* most bytes per read; 0: the read buffer's */
    char *chunk_buf;     /* own buffer when chunk is larger than it */
    size_t chunk_left;   /* READY: bytes of the current chunk still to
                            deliver (0: a new chunk starts) */
};

/* Initialise `f` (embedded in a larger struct) over `rfd`/`wfd` (-1 for
 * absent).  Classifies each fd, makes it non-blocking (remembering to
 * restore it when `restore` is set), and marks it owned when `own`.
 * Returns 0 or a negative code with `err` set; on error nothing is
 * closed. */
int wire__fdio_init(struct wire__fdio *f, const struct wire_transport_ops *ops,
                    struct wire_loop *loop, int rfd, int wfd, bool own,
                    bool restore, struct wire_error *err);

/* Cut the input into deliveries of at most `chunk` bytes (0: the read
 * buffer's size).  On a READY side (a regular file) every delivery is
 * exactly `chunk` bytes but the last: the stream is cut at multiples of
 * `chunk`, whatever the size of the protocol's get_buffer (a smaller
 * buffer gets the chunk in several buffer_updated calls in the same
 * turn).  Allocates a buffer when `chunk` is larger than the loop's read
 * buffer.  Call after wire__fdio_init; returns 0 or WIRE_ENOMEM with
 * `err` set. */
int wire__fdio_set_chunk(struct wire__fdio *f, size_t chunk,
                         struct wire_error *err);

/* The generic hooks; concrete transports may wrap them. */
void wire__fdio_read_start(struct wire_transport *t);
void wire__fdio_read_stop(struct wire_transport *t);
ssize_t wire__fdio_write(struct wire_transport *t, const struct iovec *iov,
                         int iovcnt);
void wire__fdio_want_write(struct wire_transport *t, bool on);
int wire__fdio_shutdown_write(struct wire_transport *t);
void wire__fdio_close(struct wire_transport *t, bool abort);
int wire__fdio_get_info(struct wire_transport *t, int key, void *out,
                        size_t len);
/* ops->sendfile: a socket side only (stdio on a socket); else
 * WIRE_ENOTSUP, and the core reads the range. */
ssize_t wire__fdio_sendfile(struct wire_transport *t, const struct iovec *head,
                            int headcnt, int fd, off_t offset, size_t len);
/* Release what fdio holds (events, fds still open, buffers); not `f`. */
void wire__fdio_release(struct wire__fdio *f);

#define WIRE__FDIO_OPS(lname, lcaps, closefn, infofn, freefn)                 \
    {                                                                         \
        .name = (lname), .caps = (lcaps),                                     \
        .read_start = wire__fdio_read_start,                                  \
        .read_stop = wire__fdio_read_stop,                                    \
        .write = wire__fdio_write,                                            \
        .want_write = wire__fdio_want_write,                                  \
        .shutdown_write = ((lcaps) & WIRE_CAP_HALF_CLOSE)                     \
                              ? wire__fdio_shutdown_write : NULL,             \
        .close = (closefn), .get_info = (infofn), .free = (freefn),           \
        .sendfile = wire__fdio_sendfile,                                      \
    }

/* Start `t` with `p` and report success to `cb` from the loop, as
 * wire_connect promises; or, when `t` is NULL, report the failure `code`
 * / `msg` (destroying `p`).  Returns 0 or WIRE_ENOMEM (then nothing was
 * scheduled and the caller still owns `t` and `p`). */
int wire__connect_later(struct wire_loop *loop, struct wire_transport *t,
                        struct wire_protocol *p, wire_connect_cb cb, void *arg,
                        int code, const char *msg);

/* Connect-only schemes (endpoints.c). */
int wire__stdio_connect(struct wire_loop *loop, const struct wire_endpoint *ep,
                        const char *str, struct wire_protocol *p,
                        uint64_t timeout_ms, wire_connect_cb cb, void *arg,
                        struct wire_error *err);
int wire__exec_connect(struct wire_loop *loop, const struct wire_endpoint *ep,
                       const char *str, struct wire_protocol *p,
                       uint64_t timeout_ms, wire_connect_cb cb, void *arg,
                       struct wire_error *err);
int wire__serial_connect(struct wire_loop *loop, const struct wire_endpoint *ep,
                         const char *str, struct wire_protocol *p,
                         uint64_t timeout_ms, wire_connect_cb cb, void *arg,
                         struct wire_error *err);
int wire__file_connect(struct wire_loop *loop, const struct wire_endpoint *ep,
                       const char *str, struct wire_protocol *p,
                       uint64_t timeout_ms, wire_connect_cb cb, void *arg,
                       struct wire_error *err);

#endif
