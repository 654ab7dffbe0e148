/*
 * TLS configurations: a refcounted SSL_CTX with our defaults (TLS 1.2 at
 * least, renegotiation and compression off, peer verification on for
 * clients against the system store), ALPN, timeouts, and a client session
 * cache keyed by server name.
 */
#include "tls_int.h"

#include <arpa/inet.h>
#include <openssl/err.h>
#include <openssl/x509v3.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct tls_session {
    struct tls_session *next;
    char *name;
    SSL_SESSION *sess;
};

struct wire_tls_config {
    unsigned refs;
    bool server, verify;
    SSL_CTX *ctx;
    unsigned char *alpn; /* wire format: length-prefixed names */
    size_t alpn_len;
    uint64_t handshake_ms, shutdown_ms;
    struct tls_session *sessions;
    unsigned nsessions;
};

#define TLS_MAX_SESSIONS 64

static int config_index = -1; /* SSL_CTX ex_data slot: our config */
static pthread_once_t config_index_once = PTHREAD_ONCE_INIT;

/* Once per process, whichever thread comes first (workers make their
 * configs on their own threads). */
static void
config_index_init(void)
{
    config_index = SSL_CTX_get_ex_new_index(0, NULL, NULL, NULL, NULL);
}

static int
set_error(struct wire_error *err, const char *what, const char *file)
{
    unsigned long e = ERR_get_error();
    const char *r = e != 0 ? ERR_reason_error_string(e) : NULL;
    ERR_clear_error();
    return wire_error_set(err, WIRE_ETLS, "TLS: %s%s%s%s: %s", what,
                          file ? " '" : "", file ? file : "", file ? "'" : "",
                          r != NULL ? r : "unknown error");
}

static void
apply_verify(struct wire_tls_config *c)
{
    int mode = SSL_VERIFY_NONE;
    if (c->verify)
        mode = c->server ? SSL_VERIFY_PEER | SSL_VERIFY_FAIL_IF_NO_PEER_CERT
                         : SSL_VERIFY_PEER;
    SSL_CTX_set_verify(c->ctx, mode, c->verify ? wire__tls_verify_cb : NULL);
}

/* A new session ticket for a client: keep it for the next connection to
 * the same name. */
static int
new_session(SSL *ssl, SSL_SESSION *sess)
{
    struct wire_tls_config *c = SSL_CTX_get_ex_data(SSL_get_SSL_CTX(ssl), config_index);
    const char *name = wire__tls_layer_server_name(ssl);
    if (c == NULL || name == NULL)
        return 0;
    for (struct tls_session *s = c->sessions; s != NULL; s = s->next) {
        if (strcmp(s->name, name) == 0) {
            SSL_SESSION_free(s->sess);
            s->sess = sess;
            return 1; /* we keep the reference */
        }
    }
    if (c->nsessions >= TLS_MAX_SESSIONS)
        return 0;
    struct tls_session *s = calloc(1, sizeof(*s));
    if (s == NULL || (s->name = strdup(name)) == NULL) {
        free(s);
        return 0;
    }
    s->sess = sess;
    s->next = c->sessions;
    c->sessions = s;
    c->nsessions++;
    return 1;
}

static int
alpn_select(SSL *ssl, const unsigned char **out, unsigned char *outlen,
            const unsigned char *in, unsigned int inlen, void *arg)
{
    struct wire_tls_config *c = arg;
    WIRE_UNUSED(ssl);
    if (c->alpn == NULL)
        return SSL_TLSEXT_ERR_NOACK;
    unsigned char *sel = NULL;
    if (SSL_select_next_proto(&sel, outlen, c->alpn, (unsigned)c->alpn_len, in,
                              inlen) != OPENSSL_NPN_NEGOTIATED)
        return SSL_TLSEXT_ERR_ALERT_FATAL; /* no protocol in common */
    *out = sel;
    return SSL_TLSEXT_ERR_OK;
}

