#!/usr/bin/env bash
# http-server-test: the promises of examples/http-server, with python3's
# http.client as the client, over tcp (port 0) and a unix socket:
#  - exactly one line "listening on <endpoint>";
#  - GET /hello is 200 "hello" text/plain; anything else is 404;
#  - POST /echo of a few MB sent chunked comes back whole (chunked);
#  - keep-alive: several requests over one connection;
#  - with --root DIR: GET /static/NAME downloads the file byte for byte
#    (with curl when it is installed, else http.client), HEAD announces
#    its length, a missing file is 404, a ".." segment, a leading "/", a
#    directory and a FIFO are 403, and GET /hello is unchanged;
#  - SIGTERM shuts it down with exit status 0, nothing on stderr.
# Every read has a deadline; nothing sleeps to wait.
#
# Usage: bash tests/http-server-test.sh [BUILD_DIR]   (default: .)
if [ -z "${BASH_VERSION:-}" ]; then exec bash "$0" "$@"; fi
set -u

build=${1:-.}
here=$(cd "$(dirname "$0")" && pwd) # server_harness.py
srv=$build/examples/http-server
[ -x "$srv" ] || { echo "SKIP: $srv not built"; exit 77; }
command -v python3 >/dev/null || { echo "SKIP: no python3"; exit 77; }
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

PYTHONPATH=$here PYTHONDONTWRITEBYTECODE=1 python3 - "$srv" "$tmp" <<'PY'
import http.client, os, shutil, signal, socket, subprocess, sys, threading
from server_harness import ok, status, Server, TIMEOUT

srv, tmp = sys.argv[1], sys.argv[2]


class UnixHTTPConnection(http.client.HTTPConnection):
    def __init__(self, path):
        super().__init__("localhost", timeout=TIMEOUT)
        self.path = path

    def connect(self):
        s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        s.settimeout(TIMEOUT)
        s.connect(self.path)
        self.sock = s


def conn(addr):
    if addr.startswith("tcp://"):
        host, port = addr[6:].rsplit(":", 1)
        return http.client.HTTPConnection(host, int(port), timeout=TIMEOUT)
    return UnixHTTPConnection(addr[5:])


def check(label, endpoint):
    with Server([srv, endpoint]) as s:
        addr = s.listening(label, endpoint)
        if addr is None:
            return
        c = conn(addr)
        c.request("GET", "/hello")
        r = c.getresponse()
        body = r.read()
        ok(label + ": GET /hello", r.status == 200 and body == b"hello" and
           r.getheader("Content-Type") == "text/plain", "%s %r" % (r.status, body))
        sock1 = c.sock
        c.request("GET", "/nope")
        r = c.getresponse()
        r.read()
        ok(label + ": 404", r.status == 404, "status %s" % r.status)
        ok(label + ": keep-alive reuses the connection", c.sock is sock1 and sock1 is not None)
        # The echo streams back while the body goes up, so the body is
        # sent from a thread while this one reads (a client that sends
        # it all first would deadlock on any streaming echo once the
        # socket buffers fill: the server holds the upload back).
        data = os.urandom(3 * 1024 * 1024 + 17)
        e = conn(addr)
        e.connect()

        def send_body():
            try:
                e.sock.sendall(b"POST /echo HTTP/1.1\r\nHost: x\r\n"
                               b"Content-Type: application/x-test\r\n"
                               b"Transfer-Encoding: chunked\r\n\r\n")
                for i in range(0, len(data), 65536):
                    piece = data[i:i + 65536]
                    e.sock.sendall(b"%x\r\n" % len(piece) + piece + b"\r\n")
                e.sock.sendall(b"0\r\n\r\n")
            except OSError:
                pass

        w = threading.Thread(target=send_body)
        w.start()
        r = http.client.HTTPResponse(e.sock, method="POST")
        try:
            r.begin()
            got = r.read()
        except OSError as ex:
            got = b""
            r.status = str(ex)
        w.join(TIMEOUT)
        ok(label + ": POST /echo streams %d bytes back" % len(data),
           r.status == 200 and got == data and r.getheader("Transfer-Encoding") == "chunked",
           "status %s, %d bytes" % (r.status, len(got)))
        ok(label + ": echo keeps the content type",
           r.getheader("Content-Type") == "application/x-test", r.getheader("Content-Type"))
        # The same connection serves the next request.
        e.request("GET", "/hello")
        r = e.getresponse()
        ok(label + ": keep-alive after the echo", r.status == 200 and r.read() == b"hello")
        e.close()
        c.request("HEAD", "/hello")
        r = c.getresponse()
        r.read()
        ok(label + ": HEAD /hello", r.status == 200 and r.getheader("Content-Length") == "5")
        ok(label + ": still one connection", c.sock is sock1)
        c.close()
        s.stop(label, signal.SIGTERM, "exactly one line on stdout")


