/*
 * Private to transports/: the socket stream transport shared by tcp and
 * unix, the connector that tries a list of addresses in order, and the
 * listener that accepts into servers.
 */
#ifndef WIRE_TRANSPORTS_SOCK_H
#define WIRE_TRANSPORTS_SOCK_H

#include "../lib/internal.h"

#include <sys/socket.h>

enum wire__sock_kind { WIRE__SOCK_TCP, WIRE__SOCK_UNIX };

/* ops->sendfile on the non-blocking socket `sock` (fdio.c, next to the
 * SIGPIPE-free pipe write): `head` by sendmsg with MSG_MORE, then
 * sendfile(2) without SIGPIPE; returns as ops->sendfile does. */
ssize_t wire__sendfile(int sock, const struct iovec *head, int headcnt, int fd,
                       off_t offset, size_t len);

/* Wrap a connected, non-blocking, close-on-exec stream socket.  NULL when
 * out of memory or the loop's socket poller cannot be made. */
struct wire_transport *wire__sock_transport_new(struct wire_loop *loop, int fd,
                                                enum wire__sock_kind kind);

/* Make the loop's socket poller (one epoll set watched by one libevent
 * event; see sock.c) unless it exists.  It takes a descriptor, so the
 * listen and connect calls make it, where an error is still theirs to
 * report.  Returns 0, -errno or WIRE_ENOMEM. */
int wire__sock_poller_ready(struct wire_loop *loop);

/* Format a socket address as an endpoint string ("tcp://127.0.0.1:80",
 * "tcp://[::1]:80", "unix:/path", "unix:@name"). */
void wire__sockaddr_format(const struct sockaddr *sa, socklen_t len, char *buf,
                           size_t buflen);

/* One address to try. */
struct wire__addr {
    struct sockaddr_storage ss;
    socklen_t len;
};

/* Try `addrs` in order; on success start `p` on the connection and call
 * `cb`, on failure destroy `p` and call `cb` with the error.  Started from
 * the loop (never re-entrantly).  `what` names the target in messages.
 * Takes ownership of `addrs` (malloc'd). */
struct wire__connector;
int wire__connect_addrs(struct wire_loop *loop, const char *what,
                        enum wire__sock_kind kind, struct wire__addr *addrs,
                        size_t naddrs, uint64_t timeout_ms, bool nodelay,
                        struct wire_protocol *p, wire_connect_cb cb, void *arg);

/* Report a failed connect exactly once: destroy the protocol (it never
 * saw connection_made), then call `cb` with the formatted error.  The
 * caller has already released its own state. */
void wire__connect_failed(struct wire_protocol *p, wire_connect_cb cb,
                          void *arg, int code, const char *fmt, ...)
    WIRE_PRINTF(5, 6);
void wire__connect_failedv(struct wire_protocol *p, wire_connect_cb cb,
                           void *arg, int code, const char *fmt, va_list ap);

/* The TCP connector resolves first (evdns), then connects. */
int wire__tcp_connect(struct wire_loop *loop, const struct wire_endpoint *ep,
                      const char *str, struct wire_protocol *p,
                      uint64_t timeout_ms, wire_connect_cb cb, void *arg,
                      struct wire_error *err);
int wire__tcp_listen(struct wire_loop *loop, const struct wire_endpoint *ep,
                     wire_protocol_factory factory, void *farg,
                     const struct wire_listen_options *opts,
                     struct wire_server **out, struct wire_error *err);
int wire__unix_connect(struct wire_loop *loop, const struct wire_endpoint *ep,
                       const char *str, struct wire_protocol *p,
                       uint64_t timeout_ms, wire_connect_cb cb, void *arg,
                       struct wire_error *err);
int wire__unix_listen(struct wire_loop *loop, const struct wire_endpoint *ep,
                      wire_protocol_factory factory, void *farg,
                      const struct wire_listen_options *opts,
                      struct wire_server **out, struct wire_error *err);
int wire__mem_connect(struct wire_loop *loop, const struct wire_endpoint *ep,
                      const char *str, struct wire_protocol *p,
                      uint64_t timeout_ms, wire_connect_cb cb, void *arg,
                      struct wire_error *err);
int wire__mem_listen(struct wire_loop *loop, const struct wire_endpoint *ep,
                     wire_protocol_factory factory, void *farg,
                     const struct wire_listen_options *opts,
                     struct wire_server **out, struct wire_error *err);

/* Listen on a bound socket `fd`; accepted sockets become `kind`
 * transports.  `unlink_path` (may be NULL) is removed when the server
 * closes. */
int wire__listen_fd(struct wire_loop *loop, int fd, enum wire__sock_kind kind,
                    int backlog, const char *unlink_path,
                    wire_protocol_factory factory, void *farg,
                    struct wire_server **out, struct wire_error *err);

#endif
