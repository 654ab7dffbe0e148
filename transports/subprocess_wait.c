/*
 * The child of an `exec:` transport (subprocess.c) after it has started:
 * watching for its exit through a pidfd (or, without pidfds, a waitpid
 * timer), reaping it with waitpid(pid), close's kill-after timer and the
 * last-resort kill, the exit status turned into the loss's error, and the
 * per-loop registry of children, whose destructor kills and reaps every
 * child still running when the loop is freed and ends its transport.
 */
#include "fdio.h"
#include "sock.h" /* wire__connect_failed */
#include "subprocess_priv.h"

#include <errno.h>
#include <event2/event.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#define SP_STDERR_IN_ERROR 1024u  /* the end of it quoted in the error */
#define SP_POLL_MAX_MS 50         /* without pidfds: waitpid this often */

/* pidfd_open failed with ENOSYS or EPERM once: use the timer from then on. */
static atomic_bool no_pidfd;

/* ---- the per-loop registry ---- */

static void registry_free(void *arg);

int
wire__sp_register(struct wire_loop *loop, struct sp *sp)
{
    void **slot = wire__loop_slot(loop, WIRE__SLOT_EXEC, registry_free);
    if (*slot == NULL) {
        struct sp_registry *r = calloc(1, sizeof(*r));
        if (r == NULL)
            return WIRE_ENOMEM;
        r->loop = loop;
        *slot = r;
    }
    struct sp_registry *r = *slot;
    sp->reg = r;
    sp->prev = NULL;
    sp->next = r->head;
    if (r->head != NULL)
        r->head->prev = sp;
    r->head = sp;
    return 0;
}

void
wire__sp_unregister(struct sp *sp)
{
    if (sp->reg == NULL)
        return;
    if (sp->prev != NULL)
        sp->prev->next = sp->next;
    else
        sp->reg->head = sp->next;
    if (sp->next != NULL)
        sp->next->prev = sp->prev;
    sp->reg = NULL;
    sp->prev = sp->next = NULL;
}

/* ---- the exit ---- */

/* What the exit says, as an error (left clear when it is a success, or
 * something we did on purpose). */
void
wire__sp_exit_error(struct sp *sp, struct wire_error *e)
{
    int st = sp->status;
    if (sp->loop_kill) {
        wire_error_set(e, WIRE_ECANCELED, "exec '%s': killed: the loop was "
                       "freed while it ran", sp->name);
        return;
    }
    if (sp->status_unknown || sp->abort_kill)
        return;
    if (WIFEXITED(st) && WEXITSTATUS(st) == 0)
        return;
    if (WIFSIGNALED(st) && WTERMSIG(st) == SIGPIPE && sp->read_closed)
        return; /* it wrote on after we closed its stdout, as `yes` does */
    char what[160];
    if (WIFEXITED(st)) {
        snprintf(what, sizeof(what), "exited with status %d", WEXITSTATUS(st));
    } else {
        int sig = WTERMSIG(st);
        const char *abbrev = sigabbrev_np(sig);
        snprintf(what, sizeof(what), "killed by signal %d%s%s%s%s", sig,
                 abbrev ? " (SIG" : "", abbrev ? abbrev : "", abbrev ? ")" : "",
                 WCOREDUMP(st) ? ", core dumped" : "");
    }
    char grace[96] = "";
    if (sp->close_kill)
        snprintf(grace, sizeof(grace), ": it did not exit within %llu ms of "
                 "close", (unsigned long long)sp->kill_after_ms);
    /* The end of what it said on stderr, as one line of printable text
     * (lines joined with "; "). */
    char tail[2 * SP_STDERR_IN_ERROR + 1] = "";
    bool cut = false;
    if (sp->errbuf != NULL && sp->err_len > 0) {
        size_t n = sp->err_len, o = 0;
        while (n > 0 && (sp->errbuf[n - 1] == '\n' || sp->errbuf[n - 1] == ' ' ||
                         sp->errbuf[n - 1] == '\r' || sp->errbuf[n - 1] == '\t'))
            n--;
        size_t from = n > SP_STDERR_IN_ERROR ? n - SP_STDERR_IN_ERROR : 0;
        cut = sp->err_cut || from > 0;
        for (size_t i = from; i < n; i++) {
            unsigned char c = (unsigned char)sp->errbuf[i];
            if (c == '\n') {
                tail[o++] = ';';
                tail[o++] = ' ';
            } else {
                tail[o++] = (c < 0x20 || c == 0x7f) ? '?' : (char)c;
            }
        }
        tail[o] = '\0';
    }
    wire_error_set(e, WIRE_EEXIT, "exec '%s': %s%s%s%s%s", sp->name, what, grace,
                   tail[0] ? "; stderr: " : "", cut && tail[0] ? "..." : "",
                   tail);
}

