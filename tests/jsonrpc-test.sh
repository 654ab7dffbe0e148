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
# Then --framing http (JSON-RPC over HTTP/1.1: each call one POST), over
# tcp:// and over tls:// (HTTPS, with a CA and a localhost certificate made
# here by the openssl command; that half is skipped without it):
#  - the same calls, results and exit statuses; --path picks the target
#    (the server takes POST on any path); --notify exits 0 (the server
#    answers 204);
#  - a raw client pipelines on one connection a slow sleep, a fast one, a
#    batch, a notification and a GET: answers come in request order (HTTP
#    has no other: the fast sleep waits behind the slow one instead of
#    overtaking it, and nothing is cut short by a 204), the notification
#    gets 204 with no body, the GET 405 with Allow: POST;
#  - SIGTERM exits 0.
# Plus: a connection refused exits 1 with a message; bad usage exits 2; a
# non-2xx HTTP answer (examples/http-server's 404) exits 1 naming it.
# Never sleeps to wait: polls with bounded loops; every command is bounded
# by `timeout`.
#
# Usage: bash tests/jsonrpc-test.sh [BUILD_DIR]   (default: .)
if [ -z "${BASH_VERSION:-}" ]; then exec bash "$0" "$@"; fi
set -u

build=${1:-.}
srv=$build/examples/jsonrpc-server
call=$build/examples/jsonrpc-call
http_srv=$build/examples/http-server
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
expect "usage: a path without /" 2 "" "--path must start with '/'" -- --framing http --path rpc "tcp://127.0.0.1:1" echo
expect "usage: unknown framing" 2 "" "unknown framing" -- --framing smoke "tcp://127.0.0.1:1" echo

# ---- JSON-RPC over HTTP ----

# http_checks LABEL CLIENT_ENDPOINT PORT [CA]: the calls, then the raw
# pipelined client (over TLS when CA is given).
http_checks() {
    local label=$1 ep=$2 port=$3 ca=${4:-}
    local f=(--framing http)
    expect "$label: subtract positional" 0 19 "" -- "${f[@]}" "$ep" subtract '[42, 23]'
    expect "$label: subtract negative" 0 -19 "" -- "${f[@]}" "$ep" subtract '[23, 42]'
    expect "$label: subtract named" 0 19 "" -- "${f[@]}" "$ep" subtract '{"subtrahend": 23, "minuend": 42}'
    expect "$label: sum" 0 7 "" -- "${f[@]}" "$ep" sum '[1,2,4]'
    expect "$label: get_data" 0 '["hello",5]' "" -- "${f[@]}" "$ep" get_data
    expect "$label: echo" 0 '{"a":[1,"x",null,true],"b":{}}' "" -- "${f[@]}" "$ep" echo '{"a":[1,"x",null,true],"b":{}}'
    expect "$label: echo without params" 0 null "" -- "${f[@]}" "$ep" echo
    expect "$label: any path" 0 '[3]' "" -- "${f[@]}" --path '/rpc/v1?x=1' "$ep" echo '[3]'
    expect "$label: unknown method" 1 "" '{"code":-32601,"message":"Method not found"}' -- "${f[@]}" "$ep" foobar '[1]'
    expect "$label: invalid params" 1 "" '"code":-32602' -- "${f[@]}" "$ep" subtract '["a"]'
    expect "$label: notification (204)" 0 "" "" -- "${f[@]}" --notify "$ep" notify_hello '[7]'
    expect "$label: sleep answered later" 0 300 "" -- "${f[@]}" "$ep" sleep '{"ms": 300}'
    expect "$label: timeout" 1 "" "no response within 100 ms" -- "${f[@]}" --timeout 100 "$ep" sleep '{"ms": 3000}'
    if timeout 10 python3 - "$port" "$ca" <<'PY'; then
import json, socket, ssl, sys, time
port, ca = int(sys.argv[1]), sys.argv[2]
s = socket.create_connection(("127.0.0.1", port), timeout=5)
if ca:
    s = ssl.create_default_context(cafile=ca).wrap_socket(s, server_hostname="localhost")
def post(path, obj):
    b = json.dumps(obj).encode()
    return (b"POST %s HTTP/1.1\r\nHost: localhost\r\nContent-Type: application/json\r\n"
            b"Content-Length: %d\r\n\r\n" % (path.encode(), len(b)) + b)
# Pipelined: all five written at once.
t0 = time.monotonic()
s.sendall(post("/", {"jsonrpc": "2.0", "method": "sleep", "params": {"ms": 300}, "id": "slow"}) +
          post("/a", {"jsonrpc": "2.0", "method": "sleep", "params": {"ms": 0}, "id": "fast"}) +
          post("/b/c", [{"jsonrpc": "2.0", "method": "sum", "params": [1, 2], "id": 1},
                        {"jsonrpc": "2.0", "method": "notify_sum", "params": [1]}]) +
          post("/", {"jsonrpc": "2.0", "method": "notify_hello", "params": [7]}) +
          b"GET / HTTP/1.1\r\nHost: localhost\r\n\r\n")
buf = b""
def fill():
    global buf
    d = s.recv(65536)
    if not d:
        raise SystemExit("EOF after %r" % buf)
    buf += d
def response():
    global buf
    while b"\r\n\r\n" not in buf:
        fill()
    head, buf = buf.split(b"\r\n\r\n", 1)
    lines = head.decode().split("\r\n")
    status = int(lines[0].split()[1])
    hdr = {k.strip().lower(): v.strip() for k, v in (l.split(":", 1) for l in lines[1:])}
    n = int(hdr.get("content-length", "0"))
    while len(buf) < n:
        fill()
    body, buf = buf[:n], buf[n:]
    return status, hdr, body
got = [response() for _ in range(5)]
st, hdr, body = got[0]
assert st == 200 and hdr["content-type"] == "application/json", got[0]
assert json.loads(body) == {"jsonrpc": "2.0", "result": 300, "id": "slow"}, got[0]
assert time.monotonic() - t0 >= 0.25, "the slow sleep was answered early"
assert got[1][0] == 200 and json.loads(got[1][2]) == {"jsonrpc": "2.0", "result": 0, "id": "fast"}, got[1]
assert got[2][0] == 200 and json.loads(got[2][2]) == [{"jsonrpc": "2.0", "result": 3, "id": 1}], got[2]
assert got[3][0] == 204 and got[3][2] == b"" and "content-length" not in got[3][1], got[3]
assert got[4][0] == 405 and got[4][1]["allow"] == "POST", got[4]
PY
        pass "$label: pipelined answers in request order, 204, 405"
    else
        fail "$label: pipelined answers" "see above"
    fi
}

