/*
 * Certificates for the TLS tests, generated at test time into a fresh
 * temporary directory (nothing is committed): a CA, leaves it signed, a
 * second unrelated CA with a leaf of its own, and an expired leaf.  All
 * keys are EC P-256, all signatures SHA-256, all serials random.  Every
 * file is PEM; key files are mode 0600.  The helpers are in tls_certs.c.
 */
#ifndef WIRE_TESTS_TLS_CERTS_H
#define WIRE_TESTS_TLS_CERTS_H

struct tls_certs {
    char dir[256];          /* the temp dir (mkdtemp under $TMPDIR or /tmp) */
    char ca[300];           /* CA certificate PEM path */
    char ca_key[300];
    char server_cert[300], server_key[300];   /* CN=localhost, SAN DNS:localhost, IP:127.0.0.1, IP:::1, signed by the CA */
    char other_cert[300], other_key[300];     /* CN=other.example, SAN DNS:other.example only, signed by the CA */
    char client_cert[300], client_key[300];   /* CN=test client, extendedKeyUsage clientAuth, signed by the CA */
    char rogue_ca[300];                        /* a second, unrelated CA */
    char rogue_cert[300], rogue_key[300];      /* localhost cert signed by the rogue CA */
    char expired_cert[300], expired_key[300];  /* localhost cert by the CA, notAfter in the past */
};

/* Generate all of the above into a new directory (validity -1 day .. +30
 * days, except the expired one: -30 days .. -1 day).  Returns 0, or -1
 * with a message on stderr, having removed whatever it had made. */
int tls_certs_make(struct tls_certs *c);
/* Remove the files and the directory.  Safe on a zeroed struct and after
 * a failed tls_certs_make(); clears the paths. */
void tls_certs_remove(struct tls_certs *c);

#endif
