/*
 * peer_bulk_bev: the libevent peer for the bulk throughput benchmark. It
 * listens on an ephemeral loopback port, prints "port N", accepts one
 * connection and hands the fd to a libevent 2.1 bufferevent with default
 * settings. The read callback counts and drains everything that arrived
 * (evbuffer_drain); the event callback stops the loop on EOF. Output, as
 * for peer_bulk_blocking, timed from accept to EOF:
 *     bytes=N seconds=S MB/s=X
 *
 * Usage: peer_bulk_bev
 */
#define _GNU_SOURCE
#include "peer_util.h"

#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/event.h>

struct bulk {
    struct event_base *base;
    unsigned long long count;
    double end;
    int failed;
};

static void
read_cb(struct bufferevent *bev, void *arg)
{
    struct bulk *b = arg;
    struct evbuffer *in = bufferevent_get_input(bev);
    size_t len = evbuffer_get_length(in);

    b->count += len;
    evbuffer_drain(in, len);
}

static void
event_cb(struct bufferevent *bev, short what, void *arg)
{
    struct bulk *b = arg;

    (void)bev;
    if (what & BEV_EVENT_ERROR) {
        fprintf(stderr, "peer_bulk_bev: socket error: %s\n",
                evutil_socket_error_to_string(EVUTIL_SOCKET_ERROR()));
        b->failed = 1;
    }
    if (what & (BEV_EVENT_EOF | BEV_EVENT_ERROR)) {
        b->end = peer_now();
        event_base_loopbreak(b->base);
    }
}

int
main(void)
{
    struct bulk b = { 0 };
    struct bufferevent *bev;
    double start, secs;
    int lfd, fd;

    peer_set_deadline(120);
    b.base = event_base_new();
    if (b.base == NULL) {
        fprintf(stderr, "peer_bulk_bev: event_base_new failed\n");
        return 1;
    }
    lfd = peer_listen(0);
    fd = accept4(lfd, NULL, NULL, SOCK_CLOEXEC | SOCK_NONBLOCK);
    if (fd < 0)
        peer_die("accept");
    start = peer_now();
    bev = bufferevent_socket_new(b.base, fd, BEV_OPT_CLOSE_ON_FREE);
    if (bev == NULL) {
        fprintf(stderr, "peer_bulk_bev: bufferevent_socket_new failed\n");
        return 1;
    }
    bufferevent_setcb(bev, read_cb, NULL, event_cb, &b);
    bufferevent_enable(bev, EV_READ);
    event_base_dispatch(b.base);
    secs = b.end - start;
    bufferevent_free(bev);
    close(lfd);
    event_base_free(b.base);
    if (b.failed)
        return 1;
    printf("bytes=%llu seconds=%.6f MB/s=%.1f\n", b.count, secs,
           (double)b.count / 1e6 / secs);
    return 0;
}
