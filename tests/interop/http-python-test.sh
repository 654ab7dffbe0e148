#!/usr/bin/env bash
# http-python-test: examples/http-server with python3's standard library
# as the client (http.client, socket, ssl; nothing installed with pip),
# over tcp://127.0.0.1:0, a unix socket and tls://127.0.0.1:0:
#  - keep-alive: several requests (GET, 404, HEAD, POST) on one
#    HTTPConnection, which never reconnects;
#  - a chunked request body from a generator (encode_chunked=True),
#    echoed whole;
#  - pipelining on a raw socket: three requests in one sendall, three
#    responses in order (the last asks for Connection: close, so the
#    server closes after it);
#  - HEAD /hello: Content-Length 5 and no body; an unknown path: 404;
#  - https: an ssl context that trusts only the CA made for the test, the
#    name localhost checked;
#  - over tcp, a trickling client: the head of its request goes out a byte
#    at a time with small pauses; halfway through, another client is
#    served at once while the trickler is still connected, its head
#    incomplete; then the trickler finishes and is answered too;
#  - SIGTERM: exit status 0, one line on stdout, nothing on stderr.
#
# Nothing sleeps to wait: the server's "listening on" line is read with a
# deadline, and every socket has a timeout.  The only sleeps are the
# trickler's pauses between bytes (its load, under 2 s in all).
#
# The certificates (a CA, and a leaf for localhost and 127.0.0.1) are
# made at run time with the openssl command in a temporary directory,
# removed by the EXIT trap; without openssl the tls cases are skipped.
# Skipped as a whole (exit 77) without python3.
#
# Usage: bash tests/interop/http-python-test.sh [BUILD_DIR]   (default: .)
# Prints "ok - name" or "not ok - name: why" per case; exits 1 if any
# failed.
if [ -z "${BASH_VERSION:-}" ]; then exec bash "$0" "$@"; fi
set -u

build=${1:-.}
tests=$(cd "$(dirname "$0")/.." && pwd) # server_harness.py
srv=$build/examples/http-server

if ! command -v python3 >/dev/null 2>&1; then
    echo "SKIP: python3 is not installed"
    exit 77
fi
if [ ! -x "$srv" ]; then
    echo "not ok - setup: $srv is not built"
    exit 1
fi

tmp=$(mktemp -d "${TMPDIR:-/tmp}/http-python-test.XXXXXX") || exit 1
trap 'rm -rf "$tmp"' EXIT
trap 'exit 1' INT TERM

# ---- certificates ----

cat >"$tmp/x509.cnf" <<'EOF'
[req]
distinguished_name = dn
[dn]
[ca]
basicConstraints = critical, CA:TRUE
keyUsage = critical, keyCertSign, cRLSign
subjectKeyIdentifier = hash
[localhost]
basicConstraints = CA:FALSE
keyUsage = critical, digitalSignature
extendedKeyUsage = serverAuth
subjectAltName = DNS:localhost, IP:127.0.0.1
authorityKeyIdentifier = keyid
EOF
certs=$tmp
if ! { command -v openssl >/dev/null 2>&1 &&
    openssl req -config "$tmp/x509.cnf" -x509 -newkey ec \
        -pkeyopt ec_paramgen_curve:P-256 -nodes -days 2 -subj "/CN=ca" \
        -extensions ca -keyout "$tmp/ca.key" -out "$tmp/ca.pem" \
        >>"$tmp/certs.log" 2>&1 &&
    openssl req -config "$tmp/x509.cnf" -new -newkey ec \
        -pkeyopt ec_paramgen_curve:P-256 -nodes -subj "/CN=localhost" \
        -keyout "$tmp/server.key" -out "$tmp/server.csr" >>"$tmp/certs.log" 2>&1 &&
    openssl x509 -req -in "$tmp/server.csr" -CA "$tmp/ca.pem" \
        -CAkey "$tmp/ca.key" -set_serial 2 -days 2 -extfile "$tmp/x509.cnf" \
        -extensions localhost -out "$tmp/server.pem" >>"$tmp/certs.log" 2>&1; }; then
    certs=
fi

