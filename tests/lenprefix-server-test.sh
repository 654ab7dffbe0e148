#!/usr/bin/env bash
# lenprefix-server-test: the promises of examples/lenprefix-server, over
# tcp (port 0) and a unix path in a fresh temp dir:
#  - exactly one line "listening on <endpoint>" first on stdout;
#  - each message (4-byte little-endian length, payload) gives exactly one
#    stdout line "received string: <payload>" and one reply, the
#    length-prefixed "ok" (b"\x02\x00\x00\x00ok"), in order, whatever the
#    split of the writes (prefix split, payload split, byte by byte), for
#    an empty payload and for one larger than a read;
#  - a peer's EOF after whole messages closes the connection cleanly;
#  - a huge announced length closes that connection at once (no payload
#    needed), with the reason on stderr, while a concurrent connection and
#    a new one keep working; so does EOF in the middle of a message;
#  - SIGINT (tcp) and SIGTERM (unix) exit 0; the unix socket file is
#    removed.
# Never sleeps to wait: it reads the server's stdout/stderr pipes and the
# sockets, each with a bounded timeout.
#
# Usage: bash tests/lenprefix-server-test.sh [BUILD_DIR]   (default: .)
if [ -z "${BASH_VERSION:-}" ]; then exec bash "$0" "$@"; fi
set -u
build=${1:-.}
exec python3 - "$build/examples/lenprefix-server" <<'PY'
import os, re, select, shutil, signal, socket, struct, subprocess, sys, tempfile, time

SRV = sys.argv[1]
TIMEOUT = 10.0
OK = struct.pack("<L", 2) + b"ok"
failed = False


def ok(name, cond, detail=""):
    global failed
    print(("PASS " if cond else "FAIL ") + name + ("" if cond else " (%s)" % detail))
    sys.stdout.flush()
    if not cond:
        failed = True


def msg(payload):
    return struct.pack("<L", len(payload)) + payload


class Pipe:
    """Lines from a child's pipe, each awaited with a deadline."""

    def __init__(self, f):
        self.fd = f.fileno()
        self.buf = b""

    def line(self, timeout=TIMEOUT):
        deadline = time.monotonic() + timeout
        while b"\n" not in self.buf:
            left = deadline - time.monotonic()
            if left <= 0 or not select.select([self.fd], [], [], left)[0]:
                return None
            c = os.read(self.fd, 1 << 20)
            if not c:
                return None
            self.buf += c
        line, self.buf = self.buf.split(b"\n", 1)
        return line


def connect(addr):
    if addr.startswith("tcp://"):
        host, port = addr[6:].rsplit(":", 1)
        s = socket.create_connection((host, int(port)), timeout=TIMEOUT)
        s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    else:
        s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        s.settimeout(TIMEOUT)
        s.connect(addr[5:])
    return s


def recv_exactly(s, n):
    got = b""
    while len(got) < n:
        c = s.recv(n - len(got))
        if not c:
            break
        got += c
    return got


def recv_to_end(s):
    got = b""
    try:
        while True:
            c = s.recv(65536)
            if not c:
                return got, "eof"
            got += c
    except ConnectionResetError:
        return got, "reset"
    except socket.timeout:
        return got, "timeout"


