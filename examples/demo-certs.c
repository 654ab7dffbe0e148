/*
 * examples/demo's throwaway certificate authority, for its TLS rows: an
 * EC P-256 CA and a server certificate for localhost and 127.0.0.1 it
 * signs, made in-process with the OpenSSL 3 API.
 */
#include "demo-certs.h"

#include <openssl/bn.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

static bool
add_ext(X509 *x, X509V3_CTX *ctx, int nid, const char *value)
{
    X509_EXTENSION *e = X509V3_EXT_nconf_nid(NULL, ctx, nid, value);
    bool ok = e != NULL && X509_add_ext(x, e, -1) == 1;
    X509_EXTENSION_free(e);
    return ok;
}

/* A certificate for `key` named CN=`cn`, valid from an hour ago for a
 * day: a CA when `ca` is NULL (self-signed), else a server certificate
 * for localhost and 127.0.0.1 signed by `ca`. */
static X509 *
make_cert(const char *cn, EVP_PKEY *key, X509 *ca, EVP_PKEY *ca_key)
{
    X509 *x = X509_new();
    BIGNUM *serial = BN_new();
    bool ok = x != NULL && serial != NULL &&
              X509_set_version(x, X509_VERSION_3) &&
              BN_rand(serial, 127, BN_RAND_TOP_ANY, BN_RAND_BOTTOM_ANY) &&
              BN_to_ASN1_INTEGER(serial, X509_get_serialNumber(x)) != NULL &&
              X509_gmtime_adj(X509_getm_notBefore(x), -3600) != NULL &&
              X509_gmtime_adj(X509_getm_notAfter(x), 24 * 3600) != NULL &&
              X509_NAME_add_entry_by_txt(X509_get_subject_name(x), "CN",
                                         MBSTRING_UTF8,
                                         (const unsigned char *)cn, -1, -1,
                                         0) &&
              X509_set_issuer_name(x, X509_get_subject_name(ca ? ca : x)) &&
              X509_set_pubkey(x, key);
    BN_free(serial);
    X509V3_CTX ctx;
    X509V3_set_ctx(&ctx, ca ? ca : x, x, NULL, NULL, 0);
    if (ok && ca == NULL)
        ok = add_ext(x, &ctx, NID_basic_constraints, "critical,CA:TRUE") &&
             add_ext(x, &ctx, NID_key_usage, "critical,keyCertSign,cRLSign") &&
             add_ext(x, &ctx, NID_subject_key_identifier, "hash");
    else if (ok)
        ok = add_ext(x, &ctx, NID_basic_constraints, "critical,CA:FALSE") &&
             add_ext(x, &ctx, NID_key_usage, "critical,digitalSignature") &&
             add_ext(x, &ctx, NID_ext_key_usage, "serverAuth") &&
             add_ext(x, &ctx, NID_subject_alt_name,
                     "DNS:localhost,IP:127.0.0.1") &&
             add_ext(x, &ctx, NID_subject_key_identifier, "hash") &&
             add_ext(x, &ctx, NID_authority_key_identifier, "keyid:always");
    if (ok && X509_sign(x, ca_key ? ca_key : key, EVP_sha256()) > 0)
        return x;
    X509_free(x);
    return NULL;
}

/* Write a certificate (or, when `x` is NULL, a private key) as PEM to a
 * new file, readable by us only. */
static bool
write_pem(const char *path, X509 *x, EVP_PKEY *key)
{
    int fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
    FILE *f = fd >= 0 ? fdopen(fd, "w") : NULL;
    if (f == NULL) {
        if (fd >= 0)
            close(fd);
        return false;
    }
    bool ok = x != NULL ? PEM_write_X509(f, x) == 1
                        : PEM_write_PrivateKey(f, key, NULL, NULL, 0, NULL,
                                               NULL) == 1;
    return fclose(f) == 0 && ok;
}

bool
demo_make_certs(const char *ca_pem, const char *cert_pem, const char *key_pem,
                char *why, size_t why_len)
{
    why[0] = '\0';
    EVP_PKEY *ca_key = EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-256");
    EVP_PKEY *key = EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-256");
    X509 *ca = ca_key != NULL ? make_cert("libwire demo CA", ca_key, NULL, NULL)
                              : NULL;
    X509 *cert = ca && key ? make_cert("localhost", key, ca, ca_key) : NULL;
    if (cert == NULL) {
        snprintf(why, why_len, "making certificates: %s",
                 ERR_reason_error_string(ERR_get_error()));
    } else if (!write_pem(ca_pem, ca, NULL) ||
               !write_pem(cert_pem, cert, NULL) ||
               !write_pem(key_pem, NULL, key)) {
        snprintf(why, why_len, "writing certificates: %s",
                 strerror(errno));
    }
    X509_free(ca);
    X509_free(cert);
    EVP_PKEY_free(ca_key);
    EVP_PKEY_free(key);
    ERR_clear_error();
    return why[0] == '\0';
}
