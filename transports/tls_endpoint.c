/*
 * tls://host:port: TCP plus a TLS layer.  The TLS parameters (ca, cert,
 * key, verify, sni, alpn, min) build a config; trace= puts trace layers
 * above and/or under TLS (trace_int.h); the rest go to tcp.
 * Listening wraps each accepted connection's protocol in a server layer;
 * the wrapper's state lives until the loop is freed (a per-loop list).
 * The same wrapper, without TLS, traces the accepted connections of the
 * other schemes (wire__listen_traced).
 */
#include "sock.h"
#include "tls_int.h"
#include "trace_int.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char *const tls_keys[] = {"ca", "cert", "key", "verify", "sni",
                                       "alpn", "min", NULL};

static bool
is_tls_key(const char *k)
{
    for (size_t i = 0; tls_keys[i] != NULL; i++)
        if (strcmp(tls_keys[i], k) == 0)
            return true;
    return false;
}

/* Split `ep`'s parameters: TLS ones into `params` (key, value, ...,
 * NULL), trace= into `*trace`, the rest into `rest` (a shallow copy of
 * `ep` sharing strings).  Free the two arrays with split_free. */
static int
split(const struct wire_endpoint *ep, struct wire_endpoint *rest,
      const char ***params, const char **sni, unsigned *trace,
      struct wire_error *err)
{
    *rest = *ep;
    rest->keys = calloc(ep->nparams + 1, sizeof(char *));
    rest->values = calloc(ep->nparams + 1, sizeof(char *));
    *params = calloc(2 * ep->nparams + 2, sizeof(char *));
    if (rest->keys == NULL || rest->values == NULL || *params == NULL) {
        free(rest->keys);
        free(rest->values);
        free(*params);
        return wire_error_set(err, WIRE_ENOMEM, "out of memory");
    }
    size_t n = 0, m = 0;
    *sni = NULL;
    *trace = 0;
    for (size_t i = 0; i < ep->nparams; i++) {
        if (strcmp(ep->keys[i], "trace") == 0) {
            int rc = wire__trace_mode(ep->values[i], trace, err);
            if (rc < 0) {
                free(rest->keys);
                free(rest->values);
                free(*params);
                return rc;
            }
        } else if (is_tls_key(ep->keys[i])) {
            if (strcmp(ep->keys[i], "sni") == 0)
                *sni = ep->values[i];
            (*params)[m++] = ep->keys[i];
            (*params)[m++] = ep->values[i];
        } else {
            rest->keys[n] = ep->keys[i];
            rest->values[n] = ep->values[i];
            n++;
        }
    }
    rest->nparams = n;
    return 0;
}

static void
split_free(struct wire_endpoint *rest, const char **params)
{
    free(rest->keys);
    free(rest->values);
    free(params);
}

/* Put `*top` under a trace layer labelled `str` up to its query, its
 * scheme replaced by `scheme` (NULL: kept) and `suffix` appended.  On
 * failure `*top` is unchanged (and still the caller's). */
static int
trace_over(struct wire_protocol **top, const char *str, const char *scheme,
           const char *suffix, struct wire_error *err)
{
    char *base = wire__trace_label(str, false, scheme);
    char *label = base != NULL ? malloc(strlen(base) + strlen(suffix) + 1) : NULL;
    struct wire_protocol *t = NULL;
    if (label != NULL) {
        strcpy(label, base);
        strcat(label, suffix);
        t = wire__trace_wrap(*top, label, err);
    }
    free(base);
    free(label);
    if (t == NULL)
        return err != NULL && err->code < 0
                   ? err->code
                   : wire_error_set(err, WIRE_ENOMEM, "out of memory");
    *top = t;
    return 0;
}

/* Free a stack of layers built over `p` that never started, giving `p`
 * back (it stays the caller's). */
