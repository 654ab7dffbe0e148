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
# sockets, each with a bounded timeout (tests/server_harness.py).
#
# Usage: bash tests/lenprefix-server-test.sh [BUILD_DIR]   (default: .)
if [ -z "${BASH_VERSION:-}" ]; then exec bash "$0" "$@"; fi
set -u
build=${1:-.}
PYTHONPATH=$(cd "$(dirname "$0")" && pwd) PYTHONDONTWRITEBYTECODE=1 \
    exec python3 - "$build/examples/lenprefix-server" <<'PY'
import os, shutil, signal, socket, struct, subprocess, sys, tempfile
from server_harness import TIMEOUT, Server, connect, ok, recv_exactly, recv_to_end, status

SRV = sys.argv[1]
OK = struct.pack("<L", 2) + b"ok"


def msg(payload):
    return struct.pack("<L", len(payload)) + payload


def run(label, endpoint, sig):
    with Server([SRV, endpoint]) as srv:
        addr = srv.listening(label, endpoint)
        if addr is None:
            return
        out, err = srv.out, srv.err

        def expect(s, payloads, name):
            """Stdout lines and replies for `payloads`, already sent on `s`
            (stdout first: a long line fills the pipe before the reply)."""
            lines = [out.line() for _ in payloads]
            replies = recv_exactly(s, len(OK) * len(payloads))
            want = [b"received string: " + x for x in payloads]
            ok(label + ": " + name, replies == OK * len(payloads) and lines == want,
               "replies %r, stdout %r" % (replies[:64], [l[:64] if l else l for l in lines]))

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
        e = err.text() or ""
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
        e = err.text() or ""
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

        srv.stop(label, sig, "nothing else on stdout")
        if endpoint.startswith("unix:"):
            ok(label + ": socket file removed", not os.path.exists(endpoint[5:]))


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
sys.exit(status())
PY
