/*
 * Private to the subprocess transport (subprocess.c): command lines and
 * the endpoint's address (subprocess_args.c), starting the child
 * (subprocess_spawn.c), and the transport's state shared with what
 * watches, reaps and kills the child (subprocess_wait.c).
 * wire_split_args itself is public (<wire/subprocess.h>).
 */
#ifndef WIRE_TRANSPORTS_SUBPROCESS_PRIV_H
#define WIRE_TRANSPORTS_SUBPROCESS_PRIV_H

#include "../lib/internal.h"
#include "fdio.h"

#include <sys/types.h>
#include <wire/subprocess.h>

/* `argv` as one command line that wire_split_args splits back into the
 * same words (single quotes where a word needs them).  NULL on ENOMEM;
 * free() it. */
char *wire__quote_args(char *const argv[]);

/* What an exec: endpoint says.  `addr` is "exec:COMMAND" without the
 * parameters (the transport's PEER and LOCAL). */
struct wire__exec_endpoint {
    char **argv;
    char *addr;
    int stderr_mode;        /* enum wire_stderr_mode */
    uint64_t kill_after_ms; /* 0: the default */
    char *cwd;              /* NULL: ours */
};

/* Parse `raw` (everything after "exec:" of the endpoint `str`, named in
 * messages): the command, split into words, and the trailing parameters
 * (recognised only when every key after the last '?' is one of
 * stderr, kill_after, cwd).  Returns 0, or WIRE_EENDPOINT (WIRE_ENOMEM)
 * with `err` set and `x` cleared. */
int wire__exec_endpoint_parse(const char *str, const char *raw,
                              struct wire__exec_endpoint *x,
                              struct wire_error *err);
void wire__exec_endpoint_clear(struct wire__exec_endpoint *x);

/* A pipe, both fds close-on-exec and above 2.  0 or -errno. */
int wire__spawn_pipe(int p[2]);

/* Start `argv` (argv[0] found as execvp finds it, relative paths from
 * o->cwd) with `in`, `out` and (stderr capture) `err` as its stdio, per
 * o->stderr_mode; every other fd closed in the child, no signal blocked,
 * SIGPIPE and SIGXFSZ at their defaults.  Returns 0 with `*pid` set, or
 * the errno value exec would fail with (ENOENT, EACCES, ENOEXEC...). */
int wire__spawn_child(pid_t *pid, char *const argv[],
                      const struct wire_subprocess_options *o, int in, int out,
                      int err);

/* ---- the transport (subprocess.c) and its child (subprocess_wait.c) ---- */

struct sp_registry {
    struct sp *head;
    struct wire_loop *loop;
};

struct sp {
    struct wire__fdio f; /* first */
    struct sp_registry *reg; /* NULL once the loop is gone */
    struct sp *prev, *next;
    pid_t pid;
    int pidfd;           /* -1 once the child is reaped (or no pidfds) */
    struct event pid_ev; /* pidfd readable: the child exited (or, without
                            pidfds, a timer to look again) */
    unsigned poll_ms;    /* without pidfds: the current interval */
    struct event kill_ev;/* close's grace is over */
    bool pid_ev_on, kill_ev_on;
    bool exited;         /* reaped; `status` is its wait status */
    bool status_unknown; /* reaped by someone else (SIGCHLD ignored...) */
    int status;
    bool held;           /* the loss waits for the exit */
    bool read_closed;    /* we closed its stdout: SIGPIPE is our doing */
    bool abort_kill;     /* killed by abort, or as the transport was freed */
    bool loop_kill;      /* killed because the loop was freed */
    bool close_kill;     /* killed when close's grace ran out */
    uint64_t kill_after_ms;
    int stderr_mode;
    int errfd;           /* our end of the stderr pipe (capture), or -1 */
    struct event err_ev;
    bool err_ev_on;
    char *errbuf;        /* the last SP_STDERR_KEEP bytes (capture) */
    size_t err_len;
    bool err_cut;        /* older bytes were dropped */
    char *name;          /* argv[0], for messages */
    char *addr;          /* "exec:COMMAND": WIRE_INFO_PEER and _LOCAL */
    bool stdin_broken;   /* a write found its stdin closed (EPIPE) */
    struct wire_soon broken; /* fails the transport after the EOF */
    /* started from the loop (see sp_start_later) */
    struct wire_soon start;
    struct wire_protocol *start_p;
    wire_connect_cb start_cb;
    void *start_arg;
};

/* Read what the child wrote to stderr: at most `max` reads, fewer when
 * the pipe is empty; closes our end at EOF (subprocess.c). */
void wire__sp_err_drain(struct sp *sp, int max);
/* Stop listening to the child's stderr and close our end (subprocess.c). */
void wire__sp_err_close(struct sp *sp);

/* Put `sp` on its loop's registry, which kills and reaps the child and
 * ends the transport if the loop is freed first.  0 or WIRE_ENOMEM. */
int wire__sp_register(struct wire_loop *loop, struct sp *sp);
/* Take `sp` off its registry (nothing if it is on none). */
void wire__sp_unregister(struct sp *sp);

/* Watch the child just started: its pidfd, or without pidfds a waitpid
 * timer; and make close's kill-after timer (not armed).  Returns 0, or
 * -errno with `err` set and the child killed and reaped. */
int wire__sp_watch_start(struct sp *sp, struct event_base *base,
                         struct wire_error *err);
/* Stop watching: the exit event, the kill-after timer, the pidfd. */
void wire__sp_watch_stop(struct sp *sp);

/* What the exit says, as an error (left clear when it is a success, or
 * something we did on purpose). */
void wire__sp_exit_error(struct sp *sp, struct wire_error *e);

/* The last resort (loop or transport freed while the child runs): kill
 * it and wait for it here.  `loop_gone`: say so in the loss.  Returns
 * whether there was a child to kill. */
bool wire__sp_kill_now(struct sp *sp, bool loop_gone);

#endif