# The server runs under `timeout` too, in case python dies without
# killing it.
PYTHONPATH=$tests PYTHONDONTWRITEBYTECODE=1 timeout 120 python3 - "$srv" "$tmp" "$certs" <<'PY'
import http.client, os, re, signal, socket, ssl, subprocess, sys, threading, time
from server_harness import Pipe, TIMEOUT, connect, recv_to_end

srv, tmp, certs = sys.argv[1], sys.argv[2], sys.argv[3]
failures = 0


def ok(name, cond, why=""):
    global failures
    if cond:
        print("ok - " + name)
    else:
        failures += 1
        print("not ok - %s: %s" % (name, why or "failed"))
    sys.stdout.flush()


class UnixHTTPConnection(http.client.HTTPConnection):
    def __init__(self, path):
        super().__init__("localhost", timeout=TIMEOUT)
        self.unix_path = path

    def connect(self):
        self.sock = connect("unix:" + self.unix_path)


class Transport:
    """How to reach one server: HTTPConnections and raw sockets."""

    def __init__(self, label, addr, ctx=None):
        self.label, self.addr, self.ctx = label, addr, ctx

    def http(self):
        if self.addr.startswith("unix:"):
            return UnixHTTPConnection(self.addr[5:])
        host, port = self.addr.split("://", 1)[1].rsplit(":", 1)
        if self.ctx is not None:
            # The name checked is localhost; the socket goes to 127.0.0.1.
            c = http.client.HTTPSConnection("localhost", int(port), timeout=TIMEOUT,
                                            context=self.ctx)
            c.connect = lambda: setattr(c, "sock", self.raw())
            return c
        return http.client.HTTPConnection(host, int(port), timeout=TIMEOUT)

    def raw(self):
        if self.ctx is None:
            return connect(self.addr)
        s = connect("tcp://" + self.addr.split("://", 1)[1])
        return self.ctx.wrap_socket(s, server_hostname="localhost")


def attempt(name, f):
    """Run the case f(); an exception is its failure."""
    try:
        r = f()
    except Exception as e:  # noqa: BLE001 - every failure is reported
        r = "%s: %s" % (type(e).__name__, e)
    ok(name, r is None, r)


# ---- the cases; each returns None, or why it failed ----

def keepalive(t):
    c = t.http()
    try:
        c.connect()
        sock = c.sock
        got = []
        for method, path, body in [("GET", "/hello", None), ("GET", "/missing", None),
                                   ("HEAD", "/hello", None), ("POST", "/echo", b"ping"),
                                   ("GET", "/hello", None)]:
            c.request(method, path, body=body)
            r = c.getresponse()
            got.append((r.status, r.read()))
            if c.sock is not sock:
                return "the connection changed after %s %s" % (method, path)
            if r.will_close:
                return "the server closes after %s %s" % (method, path)
        want = [(200, b"hello"), (404, b"not found\n"), (200, b""), (200, b"ping"),
                (200, b"hello")]
        if got != want:
            return "got %r" % got
    finally:
        c.close()


def chunked_generator(t):
    sizes = [1, 0, 7, 4096, 333, 0, 20000, 1, 12345, 2]

    def gen():
        for i, n in enumerate(sizes):
            yield bytes((i * 31 + k) & 0xFF for k in range(n))

    want = b"".join(gen())
    c = t.http()
    try:
        c.request("POST", "/echo", body=gen(), encode_chunked=True,
                  headers={"Transfer-Encoding": "chunked",
                           "Content-Type": "application/x-gen"})
        r = c.getresponse()
        body = r.read()
        if r.status != 200 or body != want:
            return "status %s, %d bytes back of %d" % (r.status, len(body), len(want))
        if r.getheader("Content-Type") != "application/x-gen":
            return "Content-Type %r" % r.getheader("Content-Type")
        if r.getheader("Transfer-Encoding") != "chunked":
            return "Transfer-Encoding %r" % r.getheader("Transfer-Encoding")
    finally:
        c.close()


