/*
 * The TLS factories of the conformance suite (and so of the matrix): the
 * TLS layer over a memory pair, over TCP (tls:// endpoints), over a pipe
 * pair, and TLS inside TLS.  The certificates are made once per run, in
 * the parent before any test forks, and removed at the end.
 */
#include "conf.h"
#include "conf_tls.h"
#include "tls_certs.h"

#include <stdio.h>
#include <string.h>

static struct tls_certs certs;
static bool certs_ok;
static struct wire_tls_config *client_cfg, *server_cfg;

void
conf_tls_setup(void)
{
    certs_ok = tls_certs_make(&certs) == 0;
    if (!certs_ok)
        return;
    struct wire_error err = {0};
    client_cfg = wire_tls_config_new(false, &err);
    server_cfg = wire_tls_config_new(true, &err);
    if (client_cfg == NULL || server_cfg == NULL ||
        wire_tls_config_set_ca(client_cfg, certs.ca, NULL, &err) < 0 ||
        wire_tls_config_set_cert(server_cfg, certs.server_cert, certs.server_key,
                                 &err) < 0) {
        fprintf(stderr, "conf_tls: %s\n", err.message);
        certs_ok = false;
    }
    wire_error_clear(&err);
}

void
conf_tls_cleanup(void)
{
    wire_tls_config_unref(client_cfg);
    wire_tls_config_unref(server_cfg);
    client_cfg = server_cfg = NULL;
    tls_certs_remove(&certs);
}

bool
conf_tls_available(struct conf_ctx *c, char *why, size_t len)
{
    (void)c;
    if (!certs_ok)
        snprintf(why, len, "the test certificates could not be made");
    return certs_ok;
}

/* Wrap `client`/`server` in `depth` TLS layers each; on failure the
 * protocols are destroyed (the harness counts that). */
static int
wrap(struct wire_protocol **client, struct wire_protocol **server, int depth)
{
    struct wire_error err = {0};
    for (int i = 0; i < depth; i++) {
        *client = wire_tls_client_layer_new(*client, client_cfg, "localhost", &err);
        *server = wire_tls_server_layer_new(*server, server_cfg, &err);
        if (*client == NULL || *server == NULL) {
            int code = err.code;
            wire_error_clear(&err);
            return code;
        }
    }
    return 0;
}

int
conf_tls_mem_make_pair(struct conf_ctx *c, struct wire_protocol *client,
                  struct wire_protocol *server)
{
    int rc = wrap(&client, &server, 1);
    return rc < 0 ? rc : wire_mem_pair(c->loop, client, server, c->f->bufsize, NULL, NULL);
}

int
conf_tls_in_tls_make_pair(struct conf_ctx *c, struct wire_protocol *client,
                     struct wire_protocol *server)
{
    int rc = wrap(&client, &server, 2);
    return rc < 0 ? rc : wire_mem_pair(c->loop, client, server, c->f->bufsize, NULL, NULL);
}

int
conf_tls_pipe_make_pair(struct conf_ctx *c, struct wire_protocol *client,
                   struct wire_protocol *server)
{
    int rc = wrap(&client, &server, 1);
    return rc < 0 ? rc : wire_pipe_pair(c->loop, client, server, NULL, NULL, NULL);
}

void
conf_tls_tcp_listen_ep(struct conf_ctx *c, char *buf, size_t len)
{
    (void)c;
    snprintf(buf, len, "tls://127.0.0.1:0?cert=%s&key=%s", certs.server_cert,
             certs.server_key);
}

/* Through the endpoints: a tls:// server, and a tls:// client that trusts
 * the test CA and checks the name "localhost". */
int
conf_tls_tcp_make_pair(struct conf_ctx *c, struct wire_protocol *client,
                  struct wire_protocol *server)
{
    conf_server(c);
    CK(c, c->npending < 16, "too many pending server protocols");
    c->pending[c->npending++] = server;
    const char *port = strrchr(c->server_ep, ':');
    CK(c, port != NULL, "server address %s", c->server_ep);
    char ep[600];
    snprintf(ep, sizeof(ep), "tls://127.0.0.1%s?ca=%s&sni=localhost", port, certs.ca);
    struct wire_error err = {0};
    int rc = wire_connect(c->loop, ep, client, NULL, conf_pair_connected, c, &err);
    CK(c, rc == 0, "wire_connect(%s): %s", ep, err.message);
    wire_error_clear(&err);
    return 0;
}

