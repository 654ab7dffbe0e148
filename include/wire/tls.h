/**
 * @file
 * libwire — TLS as a layer over any transport (OpenSSL 3, memory BIOs).
 *
 * The layer is a protocol to the transport below and a transport to the
 * protocol above, so TLS runs over TCP, Unix sockets, pipes, serial lines,
 * the memory pair or TLS itself.  `tls://host:port?...` is TCP plus a
 * client layer (or, with wire_listen, a server layer per connection).
 *
 * The protocol above starts (connection_made) once the handshake is done,
 * so the peer certificate, the version and ALPN are known then.  A
 * handshake that fails — a certificate that does not verify, a name that
 * does not match, a peer that is not speaking TLS, the handshake timeout —
 * still reaches the protocol: it is started and gets connection_lost with
 * WIRE_ETLS (or WIRE_ETIMEDOUT) and a message a person can act on
 * ("certificate verify failed: unable to get local issuer certificate
 * (depth 0, subject /CN=localhost)", "certificate verify failed:
 * 'example.org' is not a name of the certificate (DNS:localhost,
 * IP:127.0.0.1; subject /CN=localhost)").  The side that fails sends
 * OpenSSL's alert and closes below (a reset only after the shutdown
 * timeout), so the peer's message says why ("tlsv1 alert unknown ca").
 *
 * close sends close_notify, waits for the peer's (bounded by the shutdown
 * timeout), then closes below; the protocol above gets connection_lost at
 * once, the wait happens below.  write_eof sends close_notify and keeps
 * reading (TLS half-close).  An EOF from below without the peer's
 * close_notify is reported as truncation (WIRE_ETLS).  Renegotiation is
 * refused.  Flow control above is in plaintext bytes; pause_reading also
 * holds records already decrypted.
 */
#ifndef WIRE_TLS_H
#define WIRE_TLS_H

#include <stdbool.h>
#include <stdint.h>
#include <wire/common.h>
#include <wire/protocol.h>
#include <wire/transport.h>

