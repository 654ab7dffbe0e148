#!/usr/bin/env bash
# serial-socat-test: a virtual serial cable made by socat -- two ptys
# joined, raw, no echo -- with examples/echo-server on one end
# (serial:/dev/pts/A) and tests/interop/serial-peer on the other
# (serial:/dev/pts/B): 100 KB of every byte value through both serial
# transports and back.  Then socat ends, which hangs the echo server's
# line up: it must see that as its EOF and exit 0.
#
# Skipped (exit 77) when socat is not installed.  Never sleeps to wait:
# socat's own messages (read with a deadline) say when the ptys exist, and
# every program runs under a time limit.
#
# Usage: bash tests/interop/serial-socat-test.sh [BUILD_DIR]   (default: .)
if [ -z "${BASH_VERSION:-}" ]; then exec bash "$0" "$@"; fi
set -u

build=${1:-.}
srv=$build/examples/echo-server
peer=$build/tests/interop/serial-peer
bytes=102400

if ! command -v socat >/dev/null 2>&1; then
    echo "SKIP: socat is not installed (Debian: apt-get install socat)"
    exit 77
fi
for prog in "$srv" "$peer"; do
    if [ ! -x "$prog" ]; then
        echo "FAIL: $prog is not built"
        exit 1
    fi
done

tmp=$(mktemp -d)
socat_pid=
drain_pid=
srv_pid=
cleanup() {
    for p in $srv_pid $socat_pid $drain_pid; do
        kill "$p" 2>/dev/null
    done
    wait 2>/dev/null
    rm -rf "$tmp"
}
trap cleanup EXIT
show_logs() {
    for f in socat.log srv.err peer.err; do
        [ -s "$tmp/$f" ] && sed "s/^/  $f: /" "$tmp/$f"
    done
}
fail() {
    echo "FAIL: $1"
    show_logs
    exit 1
}

# The cable.  -d -d makes socat name each pty ("PTY is /dev/pts/N") and
# say when it starts moving data.
mkfifo "$tmp/socat.err" || fail "mkfifo"
socat -d -d pty,raw,echo=0 pty,raw,echo=0 2>"$tmp/socat.err" &
socat_pid=$!
exec 3<"$tmp/socat.err"
ptys=()
ready=false
deadline=$((SECONDS + 10))
while ! $ready; do
    left=$((deadline - SECONDS))
    [ "$left" -gt 0 ] || fail "socat did not set up its ptys within 10 s"
    IFS= read -r -t "$left" -u 3 line || fail "socat ended before its ptys were ready"
    echo "$line" >>"$tmp/socat.log"
    if [[ $line =~ PTY\ is\ (/dev/[^[:space:]]+) ]]; then
        ptys+=("${BASH_REMATCH[1]}")
    elif [[ $line == *"starting data transfer loop"* ]]; then
        ready=true
    fi
done
[ "${#ptys[@]}" -eq 2 ] || fail "socat named ${#ptys[@]} ptys, not 2"
# Keep reading socat's messages, so it never blocks on a full pipe.
cat <&3 >>"$tmp/socat.log" &
drain_pid=$!
exec 3<&-
echo "cable: ${ptys[0]} <-> ${ptys[1]}"

# The echo server on one end.  What the peer sends before it is up waits
# in the pty (the serial transport does not flush input when it opens).
timeout 60 "$srv" "serial:${ptys[0]}?baud=115200" >"$tmp/srv.out" 2>"$tmp/srv.err" &
srv_pid=$!

# The test program on the other end: everything must come back.
if timeout 60 "$peer" "serial:${ptys[1]}?baud=115200" "$bytes" >"$tmp/peer.out" 2>"$tmp/peer.err"; then
    echo "PASS $bytes bytes through socat to echo-server and back ($(cat "$tmp/peer.out"))"
else
    fail "serial-peer (exit $?)"
fi

# Unplug the cable: socat keeps each pty's slave open too (so its reads
# never see the peer's close), and ending it hangs up both ptys.  The
# hangup is the echo server's EOF.
kill "$socat_pid"
wait "$socat_pid" 2>/dev/null
socat_pid=
wait "$srv_pid"
status=$?
srv_pid=
[ "$status" -eq 0 ] || fail "echo-server exited with $status after the hangup (124: still running after 60 s)"
echo "PASS echo-server saw the hangup as its EOF and exited 0"
[ -s "$tmp/srv.out" ] && fail "echo-server printed on stdout: $(head -c 200 "$tmp/srv.out")"
exit 0
