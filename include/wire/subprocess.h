/*
 * libwire — a child process as a transport (`exec:command args`).
 *
 * The child is spawned with posix_spawnp (no shell; the command line is
 * split into words the way a POSIX shell splits them — quotes and
 * backslashes, no expansion); its stdin and stdout are the transport.
 * write_eof closes the child's stdin.  Every fd the library opens is
 * close-on-exec, so the child inherits only 0, 1 and 2.
 *
 * The end of the connection waits for the child: connection_lost comes
 * once its stdout is closed *and* it has exited (and been reaped: no
 * zombies).  A non-zero exit or death by a signal is the error
 * (WIRE_EEXIT, "exited with status 3" / "killed by signal 9", with the
 * captured stderr when it is captured).  After close the child gets
 * `kill_after_ms` to exit by itself before SIGKILL; abort kills it at
 * once.  WIRE_INFO_PID and WIRE_INFO_EXIT_STATUS answer before and after
 * connection_lost (hold a reference on the transport to ask afterwards).
 *
 * Endpoint: `exec:COMMAND ARGS` with optional trailing parameters
 * `?stderr=inherit|null|capture|stdout&kill_after=MS&cwd=DIR` (recognised
 * only when every key after the last '?' is one of these; otherwise the
 * '?' belongs to the command).
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
     *  WIRE_ESTATE before */
    WIRE_INFO_EXIT_STATUS = 41,
    /** string: the captured end of the child's stderr (stderr=capture) */
    WIRE_INFO_STDERR = 42
};

enum wire_stderr_mode {
    WIRE_STDERR_INHERIT = 0, /**< the child writes to our stderr */
    WIRE_STDERR_NULL = 1,    /**< /dev/null */
    WIRE_STDERR_CAPTURE = 2, /**< kept (the last 4 KiB), in the error */
    WIRE_STDERR_STDOUT = 3   /**< merged into the transport's input */
};

/** Default grace after close before the child is killed. */
#define WIRE_SUBPROCESS_DEFAULT_KILL_AFTER_MS 5000u

struct wire_subprocess_options {
    int stderr_mode;        /**< enum wire_stderr_mode */
    uint64_t kill_after_ms; /**< 0: the default */
    const char *cwd;        /**< NULL: ours */
    char *const *envp;      /**< NULL: ours */
};

/**
 * Spawn `argv` (argv[0] looked up in PATH) with `p` on its stdin/stdout;
 * `p` starts from the loop.  Returns 0 and sets `*out` (may be NULL), or
 * a negative code with `err` set (the program was not found, ...); on
 * error `p` stays the caller's.
 */
WIRE_EXPORT int wire_subprocess_spawn(struct wire_loop *loop,
                                      char *const argv[],
                                      const struct wire_subprocess_options *opts,
                                      struct wire_protocol *p,
                                      struct wire_transport **out,
                                      struct wire_error *err);

/** Send `signo` to the child (while it runs).  0 or a negative code. */
WIRE_EXPORT int wire_subprocess_kill(struct wire_transport *t, int signo);

/**
 * Split `cmd` into words as a POSIX shell does (blanks separate; '...'
 * is literal; "..." keeps blanks and lets \ escape $ ` " \ and newline;
 * \ outside quotes escapes the next character), without any expansion.
 * On success `*argv` is a NULL-terminated array, freed with
 * wire_free_args().  WIRE_EINVAL for an unterminated quote or no words.
 */
WIRE_EXPORT int wire_split_args(const char *cmd, char ***argv,
                                struct wire_error *err);
WIRE_EXPORT void wire_free_args(char **argv);

#ifdef __cplusplus
}
#endif
#endif /* WIRE_SUBPROCESS_H */
