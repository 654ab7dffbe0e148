/*
 * The TLS layer (include/wire/tls.h): OpenSSL 3 over two memory BIOs, on
 * the layer helper.  Ciphertext from below is written into `rbio` (large
 * reads OpenSSL takes straight from the buffer below: recv_direct); what
 * OpenSSL produces lands in `wbio` and is handed down after every call.
 * The protocol above starts when the handshake is done; writes above are
 * coalesced into records of up to 16 KiB.
 *
 * Config objects (refcounted SSL_CTX plus our settings) are in
 * tls_config.c; the tls:// endpoint in tls_endpoint.c.
 */
#include "tls_int.h"

#include <arpa/inet.h>
#include <errno.h>
#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/x509v3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define TLS_RECORD 16384
/* Reads from below at least this big go to OpenSSL straight from the
 * caller's buffer (see recv_direct); smaller ones are copied into rbio,
 * which costs less than setting up a BIO for them. */
#define TLS_DIRECT_MIN 4096

struct tls_layer {
    struct wire_layer l; /* first */
    struct wire_tls_config *cfg;
    SSL *ssl;
    BIO *rbio, *wbio;
    char *server_name;
    bool server, handshaked, shutdown_sent, peer_closed, closing, failed;
    bool lower_eof; /* the transport below ended its input */
    bool direct;    /* inside recv_direct: OpenSSL reads the caller's buffer */
    /* The failure came from OpenSSL, which may have written a fatal alert:
     * close below (not reset) so that the peer reads it. */
    bool alert_close;
    struct wire_timer *hs_timer, *sd_timer;
    /* the first verification failure seen */
    int vfail_err, vfail_depth;
    char vfail_subject[256];
    char vfail_names[512];
};

static struct tls_layer *
tls_of(struct wire_layer *l)
{
    return (struct tls_layer *)(void *)l;
}

/* ---- errors ---- */

/* OpenSSL's error queue as one line, and cleared. */
static void
ssl_reason(char *buf, size_t len)
{
    unsigned long e = ERR_get_error();
    if (e == 0) {
        snprintf(buf, len, "unknown error");
    } else {
        const char *r = ERR_reason_error_string(e);
        if (r != NULL)
            snprintf(buf, len, "%s", r);
        else
            ERR_error_string_n(e, buf, len);
    }
    ERR_clear_error();
}

static void
tls_fail(struct tls_layer *t, int code, const char *fmt, ...) WIRE_PRINTF(3, 4);

static void
tls_fail(struct tls_layer *t, int code, const char *fmt, ...)
{
    if (t->failed)
        return;
    t->failed = true;
    char msg[1024];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    if (t->hs_timer != NULL)
        wire_timer_stop(t->hs_timer);
    wire_layer_fail(&t->l, code, "%s", msg);
}

static void
fail_handshake(struct tls_layer *t)
{
    char reason[256];
    ssl_reason(reason, sizeof(reason));
    if (t->vfail_err == X509_V_ERR_HOSTNAME_MISMATCH ||
        t->vfail_err == X509_V_ERR_IP_ADDRESS_MISMATCH) {
        tls_fail(t, WIRE_ETLS,
                 "TLS: certificate verify failed: '%s' is not a name of the "
                 "certificate (%s; subject %s)",
                 t->server_name != NULL ? t->server_name : "", t->vfail_names,
                 t->vfail_subject);
    } else if (t->vfail_err != 0) {
        tls_fail(t, WIRE_ETLS,
                 "TLS: certificate verify failed: %s (depth %d, subject %s)",
                 X509_verify_cert_error_string(t->vfail_err), t->vfail_depth,
                 t->vfail_subject);
    } else {
        tls_fail(t, WIRE_ETLS, "TLS handshake failed: %s", reason);
    }
}

