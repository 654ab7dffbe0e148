/*
 * libwire — endpoints: one string picks a transport.
 *
 *   tcp://host:port   tcp://[::1]:port   unix:/path   unix:@abstract
 *   mem:NAME
 *
 * Query parameters follow a '?' (tcp://h:p?timeout=5000&nodelay=0).
 * wire_connect() dials an endpoint and starts a protocol on it;
 * wire_listen() serves one, asking a factory for a protocol per
 * connection.  A server owns its connections like a nursery.
 */
#ifndef WIRE_ENDPOINT_H
#define WIRE_ENDPOINT_H

#include <wire/loop.h>
#include <wire/transport.h>

#ifdef __cplusplus
extern "C" {
#endif

struct wire_server;

/** Make a protocol for a new connection; NULL refuses the connection. */
typedef struct wire_protocol *(*wire_protocol_factory)(void *arg);

/**
 * The outcome of wire_connect(), called exactly once from the loop: on
 * success with the transport (after the protocol's connection_made) and
 * `err` NULL; on failure with `t` NULL and the cause — the protocol has
 * then been destroyed (its connection_made was never called).
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
 * Connect to `endpoint` and run `p` on the connection.
 *
 * Returns 0 when the attempt started: the transport then owns `p`, and
 * `cb` (may be NULL) reports the outcome once.  Returns a negative code
 * (with detail in `err`, if not NULL) when the endpoint string is bad or
 * names an unknown scheme: `cb` is never called and `p` stays the
 * caller's.
 */
WIRE_EXPORT int wire_connect(struct wire_loop *loop, const char *endpoint,
                             struct wire_protocol *p,
                             const struct wire_connect_options *opts,
                             wire_connect_cb cb, void *arg,
                             struct wire_error *err);

/** Options for wire_listen; NULL means defaults. */
struct wire_listen_options {
    int backlog;     /**< 0: 511 */
    bool reuseport;  /**< set SO_REUSEPORT (several servers, one port) */
};

/**
 * Listen on `endpoint` (port 0 picks a free port).  Each accepted
 * connection gets a protocol from `factory(factory_arg)`.  On success
 * `*server` is set and the server is accepting.  On failure returns a
 * negative code (busy port: -EADDRINUSE) with detail in `err`.
 */
WIRE_EXPORT int wire_listen(struct wire_loop *loop, const char *endpoint,
                            wire_protocol_factory factory, void *factory_arg,
                            const struct wire_listen_options *opts,
                            struct wire_server **server,
                            struct wire_error *err);

/** The endpoint actually bound, with the real port
 *  ("tcp://127.0.0.1:40312").  Valid while the server lives. */
WIRE_EXPORT const char *wire_server_address(const struct wire_server *s);

/** Stop / resume accepting.  Connections already accepted are not
 *  touched. */
WIRE_EXPORT void wire_server_stop_accepting(struct wire_server *s);
WIRE_EXPORT void wire_server_resume_accepting(struct wire_server *s);

/** Connections accepted and not yet lost. */
WIRE_EXPORT size_t wire_server_connection_count(const struct wire_server *s);

/** Total connections accepted since the server started. */
WIRE_EXPORT uint64_t wire_server_accepted_total(const struct wire_server *s);

/**
 * Graceful shutdown: stop accepting, close the listening handle, close
 * every connection (flushing what each has queued), and abort those still
 * open after `timeout_ms` (0: abort at once).  `done(arg)` is called from
 * the loop once every connection is gone; it may free the server.
 * Calling it twice only shortens nothing: the first call's deadline holds.
 */
WIRE_EXPORT void wire_server_shutdown(struct wire_server *s,
                                      uint64_t timeout_ms,
                                      wire_loop_cb done, void *arg);

/**
 * Free the server: stop accepting and abort every connection still open
 * (their connection_lost still follows from the loop).  Accepts NULL.
 */
WIRE_EXPORT void wire_server_free(struct wire_server *s);

/* ---- endpoint strings ---- */

/** A parsed endpoint.  Generic: it knows the shapes, not the schemes. */
struct wire_endpoint {
    char *scheme;  /**< "tcp", "unix", ... */
    char *host;    /**< for host:port forms (brackets removed), else NULL */
    char *port;    /**< for host:port forms, else NULL */
    char *path;    /**< everything after "scheme:" and before '?' for
                        path forms ("/tmp/s", "@abstract", "NAME") */
    size_t nparams;
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
 * Parse `str` of the given shape into `ep` (zeroed first).  Returns 0 or
 * WIRE_EENDPOINT with a message saying what is wrong ("missing port in
 * 'tcp://localhost'").  Free with wire_endpoint_clear().
 */
WIRE_EXPORT int wire_endpoint_parse(const char *str,
                                    enum wire_endpoint_shape shape,
                                    struct wire_endpoint *ep,
                                    struct wire_error *err);
/** The scheme of `str` copied into `buf` (without ':').  Returns 0 or
 *  WIRE_EENDPOINT when there is none. */
WIRE_EXPORT int wire_endpoint_scheme(const char *str, char *buf, size_t len,
                                     struct wire_error *err);
/** Look up a query parameter; NULL when absent. */
WIRE_EXPORT const char *wire_endpoint_param(const struct wire_endpoint *ep,
                                            const char *key);
/** Parse a numeric parameter in [min, max]; `*out` keeps its value when
 *  absent.  Returns 0 or WIRE_EENDPOINT naming the key. */
WIRE_EXPORT int wire_endpoint_param_u64(const struct wire_endpoint *ep,
                                        const char *key, uint64_t min,
                                        uint64_t max, uint64_t *out,
                                        struct wire_error *err);
/** Parse a boolean parameter (1/0, yes/no, true/false, on/off). */
WIRE_EXPORT int wire_endpoint_param_bool(const struct wire_endpoint *ep,
                                         const char *key, bool *out,
                                         struct wire_error *err);
/** Fail with WIRE_EENDPOINT if a parameter other than those in the
 *  NULL-terminated `known` list is present (catches typos). */
WIRE_EXPORT int wire_endpoint_check_params(const struct wire_endpoint *ep,
                                           const char *const *known,
                                           struct wire_error *err);
WIRE_EXPORT void wire_endpoint_clear(struct wire_endpoint *ep);

#ifdef __cplusplus
}
#endif
#endif /* WIRE_ENDPOINT_H */