struct wire_tls_config *
wire_tls_config_new(bool server, struct wire_error *err)
{
    pthread_once(&config_index_once, config_index_init);
    struct wire_tls_config *c = calloc(1, sizeof(*c));
    if (c == NULL) {
        wire_error_set(err, WIRE_ENOMEM, "TLS: out of memory");
        return NULL;
    }
    c->refs = 1;
    c->server = server;
    c->verify = !server;
    c->ctx = SSL_CTX_new(server ? TLS_server_method() : TLS_client_method());
    if (c->ctx == NULL) {
        set_error(err, "cannot create a context", NULL);
        free(c);
        return NULL;
    }
    SSL_CTX_set_ex_data(c->ctx, config_index, c);
    SSL_CTX_set_min_proto_version(c->ctx, TLS1_2_VERSION);
    SSL_CTX_set_options(c->ctx, SSL_OP_NO_RENEGOTIATION | SSL_OP_NO_COMPRESSION |
                                    SSL_OP_CIPHER_SERVER_PREFERENCE);
    SSL_CTX_set_mode(c->ctx, SSL_MODE_RELEASE_BUFFERS);
    if (server) {
        SSL_CTX_set_alpn_select_cb(c->ctx, alpn_select, c);
    } else {
        SSL_CTX_set_session_cache_mode(c->ctx, SSL_SESS_CACHE_CLIENT |
                                                   SSL_SESS_CACHE_NO_INTERNAL_STORE);
        SSL_CTX_sess_set_new_cb(c->ctx, new_session);
        if (SSL_CTX_set_default_verify_paths(c->ctx) != 1)
            ERR_clear_error(); /* no system store: verification will say so */
    }
    apply_verify(c);
    return c;
}

struct wire_tls_config *
wire_tls_config_ref(struct wire_tls_config *c)
{
    if (c != NULL)
        c->refs++;
    return c;
}

void
wire_tls_config_unref(struct wire_tls_config *c)
{
    if (c == NULL || --c->refs > 0)
        return;
    struct tls_session *s = c->sessions;
    while (s != NULL) {
        struct tls_session *next = s->next;
        SSL_SESSION_free(s->sess);
        free(s->name);
        free(s);
        s = next;
    }
    SSL_CTX_free(c->ctx);
    free(c->alpn);
    free(c);
}

int
wire_tls_config_set_ca(struct wire_tls_config *c, const char *file,
                       const char *dir, struct wire_error *err)
{
    if (c == NULL || (file == NULL && dir == NULL))
        return wire_error_set(err, WIRE_EINVAL, "TLS: set_ca needs a file or a directory");
    /* Replace the store: only these CAs are trusted. */
    X509_STORE *store = X509_STORE_new();
    if (store == NULL)
        return wire_error_set(err, WIRE_ENOMEM, "TLS: out of memory");
    if ((file != NULL && X509_STORE_load_file(store, file) != 1) ||
        (dir != NULL && X509_STORE_load_path(store, dir) != 1)) {
        X509_STORE_free(store);
        return set_error(err, "cannot load CA", file != NULL ? file : dir);
    }
    SSL_CTX_set_cert_store(c->ctx, store);
    if (c->server && file != NULL) {
        STACK_OF(X509_NAME) *names = SSL_load_client_CA_file(file);
        if (names != NULL)
            SSL_CTX_set_client_CA_list(c->ctx, names);
        ERR_clear_error();
    }
    return 0;
}

int
wire_tls_config_set_cert(struct wire_tls_config *c, const char *cert_file,
                         const char *key_file, struct wire_error *err)
{
    if (c == NULL || cert_file == NULL)
        return wire_error_set(err, WIRE_EINVAL, "TLS: set_cert needs a certificate file");
    if (SSL_CTX_use_certificate_chain_file(c->ctx, cert_file) != 1)
        return set_error(err, "cannot load certificate", cert_file);
    const char *kf = key_file != NULL ? key_file : cert_file;
    if (SSL_CTX_use_PrivateKey_file(c->ctx, kf, SSL_FILETYPE_PEM) != 1)
        return set_error(err, "cannot load private key", kf);
    if (SSL_CTX_check_private_key(c->ctx) != 1)
        return set_error(err, "the private key does not match the certificate", kf);
    return 0;
}

void
wire_tls_config_set_verify(struct wire_tls_config *c, bool verify)
{
    if (c == NULL)
        return;
    c->verify = verify;
    apply_verify(c);
}

