/*
 * peer_echo_uv: the libuv echo server for the ping-pong and idle-memory
 * benchmarks, written the way the libuv docs teach: uv_tcp_bind and
 * uv_listen on an ephemeral loopback port (printed as "port N"), one
 * uv_tcp_t per accepted connection (TCP_NODELAY), a fresh buffer from
 * the alloc callback for each read, and a uv_write that sends the same
 * buffer back and frees it when done. If echoes queue up past 1 MiB
 * because the peer does not read them, reading stops until the queue is
 * empty. It raises RLIMIT_NOFILE to the hard limit, runs until SIGTERM
 * or SIGINT and then exits 0.
 *
 * Usage: peer_echo_uv
 */
#define _GNU_SOURCE
#include "peer_util.h"

#include <uv.h>

#define OUT_HIGH (1024 * 1024)

struct echo_req {
    uv_write_t req;
    uv_buf_t buf;
};

static void on_read(uv_stream_t *s, ssize_t nread, const uv_buf_t *buf);

static void
on_alloc(uv_handle_t *h, size_t suggested, uv_buf_t *buf)
{
    (void)h;
    buf->base = malloc(suggested);
    buf->len = buf->base == NULL ? 0 : suggested;
}

static void
on_close(uv_handle_t *h)
{
    free(h);
}

static void
on_write(uv_write_t *req, int status)
{
    struct echo_req *er = (struct echo_req *)req;
    uv_stream_t *s = req->handle;

    free(er->buf.base);
    free(er);
    if (status < 0) {
        if (!uv_is_closing((uv_handle_t *)s))
            uv_close((uv_handle_t *)s, on_close);
        return;
    }
    /* Reading was stopped for back-pressure; resume once drained. */
    if (s->data != NULL && uv_stream_get_write_queue_size(s) == 0) {
        s->data = NULL;
        uv_read_start(s, on_alloc, on_read);
    }
}

static void
on_read(uv_stream_t *s, ssize_t nread, const uv_buf_t *buf)
{
    struct echo_req *er;

    if (nread <= 0) {
        free(buf->base);
        if (nread < 0 && !uv_is_closing((uv_handle_t *)s))
            uv_close((uv_handle_t *)s, on_close);
        return;
    }
    er = malloc(sizeof(*er));
    if (er == NULL) {
        fprintf(stderr, "peer_echo_uv: out of memory\n");
        exit(1);
    }
    er->buf = uv_buf_init(buf->base, (unsigned)nread);
    if (uv_write(&er->req, s, &er->buf, 1, on_write) < 0) {
        free(er->buf.base);
        free(er);
        uv_close((uv_handle_t *)s, on_close);
        return;
    }
    if (uv_stream_get_write_queue_size(s) > OUT_HIGH) {
        uv_read_stop(s);
        s->data = s; /* marks "stopped for back-pressure" */
    }
}

static void
on_connection(uv_stream_t *server, int status)
{
    uv_tcp_t *client;

    if (status < 0)
        return;
    client = malloc(sizeof(*client));
    if (client == NULL) {
        fprintf(stderr, "peer_echo_uv: out of memory\n");
        exit(1);
    }
    uv_tcp_init(server->loop, client);
    client->data = NULL;
    if (uv_accept(server, (uv_stream_t *)client) < 0) {
        uv_close((uv_handle_t *)client, on_close);
        return;
    }
    uv_tcp_nodelay(client, 1);
    uv_read_start((uv_stream_t *)client, on_alloc, on_read);
}

static void
on_signal(uv_signal_t *h, int sig)
{
    (void)sig;
    uv_stop(h->loop);
}

int
main(void)
{
    uv_loop_t *loop = uv_default_loop();
    uv_signal_t sigint, sigterm;
    struct sockaddr_in sin;
    int len = sizeof(sin);
    uv_tcp_t server;
    int r;

    peer_set_deadline(120);
    signal(SIGPIPE, SIG_IGN);
    peer_raise_nofile(20000);

    uv_signal_init(loop, &sigint);
    uv_signal_init(loop, &sigterm);
    uv_signal_start(&sigint, on_signal, SIGINT);
    uv_signal_start(&sigterm, on_signal, SIGTERM);

    uv_tcp_init(loop, &server);
    uv_ip4_addr("127.0.0.1", 0, &sin);
    r = uv_tcp_bind(&server, (const struct sockaddr *)&sin, 0);
    if (r == 0)
        r = uv_listen((uv_stream_t *)&server, SOMAXCONN, on_connection);
    if (r == 0)
        r = uv_tcp_getsockname(&server, (struct sockaddr *)&sin, &len);
    if (r < 0) {
        fprintf(stderr, "peer_echo_uv: listen: %s\n", uv_strerror(r));
        return 1;
    }
    printf("port %d\n", ntohs(sin.sin_port));
    fflush(stdout);

    uv_run(loop, UV_RUN_DEFAULT);
    /* Connections still open are reclaimed by exit. */
    return 0;
}
