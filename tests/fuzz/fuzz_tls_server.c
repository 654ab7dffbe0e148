/*
 * Fuzz target: the TLS server layer (<wire/tls.h>, OpenSSL 3 over memory
 * BIOs) fed a client's handshake bytes over the string transport.
 *
 * A key and a self-signed certificate are made once per process (EC
 * P-256, in memory, written to a fresh temporary directory only for as
 * long as the configurations take to load them, then removed), with
 * three configurations: the defaults; ALPN "x,http/1.1" with TLS 1.2 at
 * most and no session tickets; client certificates required.
 *
 * Input: cfg, schedule (fuzz.h), then the client's bytes (a ClientHello
 * and whatever follows).  cfg bits 2-3: the configuration (3 is the
 * first again); bit 4: the protocol above echoes what it reads.
 * Schedule actions (code & 7), for the protocol above once it runs:
 * write, close, abort, write_eof, pause reading, resume reading; and
 * (6, 7) close or abort the transport below.
 *
 * The server's random numbers make runs differ after the ServerHello, so
 * what is deterministic is the parsing of what the client sent first;
 * the seeds are real ClientHellos (TLS 1.2 and 1.3, with SNI and ALPN)
 * made by the library's own client layer.
 *
 * Invariants: the protocol above starts once, only with a handshake done
 * (then the version and cipher are known) or to be told it failed
 * (connection_lost with WIRE_ETLS, or the input's end or reset); the
 * callbacks come in order; what the server wrote is a sequence of TLS
 * records (content type 20..23, length at most 2^14 + 2048, whole unless
 * aborted);
 * nothing leaks.
 */
#ifndef _POSIX_C_SOURCE
#define _POSIX_C_SOURCE 200809L /* mkdtemp */
#endif
#include "fuzz.h"

#include <wire/string_transport.h>
#include <wire/tls.h>

#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static struct wire_tls_config *configs[3];

static void
free_configs(void)
{
    for (int i = 0; i < 3; i++) {
        wire_tls_config_unref(configs[i]);
        configs[i] = NULL;
    }
}

static X509 *
self_signed(EVP_PKEY *key)
{
    X509 *x = X509_new();
    if (x == NULL)
        return NULL;
    X509_NAME *name = X509_get_subject_name(x);
    int ok = X509_set_version(x, X509_VERSION_3) &&
             ASN1_INTEGER_set(X509_get_serialNumber(x), 1) &&
             X509_gmtime_adj(X509_getm_notBefore(x), -86400) &&
             X509_gmtime_adj(X509_getm_notAfter(x), 86400L * 3650) &&
             X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_ASC,
                                        (const unsigned char *)"localhost", -1,
                                        -1, 0) &&
             X509_set_issuer_name(x, name) && X509_set_pubkey(x, key) &&
             X509_sign(x, key, EVP_sha256());
    if (!ok) {
        X509_free(x);
        return NULL;
    }
    return x;
}

static int
write_pem(const char *path, X509 *x, EVP_PKEY *key)
{
    FILE *f = fopen(path, "w");
    if (f == NULL)
        return -1;
    int ok = x != NULL ? PEM_write_X509(f, x)
                       : PEM_write_PrivateKey(f, key, NULL, NULL, 0, NULL,
                                              NULL);
    if (fclose(f) != 0)
        ok = 0;
    return ok ? 0 : -1;
}

static void
init_once(void)
{
    if (configs[0] != NULL)
        return;
    const char *tmp = getenv("TMPDIR");
    char dir[512], cert[600], key[600];
    snprintf(dir, sizeof(dir), "%s/wire-fuzz-tls-XXXXXX",
             tmp != NULL && *tmp ? tmp : "/tmp");
    FUZZ_CHECK(mkdtemp(dir) != NULL, "mkdtemp: %s", strerror(errno));
    snprintf(cert, sizeof(cert), "%s/cert.pem", dir);
    snprintf(key, sizeof(key), "%s/key.pem", dir);
    EVP_PKEY *k = EVP_EC_gen("P-256");
    X509 *x = k != NULL ? self_signed(k) : NULL;
    FUZZ_CHECK(x != NULL, "cannot make a certificate");
    FUZZ_CHECK(write_pem(cert, x, NULL) == 0 && write_pem(key, NULL, k) == 0,
               "cannot write the certificate");
    X509_free(x);
    EVP_PKEY_free(k);

    struct wire_error err = {0};
    for (int i = 0; i < 3; i++) {
        configs[i] = wire_tls_config_new(true, &err);
        FUZZ_CHECK(configs[i] != NULL, "tls config: %s", err.message);
        FUZZ_CHECK(wire_tls_config_set_cert(configs[i], cert, key, &err) == 0,
                   "set_cert: %s", err.message);
    }
    FUZZ_CHECK(wire_tls_config_set_alpn(configs[1], "x,http/1.1", &err) == 0 &&
                   wire_tls_config_set_max_version(configs[1], WIRE_TLS_1_2,
                                                   &err) == 0,
               "config 1: %s", err.message);
    wire_tls_config_set_session_tickets(configs[1], false);
    wire_tls_config_set_verify(configs[2], true);
    FUZZ_CHECK(wire_tls_config_set_ca(configs[2], cert, NULL, &err) == 0,
               "set_ca: %s", err.message);
    unlink(cert);
    unlink(key);
    rmdir(dir);
    atexit(free_configs);
}

/* ---- the protocol above ---- */

