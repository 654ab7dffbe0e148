/*
 * The TLS layer (include/wire/tls.h), over the memory pair and over TCP:
 * what a person sees when a handshake fails (an unknown CA, an expired
 * certificate, a name or an IP that is not the certificate's, a client
 * certificate missing or signed by the wrong CA, no ALPN protocol or no
 * version in common, a peer that is not speaking TLS, the handshake
 * timeout), what a good connection reports (version, cipher, ALPN, SNI,
 * the peer certificate, resumption) and how it ends (close_notify both
 * ways, the shutdown timeout, truncation, half-close), configuration
 * errors, a tls:// listener surviving junk and cut-off handshakes, and
 * renegotiation refused (a raw OpenSSL peer asks for it).
 *
 * The certificates are made per TCase (tls_certs_make) in a fresh temp
 * dir and removed after it.  Nothing sleeps: each test runs the loop
 * until what it waits for, bounded by a deadline that
 * WIRE_TEST_TIME_SCALE stretches (valgrind).
 */
#include "unit.h"
#include "tls_certs.h"

#include <openssl/err.h>
#include <openssl/ssl.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static struct wire_loop *loop;
static struct tls_certs certs;
static const volatile bool never = false;

#define DEADLINE unit_scale_ms(10000)

static long
now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* The certificates are made once per TCase, in an unchecked fixture (in
 * the runner, before the tests fork), and removed after the TCase even
 * when a test failed: making them takes ~2 s under valgrind. */
static void
certs_setup(void)
{
    ck_assert_int_eq(tls_certs_make(&certs), 0);
}

static void
certs_teardown(void)
{
    tls_certs_remove(&certs);
}

static void
tls_setup(void)
{
    ck_assert_msg(certs.dir[0] != '\0', "no test certificates");
    loop = wire_loop_new();
    ck_assert_ptr_nonnull(loop);
}

static void
tls_teardown(void)
{
    wire_loop_free(loop);
    loop = NULL;
}

static TCase *
tls_tcase(Suite *s, const char *name)
{
    TCase *tc = unit_tcase(s, name);
    tcase_add_unchecked_fixture(tc, certs_setup, certs_teardown);
    tcase_add_checked_fixture(tc, tls_setup, tls_teardown);
    tcase_set_timeout(tc, 30);
    return tc;
}

/* ---- configurations ---- */

static struct wire_tls_config *
client_cfg(void)
{
    struct wire_error err = {0};
    struct wire_tls_config *c = wire_tls_config_new(false, &err);
    ck_assert_msg(c != NULL, "%s", err.message);
    ck_assert_msg(wire_tls_config_set_ca(c, certs.ca, NULL, &err) == 0, "%s",
                  err.message);
    return c;
}

static struct wire_tls_config *
server_cfg(const char *cert, const char *key)
{
    struct wire_error err = {0};
    struct wire_tls_config *c = wire_tls_config_new(true, &err);
    ck_assert_msg(c != NULL, "%s", err.message);
    ck_assert_msg(wire_tls_config_set_cert(c, cert, key, &err) == 0, "%s",
                  err.message);
    return c;
}

static void
set_alpn(struct wire_tls_config *c, const char *list)
{
    struct wire_error err = {0};
    ck_assert_msg(wire_tls_config_set_alpn(c, list, &err) == 0, "%s",
                  err.message);
}

/* ---- a connection: client layer and server layer over a memory pair ---- */

struct conn {
    struct rec_log c, s;          /* the protocols above the layers */
    struct wire_transport *cb, *sb; /* the memory pair's ends below */
};

static bool
both_made(void *arg)
{
    struct conn *k = arg;
    return k->c.made_flag && k->s.made_flag;
}

static bool
both_lost(void *arg)
{
    struct conn *k = arg;
    return k->c.lost_flag && k->s.lost_flag;
}

static void
conn_start(struct conn *k, struct wire_tls_config *cc, const char *name,
           struct wire_tls_config *sc)
{
    struct wire_error err = {0};
    struct wire_protocol *c = wire_tls_client_layer_new(rec_new(&k->c), cc,
                                                        name, &err);
    ck_assert_msg(c != NULL, "%s", err.message);
    struct wire_protocol *s = wire_tls_server_layer_new(rec_new(&k->s), sc, &err);
    ck_assert_msg(s != NULL, "%s", err.message);
    ck_assert_int_eq(wire_mem_pair(loop, c, s, 0, &k->cb, &k->sb), 0);
}

/* Close what is still open, wait for both losses, check that nothing
 * leaked and that nothing is left on the loop (no transport, no timer). */
static void
conn_finish(struct conn *k)
{
    if (k->c.t != NULL)
        wire_transport_close(k->c.t);
    if (k->s.t != NULL)
        wire_transport_close(k->s.t);
    ck_assert(unit_run_until(loop, both_lost, k, DEADLINE));
    ck_assert_int_eq(k->c.lost, 1);
    ck_assert_int_eq(k->s.lost, 1);
    ck_assert_int_eq(wire_loop_run_until(loop, &never, DEADLINE), 1);
    ck_assert_int_eq(unit_live_protocols, 0);
    rec_log_free(&k->c);
    rec_log_free(&k->s);
}

/* A string-valued get_info, asserted to succeed. */
static const char *
info(struct wire_transport *t, int key)
{
    static char buf[4][8192];
    static int next;
    char *b = buf[next++ % 4];
    ck_assert_ptr_nonnull(t);
    int rc = wire_transport_get_info(t, key, b, sizeof(buf[0]));
    ck_assert_msg(rc >= 0, "get_info(%d): %s", key, wire_strerror(rc));
    return b;
}

/* rec hooks */
static void
echo_data(struct rec_log *log, struct wire_transport *t, const void *data,
          size_t len)
{
    (void)log;
    ck_assert_int_eq(wire_transport_write(t, data, len), 0);
}

/* on_made: write log->user (log->user_n bytes) */
static void
send_user(struct rec_log *log, struct wire_transport *t)
{
    ck_assert_int_eq(wire_transport_write(t, log->user, (size_t)log->user_n), 0);
}

/* on_made: write log->user, then close */
static void
send_user_close(struct rec_log *log, struct wire_transport *t)
{
    send_user(log, t);
    wire_transport_close(t);
}

static bool
has_in(void *arg)
{
    struct rec_log *l = arg;
    return l->in_len >= strlen((const char *)l->user);
}

/* A handshake that fails on the client: both ends' protocols start and
 * lose the connection, with WIRE_ETLS. */
static void
expect_both_fail(struct conn *k)
{
    ck_assert(unit_run_until(loop, both_lost, k, DEADLINE));
    ck_assert_int_eq(k->c.made, 1);
    ck_assert_int_eq(k->s.made, 1);
    ck_assert_msg(k->c.lost_code == WIRE_ETLS, "client: %s (%s)",
                  wire_err_name(k->c.lost_code), k->c.lost_msg);
    ck_assert_msg(k->s.lost_code == WIRE_ETLS, "server: %s (%s)",
                  wire_err_name(k->s.lost_code), k->s.lost_msg);
}

/* ==== certificate verification ==== */

START_TEST(test_unknown_ca)
{
    struct wire_tls_config *cc = client_cfg();
    struct wire_tls_config *sc = server_cfg(certs.rogue_cert, certs.rogue_key);
    struct conn k = {0};
    conn_start(&k, cc, "localhost", sc);
    expect_both_fail(&k);
    ck_assert_contains(k.c.lost_msg, "certificate verify failed");
    ck_assert_contains(k.c.lost_msg, "unable to get local issuer certificate");
    ck_assert_contains(k.c.lost_msg, "depth 0");
    ck_assert_contains(k.c.lost_msg, "CN=localhost");
    /* the server hears why from the client's alert */
    ck_assert_contains(k.s.lost_msg, "unknown ca");
    conn_finish(&k);
    wire_tls_config_unref(cc);
    wire_tls_config_unref(sc);
}
END_TEST

START_TEST(test_expired)
{
    struct wire_tls_config *cc = client_cfg();
    struct wire_tls_config *sc = server_cfg(certs.expired_cert, certs.expired_key);
    struct conn k = {0};
    conn_start(&k, cc, "localhost", sc);
    expect_both_fail(&k);
    ck_assert_contains(k.c.lost_msg, "certificate has expired");
    ck_assert_contains(k.c.lost_msg, "depth 0");
    ck_assert_contains(k.c.lost_msg, "CN=localhost");
    ck_assert_contains(k.s.lost_msg, "certificate expired");
    conn_finish(&k);
    wire_tls_config_unref(cc);
    wire_tls_config_unref(sc);
}
END_TEST

