#!/usr/bin/env bash
# connected-test: examples/echo-server and tools/wirecat on the endpoints
# that are connections already (stdio:, file:, exec:, serial:).
#  echo-server ENDPOINT connects instead of listening, prints nothing on
#  stdout of its own, echoes (bytes, or lines with --lines) until EOF and
#  exits 0:
#  - stdio: with input from a pipe, a regular file and /dev/null, output
#    to a pipe or a regular file; --lines likewise;
#  - stdio: on a terminal: blocking mode restored, SIGTERM exits 0;
#  - stdio: whose reader goes away: "Broken pipe", exit 1, no SIGPIPE;
#  - file:IN?out=OUT&chunk=3 (and without input) writes OUT == IN;
#  - exec:... echoes to a child, and a child's failure is exit 1;
#  - serial: on a pty: echoes, and the other end hanging up is EOF;
#  wirecat relays them:
#  - stdio: <-> exec:tr a-z A-Z, file: <-> stdio:, file: <-> tcp, stdio:
#    from /dev/null; --listen tcp -> exec:; exec: cannot be listened on;
#  - exec: children do not inherit an ignored SIGPIPE;
#  - stdio: on one socket (inetd style): the other side's EOF reaches the
#    peer while it still sends (write_eof shuts the socket's write half).
# A case that needs a transport not built yet FAILs and says which one
# ("waits on ..."), it is never skipped silently.  Never sleeps to wait:
# every program runs with a bounded timeout and every read has a deadline
# (tests/server_harness.py).
#
# Usage: bash tests/connected-test.sh [BUILD_DIR]   (default: .)
if [ -z "${BASH_VERSION:-}" ]; then exec bash "$0" "$@"; fi
set -u
build=${1:-.}
PYTHONPATH=$(cd "$(dirname "$0")" && pwd) PYTHONDONTWRITEBYTECODE=1 \
    exec python3 - "$build/examples/echo-server" "$build/tools/wirecat" <<'PY'
import fcntl, os, pty, select, shutil, signal, socket, subprocess, sys, tempfile, tty
import server_harness
from server_harness import TIMEOUT, Server, ok, status

SRV, CAT = sys.argv[1], sys.argv[2]
TRANSPORT_FILE = {"exec": "transports/subprocess.c", "file": "transports/file.c",
                  "serial": "transports/serial.c"}
waiting = set()


class Run:
    """A finished program: rc (None after a timeout; it was killed), out,
    err (bytes)."""

    def __init__(self, args, stdin=subprocess.DEVNULL, input=None, stdout=subprocess.PIPE,
                 timeout=TIMEOUT):
        if input is not None:
            stdin = subprocess.PIPE
        p = subprocess.Popen(args, stdin=stdin, stdout=stdout, stderr=subprocess.PIPE)
        try:
            self.out, self.err = p.communicate(input, timeout=timeout)
            self.rc = p.returncode
        except subprocess.TimeoutExpired:
            p.kill()
            self.out, self.err = p.communicate()
            self.rc = None
        self.out = self.out or b""


def check(name, needs, cond, detail, err=b""):
    """ok(), but a failure whose stderr says a transport is "not built
    yet" names the transport it waits on."""
    if not cond and needs and b"not built yet" in err:
        waiting.add(needs)
        detail = "waits on the %s: transport (%s): %s" % (
            needs, TRANSPORT_FILE[needs], err.decode(errors="replace").strip())
    ok(name, cond, detail)


def clean_exit(name, r, needs=None, want_out=None):
    """r exited 0 with nothing on stderr (and `want_out` on stdout)."""
    good = r.rc == 0 and r.err == b"" and (want_out is None or r.out == want_out)
    check(name, needs, good, "status %s, stdout %d bytes%s, stderr %r" % (
        r.rc, len(r.out), "" if want_out is None or r.out == want_out else " (differs)",
        r.err[:300]), r.err)


def read_file(path):
    try:
        with open(path, "rb") as f:
            return f.read()
    except OSError:
        return None


tmp = tempfile.mkdtemp()


def path(name):
    return os.path.join(tmp, name)


def write_file(name, data):
    with open(path(name), "wb") as f:
        f.write(data)
    return path(name)


data = os.urandom(300000)
IN = write_file("in", data)
LINES_IN = b"one\ntwo\r\n\n\r\nthree\nlast words"
LINES_OUT = b"one\r\ntwo\r\n\r\n\r\nthree\r\nlast words\r\n"
LIN = write_file("lines", LINES_IN)

