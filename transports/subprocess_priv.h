/*
 * Private to the subprocess transport (subprocess.c): command lines and
 * the endpoint's address (subprocess_args.c), starting the child
 * (subprocess_spawn.c).  wire_split_args itself is public
 * (<wire/subprocess.h>).
 */
#ifndef WIRE_TRANSPORTS_SUBPROCESS_PRIV_H
#define WIRE_TRANSPORTS_SUBPROCESS_PRIV_H

#include "../lib/internal.h"

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

#endif
