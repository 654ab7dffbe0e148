/*
 * The TLS tests' certificates (see tls_certs.h), made with OpenSSL 3's
 * EVP and X509 APIs only.
 */
#ifndef _POSIX_C_SOURCE
#define _POSIX_C_SOURCE 200809L /* mkdtemp */
#endif

#include "tls_certs.h"

#include <openssl/bn.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#include <errno.h>
#include <fcntl.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define DAY (24L * 60 * 60)
#define LOCALHOST_SAN "DNS:localhost,IP:127.0.0.1,IP:::1"

/* Each path of the struct and its file name in the directory. */
static const struct {
    size_t off;
    const char *name;
} tls_files[] = {
    { offsetof(struct tls_certs, ca), "ca.pem" },
    { offsetof(struct tls_certs, ca_key), "ca-key.pem" },
    { offsetof(struct tls_certs, server_cert), "server.pem" },
    { offsetof(struct tls_certs, server_key), "server-key.pem" },
    { offsetof(struct tls_certs, other_cert), "other.pem" },
    { offsetof(struct tls_certs, other_key), "other-key.pem" },
    { offsetof(struct tls_certs, client_cert), "client.pem" },
    { offsetof(struct tls_certs, client_key), "client-key.pem" },
    { offsetof(struct tls_certs, rogue_ca), "rogue-ca.pem" },
    { offsetof(struct tls_certs, rogue_cert), "rogue.pem" },
    { offsetof(struct tls_certs, rogue_key), "rogue-key.pem" },
    { offsetof(struct tls_certs, expired_cert), "expired.pem" },
    { offsetof(struct tls_certs, expired_key), "expired-key.pem" },
};
#define TLS_NFILES (sizeof tls_files / sizeof tls_files[0])
#define TLS_PATH(c, i) ((char *)(c) + tls_files[i].off)
#define TLS_PATH_SIZE 300

enum cert_kind { KIND_CA, KIND_SERVER, KIND_CLIENT };

static int
fail(const char *what, const char *detail)
{
    fprintf(stderr, "tls_certs: %s%s%s\n", what, detail ? ": " : "",
            detail ? detail : "");
    ERR_print_errors_fp(stderr);
    return -1;
}

static int
add_ext(X509 *x, X509V3_CTX *ctx, int nid, const char *value)
{
    X509_EXTENSION *ext = X509V3_EXT_nconf_nid(NULL, ctx, nid, value);
    if (!ext)
        return fail("cannot make extension", value);
    int ok = X509_add_ext(x, ext, -1);
    X509_EXTENSION_free(ext);
    return ok ? 0 : fail("cannot add extension", value);
}

/* A certificate for `key` named CN=`cn`, signed by `issuer`/`issuer_key`
 * (itself when `issuer` is NULL), valid from now+`from` to now+`to`
 * seconds. */
static X509 *
make_cert(const char *cn, EVP_PKEY *key, enum cert_kind kind,
          const char *san, X509 *issuer, EVP_PKEY *issuer_key, long from,
          long to)
{
    X509 *x = X509_new();
    BIGNUM *serial = BN_new();
    X509_NAME *name = x ? X509_get_subject_name(x) : NULL;
    X509V3_CTX ctx;
    int err = !x || !serial
        || !X509_set_version(x, X509_VERSION_3)
        || !BN_rand(serial, 159, BN_RAND_TOP_ANY, BN_RAND_BOTTOM_ANY)
        || !BN_to_ASN1_INTEGER(serial, X509_get_serialNumber(x))
        || !X509_gmtime_adj(X509_getm_notBefore(x), from)
        || !X509_gmtime_adj(X509_getm_notAfter(x), to)
        || !X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_UTF8,
                                       (const unsigned char *)cn, -1, -1, 0)
        || !X509_set_issuer_name(x, issuer ? X509_get_subject_name(issuer)
                                           : name)
        || !X509_set_pubkey(x, key);
    BN_free(serial);
    if (err) {
        fail("cannot make certificate", cn);
        X509_free(x);
        return NULL;
    }

    X509V3_set_ctx(&ctx, issuer ? issuer : x, x, NULL, NULL, 0);
    if (kind == KIND_CA) {
        err = add_ext(x, &ctx, NID_basic_constraints, "critical,CA:TRUE")
            || add_ext(x, &ctx, NID_key_usage, "critical,keyCertSign,cRLSign")
            || add_ext(x, &ctx, NID_subject_key_identifier, "hash");
    } else {
        err = add_ext(x, &ctx, NID_basic_constraints, "critical,CA:FALSE")
            || add_ext(x, &ctx, NID_key_usage,
                       "critical,digitalSignature,keyEncipherment")
            || add_ext(x, &ctx, NID_ext_key_usage,
                       kind == KIND_SERVER ? "serverAuth" : "clientAuth")
            || add_ext(x, &ctx, NID_subject_key_identifier, "hash")
            || add_ext(x, &ctx, NID_authority_key_identifier, "keyid:always")
            || (san && add_ext(x, &ctx, NID_subject_alt_name, san));
    }
    if (err || !X509_sign(x, issuer_key ? issuer_key : key, EVP_sha256())) {
        if (!err)
            fail("cannot sign certificate", cn);
        X509_free(x);
        return NULL;
    }
    return x;
}

