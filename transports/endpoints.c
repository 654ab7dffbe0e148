/*
 * The scheme table: which transport each endpoint scheme means, and the
 * two entry points wire_connect() and wire_listen().  Generic parsing is
 * lib/endpoint.c; adding a transport is one row here.  The trace=
 * parameter is every scheme's: it is taken out here (tls:// reads its
 * own, to trace under TLS too) and puts a trace layer on each connection.
 */
#include "fdio.h"
#include "sock.h"
#include "tls_int.h"
#include "trace_int.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define WIRE_DEFAULT_CONNECT_TIMEOUT_MS 30000u

struct scheme {
    const char *name;
    enum wire_endpoint_shape shape;
    int (*connect)(struct wire_loop *, const struct wire_endpoint *, const char *,
                   struct wire_protocol *, uint64_t, wire_connect_cb, void *,
                   struct wire_error *);
    int (*listen)(struct wire_loop *, const struct wire_endpoint *,
                  wire_protocol_factory, void *, const struct wire_listen_options *,
                  struct wire_server **, struct wire_error *);
};

static const struct scheme schemes[] = {
    {"tcp", WIRE_ENDPOINT_HOSTPORT, wire__tcp_connect, wire__tcp_listen},
    {"unix", WIRE_ENDPOINT_PATH, wire__unix_connect, wire__unix_listen},
    {"mem", WIRE_ENDPOINT_PATH, wire__mem_connect, wire__mem_listen},
    {"tls", WIRE_ENDPOINT_HOSTPORT, wire__tls_connect, wire__tls_listen},
    /* Connect-only: there is nothing to listen on. */
    {"stdio", WIRE_ENDPOINT_PATH_OPTIONAL, wire__stdio_connect, NULL},
    {"exec", WIRE_ENDPOINT_RAW, wire__exec_connect, NULL},
    {"serial", WIRE_ENDPOINT_PATH, wire__serial_connect, NULL},
    {"file", WIRE_ENDPOINT_PATH_OPTIONAL, wire__file_connect, NULL},
};

static const struct scheme *
find_scheme(const char *str, struct wire_error *err)
{
    char name[32];
    if (wire_endpoint_scheme(str, name, sizeof(name), err) < 0)
        return NULL;
    for (size_t i = 0; i < sizeof(schemes) / sizeof(schemes[0]); i++)
        if (strcmp(schemes[i].name, name) == 0)
            return &schemes[i];
    wire_error_set(err, WIRE_ENOSCHEME,
                   "endpoint '%s': unknown scheme '%s' (known: tcp, unix, mem, tls, stdio, exec, serial, file)",
                   str, name);
    return NULL;
}

/* Find the scheme, take out the trace= parameters (`*trace`: what they
 * ask for; `*clean`: the endpoint without them, NULL when unchanged) and
 * parse the rest in the scheme's shape.  On success `*ep` must be
 * cleared and `*clean` freed by the caller. */
static int
lookup(const char *endpoint, const struct scheme **sc, struct wire_endpoint *ep,
       char **clean, unsigned *trace, struct wire_error *err)
{
    *clean = NULL;
    *trace = 0;
    *sc = find_scheme(endpoint, err);
    if (*sc == NULL)
        return err->code;
    if ((*sc)->connect != wire__tls_connect) {
        int rc = wire__trace_strip(endpoint, (*sc)->shape == WIRE_ENDPOINT_RAW,
                                   clean, trace, err);
        if (rc < 0)
            return rc;
        endpoint = *clean;
    }
    int rc = wire_endpoint_parse(endpoint, (*sc)->shape, ep, err);
    if (rc < 0) {
        free(*clean);
        *clean = NULL;
    }
    return rc;
}

/* wire_connect with trace=: `p` under a trace layer labelled with the
 * endpoint.  On an error return `p` is still the caller's. */
static int
connect_traced(struct wire_loop *loop, const struct scheme *sc,
               const struct wire_endpoint *ep, const char *str,
               struct wire_protocol *p, uint64_t timeout, wire_connect_cb cb,
               void *arg, struct wire_error *err)
{
    char *label = wire__trace_label(str, sc->shape == WIRE_ENDPOINT_RAW, NULL);
    struct wire_protocol *top = label != NULL ? wire__trace_wrap(p, label, err)
                                              : NULL;
    free(label);
    if (top == NULL)
        return err->code < 0 ? err->code
                             : wire_error_set(err, WIRE_ENOMEM, "out of memory");
    int rc = sc->connect(loop, ep, str, top, timeout, cb, arg, err);
    if (rc < 0) {
        wire_layer_from_protocol(top)->upper = NULL; /* `p` stays the caller's */
        wire_protocol_destroy(top);
    }
    return rc;
}

int
wire_connect(struct wire_loop *loop, const char *endpoint, struct wire_protocol *p,
             const struct wire_connect_options *opts, wire_connect_cb cb,
             void *arg, struct wire_error *err)
{
    struct wire_error local = {0};
    const struct scheme *sc;
    struct wire_endpoint ep;
    char *clean;
    unsigned trace;
    int rc;
    if (err == NULL)
        err = &local;
    if (loop == NULL || p == NULL) {
        rc = wire_error_set(err, WIRE_EINVAL,
                            "wire_connect: loop and protocol are required");
    } else if ((rc = lookup(endpoint, &sc, &ep, &clean, &trace, err)) == 0) {
        uint64_t timeout = opts && opts->timeout_ms ? opts->timeout_ms
                                                    : WIRE_DEFAULT_CONNECT_TIMEOUT_MS;
        const char *str = clean != NULL ? clean : endpoint;
        if (trace != 0)
            rc = connect_traced(loop, sc, &ep, str, p, timeout, cb, arg, err);
        else
            rc = sc->connect(loop, &ep, str, p, timeout, cb, arg, err);
        wire_endpoint_clear(&ep);
        free(clean);
    }
    wire_error_clear(&local);
    return rc;
}

int
wire_listen(struct wire_loop *loop, const char *endpoint,
            wire_protocol_factory factory, void *factory_arg,
            const struct wire_listen_options *opts, struct wire_server **server,
            struct wire_error *err)
{
    struct wire_error local = {0};
    const struct scheme *sc;
    struct wire_endpoint ep;
    char *clean;
    unsigned trace;
    int rc;
    if (err == NULL)
        err = &local;
    if (loop == NULL || factory == NULL || server == NULL) {
        rc = wire_error_set(err, WIRE_EINVAL,
                            "wire_listen: loop, factory and server are required");
    } else if ((rc = lookup(endpoint, &sc, &ep, &clean, &trace, err)) == 0) {
        if (sc->listen == NULL)
            rc = wire_error_set(err, WIRE_ENOTSUP,
                                "endpoint '%s': %s: cannot listen (it connects "
                                "only)", endpoint, sc->name);
        else if (trace != 0)
            rc = wire__listen_traced(loop, sc->listen, &ep, factory, factory_arg,
                                     opts, server, err);
        else
            rc = sc->listen(loop, &ep, factory, factory_arg, opts, server, err);
        wire_endpoint_clear(&ep);
        free(clean);
    }
    wire_error_clear(&local);
    return rc;
}