static void
unstack(struct wire_protocol *top, struct wire_protocol *p)
{
    for (struct wire_protocol *x = top; x != NULL && x != p;) {
        struct wire_layer *l = wire_layer_from_protocol(x);
        if (l->upper == p) {
            l->upper = NULL;
            break;
        }
        x = l->upper;
    }
    if (top != p)
        wire_protocol_destroy(top);
}

int
wire__tls_connect(struct wire_loop *loop, const struct wire_endpoint *ep,
                  const char *str, struct wire_protocol *p, uint64_t timeout_ms,
                  wire_connect_cb cb, void *arg, struct wire_error *err)
{
    struct wire_endpoint rest;
    const char **params;
    const char *sni;
    unsigned trace;
    int rc = split(ep, &rest, &params, &sni, &trace, err);
    if (rc < 0)
        return rc;
    struct wire_tls_config *cfg = wire_tls_config_from_params(false, params, err);
    if (cfg == NULL) {
        split_free(&rest, params);
        return err != NULL ? err->code : WIRE_ETLS;
    }
    /* Plaintext: a trace layer above TLS. */
    struct wire_protocol *top = p;
    if ((trace & WIRE__TRACE_ON) && (rc = trace_over(&top, str, NULL, "", err)) < 0) {
        wire_tls_config_unref(cfg);
        split_free(&rest, params);
        return rc;
    }
    /* The layer is made empty and given `top` once it exists, so that a
     * failure (a bad name to verify, no memory) leaves `p` the caller's,
     * as wire_connect() promises; a synchronous failure below hands `p`
     * back too. */
    struct wire_protocol *layer = wire__tls_layer_new(
        NULL, cfg, false, sni != NULL && sni[0] != '\0' ? sni : ep->host, err);
    wire_tls_config_unref(cfg);
    if (layer == NULL) {
        unstack(top, p);
        split_free(&rest, params);
        return err != NULL && err->code < 0 ? err->code : WIRE_ETLS;
    }
    wire_layer_from_protocol(layer)->upper = top;
    /* The records: a trace layer under TLS, named for what carries them. */
    if ((trace & WIRE__TRACE_RAW) && (rc = trace_over(&layer, str, "tcp", "", err)) < 0) {
        unstack(layer, p);
        split_free(&rest, params);
        return rc;
    }
    rc = wire__tcp_connect(loop, &rest, str, layer, timeout_ms, cb, arg, err);
    if (rc < 0)
        unstack(layer, p); /* `p` stays the caller's */
    split_free(&rest, params);
    return rc;
}

/* A listener's wrapper: TLS (cfg) and/or tracing for every accepted
 * connection. */
struct tls_listener {
    struct tls_listener *next;
    wire_protocol_factory factory;
    void *farg;
    struct wire_tls_config *cfg; /* NULL: no TLS */
    struct wire_loop *loop;
    unsigned trace;              /* WIRE__TRACE_* */
    struct wire_server *server;  /* for the labels; set once listening */
    unsigned long accepted;
};

static void
listeners_free(void *head)
{
    struct tls_listener *t = head;
    while (t != NULL) {
        struct tls_listener *next = t->next;
        wire_tls_config_unref(t->cfg);
        free(t);
        t = next;
    }
}

static struct wire_protocol *
wrap_factory(void *arg)
{
    struct tls_listener *t = arg;
    struct wire_protocol *p = t->factory(t->farg);
    if (p == NULL)
        return NULL;
    struct wire_error err = {0};
    struct wire_protocol *top = p;
    /* Accepted connections are named by the server and their number; the
     * factory runs only while the server lives. */
    char suffix[32];
    snprintf(suffix, sizeof(suffix), "#%lu", ++t->accepted);
    const char *addr = t->server != NULL ? wire_server_address(t->server) : "";
    if ((t->trace & WIRE__TRACE_ON) &&
        trace_over(&top, addr, NULL, suffix, &err) < 0)
        goto fail;
    if (t->cfg != NULL) {
        /* On failure the layer destroyed what was over it (`p` too). */
        top = wire_tls_server_layer_new(top, t->cfg, &err);
        if (top == NULL)
            goto fail;
    }
    if ((t->trace & WIRE__TRACE_RAW) &&
        trace_over(&top, addr, "tcp", suffix, &err) < 0)
        goto fail;
    return top;
fail:
    wire_loop_log(t->loop, WIRE_LOG_WARN, "%s: %s",
                  t->cfg != NULL ? "tls" : "trace", err.message);
    wire_error_clear(&err);
    if (top != NULL)
        wire_protocol_destroy(top);
    return NULL;
}

