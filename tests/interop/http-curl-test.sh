#!/usr/bin/env bash
# http-curl-test: examples/http-server with curl as the client, over
# tcp://127.0.0.1:0, a unix socket (curl --unix-socket) and
# tls://127.0.0.1:0 (https://localhost:PORT, curl --cacert, resolved to
# 127.0.0.1 only).  On each of the three:
#  - GET /hello: 200, "hello", Content-Type text/plain, Content-Length 5,
#    a Date; an unknown path: 404; HEAD /hello: the headers, no body;
#  - keep-alive: two URLs in one curl run share one connection (curl's
#    %{num_connects} is 1 then 0, and -v says "Re-using existing
#    connection");
#  - POST /echo of a few MB of random bytes, sent chunked and sent with a
#    Content-Length: the same bytes come back (chunked);
#  - Expect: 100-continue, as curl sends it for large bodies and asked
#    for by hand on a small one: the server says "100 Continue" (curl is
#    told to wait far longer than the test's limit for it otherwise);
#  - HTTP/1.0 (--http1.0): GET /hello and POST /echo are answered with a
#    length or by closing, and each request gets its own connection;
#  - SIGTERM: exit status 0, and nothing on stderr (no log line for any
#    case here, and, in a sanitizer build, no report).
# Over tcp only (bash's /dev/tcp):
#  - malformed requests (Content-Length with Transfer-Encoding, a request
#    line that is not one) get a 400 with Connection: close, the server
#    closes, and it still serves afterwards; a 20 000-byte header: 431;
#  - 200 MB from /dev/zero streamed through `curl -T -` (chunked) to
#    POST /echo are counted back whole by `wc -c`, and the server's peak
#    RSS (VmHWM in /proc/PID/status) stays under a bound: constant memory.
#
# The certificates (a CA, and a leaf for localhost and 127.0.0.1) are
# made at run time with the openssl command in a temporary directory,
# which the EXIT trap removes; without openssl the tls cases are skipped.
# Skipped as a whole (exit 77) when curl is not installed.
#
# Never sleeps to wait: the server's "listening on" line is read from a
# FIFO with a deadline, and every program runs under `timeout`.
#
# Usage: bash tests/interop/http-curl-test.sh [BUILD_DIR]   (default: .)
# Prints "ok - name" or "not ok - name: why" per case; exits 1 if any
# failed.
if [ -z "${BASH_VERSION:-}" ]; then exec bash "$0" "$@"; fi
set -u

build=${1:-.}
srv=$build/examples/http-server
limit=20 # seconds any one program may run (the big upload: 3 x limit)
# The bound on the server's peak resident memory, in kB.  Measured: about
# 4 MB for the whole run without sanitizers, the 200 MB upload included,
# and about 12 MB with AddressSanitizer (see ASAN_OPTIONS below).
rss_limit_kb=30720

curl=${CURL:-curl}
if ! command -v "$curl" >/dev/null 2>&1; then
    echo "SKIP: curl is not installed (Debian: apt-get install curl)"
    exit 77
fi
if [ ! -x "$srv" ]; then
    echo "not ok - setup: $srv is not built"
    exit 1
fi

tmp=$(mktemp -d "${TMPDIR:-/tmp}/http-curl-test.XXXXXX") || exit 1
pids=()

# shellcheck source=tests/interop/harness.sh
. "$(dirname "${BASH_SOURCE[0]}")/harness.sh"

# ---- certificates ----

have_tls=false
if command -v openssl >/dev/null 2>&1 && make_ca ca &&
    make_leaf server ca localhost localhost; then
    have_tls=true
fi

# ---- the server in the background ----

# ---- curl ----

# Set per server: curl's options for the transport, the URL prefix, and
# the label in front of each case's name.
copts=()
url=
label=

# c NAME ARGS...: curl, silent but for errors, under a deadline, with the
# transport's options: response headers (every block, 100 Continue
# included) in $tmp/NAME.h, body in $tmp/NAME.b, -v in $tmp/NAME.v, the
# -w output (when ARGS ask for one) in $tmp/NAME.w.  $? is curl's.
c() {
    local name=$1
    shift
    timeout "$limit" "$curl" -sS -v --max-time "$limit" "${copts[@]}" \
        -D "$tmp/$name.h" -o "$tmp/$name.b" "$@" \
        >"$tmp/$name.w" 2>"$tmp/$name.v"
}

