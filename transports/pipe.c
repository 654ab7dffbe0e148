/*
 * pipe and stdio: fdio transports over fds the caller has (pipe), made
 * here (a pair of pipes), or the process's own stdin/stdout (stdio).
 */
#include "fdio.h"

#include <wire/pipe.h>

#include <errno.h>
#include <fcntl.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

struct pipe_transport {
    struct wire__fdio f; /* first */
    bool is_stdio;
    char local[48], peer[48];
};

static atomic_bool stdio_in_use;

static struct pipe_transport *
pipe_of(struct wire_transport *t)
{
    return (struct pipe_transport *)(void *)t;
}

static void
pipe_close(struct wire_transport *t, bool abort)
{
    struct pipe_transport *pt = pipe_of(t);
    wire__fdio_close(t, abort);
    if (pt->is_stdio) {
        pt->is_stdio = false;
        atomic_store(&stdio_in_use, false);
    }
}

static int
pipe_get_info(struct wire_transport *t, int key, void *out, size_t len)
{
    struct pipe_transport *pt = pipe_of(t);
    if (key == WIRE_INFO_PEER)
        return wire_impl_info_string(out, len, pt->peer);
    if (key == WIRE_INFO_LOCAL)
        return wire_impl_info_string(out, len, pt->local);
    return wire__fdio_get_info(t, key, out, len);
}

static void
pipe_free(struct wire_transport *t)
{
    struct pipe_transport *pt = pipe_of(t);
    wire__fdio_release(&pt->f);
    if (pt->is_stdio)
        atomic_store(&stdio_in_use, false);
    free(pt);
}

static const struct wire_transport_ops pipe_ops =
    WIRE__FDIO_OPS("pipe", WIRE_CAP_HALF_CLOSE | WIRE_CAP_EOF, pipe_close,
                   pipe_get_info, pipe_free);
/* One fd for both directions that is not a socket (a tty): no half-close. */
static const struct wire_transport_ops pipe_tty_ops =
    WIRE__FDIO_OPS("pipe", WIRE_CAP_EOF, pipe_close, pipe_get_info, pipe_free);
static const struct wire_transport_ops stdio_ops =
    WIRE__FDIO_OPS("stdio", WIRE_CAP_HALF_CLOSE | WIRE_CAP_EOF, pipe_close,
                   pipe_get_info, pipe_free);

static bool
same_non_socket(int rfd, int wfd)
{
    if (rfd < 0 || rfd != wfd)
        return false;
    int type;
    socklen_t len = sizeof(type);
    return getsockopt(rfd, SOL_SOCKET, SO_TYPE, &type, &len) < 0;
}

/* Make a pipe transport (not started). */
static struct pipe_transport *
pipe_make(struct wire_loop *loop, const struct wire_transport_ops *ops, int rfd,
          int wfd, bool own, bool restore, size_t chunk, struct wire_error *err)
{
    struct pipe_transport *pt = calloc(1, sizeof(*pt));
    if (pt == NULL) {
        wire_error_set(err, WIRE_ENOMEM, "out of memory");
        return NULL;
    }
    if (wire__fdio_init(&pt->f, ops, loop, rfd, wfd, own, restore, err) < 0) {
        free(pt);
        return NULL;
    }
    if (wire__fdio_set_chunk(&pt->f, chunk, err) < 0) {
        /* The fds stay the caller's, as when wire__fdio_init fails. */
        pt->f.r.own = pt->f.w.own = false;
        wire__fdio_release(&pt->f);
        free(pt);
        return NULL;
    }
    /* A tty read side (a pty master, a terminal on stdin) reads EIO once
     * the other end hung up: that is its end of input. */
    pt->f.hup_eio = rfd >= 0 && isatty(rfd);
    /* LOCAL names our fds; PEER is the same unless we know the other end
     * (a pair). */
    snprintf(pt->local, sizeof(pt->local), "pipe:r=%d,w=%d", rfd, wfd);
    memcpy(pt->peer, pt->local, sizeof(pt->peer));
    return pt;
}

