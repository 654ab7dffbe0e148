#!/usr/bin/env bash
#
# run-peers.sh: runs the peer side of libwire's three benchmarks (bulk
# throughput, 64-byte ping-pong, memory per idle connection) and prints a
# table. It builds nothing: run `make -C bench -f Makefile.peers` first.
# The work is done by three generic functions, run_bulk, run_pingpong and
# run_idle, which take an arbitrary server command (one that prints
# "port N" on stdout first), so a later script can source this file and
# run libwire's programs beside the peers. Each function leaves its
# figure in RESULT and logs details on stderr; every process it starts
# is killed on return or on exit. All traffic stays on 127.0.0.1.
#
# Usage: bench/run-peers.sh
# Environment (all optional):
#   RUNS=3                   runs per bulk / ping-pong figure (median)
#   BULK_BYTES=1073741824    bytes sent per bulk run
#   PINGPONG_ROUNDTRIPS=N    round trips per connection (default 100000
#                            for 1 connection, 200000/CONNS otherwise)
#   IDLE_N=10000             idle connections
#   PP1_PIN=0                CPU list (taskset) for server and client in
#                            the 1-connection ping-pong; empty: no pinning
#   PIN=                     CPU list for every other run; empty: none
#
# Sourcing this file (`source bench/run-peers.sh`) defines the functions
# and installs the cleanup traps without running the benchmarks.

set -euo pipefail

BENCH_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
RUNS=${RUNS:-3}
BULK_BYTES=${BULK_BYTES:-1073741824}
IDLE_N=${IDLE_N:-10000}
PIN=${PIN:-}
PP1_PIN=${PP1_PIN-0}

BENCH_TMP=$(mktemp -d "${TMPDIR:-/tmp}/run-peers.XXXXXX")
BG_PIDS=()      # every background process we started and not yet reaped
RESULT=""       # figure left by the last run_* call
PORT=""         # port announced by the last server started
SERVER_PID=""
RSS_KB=""

# Installed here, not in main, so a script that sources this file gets
# the same guarantee: nothing we started outlives the shell.
trap cleanup EXIT
trap 'exit 130' INT TERM

log() {
    printf '%s\n' "$*" >&2
}

die() {
    log "run-peers: $*"
    exit 1
}

# Kill PID politely, then firmly, and reap it. Never waits more than ~5 s.
kill_pid() {
    local pid=$1 i
    kill -TERM "$pid" 2>/dev/null || true
    for ((i = 0; i < 50; i++)); do
        kill -0 "$pid" 2>/dev/null || break
        sleep 0.1
    done
    kill -KILL "$pid" 2>/dev/null || true
    wait "$pid" 2>/dev/null || true
    forget_pid "$pid"
}

forget_pid() {
    local pid=$1 i
    for i in "${!BG_PIDS[@]}"; do
        [[ ${BG_PIDS[$i]} == "$pid" ]] && unset 'BG_PIDS[i]'
    done
    return 0
}

cleanup() {
    local pid
    for pid in "${BG_PIDS[@]}"; do
        kill_pid "$pid"
    done
    rm -rf "$BENCH_TMP"
}

# Wait up to SECONDS for PID to exit; set WAIT_RC to its status.
# Returns 1 (after killing it) if it did not exit in time.
wait_exit() {
    local pid=$1 secs=$2 i
    for ((i = 0; i < secs * 20; i++)); do
        kill -0 "$pid" 2>/dev/null || break
        sleep 0.05
    done
    if kill -0 "$pid" 2>/dev/null; then
        kill_pid "$pid"
        return 1
    fi
    WAIT_RC=0
    wait "$pid" || WAIT_RC=$?
    forget_pid "$pid"
    return 0
}

# The command prefix that applies $PIN (a taskset CPU list), if any.
pin_prefix() {
    PIN_PREFIX=()
    if [[ -n $PIN ]]; then
        PIN_PREFIX=(taskset -c "$PIN")
    fi
}

# start_server OUT CMD...: start CMD in the background with stdout in OUT
# and wait (up to 10 s) for its "port N" line. Sets SERVER_PID and PORT.
start_server() {
    local out=$1 i
    shift
    pin_prefix
    : >"$out"
    # taskset execs the command, so $! is the server's own pid.
    "${PIN_PREFIX[@]}" "$@" >"$out" 2>"$out.err" &
    SERVER_PID=$!
    BG_PIDS+=("$SERVER_PID")
    PORT=""
    for ((i = 0; i < 1000; i++)); do
        PORT=$(sed -n 's/^port \([0-9][0-9]*\)$/\1/p' "$out" | head -n 1)
        [[ -n $PORT ]] && return 0
        if ! kill -0 "$SERVER_PID" 2>/dev/null; then
            cat "$out.err" >&2
            die "server exited before printing its port: $*"
        fi
        sleep 0.01
    done
    die "server printed no port within 10 s: $*"
}