def check_static(label, endpoint):
    www = os.path.join(tmp, "www")
    os.makedirs(os.path.join(www, "sub"), exist_ok=True)
    data = os.urandom(5 * 1024 * 1024 + 3)
    with open(os.path.join(www, "big.bin"), "wb") as f:
        f.write(data)
    with open(os.path.join(www, "sub", "a.txt"), "wb") as f:
        f.write(b"small\n")
    fifo = os.path.join(www, "fifo")
    if not os.path.exists(fifo):
        os.mkfifo(fifo)
    with Server([srv, "--root", www, endpoint]) as s:
        addr = s.listening(label, endpoint)
        if addr is None:
            return
        curl = shutil.which("curl")
        if curl is not None:
            out = os.path.join(tmp, "download")
            cmd = [curl, "-s", "--max-time", str(int(TIMEOUT)), "-o", out,
                   "-w", "%{http_code} %{size_download}"]
            if addr.startswith("tcp://"):
                url = "http://" + addr[6:] + "/static/big.bin"
            else:
                cmd += ["--unix-socket", addr[5:]]
                url = "http://localhost/static/big.bin"
            r = subprocess.run(cmd + [url], capture_output=True, timeout=TIMEOUT + 5)
            got = open(out, "rb").read() if os.path.exists(out) else b""
            ok(label + ": curl downloads a %d-byte static file byte for byte" % len(data),
               r.returncode == 0 and r.stdout.decode().startswith("200 ") and got == data,
               "curl exit %d, %r, %d bytes" % (r.returncode, r.stdout, len(got)))
        c = conn(addr)
        c.request("GET", "/static/big.bin")
        r = c.getresponse()
        got = r.read()
        ok(label + ": GET /static/big.bin", r.status == 200 and got == data and
           r.getheader("Content-Length") == str(len(data)),
           "%s, %d bytes" % (r.status, len(got)))
        c.request("GET", "/static/sub/a.txt?v=1")
        r = c.getresponse()
        ok(label + ": a file in a subdirectory, query ignored",
           r.status == 200 and r.read() == b"small\n" and
           r.getheader("Content-Type") == "text/plain", r.status)
        c.request("HEAD", "/static/big.bin")
        r = c.getresponse()
        r.read()
        ok(label + ": HEAD announces the length",
           r.status == 200 and r.getheader("Content-Length") == str(len(data)), r.status)
        for target, want in (("/static/nope", 404), ("/static/../http.sock", 403),
                             ("/static/sub/../big.bin", 403), ("/static//etc/passwd", 403),
                             ("/static/sub", 403), ("/static/fifo", 403)):
            c.request("GET", target)
            r = c.getresponse()
            r.read()
            ok("%s: GET %s is %d" % (label, target, want), r.status == want, r.status)
        c.request("GET", "/hello")
        r = c.getresponse()
        ok(label + ": GET /hello with --root", r.status == 200 and r.read() == b"hello")
        c.close()
        s.stop(label, signal.SIGTERM, "exactly one line on stdout")


check("tcp", "tcp://127.0.0.1:0")
check("unix", "unix:" + os.path.join(tmp, "http.sock"))
check_static("tcp --root", "tcp://127.0.0.1:0")
check_static("unix --root", "unix:" + os.path.join(tmp, "static.sock"))
sys.exit(status())
PY
