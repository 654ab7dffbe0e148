#!/usr/bin/env bash
# wirecat end to end, against examples/echo-server: a relay of 1 MB through
# stdin/stdout (half-close must cross for wirecat to exit), pipes, a
# --listen --once relay on a Unix socket, a server stopped by SIGTERM, a
# listening wirecat serving its own stdio, refused connects, a reader that
# goes away, --trace (lines on stderr, stdout untouched), bad endpoints and
# usage errors.
#
# Usage: bash tests/wirecat-test.sh [BUILD_DIR]   (default: .)
# Prints "PASS name" or "FAIL name (why)" per case; exits 1 if any failed.
#
# Nothing sleeps to wait: a server's "listening on ADDRESS" line is read
# from a FIFO with a bounded timeout.  Every program runs under `timeout`,
# and the EXIT trap kills whatever is still running.

# `make check` may run this with /bin/sh: switch to bash.
if [ -z "${BASH_VERSION:-}" ]; then exec bash "$0" "$@"; fi
set -u

build=${1:-.}
wirecat=$build/tools/wirecat
echo_server=$build/examples/echo-server
limit=20 # seconds any one program may run

for prog in "$wirecat" "$echo_server"; do
    if [ ! -x "$prog" ]; then
        echo "FAIL setup ($prog is not built)"
        exit 1
    fi
done

tmp=$(mktemp -d "${TMPDIR:-/tmp}/wirecat-test.XXXXXX") || exit 1
pids=()

cleanup() {
    local p
    for p in ${pids[@]+"${pids[@]}"}; do
        kill "$p" 2>/dev/null
    done
    for p in ${pids[@]+"${pids[@]}"}; do
        wait "$p" 2>/dev/null
    done
    rm -rf "$tmp"
}
trap cleanup EXIT
trap 'exit 1' INT TERM

# reap PID: wait for a background program; $? is its exit status.
reap() {
    local p=$1 rc keep=()
    wait "$p"
    rc=$?
    for q in ${pids[@]+"${pids[@]}"}; do
        [ "$q" = "$p" ] || keep+=("$q")
    done
    pids=(${keep[@]+"${keep[@]}"})
    return "$rc"
}

# serve NAME STREAM CMD...: run CMD in the background with stdin from
# $serve_in, its stream STREAM (1 or 2) on a FIFO and the other one in
# $tmp/NAME.out or $tmp/NAME.err.  Sets $pid, and $addr from the
# "listening on ADDRESS" line; fails if none comes within $limit seconds.
serve_in=/dev/null
serve() {
    local name=$1 stream=$2 fifo=$tmp/$1.fifo fd line
    shift 2
    mkfifo "$fifo" || return 1
    if [ "$stream" = 1 ]; then
        "$@" <"$serve_in" >"$fifo" 2>"$tmp/$name.err" &
    else
        "$@" <"$serve_in" >"$tmp/$name.out" 2>"$fifo" &
    fi
    pid=$!
    pids+=("$pid")
    # Opening waits for the writer, which the child opens at once.  The
    # descriptor stays open to the end, so later writes never hit EPIPE.
    exec {fd}<"$fifo"
    addr=
    while IFS= read -r -t "$limit" -u "$fd" line; do
        case $line in
        "listening on "*)
            addr=${line#listening on }
            return 0
            ;;
        esac
    done
    return 1
}

why=
failures=0
run() {
    local name=$1
    shift
    why=
    if "$@"; then
        echo "PASS $name"
    else
        echo "FAIL $name${why:+ ($why)}"
        failures=$((failures + 1))
    fi
}

head -c 1000000 /dev/urandom >"$tmp/in"
head -c 100000 /dev/urandom >"$tmp/in2"

if ! serve echo 1 timeout 300 "$echo_server" tcp://127.0.0.1:0; then
    echo "FAIL setup (echo-server printed no listening line)"
    exit 1
fi
echo_addr=$addr

# stdin EOF becomes write_eof to the echo server, which closes after
# echoing everything; wirecat must then exit 0 with every byte back.
t_relay_file() {
    timeout "$limit" "$wirecat" stdio: "$echo_addr" <"$tmp/in" \
        >"$tmp/out" 2>"$tmp/err" ||
        { why="exit $?: $(cat "$tmp/err")"; return 1; }
    cmp -s "$tmp/in" "$tmp/out" || { why="output differs from input"; return 1; }
}

# The same through pipes, which the loop watches (files are always ready).
t_relay_pipes() {
    local rc
    # shellcheck disable=SC2002 # the point is a pipe on stdin, not a file
    cat "$tmp/in" | timeout "$limit" "$wirecat" stdio: "$echo_addr" \
        2>"$tmp/err" | cat >"$tmp/out"
    rc=${PIPESTATUS[1]}
    [ "$rc" -eq 0 ] || { why="exit $rc: $(cat "$tmp/err")"; return 1; }
    cmp -s "$tmp/in" "$tmp/out" || { why="output differs from input"; return 1; }
}