def parse_responses(data, n):
    """n responses from data (Content-Length, chunked or to the end):
    a list of (status, headers dict (lower-case names), body)."""
    out = []
    for _ in range(n):
        head, sep, data = data.partition(b"\r\n\r\n")
        if not sep:
            raise ValueError("an incomplete head after %d responses" % len(out))
        lines = head.decode("latin-1").split("\r\n")
        status = int(lines[0].split(" ")[1])
        h = {}
        for line in lines[1:]:
            k, _, v = line.partition(":")
            h[k.strip().lower()] = v.strip()
        if "content-length" in h:
            k = int(h["content-length"])
            body, data = data[:k], data[k:]
        elif h.get("transfer-encoding") == "chunked":
            body = b""
            while True:
                size, _, data = data.partition(b"\r\n")
                k = int(size.split(b";")[0], 16)
                body, data = body + data[:k], data[k + 2:]
                if k == 0:
                    break
        else:
            body, data = data, b""
        out.append((status, h, body))
    if data:
        raise ValueError("%d bytes after the last response: %r" % (len(data), data[:60]))
    return out


def pipelining(t):
    s = t.raw()
    try:
        s.sendall(b"GET /hello HTTP/1.1\r\nHost: x\r\n\r\n"
                  b"GET /nope HTTP/1.1\r\nHost: x\r\n\r\n"
                  b"POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\n"
                  b"Connection: close\r\n\r\nabc")
        data, how = recv_to_end(s)
        if how != "eof":
            return "the server did not close after the third response (%s)" % how
        r = parse_responses(data, 3)
        got = [(st, b) for st, _, b in r]
        if got != [(200, b"hello"), (404, b"not found\n"), (200, b"abc")]:
            return "got %r" % got
        if r[2][1].get("connection") != "close":
            return "the last response has no Connection: close"
    finally:
        s.close()


def head(t):
    c = t.http()
    try:
        c.request("HEAD", "/hello")
        r = c.getresponse()
        body = r.read()
        if r.status != 200 or body != b"":
            return "status %s, body %r" % (r.status, body)
        if r.getheader("Content-Length") != "5" or r.getheader("Content-Type") != "text/plain":
            return "headers %r" % r.getheaders()
        # Nothing after the head: the next response is the next request's.
        c.request("GET", "/hello")
        r = c.getresponse()
        body = r.read()
        if r.status != 200 or body != b"hello":
            return "GET after HEAD: status %s, body %r" % (r.status, body)
    finally:
        c.close()


def not_found(t):
    c = t.http()
    try:
        c.request("GET", "/hello/nothing/here")
        r = c.getresponse()
        body = r.read()
        if r.status != 404 or r.getheader("Content-Length") != str(len(body)):
            return "status %s, Content-Length %r, %d bytes" % (
                r.status, r.getheader("Content-Length"), len(body))
    finally:
        c.close()


def https_checked(t):
    # The context checks the chain and the name: it must have been used.
    s = t.raw()
    try:
        cert = s.getpeercert()
        names = [v for k, v in cert.get("subjectAltName", ()) if k == "DNS"]
        if "localhost" not in names:
            return "peer certificate names %r" % names
        s.sendall(b"GET /hello HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n")
        data, how = recv_to_end(s)
        (st, _, body), = parse_responses(data, 1)
        if (st, body) != (200, b"hello"):
            return "got %s %r" % (st, body)
    finally:
        s.close()


def untrusted(t):
    # The default context trusts the system's CAs, not ours: refused.
    ctx = ssl.create_default_context()
    s = connect("tcp://" + t.addr.split("://", 1)[1])
    try:
        ctx.wrap_socket(s, server_hostname="localhost")
    except ssl.SSLCertVerificationError:
        return None
    finally:
        s.close()
    return "the handshake succeeded without our CA"


