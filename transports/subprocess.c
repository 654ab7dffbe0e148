/*
 * subprocess (`exec:`): a child process's stdin and stdout as a transport.
 *
 * The child is started with posix_spawn (no shell; subprocess_spawn.c);
 * its stdin and stdout are two pipes whose other ends make an fdio
 * transport (fdio.h), so
 * reading, writing, write_eof (closing its stdin) and flow control are
 * the pipe transport's.  What is added is the process:
 *
 *   - its exit is watched through a pidfd (an fd the loop polls, readable
 *     once the child has exited) and reaped with waitpid(pid): no SIGCHLD
 *     handler, never waitpid(-1), no zombie.  Where pidfd_open does not
 *     exist (kernels before 5.3, valgrind) a timer asks waitpid instead,
 *     at most every 50 ms;
 *   - connection_lost waits for the exit: when the transport's handle is
 *     closed (close after its flush, abort, EOF, an error) sp_close closes
 *     the pipes and, while the child still runs, holds the loss
 *     (wire_impl_hold_loss) until the pidfd fires, then releases it with
 *     the exit status (wire_impl_release_loss): a non-zero status or a
 *     signal becomes WIRE_EEXIT (or is added to an error the loss already
 *     had);
 *   - close gives the child kill_after_ms to exit, then SIGKILL; abort
 *     sends SIGKILL at once;
 *   - stderr is inherited, /dev/null, merged into stdout, or captured
 *     through a third pipe whose last 4 KiB are kept for the error and
 *     WIRE_INFO_STDERR;
 *   - a per-loop registry, so freeing the loop kills and reaps every child
 *     still running and ends its transport (the last resort; the free hook
 *     does the same for a transport released before its child exited).
 *
 * Every fd is opened close-on-exec, and the child closes every fd above 2
 * before exec, so it inherits only the three it is given.
 *
 * This file holds the transport's hooks, the captured stderr, the
 * transport's making and the public entry points; watching for the exit,
 * reaping, the kill-after timer and the per-loop registry are in
 * subprocess_wait.c.
 */
#include "fdio.h"
#include "subprocess_priv.h"

#include <errno.h>
#include <event2/event.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define SP_STDERR_KEEP 4096u      /* captured stderr kept */
#define SP_READS_PER_EVENT 16     /* stderr reads per readiness event */

static void sp_read_stop(struct wire_transport *t);
static ssize_t sp_write(struct wire_transport *t, const struct iovec *iov,
                        int iovcnt);
static void sp_close(struct wire_transport *t, bool abort);
static int sp_get_info(struct wire_transport *t, int key, void *out,
                       size_t len);
static void sp_free(struct wire_transport *t);

/* fdio's, with the write and the end of reading watched (see sp_write). */
static const struct wire_transport_ops sp_ops = {
    .name = "exec",
    .caps = WIRE_CAP_HALF_CLOSE | WIRE_CAP_EOF,
    .read_start = wire__fdio_read_start,
    .read_stop = sp_read_stop,
    .write = sp_write,
    .want_write = wire__fdio_want_write,
    .shutdown_write = wire__fdio_shutdown_write,
    .close = sp_close,
    .get_info = sp_get_info,
    .free = sp_free,
};

static struct sp *
sp_of(struct wire_transport *t)
{
    return (struct sp *)(void *)t;
}

/* ---- captured stderr ---- */

static void
err_keep(struct sp *sp, const char *data, size_t n)
{
    if (n >= SP_STDERR_KEEP) {
        memcpy(sp->errbuf, data + n - SP_STDERR_KEEP, SP_STDERR_KEEP);
        sp->err_cut = sp->err_cut || sp->err_len > 0 || n > SP_STDERR_KEEP;
        sp->err_len = SP_STDERR_KEEP;
    } else {
        if (sp->err_len + n > SP_STDERR_KEEP) {
            size_t drop = sp->err_len + n - SP_STDERR_KEEP;
            memmove(sp->errbuf, sp->errbuf + drop, sp->err_len - drop);
            sp->err_len -= drop;
            sp->err_cut = true;
        }
        memcpy(sp->errbuf + sp->err_len, data, n);
        sp->err_len += n;
    }
    sp->errbuf[sp->err_len] = '\0';
}

