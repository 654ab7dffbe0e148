/*
 * The transport over file descriptors (see fdio.h): pollable fds through
 * libevent events, always-ready ones (regular files, /dev/null) through
 * deferred turns, SIGPIPE-free writes to pipes, and the helper that starts
 * a connect-only transport from the loop.
 */
#include "fdio.h"
#include "sock.h" /* wire__connect_failed */

#include <errno.h>
#include <event2/event.h>
#include <fcntl.h>
#include <limits.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/sendfile.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#define FDIO_READS_PER_EVENT 16

static struct wire__fdio *
fdio_of(struct wire_transport *t)
{
    return (struct wire__fdio *)(void *)t;
}

/* ---- classifying an fd ---- */

/* Does epoll accept this fd?  (Regular files and /dev/null: no.) */
static bool
pollable(int fd)
{
    int ep = epoll_create1(EPOLL_CLOEXEC);
    if (ep < 0)
        return true; /* cannot tell: let libevent try */
    struct epoll_event ev;
    memset(&ev, 0, sizeof(ev));
    ev.events = EPOLLIN;
    bool ok = epoll_ctl(ep, EPOLL_CTL_ADD, fd, &ev) == 0 || errno != EPERM;
    close(ep);
    return ok;
}

static int
side_init(struct wire__fd_side *s, int fd, bool own, bool restore,
          const char *which, struct wire_error *err)
{
    memset(s, 0, sizeof(*s));
    s->fd = -1;
    if (fd < 0)
        return 0;
    struct stat st;
    if (fstat(fd, &st) < 0)
        return wire_error_set(err, -errno, "%s fd %d: %s", which, fd,
                              strerror(errno));
    if (S_ISDIR(st.st_mode))
        return wire_error_set(err, WIRE_EINVAL, "%s fd %d is a directory",
                              which, fd);
    s->is_fifo = S_ISFIFO(st.st_mode);
    s->is_sock = S_ISSOCK(st.st_mode);
    s->kind = !S_ISREG(st.st_mode) && pollable(fd) ? WIRE__FD_POLL
                                                    : WIRE__FD_READY;
    if (s->kind == WIRE__FD_POLL) {
        int fl = fcntl(fd, F_GETFL);
        if (fl < 0)
            return wire_error_set(err, -errno, "%s fd %d: %s", which, fd,
                                  strerror(errno));
        if (!(fl & O_NONBLOCK)) {
            if (fcntl(fd, F_SETFL, fl | O_NONBLOCK) < 0)
                return wire_error_set(err, -errno, "%s fd %d: %s", which, fd,
                                      strerror(errno));
            s->restore_block = restore;
        }
    }
    s->fd = fd;
    s->own = own;
    s->stdio = fd <= STDERR_FILENO;
    return 0;
}

/* Stop using a side: restore its blocking mode, then close it (an owned
 * fd), point it at /dev/null (stdin/stdout, so the peer sees the end and
 * the number is not reused), or just forget it. */
static void
side_close(struct wire__fdio *f, struct wire__fd_side *s, bool is_read)
{
    if (s->registered) {
        event_del(&s->ev);
        s->registered = false;
    }
    if (s->fd < 0)
        return;
    int fd = s->fd;
    s->fd = -1;
    bool shared = f->same && ((is_read && f->w.fd == fd) || (!is_read && f->r.fd == fd));
    if (shared)
        return; /* the other side closes it */
    if (s->restore_block) {
        int fl = fcntl(fd, F_GETFL);
        if (fl >= 0)
            fcntl(fd, F_SETFL, fl & ~O_NONBLOCK);
    }
    if (s->stdio) {
        int null = open("/dev/null", (is_read ? O_RDONLY : O_WRONLY) | O_CLOEXEC);
        if (null >= 0) {
            dup2(null, fd);
            close(null);
        }
    } else if (s->own) {
        close(fd);
    }
}