/* The subject alternative names of `cert`, for a mismatch message. */
static void
cert_names(X509 *cert, char *buf, size_t len)
{
    size_t off = 0;
    buf[0] = '\0';
    GENERAL_NAMES *names = X509_get_ext_d2i(cert, NID_subject_alt_name, NULL, NULL);
    for (int i = 0; names != NULL && i < sk_GENERAL_NAME_num(names); i++) {
        const GENERAL_NAME *g = sk_GENERAL_NAME_value(names, i);
        char one[INET6_ADDRSTRLEN + 8] = "";
        if (g->type == GEN_DNS) {
            const unsigned char *d = ASN1_STRING_get0_data(g->d.dNSName);
            snprintf(one, sizeof(one), "DNS:%.*s",
                     ASN1_STRING_length(g->d.dNSName), (const char *)d);
        } else if (g->type == GEN_IPADD) {
            int l = ASN1_STRING_length(g->d.iPAddress);
            char ip[INET6_ADDRSTRLEN] = "?";
            inet_ntop(l == 16 ? AF_INET6 : AF_INET,
                      ASN1_STRING_get0_data(g->d.iPAddress), ip, sizeof(ip));
            snprintf(one, sizeof(one), "IP:%s", ip);
        } else {
            continue;
        }
        int n = snprintf(buf + off, len - off, "%s%s", off ? ", " : "", one);
        if (n < 0 || (size_t)n >= len - off)
            break;
        off += (size_t)n;
    }
    GENERAL_NAMES_free(names);
    if (off == 0)
        snprintf(buf, len, "no subject alternative names");
}

int
wire__tls_verify_cb(int ok, X509_STORE_CTX *ctx)
{
    if (ok)
        return ok;
    SSL *ssl = X509_STORE_CTX_get_ex_data(ctx, SSL_get_ex_data_X509_STORE_CTX_idx());
    struct tls_layer *t = ssl != NULL ? SSL_get_app_data(ssl) : NULL;
    if (t != NULL && t->vfail_err == 0) {
        t->vfail_err = X509_STORE_CTX_get_error(ctx);
        t->vfail_depth = X509_STORE_CTX_get_error_depth(ctx);
        X509 *cert = X509_STORE_CTX_get_current_cert(ctx);
        if (cert != NULL) {
            X509_NAME_oneline(X509_get_subject_name(cert), t->vfail_subject,
                              sizeof(t->vfail_subject));
            cert_names(cert, t->vfail_names, sizeof(t->vfail_names));
        }
    }
    return ok;
}

/* ---- moving ciphertext ---- */

/* Hand what OpenSSL wrote to the transport below. */
static int
flush_out(struct tls_layer *t)
{
    char *p = NULL;
    long n = BIO_get_mem_data(t->wbio, &p);
    if (n <= 0)
        return 0;
    struct iovec iov = {p, (size_t)n};
    int rc = wire_layer_send(&t->l, &iov, 1);
    (void)BIO_reset(t->wbio);
    return rc;
}

static void pump_read(struct tls_layer *t);

static void
handshake(struct tls_layer *t)
{
    ERR_clear_error();
    int r = SSL_do_handshake(t->ssl);
    flush_out(t);
    if (r == 1) {
        t->handshaked = true;
        if (t->hs_timer != NULL)
            wire_timer_stop(t->hs_timer);
        wire_layer_start(&t->l);
        pump_read(t); /* application data that came with the last flight */
        return;
    }
    int e = SSL_get_error(t->ssl, r);
    if (e == SSL_ERROR_WANT_READ || e == SSL_ERROR_WANT_WRITE)
        return;
    t->alert_close = true; /* flushed above */
    fail_handshake(t);
}

/* The peer's close_notify came (or the transport ended) while we wait
 * for it after our own: close below. */
static void
finish_close(struct tls_layer *t)
{
    if (t->sd_timer != NULL)
        wire_timer_stop(t->sd_timer);
    if (t->l.lower != NULL)
        wire_transport_close(t->l.lower);
}

static void
pump_read(struct tls_layer *t)
{
    char buf[TLS_RECORD];
    while (!t->failed && !t->peer_closed) {
        ERR_clear_error();
        int n = SSL_read(t->ssl, buf, sizeof(buf));
        if (n > 0) {
            if (t->closing) {
                /* We closed and sent close_notify; the peer sends data
                 * instead of its close_notify: stop waiting and close
                 * below now (its writes then fail). */
                finish_close(t);
                return;
            }
            wire_layer_deliver(&t->l, buf, (size_t)n);
            continue;
        }
        int e = SSL_get_error(t->ssl, n);
        if (e == SSL_ERROR_WANT_READ || e == SSL_ERROR_WANT_WRITE)
            break;
        if (e == SSL_ERROR_ZERO_RETURN) {
            t->peer_closed = true;
            if (t->closing) {
                finish_close(t);
            } else {
                wire_layer_deliver_eof(&t->l);
                /* No data can follow close_notify, so nothing needs
                 * holding back: keep reading below (whatever the protocol
                 * above paused) to see the transport end, so that writes
                 * to a peer that is gone fail. */
                if (t->l.lower != NULL)
                    wire_transport_resume_reading(t->l.lower);
            }
            break;
        }
        char reason[256];
        ssl_reason(reason, sizeof(reason));
        flush_out(t); /* the alert, before tls_fail closes below */
        t->alert_close = true;
        tls_fail(t, WIRE_ETLS, "TLS: %s", reason);
        return;
    }
    flush_out(t); /* tickets, key updates, alerts */
}

