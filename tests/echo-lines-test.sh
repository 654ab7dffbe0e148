#!/usr/bin/env bash
# echo-lines-test: the promises of `examples/echo-server --lines`, over tcp
# (port 0) and a unix path in a fresh temp dir:
#  - exactly one line "listening on <endpoint>" on stdout;
#  - every line, ended by \n or \r\n, comes back as one line ended by \r\n,
#    whatever the split of the writes (also a \r and its \n in two reads,
#    byte by byte, empty lines, a line of exactly --max-line bytes);
#  - a last line ended by EOF is echoed, then the connection closes;
#  - a line over --max-line (with or without its terminator in sight)
#    closes that connection only: the reason, naming the limit and the
#    stream offset, is on stderr; a concurrent connection and a new one
#    keep working;
#  - SIGTERM exits 0; bad options exit 2 with a message.
# Never sleeps to wait: it reads the server's stdout/stderr pipes and the
# sockets, each with a bounded timeout (tests/server_harness.py).
#
# Usage: bash tests/echo-lines-test.sh [BUILD_DIR]   (default: .)
if [ -z "${BASH_VERSION:-}" ]; then exec bash "$0" "$@"; fi
set -u
build=${1:-.}
PYTHONPATH=$(cd "$(dirname "$0")" && pwd) PYTHONDONTWRITEBYTECODE=1 \
    exec python3 - "$build/examples/echo-server" <<'PY'
import os, shutil, signal, socket, subprocess, sys, tempfile
from server_harness import TIMEOUT, Server, connect, ok, recv_exactly, recv_to_end, status

SRV = sys.argv[1]
MAX = 64


def exchange(s, data, expect):
    s.sendall(data)
    return recv_exactly(s, len(expect)) == expect


def run(label, endpoint):
    with Server([SRV, "--lines", "--max-line", str(MAX), endpoint]) as srv:
        addr = srv.listening(label, endpoint)
        if addr is None:
            return
        err = srv.err

        # Several lines in one write, \n and \r\n, empty ones too.
        a = connect(addr)
        ok(label + ": lines in one write, LF and CRLF",
           exchange(a, b"one\ntwo\r\n\n\r\nthree\n", b"one\r\ntwo\r\n\r\n\r\nthree\r\n"))
        # Split writes: the echo of the first line proves the server read
        # the head of the second before its tail was even sent.
        ok(label + ": first line of a split pair",
           exchange(a, b"first\nspl", b"first\r\n"))
        a.sendall(b"it\r")
        ok(label + ": line split in three writes, \\r and \\n apart",
           exchange(a, b"\n", b"split\r\n"))
        for ch in b"byte by byte\r\n"[:-1]:
            a.sendall(bytes([ch]))
        ok(label + ": line sent byte by byte", exchange(a, b"\n", b"byte by byte\r\n"))
        full = b"x" * MAX
        ok(label + ": a line of exactly --max-line bytes (LF)",
           exchange(a, full + b"\n", full + b"\r\n"))
        ok(label + ": a line of exactly --max-line bytes (CRLF)",
           exchange(a, full + b"\r\n", full + b"\r\n"))

        # An over-long line closes its own connection, and only that one.
        b = connect(addr)
        ok(label + ": second connection works", exchange(b, b"hi\n", b"hi\r\n"))
        b.sendall(b"y" * (MAX + 1) + b"\nnever echoed\n")
        got, how = recv_to_end(b)
        ok(label + ": over-long line closes that connection",
           got == b"" and how in ("eof", "reset"), "got %r, %s" % (got, how))
        e = err.text()
        ok(label + ": stderr names the limit and the offset",
           e is not None and "stream offset 3 " in e and
           ("limit of %d bytes" % MAX) in e, "stderr %r" % e)
        ok(label + ": the concurrent connection keeps working",
           exchange(a, b"still here\n", b"still here\r\n"))
        # Over-long without a terminator in sight: the server does not wait
        # for one (it holds at most the limit plus a '\r').
        c = connect(addr)
        c.sendall(b"z" * 40)
        c.sendall(b"z" * 40)
        got, how = recv_to_end(c)
        ok(label + ": over-long unterminated line closes that connection",
           got == b"" and how in ("eof", "reset"), "got %r, %s" % (got, how))
        e = err.text()
        ok(label + ": stderr again, offset 0",
           e is not None and "stream offset 0 " in e, "stderr %r" % e)
        d = connect(addr)
        ok(label + ": a new connection works", exchange(d, b"new\r\n", b"new\r\n"))
        d.close()

        # A last line ended by EOF is echoed, then the server closes.
        a.sendall(b"last words")
        a.shutdown(socket.SHUT_WR)
        got, how = recv_to_end(a)
        ok(label + ": unterminated last line echoed, then EOF",
           got == b"last words\r\n" and how == "eof", "got %r, %s" % (got, how))
        for s in (a, b, c):
            s.close()

        srv.stop(label, signal.SIGTERM, "exactly one line on stdout")


tmp = tempfile.mkdtemp()
try:
    run("tcp", "tcp://127.0.0.1:0")
    run("unix", "unix:" + os.path.join(tmp, "lines.sock"))
    for args, what in (([SRV, "--max-line", "5", "unix:" + tmp + "/x"], "needs --lines"),
                       ([SRV, "--lines", "--max-line", "0", "unix:" + tmp + "/x"], "wants a number"),
                       ([SRV, "--lines", "--max-line", "12k", "unix:" + tmp + "/x"], "wants a number"),
                       ([SRV, "--bogus", "unix:" + tmp + "/x"], "unknown option")):
        r = subprocess.run(args, capture_output=True, timeout=TIMEOUT)
        ok("bad options %s: exit 2 and '%s'" % (args[1:-1], what),
           r.returncode == 2 and what in r.stderr.decode() and r.stdout == b"",
           "status %d, stderr %r" % (r.returncode, r.stderr))
finally:
    shutil.rmtree(tmp, ignore_errors=True)
sys.exit(status())
PY