/* ---- deferred readiness (READY sides, absent read side) ---- */

static void fdio_read_some(struct wire__fdio *f, int max_reads);

/*
 * A READY read side reads one chunk per loop iteration, driven by a zero
 * timer in r.ev (registered while armed), not by the run-soon queue: the
 * loop runs what is queued during its run-soon pass in the same pass, so
 * a file re-queued per chunk would be read to its end (forever, for
 * /dev/zero) without the loop ever polling I/O or running a timer.  A
 * timer fires once per iteration, after the poll.  It holds no reference:
 * side_close and read_stop delete it, and the transport is never freed
 * before its sides are closed.
 */
static void
r_ready_arm(struct wire__fdio *f)
{
    static const struct timeval zero = {0, 0};
    if (!f->r.registered) {
        event_add(&f->r.ev, &zero);
        f->r.registered = true;
    }
}

static void
r_ready_timer(evutil_socket_t fd, short what, void *arg)
{
    struct wire__fdio *f = arg;
    struct wire_transport *t = &f->base;
    WIRE_UNUSED(fd);
    WIRE_UNUSED(what);
    f->r.registered = false; /* a timer without EV_PERSIST fires once */
    wire_transport_ref(t);
    if (f->want_read && f->r.fd >= 0 && wire_impl_is_active(t)) {
        fdio_read_some(f, 1);
        if (f->want_read && f->r.fd >= 0 && wire_impl_is_active(t))
            r_ready_arm(f); /* the next chunk on the next iteration */
    }
    wire_transport_unref(t);
}

static void
schedule(struct wire__fdio *f, struct wire_soon *node)
{
    if (node->queued)
        return;
    wire_transport_ref(&f->base); /* released by the node */
    wire_impl_defer(&f->base, node);
}

static void
r_ready_run(struct wire_soon *node)
{
    struct wire__fdio *f = wire_container_of(node, struct wire__fdio, r.ready);
    struct wire_transport *t = &f->base;
    /* Only an absent read side is scheduled here (READY sides use
     * r_ready_timer): its EOF, once. */
    if (f->want_read && wire_impl_is_active(t) && f->r.fd < 0 && !f->eof_sent) {
        f->eof_sent = true;
        wire_impl_eof(t);
    }
    wire_transport_unref(t);
}

static void
w_ready_run(struct wire_soon *node)
{
    struct wire__fdio *f = wire_container_of(node, struct wire__fdio, w.ready);
    struct wire_transport *t = &f->base;
    if (f->want_write && f->w.fd >= 0 && wire_impl_is_active(t))
        wire_impl_writable(t);
    wire_transport_unref(t);
}

/* ---- reading ---- */

/* read(2) until `len` bytes, end of file or an error.  For READY sides
 * (regular files): the kernel may return a regular file in short reads
 * (NFS, FUSE, a signal), and a chunk must be exactly `chunk` bytes.
 * Returns the bytes read when there are any (an error after them shows
 * again on the next read), else what read(2) returned. */
static ssize_t
read_full(int fd, char *buf, size_t len)
{
    size_t got = 0;
    while (got < len) {
        ssize_t n = read(fd, buf + got, len - got);
        if (n > 0) {
            got += (size_t)n;
        } else if (n < 0 && errno == EINTR) {
            continue;
        } else if (got == 0) {
            return n;
        } else {
            break;
        }
    }
    return (ssize_t)got;
}