# hdr NAME FIELD: the value of FIELD in the last header block of
# $tmp/NAME.h (the final response), without the CR; empty if absent.
hdr() {
    awk -v f="$2" 'BEGIN { IGNORECASE = 1 }
        { sub(/\r$/, "") }
        /^HTTP\// { v = "" }
        tolower(substr($0, 1, length(f) + 1)) == tolower(f) ":" {
            v = substr($0, length(f) + 2); sub(/^[ \t]+/, "", v) }
        END { print v }' "$tmp/$1.h" 2>/dev/null
}

# status NAME: the status code of the final response in $tmp/NAME.h.
status() {
    awk '/^HTTP\// { s = $2 } END { print s }' "$tmp/$1.h" 2>/dev/null
}

# curl_ok NAME ARGS...: c, and a failure message when curl fails.
curl_ok() {
    local name=$1
    c "$@" && return 0
    why="curl exit $?: $(tail_of "$tmp/$name.v")"
    return 1
}

t_hello() {
    local n=${label}hello
    curl_ok "$n" "$url/hello" || return 1
    [ "$(status "$n")" = 200 ] || { why="status $(status "$n")"; return 1; }
    [ "$(cat "$tmp/$n.b")" = hello ] || { why="body '$(head -c 60 "$tmp/$n.b")'"; return 1; }
    [ "$(hdr "$n" Content-Type)" = text/plain ] ||
        { why="Content-Type '$(hdr "$n" Content-Type)'"; return 1; }
    [ "$(hdr "$n" Content-Length)" = 5 ] ||
        { why="Content-Length '$(hdr "$n" Content-Length)'"; return 1; }
    [[ $(hdr "$n" Date) =~ ^[A-Z][a-z][a-z],\ [0-9]{2}\ [A-Z][a-z][a-z]\ [0-9]{4}\ [0-9:]{8}\ GMT$ ]] ||
        { why="Date '$(hdr "$n" Date)'"; return 1; }
    [ "$(head -n 1 "$tmp/$n.h" | tr -d '\r')" = "HTTP/1.1 200 OK" ] ||
        { why="status line '$(head -n 1 "$tmp/$n.h")'"; return 1; }
}

t_404() {
    local n=${label}404
    curl_ok "$n" "$url/no/such/thing" || return 1
    [ "$(status "$n")" = 404 ] || { why="status $(status "$n")"; return 1; }
    [ "$(hdr "$n" Content-Length)" = "$(wc -c <"$tmp/$n.b")" ] ||
        { why="Content-Length '$(hdr "$n" Content-Length)' for $(wc -c <"$tmp/$n.b") bytes"; return 1; }
}

t_head() {
    local n=${label}head
    curl_ok "$n" --head "$url/hello" || return 1
    [ "$(status "$n")" = 200 ] || { why="status $(status "$n")"; return 1; }
    [ "$(hdr "$n" Content-Length)" = 5 ] ||
        { why="Content-Length '$(hdr "$n" Content-Length)'"; return 1; }
    [ "$(hdr "$n" Content-Type)" = text/plain ] ||
        { why="Content-Type '$(hdr "$n" Content-Type)'"; return 1; }
    # With --head, curl writes the headers to -o too: nothing after them.
    [ "$(tr -d '\r' <"$tmp/$n.b" | sed -n '/^$/,$p' | wc -c)" -le 1 ] ||
        { why="a body after the head"; return 1; }
}

t_keepalive() {
    local n=${label}keepalive
    curl_ok "$n" -w '%{num_connects} %{http_code}\n' "$url/hello" "$url/nope" \
        -o "$tmp/$n.b2" || return 1
    [ "$(tr '\n' ' ' <"$tmp/$n.w")" = "1 200 0 404 " ] ||
        { why="num_connects/status '$(tr '\n' ' ' <"$tmp/$n.w")', want '1 200 0 404'"; return 1; }
    grep -q "Re-using existing connection" "$tmp/$n.v" ||
        { why="curl -v did not re-use the connection"; return 1; }
    [ "$(cat "$tmp/$n.b")" = hello ] || { why="first body '$(head -c 60 "$tmp/$n.b")'"; return 1; }
}

# Random bytes, an odd size of a few MB, made once.
upload=$tmp/upload.bin
head -c $((3 * 1024 * 1024 + 12345)) /dev/urandom >"$upload"