START_TEST(test_hostname_mismatch)
{
    struct wire_tls_config *cc = client_cfg();
    struct wire_tls_config *sc = server_cfg(certs.other_cert, certs.other_key);
    struct conn k = {0};
    conn_start(&k, cc, "localhost", sc);
    expect_both_fail(&k);
    ck_assert_contains(k.c.lost_msg, "'localhost'");
    ck_assert_contains(k.c.lost_msg, "DNS:other.example");
    ck_assert_contains(k.c.lost_msg, "not a name of the certificate");
    ck_assert_contains(k.s.lost_msg, "bad certificate");
    conn_finish(&k);
    wire_tls_config_unref(cc);
    wire_tls_config_unref(sc);
}
END_TEST

START_TEST(test_ip_match)
{
    struct wire_tls_config *cc = client_cfg();
    struct wire_tls_config *sc = server_cfg(certs.server_cert, certs.server_key);
    struct conn k = {0};
    conn_start(&k, cc, "127.0.0.1", sc);
    ck_assert(unit_run_until(loop, both_made, &k, DEADLINE));
    ck_assert_int_eq(k.c.lost, 0);
    ck_assert_int_eq(k.s.lost, 0);
    /* an IP address is checked, not sent as SNI */
    ck_assert_str_eq(info(k.s.t, WIRE_INFO_TLS_SNI), "");
    conn_finish(&k);
    ck_assert(k.c.lost_null);
    ck_assert(k.s.lost_null);
    wire_tls_config_unref(cc);
    wire_tls_config_unref(sc);
}
END_TEST

START_TEST(test_ip_mismatch)
{
    struct wire_tls_config *cc = client_cfg();
    struct wire_tls_config *sc = server_cfg(certs.other_cert, certs.other_key);
    struct conn k = {0};
    conn_start(&k, cc, "127.0.0.1", sc);
    expect_both_fail(&k);
    ck_assert_contains(k.c.lost_msg, "'127.0.0.1'");
    ck_assert_contains(k.c.lost_msg, "DNS:other.example");
    ck_assert_contains(k.c.lost_msg, "not a name of the certificate");
    ck_assert_contains(k.s.lost_msg, "bad certificate");
    conn_finish(&k);
    wire_tls_config_unref(cc);
    wire_tls_config_unref(sc);
}
END_TEST

START_TEST(test_verify_off)
{
    struct wire_error err = {0};
    struct wire_tls_config *cc = wire_tls_config_new(false, &err);
    ck_assert_ptr_nonnull(cc);
    wire_tls_config_set_verify(cc, false);
    struct wire_tls_config *sc = server_cfg(certs.rogue_cert, certs.rogue_key);
    struct conn k = {0};
    k.s.on_data = echo_data;
    k.c.on_made = send_user;
    k.c.user = "over an unverified channel";
    k.c.user_n = (int)strlen(k.c.user);
    conn_start(&k, cc, "localhost", sc);
    ck_assert(unit_run_until(loop, has_in, &k.c, DEADLINE));
    ck_assert_str_eq(rec_in(&k.c), "over an unverified channel");
    ck_assert_contains(info(k.c.t, WIRE_INFO_TLS_PEER_SUBJECT), "CN=localhost");
    conn_finish(&k);
    ck_assert(k.c.lost_null);
    ck_assert(k.s.lost_null);
    wire_tls_config_unref(cc);
    wire_tls_config_unref(sc);
}
END_TEST

/* ==== client certificates ==== */

static struct wire_tls_config *
mtls_server_cfg(void)
{
    struct wire_error err = {0};
    struct wire_tls_config *sc = server_cfg(certs.server_cert, certs.server_key);
    ck_assert_msg(wire_tls_config_set_ca(sc, certs.ca, NULL, &err) == 0, "%s",
                  err.message);
    wire_tls_config_set_verify(sc, true);
    return sc;
}

START_TEST(test_mtls_no_client_cert)
{
    struct wire_tls_config *cc = client_cfg();
    struct wire_tls_config *sc = mtls_server_cfg();
    struct conn k = {0};
    conn_start(&k, cc, "localhost", sc);
    expect_both_fail(&k);
    ck_assert_contains(k.s.lost_msg, "peer did not return a certificate");
    /* TLS 1.3: the client learns it from the server's alert */
    ck_assert_contains(k.c.lost_msg, "certificate required");
    conn_finish(&k);
    wire_tls_config_unref(cc);
    wire_tls_config_unref(sc);
}
END_TEST

START_TEST(test_mtls_client_cert)
{
    struct wire_error err = {0};
    struct wire_tls_config *cc = client_cfg();
    ck_assert_msg(wire_tls_config_set_cert(cc, certs.client_cert,
                                           certs.client_key, &err) == 0,
                  "%s", err.message);
    struct wire_tls_config *sc = mtls_server_cfg();
    struct conn k = {0};
    k.s.on_data = echo_data;
    k.c.on_made = send_user;
    k.c.user = "authenticated";
    k.c.user_n = (int)strlen(k.c.user);
    conn_start(&k, cc, "localhost", sc);
    ck_assert(unit_run_until(loop, has_in, &k.c, DEADLINE));
    ck_assert_str_eq(rec_in(&k.c), "authenticated");
    ck_assert_contains(info(k.s.t, WIRE_INFO_TLS_PEER_SUBJECT), "test client");
    ck_assert_contains(info(k.s.t, WIRE_INFO_TLS_PEER_CERT),
                       "-----BEGIN CERTIFICATE-----");
    conn_finish(&k);
    ck_assert(k.c.lost_null);
    ck_assert(k.s.lost_null);
    wire_tls_config_unref(cc);
    wire_tls_config_unref(sc);
}
END_TEST

START_TEST(test_mtls_rogue_client_cert)
{
    struct wire_error err = {0};
    struct wire_tls_config *cc = client_cfg();
    ck_assert_msg(wire_tls_config_set_cert(cc, certs.rogue_cert,
                                           certs.rogue_key, &err) == 0,
                  "%s", err.message);
    struct wire_tls_config *sc = mtls_server_cfg();
    struct conn k = {0};
    conn_start(&k, cc, "localhost", sc);
    expect_both_fail(&k);
    ck_assert_contains(k.s.lost_msg, "certificate verify failed");
    ck_assert_contains(k.s.lost_msg, "unable to get local issuer certificate");
    ck_assert_contains(k.s.lost_msg, "depth 0");
    ck_assert_contains(k.c.lost_msg, "unknown ca");
    conn_finish(&k);
    wire_tls_config_unref(cc);
    wire_tls_config_unref(sc);
}
END_TEST

/* ==== ALPN ==== */

START_TEST(test_alpn_common)
{
    struct wire_tls_config *cc = client_cfg();
    struct wire_tls_config *sc = server_cfg(certs.server_cert, certs.server_key);
    set_alpn(cc, "h2,http/1.1");
    set_alpn(sc, "http/1.1");
    struct conn k = {0};
    conn_start(&k, cc, "localhost", sc);
    ck_assert(unit_run_until(loop, both_made, &k, DEADLINE));
    ck_assert_int_eq(k.c.lost, 0);
    ck_assert_int_eq(k.s.lost, 0);
    ck_assert_str_eq(info(k.c.t, WIRE_INFO_TLS_ALPN), "http/1.1");
    ck_assert_str_eq(info(k.s.t, WIRE_INFO_TLS_ALPN), "http/1.1");
    conn_finish(&k);
    wire_tls_config_unref(cc);
    wire_tls_config_unref(sc);
}
END_TEST

/* The server's preference wins when both have several in common. */
START_TEST(test_alpn_server_order)
{
    struct wire_tls_config *cc = client_cfg();
    struct wire_tls_config *sc = server_cfg(certs.server_cert, certs.server_key);
    set_alpn(cc, "http/1.1,h2");
    set_alpn(sc, "h2,http/1.1");
    struct conn k = {0};
    conn_start(&k, cc, "localhost", sc);
    ck_assert(unit_run_until(loop, both_made, &k, DEADLINE));
    ck_assert_str_eq(info(k.c.t, WIRE_INFO_TLS_ALPN), "h2");
    ck_assert_str_eq(info(k.s.t, WIRE_INFO_TLS_ALPN), "h2");
    conn_finish(&k);
    wire_tls_config_unref(cc);
    wire_tls_config_unref(sc);
}
END_TEST

