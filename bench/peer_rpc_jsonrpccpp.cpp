/*
 * peer_rpc_jsonrpccpp: the libjson-rpc-cpp peer of the JSON-RPC benchmark
 * (bench/run, ONLY=rpc).  A JSON-RPC 2.0 server with one method,
 * subtract [minuend, subtrahend] (integers), on 127.0.0.1 on an ephemeral
 * port; prints "port N" and serves until SIGTERM.
 *
 * Everything JSON-RPC is libjson-rpc-cpp's: the server is an
 * AbstractServer<> with the method bound by bindAndAddMethod, and each
 * request goes through AbstractServerConnector::OnRequest, which parses it
 * (jsoncpp), validates it against the Procedure, dispatches it and builds
 * the response, handed back through our SendResponse.
 *
 * Only the connector is ours, because the library has none that serves
 * pipelined calls over TCP: Debian's 0.7.0 ships the HTTP connector
 * (libmicrohttpd) and a Unix-socket one; upstream's later TcpSocketServer
 * (LinuxTcpSocketServer) runs a thread per connection that reads ONE
 * newline-terminated request, answers it and closes the connection.  Ours
 * keeps its framing (requests and responses delimited by "\n", its
 * DELIMITER_CHAR 0x0A) but keeps connections open: one thread, epoll,
 * every complete line of a read dispatched in order, and the responses
 * of one read written with one send, as libwire's lines layer and the
 * jayson peer's listener do.
 *
 * Usage: peer_rpc_jsonrpccpp
 */
#include "peer_util.h"

#include <fcntl.h>
#include <sys/epoll.h>

#include <jsonrpccpp/server.h>

#include <string>

namespace {

struct Conn {
    int fd;
    std::string in;
    std::string out;
    size_t out_off = 0;
    bool want_out = false;
};

volatile sig_atomic_t stopping;

void
on_term(int)
{
    stopping = 1;
}

/* A server connector that speaks newline-delimited JSON over pipelined,
 * persistent TCP connections (see the top of the file). */
class LineConnector : public jsonrpc::AbstractServerConnector {
public:
    bool StartListening() override { return true; }
    bool StopListening() override { return true; }

    /* Called from OnRequest, synchronously: queue the response. */
    bool SendResponse(const std::string &response, void *addInfo) override
    {
        Conn *c = static_cast<Conn *>(addInfo);
        c->out += response;
        if (response.empty() || response.back() != '\n')
            c->out += '\n';
        return true;
    }

    void Serve();

private:
    int epfd_ = -1;
    bool Flush(Conn *c);
    bool Readable(Conn *c);
};

bool
LineConnector::Flush(Conn *c)
{
    while (c->out_off < c->out.size()) {
        ssize_t n = send(c->fd, c->out.data() + c->out_off, c->out.size() - c->out_off,
                         MSG_NOSIGNAL);
        if (n < 0) {
            if (errno == EINTR)
                continue;
            if (errno == EAGAIN)
                break;
            return false;
        }
        c->out_off += (size_t)n;
    }
    if (c->out_off == c->out.size()) {
        c->out.clear();
        c->out_off = 0;
    }
    bool want = !c->out.empty();
    if (want != c->want_out) {
        struct epoll_event ev = {};
        ev.events = want ? EPOLLIN | EPOLLOUT : EPOLLIN;
        ev.data.ptr = c;
        epoll_ctl(epfd_, EPOLL_CTL_MOD, c->fd, &ev);
        c->want_out = want;
    }
    return true;
}

/* Read what is there and answer every complete line; false: close. */
bool
LineConnector::Readable(Conn *c)
{
    char buf[65536];
    for (;;) {
        ssize_t n = read(c->fd, buf, sizeof(buf));
        if (n < 0) {
            if (errno == EINTR)
                continue;
            if (errno == EAGAIN)
                break;
            return false;
        }
        if (n == 0)
            return false;
        c->in.append(buf, (size_t)n);
        size_t start = 0, nl;
        while ((nl = c->in.find('\n', start)) != std::string::npos) {
            if (nl > start)
                OnRequest(c->in.substr(start, nl - start), c);
            start = nl + 1;
        }
        c->in.erase(0, start);
        if ((size_t)n < sizeof(buf))
            break;
    }
    return Flush(c);
}

void
LineConnector::Serve()
{
    int lfd = peer_listen(SOCK_NONBLOCK);
    struct epoll_event ev = {}, evs[64];

    epfd_ = epoll_create1(EPOLL_CLOEXEC);
    if (epfd_ < 0)
        peer_die("epoll_create1");
    ev.events = EPOLLIN;
    ev.data.ptr = nullptr;
    if (epoll_ctl(epfd_, EPOLL_CTL_ADD, lfd, &ev) < 0)
        peer_die("epoll_ctl");
    while (!stopping) {
        int n = epoll_wait(epfd_, evs, 64, -1);
        if (n < 0) {
            if (errno == EINTR)
                continue;
            peer_die("epoll_wait");
        }
        for (int i = 0; i < n; i++) {
            Conn *c = static_cast<Conn *>(evs[i].data.ptr);
            if (c == nullptr) {
                int fd;
                while ((fd = accept4(lfd, nullptr, nullptr, SOCK_NONBLOCK | SOCK_CLOEXEC)) >= 0) {
                    peer_nodelay(fd);
                    Conn *nc = new Conn;
                    nc->fd = fd;
                    struct epoll_event cev = {};
                    cev.events = EPOLLIN;
                    cev.data.ptr = nc;
                    epoll_ctl(epfd_, EPOLL_CTL_ADD, fd, &cev);
                }
                continue;
            }
            bool ok = true;
            if (evs[i].events & (EPOLLIN | EPOLLERR | EPOLLHUP))
                ok = Readable(c);
            if (ok && (evs[i].events & EPOLLOUT))
                ok = Flush(c);
            if (!ok) {
                close(c->fd);
                delete c;
            }
        }
    }
}

class RpcServer : public jsonrpc::AbstractServer<RpcServer> {
public:
    explicit RpcServer(jsonrpc::AbstractServerConnector &conn)
        : jsonrpc::AbstractServer<RpcServer>(conn, jsonrpc::JSONRPC_SERVER_V2)
    {
        bindAndAddMethod(jsonrpc::Procedure("subtract", jsonrpc::PARAMS_BY_POSITION,
                                            jsonrpc::JSON_INTEGER, "minuend",
                                            jsonrpc::JSON_INTEGER, "subtrahend",
                                            jsonrpc::JSON_INTEGER, NULL),
                         &RpcServer::subtract);
    }

    void subtract(const Json::Value &params, Json::Value &result)
    {
        result = params[0u].asInt64() - params[1u].asInt64();
    }
};

} // namespace

int
main()
{
    struct sigaction sa = {};

    sa.sa_handler = on_term;
    sigaction(SIGTERM, &sa, nullptr);
    sigaction(SIGINT, &sa, nullptr);
    signal(SIGPIPE, SIG_IGN);
    peer_set_deadline(3600);
    LineConnector conn;
    RpcServer server(conn);
    server.StartListening();
    conn.Serve();
    server.StopListening();
    return 0;
}