# echo_same NAME: the echoed body is the upload, chunked, 200.
echo_same() {
    local n=$1
    [ "$(status "$n")" = 200 ] || { why="status $(status "$n")"; return 1; }
    cmp -s "$upload" "$tmp/$n.b" ||
        { why="$(wc -c <"$tmp/$n.b") bytes came back, not the $(wc -c <"$upload") sent"; return 1; }
    [ "$(hdr "$n" Content-Type)" = application/x-test ] ||
        { why="Content-Type '$(hdr "$n" Content-Type)'"; return 1; }
}

t_echo_chunked() {
    local n=${label}echo_chunked
    curl_ok "$n" -H 'Transfer-Encoding: chunked' -H 'Content-Type: application/x-test' \
        --data-binary "@$upload" "$url/echo" || return 1
    grep -qi '^> Transfer-Encoding: chunked' "$tmp/$n.v" ||
        { why="curl did not send the body chunked"; return 1; }
    echo_same "$n" || return 1
    [ "$(hdr "$n" Transfer-Encoding)" = chunked ] ||
        { why="response Transfer-Encoding '$(hdr "$n" Transfer-Encoding)'"; return 1; }
}

t_echo_length() {
    local n=${label}echo_length
    curl_ok "$n" -H 'Content-Type: application/x-test' --data-binary "@$upload" \
        "$url/echo" || return 1
    grep -qi "^> Content-Length: $(wc -c <"$upload")" "$tmp/$n.v" ||
        { why="curl did not send a Content-Length"; return 1; }
    echo_same "$n"
}

# Expect: 100-continue.  curl asks for it by itself for a body this
# large; it would otherwise wait for the 100 longer than it may run.
t_expect_auto() {
    local n=${label}expect_auto
    curl_ok "$n" --expect100-timeout 60 -H 'Content-Type: application/x-test' \
        --data-binary "@$upload" "$url/echo" || return 1
    grep -qi '^> Expect: 100-continue' "$tmp/$n.v" ||
        { why="curl did not send Expect: 100-continue"; return 1; }
    grep -q '^HTTP/1.1 100 Continue' "$tmp/$n.h" ||
        { why="no 100 Continue: $(tr -d '\r' <"$tmp/$n.h" | tr '\n' '|')"; return 1; }
    echo_same "$n"
}

t_expect_small() {
    local n=${label}expect_small
    curl_ok "$n" --expect100-timeout 60 -H 'Expect: 100-continue' \
        -H 'Content-Type: application/x-test' --data-binary 'a small body' \
        "$url/echo" || return 1
    grep -q '^HTTP/1.1 100 Continue' "$tmp/$n.h" ||
        { why="no 100 Continue: $(tr -d '\r' <"$tmp/$n.h" | tr '\n' '|')"; return 1; }
    [ "$(status "$n")" = 200 ] || { why="status $(status "$n")"; return 1; }
    [ "$(cat "$tmp/$n.b")" = "a small body" ] || { why="body '$(head -c 60 "$tmp/$n.b")'"; return 1; }
}

# HTTP/1.0: no chunked answer, no keep-alive (curl 1.0 asks for none).
t_http10() {
    local n=${label}http10
    curl_ok "$n" --http1.0 -w '%{num_connects} %{http_code}\n' "$url/hello" \
        "$url/hello" -o "$tmp/$n.b2" || return 1
    [ "$(tr '\n' ' ' <"$tmp/$n.w")" = "1 200 1 200 " ] ||
        { why="num_connects/status '$(tr '\n' ' ' <"$tmp/$n.w")', want '1 200 1 200'"; return 1; }
    [ "$(cat "$tmp/$n.b")" = hello ] && [ "$(cat "$tmp/$n.b2")" = hello ] ||
        { why="bodies '$(head -c 60 "$tmp/$n.b")' '$(head -c 60 "$tmp/$n.b2")'"; return 1; }
    [ "$(grep -c '^\* Closing connection' "$tmp/$n.v")" -eq 2 ] &&
        ! grep -q 'left intact' "$tmp/$n.v" ||
        { why="a connection was kept: $(grep -E 'Closing|intact' "$tmp/$n.v" | tr '\n' '|')"; return 1; }
    [ -z "$(hdr "$n" Transfer-Encoding)" ] || { why="Transfer-Encoding in a 1.0 answer"; return 1; }
    # The echo cannot be chunked for 1.0: it is delimited by the close.
    n=${label}http10_echo
    curl_ok "$n" --http1.0 -H 'Content-Type: application/x-test' \
        --data-binary "@$upload" "$url/echo" || return 1
    echo_same "$n" || return 1
    [ -z "$(hdr "$n" Transfer-Encoding)" ] || { why="echo: Transfer-Encoding in a 1.0 answer"; return 1; }
    grep -q '^\* Closing connection' "$tmp/$n.v" || { why="echo: the connection stayed open"; return 1; }
}