/* No protocol in common: the server refuses the handshake
 * (no_application_protocol), as tls.h says. */
START_TEST(test_alpn_no_overlap)
{
    struct wire_tls_config *cc = client_cfg();
    struct wire_tls_config *sc = server_cfg(certs.server_cert, certs.server_key);
    set_alpn(cc, "h2");
    set_alpn(sc, "http/1.1");
    struct conn k = {0};
    conn_start(&k, cc, "localhost", sc);
    expect_both_fail(&k);
    ck_assert_contains(k.s.lost_msg, "no application protocol");
    ck_assert_contains(k.c.lost_msg, "no application protocol");
    conn_finish(&k);
    wire_tls_config_unref(cc);
    wire_tls_config_unref(sc);
}
END_TEST

/* ALPN on one side only: the handshake goes on without it. */
START_TEST(test_alpn_one_side)
{
    for (int which = 0; which < 2; which++) {
        struct wire_tls_config *cc = client_cfg();
        struct wire_tls_config *sc = server_cfg(certs.server_cert, certs.server_key);
        set_alpn(which == 0 ? cc : sc, "h2");
        struct conn k = {0};
        conn_start(&k, cc, "localhost", sc);
        ck_assert(unit_run_until(loop, both_made, &k, DEADLINE));
        ck_assert_int_eq(k.c.lost, 0);
        ck_assert_int_eq(k.s.lost, 0);
        ck_assert_str_eq(info(k.c.t, WIRE_INFO_TLS_ALPN), "");
        ck_assert_str_eq(info(k.s.t, WIRE_INFO_TLS_ALPN), "");
        conn_finish(&k);
        wire_tls_config_unref(cc);
        wire_tls_config_unref(sc);
    }
}
END_TEST

/* ==== versions ==== */

START_TEST(test_version_default_13)
{
    struct wire_tls_config *cc = client_cfg();
    struct wire_tls_config *sc = server_cfg(certs.server_cert, certs.server_key);
    struct conn k = {0};
    conn_start(&k, cc, "localhost", sc);
    ck_assert(unit_run_until(loop, both_made, &k, DEADLINE));
    ck_assert_str_eq(info(k.c.t, WIRE_INFO_TLS_VERSION), "TLSv1.3");
    ck_assert_str_eq(info(k.s.t, WIRE_INFO_TLS_VERSION), "TLSv1.3");
    conn_finish(&k);
    wire_tls_config_unref(cc);
    wire_tls_config_unref(sc);
}
END_TEST

START_TEST(test_version_server_max_12)
{
    struct wire_error err = {0};
    struct wire_tls_config *cc = client_cfg();
    struct wire_tls_config *sc = server_cfg(certs.server_cert, certs.server_key);
    ck_assert_int_eq(wire_tls_config_set_max_version(sc, WIRE_TLS_1_2, &err), 0);
    struct conn k = {0};
    k.s.on_data = echo_data;
    k.c.on_made = send_user;
    k.c.user = "twelve";
    k.c.user_n = 6;
    conn_start(&k, cc, "localhost", sc);
    ck_assert(unit_run_until(loop, has_in, &k.c, DEADLINE));
    ck_assert_str_eq(rec_in(&k.c), "twelve");
    ck_assert_str_eq(info(k.c.t, WIRE_INFO_TLS_VERSION), "TLSv1.2");
    ck_assert_str_eq(info(k.s.t, WIRE_INFO_TLS_VERSION), "TLSv1.2");
    /* a TLS 1.2 suite name (ECDHE-ECDSA-...), not a TLS 1.3 one */
    ck_assert_contains(info(k.c.t, WIRE_INFO_TLS_CIPHER), "ECDHE-ECDSA-");
    conn_finish(&k);
    ck_assert(k.c.lost_null);
    ck_assert(k.s.lost_null);
    wire_tls_config_unref(cc);
    wire_tls_config_unref(sc);
}
END_TEST

/* The client can cap the version too. */
START_TEST(test_version_client_max_12)
{
    struct wire_error err = {0};
    struct wire_tls_config *cc = client_cfg();
    ck_assert_int_eq(wire_tls_config_set_max_version(cc, WIRE_TLS_1_2, &err), 0);
    struct wire_tls_config *sc = server_cfg(certs.server_cert, certs.server_key);
    struct conn k = {0};
    conn_start(&k, cc, "localhost", sc);
    ck_assert(unit_run_until(loop, both_made, &k, DEADLINE));
    ck_assert_str_eq(info(k.c.t, WIRE_INFO_TLS_VERSION), "TLSv1.2");
    ck_assert_str_eq(info(k.s.t, WIRE_INFO_TLS_VERSION), "TLSv1.2");
    conn_finish(&k);
    wire_tls_config_unref(cc);
    wire_tls_config_unref(sc);
}
END_TEST

START_TEST(test_version_no_overlap)
{
    struct wire_error err = {0};
    struct wire_tls_config *cc = client_cfg();
    ck_assert_int_eq(wire_tls_config_set_min_version(cc, WIRE_TLS_1_3, &err), 0);
    struct wire_tls_config *sc = server_cfg(certs.server_cert, certs.server_key);
    ck_assert_int_eq(wire_tls_config_set_max_version(sc, WIRE_TLS_1_2, &err), 0);
    struct conn k = {0};
    conn_start(&k, cc, "localhost", sc);
    expect_both_fail(&k);
    ck_assert_contains(k.s.lost_msg, "unsupported protocol");
    ck_assert_contains(k.c.lost_msg, "protocol version");
    conn_finish(&k);
    wire_tls_config_unref(cc);
    wire_tls_config_unref(sc);
}
END_TEST

/* ==== session resumption ==== */

/* One connection: the client writes a line, waits for the echo (so the
 * TLS 1.3 tickets that come after the handshake are read), closes.
 * Returns whether the client and the server saw a resumed session. */
static void
one_session(struct wire_tls_config *cc, const char *name,
            struct wire_tls_config *sc, char *c_resumed, char *s_resumed)
{
    struct conn k = {0};
    k.s.on_data = echo_data;
    k.c.on_made = send_user;
    k.c.user = "ticket, please";
    k.c.user_n = (int)strlen(k.c.user);
    conn_start(&k, cc, name, sc);
    ck_assert(unit_run_until(loop, has_in, &k.c, DEADLINE));
    ck_assert_str_eq(rec_in(&k.c), "ticket, please");
    snprintf(c_resumed, 8, "%s", info(k.c.t, WIRE_INFO_TLS_RESUMED));
    snprintf(s_resumed, 8, "%s", info(k.s.t, WIRE_INFO_TLS_RESUMED));
    conn_finish(&k);
    ck_assert(k.c.lost_null);
    ck_assert(k.s.lost_null);
}

static void
check_resumption(int max_version)
{
    struct wire_error err = {0};
    struct wire_tls_config *cc = client_cfg();
    struct wire_tls_config *sc = server_cfg(certs.server_cert, certs.server_key);
    ck_assert_int_eq(wire_tls_config_set_max_version(sc, max_version, &err), 0);
    char c1[8], s1[8], c2[8], s2[8], c3[8], s3[8];
    one_session(cc, "localhost", sc, c1, s1);
    one_session(cc, "localhost", sc, c2, s2);
    /* another name: a session of its own */
    one_session(cc, "127.0.0.1", sc, c3, s3);
    ck_assert_str_eq(c1, "0");
    ck_assert_str_eq(s1, "0");
    ck_assert_str_eq(c2, "1");
    ck_assert_str_eq(s2, "1");
    ck_assert_str_eq(c3, "0");
    ck_assert_str_eq(s3, "0");
    wire_tls_config_unref(cc);
    wire_tls_config_unref(sc);
}

START_TEST(test_resume_13)
{
    check_resumption(WIRE_TLS_1_3);
}
END_TEST

START_TEST(test_resume_12)
{
    check_resumption(WIRE_TLS_1_2);
}
END_TEST

/* A server without session tickets (TLS 1.3): nothing to resume with. */
START_TEST(test_no_tickets_no_resumption)
{
    struct wire_tls_config *cc = client_cfg();
    struct wire_tls_config *sc = server_cfg(certs.server_cert, certs.server_key);
    wire_tls_config_set_session_tickets(sc, false);
    char c1[8], s1[8], c2[8], s2[8];
    one_session(cc, "localhost", sc, c1, s1);
    one_session(cc, "localhost", sc, c2, s2);
    ck_assert_str_eq(c2, "0");
    ck_assert_str_eq(s2, "0");
    /* and back on: the next session leaves a ticket, the one after resumes */
    wire_tls_config_set_session_tickets(sc, true);
    one_session(cc, "localhost", sc, c1, s1);
    one_session(cc, "localhost", sc, c2, s2);
    ck_assert_str_eq(c2, "1");
    ck_assert_str_eq(s2, "1");
    wire_tls_config_unref(cc);
    wire_tls_config_unref(sc);
}
END_TEST