static void
fdio_read_some(struct wire__fdio *f, int max_reads)
{
    struct wire_transport *t = &f->base;
    bool ready = f->r.kind == WIRE__FD_READY;
    for (int i = 0; i < max_reads; i++) {
        if (f->r.fd < 0 || !f->want_read)
            return;
        /* A READY side is cut at multiples of `chunk`: read what is left
         * of the current chunk (less than all of it only when a protocol
         * buffer smaller than the chunk took its start). */
        size_t want = ready && f->chunk_left != 0 ? f->chunk_left : f->chunk;
        size_t len = 0;
        void *buf = wire_impl_read_buffer(t, &len);
        if (buf == NULL || len == 0) {
            wire_impl_fail(t, WIRE_ENOMEM, "read: no buffer");
            return;
        }
        /* A chunk larger than the loop's buffer goes into our own, unless
         * the protocol gave its buffer (get_buffer). */
        bool own_buf = false;
        if (f->chunk_buf != NULL) {
            size_t slen = 0;
            if (buf == wire__loop_scratch(t->loop, &slen)) {
                buf = f->chunk_buf;
                len = f->chunk;
                own_buf = true;
            }
        }
        if (want != 0 && len > want)
            len = want;
        ssize_t n = ready ? read_full(f->r.fd, buf, len) : read(f->r.fd, buf, len);
        if (n > 0) {
            if (ready && f->chunk != 0)
                f->chunk_left = want - (size_t)n;
            bool more = own_buf ? wire_impl_data(t, buf, (size_t)n)
                                : wire_impl_read_done(t, buf, (size_t)n);
            if (!more || (size_t)n < len)
                return;
            if (ready) {
                if (f->chunk_left == 0)
                    return; /* one chunk per loop turn */
                /* The protocol's buffer took part of the chunk: the rest
                 * goes into its next buffer in this turn (chunk_left only
                 * shrinks, so this ends). */
                i--;
            }
            continue;
        }
        if (n == 0) {
            wire_impl_eof(t);
            return;
        }
        if (errno == EINTR) {
            i--;
            continue;
        }
        if (errno == EAGAIN || errno == EWOULDBLOCK)
            return;
        if (errno == EIO && f->hup_eio) {
            /* A tty whose other end hung up. */
            wire_impl_eof(t);
            return;
        }
        int e = errno;
        wire_impl_fail(t, -e, "read: %s", strerror(e));
        return;
    }
}

static void
r_event(evutil_socket_t fd, short what, void *arg)
{
    struct wire__fdio *f = arg;
    WIRE_UNUSED(fd);
    WIRE_UNUSED(what);
    wire_transport_ref(&f->base);
    fdio_read_some(f, FDIO_READS_PER_EVENT);
    wire_transport_unref(&f->base);
}

static void
w_event(evutil_socket_t fd, short what, void *arg)
{
    struct wire__fdio *f = arg;
    WIRE_UNUSED(fd);
    WIRE_UNUSED(what);
    wire_transport_ref(&f->base);
    if (f->w.fd >= 0)
        wire_impl_writable(&f->base);
    wire_transport_unref(&f->base);
}

void
wire__fdio_read_start(struct wire_transport *t)
{
    struct wire__fdio *f = fdio_of(t);
    f->want_read = true;
    if (f->r.fd < 0) {
        schedule(f, &f->r.ready);
    } else if (f->r.kind == WIRE__FD_READY) {
        r_ready_arm(f);
    } else if (!f->r.registered) {
        event_add(&f->r.ev, NULL);
        f->r.registered = true;
    }
}

void
wire__fdio_read_stop(struct wire_transport *t)
{
    struct wire__fdio *f = fdio_of(t);
    f->want_read = false;
    if (f->r.registered) {
        event_del(&f->r.ev);
        f->r.registered = false;
    }
}

/* ---- writing ---- */

/* A call that may raise SIGPIPE (writev to a pipe, sendfile to a
 * socket), without it: block it for this thread, make the call, take back
 * a SIGPIPE the call raised (not one already pending), and restore the
 * mask.  The process's disposition is never touched.  A call that wrote
 * part of its bytes may have raised it too (the reader went away in the
 * middle: the kernel returns the count and sends the signal), so
 * anything short of the whole count is checked. */
struct nosigpipe {
    sigset_t set, old;
    bool was_pending;
};