struct tfuzz {
    struct fuzz_rec rec;
    struct fuzz_drive drive;
    struct wire_transport *st;
    bool echo;
    bool handshake_ok;
    bool closed_below; /* we closed the transport below */
    bool reset;        /* the input ends with a reset (output cut short) */
};

static void
on_message(struct fuzz_rec *r, const uint8_t *d, size_t len)
{
    struct tfuzz *f = (struct tfuzz *)(void *)r;
    FUZZ_CHECK(f->handshake_ok, "data above without a handshake");
    FUZZ_CHECK(len > 0, "empty data on a byte stream");
    if (f->echo)
        wire_transport_write(r->t, d, len);
}

static void
action(void *arg, unsigned code)
{
    struct tfuzz *f = arg;
    struct wire_transport *t = f->rec.t;
    switch (code & 7) {
    case 6:
        if (!wire_string_transport_closed(f->st)) {
            f->closed_below = true;
            wire_transport_close(f->st);
        }
        return;
    case 7:
        if (!wire_string_transport_closed(f->st))
            wire_transport_abort(f->st);
        return;
    default:
        break;
    }
    if (t == NULL)
        return;
    switch (code & 7) {
    case 0: {
        int rc = wire_transport_write(t, "fuzz", 4);
        FUZZ_CHECK(rc == 0 || rc == WIRE_ECLOSED, "write: %s",
                   wire_err_name(rc));
        break;
    }
    case 1:
        wire_transport_close(t);
        break;
    case 2:
        wire_transport_abort(t);
        break;
    case 3:
        wire_transport_write_eof(t);
        break;
    case 4:
        wire_transport_pause_reading(t);
        break;
    default:
        wire_transport_resume_reading(t);
        break;
    }
}

/* The protocol above started: check what it can see. */
static void
check_started(struct fuzz_rec *r)
{
    struct tfuzz *f = (struct tfuzz *)(void *)r;
    char v[64];
    int n = wire_transport_get_info(f->rec.t, WIRE_INFO_TLS_VERSION, v,
                                    sizeof(v));
    f->handshake_ok = n > 0;
    if (n > 0) {
        FUZZ_CHECK(strcmp(v, "TLSv1.2") == 0 || strcmp(v, "TLSv1.3") == 0,
                   "negotiated %s", v);
        char c[128];
        FUZZ_CHECK(wire_transport_get_info(f->rec.t, WIRE_INFO_TLS_CIPHER, c,
                                           sizeof(c)) > 0,
                   "a handshake without a cipher");
    }
}

/* The server's output: whole TLS records. */
static void
check_records(struct tfuzz *f)
{
    size_t olen;
    const uint8_t *o = wire_string_transport_output(f->st, &olen);
    size_t pos = 0;
    while (olen - pos >= 5) {
        uint8_t type = o[pos];
        size_t rl = (size_t)o[pos + 3] << 8 | o[pos + 4];
        if (type < 20 || type > 23 || rl > 16384 + 2048)
            fuzz_hexdump("the server's output", o, olen);
        FUZZ_CHECK(type >= 20 && type <= 23, "record type %u at %zu", type,
                   pos);
        /* The version is OpenSSL's business: an alert answering a
         * record with a strange version may carry that version. */
        FUZZ_CHECK(rl <= 16384 + 2048, "a record of %zu bytes", rl);
        if (olen - pos - 5 < rl)
            break;
        pos += 5 + rl;
    }
    if (!wire_string_transport_aborted(f->st) && !f->reset)
        FUZZ_CHECK(pos == olen, "the output ends inside a record (%zu of %zu)",
                   pos, olen);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t len)
{
    init_once();
    struct fuzz_in in = {data, len};
    uint8_t cfg = fuzz_in_byte(&in);
    struct fuzz_in sched = fuzz_in_section(&in);

    struct tfuzz f;
    memset(&f, 0, sizeof(f));
    fuzz_rec_init(&f.rec);
    f.rec.on_message = on_message;
    f.rec.on_made = check_started;
    f.echo = cfg & 0x10;
    f.reset = (cfg & 3) == FUZZ_END_RESET;
    unsigned which = (cfg >> 2) & 3;
    struct wire_error err = {0};
    struct wire_protocol *p =
        wire_tls_server_layer_new(&f.rec.base, configs[which % 3], &err);
    FUZZ_CHECK(p != NULL, "tls layer: %s", err.message);
    fuzz_drive_init(&f.drive, NULL, sched, in, action, &f);
    f.st = wire_string_transport_new(p);
    FUZZ_CHECK(f.st != NULL, "string transport");
    f.drive.t = f.st;
    FUZZ_CHECK(f.rec.made == 0, "the protocol above started before a "
               "handshake");

    fuzz_drive_run(&f.drive);
    fuzz_drive_end(&f.drive, cfg);
    /* A connection that ended before its handshake did, however it ended
     * (a graceful close below included), never ends cleanly. */
    if (f.rec.made && !f.handshake_ok && f.rec.lost)
        FUZZ_CHECK(f.rec.lost_code != 0, "a failed handshake ended cleanly");
    check_records(&f);

    wire_string_transport_free(f.st);
    FUZZ_CHECK(f.rec.destroyed == 1, "the protocol above was not destroyed");
    FUZZ_CHECK(f.rec.made == f.rec.lost, "made %d, lost %d", f.rec.made,
               f.rec.lost);
    fuzz_rec_free(&f.rec);
    return 0;
}