/* ==== timeouts ==== */

/* A TLS layer whose peer is a silent plain protocol: the handshake times
 * out (client: no ServerHello; server: no ClientHello). */
static void
check_handshake_timeout(bool server)
{
    struct wire_tls_config *cfg = server
        ? server_cfg(certs.server_cert, certs.server_key) : client_cfg();
    long timeout = unit_scale_ms(50);
    wire_tls_config_set_timeouts(cfg, (uint64_t)timeout, 0);
    struct rec_log up = {0}, silent = {0};
    struct wire_error err = {0};
    struct wire_protocol *layer =
        server ? wire_tls_server_layer_new(rec_new(&up), cfg, &err)
               : wire_tls_client_layer_new(rec_new(&up), cfg, "localhost", &err);
    ck_assert_msg(layer != NULL, "%s", err.message);
    long t0 = now_ms();
    ck_assert_int_eq(wire_mem_pair(loop, layer, rec_new(&silent), 0, NULL, NULL), 0);
    ck_assert(unit_run_until(loop, log_lost, &up, DEADLINE));
    long elapsed = now_ms() - t0;
    ck_assert_int_eq(up.made, 1);
    ck_assert_msg(up.lost_code == WIRE_ETIMEDOUT, "%s (%s)",
                  wire_err_name(up.lost_code), up.lost_msg);
    ck_assert_contains(up.lost_msg, "handshake");
    ck_assert_contains(up.lost_msg, "timed out");
    ck_assert_int_ge(elapsed, timeout - UNIT_TIMER_SLACK_MS);
    if (!server) /* the silent peer got the ClientHello (a handshake record) */
        ck_assert_int_eq((unsigned char)rec_in(&silent)[0], 0x16);
    /* the layer aborts the transport below: the silent peer loses it */
    ck_assert(unit_run_until(loop, log_lost, &silent, DEADLINE));
    ck_assert_int_eq(wire_loop_run_until(loop, &never, DEADLINE), 1);
    ck_assert_int_eq(unit_live_protocols, 0);
    rec_log_free(&up);
    rec_log_free(&silent);
    wire_tls_config_unref(cfg);
}

START_TEST(test_handshake_timeout_client)
{
    check_handshake_timeout(false);
}
END_TEST

START_TEST(test_handshake_timeout_server)
{
    check_handshake_timeout(true);
}
END_TEST

static bool
closing(void *t)
{
    return wire_transport_is_closing(t);
}

/* After a good handshake the client closes; the server's reading below
 * is paused, so its close_notify never comes.  The protocol above the
 * client layer gets its clean connection_lost at once (its close is
 * done); the layer keeps the transport below open for the peer's
 * close_notify, and closes it when the shutdown timeout has passed. */
START_TEST(test_shutdown_timeout)
{
    struct wire_tls_config *cc = client_cfg();
    long timeout = unit_scale_ms(100);
    wire_tls_config_set_timeouts(cc, 0, (uint64_t)timeout);
    struct wire_tls_config *sc = server_cfg(certs.server_cert, certs.server_key);
    struct conn k = {0};
    conn_start(&k, cc, "localhost", sc);
    ck_assert(unit_run_until(loop, both_made, &k, DEADLINE));
    struct wire_transport *below = wire_transport_ref(k.cb);
    ck_assert_int_eq(wire_transport_pause_reading(k.sb), 0);
    long t0 = now_ms();
    wire_transport_close(k.c.t);
    ck_assert(unit_run_until(loop, log_lost, &k.c, DEADLINE));
    ck_assert_msg(k.c.lost_null, "client: %s", k.c.lost_msg);
    /* still waiting for the peer's close_notify */
    ck_assert(!wire_transport_is_closing(below));
    ck_assert(unit_run_until(loop, closing, below, DEADLINE));
    long elapsed = now_ms() - t0;
    ck_assert_int_ge(elapsed, timeout - UNIT_TIMER_SLACK_MS);
    wire_transport_unref(below);
    ck_assert_int_eq(k.s.lost, 0);
    /* let the server read the close_notify and the end: it ends cleanly */
    ck_assert_int_eq(wire_transport_resume_reading(k.sb), 0);
    ck_assert(unit_run_until(loop, log_lost, &k.s, DEADLINE));
    ck_assert_int_eq(k.s.eof, 1);
    ck_assert_msg(k.s.lost_null, "server: %s", k.s.lost_msg);
    conn_finish(&k);
    wire_tls_config_unref(cc);
    wire_tls_config_unref(sc);
}
END_TEST

/* The same close with a peer that answers: close_notify both ways, no
 * waiting for the timeout (set to the default 5 s here). */
START_TEST(test_close_notify_both_ways)
{
    struct wire_tls_config *cc = client_cfg();
    struct wire_tls_config *sc = server_cfg(certs.server_cert, certs.server_key);
    struct conn k = {0};
    conn_start(&k, cc, "localhost", sc);
    ck_assert(unit_run_until(loop, both_made, &k, DEADLINE));
    struct wire_transport *below = wire_transport_ref(k.cb);
    long t0 = now_ms();
    wire_transport_close(k.c.t);
    ck_assert(unit_run_until(loop, both_lost, &k, DEADLINE));
    ck_assert(unit_run_until(loop, closing, below, DEADLINE));
    ck_assert_int_lt(now_ms() - t0, WIRE_TLS_DEFAULT_SHUTDOWN_TIMEOUT_MS);
    wire_transport_unref(below);
    ck_assert(k.c.lost_null);
    ck_assert(k.s.lost_null);
    ck_assert_int_eq(k.s.eof, 1); /* the close_notify is the server's EOF */
    conn_finish(&k);
    wire_tls_config_unref(cc);
    wire_tls_config_unref(sc);
}
END_TEST

/* ==== EOF: truncation and half-close ==== */

START_TEST(test_truncation)
{
    struct wire_tls_config *cc = client_cfg();
    struct wire_tls_config *sc = server_cfg(certs.server_cert, certs.server_key);
    struct conn k = {0};
    conn_start(&k, cc, "localhost", sc);
    ck_assert(unit_run_until(loop, both_made, &k, DEADLINE));
    /* the server's transport ends below its TLS: no close_notify */
    ck_assert_int_eq(wire_transport_write_eof(k.sb), 0);
    ck_assert(unit_run_until(loop, log_lost, &k.c, DEADLINE));
    ck_assert_msg(k.c.lost_code == WIRE_ETLS, "%s (%s)",
                  wire_err_name(k.c.lost_code), k.c.lost_msg);
    ck_assert_contains(k.c.lost_msg, "truncat");
    ck_assert_contains(k.c.lost_msg, "close_notify");
    ck_assert_int_eq(k.c.eof, 0); /* not mistaken for a clean EOF */
    conn_finish(&k);
    wire_tls_config_unref(cc);
    wire_tls_config_unref(sc);
}
END_TEST

static void
halfclose_client_made(struct rec_log *log, struct wire_transport *t)
{
    ck_assert(wire_transport_can_write_eof(t));
    ck_assert_int_eq(wire_transport_write(t, "question", 8), 0);
    ck_assert_int_eq(wire_transport_write_eof(t), 0);
    ck_assert_int_eq(wire_transport_write(t, "more", 4), WIRE_ECLOSED);
    (void)log;
}

static void
halfclose_server_eof(struct rec_log *log, struct wire_transport *t)
{
    /* everything the client sent came before its EOF */
    ck_assert_str_eq(rec_in(log), "question");
    ck_assert_int_eq(wire_transport_write(t, "answer", 6), 0);
    wire_transport_close(t);
}

