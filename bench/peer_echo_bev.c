/*
 * peer_echo_bev: the libevent 2.1 echo server for the ping-pong and
 * idle-memory benchmarks, written the way a libevent user would: an
 * evconnlistener on an ephemeral loopback port (printed as "port N"),
 * one socket bufferevent per accepted connection (TCP_NODELAY), and a
 * read callback that moves the whole input buffer to the output buffer
 * with evbuffer_add_buffer. If the peer does not read its echoes and the
 * output passes 1 MiB, reading pauses until the output has drained. It
 * raises RLIMIT_NOFILE to the hard limit, runs until SIGTERM or SIGINT
 * and then exits 0.
 *
 * Usage: peer_echo_bev
 */
#define _GNU_SOURCE
#include "peer_util.h"

#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/event.h>
#include <event2/listener.h>

#define OUT_HIGH (1024 * 1024)

static void write_cb(struct bufferevent *bev, void *arg);
static void event_cb(struct bufferevent *bev, short what, void *arg);

static void
read_cb(struct bufferevent *bev, void *arg)
{
    struct evbuffer *out = bufferevent_get_output(bev);

    (void)arg;
    evbuffer_add_buffer(out, bufferevent_get_input(bev));
    if (evbuffer_get_length(out) > OUT_HIGH) {
        /* Back-pressure: resume reading once the output has drained. */
        bufferevent_disable(bev, EV_READ);
        bufferevent_setcb(bev, read_cb, write_cb, event_cb, NULL);
    }
}

static void
write_cb(struct bufferevent *bev, void *arg)
{
    (void)arg;
    bufferevent_setcb(bev, read_cb, NULL, event_cb, NULL);
    bufferevent_enable(bev, EV_READ);
}

static void
event_cb(struct bufferevent *bev, short what, void *arg)
{
    (void)arg;
    if (what & (BEV_EVENT_EOF | BEV_EVENT_ERROR))
        bufferevent_free(bev);
}

static void
accept_cb(struct evconnlistener *lev, evutil_socket_t fd,
          struct sockaddr *sa, int socklen, void *arg)
{
    struct event_base *base = evconnlistener_get_base(lev);
    struct bufferevent *bev;

    (void)sa;
    (void)socklen;
    (void)arg;
    peer_nodelay(fd);
    bev = bufferevent_socket_new(base, fd, BEV_OPT_CLOSE_ON_FREE);
    if (bev == NULL) {
        evutil_closesocket(fd);
        return;
    }
    bufferevent_setcb(bev, read_cb, NULL, event_cb, NULL);
    bufferevent_enable(bev, EV_READ | EV_WRITE);
}

static void
signal_cb(evutil_socket_t sig, short what, void *arg)
{
    (void)sig;
    (void)what;
    event_base_loopbreak(arg);
}

int
main(void)
{
    struct event_base *base;
    struct evconnlistener *lev;
    struct event *sigint, *sigterm;
    int lfd;

    peer_set_deadline(120);
    signal(SIGPIPE, SIG_IGN);
    peer_raise_nofile(20000);
    base = event_base_new();
    if (base == NULL) {
        fprintf(stderr, "peer_echo_bev: event_base_new failed\n");
        return 1;
    }
    sigint = evsignal_new(base, SIGINT, signal_cb, base);
    sigterm = evsignal_new(base, SIGTERM, signal_cb, base);
    event_add(sigint, NULL);
    event_add(sigterm, NULL);

    /*
     * Our own listening socket, so the port is printed before the loop
     * runs; backlog 0 tells evconnlistener it is already listening (a
     * negative one would call listen() again with a backlog of 128).
     */
    lfd = peer_listen(SOCK_NONBLOCK);
    lev = evconnlistener_new(base, accept_cb, NULL,
                             LEV_OPT_CLOSE_ON_FREE | LEV_OPT_CLOSE_ON_EXEC,
                             0, lfd);
    if (lev == NULL) {
        fprintf(stderr, "peer_echo_bev: evconnlistener_new failed\n");
        return 1;
    }
    event_base_dispatch(base);

    /* Connections still open are reclaimed by exit. */
    evconnlistener_free(lev);
    event_free(sigint);
    event_free(sigterm);
    event_base_free(base);
    return 0;
}