int
wire_tls_config_set_alpn(struct wire_tls_config *c, const char *list,
                         struct wire_error *err)
{
    if (c == NULL || list == NULL || list[0] == '\0')
        return wire_error_set(err, WIRE_EINVAL, "TLS: empty ALPN list");
    size_t n = strlen(list);
    unsigned char *w = malloc(n + 1);
    if (w == NULL)
        return wire_error_set(err, WIRE_ENOMEM, "TLS: out of memory");
    size_t out = 0;
    const char *p = list;
    while (*p != '\0') {
        const char *comma = strchr(p, ',');
        size_t len = comma ? (size_t)(comma - p) : strlen(p);
        if (len == 0 || len > 255) {
            free(w);
            return wire_error_set(err, WIRE_EINVAL,
                                  "TLS: bad ALPN list '%s' (names of 1-255 "
                                  "bytes, comma-separated)", list);
        }
        w[out++] = (unsigned char)len;
        memcpy(w + out, p, len);
        out += len;
        p += len + (comma ? 1 : 0);
    }
    if (!c->server && SSL_CTX_set_alpn_protos(c->ctx, w, (unsigned)out) != 0) {
        free(w);
        return set_error(err, "cannot set ALPN", NULL);
    }
    free(c->alpn);
    c->alpn = w;
    c->alpn_len = out;
    return 0;
}

int
wire_tls_config_set_min_version(struct wire_tls_config *c, int version,
                                struct wire_error *err)
{
    if (c == NULL || (version != WIRE_TLS_1_2 && version != WIRE_TLS_1_3))
        return wire_error_set(err, WIRE_EINVAL,
                              "TLS: minimum version must be TLS 1.2 or 1.3");
    SSL_CTX_set_min_proto_version(c->ctx, version);
    return 0;
}

int
wire_tls_config_set_max_version(struct wire_tls_config *c, int version,
                                struct wire_error *err)
{
    if (c == NULL || (version != WIRE_TLS_1_2 && version != WIRE_TLS_1_3))
        return wire_error_set(err, WIRE_EINVAL,
                              "TLS: maximum version must be TLS 1.2 or 1.3");
    SSL_CTX_set_max_proto_version(c->ctx, version);
    return 0;
}

void
wire_tls_config_set_session_tickets(struct wire_tls_config *c, bool on)
{
    if (c == NULL)
        return;
    if (on) {
        SSL_CTX_clear_options(c->ctx, SSL_OP_NO_TICKET);
        SSL_CTX_set_num_tickets(c->ctx, 2); /* OpenSSL's default */
    } else {
        SSL_CTX_set_options(c->ctx, SSL_OP_NO_TICKET);
        SSL_CTX_set_num_tickets(c->ctx, 0);
    }
}

int
wire_tls_config_set_ciphers(struct wire_tls_config *c, const char *ciphers,
                            const char *suites, struct wire_error *err)
{
    if (c == NULL)
        return wire_error_set(err, WIRE_EINVAL, "TLS: no configuration");
    if (ciphers != NULL && SSL_CTX_set_cipher_list(c->ctx, ciphers) != 1)
        return set_error(err, "bad TLS 1.2 cipher list", ciphers);
    if (suites != NULL && SSL_CTX_set_ciphersuites(c->ctx, suites) != 1)
        return set_error(err, "bad TLS 1.3 cipher suites", suites);
    return 0;
}

void
wire_tls_config_set_timeouts(struct wire_tls_config *c, uint64_t handshake_ms,
                             uint64_t shutdown_ms)
{
    if (c == NULL)
        return;
    c->handshake_ms = handshake_ms;
    c->shutdown_ms = shutdown_ms;
}

SSL_CTX *
wire__tls_config_ctx(struct wire_tls_config *c)
{
    return c->ctx;
}

bool
wire__tls_config_is_server(const struct wire_tls_config *c)
{
    return c->server;
}

uint64_t
wire__tls_config_handshake_ms(const struct wire_tls_config *c)
{
    return c->handshake_ms ? c->handshake_ms : WIRE_TLS_DEFAULT_HANDSHAKE_TIMEOUT_MS;
}

uint64_t
wire__tls_config_shutdown_ms(const struct wire_tls_config *c)
{
    return c->shutdown_ms ? c->shutdown_ms : WIRE_TLS_DEFAULT_SHUTDOWN_TIMEOUT_MS;
}