START_TEST(test_half_close)
{
    struct wire_tls_config *cc = client_cfg();
    struct wire_tls_config *sc = server_cfg(certs.server_cert, certs.server_key);
    struct conn k = {0};
    k.c.on_made = halfclose_client_made;
    k.s.eof_keep = true;
    k.s.on_eof = halfclose_server_eof;
    conn_start(&k, cc, "localhost", sc);
    ck_assert(unit_run_until(loop, both_lost, &k, DEADLINE));
    ck_assert_int_eq(k.s.eof, 1);
    ck_assert_str_eq(rec_in(&k.s), "question");
    /* the writer still reads after its write_eof */
    ck_assert_str_eq(rec_in(&k.c), "answer");
    ck_assert_int_eq(k.c.eof, 1);
    ck_assert_msg(k.c.lost_null, "client: %s", k.c.lost_msg);
    ck_assert_msg(k.s.lost_null, "server: %s", k.s.lost_msg);
    conn_finish(&k);
    wire_tls_config_unref(cc);
    wire_tls_config_unref(sc);
}
END_TEST

/* ==== junk and cut-off handshakes ==== */

static const char http_get[] = "GET / HTTP/1.1\r\n\r\n";

START_TEST(test_junk_client_hello)
{
    struct wire_tls_config *sc = server_cfg(certs.server_cert, certs.server_key);
    struct rec_log up = {0}, junk = {0};
    junk.on_made = send_user;
    junk.user = (void *)http_get;
    junk.user_n = (int)strlen(http_get);
    struct wire_error err = {0};
    struct wire_protocol *layer = wire_tls_server_layer_new(rec_new(&up), sc, &err);
    ck_assert_ptr_nonnull(layer);
    ck_assert_int_eq(wire_mem_pair(loop, rec_new(&junk), layer, 0, NULL, NULL), 0);
    ck_assert(unit_run_until(loop, log_lost, &up, DEADLINE));
    ck_assert_int_eq(up.made, 1);
    ck_assert_msg(up.lost_code == WIRE_ETLS, "%s (%s)",
                  wire_err_name(up.lost_code), up.lost_msg);
    ck_assert_contains(up.lost_msg, "TLS handshake failed");
    ck_assert_contains(up.lost_msg, "http request");
    ck_assert(unit_run_until(loop, log_lost, &junk, DEADLINE));
    ck_assert_int_eq(wire_loop_run_until(loop, &never, DEADLINE), 1);
    ck_assert_int_eq(unit_live_protocols, 0);
    rec_log_free(&up);
    rec_log_free(&junk);
    wire_tls_config_unref(sc);
}
END_TEST

/* Capture a real ClientHello: a client layer over a memory pair whose
 * other end records it. */
static size_t
capture_client_hello(unsigned char *buf, size_t len)
{
    struct wire_tls_config *cc = client_cfg();
    struct rec_log up = {0}, rec = {0};
    struct wire_error err = {0};
    struct wire_protocol *layer =
        wire_tls_client_layer_new(rec_new(&up), cc, "localhost", &err);
    ck_assert_ptr_nonnull(layer);
    ck_assert_int_eq(wire_mem_pair(loop, layer, rec_new(&rec), 0, NULL, NULL), 0);
    ck_assert(unit_run_until(loop, log_made, &rec, DEADLINE));
    while (rec.in_len < len && !rec.lost_flag)
        ck_assert(wire_loop_run_once(loop, true) >= 0);
    ck_assert_uint_ge(rec.in_len, len);
    memcpy(buf, rec.in, len);
    /* the peer goes away in the middle of the handshake */
    wire_transport_close(rec.t);
    ck_assert(unit_run_until(loop, log_lost, &up, DEADLINE));
    ck_assert_int_eq(up.lost_code, WIRE_ETLS);
    ck_assert_contains(up.lost_msg, "the peer closed the connection");
    ck_assert(unit_run_until(loop, log_lost, &rec, DEADLINE));
    rec_log_free(&up);
    rec_log_free(&rec);
    wire_tls_config_unref(cc);
    return len;
}

#define NSRV 8
struct srv {
    struct rec_log logs[NSRV];
    int n;
};

static struct wire_protocol *
srv_factory(void *arg)
{
    struct srv *s = arg;
    ck_assert_int_lt(s->n, NSRV);
    struct rec_log *l = &s->logs[s->n++];
    l->on_data = echo_data;
    return rec_new(l);
}

static bool
srv_lost_n(void *arg)
{
    struct srv *s = arg;
    int n = 0;
    for (int i = 0; i < NSRV; i++)
        n += s->logs[i].lost;
    return n >= s->n && s->n > 0;
}

static void
srv_free(struct srv *s)
{
    for (int i = 0; i < NSRV; i++)
        rec_log_free(&s->logs[i]);
}

static struct wire_server *
tls_listen_cert(struct srv *s, const char *cert, const char *key, char *port,
                size_t len)
{
    char ep[1024];
    snprintf(ep, sizeof(ep), "tls://127.0.0.1:0?cert=%s&key=%s", cert, key);
    struct wire_server *server = NULL;
    struct wire_error err = {0};
    int rc = wire_listen(loop, ep, srv_factory, s, NULL, &server, &err);
    ck_assert_msg(rc == 0, "listen %s: %s", ep, err.message);
    const char *colon = strrchr(wire_server_address(server), ':');
    ck_assert_ptr_nonnull(colon);
    snprintf(port, len, "%s", colon + 1);
    return server;
}

static struct wire_server *
tls_listen(struct srv *s, char *port, size_t len)
{
    return tls_listen_cert(s, certs.server_cert, certs.server_key, port, len);
}

/* A plain TCP client that writes `data` and closes (or waits to be
 * dropped); returns when the server's protocol for it has lost. */
static void
plain_client(struct srv *s, const char *port, const void *data, size_t len,
             bool close_after)
{
    struct rec_log cl = {0};
    cl.on_made = close_after ? send_user_close : send_user;
    cl.user = (void *)data;
    cl.user_n = (int)len;
    char ep[64];
    snprintf(ep, sizeof(ep), "tcp://127.0.0.1:%s", port);
    struct wire_error err = {0};
    int before = s->n;
    ck_assert_int_eq(wire_connect(loop, ep, rec_new(&cl), NULL, NULL, NULL, &err), 0);
    ck_assert(unit_run_until(loop, log_lost, &cl, DEADLINE));
    ck_assert(unit_run_until(loop, srv_lost_n, s, DEADLINE));
    ck_assert_int_eq(s->n, before + 1);
    rec_log_free(&cl);
}

START_TEST(test_listener_survives_junk)
{
    unsigned char hello[20];
    capture_client_hello(hello, sizeof(hello));
    struct srv s = {0};
    char port[16];
    struct wire_server *server = tls_listen(&s, port, sizeof(port));

    /* HTTP to a TLS port */
    plain_client(&s, port, http_get, strlen(http_get), false);
    ck_assert_int_eq(s.logs[0].made, 1);
    ck_assert_int_eq(s.logs[0].lost_code, WIRE_ETLS);
    ck_assert_contains(s.logs[0].lost_msg, "http request");
    /* the first 20 bytes of a ClientHello, then the end */
    plain_client(&s, port, hello, sizeof(hello), true);
    ck_assert_int_eq(s.logs[1].made, 1);
    ck_assert_int_eq(s.logs[1].lost_code, WIRE_ETLS);
    ck_assert_contains(s.logs[1].lost_msg, "the peer closed the connection");

    /* a proper client is still served */
    struct rec_log cl = {0};
    cl.on_made = send_user;
    cl.user = "still there?";
    cl.user_n = (int)strlen(cl.user);
    char ep[1024];
    snprintf(ep, sizeof(ep), "tls://127.0.0.1:%s?ca=%s&sni=localhost", port,
             certs.ca);
    struct wire_error err = {0};
    ck_assert_int_eq(wire_connect(loop, ep, rec_new(&cl), NULL, NULL, NULL, &err), 0);
    ck_assert(unit_run_until(loop, has_in, &cl, DEADLINE));
    ck_assert_str_eq(rec_in(&cl), "still there?");
    ck_assert_int_eq(s.n, 3);
    ck_assert_str_eq(info(s.logs[2].t, WIRE_INFO_TLS_SNI), "localhost");
    ck_assert_uint_eq(wire_server_connection_count(server), 1);

    /* get_info keys the TLS layer does not know go below (TCP) */
    char peer[128];
    ck_assert_int_gt(wire_transport_get_info(cl.t, WIRE_INFO_PEER, peer,
                                             sizeof(peer)), 0);
    ck_assert_contains(peer, "127.0.0.1:");
    ck_assert_contains(peer, port);
    int fd = -1;
    ck_assert_int_eq(wire_transport_get_info(cl.t, WIRE_INFO_FD, &fd, sizeof(fd)),
                     (int)sizeof(fd));
    ck_assert_int_ge(fd, 0);
    ck_assert_str_eq(info(cl.t, WIRE_INFO_NAME), "tls");

    wire_transport_close(cl.t);
    ck_assert(unit_run_until(loop, log_lost, &cl, DEADLINE));
    ck_assert(unit_run_until(loop, srv_lost_n, &s, DEADLINE));
    ck_assert_msg(cl.lost_null, "client: %s", cl.lost_msg);
    ck_assert_msg(s.logs[2].lost_null, "server: %s", s.logs[2].lost_msg);
    wire_server_free(server);
    ck_assert_int_eq(wire_loop_run_until(loop, &never, DEADLINE), 1);
    ck_assert_int_eq(unit_live_protocols, 0);
    rec_log_free(&cl);
    srv_free(&s);
}
END_TEST