static void
nosigpipe_begin(struct nosigpipe *s)
{
    sigset_t pending;
    sigemptyset(&s->set);
    sigaddset(&s->set, SIGPIPE);
    pthread_sigmask(SIG_BLOCK, &s->set, &s->old);
    s->was_pending = sigpending(&pending) == 0 && sigismember(&pending, SIGPIPE);
}

/* `n` of `want` bytes went (n < 0: failed with errno `e`, kept for the
 * caller). */
static void
nosigpipe_end(struct nosigpipe *s, ssize_t n, size_t want, int e)
{
    if (((n < 0 && e == EPIPE) || (n >= 0 && (size_t)n < want)) &&
        !s->was_pending) {
        struct timespec zero = {0, 0};
        while (sigtimedwait(&s->set, NULL, &zero) < 0 && errno == EINTR)
            ;
    }
    pthread_sigmask(SIG_SETMASK, &s->old, NULL);
    errno = e;
}

static ssize_t
writev_nosigpipe(int fd, const struct iovec *iov, int cnt)
{
    struct nosigpipe s;
    size_t want = 0;
    for (int i = 0; i < cnt; i++)
        want += iov[i].iov_len;
    nosigpipe_begin(&s);
    ssize_t n = writev(fd, iov, cnt);
    nosigpipe_end(&s, n, want, errno);
    return n;
}

/* sendfile(2) without SIGPIPE: bytes sent, 0 at the file's end, -EAGAIN,
 * WIRE_ENOTSUP (this file or socket cannot) or -errno. */
static ssize_t
sendfile_nosigpipe(int sock, int fd, off_t offset, size_t len)
{
    struct nosigpipe s;
    off_t off = offset;
    ssize_t n;
    nosigpipe_begin(&s);
    do
        n = sendfile(sock, fd, &off, len);
    while (n < 0 && errno == EINTR);
    int e = errno;
    nosigpipe_end(&s, n, len, e);
    if (n >= 0)
        return n;
    if (e == EAGAIN || e == EWOULDBLOCK)
        return -EAGAIN;
    if (e == EINVAL || e == ENOSYS || e == EOPNOTSUPP || e == ESPIPE)
        return WIRE_ENOTSUP;
    return -e;
}

ssize_t
wire__sendfile(int sock, const struct iovec *head, int headcnt, int fd,
               off_t offset, size_t len)
{
    size_t hl = 0;
    for (int i = 0; i < headcnt; i++)
        hl += head[i].iov_len;
    ssize_t h = 0;
    if (hl > 0) {
        /* MSG_MORE: the head waits in the socket for the file's first
         * bytes, so a response head and its body share segments instead
         * of the head going out alone (TCP_NODELAY). */
        struct msghdr msg;
        memset(&msg, 0, sizeof(msg));
        msg.msg_iov = (struct iovec *)(uintptr_t)head;
        msg.msg_iovlen = (size_t)(headcnt < IOV_MAX ? headcnt : IOV_MAX);
        do
            h = sendmsg(sock, &msg, MSG_NOSIGNAL | MSG_DONTWAIT | MSG_MORE);
        while (h < 0 && errno == EINTR);
        if (h < 0)
            return errno == EAGAIN || errno == EWOULDBLOCK ? -EAGAIN : -errno;
        if ((size_t)h < hl)
            return h; /* the socket is full */
    }
    ssize_t n = sendfile_nosigpipe(sock, fd, offset, len);
    if (n < 0 || (n == 0 && h > 0))
        return h > 0 ? h : n; /* the next call reports what went wrong */
    return h + n;
}

ssize_t
wire__fdio_sendfile(struct wire_transport *t, const struct iovec *head,
                    int headcnt, int fd, off_t offset, size_t len)
{
    struct wire__fdio *f = fdio_of(t);
    if (f->w.fd < 0)
        return WIRE_ECLOSED;
    if (!f->w.is_sock || f->w.kind != WIRE__FD_POLL)
        return WIRE_ENOTSUP; /* a pipe, a tty, a file: read the range */
    return wire__sendfile(f->w.fd, head, headcnt, fd, offset, len);
}

