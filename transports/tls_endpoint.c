/*
 * tls://host:port: TCP plus a TLS layer.  The TLS parameters (ca, cert,
 * key, verify, sni, alpn, min) build a config; the rest go to tcp.
 * Listening wraps each accepted connection's protocol in a server layer;
 * the wrapper's state lives until the loop is freed (a per-loop list).
 */
#include "sock.h"
#include "tls_int.h"

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
 * NULL), the rest into `rest` (a shallow copy of `ep` sharing strings).
 * Free the two arrays with split_free. */
static int
split(const struct wire_endpoint *ep, struct wire_endpoint *rest,
      const char ***params, const char **sni, struct wire_error *err)
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
    for (size_t i = 0; i < ep->nparams; i++) {
        if (is_tls_key(ep->keys[i])) {
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

int
wire__tls_connect(struct wire_loop *loop, const struct wire_endpoint *ep,
                  const char *str, struct wire_protocol *p, uint64_t timeout_ms,
                  wire_connect_cb cb, void *arg, struct wire_error *err)
{
    struct wire_endpoint rest;
    const char **params;
    const char *sni;
    int rc = split(ep, &rest, &params, &sni, err);
    if (rc < 0)
        return rc;
    struct wire_tls_config *cfg = wire_tls_config_from_params(false, params, err);
    if (cfg == NULL) {
        split_free(&rest, params);
        return err != NULL ? err->code : WIRE_ETLS;
    }
    /* The layer takes `p`; a synchronous failure below hands it back. */
    struct wire_protocol *layer = wire_tls_client_layer_new(
        p, cfg, sni != NULL && sni[0] != '\0' ? sni : ep->host, err);
    wire_tls_config_unref(cfg);
    if (layer == NULL) {
        split_free(&rest, params);
        return err != NULL ? err->code : WIRE_ETLS; /* p was destroyed */
    }
    rc = wire__tcp_connect(loop, &rest, str, layer, timeout_ms, cb, arg, err);
    if (rc < 0) {
        struct wire_layer *l = wire_layer_from_protocol(layer);
        l->upper = NULL; /* `p` stays the caller's */
        wire_protocol_destroy(layer);
    }
    split_free(&rest, params);
    return rc;
}

struct tls_listener {
    struct tls_listener *next;
    wire_protocol_factory factory;
    void *farg;
    struct wire_tls_config *cfg;
    struct wire_loop *loop;
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
    struct wire_protocol *layer = wire_tls_server_layer_new(p, t->cfg, &err);
    if (layer == NULL) {
        wire_loop_log(t->loop, WIRE_LOG_WARN, "tls: %s", err.message);
        wire_error_clear(&err);
    }
    return layer;
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
    int rc = split(ep, &rest, &params, &sni, err);
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
    t->loop = loop;
    rc = wire__tcp_listen(loop, &rest, wrap_factory, t, opts, out, err);
    split_free(&rest, params);
    if (rc < 0) {
        wire_tls_config_unref(t->cfg);
        free(t);
        return rc;
    }
    /* The address says what a client must speak: tls://, not tcp://
     * (without our parameters: the client brings its own). */
    const char *addr = wire_server_address(*out);
    if (addr != NULL && strncmp(addr, "tcp://", 6) == 0) {
        char buf[300];
        snprintf(buf, sizeof(buf), "tls://%s", addr + 6);
        wire_impl_server_set_address(*out, buf);
    }
    void **slot = wire__loop_slot(loop, WIRE__SLOT_TLS, listeners_free);
    t->next = *slot;
    *slot = t;
    return 0;
}