void
wire__sp_err_close(struct sp *sp)
{
    if (sp->err_ev_on) {
        event_del(&sp->err_ev);
        sp->err_ev_on = false;
    }
    if (sp->errfd >= 0) {
        close(sp->errfd);
        sp->errfd = -1;
    }
}

/* Read what the child wrote to stderr: at most `max` reads, fewer when
 * the pipe is empty; closes our end at EOF. */
void
wire__sp_err_drain(struct sp *sp, int max)
{
    char buf[4096];
    for (int i = 0; i < max && sp->errfd >= 0; i++) {
        ssize_t n = read(sp->errfd, buf, sizeof(buf));
        if (n > 0) {
            err_keep(sp, buf, (size_t)n);
        } else if (n < 0 && errno == EINTR) {
            i--;
        } else if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
            return;
        } else {
            wire__sp_err_close(sp); /* EOF, or an error: nothing more to read */
        }
    }
}

static void
err_event(evutil_socket_t fd, short what, void *arg)
{
    WIRE_UNUSED(fd);
    WIRE_UNUSED(what);
    wire__sp_err_drain(arg, SP_READS_PER_EVENT);
}

/* ---- transport hooks ---- */

static void
sp_close(struct wire_transport *t, bool abort)
{
    struct sp *sp = sp_of(t);
    /* The pipes close now: the child reads EOF, and a write to its stdout
     * fails (EPIPE, or SIGPIPE unless it ignores it). */
    wire__fdio_close(t, abort);
    if (sp->exited) {
        /* Nothing to wait for: the loss follows now, with what the exit
         * says (hold and release at once: the loss began, the base
         * delivers it). */
        struct wire_error e = {0};
        wire__sp_exit_error(sp, &e);
        if (e.code != 0) {
            wire_impl_hold_loss(t);
            wire_impl_release_loss(t, &e);
        }
        wire_error_clear(&e);
        sp->read_closed = true;
        return;
    }
    sp->read_closed = true;
    if (abort) {
        sp->abort_kill = true;
        kill(sp->pid, SIGKILL);
    } else if (!sp->kill_ev_on) {
        struct timeval tv = {(time_t)(sp->kill_after_ms / 1000),
                             (suseconds_t)(sp->kill_after_ms % 1000) * 1000};
        if (evtimer_add(&sp->kill_ev, &tv) == 0)
            sp->kill_ev_on = true;
        else
            kill(sp->pid, SIGKILL);
    }
    sp->held = true;
    wire_impl_hold_loss(t);
}

/*
 * A child that closes its stdin early (`head -n1`, a relay whose other
 * side went away) may still have output for us in its stdout pipe.  So a
 * write that finds its stdin gone (EPIPE) does not fail the transport at
 * once: the write side is dropped, what is queued stays, and reading goes
 * on; once the protocol has had the output and the EOF (or closes, or the
 * EOF was already there) the transport fails with that EPIPE.
 */
static ssize_t
sp_write(struct wire_transport *t, const struct iovec *iov, int iovcnt)
{
    struct sp *sp = sp_of(t);
    if (!sp->stdin_broken) {
        ssize_t n = wire__fdio_write(t, iov, iovcnt);
        if (n != -EPIPE)
            return n;
        sp->stdin_broken = true;
        wire__fdio_shutdown_write(t); /* our end of its stdin: useless now */
    }
    if (t->flags & (WIRE_T_EOF_RECEIVED | WIRE_T_CLOSING) || sp->f.r.fd < 0)
        return -EPIPE;
    return 0; /* as if it were full: the queue waits for the EOF */
}

