#!/usr/bin/env bash
# shellcheck disable=SC2015,SC2317  # pass() never fails; cleanup runs from the trap
# echo-server-test: the promises of examples/echo-server.
#  - exactly one line "listening on <endpoint with the real port>", for tcp
#    (port 0 replaced by the real one), unix and abstract unix;
#  - a peer's EOF gets everything echoed, then the connection closes;
#  - SIGTERM and SIGINT shut it down gracefully with exit status 0;
#  - a bad endpoint or a busy port: a message on stderr, non-zero exit.
# Never sleeps to wait: polls with bounded loops.
#
# Usage: bash tests/echo-server-test.sh [BUILD_DIR]   (default: .)
if [ -z "${BASH_VERSION:-}" ]; then exec bash "$0" "$@"; fi
set -u

build=${1:-.}
here=$(cd "$(dirname "$0")" && pwd) # server_harness.py
srv=$build/examples/echo-server
tmp=$(mktemp -d)
pids=()
cleanup() {
    for p in "${pids[@]}"; do kill -9 "$p" 2>/dev/null; done
    rm -rf "$tmp"
}
trap cleanup EXIT
failed=0
pass() { echo "PASS $1"; }
fail() { echo "FAIL $1 ($2)"; failed=1; }

# start NAME ENDPOINT: run the server, wait for its first line.
start() {
    : >"$tmp/$1.out"
    "$srv" "$2" >"$tmp/$1.out" 2>"$tmp/$1.err" &
    pid=$!
    pids+=("$pid")
    for _ in $(seq 1 500); do
        if grep -q . "$tmp/$1.out" 2>/dev/null; then break; fi
        kill -0 "$pid" 2>/dev/null || break
        python3 -c 'import select; select.select([],[],[],0.01)'
    done
    line=$(head -n 1 "$tmp/$1.out")
}

# echo_check ADDR: 200 KB through the server with a half-close.
echo_check() {
    PYTHONPATH=$here PYTHONDONTWRITEBYTECODE=1 python3 - "$1" <<'PY'
import os, socket, sys
from server_harness import connect, recv_to_end
s = connect(sys.argv[1])
data = os.urandom(200000)
s.sendall(data)
s.shutdown(socket.SHUT_WR)
got, how = recv_to_end(s)
sys.exit(0 if got == data and how == "eof" else 1)
PY
}

# 1. tcp with port 0: the line names the real port; echo; SIGTERM -> 0.
start tcp "tcp://127.0.0.1:0"
if [[ $line =~ ^listening\ on\ tcp://127\.0\.0\.1:([0-9]+)$ ]] && [ "${BASH_REMATCH[1]}" != 0 ]; then
    pass "tcp listening line ($line)"
else
    fail "tcp listening line" "got '$line'"
fi
addr=${line#listening on }
if echo_check "$addr"; then pass "tcp echo with half-close"; else fail "tcp echo" "bytes differ"; fi
kill -TERM "$pid"
wait "$pid"; rc=$?
[ "$rc" = 0 ] && pass "SIGTERM exits 0" || fail "SIGTERM exits 0" "status $rc"
[ "$(wc -l <"$tmp/tcp.out")" = 1 ] && pass "exactly one line on stdout" ||
    fail "exactly one line on stdout" "$(cat "$tmp/tcp.out")"

# 2. unix path and SIGINT.
start unix "unix:$tmp/echo.sock"
[ "$line" = "listening on unix:$tmp/echo.sock" ] && pass "unix listening line" ||
    fail "unix listening line" "got '$line'"
if echo_check "unix:$tmp/echo.sock"; then pass "unix echo"; else fail "unix echo" "bytes differ"; fi
kill -INT "$pid"
wait "$pid"; rc=$?
[ "$rc" = 0 ] && pass "SIGINT exits 0" || fail "SIGINT exits 0" "status $rc"
[ ! -e "$tmp/echo.sock" ] && pass "socket file removed on shutdown" ||
    fail "socket file removed on shutdown" "still there"

# 3. abstract unix.
name="libwire-echo-test-$$"
start abs "unix:@$name"
[ "$line" = "listening on unix:@$name" ] && pass "abstract listening line" ||
    fail "abstract listening line" "got '$line'"
if echo_check "unix:@$name"; then pass "abstract echo"; else fail "abstract echo" "bytes differ"; fi

# 4. a busy port: the second server fails with a message.
start tcp2 "tcp://127.0.0.1:0"
busy=${line#listening on }
"$srv" "$busy" >"$tmp/busy.out" 2>"$tmp/busy.err"; rc=$?
if [ "$rc" != 0 ] && grep -q "Address already in use" "$tmp/busy.err" && [ ! -s "$tmp/busy.out" ]; then
    pass "busy port: non-zero exit and message"
else
    fail "busy port" "status $rc, stderr '$(cat "$tmp/busy.err")'"
fi

# 5. a bad endpoint.
"$srv" "tcp://127.0.0.1" >"$tmp/bad.out" 2>"$tmp/bad.err"; rc=$?
if [ "$rc" != 0 ] && grep -q "missing port" "$tmp/bad.err"; then
    pass "bad endpoint: non-zero exit and message"
else
    fail "bad endpoint" "status $rc, stderr '$(cat "$tmp/bad.err")'"
fi
"$srv" "bogus:x" >/dev/null 2>"$tmp/bad2.err"; rc=$?
if [ "$rc" != 0 ] && grep -q "unknown scheme" "$tmp/bad2.err"; then
    pass "unknown scheme: non-zero exit and message"
else
    fail "unknown scheme" "status $rc, stderr '$(cat "$tmp/bad2.err")'"
fi
exit $failed
