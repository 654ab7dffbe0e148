/*
 * The scheme table: which transport each endpoint scheme means, and the
 * two entry points wire_connect() and wire_listen().  Generic parsing is
 * lib/endpoint.c; adding a transport is one row here.
 */
#include "fdio.h"
#include "sock.h"
#include "tls_int.h"

#include <stdio.h>
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

/* Find the scheme and parse the endpoint in its shape.  On success `*ep`
 * must be cleared by the caller. */
static int
lookup(const char *endpoint, const struct scheme **sc, struct wire_endpoint *ep,
       struct wire_error *err)
{
    *sc = find_scheme(endpoint, err);
    if (*sc == NULL)
        return err->code;
    return wire_endpoint_parse(endpoint, (*sc)->shape, ep, err);
}

int
wire_connect(struct wire_loop *loop, const char *endpoint, struct wire_protocol *p,
             const struct wire_connect_options *opts, wire_connect_cb cb,
             void *arg, struct wire_error *err)
{
    struct wire_error local = {0};
    const struct scheme *sc;
    struct wire_endpoint ep;
    int rc;
    if (err == NULL)
        err = &local;
    if (loop == NULL || p == NULL) {
        rc = wire_error_set(err, WIRE_EINVAL,
                            "wire_connect: loop and protocol are required");
    } else if ((rc = lookup(endpoint, &sc, &ep, err)) == 0) {
        uint64_t timeout = opts && opts->timeout_ms ? opts->timeout_ms
                                                    : WIRE_DEFAULT_CONNECT_TIMEOUT_MS;
        rc = sc->connect(loop, &ep, endpoint, p, timeout, cb, arg, err);
        wire_endpoint_clear(&ep);
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
    int rc;
    if (err == NULL)
        err = &local;
    if (loop == NULL || factory == NULL || server == NULL) {
        rc = wire_error_set(err, WIRE_EINVAL,
                            "wire_listen: loop, factory and server are required");
    } else if ((rc = lookup(endpoint, &sc, &ep, err)) == 0) {
        if (sc->listen == NULL)
            rc = wire_error_set(err, WIRE_ENOTSUP,
                                "endpoint '%s': %s: cannot listen (it connects "
                                "only)", endpoint, sc->name);
        else
            rc = sc->listen(loop, &ep, factory, factory_arg, opts, server, err);
        wire_endpoint_clear(&ep);
    }
    wire_error_clear(&local);
    return rc;
}