static void
broken_run(struct wire_soon *node)
{
    struct sp *sp = wire_container_of(node, struct sp, broken);
    struct wire_transport *t = &sp->f.base;
    if (sp->stdin_broken && wire_impl_is_active(t))
        wire_impl_fail(t, -EPIPE, "write: %s", strerror(EPIPE));
    wire_transport_unref(t);
}

static void
sp_read_stop(struct wire_transport *t)
{
    struct sp *sp = sp_of(t);
    wire__fdio_read_stop(t);
    /* Reading stops for good at the EOF: a broken stdin fails the
     * transport then, on the next turn (eof_received comes first). */
    if (sp->stdin_broken && (t->flags & WIRE_T_EOF_RECEIVED) &&
        !(t->flags & WIRE_T_LOST) && !sp->broken.queued) {
        wire_transport_ref(t);
        wire_impl_defer(t, &sp->broken);
    }
}

static int
info_int(void *out, size_t len, int v)
{
    if (out == NULL || len < sizeof(int))
        return WIRE_EINVAL;
    memcpy(out, &v, sizeof(int));
    return (int)sizeof(int);
}

static int
sp_get_info(struct wire_transport *t, int key, void *out, size_t len)
{
    struct sp *sp = sp_of(t);
    switch (key) {
    case WIRE_INFO_PEER:
    case WIRE_INFO_LOCAL:
        return wire_impl_info_string(out, len, sp->addr);
    case WIRE_INFO_PID:
        return info_int(out, len, (int)sp->pid);
    case WIRE_INFO_EXIT_STATUS:
        if (!sp->exited)
            return WIRE_ESTATE;
        if (sp->status_unknown)
            return -ECHILD;
        return info_int(out, len, sp->status);
    case WIRE_INFO_STDERR:
        if (sp->stderr_mode != WIRE_STDERR_CAPTURE)
            return WIRE_ENOTSUP;
        return wire_impl_info_string(out, len, sp->errbuf);
    default:
        return wire__fdio_get_info(t, key, out, len);
    }
}

static void
sp_free(struct wire_transport *t)
{
    struct sp *sp = sp_of(t);
    sp->held = false; /* (never so here: a held loss keeps a reference) */
    wire__sp_kill_now(sp, false); /* a child outliving its transport: not here */
    wire__sp_watch_stop(sp);
    wire__sp_err_close(sp);
    wire__fdio_release(&sp->f);
    wire__sp_unregister(sp);
    free(sp->errbuf);
    free(sp->name);
    free(sp->addr);
    free(sp);
}

/* ---- the transport's making ---- */

static void
close_fd(int *fd)
{
    if (*fd >= 0) {
        close(*fd);
        *fd = -1;
    }
}

/* Make the transport: pipes, the child, its pidfd, the registry entry.
 * Not started.  `addr` is what PEER/LOCAL report (copied).  Returns NULL
 * with `err` set (nothing left behind: no child, no fd). */
