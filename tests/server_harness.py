"""Shared by the tests of the example servers (echo-server-test.sh,
echo-lines-test.sh, lenprefix-server-test.sh): PASS/FAIL lines, a server
started with its stdout and stderr read line by line, connecting to the
endpoint it prints, and reading from sockets.

Nothing here sleeps to wait: every read has a deadline (TIMEOUT seconds
unless told), and a child still running at the end is killed.
"""
import os
import re
import select
import socket
import subprocess
import sys
import time

TIMEOUT = 10.0
failed = False


def ok(name, cond, detail=""):
    """Print "PASS name", or "FAIL name (detail)" and remember the failure."""
    global failed
    print(("PASS " if cond else "FAIL ") + name + ("" if cond else " (%s)" % detail))
    sys.stdout.flush()
    if not cond:
        failed = True


def status():
    """The exit status for the whole script: 1 after any FAIL."""
    return 1 if failed else 0


class Pipe:
    """Lines from a child's pipe, each awaited with a deadline."""

    def __init__(self, f):
        self.fd = f.fileno()
        self.buf = b""

    def line(self, timeout=TIMEOUT):
        """The next line (bytes, without its newline), or None when none
        came in time or the pipe ended."""
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

    def text(self, timeout=TIMEOUT):
        """The next line decoded, or None as for line()."""
        line = self.line(timeout)
        return None if line is None else line.decode(errors="replace")


def connect(addr, timeout=TIMEOUT):
    """A socket connected to `addr`: tcp://HOST:PORT (Nagle off, so small
    writes go out as written), unix:PATH or unix:@NAME (abstract)."""
    if addr.startswith("tcp://"):
        host, port = addr[6:].rsplit(":", 1)
        s = socket.create_connection((host.strip("[]"), int(port)), timeout=timeout)
        s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        return s
    path = addr[5:]
    if path.startswith("@"):
        path = "\0" + path[1:]
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    s.settimeout(timeout)
    s.connect(path)
    return s


def recv_exactly(s, n):
    """`n` bytes from `s`, or fewer if it ends first."""
    got = b""
    while len(got) < n:
        c = s.recv(n - len(got))
        if not c:
            break
        got += c
    return got


def recv_to_end(s):
    """Everything until EOF or a reset: (bytes, "eof" | "reset" | "timeout")."""
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


class Server:
    """A server under test, its stdout and stderr as Pipes (out, err).  As
    a context manager it kills the server if it is still running at the
    end."""

    def __init__(self, args):
        self.p = subprocess.Popen(args, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        self.out, self.err = Pipe(self.p.stdout), Pipe(self.p.stderr)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        if self.p.poll() is None:
            self.p.kill()
            self.p.wait()
        return False

    def listening(self, label, endpoint):
        """Check the first stdout line, "listening on ENDPOINT" (for tcp
        port 0: 127.0.0.1 and the real port); the address to connect to,
        or None."""
        line = self.out.text() or ""
        m = re.fullmatch(r"listening on (.*)", line)
        want = (r"tcp://127\.0\.0\.1:[1-9][0-9]*" if endpoint.startswith("tcp")
                else re.escape(endpoint))
        ok(label + ": listening line", m is not None and re.fullmatch(want, m.group(1)),
           "got %r" % line)
        return m.group(1) if m is not None else None

    def stop(self, label, sig, stdout_check):
        """Stop the server with `sig`: it must exit 0, with nothing more on
        stdout (the check named `stdout_check`) or stderr."""
        self.p.send_signal(sig)
        rc = self.p.wait(timeout=TIMEOUT)
        ok(label + ": %s exits 0" % sig.name, rc == 0, "status %s" % rc)
        rest = self.out.buf + self.p.stdout.read()
        ok(label + ": " + stdout_check, rest == b"", "also %r" % rest[:200])
        rest = self.err.buf + self.p.stderr.read()
        ok(label + ": nothing else on stderr", rest == b"", "also %r" % rest[:200])