int
wire__tls_client_setup(struct wire_tls_config *c, SSL *ssl, const char *name,
                       struct wire_error *err)
{
    unsigned char addr[16];
    bool is_ip = inet_pton(AF_INET, name, addr) == 1 ||
                 inet_pton(AF_INET6, name, addr) == 1;
    if (!is_ip && SSL_set_tlsext_host_name(ssl, name) != 1)
        return set_error(err, "bad server name", name);
    if (c->verify) {
        int ok = is_ip ? X509_VERIFY_PARAM_set1_ip_asc(SSL_get0_param(ssl), name)
                       : SSL_set1_host(ssl, name);
        if (ok != 1)
            return set_error(err, "cannot check the name", name);
    }
    for (struct tls_session *s = c->sessions; s != NULL; s = s->next) {
        if (strcmp(s->name, name) == 0) {
            SSL_set_session(ssl, s->sess);
            break;
        }
    }
    return 0;
}

struct wire_tls_config *
wire_tls_config_from_params(bool server, const char *const *params,
                            struct wire_error *err)
{
    struct wire_tls_config *c = wire_tls_config_new(server, err);
    if (c == NULL)
        return NULL;
    const char *ca = NULL, *cert = NULL, *key = NULL;
    int rc = 0;
    for (size_t i = 0; params != NULL && params[i] != NULL && rc == 0; i += 2) {
        const char *k = params[i], *v = params[i + 1] != NULL ? params[i + 1] : "";
        if (strcmp(k, "ca") == 0) {
            ca = v;
        } else if (strcmp(k, "cert") == 0) {
            cert = v;
        } else if (strcmp(k, "key") == 0) {
            key = v;
        } else if (strcmp(k, "verify") == 0) {
            bool on = strcmp(v, "1") == 0 || strcmp(v, "yes") == 0 ||
                      strcmp(v, "true") == 0 || strcmp(v, "on") == 0;
            bool off = strcmp(v, "0") == 0 || strcmp(v, "no") == 0 ||
                       strcmp(v, "false") == 0 || strcmp(v, "off") == 0;
            if (!on && !off)
                rc = wire_error_set(err, WIRE_EENDPOINT,
                                    "endpoint parameter verify=%s: expected yes or no", v);
            else
                wire_tls_config_set_verify(c, on);
        } else if (strcmp(k, "alpn") == 0) {
            rc = wire_tls_config_set_alpn(c, v, err);
        } else if (strcmp(k, "min") == 0) {
            int ver = strcmp(v, "1.2") == 0 ? WIRE_TLS_1_2
                      : strcmp(v, "1.3") == 0 ? WIRE_TLS_1_3 : 0;
            rc = ver != 0 ? wire_tls_config_set_min_version(c, ver, err)
                          : wire_error_set(err, WIRE_EENDPOINT,
                                           "endpoint parameter min=%s: expected 1.2 or 1.3", v);
        } else if (strcmp(k, "tickets") == 0) {
            bool on = strcmp(v, "1") == 0 || strcmp(v, "yes") == 0;
            if (!on && strcmp(v, "0") != 0 && strcmp(v, "no") != 0)
                rc = wire_error_set(err, WIRE_EENDPOINT,
                                    "endpoint parameter tickets=%s: expected yes or no", v);
            else
                wire_tls_config_set_session_tickets(c, on);
        } else if (strcmp(k, "sni") != 0) { /* sni is the layer's (tls://) */
            rc = wire_error_set(err, WIRE_EENDPOINT,
                                "unknown TLS parameter '%s' (known: ca, cert, "
                                "key, verify, sni, alpn, min, tickets)", k);
        }
    }
    if (rc == 0 && ca != NULL)
        rc = wire_tls_config_set_ca(c, ca, NULL, err);
    if (rc == 0 && cert != NULL)
        rc = wire_tls_config_set_cert(c, cert, key, err);
    if (rc == 0 && server && cert == NULL)
        rc = wire_error_set(err, WIRE_EENDPOINT,
                            "TLS server: a certificate is needed (cert=...&key=...)");
    if (rc < 0) {
        wire_tls_config_unref(c);
        return NULL;
    }
    return c;
}