# ---- raw requests (tcp only) ----

port=
# raw NAME BYTES: send BYTES (printf format) on a new connection, read
# until the server closes into $tmp/NAME.h (with a deadline); $? is 124
# when the server did not close.
raw() {
    local name=$1 fd rc
    exec {fd}<>"/dev/tcp/127.0.0.1/$port" || return 1
    # shellcheck disable=SC2059
    printf "$2" >&"$fd"
    timeout "$limit" cat <&"$fd" >"$tmp/$name.h" 2>/dev/null
    rc=$?
    exec {fd}>&-
    return "$rc"
}

# bad NAME BYTES CODE: the answer to BYTES is CODE with Connection:
# close, the server closes, and GET /hello still works.
bad() {
    local n=$1 rc
    raw "$n" "$2"
    rc=$?
    [ "$rc" -ne 124 ] || { why="the server did not close in $limit s"; return 1; }
    [ "$rc" -eq 0 ] || { why="cannot talk to 127.0.0.1:$port ($rc)"; return 1; }
    [[ $(head -n 1 "$tmp/$n.h" | tr -d '\r') =~ ^HTTP/1\.1\ $3\  ]] ||
        { why="got '$(head -c 120 "$tmp/$n.h" | tr -d '\r' | tr '\n' '|')', want $3"; return 1; }
    [ "$(hdr "$n" Connection)" = close ] || { why="no Connection: close"; return 1; }
    t_hello || { why="afterwards, GET /hello: $why"; return 1; }
}

t_bad_smuggle() {
    bad "${label}bad_smuggle" 'GET / HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n' 400
}
t_bad_line() {
    bad "${label}bad_line" 'this is not HTTP\r\n\r\n' 400
}
t_too_big_header() {
    local n=${label}too_big_header
    c "$n" -H "X-Big: $(head -c 20000 /dev/zero | tr '\0' a)" "$url/hello"
    [ "$(status "$n")" = 431 ] || { why="status '$(status "$n")'"; return 1; }
    [ "$(hdr "$n" Connection)" = close ] || { why="no Connection: close"; return 1; }
    t_hello || { why="afterwards, GET /hello: $why"; return 1; }
}

# rss PID FIELD: FIELD (VmRSS, VmHWM) of PID in kB.
rss() {
    awk -v f="$2:" '$1 == f { print $2 }' "/proc/$1/status" 2>/dev/null
}

server_pid=
t_big_upload() {
    local n=${label}big_upload total=$((200 * 1000 * 1000)) got rcs before after peak
    [ -n "$server_pid" ] && [ -n "$(rss "$server_pid" VmRSS)" ] ||
        { why="cannot read /proc/$server_pid/status"; return 1; }
    before=$(rss "$server_pid" VmRSS)
    # Prints the count, then the exit statuses of the pipeline.
    { read -r got && read -r rcs; } < <(
        head -c "$total" /dev/zero |
            timeout $((3 * limit)) "$curl" -sS --max-time $((3 * limit)) -X POST -T - \
                -H 'Content-Type: application/octet-stream' "$url/echo" 2>"$tmp/$n.err" |
            wc -c
        echo "${PIPESTATUS[*]}"
    )
    [ "${rcs-}" = "0 0 0" ] || { why="statuses '${rcs-}': $(tail_of "$tmp/$n.err")"; return 1; }
    [ "$got" -eq "$total" ] || { why="$got bytes came back, not $total"; return 1; }
    after=$(rss "$server_pid" VmRSS)
    peak=$(rss "$server_pid" VmHWM)
    echo "# $n: server RSS ${before} kB before, ${after} kB after, peak ${peak} kB (bound ${rss_limit_kb} kB)"
    [ "$peak" -lt "$rss_limit_kb" ] ||
        { why="the server's peak RSS is $peak kB, the bound $rss_limit_kb kB"; return 1; }
}

# ---- one server per transport ----