def run(label, endpoint, sig):
    p = subprocess.Popen([SRV, endpoint], stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    out, err = Pipe(p.stdout), Pipe(p.stderr)

    def expect(s, payloads, name):
        """Stdout lines and replies for `payloads`, already sent on `s`
        (stdout first: a long line fills the pipe before the reply)."""
        lines = [out.line() for _ in payloads]
        replies = recv_exactly(s, len(OK) * len(payloads))
        want = [b"received string: " + x for x in payloads]
        ok(label + ": " + name, replies == OK * len(payloads) and lines == want,
           "replies %r, stdout %r" % (replies[:64], [l[:64] if l else l for l in lines]))

    try:
        line = (out.line() or b"").decode()
        m = re.fullmatch(r"listening on (.*)", line)
        want = (r"tcp://127\.0\.0\.1:[1-9][0-9]*" if endpoint.startswith("tcp")
                else re.escape(endpoint))
        ok(label + ": listening line", m is not None and re.fullmatch(want, m.group(1)),
           "got %r" % line)
        if m is None:
            return
        addr = m.group(1)

        a = connect(addr)
        several = [b"hello", b"world", b"", b"with spaces and \xff bytes", b"x"]
        a.sendall(b"".join(msg(x) for x in several))
        expect(a, several, "several messages in one write, one empty")
        # Splits: the reply to the first message proves the server read
        # the start of the second before the rest was sent.
        a.sendall(msg(b"first") + msg(b"second")[:2])
        expect(a, [b"first"], "message before a split prefix")
        a.sendall(msg(b"second")[2:7])  # rest of the prefix, 3 payload bytes
        a.sendall(msg(b"second")[7:])
        expect(a, [b"second"], "prefix and payload split across writes")
        for byte in msg(b"byte by byte"):
            a.sendall(bytes([byte]))
        expect(a, [b"byte by byte"], "a message sent byte by byte")
        a.sendall(msg(b"")[:3])
        a.sendall(msg(b"")[3:])
        expect(a, [b""], "empty payload with a split prefix")
        big = bytes(range(32, 127)) * 3000  # 285 000 bytes, many reads
        a.sendall(msg(big))
        expect(a, [big], "a 285 kB message")

        # A huge announced length: that connection closes, no payload read.
        b = connect(addr)
        b.sendall(msg(b"b1"))
        expect(b, [b"b1"], "second connection works")
        b.sendall(struct.pack("<L", 0xFFFFFFFF) + b"some payload")
        got, how = recv_to_end(b)
        ok(label + ": huge announced length closes that connection",
           got == b"" and how in ("eof", "reset"), "got %r, %s" % (got, how))
        e = (err.line() or b"").decode()
        ok(label + ": stderr names the length, the limit and the offset",
           "stream offset 6 " in e and "4294967295" in e and "limit of 1048576" in e,
           "stderr %r" % e)
        a.sendall(msg(b"still here"))
        expect(a, [b"still here"], "the concurrent connection keeps working")

        # EOF in the middle of a message: that connection fails, reported.
        c = connect(addr)
        c.sendall(msg(b"truncated")[:8])
        c.shutdown(socket.SHUT_WR)
        got, how = recv_to_end(c)
        ok(label + ": EOF inside a message closes that connection",
           got == b"" and how in ("eof", "reset"), "got %r, %s" % (got, how))
        e = (err.line() or b"").decode()
        ok(label + ": stderr reports the truncated message",
           "ended inside a message" in e and "4 of 9 bytes" in e, "stderr %r" % e)

        # A clean EOF after whole messages: replies flushed, then EOF.
        d = connect(addr)
        d.sendall(msg(b"bye") + msg(b"now"))
        d.shutdown(socket.SHUT_WR)
        got, how = recv_to_end(d)
        ok(label + ": EOF after whole messages: replies, then EOF",
           got == OK * 2 and how == "eof", "got %r, %s" % (got, how))
        lines = [out.line(), out.line()]
        ok(label + ": ... and their stdout lines",
           lines == [b"received string: bye", b"received string: now"], "%r" % lines)
        for s in (a, b, c, d):
            s.close()

        p.send_signal(sig)
        rc = p.wait(timeout=TIMEOUT)
        ok(label + ": %s exits 0" % sig.name, rc == 0, "status %s" % rc)
        rest = out.buf + p.stdout.read()
        ok(label + ": nothing else on stdout", rest == b"", "also %r" % rest[:200])
        rest = err.buf + p.stderr.read()
        ok(label + ": nothing else on stderr", rest == b"", "also %r" % rest[:200])
        if endpoint.startswith("unix:"):
            ok(label + ": socket file removed", not os.path.exists(endpoint[5:]))
    finally:
        if p.poll() is None:
            p.kill()
            p.wait()


tmp = tempfile.mkdtemp()
try:
    run("tcp", "tcp://127.0.0.1:0", signal.SIGINT)
    run("unix", "unix:" + os.path.join(tmp, "lp.sock"), signal.SIGTERM)
    r = subprocess.run([SRV], capture_output=True, timeout=TIMEOUT)
    ok("no endpoint: exit 2 with usage", r.returncode == 2 and b"usage" in r.stderr,
       "status %d" % r.returncode)
    r = subprocess.run([SRV, "tcp://127.0.0.1"], capture_output=True, timeout=TIMEOUT)
    ok("bad endpoint: exit 1 with a message",
       r.returncode == 1 and b"missing port" in r.stderr and r.stdout == b"",
       "status %d, stderr %r" % (r.returncode, r.stderr))
finally:
    shutil.rmtree(tmp, ignore_errors=True)
sys.exit(1 if failed else 0)
PY
