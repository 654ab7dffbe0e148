/*
 * wirecat-local: the `stdio:` transport over file descriptors 0 and 1.
 *
 * Temporary (see wirecat-stdio.h): issue 4 adds stdio and pipe transports
 * to the library, and this file is deleted then.  It is written against
 * <wire/transport_impl.h> only, as any out-of-tree transport would be.
 *
 * Both descriptors are put in non-blocking mode for the life of the
 * transport, and their original flags are restored when it closes (a
 * terminal left non-blocking breaks the shell that runs wirecat).
 * Descriptors the loop cannot watch (regular files, /dev/null: epoll
 * refuses them, and they never block anyway) are driven as "always ready":
 * an event with no descriptor that the transport activates itself while it
 * wants to read or write.  write_eof releases fd 1 so the reader
 * downstream sees EOF; the number stays occupied by /dev/null so that no
 * socket opened later can land on fd 1.  Writes use write(2): the program
 * must ignore SIGPIPE, and a reader that went away is reported as EPIPE.
 */
#include "wirecat-stdio.h"

#include <wire/loop_event.h>
#include <wire/transport_impl.h>

#include <errno.h>
#include <event2/event.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/uio.h>
#include <unistd.h>
#ifdef __linux__
#include <sys/epoll.h>
#endif

/* How many reads one readiness event may do before yielding to others. */
#define STDIO_READS_PER_EVENT 4

struct stdio_fd {
    int fd;          /* 0 or 1; -1 once released */
    int saved_flags; /* the flags (F_GETFL) before we set O_NONBLOCK */
    bool pollable;   /* the loop can watch it; else "always ready" */
    bool on;         /* reading (fd 0) / want_write (fd 1) is on */
    short what;      /* EV_READ or EV_WRITE */
    struct event *ev;
};

struct stdio_transport {
    struct wire_transport base; /* first: the core's part */
    struct stdio_fd in, out;
    bool shared; /* fds 0 and 1 are the same file: a tty, a socket */
};

bool
wirecat_is_stdio(const char *endpoint)
{
    return strcmp(endpoint, "stdio:") == 0;
}

static struct stdio_transport *
stdio_of(struct wire_transport *t)
{
    return (struct stdio_transport *)t;
}

/* Can the loop watch `fd`?  epoll refuses regular files and devices
 * without poll support (EPERM); those never block, so we need not. */
static bool
can_poll(int fd)
{
    struct stat st;
    if (fstat(fd, &st) == 0 &&
        (S_ISREG(st.st_mode) || S_ISDIR(st.st_mode) || S_ISBLK(st.st_mode)))
        return false;
#ifdef __linux__
    int ep = epoll_create1(EPOLL_CLOEXEC);
    if (ep >= 0) {
        struct epoll_event e;
        memset(&e, 0, sizeof(e));
        e.events = EPOLLIN;
        int rc = epoll_ctl(ep, EPOLL_CTL_ADD, fd, &e);
        int saved = errno;
        close(ep);
        if (rc < 0 && saved == EPERM)
            return false;
    }
#endif
    return true;
}

static void
watch(struct stdio_fd *f, bool on)
{
    if (on == f->on || f->fd < 0)
        return;
    f->on = on;
    if (!on)
        event_del(f->ev);
    else if (f->pollable)
        event_add(f->ev, NULL);
    else
        event_active(f->ev, f->what, 0);
}

/* Stop watching `f`, restore its flags (unless `keep_flags`: fd 0 still
 * reads through the same open file) and let go of the file. */
static void
release(struct stdio_fd *f, bool keep_flags)
{
    if (f->fd < 0)
        return;
    watch(f, false);
    if (!keep_flags)
        fcntl(f->fd, F_SETFL, f->saved_flags);
    int null = open("/dev/null", O_RDWR | O_CLOEXEC);
    if (null >= 0) {
        dup2(null, f->fd);
        close(null);
    } else {
        close(f->fd);
    }
    f->fd = -1;
}

static void
st_read_start(struct wire_transport *t)
{
    watch(&stdio_of(t)->in, true);
}

static void
st_read_stop(struct wire_transport *t)
{
    watch(&stdio_of(t)->in, false);
}

static void
st_want_write(struct wire_transport *t, bool on)
{
    watch(&stdio_of(t)->out, on);
}

static ssize_t
st_write(struct wire_transport *t, const struct iovec *iov, int iovcnt)
{
    struct stdio_transport *s = stdio_of(t);
    if (s->out.fd < 0)
        return WIRE_ECLOSED;
    for (;;) {
        ssize_t n = writev(s->out.fd, iov, iovcnt);
        if (n >= 0)
            return n;
        if (errno == EINTR)
            continue;
        if (errno == EAGAIN || errno == EWOULDBLOCK)
            return 0;
        return -errno;
    }
}

static int
st_shutdown_write(struct wire_transport *t)
{
    struct stdio_transport *s = stdio_of(t);
    struct stat st;
    /* When fd 1 is a socket that fd 0 also reads (inetd style), letting go
     * of fd 1 alone would not end the stream: shut its write side. */
    if (fstat(s->out.fd, &st) == 0 && S_ISSOCK(st.st_mode))
        shutdown(s->out.fd, SHUT_WR);
    release(&s->out, s->shared);
    return 0;
}