# stop_server LABEL NAME: SIGTERM exits 0, exactly one line on stdout.
stop_server() {
    kill -TERM "$pid"
    wait "$pid"
    local rc=$?
    [ "$rc" = 0 ] && pass "$1: SIGTERM exits 0" || fail "$1: SIGTERM exits 0" "status $rc"
    [ "$(wc -l <"$tmp/$2.out")" = 1 ] && pass "$1: exactly one line on stdout" ||
        fail "$1: one line on stdout" "$(cat "$tmp/$2.out")"
}

start http --framing http "tcp://127.0.0.1:0"
if [[ $line =~ ^listening\ on\ tcp://127\.0\.0\.1:([0-9]+)$ ]] && [ "${BASH_REMATCH[1]}" != 0 ]; then
    pass "http: listening line ($line)"
    addr=${line#listening on }
    http_checks "http" "$addr" "${addr##*:}"
    stop_server "http" http
else
    fail "http: listening line" "got '$line' $(cat "$tmp/http.err")"
fi

# HTTPS: the same over tls://, verified against a CA of our own (our own
# openssl config, so the system's decides nothing).
if command -v openssl >/dev/null 2>&1; then
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
    if openssl req -config "$tmp/x509.cnf" -x509 -newkey ec \
        -pkeyopt ec_paramgen_curve:P-256 -nodes -days 2 -subj "/CN=test CA" \
        -extensions ca -keyout "$tmp/ca.key" -out "$tmp/ca.pem" >>"$tmp/certs.log" 2>&1 &&
        openssl req -config "$tmp/x509.cnf" -new -newkey ec \
            -pkeyopt ec_paramgen_curve:P-256 -nodes -subj "/CN=localhost" \
            -keyout "$tmp/server.key" -out "$tmp/server.csr" >>"$tmp/certs.log" 2>&1 &&
        openssl x509 -req -in "$tmp/server.csr" -CA "$tmp/ca.pem" \
            -CAkey "$tmp/ca.key" -set_serial 2 -days 2 -extfile "$tmp/x509.cnf" \
            -extensions localhost -out "$tmp/server.pem" >>"$tmp/certs.log" 2>&1; then
        start https --framing http "tls://127.0.0.1:0?cert=$tmp/server.pem&key=$tmp/server.key"
        if [[ $line =~ ^listening\ on\ tls://127\.0\.0\.1:([0-9]+)$ ]] && [ "${BASH_REMATCH[1]}" != 0 ]; then
            pass "https: listening line ($line)"
            port=${BASH_REMATCH[1]}
            http_checks "https" "tls://localhost:$port?ca=$tmp/ca.pem" "$port" "$tmp/ca.pem"
            # Verification is on: without our CA the call fails.
            expect "https: an unknown CA is refused" 1 "" "jsonrpc-call:" -- --framing http "tls://localhost:$port" echo
            stop_server "https" https
        else
            fail "https: listening line" "got '$line' $(cat "$tmp/https.err")"
        fi
    else
        fail "https: making the certificates" "$(cat "$tmp/certs.log")"
    fi
else
    echo "SKIP https: the openssl command is not installed"
fi

# A server that answers the POST with 404: exit 1, the status line said.
: >"$tmp/hs.out"
"$http_srv" "tcp://127.0.0.1:0" >"$tmp/hs.out" 2>"$tmp/hs.err" &
hpid=$!
pids+=("$hpid")
for _ in $(seq 1 500); do
    grep -q . "$tmp/hs.out" 2>/dev/null && break
    kill -0 "$hpid" 2>/dev/null || break
    python3 -c 'import select; select.select([],[],[],0.01)'
done
haddr=$(sed -n 's/^listening on //p' "$tmp/hs.out")
expect "http: a 404 fails the call" 1 "" "HTTP/1.1 404 Not Found" -- --framing http --path /nothing "$haddr" echo
kill -TERM "$hpid"
wait "$hpid"
exit $failed