# field KEY LINE: print the value of KEY=value in LINE.
field() {
    local key=$1 tok
    local -a toks
    read -ra toks <<<"$2"
    for tok in "${toks[@]}"; do
        if [[ $tok == "$key="* ]]; then
            printf '%s\n' "${tok#*=}"
            return 0
        fi
    done
    return 1
}

# median NUM...: print the median (the lower middle for an even count).
median() {
    printf '%s\n' "$@" | sort -g | awk '{ v[NR] = $1 } END { print v[int((NR + 1) / 2)] }'
}

# run_bulk RECEIVER_CMD...
# RECEIVER_CMD prints "port N", accepts one connection, reads to EOF and
# prints "bytes=N seconds=S MB/s=X". bulk_send sends BULK_BYTES to it.
# Runs RUNS times; RESULT is the median MB/s.
run_bulk() {
    local out=$BENCH_TMP/bulk.out run line bytes mbs
    local -a figures=()
    for ((run = 1; run <= RUNS; run++)); do
        start_server "$out" "$@"
        pin_prefix
        "${PIN_PREFIX[@]}" "$BENCH_DIR/bulk_send" "$PORT" "$BULK_BYTES" ||
            die "bulk_send failed against: $*"
        wait_exit "$SERVER_PID" 60 || die "receiver did not finish: $*"
        [[ $WAIT_RC == 0 ]] || { cat "$out.err" >&2; die "receiver failed ($WAIT_RC): $*"; }
        line=$(grep '^bytes=' "$out" | tail -n 1) || die "no result line from: $*"
        bytes=$(field bytes "$line")
        mbs=$(field MB/s "$line")
        [[ $bytes == "$BULK_BYTES" ]] || die "receiver counted $bytes bytes, expected $BULK_BYTES"
        log "  bulk run $run: $line"
        figures+=("$mbs")
    done
    RESULT=$(median "${figures[@]}")
}

