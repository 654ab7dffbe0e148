/*
 * wire_tls: libwire's side of the two TLS benchmarks.  Both serve a
 * `tls://127.0.0.1:0?cert=CERT&key=KEY` endpoint (TCP plus libwire's
 * server TLS layer, OpenSSL's defaults: whatever suite and group the
 * client asks for among them) and print "port N" first.  The peers and the
 * clients are in bench/ and never link libwire; bench/run runs both sides.
 *
 *  bulk-recv  The same contract as peer_tls_bulk_blocking: accept one
 *             connection, count plaintext bytes until the client's
 *             close_notify (the protocol's eof_received; it then closes,
 *             which answers with our close_notify) and print
 *                 bytes=N seconds=S MB/s=X cpu=C cipher=NAME
 *             timed from connection_made (the end of the handshake) to
 *             the EOF, cpu being this process's user + system seconds
 *             over the same span.  The sender is tls_bulk_send (one
 *             blocking OpenSSL client writing 256 KiB SSL_writes), the
 *             same program that feeds the blocking SSL_read peer, so the
 *             figure is the whole libwire receive path: socket reads,
 *             the memory BIOs, SSL_read, the layer and the dispatch to
 *             the protocol.
 *  hs-server  The libwire side of the handshake benchmark, against nginx
 *             serving the same certificate: for every connection, wait
 *             for the end of an HTTP request head ("\r\n\r\n"), answer
 *             with a small fixed HTTP/1.0 response and close (which sends
 *             close_notify, like nginx's lingering-free close of an
 *             HTTP/1.0 connection).  Runs until SIGTERM or SIGINT; the
 *             load generator is tls_hs_client.
 *
 * Usage: wire_tls bulk-recv CERT KEY
 *        wire_tls hs-server CERT KEY
 */
#include <wire/wire.h>

#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>
#include <unistd.h>

static struct wire_loop *loop;
static struct wire_server *server;

static double
now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static double
cpu_seconds(void)
{
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    return (double)ru.ru_utime.tv_sec + (double)ru.ru_utime.tv_usec / 1e6 +
           (double)ru.ru_stime.tv_sec + (double)ru.ru_stime.tv_usec / 1e6;
}

/* ---- bulk-recv: count plaintext bytes ---- */

static unsigned long long count;
static double start, start_cpu, secs, cpu;
static char cipher[64] = "?";

static void
c_made(struct wire_protocol *p, struct wire_transport *t)
{
    (void)p;
    start = now();
    start_cpu = cpu_seconds();
    if (wire_transport_get_info(t, WIRE_INFO_TLS_CIPHER, cipher, sizeof(cipher)) < 0)
        snprintf(cipher, sizeof(cipher), "?");
    wire_server_stop_accepting(server);
}

static void
c_data(struct wire_protocol *p, const void *data, size_t len)
{
    (void)p;
    (void)data;
    count += len;
}

static bool
c_eof(struct wire_protocol *p)
{
    (void)p;
    /* The client's close_notify: the transfer is over.  Returning false
     * closes, which sends our close_notify. */
    secs = now() - start;
    cpu = cpu_seconds() - start_cpu;
    return false;
}

static void
c_lost(struct wire_protocol *p, const struct wire_error *err)
{
    (void)p;
    if (err != NULL)
        fprintf(stderr, "wire_tls: %s\n", err->message);
    if (secs == 0) { /* no close_notify */
        secs = now() - start;
        cpu = cpu_seconds() - start_cpu;
    }
    printf("bytes=%llu seconds=%.6f MB/s=%.1f cpu=%.3f cipher=%s\n", count, secs,
           (double)count / 1e6 / secs, cpu, cipher);
    fflush(stdout);
    wire_server_free(server);
    server = NULL;
}

static void
proto_free(struct wire_protocol *p)
{
    free(p);
}

static const struct wire_protocol_ops counter_ops = {
    .connection_made = c_made,
    .data_received = c_data,
    .eof_received = c_eof,
    .connection_lost = c_lost,
    .destroy = proto_free,
};

/* ---- hs-server: one tiny HTTP exchange per connection ---- */

static const char response[] = "HTTP/1.0 200 OK\r\n"
                               "Server: wire_tls\r\n"
                               "Content-Type: text/plain\r\n"
                               "Content-Length: 1\r\n"
                               "Connection: close\r\n"
                               "\r\n"
                               "x";

struct http {
    struct wire_protocol base;
    unsigned matched; /* bytes of "\r\n\r\n" seen in a row */
    bool answered;
};

static void
h_data(struct wire_protocol *p, const void *data, size_t len)
{
    struct http *h = (struct http *)(void *)p;
    static const char end[] = "\r\n\r\n";
    const char *s = data;
    for (size_t i = 0; i < len && !h->answered; i++) {
        h->matched = s[i] == end[h->matched] ? h->matched + 1 : s[i] == '\r';
        if (h->matched == 4) {
            h->answered = true;
            wire_transport_write(p->transport, response, sizeof(response) - 1);
            wire_transport_close(p->transport);
        }
    }
}

static const struct wire_protocol_ops http_ops = {
    .data_received = h_data,
    .destroy = proto_free,
};

static struct wire_protocol *
proto_new(void *arg)
{
    const struct wire_protocol_ops *ops = arg;
    struct wire_protocol *p = calloc(1, ops == &http_ops ? sizeof(struct http)
                                                         : sizeof(*p));
    if (p != NULL)
        wire_protocol_init(p, ops);
    return p;
}

static void
on_signal(void *arg, int signo)
{
    (void)arg;
    (void)signo;
    wire_loop_stop(loop);
}

int
main(int argc, char **argv)
{
    if (argc != 4 || (strcmp(argv[1], "bulk-recv") != 0 &&
                      strcmp(argv[1], "hs-server") != 0)) {
        fprintf(stderr, "usage: wire_tls bulk-recv|hs-server CERT KEY\n");
        return 2;
    }
    bool bulk = strcmp(argv[1], "bulk-recv") == 0;
    char endpoint[4096];
    snprintf(endpoint, sizeof(endpoint), "tls://127.0.0.1:0?cert=%s&key=%s",
             argv[2], argv[3]);
    struct wire_error err = {0};
    struct wire_signal *sigs[2] = {NULL, NULL};
    struct wire_listen_options opts = {.backlog = 4096};
    alarm(bulk ? 120 : 600);
    loop = wire_loop_new();
    if (loop == NULL ||
        wire_listen(loop, endpoint, proto_new,
                    (void *)(bulk ? &counter_ops : &http_ops), &opts, &server,
                    &err) < 0) {
        fprintf(stderr, "wire_tls: %s\n", err.message ? err.message : "loop");
        return 1;
    }
    if (!bulk) {
        sigs[0] = wire_signal_new(loop, SIGTERM, on_signal, NULL, &err);
        sigs[1] = wire_signal_new(loop, SIGINT, on_signal, NULL, &err);
        if (sigs[0] == NULL || sigs[1] == NULL) {
            fprintf(stderr, "wire_tls: %s\n", err.message);
            return 1;
        }
    }
    const char *addr = wire_server_address(server);
    printf("port %s\n", strrchr(addr, ':') + 1);
    fflush(stdout);
    wire_loop_run(loop);
    wire_signal_free(sigs[0]);
    wire_signal_free(sigs[1]);
    if (server != NULL)
        wire_server_free(server);
    /* Let the aborted connections deliver connection_lost. */
    while (wire_loop_run_once(loop, false) == 0)
        ;
    wire_loop_free(loop);
    return 0;
}
