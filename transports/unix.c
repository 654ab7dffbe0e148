/*
 * Unix stream sockets: unix:/path and Linux abstract names unix:@name.
 * Listening removes a stale socket file (one nobody accepts on) before
 * binding, and removes its own file when the server closes.
 */
#include "sock.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

static int
make_addr(const struct wire_endpoint *ep, const char *str, struct wire__addr *a,
          struct wire_error *err)
{
    struct sockaddr_un *un = (struct sockaddr_un *)&a->ss;
    memset(a, 0, sizeof(*a));
    un->sun_family = AF_UNIX;
    const char *path = ep->path;
    size_t n = strlen(path);
    if (path[0] == '@') {
        /* Abstract: a leading NUL, then the name; the length is exact. */
        if (n - 1 + 1 > sizeof(un->sun_path))
            return wire_error_set(err, WIRE_EENDPOINT,
                                  "endpoint '%s': abstract name longer than "
                                  "%zu bytes", str, sizeof(un->sun_path) - 1);
        un->sun_path[0] = '\0';
        memcpy(un->sun_path + 1, path + 1, n - 1);
        a->len = (socklen_t)(offsetof(struct sockaddr_un, sun_path) + n);
        return 0;
    }
    if (n + 1 > sizeof(un->sun_path))
        return wire_error_set(err, WIRE_EENDPOINT,
                              "endpoint '%s': socket path longer than %zu bytes",
                              str, sizeof(un->sun_path) - 1);
    memcpy(un->sun_path, path, n + 1);
    a->len = (socklen_t)(offsetof(struct sockaddr_un, sun_path) + n + 1);
    return 0;
}

static const char *const unix_connect_params[] = {"timeout", NULL};
static const char *const unix_listen_params[] = {"backlog", "reuseport", NULL};

int
wire__unix_connect(struct wire_loop *loop, const struct wire_endpoint *ep,
                   const char *str, struct wire_protocol *p, uint64_t timeout_ms,
                   wire_connect_cb cb, void *arg, struct wire_error *err)
{
    int rc;
    if ((rc = wire_endpoint_check_params(ep, unix_connect_params, err)) < 0 ||
        (rc = wire_endpoint_param_u64(ep, "timeout", 1, UINT32_MAX, &timeout_ms,
                                      err)) < 0)
        return rc;
    struct wire__addr *a = malloc(sizeof(*a));
    if (a == NULL)
        return wire_error_set(err, WIRE_ENOMEM, "out of memory");
    if ((rc = make_addr(ep, str, a, err)) < 0) {
        free(a);
        return rc;
    }
    char what[300];
    snprintf(what, sizeof(what), "unix:%s", ep->path);
    rc = wire__connect_addrs(loop, what, WIRE__SOCK_UNIX, a, 1, timeout_ms, false,
                             p, cb, arg);
    if (rc < 0)
        return wire_error_set(err, rc, "connect to %s: %s", what,
                              wire_strerror(rc));
    return 0;
}

/* A socket file nobody accepts on is left over from a dead server. */
static bool
is_stale(const struct wire__addr *a)
{
    int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0)
        return false;
    int rc = connect(fd, (const struct sockaddr *)&a->ss, a->len);
    int e = errno;
    close(fd);
    return rc < 0 && e == ECONNREFUSED;
}

int
wire__unix_listen(struct wire_loop *loop, const struct wire_endpoint *ep,
                  wire_protocol_factory factory, void *farg,
                  const struct wire_listen_options *opts,
                  struct wire_server **out, struct wire_error *err)
{
    uint64_t backlog = opts && opts->backlog > 0 ? (uint64_t)opts->backlog : 511;
    bool reuseport = opts ? opts->reuseport : false;
    int rc;
    struct wire__addr a;
    char str[300];
    snprintf(str, sizeof(str), "unix:%s", ep->path);
    if ((rc = wire_endpoint_check_params(ep, unix_listen_params, err)) < 0 ||
        (rc = wire_endpoint_param_u64(ep, "backlog", 1, 65535, &backlog, err)) < 0 ||
        (rc = wire_endpoint_param_bool(ep, "reuseport", &reuseport, err)) < 0 ||
        (rc = make_addr(ep, str, &a, err)) < 0)
        return rc;
    /* A path is bound once: SO_REUSEPORT does not let a second socket
     * bind it, so saying yes would only fail later, less clearly. */
    if (reuseport)
        return wire_error_set(err, WIRE_ENOTSUP,
                              "endpoint '%s': reuseport is not supported for "
                              "unix sockets (a path binds one socket; it is for "
                              "tcp:// and tls://)", str);
    bool abstract = ep->path[0] == '@';
    if (!abstract) {
        struct stat st;
        if (stat(ep->path, &st) == 0 && S_ISSOCK(st.st_mode) && is_stale(&a))
            unlink(ep->path);
    }
    int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0)
        return wire_error_set(err, -errno, "socket: %s", strerror(errno));
    if (bind(fd, (struct sockaddr *)&a.ss, a.len) < 0) {
        int e = errno;
        close(fd);
        return wire_error_set(err, -e, "cannot listen on %s: %s", str,
                              strerror(e));
    }
    return wire__listen_fd(loop, fd, WIRE__SOCK_UNIX, (int)backlog,
                           abstract ? NULL : ep->path, factory, farg, out, err);
}