#ifdef __cplusplus
extern "C" {
#endif

struct wire_tls_config;

/** get_info keys of a TLS layer (strings, as wire_transport_get_info()
 *  returns them; answered once the handshake is done). */
enum {
    WIRE_INFO_TLS_VERSION = 200, /**< "TLSv1.3" */
    WIRE_INFO_TLS_CIPHER = 201,  /**< "TLS_AES_256_GCM_SHA384" */
    WIRE_INFO_TLS_ALPN = 202,    /**< the negotiated protocol, "" if none */
    WIRE_INFO_TLS_SNI = 203,     /**< the server name asked for */
    WIRE_INFO_TLS_PEER_CERT = 204,    /**< the peer certificate, PEM */
    WIRE_INFO_TLS_PEER_SUBJECT = 205, /**< its subject, one line */
    WIRE_INFO_TLS_RESUMED = 206  /**< "1" when the session was resumed */
};

/** Protocol versions for wire_tls_config_set_min_version() and
 *  wire_tls_config_set_max_version() (their wire values). */
enum wire_tls_version {
    WIRE_TLS_1_2 = 0x0303, /**< TLS 1.2 */
    WIRE_TLS_1_3 = 0x0304  /**< TLS 1.3 */
};

/** Defaults. */
/** How long a handshake may take before the connection fails with
 *  WIRE_ETIMEDOUT (wire_tls_config_set_timeouts()). */
#define WIRE_TLS_DEFAULT_HANDSHAKE_TIMEOUT_MS 30000u
/** How long close waits for the peer's close_notify before closing below
 *  anyway (wire_tls_config_set_timeouts()). */
#define WIRE_TLS_DEFAULT_SHUTDOWN_TIMEOUT_MS 5000u

/**
 * A TLS configuration, shared by any number of connections (reference
 * counted; it starts with one reference, the caller's, released with
 * wire_tls_config_unref()).  Each layer made with it takes its own
 * reference, so the caller may drop theirs as soon as the layers exist.
 * A client configuration verifies the peer against the system's CA store
 * and the name connected to unless told otherwise; a server one needs a
 * certificate and key, and asks for client certificates only with
 * wire_tls_config_set_verify(cfg, true).  Setters return 0 or a negative
 * code with `err` (if not NULL) saying what is wrong (the file, and
 * OpenSSL's reason): WIRE_ETLS for what OpenSSL refuses, WIRE_EINVAL for
 * a bad argument, WIRE_ENOMEM.  Finish configuring before making layers
 * with it: a layer takes most settings when it is created.  Returns NULL
 * with `err` set on failure (WIRE_ENOMEM, WIRE_ETLS).
 */
WIRE_EXPORT struct wire_tls_config *wire_tls_config_new(bool server,
                                                        struct wire_error *err);
/** Take a reference on `c` (NULL is passed through).  Returns `c`. */
WIRE_EXPORT struct wire_tls_config *wire_tls_config_ref(struct wire_tls_config *c);
/** Drop a reference; the last one frees the configuration and its cached
 *  client sessions.  Accepts NULL. */
WIRE_EXPORT void wire_tls_config_unref(struct wire_tls_config *c);

/** Trust these CAs (a PEM file and/or a hashed directory, either may be
 *  NULL but not both) instead of the system store.  Returns 0, WIRE_EINVAL
 *  (neither given), WIRE_ETLS (cannot load, naming the file) or
 *  WIRE_ENOMEM. */
WIRE_EXPORT int wire_tls_config_set_ca(struct wire_tls_config *c,
                                       const char *file, const char *dir,
                                       struct wire_error *err);
/** Our certificate (chain) and private key, PEM files (`key_file` NULL:
 *  the key is in `cert_file`).  Returns 0, WIRE_EINVAL (no certificate
 *  file) or WIRE_ETLS (cannot load either file, or the key does not match
 *  the certificate). */
WIRE_EXPORT int wire_tls_config_set_cert(struct wire_tls_config *c,
                                         const char *cert_file,
                                         const char *key_file,
                                         struct wire_error *err);
/** Client: verify the server (default true).  Server: require and verify
 *  a client certificate (default false). */
WIRE_EXPORT void wire_tls_config_set_verify(struct wire_tls_config *c,
                                            bool verify);
/** ALPN protocols in order of preference, comma-separated ("h2,http/1.1";
 *  the string is copied).  Returns 0, WIRE_EINVAL (an empty list or
 *  name, or one over 255 bytes), WIRE_ETLS or WIRE_ENOMEM.
 *  A server picks the first of its own the client offers; when the two
 *  lists share none it refuses the handshake (no_application_protocol:
 *  WIRE_ETLS on both sides).  When only one side sets ALPN the handshake
 *  goes on without it (WIRE_INFO_TLS_ALPN is ""). */
WIRE_EXPORT int wire_tls_config_set_alpn(struct wire_tls_config *c,
                                         const char *list,
                                         struct wire_error *err);
/** Lowest version accepted (default WIRE_TLS_1_2), an enum
 *  wire_tls_version.  Returns 0 or WIRE_EINVAL (not a version listed
 *  there). */
WIRE_EXPORT int wire_tls_config_set_min_version(struct wire_tls_config *c,
                                                int version,
                                                struct wire_error *err);
/** Highest version offered or accepted (default: the highest OpenSSL
 *  supports, TLS 1.3); WIRE_TLS_1_2 keeps a peer on TLS 1.2.  Returns 0
 *  or WIRE_EINVAL (not an enum wire_tls_version). */
WIRE_EXPORT int wire_tls_config_set_max_version(struct wire_tls_config *c,
                                                int version,
                                                struct wire_error *err);
/** Server: issue session tickets, so clients can resume (default true;
 *  two per TLS 1.3 handshake).  Off saves their cost on servers whose
 *  clients never resume.  Client: accept them.  Endpoint: tickets=no. */
WIRE_EXPORT void wire_tls_config_set_session_tickets(struct wire_tls_config *c,
                                                     bool on);
/** OpenSSL cipher lists: `ciphers` for TLS 1.2, `suites` for TLS 1.3;
 *  either may be NULL (unchanged).  Returns 0, WIRE_ETLS naming the list
 *  OpenSSL refused, or WIRE_EINVAL for a NULL `c`. */
WIRE_EXPORT int wire_tls_config_set_ciphers(struct wire_tls_config *c,
                                            const char *ciphers,
                                            const char *suites,
                                            struct wire_error *err);
/** Timeouts for the handshake and for close's wait for close_notify, in
 *  milliseconds (0: WIRE_TLS_DEFAULT_HANDSHAKE_TIMEOUT_MS,
 *  WIRE_TLS_DEFAULT_SHUTDOWN_TIMEOUT_MS). */
WIRE_EXPORT void wire_tls_config_set_timeouts(struct wire_tls_config *c,
                                              uint64_t handshake_ms,
                                              uint64_t shutdown_ms);

/**
 * A client layer over `upper` (owned from now on, also on error: on error
 * it is destroyed).  `c` must be a client configuration; the layer takes
 * its own reference.  `server_name` (copied) is sent as SNI (unless it is
 * an IP address) and is the name (or IP) the certificate must match; NULL
 * skips both (and verification of the name, not of the chain).  Clients
 * resume sessions with the same config and server name.  Returns the
 * protocol to give to the transport below (wire_connect(), a layer...),
 * which then owns the layer, or NULL with `err` (if not NULL) set:
 * WIRE_EINVAL (no configuration, or a server one), WIRE_ETLS (a server
 * name OpenSSL refuses), WIRE_ENOMEM.  The handshake starts when the
 * transport below connects; `upper` gets connection_made once it is done.
 */
WIRE_EXPORT struct wire_protocol *
wire_tls_client_layer_new(struct wire_protocol *upper, struct wire_tls_config *c,
                          const char *server_name, struct wire_error *err);
/** A server layer over `upper` (owned from now on, also on error: on
 *  error it is destroyed).  `c` must be a server configuration with a
 *  certificate; the layer takes its own reference.  Returns the protocol
 *  to give to the transport below (typically from a wire_listen()
 *  factory), or NULL with `err` (if not NULL) set: WIRE_EINVAL (no
 *  configuration, or a client one) or WIRE_ENOMEM. */
WIRE_EXPORT struct wire_protocol *
wire_tls_server_layer_new(struct wire_protocol *upper, struct wire_tls_config *c,
                          struct wire_error *err);

/**
 * start_tls: upgrade a live connection in place (STARTTLS).  The protocol
 * now on `t` moves above a new TLS layer (client or server, as `c` is)
 * and the layer takes `t`.  Call it from the protocol's own callback,
 * typically data_received, after the plaintext exchange that agreed on
 * the upgrade.
 *
 * - `pending`/`len`: bytes the protocol already read past the upgrade
 *   point (a ClientHello that came in the same read as `"STARTTLS\r\n"`);
 *   they go to TLS first, not lost.
 * - Plaintext the protocol wrote before the call goes out first.  From
 *   the call on it must not write to `t`: once the handshake is done it
 *   gets connection_made a second time, with the TLS transport, and
 *   writes there.  If the handshake fails it gets connection_lost with
 *   the reason instead.
 * - Carried over to the TLS transport: the write buffer limits set on
 *   `t`, a read pause (nothing is delivered until the protocol resumes
 *   reading on the TLS transport) and a write pause (resume_writing
 *   follows when there is room).
 * - `server_name` as for wire_tls_client_layer_new; NULL for a server.
 *
 * Returns 0, or a negative code with `err` (if not NULL) set; on error
 * nothing changed: WIRE_EINVAL (no transport, protocol or configuration;
 * a server configuration with a `server_name`), WIRE_ECLOSED (`t` is
 * closing or the peer sent EOF), WIRE_ESTATE (a hand-over still
 * delivering), WIRE_ETLS (a bad `server_name`), WIRE_ENOMEM.
 */
WIRE_EXPORT int wire_tls_start(struct wire_transport *t,
                               struct wire_tls_config *c,
                               const char *server_name, const void *pending,
                               size_t len, struct wire_error *err);

/**
 * Build a TLS config from endpoint-style parameters (`ca=`, `cert=`,
 * `key=`, `verify=`, `alpn=`, `min=1.2|1.3`, `tickets=`; `sni=` is
 * accepted and ignored: it is the layer's), as `tls://` uses them.
 * `params` is a NULL-terminated array of key, value pairs (a NULL value
 * is ""), read during the call only.  Returns a new configuration with
 * one reference (the caller's), or NULL with `err` (if not NULL) set:
 * WIRE_EENDPOINT for an unknown key or a bad value, or a server without
 * `cert=`; a setter's error (WIRE_ETLS for a file that does not load).
 */
WIRE_EXPORT struct wire_tls_config *
wire_tls_config_from_params(bool server, const char *const *params,
                            struct wire_error *err);

#ifdef __cplusplus
}
#endif
#endif /* WIRE_TLS_H */
