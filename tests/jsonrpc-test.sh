#!/usr/bin/env bash
# shellcheck disable=SC2015,SC2317  # pass() never fails; cleanup runs from the trap
# jsonrpc-test: examples/jsonrpc-server and examples/jsonrpc-call end to end,
# for each framing (lines, content-length):
#  - one line "listening on tcp://127.0.0.1:PORT" (the real port);
#  - subtract (positional and named), sum, get_data, echo print the result
#    as JSON on stdout and exit 0;
#  - an unknown method exits 1 with the error object on stderr;
#  - --notify exits 0 and prints nothing;
#  - sleep answers out of order on one connection (a raw client);
#  - SIGTERM exits 0.
# Plus: a connection refused exits 1 with a message; bad usage exits 2;
# --framing http says it is not available yet (exit 2).
# Never sleeps to wait: polls with bounded loops; every command is bounded
# by `timeout`.
#
# Usage: bash tests/jsonrpc-test.sh [BUILD_DIR]   (default: .)
if [ -z "${BASH_VERSION:-}" ]; then exec bash "$0" "$@"; fi
set -u

build=${1:-.}
srv=$build/examples/jsonrpc-server
call=$build/examples/jsonrpc-call
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

# start NAME ARGS...: run the server, wait for its first line.
start() {
    local name=$1
    shift
    : >"$tmp/$name.out"
    "$srv" "$@" >"$tmp/$name.out" 2>"$tmp/$name.err" &
    pid=$!
    pids+=("$pid")
    for _ in $(seq 1 500); do
        if grep -q . "$tmp/$name.out" 2>/dev/null; then break; fi
        kill -0 "$pid" 2>/dev/null || break
        python3 -c 'import select; select.select([],[],[],0.01)'
    done
    line=$(head -n 1 "$tmp/$name.out")
}

# expect LABEL STATUS STDOUT STDERR_SUBSTRING -- jsonrpc-call ARGS...
expect() {
    local label=$1 want_rc=$2 want_out=$3 want_err=$4
    shift 5
    timeout 10 "$call" "$@" >"$tmp/c.out" 2>"$tmp/c.err"
    local rc=$?
    local out err
    out=$(cat "$tmp/c.out")
    err=$(cat "$tmp/c.err")
    if [ "$rc" = "$want_rc" ] && [ "$out" = "$want_out" ] &&
        { [ -z "$want_err" ] && [ -z "$err" ] || [ -n "$want_err" ] && [[ $err == *"$want_err"* ]]; }; then
        pass "$label"
    else
        fail "$label" "status $rc, stdout '$out', stderr '$err'"
    fi
}