# A listening wirecat on a Unix socket relays one client to the echo
# server, then exits 0 and removes its socket file.
t_listen_once() {
    local sock=$tmp/relay.sock lpid rc
    serve once 1 timeout "$limit" "$wirecat" --listen --once "unix:$sock" \
        "$echo_addr" || { why="no listening line: $(cat "$tmp/once.err")"; return 1; }
    lpid=$pid
    [ "$addr" = "unix:$sock" ] || { why="listening on '$addr'"; return 1; }
    timeout "$limit" "$wirecat" stdio: "$addr" <"$tmp/in" >"$tmp/out" \
        2>"$tmp/err" || { why="client exit $?: $(cat "$tmp/err")"; return 1; }
    cmp -s "$tmp/in" "$tmp/out" || { why="output differs from input"; return 1; }
    reap "$lpid"
    rc=$?
    [ "$rc" -eq 0 ] || { why="listener exit $rc: $(cat "$tmp/once.err")"; return 1; }
    [ ! -e "$sock" ] || { why="socket file left behind"; return 1; }
}

# Without --once: several clients, then SIGTERM stops it with status 0.
t_listen_sigterm() {
    local lpid rc i out
    # --foreground: timeout passes our SIGTERM on once, to wirecat alone.
    # Without it, timeout also signals its whole process group, and the
    # second copy can land after wirecat has stopped watching and is
    # about to exit 0, killing it instead.
    serve multi 1 timeout --foreground "$limit" "$wirecat" --listen tcp://127.0.0.1:0 \
        "$echo_addr" || { why="no listening line: $(cat "$tmp/multi.err")"; return 1; }
    lpid=$pid
    for i in 1 2 3; do
        out=$(printf 'call %s\n' "$i" |
            timeout "$limit" "$wirecat" stdio: "$addr" 2>"$tmp/err") ||
            { why="client $i exit $?: $(cat "$tmp/err")"; return 1; }
        [ "$out" = "call $i" ] || { why="client $i got '$out'"; return 1; }
    done
    kill -TERM "$lpid"
    reap "$lpid"
    rc=$?
    [ "$rc" -eq 0 ] || { why="exit $rc after SIGTERM: $(cat "$tmp/multi.err")"; return 1; }
}

# B is stdio: the listening line goes to stderr, both directions carry data.
t_listen_stdio() {
    local lpid rc
    serve_in=$tmp/in
    serve lstdio 2 timeout "$limit" "$wirecat" --listen tcp://127.0.0.1:0 stdio:
    rc=$?
    serve_in=/dev/null
    [ "$rc" -eq 0 ] || { why="no listening line on stderr"; return 1; }
    lpid=$pid
    timeout "$limit" "$wirecat" stdio: "$addr" <"$tmp/in2" >"$tmp/out" \
        2>"$tmp/err" || { why="client exit $?: $(cat "$tmp/err")"; return 1; }
    reap "$lpid"
    rc=$?
    [ "$rc" -eq 0 ] || { why="listener exit $rc"; return 1; }
    cmp -s "$tmp/in" "$tmp/out" || { why="server's stdin did not reach the client"; return 1; }
    cmp -s "$tmp/in2" "$tmp/lstdio.out" || { why="client's stdin did not reach the server"; return 1; }
}

# expect_refused ENDPOINT: wirecat exits 1 and says the connect was refused.
expect_refused() {
    local rc
    timeout "$limit" "$wirecat" stdio: "$1" </dev/null >/dev/null 2>"$tmp/err"
    rc=$?
    [ "$rc" -eq 1 ] || { why="$1: exit $rc, want 1"; return 1; }
    grep -q "refused" "$tmp/err" || { why="$1: message '$(cat "$tmp/err")'"; return 1; }
}

# A socket file nobody accepts on (its server was killed) refuses.
t_refused_unix() {
    serve dead 1 "$echo_server" "unix:$tmp/dead.sock" ||
        { why="echo-server did not start"; return 1; }
    kill -KILL "$pid"
    reap "$pid" 2>/dev/null # no "Killed" notice
    [ -S "$tmp/dead.sock" ] || { why="no stale socket file"; return 1; }
    expect_refused "unix:$tmp/dead.sock"
}

# The port of a server that just stopped refuses.
t_refused_tcp() {
    local port_addr
    serve gone 1 timeout --foreground "$limit" "$echo_server" tcp://127.0.0.1:0 ||
        { why="echo-server did not start"; return 1; }
    port_addr=$addr
    kill -TERM "$pid"
    reap "$pid"
    expect_refused "$port_addr"
}