static int
pipe_open_impl(struct wire_loop *loop, int rfd, int wfd, struct wire_protocol *p,
               const struct wire_pipe_options *opts, struct wire_transport **out,
               struct wire_error *err)
{
    if (loop == NULL || p == NULL || (rfd < 0 && wfd < 0))
        return wire_error_set(err, WIRE_EINVAL,
                              "wire_pipe_open: a loop, a protocol and at least "
                              "one fd are required");
    bool keep = opts != NULL && opts->keep_fds;
    bool restore = keep || (opts != NULL && opts->restore_blocking);
    const struct wire_transport_ops *ops =
        same_non_socket(rfd, wfd) ? &pipe_tty_ops : &pipe_ops;
    struct pipe_transport *pt = pipe_make(loop, ops, rfd, wfd, !keep, restore,
                                          opts != NULL ? opts->read_chunk : 0, err);
    if (pt == NULL)
        return err != NULL ? err->code : WIRE_EINVAL;
    if (wire__connect_later(loop, &pt->f.base, p, NULL, NULL, 0, NULL) < 0) {
        /* Give the fds back as they were. */
        pt->f.r.own = pt->f.w.own = false;
        wire__fdio_release(&pt->f);
        free(pt);
        return wire_error_set(err, WIRE_ENOMEM, "out of memory");
    }
    if (out != NULL)
        *out = &pt->f.base;
    return 0;
}

/* A caller that passes no `err` still gets the real code back. */
int
wire_pipe_open(struct wire_loop *loop, int rfd, int wfd, struct wire_protocol *p,
               const struct wire_pipe_options *opts, struct wire_transport **out,
               struct wire_error *err)
{
    struct wire_error local = {0};
    int rc = pipe_open_impl(loop, rfd, wfd, p, opts, out,
                            err != NULL ? err : &local);
    wire_error_clear(&local);
    return rc;
}

struct pair_start {
    struct wire_soon node;
    struct pipe_transport *pa, *pb;
    struct wire_protocol *a, *b;
};

static void
pair_start_run(struct wire_soon *node)
{
    struct pair_start *ps = wire_container_of(node, struct pair_start, node);
    wire_impl_start(&ps->pa->f.base, ps->a);
    wire_impl_start(&ps->pb->f.base, ps->b);
    free(ps);
}

static int
pipe_pair_impl(struct wire_loop *loop, struct wire_protocol *a,
               struct wire_protocol *b, struct wire_transport **ta,
               struct wire_transport **tb, struct wire_error *err)
{
    if (loop == NULL || a == NULL || b == NULL)
        return wire_error_set(err, WIRE_EINVAL,
                              "wire_pipe_pair: a loop and two protocols are "
                              "required");
    int ab[2], ba[2];
    if (pipe2(ab, O_CLOEXEC | O_NONBLOCK) < 0)
        return wire_error_set(err, -errno, "pipe: %s", strerror(errno));
    if (pipe2(ba, O_CLOEXEC | O_NONBLOCK) < 0) {
        int e = errno;
        close(ab[0]);
        close(ab[1]);
        return wire_error_set(err, -e, "pipe: %s", strerror(e));
    }
    struct pair_start *ps = calloc(1, sizeof(*ps));
    struct pipe_transport *pa = NULL, *pb = NULL;
    if (ps != NULL)
        pa = pipe_make(loop, &pipe_ops, ba[0], ab[1], true, false, 0, err);
    if (pa != NULL)
        pb = pipe_make(loop, &pipe_ops, ab[0], ba[1], true, false, 0, err);
    if (pb == NULL) {
        int code = ps == NULL ? wire_error_set(err, WIRE_ENOMEM, "out of memory")
                              : err != NULL ? err->code : WIRE_ENOMEM;
        if (pa != NULL) {
            wire__fdio_release(&pa->f); /* closes ba[0] and ab[1] */
            free(pa);
        } else {
            close(ba[0]);
            close(ab[1]);
        }
        close(ab[0]);
        close(ba[1]);
        free(ps);
        return code;
    }
    memcpy(pa->peer, pb->local, sizeof(pa->peer));
    memcpy(pb->peer, pa->local, sizeof(pb->peer));
    ps->node.fn = pair_start_run;
    ps->pa = pa;
    ps->pb = pb;
    ps->a = a;
    ps->b = b;
    wire__loop_soon(loop, &ps->node);
    if (ta != NULL)
        *ta = &pa->f.base;
    if (tb != NULL)
        *tb = &pb->f.base;
    return 0;
}

