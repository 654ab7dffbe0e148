/*
 * tls_bulk_send: the sending half of the TLS bulk throughput benchmark,
 * the same for every receiver.  It connects to 127.0.0.1:PORT, does a
 * TLS 1.3 handshake (TLS_AES_128_GCM_SHA256, X25519: peer_tls.h), writes
 * BYTES bytes (default 1 GiB) of plaintext in 256 KiB blocking SSL_write
 * calls (OpenSSL cuts them into 16 KiB records), sends close_notify and
 * waits for the receiver to close (its close_notify or the end of the
 * connection), so that no reset cuts the receiver short.  The receiver
 * under test (peer_tls_bulk_blocking or libwire's wire_tls bulk-recv)
 * does the timing and prints the result; this program prints nothing on
 * success.
 *
 * Usage: tls_bulk_send PORT [BYTES]
 */
#define _GNU_SOURCE
#include "peer_util.h"
#include "peer_tls.h"

#define BLOCK (256 * 1024)

int
main(int argc, char **argv)
{
    static char buf[BLOCK];
    unsigned long long total = 1ULL << 30;
    struct sockaddr_in sin;
    SSL_CTX *ctx;
    SSL *ssl;
    int fd;

    if (argc < 2 || argc > 3) {
        fprintf(stderr, "usage: tls_bulk_send PORT [BYTES]\n");
        return 2;
    }
    if (argc == 3)
        total = strtoull(argv[2], NULL, 10);
    peer_set_deadline(120);
    signal(SIGPIPE, SIG_IGN);
    peer_loopback_addr(&sin, argv[1]);
    memset(buf, 'x', sizeof(buf));

    ctx = peer_tls_client_ctx();
    fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0)
        peer_die("socket");
    if (connect(fd, (struct sockaddr *)&sin, sizeof(sin)) < 0)
        peer_die("connect");
    ssl = SSL_new(ctx);
    if (ssl == NULL || SSL_set_fd(ssl, fd) != 1)
        peer_tls_die("SSL_new");
    if (SSL_connect(ssl) != 1)
        peer_tls_die("handshake");

    while (total > 0) {
        int want = total < BLOCK ? (int)total : BLOCK;
        int n = SSL_write(ssl, buf, want);

        if (n <= 0)
            peer_tls_die("SSL_write");
        total -= (unsigned long long)n;
    }
    if (SSL_shutdown(ssl) < 0)
        peer_tls_die("SSL_shutdown");
    /* Wait for the receiver's close_notify or its end of the connection;
     * session tickets that arrive first are read and dropped. */
    for (;;) {
        int n = SSL_read(ssl, buf, sizeof(buf));

        if (n <= 0)
            break;
    }
    SSL_free(ssl);
    SSL_CTX_free(ctx);
    if (close(fd) < 0)
        peer_die("close");
    return 0;
}