# A reader that goes away is an error (EPIPE), never a silent SIGPIPE death.
t_stdout_closed() {
    local rc
    timeout "$limit" "$wirecat" stdio: "$echo_addr" <"$tmp/in" 2>"$tmp/err" |
        head -c 10 >/dev/null
    rc=${PIPESTATUS[0]}
    [ "$rc" -eq 1 ] || { why="exit $rc, want 1"; return 1; }
    grep -q "Broken pipe" "$tmp/err" || { why="message '$(cat "$tmp/err")'"; return 1; }
}

# --trace: both sides' events on stderr, one line each; stdout is exactly
# the relayed bytes.
t_trace() {
    local ev bad n side kind
    printf 'hello trace\n' >"$tmp/tin"
    timeout "$limit" "$wirecat" --trace stdio: "$echo_addr" <"$tmp/tin" \
        >"$tmp/out" 2>"$tmp/err" || { why="exit $?: $(cat "$tmp/err")"; return 1; }
    cmp -s "$tmp/tin" "$tmp/out" || { why="stdout is not the relayed bytes"; return 1; }
    # Every line: a stamp, then side, direction, event.
    bad=$(grep -cv '^\[ *[0-9]*\.[0-9][0-9][0-9] ms\] [AB] [<>] [a-z_]*' "$tmp/err")
    [ "$bad" -eq 0 ] || { why="$bad lines are not trace lines: $(cat "$tmp/err")"; return 1; }
    ev=$tmp/events
    sed 's/^\[[^]]*\] //' "$tmp/err" >"$ev"
    grep -qx 'A < connection_made' "$ev" || { why="no made for A: $(cat "$ev")"; return 1; }
    grep -qx 'B < connection_made peer=tcp://127\.0\.0\.1:[0-9]* local=tcp://127\.0\.0\.1:[0-9]*' "$ev" ||
        { why="no made for B: $(cat "$ev")"; return 1; }
    grep -qxF 'A < data_received 12 B  68 65 6c 6c 6f 20 74 72 61 63 65 0a  |hello trace.|' "$ev" ||
        { why="no dump of stdin: $(cat "$ev")"; return 1; }
    # Each way, the lengths add up to the 12 bytes, however they were split.
    for side in A B; do
        for kind in data_received write; do
            n=$(awk -v s="$side" -v k="$kind" '$1 == s && $3 == k { n += $4 } END { print n + 0 }' "$ev")
            [ "$n" -eq 12 ] || { why="$side $kind: $n bytes, not 12: $(cat "$ev")"; return 1; }
        done
        grep -qx "$side < eof_received" "$ev" || { why="no EOF on $side: $(cat "$ev")"; return 1; }
        grep -qx "$side < connection_lost ok" "$ev" || { why="no clean loss on $side: $(cat "$ev")"; return 1; }
    done
    grep -qx 'B > write_eof' "$ev" || { why="no half-close to B: $(cat "$ev")"; return 1; }
}

# expect_usage WANT ARGS...: wirecat exits 2 and its message contains WANT.
expect_usage() {
    local want=$1 rc
    shift
    timeout "$limit" "$wirecat" "$@" </dev/null >/dev/null 2>"$tmp/err"
    rc=$?
    [ "$rc" -eq 2 ] || { why="wirecat $*: exit $rc, want 2"; return 1; }
    grep -qF -- "$want" "$tmp/err" ||
        { why="wirecat $*: message '$(cat "$tmp/err")' lacks '$want'"; return 1; }
}

t_bad_endpoint() {
    expect_usage "'bogus' has no scheme" stdio: bogus &&
        expect_usage "missing port" stdio: tcp://127.0.0.1 &&
        expect_usage "unknown scheme 'foo'" stdio: foo:bar &&
        expect_usage "unknown scheme 'foo'" "$echo_addr" foo:bar &&
        expect_usage "unknown parameter" stdio: "$echo_addr?nodelay=1&bogus=2" &&
        expect_usage "stdio:x" stdio: stdio:x
}

t_usage() {
    timeout "$limit" "$wirecat" --help >"$tmp/out" 2>&1 ||
        { why="--help: exit $?"; return 1; }
    grep -q "^usage: wirecat" "$tmp/out" || { why="--help prints no usage"; return 1; }
    expect_usage "expected two endpoints" &&
        expect_usage "only one side" stdio: stdio: &&
        expect_usage "--once only" --once stdio: "$echo_addr" &&
        expect_usage "unknown option" --bogus stdio: "$echo_addr" &&
        expect_usage "--timeout" --timeout x stdio: "$echo_addr"
}

run relay-file t_relay_file
run relay-pipes t_relay_pipes
run listen-once-unix t_listen_once
run listen-sigterm t_listen_sigterm
run listen-stdio t_listen_stdio
run refused-unix t_refused_unix
run refused-tcp t_refused_tcp
run stdout-closed t_stdout_closed
run trace t_trace
run bad-endpoint t_bad_endpoint
run usage t_usage

[ "$failures" -eq 0 ]