/* ---- the layer's hooks ---- */

static void
hs_timeout(void *arg)
{
    struct tls_layer *t = arg;
    if (!t->handshaked && t->l.lower != NULL)
        tls_fail(t, WIRE_ETIMEDOUT, "TLS handshake timed out after %llu ms",
                 (unsigned long long)wire__tls_config_handshake_ms(t->cfg));
}

static void
sd_timeout(void *arg)
{
    struct tls_layer *t = arg;
    /* The peer never answered our close_notify: close anyway.  After a
     * failure (closing with an alert queued): the peer does not read,
     * reset. */
    if (t->l.lower != NULL) {
        if (t->failed)
            wire_transport_abort(t->l.lower);
        else
            wire_transport_close(t->l.lower);
    }
}

static void
tls_made(struct wire_layer *l)
{
    struct tls_layer *t = tls_of(l);
    struct wire_loop *loop = wire_transport_loop(l->lower);
    if (loop != NULL) {
        t->hs_timer = wire_timer_new(loop, hs_timeout, t);
        t->sd_timer = wire_timer_new(loop, sd_timeout, t);
        if (t->hs_timer == NULL || t->sd_timer == NULL) {
            tls_fail(t, WIRE_ENOMEM, "TLS: out of memory");
            return;
        }
        wire_timer_start(t->hs_timer, wire__tls_config_handshake_ms(t->cfg), 0);
    }
    if (!t->server)
        handshake(t); /* the ClientHello */
}

/* Let OpenSSL read what is in its read BIO. */
static void
consume(struct tls_layer *t)
{
    if (!t->handshaked)
        handshake(t);
    else
        pump_read(t);
}

/*
 * Bulk input without the copy into rbio: a read-only memory BIO over the
 * caller's buffer stands in for rbio while OpenSSL reads, so ciphertext
 * is copied once (into OpenSSL's record buffer) instead of twice, and
 * rbio's growth never zeroes memory.  OpenSSL reads until the BIO is
 * empty unless it stopped early (a failure, close_notify, our close);
 * whatever it left is copied into rbio before rbio goes back, so nothing
 * is lost and the order holds even if a callback made us receive more
 * (that went to rbio through the copying path, after these bytes).
 * Returns false, having changed nothing, if the BIO cannot be made.
 */
static bool
recv_direct(struct tls_layer *t, const void *data, size_t len)
{
    BIO *in = BIO_new_mem_buf(data, (int)len);
    if (in == NULL)
        return false;
    if (BIO_up_ref(t->rbio) != 1) { /* our reference while it is out */
        BIO_free(in);
        return false;
    }
    BIO_set_mem_eof_return(in, -1); /* empty means "want more" */
    SSL_set0_rbio(t->ssl, in);      /* drops the SSL's reference to rbio */
    t->direct = true;
    consume(t);
    t->direct = false;
    char *rest = NULL, *later = NULL;
    long n = BIO_get_mem_data(in, &rest);
    long m = BIO_get_mem_data(t->rbio, &later); /* received meanwhile */
    int rc = 0;
    if (n > 0 && !t->failed) { /* after a failure nothing is read */
        /* Ahead of what was received meanwhile. */
        char *keep = m > 0 ? malloc((size_t)m) : NULL;
        if (m > 0 && keep == NULL) {
            rc = -1;
        } else {
            if (m > 0)
                memcpy(keep, later, (size_t)m);
            (void)BIO_reset(t->rbio);
            if (BIO_write(t->rbio, rest, (int)n) != (int)n ||
                (m > 0 && BIO_write(t->rbio, keep, (int)m) != (int)m))
                rc = -1;
            free(keep);
        }
    }
    SSL_set0_rbio(t->ssl, t->rbio); /* gives our reference back; frees `in` */
    if (rc < 0)
        tls_fail(t, WIRE_ENOMEM, "TLS: out of memory");
    else if (m > 0 && !t->failed)
        consume(t); /* what a callback made us receive meanwhile */
    return true;
}

