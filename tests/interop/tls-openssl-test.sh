#!/usr/bin/env bash
# tls-openssl-test: libwire's tls:// endpoints against the openssl command
# line tools, over TLS 1.2 and TLS 1.3, on 127.0.0.1 only.
#  - examples/echo-server on tls://127.0.0.1:0 with `openssl s_client` as
#    the client (CA file, hostname check, each version forced): lines are
#    echoed, the version is the one asked for, a clean close logs nothing;
#  - tools/wirecat as the client of `openssl s_server -rev` on
#    tls://localhost:PORT?ca=CA: lines go out and come back reversed,
#    close_notify goes both ways, wirecat exits 0;
#  - refused by default, with the reason on wirecat's stderr and the right
#    alert at s_server: a certificate from an unknown CA, and a
#    certificate for other.example when localhost was asked for, and
#    (min=1.3) a server that speaks only TLS 1.2;
#  - junk on the echo server's TLS port (a plain-text HTTP request, the
#    first 50 bytes of a real ClientHello held open while s_client is
#    served, a bare record header and then EOF): each such connection
#    ends, the server keeps serving, and SIGTERM still exits 0.
#
# The certificates (a CA; a localhost leaf with SAN DNS:localhost and
# IP:127.0.0.1; an other.example leaf; a rogue CA with its own localhost
# leaf) are made at run time in a temporary directory, which the EXIT trap
# removes.  Skipped (exit 77) when the openssl command is not installed.
#
# Never sleeps to wait: the echo server's "listening on" line and
# s_server's "ACCEPT host:port" line are read from FIFOs with a deadline,
# and every program runs under `timeout`.
#
# Usage: bash tests/interop/tls-openssl-test.sh [BUILD_DIR]   (default: .)
# Prints "ok - name" or "not ok - name: why" per case; exits 1 if any
# failed.
if [ -z "${BASH_VERSION:-}" ]; then exec bash "$0" "$@"; fi
set -u

build=${1:-.}
wirecat=${WIRE_TEST_WIRECAT:-$build/tools/wirecat}
echo_server=$build/examples/echo-server
limit=20 # seconds any one program may run

if ! command -v openssl >/dev/null 2>&1; then
    echo "SKIP: the openssl command is not installed (Debian: apt-get install openssl)"
    exit 77
fi
for prog in "$wirecat" "$echo_server"; do
    if [ ! -x "$prog" ]; then
        echo "not ok - setup: $prog is not built"
        exit 1
    fi
done

tmp=$(mktemp -d "${TMPDIR:-/tmp}/tls-openssl-test.XXXXXX") || exit 1
pids=()

# shellcheck source=tests/interop/harness.sh
. "$(dirname "${BASH_SOURCE[0]}")/harness.sh"

# ---- certificates ----

if ! { make_ca ca && make_leaf server ca localhost localhost &&
    make_leaf other ca other other.example && make_ca rogue-ca &&
    make_leaf rogue rogue-ca localhost localhost; }; then
    echo "not ok - setup: making the certificates failed"
    sed 's/^/  /' "$tmp/certs.log"
    exit 1
fi
ca=$tmp/ca.pem

# ---- programs in the background ----