static struct sp *
sp_create(struct wire_loop *loop, char *const argv[],
          const struct wire_subprocess_options *opts, const char *addr,
          struct wire_error *err)
{
    struct wire_subprocess_options o = {0};
    if (opts != NULL)
        o = *opts;
    if (o.kill_after_ms == 0)
        o.kill_after_ms = WIRE_SUBPROCESS_DEFAULT_KILL_AFTER_MS;
    if (o.stderr_mode < WIRE_STDERR_INHERIT || o.stderr_mode > WIRE_STDERR_STDOUT) {
        wire_error_set(err, WIRE_EINVAL, "exec '%s': unknown stderr mode %d",
                       argv[0], o.stderr_mode);
        return NULL;
    }
    if (o.cwd != NULL) {
        /* A missing directory would look like a missing program (ENOENT
         * from the spawn): say which first. */
        struct stat st;
        if (stat(o.cwd, &st) < 0) {
            int e = errno;
            wire_error_set(err, -e, "exec '%s': cwd '%s': %s", argv[0], o.cwd,
                           strerror(e));
            return NULL;
        }
        if (!S_ISDIR(st.st_mode)) {
            wire_error_set(err, -ENOTDIR, "exec '%s': cwd '%s': %s", argv[0],
                           o.cwd, strerror(ENOTDIR));
            return NULL;
        }
    }
    struct sp *sp = calloc(1, sizeof(*sp));
    int in[2] = {-1, -1}, out[2] = {-1, -1}, ep[2] = {-1, -1};
    int rc = 0;
    if (sp != NULL)
        sp->pidfd = sp->errfd = -1;
    if (sp == NULL || (sp->name = strdup(argv[0])) == NULL ||
        (sp->addr = strdup(addr)) == NULL ||
        (o.stderr_mode == WIRE_STDERR_CAPTURE &&
         (sp->errbuf = calloc(1, SP_STDERR_KEEP + 1)) == NULL)) {
        wire_error_set(err, WIRE_ENOMEM, "out of memory");
        goto fail;
    }
    sp->kill_after_ms = o.kill_after_ms;
    sp->stderr_mode = o.stderr_mode;
    if ((rc = wire__spawn_pipe(in)) < 0 || (rc = wire__spawn_pipe(out)) < 0 ||
        (o.stderr_mode == WIRE_STDERR_CAPTURE &&
         (rc = wire__spawn_pipe(ep)) < 0)) {
        wire_error_set(err, rc, "exec '%s': pipe: %s", argv[0], strerror(-rc));
        goto fail;
    }
    if (wire__sp_register(loop, sp) < 0) {
        wire_error_set(err, WIRE_ENOMEM, "out of memory");
        goto fail;
    }
    /* Our ends: stdout's read end, stdin's write end (non-blocking, owned;
     * the child's ends stay blocking: they are other open files). */
    if (wire__fdio_init(&sp->f, &sp_ops, loop, out[0], in[1], true, false, err) < 0)
        goto fail;
    sp->broken.fn = broken_run;
    out[0] = in[1] = -1; /* the transport's now */
    rc = wire__spawn_child(&sp->pid, argv, &o, in[0], out[1], ep[1]);
    close_fd(&in[0]);
    close_fd(&out[1]);
    close_fd(&ep[1]);
    if (rc != 0) {
        sp->pid = 0;
        wire_error_set(err, -rc, "exec '%s': %s%s", argv[0], strerror(rc),
                       rc == ENOENT && strchr(argv[0], '/') == NULL
                           ? " (not found in PATH)" : "");
        goto fail;
    }
    struct event_base *base = wire_loop_event_base(loop);
    if (wire__sp_watch_start(sp, base, err) < 0)
        goto fail;
    if (ep[0] >= 0) {
        sp->errfd = ep[0];
        ep[0] = -1;
        fcntl(sp->errfd, F_SETFL, fcntl(sp->errfd, F_GETFL) | O_NONBLOCK);
        event_assign(&sp->err_ev, base, sp->errfd, EV_READ | EV_PERSIST,
                     err_event, sp);
        event_add(&sp->err_ev, NULL);
        sp->err_ev_on = true;
    }
    return sp;
fail:
    for (int i = 0; i < 2; i++) {
        close_fd(&in[i]);
        close_fd(&out[i]);
        close_fd(&ep[i]);
    }
    if (sp != NULL) {
        if (sp->f.base.ops != NULL)
            wire__fdio_release(&sp->f); /* closes our ends */
        wire__sp_watch_stop(sp);
        wire__sp_unregister(sp);
        free(sp->errbuf);
        free(sp->name);
        free(sp->addr);
        free(sp);
    }
    return NULL;
}

static void
start_run(struct wire_soon *node)
{
    struct sp *sp = wire_container_of(node, struct sp, start);
    struct wire_transport *t = wire_transport_ref(&sp->f.base);
    struct wire_protocol *p = sp->start_p;
    sp->start_p = NULL;
    wire_impl_start(t, p);
    if (sp->start_cb != NULL)
        sp->start_cb(sp->start_arg, t, NULL);
    wire_transport_unref(t);
}