def trickle(t):
    """The trickler sends the first half of its head a byte at a time;
    then, while it is still connected with half a head, another client
    must be served; then the rest trickles and it is answered too."""
    req = b"GET /hello HTTP/1.1\r\nHost: trickle.example\r\nX-Slow: yes\r\n\r\n"
    pause = 1.2 / len(req)  # under 2 s of sleeping in all
    half = len(req) // 2
    state = {}
    sent_half = threading.Event()
    prompt_done = threading.Event()
    s = t.raw()

    def trickler():
        try:
            for i, b in enumerate(req):
                if i == half:
                    sent_half.set()
                    # Not a wait for the server: the prompt client's
                    # answer, which must not need this one's head.
                    if not prompt_done.wait(TIMEOUT):
                        state["err"] = "the prompt client was not served in %s s" % TIMEOUT
                        return
                s.sendall(bytes([b]))
                time.sleep(pause)
            state["reply"] = recv_until(s, b"hello")
        except OSError as e:
            state["err"] = "trickler: %s" % e
        finally:
            sent_half.set()

    def recv_until(sock, tail):
        """Bytes until they end with tail, or the server closes."""
        got = b""
        while not got.endswith(tail):
            c = sock.recv(4096)
            if not c:
                break
            got += c
        return got

    th = threading.Thread(target=trickler)
    th.start()
    try:
        if not sent_half.wait(TIMEOUT) or "err" in state:
            return state.get("err", "the trickler did not get halfway")
        t0 = time.monotonic()
        c = t.http()
        try:
            c.request("GET", "/hello")
            r = c.getresponse()
            body = r.read()
        finally:
            c.close()
        took = time.monotonic() - t0
        # Its head still half sent: the trickler is blocked on prompt_done.
        still = th.is_alive() and s.fileno() >= 0
        prompt_done.set()
        if (r.status, body) != (200, b"hello"):
            return "the prompt client got %s %r" % (r.status, body)
        if not still:
            return "the trickler was gone before the prompt client was served"
        th.join(TIMEOUT + 5)
        if "err" in state:
            return state["err"]
        reply = state.get("reply", b"")
        if not (reply.startswith(b"HTTP/1.1 200 ") and reply.endswith(b"\r\n\r\nhello")):
            return "the trickler got %r" % reply[:200]
        print("# trickle: the prompt client took %.3f s" % took)
    finally:
        prompt_done.set()
        s.close()
        th.join(TIMEOUT)


# ---- one server per transport ----

def serve(label, endpoint, ctx=None):
    p = subprocess.Popen([srv, endpoint], stdin=subprocess.DEVNULL,
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        out = Pipe(p.stdout)
        line = out.text() or ""
        want = {"tcp": r"tcp://127\.0\.0\.1:[1-9][0-9]*",
                "tls": r"tls://127\.0\.0\.1:[1-9][0-9]*"}.get(label, re.escape(endpoint))
        m = re.fullmatch(r"listening on (%s)" % want, line)
        ok(label + ": listening line", m is not None, "got %r" % line)
        if m is None:
            return
        t = Transport(label, m.group(1), ctx)
        attempt(label + ": keep-alive: GET, 404, HEAD, POST, GET on one HTTPConnection",
                lambda: keepalive(t))
        attempt(label + ": chunked body from a generator (encode_chunked) echoed",
                lambda: chunked_generator(t))
        attempt(label + ": pipelining: 3 requests in one sendall, 3 responses in order",
                lambda: pipelining(t))
        attempt(label + ": HEAD /hello: Content-Length 5, no body", lambda: head(t))
        attempt(label + ": unknown path: 404", lambda: not_found(t))
        if ctx is not None:
            attempt(label + ": https: our CA trusted, localhost checked",
                    lambda: https_checked(t))
            attempt(label + ": https: refused without our CA", lambda: untrusted(t))
        if label == "tcp":
            attempt(label + ": a trickling client does not hold up a prompt one",
                    lambda: trickle(t))
        p.send_signal(signal.SIGTERM)
        try:
            rc = p.wait(timeout=TIMEOUT)
        except subprocess.TimeoutExpired:
            rc = "none in %s s" % TIMEOUT
        # Once it has exited, its pipes end.
        rest_out = out.buf + (p.stdout.read() if isinstance(rc, int) else b"")
        err = p.stderr.read() if isinstance(rc, int) else b""
        ok(label + ": SIGTERM: exit 0, nothing else on stdout or stderr",
           rc == 0 and rest_out == b"" and err == b"",
           "exit %s, stdout %r, stderr %r" % (rc, rest_out[:200], err[:500]))
    finally:
        if p.poll() is None:
            p.kill()
            p.wait()


serve("tcp", "tcp://127.0.0.1:0")
serve("unix", "unix:" + os.path.join(tmp, "http.sock"))
if certs:
    ctx = ssl.create_default_context(cafile=os.path.join(certs, "ca.pem"))
    serve("tls", "tls://127.0.0.1:0?cert=%s&key=%s" % (
        os.path.join(certs, "server.pem"), os.path.join(certs, "server.key")), ctx)
else:
    print("ok - tls # SKIP the openssl command is missing or failed")
sys.exit(1 if failures else 0)
PY