# port_of LINE: the digits after the last colon.
port_of() {
    local p=${1##*:}
    [[ $p =~ ^[0-9]+$ ]] && echo "$p"
}

# ---- echo-server behind tls://, openssl s_client as the client ----

if ! start echo '^listening on ' timeout --foreground 300 "$echo_server" \
    "tls://127.0.0.1:0?cert=$tmp/server.pem&key=$tmp/server.key"; then
    echo "not ok - setup: echo-server printed no listening line: $(tail_of "$tmp/echo.err")"
    exit 1
fi
echo_pid=$pid
echo_drain=$drain
echo_port=$(port_of "$line")
if [ -z "$echo_port" ]; then
    echo "not ok - setup: no port in '$line'"
    exit 1
fi

# s_client_echo NAME VERSION_OPTION WANT [QUIET]: a session with
# s_client, which verifies the chain and the name localhost.  Each line
# written to its stdin must come back before the next one goes; then
# stdin's EOF makes s_client send close_notify and exit 0.  Its -brief
# report (on stderr) must name the version WANT.  Unless QUIET is "no"
# (other connections may log meanwhile), the echo server must log
# nothing: a clean close is not an error.
s_client_echo() {
    local name=$1 opt=$2 want=$3 quiet=${4:-yes} in=$tmp/$1.in out=$tmp/$1.out w r got
    local cpid rc n i lines
    n=$(wc -l <"$tmp/echo.err")
    rm -f "$in" "$out"
    mkfifo "$in" "$out" || { why="mkfifo"; return 1; }
    timeout "$limit" openssl s_client -connect "127.0.0.1:$echo_port" \
        -CAfile "$ca" -verify_return_error -verify_hostname localhost \
        "$opt" -brief <"$in" >"$out" 2>"$tmp/$name.err" &
    cpid=$!
    pids+=("$cpid")
    # The child opens $in first, then $out: open them in that order.
    exec {w}>"$in" {r}<"$out"
    lines=("hello over $want" "$(head -c 3000 /dev/zero | tr '\0' x)" "the last line")
    for i in "${!lines[@]}"; do
        # In a subshell: if s_client is gone, SIGPIPE ends only that.
        (printf '%s\n' "${lines[$i]}" >&"$w") 2>/dev/null
        if ! IFS= read -r -t "$limit" -u "$r" got; then
            why="line $((i + 1)) did not come back: $(tail_of "$tmp/$name.err")"
            break
        fi
        if [ "$got" != "${lines[$i]}" ]; then
            why="line $((i + 1)) came back as '${got:0:60}'"
            break
        fi
    done
    exec {w}>&-
    cat <&"$r" >/dev/null # s_client ends, so this ends too
    exec {r}<&-
    reap "$cpid"
    rc=$?
    [ -z "$why" ] || return 1
    [ "$rc" -eq 0 ] || { why="s_client exit $rc: $(tail_of "$tmp/$name.err")"; return 1; }
    grep -q "^Protocol version: $want\$" "$tmp/$name.err" ||
        { why="s_client: $(grep -m1 'Protocol version' "$tmp/$name.err"), want $want"; return 1; }
    grep -q "^Verified peername: localhost" "$tmp/$name.err" ||
        { why="s_client did not check the name localhost"; return 1; }
    [ "$quiet" = no ] || [ "$(wc -l <"$tmp/echo.err")" -eq "$n" ] ||
        { why="echo-server logged: $(tail -n +$((n + 1)) "$tmp/echo.err" | tr '\n' '|')"; return 1; }
}

t_s_client_12() { s_client_echo s_client_12 -tls1_2 TLSv1.2; }
t_s_client_13() { s_client_echo s_client_13 -tls1_3 TLSv1.3; }

# ---- wirecat as the client of openssl s_server ----

# s_server NAME CERT [OPTIONS...]: s_server on 127.0.0.1, a port of the
# kernel's choice, one connection, reversing each line it reads (-rev).
# Sets $pid, $drain and $port.
s_server() {
    local name=$1 cert=$2
    shift 2
    start "$name" '^ACCEPT .*:[0-9]+$' timeout "$limit" openssl s_server \
        -accept 127.0.0.1:0 -naccept 1 -rev -cert "$tmp/$cert.pem" \
        -key "$tmp/$cert.key" "$@" || return 1
    port=$(port_of "$line")
}

# wirecat_to_s_server NAME VERSION_OPTION WANT: two lines through wirecat
# come back reversed; wirecat's write_eof is a close_notify, which ends
# s_server's loop ("CONNECTION CLOSED", not a failure), and s_server's
# own close_notify then lets wirecat exit 0.
wirecat_to_s_server() {
    local name=$1 opt=$2 want=$3 spid sdrain rc
    s_server "$name" server "$opt" ||
        { why="s_server did not print ACCEPT: $(tail_of "$tmp/$name.err")"; return 1; }
    spid=$pid
    sdrain=$drain
    printf 'hello from wirecat\nabc 123\n' |
        timeout "$limit" "$wirecat" stdio: "tls://localhost:$port?ca=$ca" \
            >"$tmp/$name.got" 2>"$tmp/$name.wirecat"
    rc=${PIPESTATUS[1]}
    # wirecat never got as far as s_server: do not wait out its limit.
    [ "$rc" -eq 0 ] || kill "$spid" 2>/dev/null
    reap "$spid"
    reap "$sdrain"
    [ "$rc" -eq 0 ] || { why="wirecat exit $rc: $(cat "$tmp/$name.wirecat")"; return 1; }
    printf 'taceriw morf olleh\n321 cba\n' >"$tmp/$name.want"
    cmp -s "$tmp/$name.want" "$tmp/$name.got" ||
        { why="got '$(tr '\n' '|' <"$tmp/$name.got")'"; return 1; }
    grep -q "^Protocol version: $want\$" "$tmp/$name.err" ||
        { why="s_server: $(grep -m1 'Protocol version' "$tmp/$name.err"), want $want"; return 1; }
    grep -q "^CONNECTION CLOSED" "$tmp/$name.err" ||
        { why="s_server saw no clean close: $(tail_of "$tmp/$name.err")"; return 1; }
}

t_wirecat_12() { wirecat_to_s_server wirecat_12 -tls1_2 TLSv1.2; }
t_wirecat_13() { wirecat_to_s_server wirecat_13 -tls1_3 TLSv1.3; }

# refused NAME QUERY SERVER_SAYS REASON...: wirecat, trusting only our
# CA (tls://localhost:PORT?ca=CA, then QUERY), meets s_server with the
# arguments in the array $srv (a certificate's name, then options).  It
# must exit 1 with nothing relayed and print every REASON on stderr;
# s_server's stderr must say SERVER_SAYS (the alert wirecat sent).
srv=()
refused() {
    local name=$1 query=$2 says=$3 spid sdrain rc want
    shift 3
    s_server "$name" "${srv[@]}" ||
        { why="s_server did not print ACCEPT: $(tail_of "$tmp/$name.err")"; return 1; }
    spid=$pid
    sdrain=$drain
    echo "must not arrive" |
        timeout "$limit" "$wirecat" stdio: "tls://localhost:$port?ca=$ca$query" \
            >"$tmp/$name.got" 2>"$tmp/$name.wirecat"
    rc=${PIPESTATUS[1]}
    # wirecat never got as far as s_server: do not wait out its limit.
    [ "$rc" -eq 1 ] || kill "$spid" 2>/dev/null
    reap "$spid"
    reap "$sdrain"
    [ "$rc" -eq 1 ] || { why="wirecat exit $rc, want 1: $(cat "$tmp/$name.wirecat")"; return 1; }
    [ ! -s "$tmp/$name.got" ] || { why="wirecat relayed '$(head -c 60 "$tmp/$name.got")'"; return 1; }
    for want in "$@"; do
        grep -qF -- "$want" "$tmp/$name.wirecat" ||
            { why="no '$want' in: $(cat "$tmp/$name.wirecat")"; return 1; }
    done
    grep -qF -- "$says" "$tmp/$name.err" ||
        { why="s_server did not say '$says': $(tail_of "$tmp/$name.err")"; return 1; }
}

t_unknown_ca() {
    srv=(rogue)
    refused unknown_ca "" "alert unknown ca" "certificate verify failed" \
        "unable to get local issuer certificate"
}
t_name_mismatch() {
    srv=(other)
    refused name_mismatch "" "alert bad certificate" "certificate verify failed" \
        "'localhost' is not a name of the certificate" "other.example"
}
# min=1.3 is a floor: a server that speaks only TLS 1.2 is refused.
t_min_version() {
    srv=(server -tls1_2)
    refused min_version "&min=1.3" "unsupported protocol" \
        "TLS handshake failed" "protocol version"
}

# ---- junk on the echo server's TLS port ----

# A real ClientHello (python3 makes one without a network); without
# python3, a hand-made start of one: a record header, a handshake header,
# a version and a few bytes of its random.
hello=$tmp/hello.bin
if ! python3 -c '
import ssl, sys
out = ssl.MemoryBIO()
ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
tls = ctx.wrap_bio(ssl.MemoryBIO(), out, server_hostname="localhost")
try:
    tls.do_handshake()
except ssl.SSLWantReadError:
    pass
sys.stdout.buffer.write(out.read())
' >"$hello" 2>/dev/null || [ "$(head -c 1 "$hello" | od -An -tx1)" != " 16" ]; then
    printf '\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03%s' \
        "0123456789abcdef0123456789abcdef0123456789" >"$hello"
fi

# junk_conn NAME BYTES-FILE: connect (bash's /dev/tcp), send the bytes
# and read what comes back until the server closes.  The server must close within $limit seconds (a reset
# counts) and must not echo the junk.
junk_conn() {
    local name=$1 fd rc
    exec {fd}<>"/dev/tcp/127.0.0.1/$echo_port" ||
        { why="cannot connect to 127.0.0.1:$echo_port"; return 1; }
    cat "$2" >&"$fd"
    timeout "$limit" cat <&"$fd" >"$tmp/$name.reply" 2>/dev/null
    rc=$?
    exec {fd}>&-
    [ "$rc" -ne 124 ] || { why="$name: the server did not close in $limit s"; return 1; }
    ! grep -q "GET" "$tmp/$name.reply" ||
        { why="$name: the server echoed the plain text"; return 1; }
}

t_junk() {
    local hold rc
    # A plain-text HTTP request where a ClientHello should be.
    printf 'GET / HTTP/1.0\r\n\r\n' >"$tmp/http.bin"
    junk_conn http "$tmp/http.bin" || return 1
    # The first 50 bytes of a ClientHello, held open: another client is
    # served meanwhile.
    exec {hold}<>"/dev/tcp/127.0.0.1/$echo_port" ||
        { why="cannot connect to 127.0.0.1:$echo_port"; return 1; }
    head -c 50 "$hello" >&"$hold"
    s_client_echo junk_s_client_a -tls1_3 TLSv1.3 no ||
        { why="while a truncated ClientHello was held open: $why"; exec {hold}>&-; return 1; }
    exec {hold}>&-
    # A record header announcing 512 bytes, 3 of them, and EOF.
    printf '\x16\x03\x01\x02\x00\x01\x00\x01' >"$tmp/header.bin"
    exec {hold}<>"/dev/tcp/127.0.0.1/$echo_port" ||
        { why="cannot connect to 127.0.0.1:$echo_port"; return 1; }
    cat "$tmp/header.bin" >&"$hold"
    exec {hold}>&-
    # Still serving.
    s_client_echo junk_s_client_b -tls1_2 TLSv1.2 no ||
        { why="after the junk: $why"; return 1; }
    kill -0 "$echo_pid" 2>/dev/null || { why="echo-server is gone"; return 1; }
    kill -TERM "$echo_pid"
    reap "$echo_pid"
    rc=$?
    reap "$echo_drain"
    [ "$rc" -eq 0 ] || { why="echo-server exit $rc after SIGTERM: $(tail_of "$tmp/echo.err")"; return 1; }
    # Its log is complete now: one line per junk connection, in order,
    # and nothing about the s_client sessions.
    printf 'echo-server: TLS handshake failed: %s\n' "http request" \
        "the peer closed the connection" "the peer closed the connection" \
        >"$tmp/echo.want"
    cmp -s "$tmp/echo.want" "$tmp/echo.err" ||
        { why="echo-server logged: $(tr '\n' '|' <"$tmp/echo.err")"; return 1; }
}

run s_client-to-echo-server-tls1.2 t_s_client_12
run s_client-to-echo-server-tls1.3 t_s_client_13
run wirecat-to-s_server-tls1.2 t_wirecat_12
run wirecat-to-s_server-tls1.3 t_wirecat_13
run unknown-ca-refused t_unknown_ca
run hostname-mismatch-refused t_name_mismatch
run min-1.3-refuses-tls1.2-server t_min_version
run junk-and-truncated-handshakes t_junk

[ "$failures" -eq 0 ]