/* The same failure over TCP, through tls:// endpoints: each side's
 * protocol hears why. */
START_TEST(test_unknown_ca_tcp)
{
    struct srv s = {0};
    char port[16];
    struct wire_server *server =
        tls_listen_cert(&s, certs.rogue_cert, certs.rogue_key, port, sizeof(port));
    struct rec_log cl = {0};
    char ep[1024];
    snprintf(ep, sizeof(ep), "tls://127.0.0.1:%s?ca=%s&sni=localhost", port,
             certs.ca);
    struct wire_error err = {0};
    ck_assert_int_eq(wire_connect(loop, ep, rec_new(&cl), NULL, NULL, NULL, &err), 0);
    ck_assert(unit_run_until(loop, log_lost, &cl, DEADLINE));
    ck_assert(unit_run_until(loop, srv_lost_n, &s, DEADLINE));
    ck_assert_int_eq(cl.made, 1);
    ck_assert_msg(cl.lost_code == WIRE_ETLS, "client: %s (%s)",
                  wire_err_name(cl.lost_code), cl.lost_msg);
    ck_assert_contains(cl.lost_msg, "unable to get local issuer certificate");
    ck_assert_int_eq(s.n, 1);
    ck_assert_msg(s.logs[0].lost_code == WIRE_ETLS, "server: %s (%s)",
                  wire_err_name(s.logs[0].lost_code), s.logs[0].lost_msg);
    ck_assert_contains(s.logs[0].lost_msg, "unknown ca");
    wire_server_free(server);
    ck_assert_int_eq(wire_loop_run_until(loop, &never, DEADLINE), 1);
    ck_assert_int_eq(unit_live_protocols, 0);
    rec_log_free(&cl);
    srv_free(&s);
}
END_TEST

/* ==== get_info ==== */

START_TEST(test_info)
{
    struct wire_tls_config *cc = client_cfg();
    struct wire_tls_config *sc = server_cfg(certs.server_cert, certs.server_key);
    struct conn k = {0};
    conn_start(&k, cc, "localhost", sc);
    ck_assert(unit_run_until(loop, both_made, &k, DEADLINE));
    ck_assert_str_eq(info(k.c.t, WIRE_INFO_TLS_VERSION), "TLSv1.3");
    ck_assert_str_eq(info(k.s.t, WIRE_INFO_TLS_VERSION), "TLSv1.3");
    const char *cipher = info(k.c.t, WIRE_INFO_TLS_CIPHER);
    ck_assert_msg(strncmp(cipher, "TLS_", 4) == 0, "cipher %s", cipher);
    ck_assert_str_eq(info(k.s.t, WIRE_INFO_TLS_CIPHER), cipher);
    ck_assert_str_eq(info(k.s.t, WIRE_INFO_TLS_SNI), "localhost");
    ck_assert_str_eq(info(k.c.t, WIRE_INFO_TLS_ALPN), "");
    char pem[4096];
    snprintf(pem, sizeof(pem), "%s", info(k.c.t, WIRE_INFO_TLS_PEER_CERT));
    ck_assert_msg(strncmp(pem, "-----BEGIN CERTIFICATE-----", 27) == 0,
                  "peer cert: %.40s", pem);
    ck_assert_contains(pem, "-----END CERTIFICATE-----");
    ck_assert_contains(info(k.c.t, WIRE_INFO_TLS_PEER_SUBJECT), "CN=localhost");
    /* no client certificate: empty */
    ck_assert_str_eq(info(k.s.t, WIRE_INFO_TLS_PEER_CERT), "");
    ck_assert_str_eq(info(k.s.t, WIRE_INFO_TLS_PEER_SUBJECT), "");
    ck_assert_str_eq(info(k.c.t, WIRE_INFO_TLS_RESUMED), "0");
    /* a truncated answer still reports the full length */
    char small[8];
    int n = wire_transport_get_info(k.c.t, WIRE_INFO_TLS_PEER_CERT, small,
                                    sizeof(small));
    ck_assert_int_eq(n, (int)strlen(pem));
    ck_assert_str_eq(small, "-----BE");
    /* the layer's own name, and a key only the pair below knows */
    ck_assert_str_eq(info(k.c.t, WIRE_INFO_NAME), "tls");
    char below[64];
    int rb = wire_transport_get_info(k.cb, WIRE_INFO_PEER, below, sizeof(below));
    char above[64];
    int ra = wire_transport_get_info(k.c.t, WIRE_INFO_PEER, above, sizeof(above));
    ck_assert_int_eq(ra, rb);
    if (rb >= 0)
        ck_assert_str_eq(above, below);
    conn_finish(&k);
    wire_tls_config_unref(cc);
    wire_tls_config_unref(sc);
}
END_TEST

/* ==== configuration errors ==== */

START_TEST(test_config_file_errors)
{
    struct wire_error err = {0};
    struct wire_tls_config *c = wire_tls_config_new(true, &err);
    ck_assert_ptr_nonnull(c);
    char missing[400];
    snprintf(missing, sizeof(missing), "%s/nope.pem", certs.dir);

    int rc = wire_tls_config_set_cert(c, missing, certs.server_key, &err);
    ck_assert_int_eq(rc, WIRE_ETLS);
    ck_assert_int_eq(err.code, WIRE_ETLS);
    ck_assert_contains(err.message, "certificate");
    ck_assert_contains(err.message, missing);
    wire_error_clear(&err);

    rc = wire_tls_config_set_cert(c, certs.server_cert, missing, &err);
    ck_assert_int_eq(rc, WIRE_ETLS);
    ck_assert_contains(err.message, "private key");
    ck_assert_contains(err.message, missing);
    wire_error_clear(&err);

    rc = wire_tls_config_set_cert(c, certs.server_cert, certs.other_key, &err);
    ck_assert_int_eq(rc, WIRE_ETLS);
    ck_assert_contains(err.message, "mismatch");
    ck_assert_contains(err.message, certs.other_key);
    wire_error_clear(&err);

    rc = wire_tls_config_set_ca(c, missing, NULL, &err);
    ck_assert_int_eq(rc, WIRE_ETLS);
    ck_assert_contains(err.message, "CA");
    ck_assert_contains(err.message, missing);
    wire_error_clear(&err);

    /* a PEM file that is not a certificate */
    rc = wire_tls_config_set_cert(c, certs.server_key, certs.server_key, &err);
    ck_assert_int_eq(rc, WIRE_ETLS);
    ck_assert_contains(err.message, certs.server_key);
    wire_error_clear(&err);

    /* after the errors, the good files still load */
    ck_assert_int_eq(wire_tls_config_set_cert(c, certs.server_cert,
                                              certs.server_key, &err), 0);
    ck_assert_int_eq(wire_tls_config_set_ca(c, certs.ca, NULL, &err), 0);
    wire_tls_config_unref(c);
}
END_TEST