for framing in lines content-length; do
    start "$framing" --framing "$framing" "tcp://127.0.0.1:0"
    if [[ $line =~ ^listening\ on\ tcp://127\.0\.0\.1:([0-9]+)$ ]] && [ "${BASH_REMATCH[1]}" != 0 ]; then
        pass "$framing: listening line ($line)"
    else
        fail "$framing: listening line" "got '$line'"
        continue
    fi
    addr=${line#listening on }
    port=${addr##*:}
    f=(--framing "$framing")
    expect "$framing: subtract positional" 0 19 "" -- "${f[@]}" "$addr" subtract '[42, 23]'
    expect "$framing: subtract negative" 0 -19 "" -- "${f[@]}" "$addr" subtract '[23, 42]'
    expect "$framing: subtract named" 0 19 "" -- "${f[@]}" "$addr" subtract '{"subtrahend": 23, "minuend": 42}'
    expect "$framing: sum" 0 7 "" -- "${f[@]}" "$addr" sum '[1,2,4]'
    expect "$framing: get_data" 0 '["hello",5]' "" -- "${f[@]}" "$addr" get_data
    expect "$framing: echo" 0 '{"a":[1,"x",null,true],"b":{}}' "" -- "${f[@]}" "$addr" echo '{"a":[1,"x",null,true],"b":{}}'
    expect "$framing: echo without params" 0 null "" -- "${f[@]}" "$addr" echo
    expect "$framing: unknown method" 1 "" '{"code":-32601,"message":"Method not found"}' -- "${f[@]}" "$addr" foobar '[1]'
    expect "$framing: invalid params" 1 "" '"code":-32602' -- "${f[@]}" "$addr" subtract '["a"]'
    expect "$framing: notification" 0 "" "" -- "${f[@]}" --notify "$addr" notify_hello '[7]'
    expect "$framing: sleep" 0 30 "" -- "${f[@]}" "$addr" sleep '{"ms": 30}'
    expect "$framing: timeout" 1 "" "no response within 100 ms" -- "${f[@]}" --timeout 100 "$addr" sleep '{"ms": 3000}'
    # Out of order on one connection: the 300 ms sleep is asked first,
    # answered last; the answers are framed as asked.
    if timeout 10 python3 - "$port" "$framing" <<'PY'; then
import json, socket, sys
port, framing = int(sys.argv[1]), sys.argv[2]
s = socket.create_connection(("127.0.0.1", port), timeout=5)
def send(obj):
    b = json.dumps(obj).encode()
    s.sendall(b + b"\n" if framing == "lines" else
              b"Content-Length: %d\r\n\r\n" % len(b) + b)
buf = b""
def recv():
    global buf
    while True:
        if framing == "lines":
            if b"\n" in buf:
                line, buf = buf.split(b"\n", 1)
                return json.loads(line)
        else:
            if b"\r\n\r\n" in buf:
                head, rest = buf.split(b"\r\n\r\n", 1)
                n = int(head.split(b":")[1])
                if len(rest) >= n:
                    buf = rest[n:]
                    return json.loads(rest[:n])
        d = s.recv(65536)
        if not d:
            raise SystemExit("EOF")
        buf += d
send({"jsonrpc": "2.0", "method": "sleep", "params": {"ms": 300}, "id": "slow"})
send({"jsonrpc": "2.0", "method": "sleep", "params": {"ms": 0}, "id": "fast"})
send([{"jsonrpc": "2.0", "method": "sum", "params": [1, 2], "id": 1},
      {"jsonrpc": "2.0", "method": "notify_sum", "params": [1]}])
got = [recv(), recv(), recv()]
first = sorted(json.dumps(g, sort_keys=True) for g in got[:2])
assert first == sorted(json.dumps(g, sort_keys=True) for g in [
    {"jsonrpc": "2.0", "result": 0, "id": "fast"},
    [{"jsonrpc": "2.0", "result": 3, "id": 1}]]), got
assert got[2] == {"jsonrpc": "2.0", "result": 300, "id": "slow"}, got
PY
        pass "$framing: answers out of order on one connection"
    else
        fail "$framing: answers out of order" "see above"
    fi
    kill -TERM "$pid"
    wait "$pid"
    rc=$?
    [ "$rc" = 0 ] && pass "$framing: SIGTERM exits 0" || fail "$framing: SIGTERM exits 0" "status $rc"
    [ "$(wc -l <"$tmp/$framing.out")" = 1 ] && pass "$framing: exactly one line on stdout" ||
        fail "$framing: one line on stdout" "$(cat "$tmp/$framing.out")"
done

# A sleeping call is answered at once when the server shuts down: a raw
# client asks for a long sleep, then an echo; once the echo is back the
# sleep is surely waiting, and the client sends SIGTERM itself.
start shut "tcp://127.0.0.1:0"
addr=${line#listening on }
if timeout 10 python3 - "${addr##*:}" "$pid" <<'PY'; then
import json, os, signal, socket, sys
s = socket.create_connection(("127.0.0.1", int(sys.argv[1])), timeout=5)
s.sendall(b'{"jsonrpc":"2.0","method":"sleep","params":{"ms":60000},"id":1}\n'
          b'{"jsonrpc":"2.0","method":"echo","params":[2],"id":2}\n')
f = s.makefile("rb")
assert json.loads(f.readline())["id"] == 2
os.kill(int(sys.argv[2]), signal.SIGTERM)
r = json.loads(f.readline())
assert r == {"jsonrpc": "2.0", "id": 1, "error": {"code": -32000, "message": "server shutting down"}}, r
assert f.readline() == b""  # then the connection closes
PY
    wait "$pid"; rc=$?
    [ "$rc" = 0 ] && pass "SIGTERM answers sleeping calls, exits 0" ||
        fail "SIGTERM with a sleeping call" "status $rc"
else
    fail "SIGTERM with a sleeping call" "see above"
fi

# Connection refused: a free port (bound, then released).
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
expect "connection refused" 1 "" "jsonrpc-call:" -- "tcp://127.0.0.1:$port" echo
expect "usage: no method" 2 "" "usage:" -- "tcp://127.0.0.1:1"
expect "usage: params not JSON" 2 "" "PARAMS_JSON" -- "tcp://127.0.0.1:1" echo '[1,'
expect "usage: params a number" 2 "" "array or an object" -- "tcp://127.0.0.1:1" echo '5'
expect "call: http framing not yet" 2 "" "http framing not available yet" -- --framing http "tcp://127.0.0.1:1" echo
timeout 5 "$srv" --framing http "tcp://127.0.0.1:0" >"$tmp/h.out" 2>"$tmp/h.err"
rc=$?
if [ "$rc" = 2 ] && grep -q "http framing not available yet" "$tmp/h.err"; then
    pass "server: http framing not yet"
else
    fail "server: http framing" "status $rc, '$(cat "$tmp/h.err")'"
fi
exit $failed
