/*
 * The listener: accepts stream sockets into a server (lib/server.c owns the
 * connections).  Accepts in bursts, sets TCP_NODELAY, and on EMFILE/ENFILE
 * pauses accepting through the server's backoff instead of spinning on a
 * listening socket that stays readable.
 */
#include "sock.h"

#include <errno.h>
#include <event2/event.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define WIRE_ACCEPTS_PER_EVENT 64

struct listener {
    struct wire_server *server;
    struct event *ev;
    int fd;
    enum wire__sock_kind kind;
    bool accepting;
    char *unlink_path;
};

static void
on_accept(evutil_socket_t fd, short what, void *arg)
{
    struct listener *ls = arg;
    struct wire_server *s = ls->server;
    WIRE_UNUSED(what);
    /* A factory may stop accepting (or shut the server down) from inside
     * the burst: check before every accept. */
    for (int i = 0; i < WIRE_ACCEPTS_PER_EVENT && ls->fd >= 0 && ls->accepting;
         i++) {
        int cfd = accept4(fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
        if (cfd < 0) {
            if (errno == EINTR || errno == ECONNABORTED || errno == EPROTO)
                continue;
            if (errno == EAGAIN || errno == EWOULDBLOCK)
                return;
            if (errno == EMFILE || errno == ENFILE || errno == ENOBUFS ||
                errno == ENOMEM) {
                wire_impl_server_backoff(s, -errno);
                return;
            }
            wire_loop_log(wire_impl_server_loop(s), WIRE_LOG_WARN,
                          "%s: accept: %s", wire_server_address(s),
                          strerror(errno));
            return;
        }
        if (ls->kind == WIRE__SOCK_TCP) {
            int one = 1;
            setsockopt(cfd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
        }
        struct wire_transport *t =
            wire__sock_transport_new(wire_impl_server_loop(s), cfd, ls->kind);
        if (t == NULL) {
            close(cfd);
            continue;
        }
        wire_impl_server_adopt(s, t);
    }
}

static void
l_accept_start(struct wire_server *s)
{
    struct listener *ls = wire_impl_server_impl(s);
    ls->accepting = true;
    if (ls->ev != NULL)
        event_add(ls->ev, NULL);
}

static void
l_accept_stop(struct wire_server *s)
{
    struct listener *ls = wire_impl_server_impl(s);
    ls->accepting = false;
    if (ls->ev != NULL)
        event_del(ls->ev);
}

static void
l_close(struct wire_server *s)
{
    struct listener *ls = wire_impl_server_impl(s);
    if (ls->ev != NULL) {
        event_free(ls->ev);
        ls->ev = NULL;
    }
    if (ls->fd >= 0) {
        close(ls->fd);
        ls->fd = -1;
    }
    if (ls->unlink_path != NULL) {
        unlink(ls->unlink_path);
        free(ls->unlink_path);
        ls->unlink_path = NULL;
    }
}

static void
l_free(struct wire_server *s)
{
    struct listener *ls = wire_impl_server_impl(s);
    l_close(s);
    free(ls);
}

static const struct wire_listener_ops listener_ops = {
    .accept_start = l_accept_start,
    .accept_stop = l_accept_stop,
    .close = l_close,
    .free = l_free,
};

int
wire__listen_fd(struct wire_loop *loop, int fd, enum wire__sock_kind kind,
                int backlog, const char *unlink_path,
                wire_protocol_factory factory, void *farg,
                struct wire_server **out, struct wire_error *err)
{
    struct sockaddr_storage ss;
    socklen_t sl = sizeof(ss);
    char addr[256];
    int rc = wire__sock_poller_ready(loop);
    if (rc < 0) {
        close(fd);
        return wire_error_set(err, rc, "socket poller: %s", wire_strerror(rc));
    }
    if (listen(fd, backlog > 0 ? backlog : 511) < 0) {
        int e = errno;
        close(fd);
        return wire_error_set(err, -e, "listen: %s", strerror(e));
    }
    struct listener *ls = calloc(1, sizeof(*ls));
    if (ls == NULL) {
        close(fd);
        return wire_error_set(err, WIRE_ENOMEM, "out of memory");
    }
    ls->fd = fd;
    ls->kind = kind;
    ls->unlink_path = unlink_path ? strdup(unlink_path) : NULL;
    struct wire_server *s = wire_impl_server_new(loop, &listener_ops, ls,
                                                 factory, farg);
    ls->ev = event_new(wire_loop_event_base(loop), fd, EV_READ | EV_PERSIST,
                       on_accept, ls);
    if (s == NULL || ls->ev == NULL) {
        if (s != NULL) {
            wire_server_free(s); /* frees ls through l_free */
        } else {
            if (ls->ev)
                event_free(ls->ev);
            close(fd);
            free(ls->unlink_path);
            free(ls);
        }
        return wire_error_set(err, WIRE_ENOMEM, "out of memory");
    }
    ls->server = s;
    if (getsockname(fd, (struct sockaddr *)&ss, &sl) == 0) {
        wire__sockaddr_format((struct sockaddr *)&ss, sl, addr, sizeof(addr));
        wire_impl_server_set_address(s, addr);
    }
    wire_impl_server_started(s);
    *out = s;
    return 0;
}