ssize_t
wire__fdio_write(struct wire_transport *t, const struct iovec *iov, int iovcnt)
{
    struct wire__fdio *f = fdio_of(t);
    if (f->w.fd < 0)
        return WIRE_ECLOSED;
    int cnt = iovcnt < IOV_MAX ? iovcnt : IOV_MAX;
    for (;;) {
        ssize_t n;
        if (f->w.is_sock) {
            struct msghdr msg;
            memset(&msg, 0, sizeof(msg));
            msg.msg_iov = (struct iovec *)(uintptr_t)iov;
            msg.msg_iovlen = (size_t)cnt;
            n = sendmsg(f->w.fd, &msg, MSG_NOSIGNAL | MSG_DONTWAIT);
        } else if (f->w.is_fifo) {
            n = writev_nosigpipe(f->w.fd, iov, cnt);
        } else {
            n = writev(f->w.fd, iov, cnt);
        }
        if (n >= 0)
            return n;
        if (errno == EINTR)
            continue;
        if (errno == EAGAIN || errno == EWOULDBLOCK)
            return 0;
        if (errno == EIO && f->hup_eio) {
            /* A tty whose other end hung up: like a pipe with no
             * reader. */
            return -EPIPE;
        }
        return -errno;
    }
}

void
wire__fdio_want_write(struct wire_transport *t, bool on)
{
    struct wire__fdio *f = fdio_of(t);
    f->want_write = on;
    if (f->w.fd < 0)
        return;
    if (f->w.kind == WIRE__FD_READY) {
        if (on)
            schedule(f, &f->w.ready);
    } else if (on && !f->w.registered) {
        event_add(&f->w.ev, NULL);
        f->w.registered = true;
    } else if (!on && f->w.registered) {
        event_del(&f->w.ev);
        f->w.registered = false;
    }
}

int
wire__fdio_shutdown_write(struct wire_transport *t)
{
    struct wire__fdio *f = fdio_of(t);
    if (f->w.fd < 0)
        return 0;
    if (f->same) {
        if (!f->w.is_sock)
            return WIRE_ENOTSUP;
        if (f->w.registered) {
            event_del(&f->w.ev);
            f->w.registered = false;
        }
        if (shutdown(f->w.fd, SHUT_WR) < 0 && errno != ENOTCONN)
            return -errno;
        return 0;
    }
    /* A socket may be open elsewhere too (stdin and stdout on one
     * socket): closing our fd would not end the stream, shutdown does. */
    if (f->w.is_sock && shutdown(f->w.fd, SHUT_WR) < 0 && errno != ENOTCONN)
        return -errno;
    side_close(f, &f->w, false);
    return 0;
}

void
wire__fdio_close(struct wire_transport *t, bool abort)
{
    struct wire__fdio *f = fdio_of(t);
    WIRE_UNUSED(abort);
    f->want_read = f->want_write = false;
    side_close(f, &f->r, true);
    f->same = false; /* the read side let go of a shared fd: close it now */
    side_close(f, &f->w, false);
}

int
wire__fdio_get_info(struct wire_transport *t, int key, void *out, size_t len)
{
    struct wire__fdio *f = fdio_of(t);
    if (key != WIRE_INFO_FD)
        return WIRE_ENOTSUP;
    if (out == NULL || len < sizeof(int))
        return WIRE_EINVAL;
    int fd = f->r.fd >= 0 ? f->r.fd : f->w.fd;
    if (fd < 0)
        return WIRE_ECLOSED;
    *(int *)out = fd;
    return (int)sizeof(int);
}