# ---- echo-server stdio: ----

clean_exit("echo stdio: pipe in, pipe out", Run([SRV, "stdio:"], input=data), want_out=data)
with open(IN, "rb") as f:
    clean_exit("echo stdio: regular file in", Run([SRV, "stdio:"], stdin=f), want_out=data)
with open(IN, "rb") as f, open(path("out"), "wb") as o:
    r = Run([SRV, "stdio:"], stdin=f, stdout=o)
clean_exit("echo stdio: regular file in, regular file out", r)
ok("echo stdio: the output file is the input", read_file(path("out")) == data)
clean_exit("echo stdio: /dev/null in", Run([SRV, "stdio:"]), want_out=b"")
clean_exit("echo --lines stdio: pipe in", Run([SRV, "--lines", "stdio:"], input=LINES_IN),
           want_out=LINES_OUT)
with open(LIN, "rb") as f:
    clean_exit("echo --lines stdio: regular file in", Run([SRV, "--lines", "stdio:"], stdin=f),
               want_out=LINES_OUT)
clean_exit("echo --lines stdio: /dev/null in", Run([SRV, "--lines", "stdio:"]), want_out=b"")
r = Run([SRV, "--lines", "--max-line", "4", "stdio:"], input=b"ok\ntoo long\n")
ok("echo --lines stdio: an over-long line is exit 1 with the reason",
   r.rc == 1 and r.out == b"ok\r\n" and b"limit of 4 bytes" in r.err,
   "status %s, stdout %r, stderr %r" % (r.rc, r.out, r.err))
r = Run([SRV, "stdio:x"])
ok("echo stdio:x: exit 1, message", r.rc == 1 and b"stdio:x" in r.err, "status %s, %r" % (r.rc, r.err))