START_TEST(test_config_value_errors)
{
    struct wire_error err = {0};
    struct wire_tls_config *c = wire_tls_config_new(false, &err);
    ck_assert_ptr_nonnull(c);
    ck_assert_int_eq(wire_tls_config_set_min_version(c, 0x0301, &err), WIRE_EINVAL);
    ck_assert_contains(err.message, "1.2 or 1.3");
    wire_error_clear(&err);
    ck_assert_int_eq(wire_tls_config_set_max_version(c, 0x0302, &err), WIRE_EINVAL);
    ck_assert_contains(err.message, "1.2 or 1.3");
    wire_error_clear(&err);
    ck_assert_int_eq(wire_tls_config_set_alpn(c, "h2,,http/1.1", &err), WIRE_EINVAL);
    ck_assert_contains(err.message, "h2,,http/1.1");
    wire_error_clear(&err);
    ck_assert_int_eq(wire_tls_config_set_alpn(c, "", &err), WIRE_EINVAL);
    wire_error_clear(&err);
    ck_assert_int_eq(wire_tls_config_set_ciphers(c, "NO-SUCH-CIPHER", NULL, &err),
                     WIRE_ETLS);
    ck_assert_contains(err.message, "NO-SUCH-CIPHER");
    wire_error_clear(&err);
    ck_assert_int_eq(wire_tls_config_set_ciphers(c, NULL, "TLS_NO_SUCH", &err),
                     WIRE_ETLS);
    ck_assert_contains(err.message, "TLS_NO_SUCH");
    wire_error_clear(&err);

    /* a client configuration given to a server layer: refused, and the
     * protocol above (owned by the layer from the call on) destroyed */
    struct rec_log up = {0};
    ck_assert_ptr_null(wire_tls_server_layer_new(rec_new(&up), c, &err));
    ck_assert_int_eq(err.code, WIRE_EINVAL);
    ck_assert_contains(err.message, "client configuration");
    ck_assert_int_eq(up.destroyed, 1);
    ck_assert_int_eq(up.made, 0);
    ck_assert_int_eq(unit_live_protocols, 0);
    wire_error_clear(&err);
    rec_log_free(&up);
    wire_tls_config_unref(c);
}
END_TEST

/* The transport below closes cleanly before the handshake is done: the
 * protocol above never had a working connection, so its end is an error
 * (WIRE_EINCOMPLETE), not a clean close. */
START_TEST(test_close_below_during_handshake)
{
    struct wire_tls_config *sc = server_cfg(certs.server_cert, certs.server_key);
    struct rec_log up = {0};
    struct wire_error err = {0};
    struct wire_protocol *layer = wire_tls_server_layer_new(rec_new(&up), sc, &err);
    ck_assert_msg(layer != NULL, "%s", err.message);
    struct wire_transport *st = wire_string_transport_new(layer);
    ck_assert_ptr_nonnull(st);
    wire_transport_close(st);
    while (wire_string_transport_step(st) > 0)
        ;
    ck_assert_int_eq(up.lost, 1);
    ck_assert(!up.lost_null);
    ck_assert_int_eq(up.lost_code, WIRE_EINCOMPLETE);
    ck_assert_contains(up.lost_msg, "handshake");
    wire_string_transport_free(st);
    ck_assert_int_eq(unit_live_protocols, 0);
    rec_log_free(&up);
    wire_tls_config_unref(sc);
}
END_TEST

/* A tls:// connect whose layer cannot be made (a server name longer than
 * SNI allows) fails at once, and the protocol stays the caller's, as
 * wire_connect() promises: nothing destroyed it. */
START_TEST(test_connect_layer_error_keeps_protocol)
{
    struct rec_log log = {0};
    struct wire_protocol *p = rec_new(&log);
    char ep[1200];
    char name[301];
    memset(name, 'a', sizeof(name) - 1);
    name[sizeof(name) - 1] = '\0';
    snprintf(ep, sizeof(ep), "tls://127.0.0.1:9?ca=%s&sni=%s", certs.ca, name);
    struct wire_error err = {0};
    int rc = wire_connect(loop, ep, p, NULL, NULL, NULL, &err);
    ck_assert_int_lt(rc, 0);
    ck_assert_contains(err.message, "server name");
    wire_error_clear(&err);
    ck_assert_int_eq(log.destroyed, 0);
    ck_assert_int_eq(unit_live_protocols, 1);
    wire_protocol_destroy(p);
    ck_assert_int_eq(unit_live_protocols, 0);
    rec_log_free(&log);
}
END_TEST

START_TEST(test_config_from_params)
{
    struct wire_error err = {0};
    const char *verify_bad[] = {"verify", "maybe", NULL};
    ck_assert_ptr_null(wire_tls_config_from_params(false, verify_bad, &err));
    ck_assert_int_eq(err.code, WIRE_EENDPOINT);
    ck_assert_contains(err.message, "verify=maybe");
    ck_assert_contains(err.message, "yes or no");
    wire_error_clear(&err);

    const char *min_bad[] = {"min", "1.0", NULL};
    ck_assert_ptr_null(wire_tls_config_from_params(false, min_bad, &err));
    ck_assert_int_eq(err.code, WIRE_EENDPOINT);
    ck_assert_contains(err.message, "min=1.0");
    ck_assert_contains(err.message, "1.2 or 1.3");
    wire_error_clear(&err);

    const char *unknown[] = {"ca", certs.ca, "verfy", "no", NULL};
    ck_assert_ptr_null(wire_tls_config_from_params(false, unknown, &err));
    ck_assert_int_eq(err.code, WIRE_EENDPOINT);
    ck_assert_contains(err.message, "'verfy'");
    wire_error_clear(&err);

    char missing[400];
    snprintf(missing, sizeof(missing), "%s/nope.pem", certs.dir);
    const char *ca_bad[] = {"ca", missing, NULL};
    ck_assert_ptr_null(wire_tls_config_from_params(false, ca_bad, &err));
    ck_assert_int_eq(err.code, WIRE_ETLS);
    ck_assert_contains(err.message, missing);
    wire_error_clear(&err);

    const char *no_cert[] = {"verify", "no", NULL};
    ck_assert_ptr_null(wire_tls_config_from_params(true, no_cert, &err));
    ck_assert_contains(err.message, "certificate is needed");
    wire_error_clear(&err);

    const char *alpn_bad[] = {"alpn", ",h2", NULL};
    ck_assert_ptr_null(wire_tls_config_from_params(false, alpn_bad, &err));
    ck_assert_int_eq(err.code, WIRE_EINVAL);
    ck_assert_contains(err.message, "ALPN");
    wire_error_clear(&err);

    /* every key at once, sni included (the tls:// endpoint passes it) */
    const char *good[] = {"ca", certs.ca, "verify", "yes", "alpn", "h2,http/1.1",
                          "min", "1.3", "sni", "localhost", NULL};
    struct wire_tls_config *c = wire_tls_config_from_params(false, good, &err);
    ck_assert_msg(c != NULL, "%s", err.message);
    wire_tls_config_unref(c);
    const char *server[] = {"cert", certs.server_cert, "key", certs.server_key,
                            "verify", "on", "ca", certs.ca, NULL};
    c = wire_tls_config_from_params(true, server, &err);
    ck_assert_msg(c != NULL, "%s", err.message);
    wire_tls_config_unref(c);

    /* the same through an endpoint: an unknown parameter is refused
     * before anything connects, and the protocol stays the caller's */
    struct rec_log up = {0};
    struct wire_protocol *p = rec_new(&up);
    char ep[600];
    snprintf(ep, sizeof(ep), "tls://127.0.0.1:1?ca=%s&verify=maybe", certs.ca);
    ck_assert_int_lt(wire_connect(loop, ep, p, NULL, NULL, NULL, &err), 0);
    ck_assert_contains(err.message, "verify=maybe");
    wire_error_clear(&err);
    snprintf(ep, sizeof(ep), "tls://127.0.0.1:1?ca=%s&verfy=no", certs.ca);
    ck_assert_int_lt(wire_connect(loop, ep, p, NULL, NULL, NULL, &err), 0);
    ck_assert_contains(err.message, "verfy");
    wire_error_clear(&err);
    wire_protocol_destroy(p);
    ck_assert_int_eq(unit_live_protocols, 0);
    rec_log_free(&up);
}
END_TEST

/* ==== renegotiation, asked for by a raw OpenSSL peer ==== */

/* A protocol that speaks TLS 1.2 itself, with OpenSSL over memory BIOs,
 * and asks for a renegotiation once its handshake is done. */
struct raw_state {
    SSL_CTX *ctx;
    SSL *ssl;
    BIO *rb, *wb;
    bool handshaked, reneg;
    struct wire_transport *t;
    char error[256];
    volatile bool failed, lost;
};

struct raw {
    struct wire_protocol base;
    struct raw_state *st;
};

static void
raw_flush(struct raw_state *st)
{
    char *p = NULL;
    long n = BIO_get_mem_data(st->wb, &p);
    if (n > 0 && st->t != NULL)
        (void)wire_transport_write(st->t, p, (size_t)n);
    (void)BIO_reset(st->wb);
}

static void
raw_error(struct raw_state *st)
{
    unsigned long e = ERR_get_error();
    snprintf(st->error, sizeof(st->error), "%s",
             e != 0 && ERR_reason_error_string(e) != NULL
                 ? ERR_reason_error_string(e) : "unknown");
    ERR_clear_error();
    st->failed = true;
}