# serve LABEL ENDPOINT: start the server, run the cases, SIGTERM it.
serve() {
    local lbl=$1 endpoint=$2 spid sdrain
    if ! start "$lbl" '^listening on ' timeout --foreground 300 "$srv" "$endpoint"; then
        echo "not ok - $lbl: listening line: $(tail_of "$tmp/$lbl.out") $(tail_of "$tmp/$lbl.err")"
        failures=$((failures + 1))
        return
    fi
    spid=$pid
    sdrain=$drain
    label=$lbl.
    case $endpoint in
    tcp://*)
        port=${line##*:}
        url=http://127.0.0.1:$port
        copts=()
        ;;
    unix:*)
        url=http://localhost
        copts=(--unix-socket "${endpoint#unix:}")
        ;;
    tls://*)
        port=${line##*:}
        url=https://localhost:$port
        copts=(--cacert "$tmp/ca.pem" --resolve "localhost:$port:127.0.0.1")
        ;;
    esac
    # The program under `timeout`: its child is the server.
    server_pid=$(cat "/proc/$spid/task/$spid/children" 2>/dev/null)
    server_pid=${server_pid%% *}

    run "$lbl: listening line" check_line "$endpoint"
    run "$lbl: GET /hello: 200, body, Content-Type, Content-Length, Date" t_hello
    run "$lbl: unknown path: 404" t_404
    run "$lbl: HEAD /hello: headers, no body" t_head
    run "$lbl: keep-alive: two URLs, one connection" t_keepalive
    run "$lbl: POST /echo, chunked upload of $(wc -c <"$upload") bytes" t_echo_chunked
    run "$lbl: POST /echo, Content-Length upload" t_echo_length
    run "$lbl: Expect: 100-continue, large body (curl's own)" t_expect_auto
    run "$lbl: Expect: 100-continue, small body" t_expect_small
    run "$lbl: HTTP/1.0: answered, connection closed" t_http10
    if [ "$lbl" = tcp ]; then
        run "$lbl: Content-Length with Transfer-Encoding: 400, still serving" t_bad_smuggle
        run "$lbl: not a request line: 400, still serving" t_bad_line
        run "$lbl: 20000-byte header: 431, still serving" t_too_big_header
        run "$lbl: 200 MB chunked echo (curl -T -) in constant memory" t_big_upload
    fi
    run "$lbl: SIGTERM: exit 0, nothing on stderr" stop_server "$spid" "$sdrain" "$lbl"
}

check_line() {
    local want
    case $1 in
    tcp://*) want='^listening on tcp://127\.0\.0\.1:[1-9][0-9]*$' ;;
    tls://*) want='^listening on tls://127\.0\.0\.1:[1-9][0-9]*$' ;;
    *) want="^listening on $1\$" ;;
    esac
    [[ $line =~ $want ]] || { why="got '$line'"; return 1; }
}

stop_server() {
    local spid=$1 sdrain=$2 name=$3 rc
    kill -0 "$spid" 2>/dev/null || { why="the server is gone"; reap "$spid"; reap "$sdrain"; return 1; }
    kill -TERM "$server_pid" 2>/dev/null || kill -TERM "$spid"
    reap "$spid"
    rc=$?
    reap "$sdrain"
    [ "$rc" -eq 0 ] || { why="exit $rc: $(tail_of "$tmp/$name.err")"; return 1; }
    [ ! -s "$tmp/$name.err" ] || { why="stderr: $(head -c 300 "$tmp/$name.err" | tr '\n' '|')"; return 1; }
    [ "$(wc -l <"$tmp/$name.out")" -eq 1 ] ||
        { why="more on stdout: $(tail -n +2 "$tmp/$name.out" | head -c 200 | tr '\n' '|')"; return 1; }
}

# AddressSanitizer keeps freed blocks in a quarantine (256 MB by
# default): a server that allocated per piece of body but freed it all
# would look like one that holds the body.  A small quarantine keeps the
# bound meaningful in a sanitizer build (measured there: about 12 MB).
if grep -q __asan_init "$srv" "$build/examples/.libs/http-server" 2>/dev/null; then
    export ASAN_OPTIONS=${ASAN_OPTIONS:+$ASAN_OPTIONS:}quarantine_size_mb=4
fi

serve tcp "tcp://127.0.0.1:0"
serve unix "unix:$tmp/http.sock"
if $have_tls; then
    serve tls "tls://127.0.0.1:0?cert=$tmp/server.pem&key=$tmp/server.key"
else
    echo "ok - tls # SKIP the openssl command is missing or failed: $(tail_of "$tmp/certs.log")"
fi

[ "$failures" -eq 0 ]
