/**
 * @file
 * libwire — endpoints: one string picks a transport.
 *
 * `tcp://host:port`   `tcp://[::1]:port`   `unix:/path`   `unix:@abstract`
 * `mem:NAME`   `tls://host:port` (<wire/tls.h>)
 *
 * and, to connect only: `stdio:` (<wire/pipe.h>), `exec:command args`
 * (<wire/subprocess.h>), `serial:/dev/tty...` (<wire/serial.h>),
 * `file:/in?out=/out` (<wire/file.h>).
 *
 * Query parameters follow a '?' (tcp://h:p?timeout=5000&nodelay=0); an
 * unknown one is refused with WIRE_EENDPOINT naming the known ones.
 * wire_connect() dials an endpoint and starts a protocol on it;
 * wire_listen() serves one, asking a factory for a protocol per
 * connection.  A server owns its connections like a nursery.
 *
 * Every scheme that makes connections, for wire_connect() and
 * wire_listen() alike, also takes `trace=`: `trace=1` (or yes, true, on,
 * or an empty value) puts a trace layer (<wire/trace.h>) on top of each
 * connection's stack, writing one line per event to stderr; `trace=raw`
 * puts it under TLS instead, showing the records; `trace=both` does both
 * (for schemes other than tls:// both mean 1); `trace=0` turns it off.  A
 * dialled connection is labelled with the endpoint up to its query, an
 * accepted one with the server's address and `#N`.  Any other value fails
 * with WIRE_EENDPOINT.
 */
#ifndef WIRE_ENDPOINT_H
#define WIRE_ENDPOINT_H

#include <wire/loop.h>
#include <wire/transport.h>