static void
raw_step(struct raw_state *st)
{
    ERR_clear_error();
    if (!st->handshaked) {
        int r = SSL_do_handshake(st->ssl);
        if (r == 1) {
            st->handshaked = true;
        } else {
            int e = SSL_get_error(st->ssl, r);
            if (e != SSL_ERROR_WANT_READ && e != SSL_ERROR_WANT_WRITE)
                raw_error(st);
            raw_flush(st);
            return;
        }
    }
    if (!st->reneg) {
        st->reneg = true;
        ck_assert_int_eq(SSL_renegotiate(st->ssl), 1);
        (void)SSL_do_handshake(st->ssl); /* HelloRequest or ClientHello */
        ERR_clear_error();
        raw_flush(st);
    }
    char buf[4096];
    for (;;) {
        int n = SSL_read(st->ssl, buf, sizeof(buf));
        if (n > 0)
            continue;
        int e = SSL_get_error(st->ssl, n);
        if (e != SSL_ERROR_WANT_READ && e != SSL_ERROR_WANT_WRITE)
            raw_error(st);
        break;
    }
    raw_flush(st);
}

static void
raw_made(struct wire_protocol *p, struct wire_transport *t)
{
    struct raw_state *st = ((struct raw *)p)->st;
    st->t = t;
    if (!SSL_is_server(st->ssl))
        raw_step(st);
}

static void
raw_data(struct wire_protocol *p, const void *data, size_t len)
{
    struct raw_state *st = ((struct raw *)p)->st;
    ck_assert_int_eq(BIO_write(st->rb, data, (int)len), (int)len);
    if (!st->failed)
        raw_step(st);
}

static void
raw_lost(struct wire_protocol *p, const struct wire_error *err)
{
    (void)err;
    struct raw_state *st = ((struct raw *)p)->st;
    st->t = NULL;
    st->lost = true;
}

static void
raw_destroy(struct wire_protocol *p)
{
    unit_live_protocols--;
    free(p);
}

static const struct wire_protocol_ops raw_ops = {
    .connection_made = raw_made,
    .data_received = raw_data,
    .connection_lost = raw_lost,
    .destroy = raw_destroy,
};

static struct wire_protocol *
raw_new(struct raw_state *st, bool server)
{
    st->ctx = SSL_CTX_new(server ? TLS_server_method() : TLS_client_method());
    ck_assert_ptr_nonnull(st->ctx);
    SSL_CTX_set_max_proto_version(st->ctx, TLS1_2_VERSION);
    if (server) {
        ck_assert_int_eq(SSL_CTX_use_certificate_chain_file(st->ctx,
                                                            certs.server_cert), 1);
        ck_assert_int_eq(SSL_CTX_use_PrivateKey_file(st->ctx, certs.server_key,
                                                     SSL_FILETYPE_PEM), 1);
    }
    st->ssl = SSL_new(st->ctx);
    st->rb = BIO_new(BIO_s_mem());
    st->wb = BIO_new(BIO_s_mem());
    ck_assert(st->ssl != NULL && st->rb != NULL && st->wb != NULL);
    BIO_set_mem_eof_return(st->rb, -1);
    SSL_set_bio(st->ssl, st->rb, st->wb);
    if (server)
        SSL_set_accept_state(st->ssl);
    else
        SSL_set_connect_state(st->ssl);
    struct raw *r = calloc(1, sizeof(*r));
    ck_assert_ptr_nonnull(r);
    wire_protocol_init(&r->base, &raw_ops);
    r->st = st;
    unit_live_protocols++;
    return &r->base;
}

static void
raw_free(struct raw_state *st)
{
    SSL_free(st->ssl);
    SSL_CTX_free(st->ctx);
}

static bool
raw_lost_and_logged(void *arg)
{
    struct raw_state *st = ((struct raw_state **)arg)[0];
    struct rec_log *l = ((struct rec_log **)arg)[1];
    return st->lost && l->lost_flag;
}

/* The raw peer is the server (a HelloRequest to our client layer) or the
 * client (a new ClientHello to our server layer). */
static void
check_renegotiation(bool raw_is_server)
{
    struct wire_tls_config *cfg =
        raw_is_server ? client_cfg() : server_cfg(certs.server_cert, certs.server_key);
    struct raw_state st = {0};
    struct rec_log up = {0};
    struct wire_error err = {0};
    struct wire_protocol *layer =
        raw_is_server ? wire_tls_client_layer_new(rec_new(&up), cfg, "localhost", &err)
                      : wire_tls_server_layer_new(rec_new(&up), cfg, &err);
    ck_assert_msg(layer != NULL, "%s", err.message);
    struct wire_protocol *raw = raw_new(&st, raw_is_server);
    ck_assert_int_eq(wire_mem_pair(loop, layer, raw, 0, NULL, NULL), 0);
    void *both[2] = {&st, &up};
    ck_assert(unit_run_until(loop, raw_lost_and_logged, both, DEADLINE));
    ck_assert(st.handshaked);
    ck_assert(st.reneg);
    /* the layer started its protocol (the first handshake was fine) */
    ck_assert_int_eq(up.made, 1);
    /* the raw peer was told no */
    ck_assert(st.failed);
    ck_assert_contains(st.error, "no renegotiation");
    /* and the connection ended with a TLS error */
    ck_assert_msg(up.lost_code == WIRE_ETLS, "%s (%s)",
                  wire_err_name(up.lost_code), up.lost_msg);
    ck_assert_contains(up.lost_msg, "handshake failure");
    ck_assert_int_eq(wire_loop_run_until(loop, &never, DEADLINE), 1);
    ck_assert_int_eq(unit_live_protocols, 0);
    rec_log_free(&up);
    raw_free(&st);
    wire_tls_config_unref(cfg);
}

START_TEST(test_renegotiation_refused_client)
{
    check_renegotiation(true);
}
END_TEST

START_TEST(test_renegotiation_refused_server)
{
    check_renegotiation(false);
}
END_TEST

Suite *
tls_suite(void)
{
    Suite *s = suite_create("tls");
    TCase *tc = tls_tcase(s, "verify");
    tcase_add_test(tc, test_unknown_ca);
    tcase_add_test(tc, test_expired);
    tcase_add_test(tc, test_hostname_mismatch);
    tcase_add_test(tc, test_ip_match);
    tcase_add_test(tc, test_ip_mismatch);
    tcase_add_test(tc, test_verify_off);
    tcase_add_test(tc, test_unknown_ca_tcp);
    tc = tls_tcase(s, "mtls");
    tcase_add_test(tc, test_mtls_no_client_cert);
    tcase_add_test(tc, test_mtls_client_cert);
    tcase_add_test(tc, test_mtls_rogue_client_cert);
    tc = tls_tcase(s, "negotiation");
    tcase_add_test(tc, test_alpn_common);
    tcase_add_test(tc, test_alpn_server_order);
    tcase_add_test(tc, test_alpn_no_overlap);
    tcase_add_test(tc, test_alpn_one_side);
    tcase_add_test(tc, test_version_default_13);
    tcase_add_test(tc, test_version_server_max_12);
    tcase_add_test(tc, test_version_client_max_12);
    tcase_add_test(tc, test_version_no_overlap);
    tcase_add_test(tc, test_resume_13);
    tcase_add_test(tc, test_no_tickets_no_resumption);
    tcase_add_test(tc, test_resume_12);
    tc = tls_tcase(s, "timeouts");
    tcase_add_test(tc, test_handshake_timeout_client);
    tcase_add_test(tc, test_handshake_timeout_server);
    tcase_add_test(tc, test_shutdown_timeout);
    tcase_add_test(tc, test_close_notify_both_ways);
    tc = tls_tcase(s, "eof");
    tcase_add_test(tc, test_truncation);
    tcase_add_test(tc, test_half_close);
    tc = tls_tcase(s, "junk");
    tcase_add_test(tc, test_junk_client_hello);
    tcase_add_test(tc, test_listener_survives_junk);
    tc = tls_tcase(s, "info");
    tcase_add_test(tc, test_info);
    tc = tls_tcase(s, "config");
    tcase_add_test(tc, test_config_file_errors);
    tcase_add_test(tc, test_config_value_errors);
    tcase_add_test(tc, test_config_from_params);
    tcase_add_test(tc, test_connect_layer_error_keeps_protocol);
    tcase_add_test(tc, test_close_below_during_handshake);
    tc = tls_tcase(s, "renegotiation");
    tcase_add_test(tc, test_renegotiation_refused_client);
    tcase_add_test(tc, test_renegotiation_refused_server);
    return s;
}