static int
tls_recv(struct wire_layer *l, const void *data, size_t len)
{
    struct tls_layer *t = tls_of(l);
    if (t->failed)
        return 0;
    if (len >= TLS_DIRECT_MIN && len <= INT32_MAX && !t->direct &&
        BIO_ctrl_pending(t->rbio) == 0 && recv_direct(t, data, len))
        return 0;
    if (BIO_write(t->rbio, data, (int)len) != (int)len) {
        tls_fail(t, WIRE_ENOMEM, "TLS: out of memory");
        return 0;
    }
    /* Inside recv_direct, OpenSSL reads these once rbio is back. */
    if (!t->direct)
        consume(t);
    return 0;
}

static int
tls_recv_eof(struct wire_layer *l)
{
    struct tls_layer *t = tls_of(l);
    if (t->failed)
        return 0;
    if (t->closing) {
        finish_close(t);
        return 0;
    }
    if (!t->handshaked) {
        tls_fail(t, WIRE_ETLS,
                 "TLS handshake failed: the peer closed the connection");
        return 0;
    }
    if (!t->peer_closed) {
        tls_fail(t, WIRE_ETLS,
                 "TLS: connection truncated: the peer closed the transport "
                 "without a TLS close_notify");
        return 0;
    }
    /* close_notify and then the end of the transport: the peer is gone,
     * so what is queued (or written from now on) cannot arrive. */
    t->lower_eof = true;
    if (wire_transport_get_write_buffer_size(&l->above) > 0)
        tls_fail(t, -EPIPE, "TLS: write: the peer closed the connection");
    return 0;
}

static ssize_t
tls_send(struct wire_layer *l, const struct iovec *iov, int iovcnt)
{
    struct tls_layer *t = tls_of(l);
    if (t->failed || t->shutdown_sent)
        return WIRE_ECLOSED;
    if (t->lower_eof)
        return -EPIPE; /* the peer closed both TLS and its transport */
    char stage[TLS_RECORD];
    size_t staged = 0, total = 0;
    for (int i = 0; i < iovcnt; i++) {
        const char *p = iov[i].iov_base;
        size_t n = iov[i].iov_len;
        while (n > 0) {
            if (staged == 0 && n >= TLS_RECORD) {
                /* Whole records straight from the caller's buffer. */
                int w = SSL_write(t->ssl, p, (int)(n < INT32_MAX ? n : INT32_MAX));
                if (w <= 0)
                    goto fail;
                p += w;
                n -= (size_t)w;
                total += (size_t)w;
                continue;
            }
            size_t take = TLS_RECORD - staged < n ? TLS_RECORD - staged : n;
            memcpy(stage + staged, p, take);
            staged += take;
            p += take;
            n -= take;
            if (staged == TLS_RECORD) {
                if (SSL_write(t->ssl, stage, (int)staged) <= 0)
                    goto fail;
                total += staged;
                staged = 0;
            }
        }
    }
    if (staged > 0) {
        if (SSL_write(t->ssl, stage, (int)staged) <= 0)
            goto fail;
        total += staged;
    }
    int rc = flush_out(t);
    return rc < 0 ? rc : (ssize_t)total;
fail: {
    char reason[256];
    ssl_reason(reason, sizeof(reason));
    tls_fail(t, WIRE_ETLS, "TLS: write failed: %s", reason);
    return WIRE_ETLS;
}
}

static int
tls_send_eof(struct wire_layer *l)
{
    struct tls_layer *t = tls_of(l);
    if (t->failed)
        return WIRE_ECLOSED;
    if (!t->shutdown_sent) {
        t->shutdown_sent = true;
        ERR_clear_error();
        SSL_shutdown(t->ssl); /* close_notify; we keep reading */
        return flush_out(t);
    }
    return 0;
}