/* Listen on `ep` through `listen` with wrapper `t` (freed on failure;
 * kept in the loop's list on success). */
static int
listen_wrapped(struct wire_loop *loop,
               int (*listen)(struct wire_loop *, const struct wire_endpoint *,
                             wire_protocol_factory, void *,
                             const struct wire_listen_options *,
                             struct wire_server **, struct wire_error *),
               const struct wire_endpoint *ep, struct tls_listener *t,
               const struct wire_listen_options *opts,
               struct wire_server **out, struct wire_error *err)
{
    t->loop = loop;
    int rc = listen(loop, ep, wrap_factory, t, opts, out, err);
    if (rc < 0) {
        wire_tls_config_unref(t->cfg);
        free(t);
        return rc;
    }
    t->server = *out;
    void **slot = wire__loop_slot(loop, WIRE__SLOT_TLS, listeners_free);
    t->next = *slot;
    *slot = t;
    return 0;
}

int
wire__tls_listen(struct wire_loop *loop, const struct wire_endpoint *ep,
                 wire_protocol_factory factory, void *farg,
                 const struct wire_listen_options *opts,
                 struct wire_server **out, struct wire_error *err)
{
    struct wire_endpoint rest;
    const char **params;
    const char *sni;
    unsigned trace;
    int rc = split(ep, &rest, &params, &sni, &trace, err);
    if (rc < 0)
        return rc;
    struct tls_listener *t = calloc(1, sizeof(*t));
    if (t == NULL) {
        split_free(&rest, params);
        return wire_error_set(err, WIRE_ENOMEM, "out of memory");
    }
    t->cfg = wire_tls_config_from_params(true, params, err);
    if (t->cfg == NULL) {
        free(t);
        split_free(&rest, params);
        return err != NULL ? err->code : WIRE_ETLS;
    }
    t->factory = factory;
    t->farg = farg;
    t->trace = trace;
    rc = listen_wrapped(loop, wire__tcp_listen, &rest, t, opts, out, err);
    split_free(&rest, params);
    if (rc < 0)
        return rc;
    /* The address says what a client must speak: tls://, not tcp://
     * (without our parameters: the client brings its own). */
    const char *addr = wire_server_address(*out);
    if (addr != NULL && strncmp(addr, "tcp://", 6) == 0) {
        char buf[300];
        snprintf(buf, sizeof(buf), "tls://%s", addr + 6);
        wire_impl_server_set_address(*out, buf);
    }
    return 0;
}

int
wire__listen_traced(struct wire_loop *loop,
                    int (*listen)(struct wire_loop *,
                                  const struct wire_endpoint *,
                                  wire_protocol_factory, void *,
                                  const struct wire_listen_options *,
                                  struct wire_server **, struct wire_error *),
                    const struct wire_endpoint *ep,
                    wire_protocol_factory factory, void *farg,
                    const struct wire_listen_options *opts,
                    struct wire_server **out, struct wire_error *err)
{
    struct tls_listener *t = calloc(1, sizeof(*t));
    if (t == NULL)
        return wire_error_set(err, WIRE_ENOMEM, "out of memory");
    t->factory = factory;
    t->farg = farg;
    t->trace = WIRE__TRACE_ON;
    return listen_wrapped(loop, listen, ep, t, opts, out, err);
}
