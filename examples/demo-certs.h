/*
 * examples/demo's throwaway certificate authority (demo-certs.c).
 */
#ifndef WIRE_EXAMPLES_DEMO_CERTS_H
#define WIRE_EXAMPLES_DEMO_CERTS_H

#include <stdbool.h>
#include <stddef.h>

/* Make a CA and a server certificate for localhost / 127.0.0.1 signed by
 * it, and write the CA's certificate to `ca_pem` and the server's
 * certificate and key to `cert_pem` and `key_pem`.  Returns true, or
 * false with `why` (of `why_len` bytes) saying what failed. */
bool demo_make_certs(const char *ca_pem, const char *cert_pem,
                     const char *key_pem, char *why, size_t why_len);

#endif