static void
tls_close(struct wire_layer *l, bool abort)
{
    struct tls_layer *t = tls_of(l);
    if (t->hs_timer != NULL)
        wire_timer_stop(t->hs_timer);
    if (l->lower == NULL)
        return;
    if (t->failed && t->alert_close) {
        /* Let the peer read our alert (and say why), but not forever. */
        wire_transport_close(l->lower);
        if (t->sd_timer != NULL)
            wire_timer_start(t->sd_timer, wire__tls_config_shutdown_ms(t->cfg), 0);
        return;
    }
    if (abort || t->failed || !t->handshaked) {
        if (abort || t->failed)
            wire_transport_abort(l->lower);
        else
            wire_transport_close(l->lower);
        return;
    }
    t->closing = true;
    tls_send_eof(l);
    if (t->peer_closed || t->sd_timer == NULL) {
        finish_close(t);
        return;
    }
    /* Wait for the peer's close_notify (bounded): keep reading below,
     * which the above's close paused. */
    wire_transport_resume_reading(l->lower);
    wire_timer_start(t->sd_timer, wire__tls_config_shutdown_ms(t->cfg), 0);
}

static int
tls_get_info(struct wire_layer *l, int key, void *out, size_t len)
{
    struct tls_layer *t = tls_of(l);
    const char *s = NULL;
    char buf[64];
    switch (key) {
    case WIRE_INFO_TLS_VERSION:
        s = t->handshaked ? SSL_get_version(t->ssl) : "";
        break;
    case WIRE_INFO_TLS_CIPHER:
        s = t->handshaked ? SSL_get_cipher_name(t->ssl) : "";
        break;
    case WIRE_INFO_TLS_ALPN: {
        const unsigned char *p = NULL;
        unsigned n = 0;
        SSL_get0_alpn_selected(t->ssl, &p, &n);
        snprintf(buf, sizeof(buf), "%.*s", (int)n, p != NULL ? (const char *)p : "");
        s = buf;
        break;
    }
    case WIRE_INFO_TLS_SNI:
        s = SSL_get_servername(t->ssl, TLSEXT_NAMETYPE_host_name);
        if (s == NULL)
            s = "";
        break;
    case WIRE_INFO_TLS_RESUMED:
        s = t->handshaked && SSL_session_reused(t->ssl) ? "1" : "0";
        break;
    case WIRE_INFO_TLS_PEER_CERT:
    case WIRE_INFO_TLS_PEER_SUBJECT: {
        X509 *cert = SSL_get0_peer_certificate(t->ssl);
        if (cert == NULL)
            return wire_impl_info_string(out, len, "");
        if (key == WIRE_INFO_TLS_PEER_SUBJECT) {
            char subj[512];
            X509_NAME_oneline(X509_get_subject_name(cert), subj, sizeof(subj));
            return wire_impl_info_string(out, len, subj);
        }
        BIO *b = BIO_new(BIO_s_mem());
        if (b == NULL || PEM_write_bio_X509(b, cert) != 1) {
            BIO_free(b);
            return WIRE_ENOMEM;
        }
        char *p = NULL;
        long n = BIO_get_mem_data(b, &p);
        char *pem = malloc((size_t)n + 1);
        int rc = WIRE_ENOMEM;
        if (pem != NULL) {
            memcpy(pem, p, (size_t)n);
            pem[n] = '\0';
            rc = wire_impl_info_string(out, len, pem);
            free(pem);
        }
        BIO_free(b);
        return rc;
    }
    default:
        return WIRE_ENOTSUP; /* forwarded below */
    }
    return wire_impl_info_string(out, len, s);
}

static void
tls_destroy(struct wire_layer *l)
{
    struct tls_layer *t = tls_of(l);
    wire_timer_free(t->hs_timer);
    wire_timer_free(t->sd_timer);
    SSL_free(t->ssl); /* and the BIOs */
    wire_tls_config_unref(t->cfg);
    free(t->server_name);
    free(t);
}

static const struct wire_layer_ops tls_ops = {
    .transport = WIRE_LAYER_TRANSPORT_OPS("tls", WIRE_CAP_HALF_CLOSE | WIRE_CAP_EOF),
    .made = tls_made,
    .recv = tls_recv,
    .recv_eof = tls_recv_eof,
    .send = tls_send,
    .send_eof = tls_send_eof,
    .close = tls_close,
    .get_info = tls_get_info,
    .destroy = tls_destroy,
};

