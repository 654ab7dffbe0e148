/*
 * peer_tls_bulk_blocking: "the limit" for the TLS bulk throughput
 * benchmark.  It listens on an ephemeral loopback port, prints "port N",
 * accepts one connection, does the TLS handshake with CERT and KEY and
 * reads with blocking SSL_read into a 16 KiB buffer (one record's
 * plaintext) until the sender's close_notify, counting bytes; then it
 * answers with its own close_notify.  OpenSSL reads the socket with read
 * ahead into a 64 KiB buffer, so it asks the kernel for as much per
 * recv() as libwire's receiver does (64 KiB) and never reads a record
 * header on its own.  It prints
 *     bytes=N seconds=S MB/s=X cpu=C cipher=NAME
 * (MB = 1e6 bytes), timed on CLOCK_MONOTONIC from the end of the
 * handshake to the close_notify; cpu is the process's user + system
 * seconds over the same span.
 *
 * Usage: peer_tls_bulk_blocking CERT KEY
 */
#define _GNU_SOURCE
#include "peer_util.h"
#include "peer_tls.h"

#include <sys/resource.h>

#define BLOCK (16 * 1024)
#define SOCKET_READ (64 * 1024)

static double
cpu_seconds(void)
{
    struct rusage ru;

    getrusage(RUSAGE_SELF, &ru);
    return (double)ru.ru_utime.tv_sec + (double)ru.ru_utime.tv_usec / 1e6 +
           (double)ru.ru_stime.tv_sec + (double)ru.ru_stime.tv_usec / 1e6;
}

int
main(int argc, char **argv)
{
    static char buf[BLOCK];
    unsigned long long count = 0;
    double start, cpu0, secs, cpu;
    SSL_CTX *ctx;
    SSL *ssl;
    int lfd, fd;

    if (argc != 3) {
        fprintf(stderr, "usage: peer_tls_bulk_blocking CERT KEY\n");
        return 2;
    }
    peer_set_deadline(120);
    signal(SIGPIPE, SIG_IGN);
    ctx = peer_tls_server_ctx(argv[1], argv[2]);
    SSL_CTX_set_read_ahead(ctx, 1);
    SSL_CTX_set_default_read_buffer_len(ctx, SOCKET_READ);
    lfd = peer_listen(0);
    fd = accept4(lfd, NULL, NULL, SOCK_CLOEXEC);
    if (fd < 0)
        peer_die("accept");
    ssl = SSL_new(ctx);
    if (ssl == NULL || SSL_set_fd(ssl, fd) != 1)
        peer_tls_die("SSL_new");
    if (SSL_accept(ssl) != 1)
        peer_tls_die("handshake");
    start = peer_now();
    cpu0 = cpu_seconds();
    for (;;) {
        int n = SSL_read(ssl, buf, sizeof(buf));

        if (n > 0) {
            count += (unsigned long long)n;
            continue;
        }
        if (SSL_get_error(ssl, n) == SSL_ERROR_ZERO_RETURN)
            break;
        peer_tls_die("SSL_read");
    }
    secs = peer_now() - start;
    cpu = cpu_seconds() - cpu0;
    SSL_shutdown(ssl);
    printf("bytes=%llu seconds=%.6f MB/s=%.1f cpu=%.3f cipher=%s\n", count, secs,
           (double)count / 1e6 / secs, cpu, SSL_get_cipher_name(ssl));
    SSL_free(ssl);
    SSL_CTX_free(ctx);
    close(fd);
    close(lfd);
    return 0;
}