# run_pingpong SERVER_CMD... CONNS
# SERVER_CMD is an echo server that prints "port N" and exits on SIGTERM.
# pingpong_client runs CONNS connections with PINGPONG_ROUNDTRIPS round
# trips each. Runs RUNS times, each on a fresh server; RESULT is the
# median round trips per second.
run_pingpong() {
    (($# >= 2)) || die "usage: run_pingpong SERVER_CMD... CONNS"
    local conns=${!#} out=$BENCH_TMP/pingpong.out run line rts rounds
    local -a cmd=("${@:1:$#-1}") figures=()
    if [[ -n ${PINGPONG_ROUNDTRIPS:-} ]]; then
        rounds=$PINGPONG_ROUNDTRIPS
    elif ((conns == 1)); then
        rounds=100000
    else
        rounds=$((200000 / conns > 0 ? 200000 / conns : 1))
    fi
    for ((run = 1; run <= RUNS; run++)); do
        start_server "$out" "${cmd[@]}"
        pin_prefix
        line=$("${PIN_PREFIX[@]}" "$BENCH_DIR/pingpong_client" "$PORT" "$conns" "$rounds") ||
            die "pingpong_client failed against: ${cmd[*]}"
        kill_pid "$SERVER_PID"
        rts=$(field rt/s "$line") || die "bad pingpong line: $line"
        log "  pingpong run $run: $line"
        figures+=("$rts")
    done
    RESULT=$(median "${figures[@]}")
}

# read_rss PID: set RSS_KB to PID's VmRSS in kB.
read_rss() {
    RSS_KB=$(awk '/^VmRSS:/ { print $2 }' "/proc/$1/status") ||
        die "cannot read /proc/$1/status"
    [[ -n $RSS_KB ]] || die "no VmRSS for pid $1"
}

# settle_rss PID: set RSS_KB once three readings 100 ms apart agree
# (at most 5 s; then the last reading).
settle_rss() {
    local pid=$1 i prev="" same=0
    for ((i = 0; i < 50; i++)); do
        read_rss "$pid"
        if [[ $RSS_KB == "$prev" ]]; then
            same=$((same + 1))
            ((same >= 2)) && return 0
        else
            same=0
        fi
        prev=$RSS_KB
        sleep 0.1
    done
    log "  (RSS of $pid still changing after 5 s)"
}

# run_idle SERVER_CMD... N
# Measures the server's VmRSS before and after idle_client holds N idle
# connections to it. N is lowered (with a note) if the hard RLIMIT_NOFILE
# does not allow it. RESULT is bytes per connection; IDLE_CONNS is the
# number actually used.
run_idle() {
    (($# >= 2)) || die "usage: run_idle SERVER_CMD... N"
    local n=${!#} out=$BENCH_TMP/idle.out cout=$BENCH_TMP/idle_client.out
    local fifo=$BENCH_TMP/idle.fifo hard before after client i fd
    local -a cmd=("${@:1:$#-1}")
    hard=$(ulimit -Hn)
    if [[ $hard != unlimited ]] && ((hard < n + 64)); then
        log "  note: hard RLIMIT_NOFILE is $hard (< $n + 64); using $((hard - 64)) connections"
        n=$((hard - 64))
    fi
    IDLE_CONNS=$n
    start_server "$out" "${cmd[@]}"
    settle_rss "$SERVER_PID"
    before=$RSS_KB

    rm -f "$fifo"
    mkfifo "$fifo"
    # Opened read-write so that neither side blocks in open().
    exec {fd}<>"$fifo"
    pin_prefix
    "${PIN_PREFIX[@]}" "$BENCH_DIR/idle_client" "$PORT" "$n" <"$fifo" >"$cout" &
    client=$!
    BG_PIDS+=("$client")
    for ((i = 0; i < 1200; i++)); do
        grep -q '^connected ' "$cout" && break
        kill -0 "$client" 2>/dev/null || break
        sleep 0.05
    done
    grep -q "^connected $n\$" "$cout" || {
        exec {fd}>&-
        die "idle_client did not connect $n: $(cat "$cout")"
    }
    settle_rss "$SERVER_PID"
    after=$RSS_KB

    # Let the client close its connections, then stop the server.
    printf 'done\n' >&"$fd"
    exec {fd}>&-
    wait_exit "$client" 30 || die "idle_client did not exit"
    [[ $WAIT_RC == 0 ]] || die "idle_client failed ($WAIT_RC)"
    kill_pid "$SERVER_PID"
    rm -f "$fifo"
    RESULT=$(awk -v a="$after" -v b="$before" -v n="$n" \
        'BEGIN { printf "%.0f", (a - b) * 1024 / n }')
    log "  idle: VmRSS before=${before} kB after=${after} kB conns=$n -> $RESULT B/conn"
}

ROWS=()
# row BENCHMARK PEER FIGURE UNIT BASELINE: add a table row.
row() {
    local ratio
    ratio=$(awk -v f="$3" -v b="$5" 'BEGIN { if (b > 0) printf "%.2f", f / b; else print "-" }')
    ROWS+=("$(printf '%-26s %-22s %10s %-7s %6s' "$1" "$2" "$3" "$4" "$ratio")")
}

main() {
    local b=$BENCH_DIR prog base conns pp1 label
    for prog in bulk_send peer_bulk_blocking peer_bulk_bev pingpong_client \
        peer_echo_epoll peer_echo_bev peer_echo_uv idle_client; do
        [[ -x $b/$prog ]] ||
            die "missing $b/$prog; build with: make -C bench -f Makefile.peers"
    done

    log "bulk: $BULK_BYTES bytes, median of $RUNS"
    run_bulk "$b/peer_bulk_blocking"
    base=$RESULT
    row "bulk $((BULK_BYTES / 1048576)) MiB" "blocking read()" "$RESULT" "MB/s" "$base"
    run_bulk "$b/peer_bulk_bev"
    row "bulk $((BULK_BYTES / 1048576)) MiB" "libevent bufferevent" "$RESULT" "MB/s" "$base"

    for conns in 1 100; do
        pp1=$PIN
        label="pingpong $conns conn"
        if ((conns == 1)); then
            pp1=$PP1_PIN
            [[ -n $pp1 ]] && label="$label, cpu $pp1"
        fi
        log "pingpong: $conns connections, median of $RUNS"
        PIN=$pp1 run_pingpong "$b/peer_echo_epoll" "$conns"
        base=$RESULT
        row "$label" "epoll" "$RESULT" "rt/s" "$base"
        PIN=$pp1 run_pingpong "$b/peer_echo_bev" "$conns"
        row "$label" "libevent bufferevent" "$RESULT" "rt/s" "$base"
        PIN=$pp1 run_pingpong "$b/peer_echo_uv" "$conns"
        row "$label" "libuv" "$RESULT" "rt/s" "$base"
    done

    log "idle: $IDLE_N connections"
    run_idle "$b/peer_echo_epoll" "$IDLE_N"
    base=$RESULT
    row "idle $IDLE_CONNS conns" "epoll" "$RESULT" "B/conn" "$base"
    run_idle "$b/peer_echo_bev" "$IDLE_N"
    row "idle $IDLE_CONNS conns" "libevent bufferevent" "$RESULT" "B/conn" "$base"
    run_idle "$b/peer_echo_uv" "$IDLE_N"
    row "idle $IDLE_CONNS conns" "libuv" "$RESULT" "B/conn" "$base"

    printf '%-26s %-22s %10s %-7s %6s\n' "benchmark" "peer" "figure" "unit" "ratio"
    printf '%s\n' "${ROWS[@]}"
    printf '(ratio: figure / first row of its group)\n'
}

if [[ ${BASH_SOURCE[0]} == "$0" ]]; then
    main "$@"
fi