static void
st_close(struct wire_transport *t, bool abort)
{
    struct stdio_transport *s = stdio_of(t);
    (void)abort; /* nothing to reset: a pipe or a file just ends */
    release(&s->out, s->shared);
    release(&s->in, false); /* restores a shared file's flags too */
}

static void
st_free(struct wire_transport *t)
{
    struct stdio_transport *s = stdio_of(t);
    st_close(t, false); /* the core closed already; this only frees */
    event_free(s->in.ev);
    event_free(s->out.ev);
    free(s);
}

static const struct wire_transport_ops stdio_ops = {
    .name = "stdio",
    .caps = WIRE_CAP_HALF_CLOSE | WIRE_CAP_EOF,
    .read_start = st_read_start,
    .read_stop = st_read_stop,
    .write = st_write,
    .want_write = st_want_write,
    .shutdown_write = st_shutdown_write,
    .close = st_close,
    .free = st_free,
};

static void
on_readable(evutil_socket_t fd, short what, void *arg)
{
    struct stdio_transport *s = arg;
    struct wire_transport *t = &s->base;
    (void)fd;
    (void)what;
    /* Delivering data may close the transport: keep it alive until we
     * stop touching it. */
    wire_transport_ref(t);
    for (int i = 0; i < STDIO_READS_PER_EVENT && s->in.on; i++) {
        size_t len = 0;
        void *buf = wire_impl_read_buffer(t, &len);
        if (buf == NULL || len == 0) {
            wire_impl_fail(t, WIRE_ENOMEM, "stdin: read: no buffer");
            break;
        }
        ssize_t n = read(s->in.fd, buf, len);
        if (n > 0) {
            if (!wire_impl_read_done(t, buf, (size_t)n))
                break;
            if (s->in.pollable && (size_t)n < len)
                break; /* drained for now */
            continue;
        }
        if (n == 0) {
            wire_impl_eof(t);
            break;
        }
        if (errno == EINTR)
            continue;
        if (errno == EAGAIN || errno == EWOULDBLOCK)
            break;
        int e = errno;
        wire_impl_fail(t, -e, "stdin: read: %s", strerror(e));
        break;
    }
    /* Always ready: come back on the next turn while reading is wanted. */
    if (!s->in.pollable && s->in.on)
        event_active(s->in.ev, EV_READ, 0);
    wire_transport_unref(t);
}

static void
on_writable(evutil_socket_t fd, short what, void *arg)
{
    struct stdio_transport *s = arg;
    struct wire_transport *t = &s->base;
    (void)fd;
    (void)what;
    wire_transport_ref(t);
    wire_impl_writable(t);
    if (!s->out.pollable && s->out.on)
        event_active(s->out.ev, EV_WRITE, 0);
    wire_transport_unref(t);
}

static int
setup(struct stdio_transport *s, struct stdio_fd *f, int fd, short what,
      event_callback_fn cb, struct event_base *base, const char *name,
      struct wire_error *err)
{
    f->what = what;
    f->saved_flags = fcntl(fd, F_GETFL);
    if (f->saved_flags < 0)
        return wire_error_set(err, -errno, "stdio: %s: %s", name,
                              strerror(errno));
    f->pollable = can_poll(fd);
    f->ev = f->pollable ? event_new(base, fd, (short)(what | EV_PERSIST), cb, s)
                        : event_new(base, -1, 0, cb, s);
    if (f->ev == NULL)
        return wire_error_set(err, WIRE_ENOMEM, "stdio: out of memory");
    if (fcntl(fd, F_SETFL, f->saved_flags | O_NONBLOCK) < 0)
        return wire_error_set(err, -errno, "stdio: %s: %s", name,
                              strerror(errno));
    f->fd = fd;
    return 0;
}

/* Undo setup() after a failure: the descriptors stay as they were. */
static void
undo(struct stdio_fd *f)
{
    if (f->fd >= 0)
        fcntl(f->fd, F_SETFL, f->saved_flags);
    if (f->ev != NULL)
        event_free(f->ev);
}

int
wirecat_stdio_start(struct wire_loop *loop, struct wire_protocol *p,
                    struct wire_transport **t, struct wire_error *err)
{
    struct stdio_transport *s = calloc(1, sizeof(*s));
    if (s == NULL)
        return wire_error_set(err, WIRE_ENOMEM, "stdio: out of memory");
    s->in.fd = s->out.fd = -1;
    struct event_base *base = wire_loop_event_base(loop);
    int rc = setup(s, &s->in, 0, EV_READ, on_readable, base, "stdin", err);
    if (rc == 0)
        rc = setup(s, &s->out, 1, EV_WRITE, on_writable, base, "stdout", err);
    if (rc < 0) {
        undo(&s->out);
        undo(&s->in);
        free(s);
        return rc;
    }
    struct stat a, b;
    s->shared = fstat(0, &a) == 0 && fstat(1, &b) == 0 && a.st_dev == b.st_dev &&
                a.st_ino == b.st_ino;
    wire_impl_init(&s->base, &stdio_ops, loop);
    *t = wire_transport_ref(&s->base);
    wire_impl_start(&s->base, p);
    return 0;
}