struct wire_protocol *
wire__tls_layer_new(struct wire_protocol *upper, struct wire_tls_config *cfg, bool server,
          const char *server_name, struct wire_error *err)
{
    const char *why = NULL;
    struct tls_layer *t = NULL;
    if (cfg == NULL)
        why = "no TLS configuration";
    else if (wire__tls_config_is_server(cfg) != server)
        why = server ? "a client configuration given to a server layer"
                     : "a server configuration given to a client layer";
    if (why != NULL) {
        wire_error_set(err, WIRE_EINVAL, "TLS: %s", why);
        goto fail;
    }
    t = calloc(1, sizeof(*t));
    if (t == NULL)
        goto nomem;
    t->server = server;
    t->cfg = wire_tls_config_ref(cfg);
    t->ssl = SSL_new(wire__tls_config_ctx(cfg));
    t->rbio = BIO_new(BIO_s_mem());
    t->wbio = BIO_new(BIO_s_mem());
    if (t->ssl == NULL || t->rbio == NULL || t->wbio == NULL)
        goto nomem;
    BIO_set_mem_eof_return(t->rbio, -1); /* empty means "want more" */
    SSL_set_bio(t->ssl, t->rbio, t->wbio);
    SSL_set_app_data(t->ssl, t);
    if (server) {
        SSL_set_accept_state(t->ssl);
    } else {
        SSL_set_connect_state(t->ssl);
        if (server_name != NULL && server_name[0] != '\0') {
            if ((t->server_name = strdup(server_name)) == NULL)
                goto nomem;
            int rc = wire__tls_client_setup(cfg, t->ssl, server_name, err);
            if (rc < 0)
                goto fail;
        }
    }
    return wire_layer_init(&t->l, &tls_ops, upper);
nomem:
    wire_error_set(err, WIRE_ENOMEM, "TLS: out of memory");
fail:
    if (t != NULL) {
        if (t->ssl != NULL)
            SSL_free(t->ssl);
        else {
            BIO_free(t->rbio);
            BIO_free(t->wbio);
        }
        wire_tls_config_unref(t->cfg);
        free(t->server_name);
        free(t);
    }
    if (upper != NULL)
        wire_protocol_destroy(upper);
    return NULL;
}

struct wire_protocol *
wire_tls_client_layer_new(struct wire_protocol *upper, struct wire_tls_config *c,
                          const char *server_name, struct wire_error *err)
{
    return wire__tls_layer_new(upper, c, false, server_name, err);
}

struct wire_protocol *
wire_tls_server_layer_new(struct wire_protocol *upper, struct wire_tls_config *c,
                          struct wire_error *err)
{
    return wire__tls_layer_new(upper, c, true, NULL, err);
}

const char *
wire__tls_layer_server_name(SSL *ssl)
{
    struct tls_layer *t = SSL_get_app_data(ssl);
    return t != NULL ? t->server_name : NULL;
}

static int
tls_start_impl(struct wire_transport *t, struct wire_tls_config *c,
               const char *server_name, const void *pending, size_t len,
               struct wire_error *err)
{
    if (t == NULL || c == NULL || t->protocol == NULL)
        return wire_error_set(err, WIRE_EINVAL,
                              "start_tls: no transport or no TLS configuration");
    bool server = wire__tls_config_is_server(c);
    if (server && server_name != NULL)
        return wire_error_set(err, WIRE_EINVAL,
                              "start_tls: a server takes no server name");
    struct wire_protocol *p = t->protocol;
    struct wire_protocol *below = wire__tls_layer_new(NULL, c, server, server_name, err);
    if (below == NULL)
        return err != NULL ? err->code : WIRE_ENOMEM;
    struct wire_layer *l = wire_layer_from_protocol(below);
    /* What the protocol had set up carries over to the transport it gets
     * next: its watermarks and its read pause (its write pause travels
     * with the protocol itself, see wire_transport_set_protocol). */
    wire_transport_get_write_buffer_limits(t, &l->above.high_water,
                                           &l->above.low_water);
    if (t->flags & WIRE_T_READ_PAUSED)
        l->above.flags |= WIRE_T_READ_PAUSED;
    /* Above the layer before the layer is made, so that a handshake that
     * fails at once still reaches the protocol. */
    l->upper = p;
    if (wire_transport_set_protocol(t, below, pending, len, err) == NULL) {
        l->upper = NULL;
        wire_protocol_destroy(below);
        return err != NULL ? err->code : WIRE_ESTATE;
    }
    return 0;
}

/* A caller that passes no `err` still gets the real code back. */
int
wire_tls_start(struct wire_transport *t, struct wire_tls_config *c,
               const char *server_name, const void *pending, size_t len,
               struct wire_error *err)
{
    struct wire_error local = {0};
    int rc = tls_start_impl(t, c, server_name, pending, len,
                            err != NULL ? err : &local);
    wire_error_clear(&local);
    return rc;
}
