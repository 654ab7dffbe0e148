/*
 * peer_http_evhttp: libevent 2.1's evhttp as the HTTP benchmark's peer
 * (bench/run, group "http"), written the way an evhttp user would: an
 * evhttp bound to our own listening socket on an ephemeral loopback port
 * (printed as "port N"), evhttp_set_cb for /hello answering 200 "hello"
 * with Content-Type text/plain from an evbuffer, and evhttp's own 404 for
 * anything else.  GET and HEAD only; keep-alive is evhttp's default for
 * HTTP/1.1.  Runs until SIGTERM or SIGINT and then exits 0.
 *
 * Usage: peer_http_evhttp
 */
#define _GNU_SOURCE
#include "peer_util.h"

#include <event2/buffer.h>
#include <event2/event.h>
#include <event2/http.h>
#include <event2/keyvalq_struct.h>

static void
hello_cb(struct evhttp_request *req, void *arg)
{
    struct evbuffer *body = arg;

    evhttp_add_header(evhttp_request_get_output_headers(req), "Content-Type",
                      "text/plain");
    evbuffer_add(body, "hello", 5);
    /* evhttp_send_reply moves the bytes out of `body`. */
    evhttp_send_reply(req, 200, "OK", body);
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
    struct evhttp *http;
    struct evbuffer *body;
    struct event *sigint, *sigterm;
    int lfd;

    peer_set_deadline(600);
    signal(SIGPIPE, SIG_IGN);
    peer_raise_nofile(20000);
    base = event_base_new();
    http = base != NULL ? evhttp_new(base) : NULL;
    body = evbuffer_new();
    if (http == NULL || body == NULL) {
        fprintf(stderr, "peer_http_evhttp: cannot set up libevent\n");
        return 1;
    }
    sigint = evsignal_new(base, SIGINT, signal_cb, base);
    sigterm = evsignal_new(base, SIGTERM, signal_cb, base);
    event_add(sigint, NULL);
    event_add(sigterm, NULL);

    evhttp_set_allowed_methods(http, EVHTTP_REQ_GET | EVHTTP_REQ_HEAD);
    evhttp_set_cb(http, "/hello", hello_cb, body);
    lfd = peer_listen(SOCK_NONBLOCK);
    if (evhttp_accept_socket(http, lfd) != 0) {
        fprintf(stderr, "peer_http_evhttp: evhttp_accept_socket failed\n");
        return 1;
    }
    event_base_dispatch(base);

    evhttp_free(http);
    evbuffer_free(body);
    event_free(sigint);
    event_free(sigterm);
    event_base_free(base);
    return 0;
}