int
wire__fdio_set_chunk(struct wire__fdio *f, size_t chunk, struct wire_error *err)
{
    size_t scratch = 0;
    f->chunk = chunk;
    f->chunk_left = 0;
    if (chunk == 0)
        return 0;
    wire__loop_scratch(f->base.loop, &scratch);
    if (chunk > scratch && f->chunk_buf == NULL &&
        (f->chunk_buf = malloc(chunk)) == NULL)
        return wire_error_set(err, WIRE_ENOMEM, "out of memory");
    return 0;
}

void
wire__fdio_release(struct wire__fdio *f)
{
    wire__fdio_close(&f->base, false);
    free(f->chunk_buf);
    f->chunk_buf = NULL;
}

int
wire__fdio_init(struct wire__fdio *f, const struct wire_transport_ops *ops,
                struct wire_loop *loop, int rfd, int wfd, bool own,
                bool restore, struct wire_error *err)
{
    memset(f, 0, sizeof(*f));
    f->r.fd = f->w.fd = -1;
    int rc = side_init(&f->r, rfd, own, restore, "read", err);
    if (rc == 0) {
        if (wfd >= 0 && wfd == rfd) {
            f->w = f->r;
            f->same = true;
            /* The write side closes a shared fd, so it restores it. */
            f->r.restore_block = false;
        } else {
            rc = side_init(&f->w, wfd, own, restore, "write", err);
        }
    }
    if (rc < 0) {
        if (f->r.restore_block || (f->same && f->w.restore_block)) {
            int fl = fcntl(rfd, F_GETFL);
            if (fl >= 0)
                fcntl(rfd, F_SETFL, fl & ~O_NONBLOCK);
        }
        return rc;
    }
    wire_impl_init(&f->base, ops, loop);
    struct event_base *base = wire_loop_event_base(loop);
    if (f->r.fd >= 0 && f->r.kind == WIRE__FD_READY)
        event_assign(&f->r.ev, base, -1, 0, r_ready_timer, f);
    else if (f->r.fd >= 0)
        event_assign(&f->r.ev, base, f->r.fd, EV_READ | EV_PERSIST, r_event, f);
    if (f->w.fd >= 0)
        event_assign(&f->w.ev, base, f->w.fd, EV_WRITE | EV_PERSIST, w_event, f);
    f->r.ready.fn = r_ready_run;
    f->w.ready.fn = w_ready_run;
    if (f->w.fd < 0) {
        /* Nothing to write to: writes are refused as after write_eof. */
        f->base.flags |= WIRE_T_WRITE_SHUT;
    }
    return 0;
}

/* ---- starting a connect-only transport from the loop ---- */

struct later {
    struct wire_soon node;
    struct wire_transport *t;
    struct wire_protocol *p;
    wire_connect_cb cb;
    void *arg;
    int code;
    char msg[];
};

static void
later_run(struct wire_soon *node)
{
    struct later *l = wire_container_of(node, struct later, node);
    if (l->t != NULL) {
        struct wire_transport *t = l->t;
        wire_transport_ref(t);
        wire_impl_start(t, l->p);
        if (l->cb != NULL)
            l->cb(l->arg, t, NULL);
        wire_transport_unref(t);
    } else {
        wire__connect_failed(l->p, l->cb, l->arg, l->code, "%s", l->msg);
    }
    free(l);
}

int
wire__connect_later(struct wire_loop *loop, struct wire_transport *t,
                    struct wire_protocol *p, wire_connect_cb cb, void *arg,
                    int code, const char *msg)
{
    size_t mlen = msg != NULL ? strlen(msg) + 1 : 1;
    struct later *l = calloc(1, sizeof(*l) + mlen);
    if (l == NULL)
        return WIRE_ENOMEM;
    l->node.fn = later_run;
    l->t = t;
    l->p = p;
    l->cb = cb;
    l->arg = arg;
    l->code = code;
    if (msg != NULL)
        memcpy(l->msg, msg, mlen);
    wire__loop_soon(loop, &l->node);
    return 0;
}