#ifdef __cplusplus
extern "C" {
#endif

struct wire_server;

/** Make a protocol for a new connection, called from the loop for each
 *  accepted connection with wire_listen()'s `factory_arg`.  The returned
 *  protocol is owned by the new transport (connection_made follows at
 *  once); NULL refuses the connection (it is closed). */
typedef struct wire_protocol *(*wire_protocol_factory)(void *arg);

/**
 * The outcome of wire_connect(), called exactly once from the loop: on
 * success with the transport (after the protocol's connection_made) and
 * `err` NULL; on failure with `t` NULL and the cause — the protocol has
 * then been destroyed (its connection_made was never called).  `err` is
 * valid during the call only; `t` as in connection_made (take a
 * reference to keep it past connection_lost).  It may close or abort `t`.
 */
typedef void (*wire_connect_cb)(void *arg, struct wire_transport *t,
                                const struct wire_error *err);

/** Options for wire_connect; a NULL pointer means all defaults.  Values
 *  given in the endpoint's query string win over these. */
struct wire_connect_options {
    /** Give up after this long, resolution included (0: 30 s default). */
    uint64_t timeout_ms;
};

/**
 * Connect to `endpoint` and run `p` on the connection.  `endpoint` and
 * `opts` are read during the call only.
 *
 * Returns 0 when the attempt started: the transport then owns `p` (also
 * if the attempt fails later: `p` is destroyed then), and `cb` (may be
 * NULL) reports the outcome once, from the loop, never from inside this
 * call.  Returns a negative code (with detail in `err`, if not NULL) when
 * the attempt cannot start: WIRE_EINVAL (a NULL `loop` or `p`),
 * WIRE_EENDPOINT (a malformed endpoint or parameter), WIRE_ENOSCHEME (an
 * unknown scheme), WIRE_ENOMEM, or a transport's own synchronous check
 * (a `stdio:` already in use: WIRE_ESTATE).  Then `cb` is never called
 * and `p` stays the caller's.  Failures to reach the peer (refused,
 * unresolvable, timed out, a program that cannot start...) go to `cb`.
 */
WIRE_EXPORT int wire_connect(struct wire_loop *loop, const char *endpoint,
                             struct wire_protocol *p,
                             const struct wire_connect_options *opts,
                             wire_connect_cb cb, void *arg,
                             struct wire_error *err);

/** Options for wire_listen; NULL means defaults.  Read during the call
 *  only. */
struct wire_listen_options {
    int backlog;     /**< 0: 511 */
    bool reuseport;  /**< set SO_REUSEPORT (several servers, one port;
                          tcp:// and tls:// only; see wire_workers_start) */
};

/**
 * Listen on `endpoint` (port 0 picks a free port).  Each accepted
 * connection gets a protocol from `factory(factory_arg)`, called from the
 * loop; `factory_arg` stays the caller's and must outlive the server.  On
 * success returns 0, sets `*server` (the caller owns it: end it with
 * wire_server_shutdown() and/or wire_server_free()) and the server is
 * accepting.  On failure returns a negative code with detail in `err` (if
 * not NULL) and `*server` is untouched: WIRE_EINVAL (a NULL `loop`,
 * `factory` or `server`), WIRE_EENDPOINT, WIRE_ENOSCHEME, WIRE_ENOTSUP (a
 * scheme that only connects: stdio, exec, serial, file; or `reuseport`
 * asked of unix: or mem:, where it cannot work), -errno from the
 * system (busy port: -EADDRINUSE; -EACCES...), WIRE_ERESOLVE,
 * WIRE_ENOMEM.
 */
WIRE_EXPORT int wire_listen(struct wire_loop *loop, const char *endpoint,
                            wire_protocol_factory factory, void *factory_arg,
                            const struct wire_listen_options *opts,
                            struct wire_server **server,
                            struct wire_error *err);

/** The endpoint actually bound, with the real port
 *  ("tcp://127.0.0.1:40312").  The string belongs to the server and is
 *  valid while the server lives; never NULL ("" if unknown). */
WIRE_EXPORT const char *wire_server_address(const struct wire_server *s);

/** Stop accepting (the listening handle stays open, so connections
 *  wait in the backlog).  Connections already accepted are not touched. */
WIRE_EXPORT void wire_server_stop_accepting(struct wire_server *s);
/** Resume accepting after wire_server_stop_accepting().  Does nothing
 *  once wire_server_shutdown() was called. */
WIRE_EXPORT void wire_server_resume_accepting(struct wire_server *s);

/** Connections accepted and not yet lost. */
WIRE_EXPORT size_t wire_server_connection_count(const struct wire_server *s);

/** Total connections accepted since the server started. */
WIRE_EXPORT uint64_t wire_server_accepted_total(const struct wire_server *s);

/**
 * Graceful shutdown: stop accepting, close the listening handle, close
 * every connection (flushing what each has queued), and abort those still
 * open after `timeout_ms` (0: abort at once).  `done(arg)` (may be NULL)
 * is called once, from the loop, never from inside this call, after
 * every connection's connection_lost; it may free the server (the server
 * must still be freed with wire_server_free() at some point).  If the
 * server is freed before then, `done` is not called.  A second call does
 * nothing: the first call's deadline and `done` hold.
 */
WIRE_EXPORT void wire_server_shutdown(struct wire_server *s,
                                      uint64_t timeout_ms,
                                      wire_loop_cb done, void *arg);

/**
 * Shut the server down gracefully on the first SIGINT or SIGTERM: the
 * usual ending of a server program in one call.  Watches both signals
 * on the server's loop (wire_signal_new(); so, like any signal watcher,
 * on the loop of the thread that gets the signals, not a worker's).
 * When the first of them arrives, from the loop: both watchers are
 * removed, so a second signal gets the disposition it had before (for
 * SIGINT and SIGTERM by default: the process ends); then
 * `on_signal(arg, signo)` (may be NULL) runs, for what must happen
 * before the connections are closed (answering calls that wait, a log
 * line); then, unless `on_signal` freed the server,
 * wire_server_shutdown(s, grace_ms, done, arg) starts, with its rules:
 * connections get `grace_ms` to finish (0: aborted at once), `done` (may
 * be NULL) is called once, from the loop, after every connection's
 * connection_lost, and may free the server; if `on_signal` already
 * called wire_server_shutdown(), that call holds.  Once the
 * shutdown is over nothing of the server keeps the loop running, so
 * wire_loop_run() returns and the server can be freed after it instead
 * of in `done`.
 *
 * The watchers belong to the server: they are also removed when a
 * shutdown starts by a direct wire_server_shutdown() call (then
 * `on_signal` is never called, and that call's `done` holds) and when
 * the server is freed, signal or not.  `arg` stays the caller's and must
 * outlive the watch.
 *
 * Returns 0, or a negative code with detail in `err` (if not NULL) and
 * nothing watched: WIRE_EINVAL for a NULL `s`, a server already
 * watching signals (a second call) or already shutting down; the
 * errors of wire_signal_new() (WIRE_ENOMEM, WIRE_EINVAL when libevent
 * cannot watch the signal).
 */
WIRE_EXPORT int wire_server_shutdown_on_signals(struct wire_server *s,
                                                uint64_t grace_ms,
                                                wire_signal_cb on_signal,
                                                wire_loop_cb done, void *arg,
                                                struct wire_error *err);

/**
 * Free the server: stop accepting, close the listening handle and abort
 * every connection still open (their connection_lost still follows from
 * the loop; the connections outlive the server object).  A pending
 * wire_server_shutdown() `done` is not called.  Accepts NULL.
 */
WIRE_EXPORT void wire_server_free(struct wire_server *s);

/* ---- workers: one server per core ---- */

/**
 * @name Workers
 * N threads, each running its own loop with its own listening socket
 * bound to the same address with SO_REUSEPORT, so the kernel spreads the
 * connections over them.  Each worker thread owns its loop and touches
 * nothing of another worker's: a connection lives and dies on the worker
 * that accepted it, and per-worker state (made by the setup callback, in
 * the worker's thread) needs no lock.  Only `tcp://` and `tls://`
 * endpoints can be shared this way; `unix:` and `mem:` are refused.
 * Worker threads block every signal, so signals reach the other threads
 * (watch them there with wire_signal_new() and call wire_workers_stop()).
 * @{
 */

struct wire_workers;

/** Most workers wire_workers_start() accepts. */
#define WIRE_WORKERS_MAX 1024

/** What one worker serves, filled in by its setup callback. */
struct wire_worker_service {
    /** Makes a protocol for each connection this worker accepts, called
     *  on the worker's thread (required). */
    wire_protocol_factory factory;
    /** Passed to `factory` and to the teardown callback: typically the
     *  worker's own state. */
    void *factory_arg;
};

/**
 * Prepare worker `index` (0 to count - 1), called once on that worker's
 * own thread with its own loop, before it listens.  `arg` is
 * wire_workers_options.arg, shared by every worker thread (so treat it as
 * read-only, or lock).  Fill `svc` and return 0; or return a negative code
 * with detail in `err`: the start then fails (every worker stops) with
 * that code and message, prefixed with the worker's number.  The worker
 * may start timers or connections on `loop`; its teardown must end them.
 */
typedef int (*wire_worker_setup_cb)(void *arg, struct wire_loop *loop,
                                    unsigned index,
                                    struct wire_worker_service *svc,
                                    struct wire_error *err);

/**
 * Release worker `index`'s state, called once on its thread for every
 * worker whose setup succeeded, after its server has ended (every
 * connection it accepted is gone) or when the start failed.  It must end
 * whatever the setup started on `loop` (timers, connections): the worker
 * then runs `loop` until nothing is left, and its thread ends.
 */
typedef void (*wire_worker_teardown_cb)(void *arg, struct wire_loop *loop,
                                        unsigned index, void *factory_arg);

/** Options for wire_workers_start(); read during the call only. */
struct wire_workers_options {
    /** Number of workers: 0 for one per CPU this process may run on
     *  (sched_getaffinity), else 1 to WIRE_WORKERS_MAX. */
    int count;
    wire_worker_setup_cb setup;       /**< required */
    wire_worker_teardown_cb teardown; /**< may be NULL */
    void *arg;                        /**< for setup and teardown */
    int backlog;                      /**< per worker; 0: 511 */
};

/**
 * Start the workers serving `endpoint` (`tcp://...` or `tls://...`; port
 * 0: the first worker binds a free port and the others bind the same
 * one).  Each worker runs on its own thread: creates a loop, calls the
 * setup callback, listens with SO_REUSEPORT (the `reuseport` parameter is
 * implied) and runs its loop.  The call returns once every worker is
 * listening (0, `*out` set; the caller owns the workers and ends them with
 * wire_workers_stop() and wire_workers_free()) or once one has failed:
 * then every worker that started is stopped and joined (its teardown has
 * run), `*out` is untouched, and the error (in `err`, if not NULL) names
 * the worker and the reason ("worker 1 of 2: cannot listen on
 * 127.0.0.1:8080: Address already in use").  Codes: WIRE_EINVAL (a NULL
 * `endpoint`, `opts`, `setup` or `out`, a count below 0 or above
 * WIRE_WORKERS_MAX), WIRE_ENOTSUP (a scheme that cannot share a port:
 * unix, mem, or connect-only ones), any wire_listen() error (-EADDRINUSE
 * when a socket without SO_REUSEPORT holds the port...), a setup
 * callback's code, -errno if a thread cannot be created, WIRE_ENOMEM.
 */
WIRE_EXPORT int wire_workers_start(const char *endpoint,
                                   const struct wire_workers_options *opts,
                                   struct wire_workers **out,
                                   struct wire_error *err);

/** The number of workers running (or that ran). */
WIRE_EXPORT unsigned wire_workers_count(const struct wire_workers *w);

/** The address the workers are bound to, with the real port
 *  ("tcp://127.0.0.1:40312"); owned by `w`, valid while it lives. */
WIRE_EXPORT const char *wire_workers_address(const struct wire_workers *w);

/** Connections worker `index` has accepted so far (those its factory
 *  refused are not counted).  Any thread may call it, at any time until
 *  wire_workers_free(); 0 for an index out of range. */
WIRE_EXPORT uint64_t wire_workers_accepted(const struct wire_workers *w,
                                           unsigned index);

/**
 * Ask every worker to stop, and return at once.  Any thread may call it,
 * a worker's own callbacks included.  Each worker, on its own thread,
 * shuts its server down as wire_server_shutdown() does: stops accepting,
 * closes every connection at the top of its stack (flushing what it has
 * queued) and aborts those still open after `timeout_ms` (0: aborts them
 * at once); then runs its teardown and ends.  Only the first call counts.
 */
WIRE_EXPORT void wire_workers_stop(struct wire_workers *w,
                                   uint64_t timeout_ms);

/**
 * Wait until every worker thread has ended (it blocks: call it after
 * wire_workers_stop(), or while another thread will call it).  Returns 0,
 * or the first worker failure seen while running (a loop whose backend
 * failed: WIRE_EINVAL), with detail in `err` if not NULL.  Call it from
 * one thread, not from a worker.  A second call returns at once.
 */
WIRE_EXPORT int wire_workers_wait(struct wire_workers *w,
                                  struct wire_error *err);

/** Stop the workers (as wire_workers_stop(w, 0) does, unless a stop was
 *  already asked for), wait for them, and free everything.  Not from a
 *  worker's thread.  Accepts NULL. */
WIRE_EXPORT void wire_workers_free(struct wire_workers *w);

/** @} */

/* ---- endpoint strings ---- */

/** A parsed endpoint.  Generic: it knows the shapes, not the schemes.
 *  Filled by wire_endpoint_parse(); every string is a heap copy owned by
 *  the struct and released by wire_endpoint_clear(). */
struct wire_endpoint {
    char *scheme;  /**< "tcp", "unix", ... */
    char *host;    /**< for host:port forms (brackets removed), else NULL */
    char *port;    /**< for host:port forms, else NULL */
    char *path;    /**< everything after "scheme:" and before '?' for
                        path forms ("/tmp/s", "@abstract", "NAME") */
    size_t nparams; /**< number of query parameters (`keys`/`values`) */
    char **keys;   /**< query keys, percent-decoded */
    char **values; /**< query values, percent-decoded ("" when no '=') */
};

/** Shapes a scheme's address may have. */
enum wire_endpoint_shape {
    WIRE_ENDPOINT_HOSTPORT = 1, /**< scheme://host:port */
    WIRE_ENDPOINT_PATH = 2,     /**< scheme:anything */
    /** scheme:anything, '?' included: the whole rest is the path,
     *  verbatim (no %-decoding), and the scheme parses its own options
     *  (exec: commands may contain '?' and '%') */
    WIRE_ENDPOINT_RAW = 3,
    /** scheme:[anything][?query], the address may be empty (`stdio:`,
     *  `file:?out=/path`) */
    WIRE_ENDPOINT_PATH_OPTIONAL = 4
};

/**
 * Parse `str` of the given shape into `ep` (zeroed first).  Returns 0, or
 * WIRE_EENDPOINT with a message in `err` (if not NULL) saying what is
 * wrong ("endpoint 'tcp://localhost': missing port number"), or
 * WIRE_ENOMEM; on error `ep` is left cleared.  On success free it with
 * wire_endpoint_clear().
 */
WIRE_EXPORT int wire_endpoint_parse(const char *str,
                                    enum wire_endpoint_shape shape,
                                    struct wire_endpoint *ep,
                                    struct wire_error *err);
/** The scheme of `str` copied into `buf` (`len` bytes; without ':', in
 *  lower case).  Returns 0, or WIRE_EENDPOINT (with `err` set, if not NULL)
 *  when there is none ("127.0.0.1:80") or it does not fit in `buf`. */
WIRE_EXPORT int wire_endpoint_scheme(const char *str, char *buf, size_t len,
                                     struct wire_error *err);
/** Look up a query parameter (the first with that key, case-sensitive);
 *  NULL when absent.  The value belongs to `ep`. */
WIRE_EXPORT const char *wire_endpoint_param(const struct wire_endpoint *ep,
                                            const char *key);
/** Parse a numeric (decimal) parameter in [min, max]; `*out` keeps its
 *  value when absent.  Returns 0 or WIRE_EENDPOINT naming the key (with
 *  `err` set, if not NULL; `*out` untouched). */
WIRE_EXPORT int wire_endpoint_param_u64(const struct wire_endpoint *ep,
                                        const char *key, uint64_t min,
                                        uint64_t max, uint64_t *out,
                                        struct wire_error *err);
/** Parse a boolean parameter (1/0, yes/no, true/false, on/off, any case;
 *  a key without a value is true).  `*out` keeps its value when absent.
 *  Returns 0 or WIRE_EENDPOINT naming the key (with `err` set, if not
 *  NULL). */
WIRE_EXPORT int wire_endpoint_param_bool(const struct wire_endpoint *ep,
                                         const char *key, bool *out,
                                         struct wire_error *err);
/** Fail with WIRE_EENDPOINT (naming the key, in `err` if not NULL) if a
 *  parameter other than those in the NULL-terminated `known` list is
 *  present (catches typos).  Returns 0 otherwise. */
WIRE_EXPORT int wire_endpoint_check_params(const struct wire_endpoint *ep,
                                           const char *const *known,
                                           struct wire_error *err);
/** Free what `ep` holds and zero it (it may be parsed into again).
 *  Accepts NULL and a zeroed struct. */
WIRE_EXPORT void wire_endpoint_clear(struct wire_endpoint *ep);

#ifdef __cplusplus
}
#endif
#endif /* WIRE_ENDPOINT_H */