/* Start `p` on the transport from the loop, then tell `cb`. */
static void
sp_start_later(struct sp *sp, struct wire_protocol *p, wire_connect_cb cb,
               void *arg)
{
    sp->start.fn = start_run;
    sp->start_p = p;
    sp->start_cb = cb;
    sp->start_arg = arg;
    wire__loop_soon(sp->f.base.loop, &sp->start);
}

/* ---- public entry points ---- */

int
wire_subprocess_spawn(struct wire_loop *loop, char *const argv[],
                      const struct wire_subprocess_options *opts,
                      struct wire_protocol *p, struct wire_transport **out,
                      struct wire_error *err)
{
    if (out != NULL)
        *out = NULL;
    if (loop == NULL || p == NULL || argv == NULL || argv[0] == NULL ||
        argv[0][0] == '\0')
        return wire_error_set(err, WIRE_EINVAL,
                              "wire_subprocess_spawn: a loop, a protocol and "
                              "a program are required");
    char *cmd = wire__quote_args(argv);
    if (cmd == NULL)
        return wire_error_set(err, WIRE_ENOMEM, "out of memory");
    char *addr = malloc(strlen(cmd) + 6);
    if (addr == NULL) {
        free(cmd);
        return wire_error_set(err, WIRE_ENOMEM, "out of memory");
    }
    sprintf(addr, "exec:%s", cmd);
    free(cmd);
    struct wire_error local = {0};
    struct sp *sp = sp_create(loop, argv, opts, addr, err != NULL ? err : &local);
    free(addr);
    if (sp == NULL) {
        int code = err != NULL ? err->code : local.code;
        wire_error_clear(&local);
        return code;
    }
    sp_start_later(sp, p, NULL, NULL);
    if (out != NULL)
        *out = &sp->f.base;
    return 0;
}

int
wire_subprocess_kill(struct wire_transport *t, int signo)
{
    /* Made on the top of a stack of layers, the call reaches the child's
     * transport at the bottom. */
    while (t != NULL && t->ops != &sp_ops)
        t = t->lower;
    if (t == NULL || signo < 0 || signo >= NSIG)
        return WIRE_EINVAL;
    struct sp *sp = sp_of(t);
    if (sp->exited)
        return WIRE_ESTATE;
    if (kill(sp->pid, signo) < 0)
        return -errno;
    return 0;
}

/* ---- the endpoint: exec:COMMAND[?stderr=..&kill_after=..&cwd=..] ---- */

int
wire__exec_connect(struct wire_loop *loop, const struct wire_endpoint *ep,
                   const char *str, struct wire_protocol *p, uint64_t timeout_ms,
                   wire_connect_cb cb, void *arg, struct wire_error *err)
{
    WIRE_UNUSED(timeout_ms); /* starting a child does not wait */
    struct wire__exec_endpoint x;
    int rc = wire__exec_endpoint_parse(str, ep->path != NULL ? ep->path : "",
                                       &x, err);
    if (rc < 0)
        return rc;
    /* The endpoint is well formed: from here on a failure (no such
     * program...) goes to the callback, as a refused connect does. */
    struct wire_subprocess_options o = {.stderr_mode = x.stderr_mode,
                                        .kill_after_ms = x.kill_after_ms,
                                        .cwd = x.cwd};
    struct wire_error cerr = {0};
    struct sp *sp = sp_create(loop, x.argv, &o, x.addr, &cerr);
    if (sp != NULL) {
        sp_start_later(sp, p, cb, arg);
    } else {
        rc = wire__connect_later(loop, NULL, p, cb, arg, cerr.code, cerr.message);
        if (rc < 0)
            wire_error_set(err, rc, "out of memory");
    }
    wire_error_clear(&cerr);
    wire__exec_endpoint_clear(&x);
    return rc;
}