# The reader of stdout goes away: an error, never a SIGPIPE death.
with open(write_file("big", data * 10), "rb") as f:
    p = subprocess.Popen([SRV, "stdio:"], stdin=f, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    first = p.stdout.read(10)
    p.stdout.close()
    try:
        rc = p.wait(TIMEOUT)
    except subprocess.TimeoutExpired:
        p.kill()
        rc = p.wait()
    err = p.stderr.read()
    p.stderr.close()
ok("echo stdio: reader gone: exit 1 with 'Broken pipe'",
   len(first) == 10 and rc == 1 and b"Broken pipe" in err, "status %s, stderr %r" % (rc, err))

# A terminal on stdin and stdout: echo, SIGTERM exits 0, and the terminal
# (one open file shared by fds 0 and 1) is blocking again afterwards.
m, s = pty.openpty()
tty.setraw(s)
p = subprocess.Popen([SRV, "stdio:"], stdin=s, stdout=s, stderr=subprocess.PIPE)
os.write(m, b"ping")
got = b""
while len(got) < 4 and select.select([m], [], [], TIMEOUT)[0]:
    got += os.read(m, 100)
ok("echo stdio: on a terminal echoes", got == b"ping", "got %r" % got)
ok("echo stdio: the terminal is non-blocking while in use",
   fcntl.fcntl(s, fcntl.F_GETFL) & os.O_NONBLOCK != 0)
p.send_signal(signal.SIGTERM)
try:
    rc = p.wait(TIMEOUT)
except subprocess.TimeoutExpired:
    p.kill()
    rc = p.wait()
err = p.stderr.read()
p.stderr.close()
ok("echo stdio: on a terminal, SIGTERM exits 0", rc == 0 and err == b"", "status %s, %r" % (rc, err))
ok("echo stdio: the terminal is blocking again", fcntl.fcntl(s, fcntl.F_GETFL) & os.O_NONBLOCK == 0)
os.close(m)
os.close(s)

# ---- echo-server file: ----

r = Run([SRV, "file:%s?out=%s&chunk=3" % (IN, path("fout"))])
clean_exit("echo file:IN?out=OUT&chunk=3: exit 0, nothing printed", r, "file", b"")
check("echo file: OUT == IN", "file", read_file(path("fout")) == data, "output differs", r.err)
r = Run([SRV, "--lines", "file:%s?out=%s&chunk=1" % (LIN, path("flout"))])
clean_exit("echo --lines file:IN?out=OUT&chunk=1", r, "file", b"")
check("echo --lines file: OUT has the lines", "file", read_file(path("flout")) == LINES_OUT,
      "got %r" % read_file(path("flout")), r.err)
write_file("stale", b"old")
r = Run([SRV, "file:?out=%s" % path("stale")])
clean_exit("echo file:?out=OUT (no input): exit 0", r, "file", b"")
check("echo file: no input: OUT is empty", "file", read_file(path("stale")) == b"",
      "got %r" % read_file(path("stale")), r.err)

# ---- echo-server exec: ----

# The child writes the data and closes its stdout (our EOF) while a
# background cat keeps what we echo into its stdin in a file (read as it
# is written: echo-server stops reading from a peer whose echo is not
# being read, as any bounded server must); it exits 0 at the EOF we send.
r = Run([SRV, "exec:sh -c 'exec 3<&0; cat <&3 >\"$1\" & exec 3<&-; cat \"$0\"; exec >&-; wait' %s %s" % (IN, path("xout"))])
clean_exit("echo exec:...: exit 0, nothing printed", r, "exec", b"")
check("echo exec: the child got its bytes back", "exec", read_file(path("xout")) == data,
      "output differs", r.err)
r = Run([SRV, "--lines", "exec:sh -c 'cat \"$0\"; exec >&-; cat >\"$1\"' %s %s" % (LIN, path("xlout"))])
clean_exit("echo --lines exec:...: exit 0", r, "exec", b"")
check("echo --lines exec: the child got the lines", "exec", read_file(path("xlout")) == LINES_OUT,
      "got %r" % read_file(path("xlout")), r.err)
r = Run([SRV, "exec:sh -c 'exit 3'"])
check("echo exec: a child exiting 3 is exit 1 with its status", "exec",
      r.rc == 1 and b"status 3" in r.err, "status %s, %r" % (r.rc, r.err), r.err)
r = Run([SRV, "exec:/nonexistent/program"])
check("echo exec: a missing program is exit 1 with a message", "exec",
      r.rc == 1 and b"/nonexistent/program" in r.err and b"not built yet" not in r.err,
      "status %s, %r" % (r.rc, r.err), r.err)

# ---- echo-server serial: on a pty ----

m, s = pty.openpty()
tty.setraw(s)  # already what the transport sets: no echo by the tty itself
p = subprocess.Popen([SRV, "serial:%s?baud=115200" % os.ttyname(s)],
                     stdout=subprocess.PIPE, stderr=subprocess.PIPE)
os.write(m, b"hello serial")
got = b""
# Until the echo is back, or the server is gone (its stderr ends).
while len(got) < 12:
    ready = select.select([m, p.stderr], [], [], TIMEOUT)[0]
    if m not in ready:
        break
    try:
        c = os.read(m, 100)
    except OSError:
        break
    if not c:
        break
    got += c
os.close(m)  # hang up: the line's EOF
try:
    out, err = p.communicate(timeout=TIMEOUT)
    rc = p.returncode
except subprocess.TimeoutExpired:
    p.kill()
    out, err = p.communicate()
    rc = None
os.close(s)
check("echo serial: on a pty echoes", "serial", got == b"hello serial", "got %r" % got, err)
check("echo serial: hang-up is EOF: exit 0, nothing printed", "serial",
      rc == 0 and out == b"" and err == b"", "status %s, %r" % (rc, err), err)

# ---- wirecat ----

r = Run([CAT, "stdio:", "exec:tr a-z A-Z"], input=b"hello")
clean_exit("wirecat stdio: exec:tr a-z A-Z prints HELLO", r, "exec", b"HELLO")
r = Run([CAT, "stdio:", "exec:sh -c 'exit 3'"], input=b"x")
check("wirecat stdio: exec: a failing child is exit 1", "exec",
      r.rc == 1 and b"status 3" in r.err, "status %s, %r" % (r.rc, r.err), r.err)
# Python starts programs with SIGPIPE at its default; wirecat must not
# hand an ignored SIGPIPE (bit 13 of SigIgn) down to its children.
r = Run([CAT, "stdio:", "exec:sh -c 'grep SigIgn /proc/$$/status'"])
ign = r.out.split()[-1] if r.out.startswith(b"SigIgn:") else b""
check("wirecat exec: the child's SIGPIPE is not ignored", "exec",
      r.rc == 0 and ign != b"" and int(ign, 16) & (1 << (signal.SIGPIPE - 1)) == 0,
      "status %s, stdout %r, stderr %r" % (r.rc, r.out, r.err), r.err)

r = Run([CAT, "stdio:", "file:%s?out=%s" % (LIN, path("wfout"))], input=data)
clean_exit("wirecat stdio: file:IN?out=OUT: stdout is IN", r, "file", LINES_IN)
check("wirecat stdio: file: OUT is stdin", "file", read_file(path("wfout")) == data,
      "output differs", r.err)

with Server([SRV, "tcp://127.0.0.1:0"]) as srv:
    addr = srv.listening("wirecat: tcp echo-server", "tcp://127.0.0.1:0")
    if addr is not None:
        clean_exit("wirecat stdio: tcp echo-server, stdin /dev/null", Run([CAT, "stdio:", addr]),
                   want_out=b"")
        clean_exit("wirecat stdio: tcp echo-server, stdin a pipe", Run([CAT, "stdio:", addr],
                   input=data), want_out=data)
        r = Run([CAT, "file:%s?out=%s&chunk=1000" % (IN, path("wtout")), addr])
        clean_exit("wirecat file:IN?out=OUT tcp echo-server", r, "file", b"")
        check("wirecat file: <-> tcp: OUT == IN", "file", read_file(path("wtout")) == data,
              "output differs", r.err)
        # A listening wirecat relays each client to a new child.
        with Server([CAT, "--listen", "--once", "tcp://127.0.0.1:0", "exec:tr a-z A-Z"]) as lst:
            laddr = lst.listening("wirecat --listen tcp -> exec:", "tcp://127.0.0.1:0")
            if laddr is not None:
                r = Run([CAT, "stdio:", laddr], input=b"hello listener")
                try:
                    lrc = lst.p.wait(TIMEOUT)
                    lerr = lst.err.buf + lst.p.stderr.read()
                except subprocess.TimeoutExpired:
                    lrc, lerr = None, b""
                check("wirecat --listen tcp -> exec:tr: the client gets HELLO LISTENER", "exec",
                      r.rc == 0 and r.out == b"HELLO LISTENER",
                      "status %s, stdout %r, client stderr %r" % (r.rc, r.out, r.err),
                      r.err + lerr)
                check("wirecat --listen --once -> exec: exits 0", "exec", lrc == 0,
                      "status %s, stderr %r" % (lrc, lerr), lerr)
    srv.stop("wirecat: tcp echo-server", signal.SIGTERM, "exactly one line on stdout")

r = Run([CAT, "--listen", "exec:cat", "stdio:"])
ok("wirecat --listen exec:cat: exit 2, cannot listen",
   r.rc == 2 and b"cannot listen" in r.err, "status %s, %r" % (r.rc, r.err))

# stdio: on one socket, as inetd or socat hand it over: when the other side
# ends (a server that sends a banner and closes), the peer must see EOF
# while it still keeps its own sending half open.
lsock = socket.socket()
lsock.bind(("127.0.0.1", 0))
lsock.listen(1)
a, b = socket.socketpair()
p = subprocess.Popen([CAT, "stdio:", "tcp://127.0.0.1:%d" % lsock.getsockname()[1]],
                     stdin=b, stdout=b, stderr=subprocess.PIPE)
b.close()
lsock.settimeout(TIMEOUT)
try:
    c, _ = lsock.accept()
    c.sendall(b"banner")
    c.close()
except socket.timeout:
    pass
a.settimeout(TIMEOUT / 2)
got, how = server_harness.recv_to_end(a)
a.shutdown(socket.SHUT_WR)
try:
    rc = p.wait(TIMEOUT)
except subprocess.TimeoutExpired:
    p.kill()
    rc = p.wait()
err = p.stderr.read()
p.stderr.close()
a.close()
lsock.close()
ok("wirecat stdio: on one socket: the peer gets the banner, then EOF while still sending",
   got == b"banner" and how == "eof", "got %r, then %s (library: stdio write_eof does not "
   "shut a socket shared by fds 0 and 1)" % (got, how))
ok("wirecat stdio: on one socket: exit 0", rc == 0, "status %s, %r" % (rc, err))

shutil.rmtree(tmp, ignore_errors=True)
if waiting:
    print("NOTE: %d transport(s) not built yet, cases above FAIL until they land: %s" % (
        len(waiting), ", ".join("%s: (%s)" % (w, TRANSPORT_FILE[w]) for w in sorted(waiting))))
sys.exit(status())
PY