/* A caller that passes no `err` still gets the real code back. */
int
wire_pipe_pair(struct wire_loop *loop, struct wire_protocol *a,
               struct wire_protocol *b, struct wire_transport **ta,
               struct wire_transport **tb, struct wire_error *err)
{
    struct wire_error local = {0};
    int rc = pipe_pair_impl(loop, a, b, ta, tb, err != NULL ? err : &local);
    wire_error_clear(&local);
    return rc;
}

static struct pipe_transport *
stdio_make(struct wire_loop *loop, struct wire_error *err)
{
    bool expected = false;
    if (!atomic_compare_exchange_strong(&stdio_in_use, &expected, true)) {
        wire_error_set(err, WIRE_ESTATE, "stdio: already in use by another transport");
        return NULL;
    }
    struct pipe_transport *pt = pipe_make(loop, &stdio_ops, STDIN_FILENO,
                                          STDOUT_FILENO, false, true, 0, err);
    if (pt == NULL) {
        atomic_store(&stdio_in_use, false);
        return NULL;
    }
    pt->is_stdio = true;
    snprintf(pt->peer, sizeof(pt->peer), "stdio:");
    snprintf(pt->local, sizeof(pt->local), "stdio:");
    return pt;
}

static int
stdio_open_impl(struct wire_loop *loop, struct wire_protocol *p,
                struct wire_transport **out, struct wire_error *err)
{
    if (loop == NULL || p == NULL)
        return wire_error_set(err, WIRE_EINVAL,
                              "wire_stdio_open: a loop and a protocol are required");
    struct pipe_transport *pt = stdio_make(loop, err);
    if (pt == NULL)
        return err != NULL ? err->code : WIRE_ESTATE;
    if (wire__connect_later(loop, &pt->f.base, p, NULL, NULL, 0, NULL) < 0) {
        pipe_free(&pt->f.base);
        return wire_error_set(err, WIRE_ENOMEM, "out of memory");
    }
    if (out != NULL)
        *out = &pt->f.base;
    return 0;
}

/* A caller that passes no `err` still gets the real code back. */
int
wire_stdio_open(struct wire_loop *loop, struct wire_protocol *p,
                struct wire_transport **out, struct wire_error *err)
{
    struct wire_error local = {0};
    int rc = stdio_open_impl(loop, p, out, err != NULL ? err : &local);
    wire_error_clear(&local);
    return rc;
}

int
wire__stdio_connect(struct wire_loop *loop, const struct wire_endpoint *ep,
                    const char *str, struct wire_protocol *p, uint64_t timeout_ms,
                    wire_connect_cb cb, void *arg, struct wire_error *err)
{
    static const char *const known[] = {"timeout", NULL};
    WIRE_UNUSED(timeout_ms);
    int rc = wire_endpoint_check_params(ep, known, err);
    if (rc < 0)
        return rc;
    if (ep->path != NULL && ep->path[0] != '\0')
        return wire_error_set(err, WIRE_EENDPOINT,
                              "endpoint '%s': stdio takes no path (write 'stdio:')",
                              str);
    struct wire_error oerr = {0};
    struct pipe_transport *pt = stdio_make(loop, &oerr);
    rc = wire__connect_later(loop, pt != NULL ? &pt->f.base : NULL, p, cb, arg,
                             oerr.code, oerr.message);
    wire_error_clear(&oerr);
    if (rc < 0) {
        if (pt != NULL)
            pipe_free(&pt->f.base);
        return wire_error_set(err, WIRE_ENOMEM, "out of memory");
    }
    return 0;
}