/* Write `x` (when not NULL) or `key` as PEM to a new file `path`. */
static int
write_pem(const char *path, X509 *x, EVP_PKEY *key)
{
    int fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC,
                  x ? 0644 : 0600);
    if (fd < 0)
        return fail(path, strerror(errno));
    FILE *f = fdopen(fd, "w");
    if (!f) {
        close(fd);
        return fail(path, strerror(errno));
    }
    int ok = x ? PEM_write_X509(f, x)
               : PEM_write_PrivateKey(f, key, NULL, NULL, 0, NULL, NULL);
    if (fclose(f) != 0)
        ok = 0;
    return ok ? 0 : fail("cannot write", path);
}

/* Make a key and a certificate for it, write them to `cert_path` and
 * `key_path` (the key not when `key_path` is NULL), and hand them back
 * in `*out_cert` and `*out_key` when those are not NULL. */
static int
issue(const char *cert_path, const char *key_path, const char *cn,
      enum cert_kind kind, const char *san, X509 *issuer,
      EVP_PKEY *issuer_key, long from, long to, X509 **out_cert,
      EVP_PKEY **out_key)
{
    EVP_PKEY *key = EVP_EC_gen("P-256");
    X509 *x = NULL;
    int rc = -1;
    if (!key)
        fail("cannot make key", cn);
    else if ((x = make_cert(cn, key, kind, san, issuer, issuer_key, from,
                            to))
             && write_pem(cert_path, x, NULL) == 0
             && (!key_path || write_pem(key_path, NULL, key) == 0))
        rc = 0;
    if (rc == 0 && out_cert) {
        *out_cert = x;
        x = NULL;
    }
    if (rc == 0 && out_key) {
        *out_key = key;
        key = NULL;
    }
    X509_free(x);
    EVP_PKEY_free(key);
    return rc;
}

int
tls_certs_make(struct tls_certs *c)
{
    const char *tmp = getenv("TMPDIR");
    X509 *ca = NULL, *rogue_ca = NULL;
    EVP_PKEY *ca_key = NULL, *rogue_ca_key = NULL;
    int n;

    memset(c, 0, sizeof *c);
    if (!tmp || !*tmp)
        tmp = "/tmp";
    n = snprintf(c->dir, sizeof c->dir, "%s/wire-tls-XXXXXX", tmp);
    if (n < 0 || (size_t)n >= sizeof c->dir) {
        c->dir[0] = '\0';
        return fail("temporary directory name too long", tmp);
    }
    if (!mkdtemp(c->dir)) {
        fail(c->dir, strerror(errno));
        c->dir[0] = '\0';
        return -1;
    }
    char dir[sizeof c->dir]; /* a copy, so snprintf's source is no part of *c */
    memcpy(dir, c->dir, sizeof dir);
    for (size_t i = 0; i < TLS_NFILES; i++) {
        n = snprintf(TLS_PATH(c, i), TLS_PATH_SIZE, "%s/%s", dir,
                     tls_files[i].name);
        if (n < 0 || n >= TLS_PATH_SIZE) {
            fail("path too long", c->dir);
            tls_certs_remove(c);
            return -1;
        }
    }

    int err =
        issue(c->ca, c->ca_key, "libwire test CA", KIND_CA, NULL, NULL, NULL,
              -DAY, 30 * DAY, &ca, &ca_key)
        || issue(c->server_cert, c->server_key, "localhost", KIND_SERVER,
                 LOCALHOST_SAN, ca, ca_key, -DAY, 30 * DAY, NULL, NULL)
        || issue(c->other_cert, c->other_key, "other.example", KIND_SERVER,
                 "DNS:other.example", ca, ca_key, -DAY, 30 * DAY, NULL, NULL)
        || issue(c->client_cert, c->client_key, "test client", KIND_CLIENT,
                 NULL, ca, ca_key, -DAY, 30 * DAY, NULL, NULL)
        || issue(c->rogue_ca, NULL, "libwire rogue CA", KIND_CA, NULL, NULL,
                 NULL, -DAY, 30 * DAY, &rogue_ca, &rogue_ca_key)
        || issue(c->rogue_cert, c->rogue_key, "localhost", KIND_SERVER,
                 LOCALHOST_SAN, rogue_ca, rogue_ca_key, -DAY, 30 * DAY, NULL,
                 NULL)
        || issue(c->expired_cert, c->expired_key, "localhost", KIND_SERVER,
                 LOCALHOST_SAN, ca, ca_key, -30 * DAY, -DAY, NULL, NULL);

    X509_free(ca);
    X509_free(rogue_ca);
    EVP_PKEY_free(ca_key);
    EVP_PKEY_free(rogue_ca_key);
    if (err)
        tls_certs_remove(c);
    return err ? -1 : 0;
}

void
tls_certs_remove(struct tls_certs *c)
{
    for (size_t i = 0; i < TLS_NFILES; i++) {
        char *path = TLS_PATH(c, i);
        if (*path && unlink(path) != 0 && errno != ENOENT)
            fprintf(stderr, "tls_certs: %s: %s\n", path, strerror(errno));
        *path = '\0';
    }
    if (c->dir[0] && rmdir(c->dir) != 0)
        fprintf(stderr, "tls_certs: %s: %s\n", c->dir, strerror(errno));
    c->dir[0] = '\0';
}