void
wire__sp_watch_stop(struct sp *sp)
{
    if (sp->pid_ev_on) {
        event_del(&sp->pid_ev);
        sp->pid_ev_on = false;
    }
    if (sp->kill_ev_on) {
        event_del(&sp->kill_ev);
        sp->kill_ev_on = false;
    }
    if (sp->pidfd >= 0) {
        close(sp->pidfd);
        sp->pidfd = -1;
    }
}

/* The child was reaped: record the status, collect the end of its stderr
 * and let a held loss go. */
static void
sp_reaped(struct sp *sp, int status, bool known)
{
    sp->exited = true;
    sp->status = known ? status : 0;
    sp->status_unknown = !known;
    wire__sp_watch_stop(sp);
    /* It is gone, so its stderr holds all it will write (unless a child
     * of its own keeps the pipe open: then we stop listening). */
    wire__sp_err_drain(sp, 64);
    wire__sp_err_close(sp);
    if (sp->held) {
        sp->held = false;
        struct wire_error e = {0};
        wire__sp_exit_error(sp, &e);
        wire_impl_release_loss(&sp->f.base, e.code != 0 ? &e : NULL);
        wire_error_clear(&e);
    }
}

/* waitpid(pid) without blocking (`block`: until it exits).  Returns true
 * when the child was reaped (by us, or found reaped by someone else). */
static bool
sp_try_reap(struct sp *sp, bool block)
{
    int st = 0;
    pid_t r;
    do
        r = waitpid(sp->pid, &st, block ? 0 : WNOHANG);
    while (r < 0 && errno == EINTR);
    if (r == 0)
        return false;
    if (r < 0 && sp->reg != NULL)
        wire_loop_log(sp->reg->loop, WIRE_LOG_WARN,
                      "exec '%s': child %ld was reaped elsewhere (SIGCHLD "
                      "ignored?): its exit status is unknown", sp->name,
                      (long)sp->pid);
    sp_reaped(sp, st, r == sp->pid);
    return true;
}

static void
pid_event(evutil_socket_t fd, short what, void *arg)
{
    struct sp *sp = arg;
    WIRE_UNUSED(fd);
    WIRE_UNUSED(what);
    sp->pid_ev_on = false; /* not persistent */
    struct wire_transport *t = wire_transport_ref(&sp->f.base);
    if (!sp_try_reap(sp, false)) {
        /* Readable but not reapable yet, or (without a pidfd) the next
         * look, a little later each time up to SP_POLL_MAX_MS. */
        struct timeval tv = {0, 0};
        if (sp->pidfd < 0) {
            sp->poll_ms = sp->poll_ms * 2 < SP_POLL_MAX_MS ? sp->poll_ms * 2
                                                           : SP_POLL_MAX_MS;
            tv.tv_usec = (suseconds_t)sp->poll_ms * 1000;
        }
        event_add(&sp->pid_ev, sp->pidfd < 0 ? &tv : NULL);
        sp->pid_ev_on = true;
    }
    wire_transport_unref(t);
}

static void
kill_event(evutil_socket_t fd, short what, void *arg)
{
    struct sp *sp = arg;
    WIRE_UNUSED(fd);
    WIRE_UNUSED(what);
    sp->kill_ev_on = false;
    if (!sp->exited) {
        sp->close_kill = true;
        kill(sp->pid, SIGKILL);
    }
}

/* The last resort (loop or transport freed while the child runs): kill
 * it and wait for it here.  `loop_gone`: say so in the loss. */
