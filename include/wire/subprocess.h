/**
 * @file
 * libwire — a child process as a transport (`exec:command args`).
 *
 * The child is spawned with posix_spawn (no shell; the command line is
 * split into words the way a POSIX shell splits them — quotes and
 * backslashes, no expansion — and the program is looked up in PATH as
 * execvp does); its stdin and stdout are the transport.  write_eof closes
 * the child's stdin.  Every fd the library opens is close-on-exec and the
 * child closes every fd above 2 before it runs, so it inherits only 0, 1
 * and 2.  It starts with no signal blocked and SIGPIPE at its default,
 * whatever this process does with them.
 *
 * Capabilities: half-close (write_eof) and EOF; no reset: abort kills the
 * child, and what it was connected to sees it go away.
 *
 * The end of the connection waits for the child: connection_lost comes
 * once its stdout is closed (or the transport closed) *and* it has exited
 * and been reaped (no zombies; its exit is watched through a pidfd, never
 * a SIGCHLD handler or waitpid(-1)).  A non-zero exit or death by a signal
 * is the error, WIRE_EEXIT ("exec 'sh': exited with status 3", "exec
 * 'sleep': killed by signal 9 (SIGKILL)"), followed by the end of its
 * stderr when that is captured; when the loss already had a cause (a
 * failed write, abort) the exit status is added to its message instead.
 * A child that dies of SIGPIPE after we closed its stdout, or of the
 * SIGKILL that abort sent, ended as asked: no error.
 *
 * close flushes what is queued, closes the pipes, and gives the child
 * `kill_after_ms` to exit by itself before SIGKILL (the error then says
 * it did not exit in time); abort kills it at once.  A write that finds
 * the child's stdin closed (EPIPE) fails the transport only after the
 * protocol has had what the child still wrote and the EOF.
 *
 * WIRE_INFO_PID, WIRE_INFO_EXIT_STATUS and WIRE_INFO_STDERR answer before
 * and after connection_lost (hold a reference on the transport to ask
 * afterwards); WIRE_INFO_PEER and WIRE_INFO_LOCAL are "exec:COMMAND".
 *
 * Freeing the loop while children run kills and reaps them at once; a
 * started transport gets connection_lost (WIRE_ECANCELED) then, one not
 * started yet its connect callback.
 *
 * Endpoint: `exec:COMMAND ARGS` with optional trailing parameters
 * `?stderr=inherit|null|capture|stdout&kill_after=MS&cwd=DIR` (recognised
 * only when every key after the last '?' is one of these; otherwise the
 * '?' belongs to the command).  The command is taken verbatim ('%' is not
 * an escape in it); parameter values may use %-escapes.  A malformed
 * endpoint fails wire_connect at once (WIRE_EENDPOINT); a program that
 * cannot start is reported through the connect callback (-ENOENT,
 * -EACCES, ...), as a refused connection is.
 */
#ifndef WIRE_SUBPROCESS_H
#define WIRE_SUBPROCESS_H

#include <stdint.h>
#include <wire/common.h>
#include <wire/loop.h>
#include <wire/protocol.h>
#include <wire/transport.h>

#ifdef __cplusplus
extern "C" {
#endif

/** get_info keys of a subprocess transport. */
enum {
    /** int: the child's pid */
    WIRE_INFO_PID = 40,
    /** int: the wait status (as from waitpid) once the child exited;
     *  WIRE_ESTATE before, -ECHILD when something else reaped it (SIGCHLD
     *  ignored) and the status is unknown */
    WIRE_INFO_EXIT_STATUS = 41,
    /** string: the captured end of the child's stderr (stderr=capture;
     *  WIRE_ENOTSUP otherwise), complete once the child exited */
    WIRE_INFO_STDERR = 42
};

/** What becomes of the child's stderr (struct
 *  wire_subprocess_options.stderr_mode; `stderr=` in the endpoint). */
enum wire_stderr_mode {
    WIRE_STDERR_INHERIT = 0, /**< the child writes to our stderr */
    WIRE_STDERR_NULL = 1,    /**< /dev/null */
    WIRE_STDERR_CAPTURE = 2, /**< kept (the last 4 KiB, for
                                  WIRE_INFO_STDERR; the last 1 KiB on one
                                  line in the error) */
    WIRE_STDERR_STDOUT = 3   /**< merged into the transport's input */
};

/** Default grace after close before the child is killed. */
#define WIRE_SUBPROCESS_DEFAULT_KILL_AFTER_MS 5000u

/** Options for wire_subprocess_spawn(); a NULL pointer or a
 *  zero-initialised struct means all defaults.  Copied by the call. */
struct wire_subprocess_options {
    int stderr_mode;        /**< enum wire_stderr_mode */
    uint64_t kill_after_ms; /**< grace after close; 0: the default */
    const char *cwd;        /**< the child's directory (a relative program
                                 path is taken from it); NULL: ours */
    char *const *envp;      /**< the child's environment; NULL: ours.  The
                                 program is looked up in our PATH. */
};

/**
 * Spawn `argv` (argv[0] looked up in PATH unless it has a '/') with `p` on
 * its stdin/stdout; `p` starts (connection_made) from the loop.  `opts`
 * may be NULL (and is copied).  Returns 0 and sets `*out` (may be NULL;
 * no reference is added: take one to use the transport after
 * connection_lost), or a negative code with `err` set, synchronously: the
 * program was not found (-ENOENT) or cannot be run (-EACCES, -ENOEXEC),
 * `opts->cwd` is not a directory, WIRE_EINVAL.  On error no child was
 * left running and `p` stays the caller's.
 */
WIRE_EXPORT int wire_subprocess_spawn(struct wire_loop *loop,
                                      char *const argv[],
                                      const struct wire_subprocess_options *opts,
                                      struct wire_protocol *p,
                                      struct wire_transport **out,
                                      struct wire_error *err);

/** Send `signo` to the child while it runs (0 checks that it does).
 *  Returns 0, WIRE_ESTATE once it exited, WIRE_EINVAL for a transport
 *  that is not a subprocess, or -errno. */
WIRE_EXPORT int wire_subprocess_kill(struct wire_transport *t, int signo);

/**
 * Split `cmd` into words as a POSIX shell does (blanks separate; '...'
 * is literal; "..." keeps blanks and lets \ escape $ ` " \ and newline;
 * \ outside quotes escapes the next character; backslash-newline joins
 * lines), without any expansion: $VAR, ~ and globs stay as written.  On
 * success `*argv` is a NULL-terminated array, freed with wire_free_args().
 * WIRE_EINVAL, with the offset in the message, for an unterminated quote,
 * a trailing backslash, no words at all, or an unquoted shell operator
 * (| & ; < > ( ) `) -- no shell will run the command, so it could not mean
 * what it says.
 */
WIRE_EXPORT int wire_split_args(const char *cmd, char ***argv,
                                struct wire_error *err);
/** Free what wire_split_args made.  Accepts NULL. */
WIRE_EXPORT void wire_free_args(char **argv);

#ifdef __cplusplus
}
#endif
#endif /* WIRE_SUBPROCESS_H */