bool
wire__sp_kill_now(struct sp *sp, bool loop_gone)
{
    if (sp->exited || sp->pid <= 0)
        return false;
    if (loop_gone)
        sp->loop_kill = true;
    else
        sp->abort_kill = true;
    kill(sp->pid, SIGKILL);
    sp_try_reap(sp, true);
    return true;
}

int
wire__sp_watch_start(struct sp *sp, struct event_base *base,
                     struct wire_error *err)
{
    /* pidfds are always close-on-exec.  Whether the kernel has them is
     * asked once per process (a fact about the system, not state). */
    errno = ENOSYS;
    sp->pidfd = atomic_load(&no_pidfd) ? -1
                                       : (int)syscall(SYS_pidfd_open, sp->pid, 0);
    if (sp->pidfd >= 0) {
        event_assign(&sp->pid_ev, base, sp->pidfd, EV_READ, pid_event, sp);
        event_add(&sp->pid_ev, NULL);
    } else if (errno == ENOSYS || errno == EPERM) {
        atomic_store(&no_pidfd, true);
        /* No pidfds here (a kernel before 5.3, a seccomp filter,
         * valgrind): ask waitpid on a timer instead. */
        evtimer_assign(&sp->pid_ev, base, pid_event, sp);
        sp->poll_ms = 1;
        struct timeval tv = {0, 1000};
        evtimer_add(&sp->pid_ev, &tv);
    } else {
        int e = errno;
        wire__sp_kill_now(sp, false);
        return wire_error_set(err, -e, "exec '%s': pidfd_open: %s", sp->name,
                              strerror(e));
    }
    sp->pid_ev_on = true;
    evtimer_assign(&sp->kill_ev, base, kill_event, sp);
    return 0;
}

/* ---- the loop's end ---- */

/* The loop is being freed (its slot destructor, run while it is still
 * whole) with children running: kill and reap each, and end each
 * transport now -- connection_lost (WIRE_ECANCELED) for a started one, the
 * connect callback for one not started yet -- so nothing outlives the
 * loop but what the user still references. */
static void
registry_free(void *arg)
{
    struct sp_registry *r = arg;
    struct wire_loop *loop = r->loop;
    struct sp *sp;
    while ((sp = r->head) != NULL) {
        wire__sp_unregister(sp);
        struct wire_transport *t = wire_transport_ref(&sp->f.base);
        bool killed = wire__sp_kill_now(sp, true); /* releases a held loss */
        if (wire__loop_unsoon(loop, &sp->start)) {
            struct wire_protocol *p = sp->start_p;
            sp->start_p = NULL;
            wire__connect_failed(p, sp->start_cb, sp->start_arg, WIRE_ECANCELED,
                                 "exec '%s': the loop was freed before the "
                                 "connection started", sp->name);
            wire_impl_discard(t);
        } else if ((t->flags & WIRE_T_STARTED) && !(t->flags & WIRE_T_LOST_DONE)) {
            if (!(t->flags & WIRE_T_LOST)) {
                /* Said here already, not again from the exit. */
                sp->loop_kill = false;
                sp->abort_kill = true;
                wire_impl_fail(t, WIRE_ECANCELED, "exec '%s': the loop was freed "
                               "while the connection was open%s", sp->name,
                               killed ? " (the child was killed)" : "");
            }
            /* The loss is queued on the loop that is going away: deliver
             * it now (connection_lost, destroy, the initial reference). */
            if (wire__loop_unsoon(loop, &t->soon))
                t->soon.fn(&t->soon);
        }
        /* fdio's deferred readiness and the broken-stdin check hold a
         * reference per queued node. */
        if (wire__loop_unsoon(loop, &sp->broken))
            wire_transport_unref(t);
        if (wire__loop_unsoon(loop, &sp->f.r.ready))
            wire_transport_unref(t);
        if (wire__loop_unsoon(loop, &sp->f.w.ready))
            wire_transport_unref(t);
        /* Nothing may stay on the event base, which is freed next. */
        wire__sp_watch_stop(sp);
        wire__sp_err_close(sp);
        wire__fdio_close(t, true);
        wire_transport_unref(t);
    }
    free(r);
}
