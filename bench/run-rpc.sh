#!/usr/bin/env bash
# shellcheck disable=SC2034 # RESULT*, WIRE_CMD, PEERS, LINES: bench/run's
#
# run-rpc.sh: the JSON-RPC benchmark's runner, sourced by bench/run (after
# run-peers.sh, whose helpers it uses: log, die, kill_pid, field, median,
# pin_prefix, tree_cpu_ns, BENCH_TMP, BG_PIDS).  It defines run_rpc, which
# bench/run's interleave calls once per server and round, and the set-up
# of the two peers.
#
# The benchmark: pipelined calls per second over TCP on 127.0.0.1, one
# load generator (bench/rpc_load, libc only) against every server, each
# call {"jsonrpc":"2.0","method":"subtract","params":[42,23],"id":N}
# followed by "\n", RPC_WINDOW calls in flight on each of RPC_CONNS
# connections, every answer checked (result 19, the id of a call in
# flight).  The servers:
#   libwire          examples/jsonrpc-server --framing lines (the lines
#                    layer under wire_jsonrpc: newline-delimited JSON)
#   jayson (lines)   jayson 4's Server (npm) behind a newline-delimited
#                    listener: bench/peer_rpc_jayson.js lines
#   jayson (tcp)     jayson's own TCP server, unchanged:
#                    bench/peer_rpc_jayson.js tcp; it writes responses
#                    with no delimiter, so rpc_load reads it as a stream of
#                    JSON texts (the same parser, without the newline check)
#   libjson-rpc-cpp  Debian's libjsonrpccpp (0.7) AbstractServer behind a
#                    newline-delimited connector: bench/peer_rpc_jsonrpccpp
#                    (the library has no connector that keeps a TCP
#                    connection open for more than one call; see the file)
# Every newline-framed server dispatches all complete lines of a read and
# reads its requests the same way; the figure is calls per second, timed
# by rpc_load from the first call to the last answer, after an unmeasured
# warm-up run of RPC_WARMUP seconds on the same server (the JIT of node).
# The second figure is the server's CPU time per call (all its threads,
# from the scheduler's accounting in /proc/PID/task/*/schedstat, over the
# measured run only), steadier than the rate on a shared machine.
#
# Environment (all optional):
#   RPC_CONNS=4 RPC_WINDOW=64   connections, and calls in flight on each
#   RPC_SECONDS=3 RPC_WARMUP=1  seconds of the measured and warm-up runs
#   RPC_SERVER_CPU=1 RPC_CLIENT_CPU=0
#                               CPUs (taskset) of the server and of rpc_load
#   WIRE_NPM_CACHE              where jayson@4 is (or gets) installed
#                               (default ~/.cache/libwire/npm, as the interop
#                               test); needs node and npm, else the jayson
#                               rows say "skipped"
# libjson-rpc-cpp: Debian libjsonrpccpp-dev (Makefile.peers builds
# peer_rpc_jsonrpccpp only when pkg-config finds it; without it that row
# says "skipped").

RPC_CONNS=${RPC_CONNS:-4}
RPC_WINDOW=${RPC_WINDOW:-64}
RPC_SECONDS=${RPC_SECONDS:-3}
RPC_WARMUP=${RPC_WARMUP:-1}
RPC_SERVER_CPU=${RPC_SERVER_CPU-1}
RPC_CLIENT_CPU=${RPC_CLIENT_CPU-0}

# rpc_jayson: find jayson 4 (installing it into the cache if need be) and
# set RPC_NODE_PATH; returns 1, with RPC_JAYSON_WHY set, when it cannot.
rpc_jayson() {
    local cache ver
    [[ -n ${RPC_NODE_PATH:-} ]] && return 0
    if ! command -v node >/dev/null 2>&1 || ! command -v npm >/dev/null 2>&1; then
        RPC_JAYSON_WHY="node or npm not found"
        return 1
    fi
    cache=${WIRE_NPM_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/libwire/npm}
    mkdir -p "$cache" 2>/dev/null || cache=$BENCH_TMP/npm
    if [[ ! -f $cache/node_modules/jayson/package.json ]]; then
        log "rpc: installing jayson@4 into $cache"
        timeout 300 npm install --no-save --no-audit --no-fund --prefix "$cache" \
            jayson@4 >"$BENCH_TMP/npm.log" 2>&1 || {
            RPC_JAYSON_WHY="npm install jayson@4 failed"
            return 1
        }
    fi
    ver=$(NODE_PATH=$cache/node_modules node -e \
        'console.log(require("jayson/package.json").version)' 2>/dev/null) || ver=""
    if [[ $ver != 4.* ]]; then
        RPC_JAYSON_WHY="jayson 4 not usable from $cache (got '$ver')"
        return 1
    fi
    log "rpc: jayson $ver, node $(node --version)"
    RPC_NODE_PATH=$cache/node_modules
}

# rpc_start OUT CMD...: start the server CMD on RPC_SERVER_CPU with stdout
# in OUT and wait (up to 10 s) for "port N" or "listening on ...:N".
# Sets SERVER_PID and PORT.
rpc_start() {
    local out=$1 i
    shift
    PIN=$RPC_SERVER_CPU pin_prefix
    : >"$out"
    NODE_PATH=${RPC_NODE_PATH:-} "${PIN_PREFIX[@]}" "$@" >"$out" 2>"$out.err" &
    SERVER_PID=$!
    BG_PIDS+=("$SERVER_PID")
    PORT=""
    for ((i = 0; i < 1000; i++)); do
        PORT=$(sed -n -e 's/^port \([0-9][0-9]*\)$/\1/p' \
            -e 's/^listening on .*:\([0-9][0-9]*\)$/\1/p' "$out" | head -n 1)
        [[ -n $PORT ]] && return 0
        if ! kill -0 "$SERVER_PID" 2>/dev/null; then
            cat "$out.err" >&2
            die "server exited before saying its port: $*"
        fi
        sleep 0.01
    done
    die "server said no port within 10 s: $*"
}

# The framing rpc_load expects from each server command (default lines).
declare -A RPC_FRAMING

# run_rpc SERVER: SERVER is one word list (a command whose server says
# "port N" or "listening on ADDR:N").  One warm-up run of rpc_load, then
# the measured one.  Runs RUNS times, each on a fresh server; RESULT is
# the median calls per second, RESULT2 the median server CPU
# microseconds per call.
run_rpc() {
    local out=$BENCH_TMP/rpc.out run line cpu0 cpu1 n framing=${RPC_FRAMING[$1]:-lines}
    local -a cmd figures=() costs=()
    read -ra cmd <<<"$1"
    for ((run = 1; run <= RUNS; run++)); do
        rpc_start "$out" "${cmd[@]}"
        PIN=$RPC_CLIENT_CPU pin_prefix
        "${PIN_PREFIX[@]}" "$BENCH_DIR/rpc_load" "$PORT" "$RPC_CONNS" "$RPC_WINDOW" \
            "$RPC_WARMUP" "$framing" >/dev/null || die "rpc_load (warm-up) failed against: $1"
        cpu0=$(tree_cpu_ns "$SERVER_PID")
        line=$("${PIN_PREFIX[@]}" "$BENCH_DIR/rpc_load" "$PORT" "$RPC_CONNS" "$RPC_WINDOW" \
            "$RPC_SECONDS" "$framing") || die "rpc_load failed against: $1"
        cpu1=$(tree_cpu_ns "$SERVER_PID")
        kill_pid "$SERVER_PID"
        n=$(field calls "$line")
        ((n > 0)) || die "no call answered by: $1"
        log "  rpc run $run: $line server_cpu_ms=$(((cpu1 - cpu0) / 1000000))"
        figures+=("$(field calls/s "$line")")
        costs+=("$(awk -v c="$((cpu1 - cpu0))" -v n="$n" 'BEGIN { printf "%.2f", c / 1000 / n }')")
    done
    RESULT=$(median "${figures[@]}")
    RESULT2=$(median "${costs[@]}")
}

# rpc_group BUILD_BENCH_DIR PEER_DIR: the whole ONLY=rpc group for
# bench/run: sets PEERS and WIRE_CMD, interleaves, adds the rows.
rpc_group() {
    local w=$1 p=$2 peer
    local -a order=()
    WIRE_CMD="$w/../examples/jsonrpc-server --framing lines tcp://127.0.0.1:0"
    [[ -x $w/../examples/jsonrpc-server ]] || die "missing $w/../examples/jsonrpc-server"
    PEERS=()
    if rpc_jayson; then
        PEERS["jayson (lines)"]="node $p/peer_rpc_jayson.js lines"
        PEERS["jayson (tcp)"]="node $p/peer_rpc_jayson.js tcp"
        RPC_FRAMING["node $p/peer_rpc_jayson.js tcp"]=stream
        order+=("jayson (tcp)" "jayson (lines)")
    else
        log "rpc: jayson skipped: $RPC_JAYSON_WHY"
        LINES+=("$(printf '%-24s %s' "rpc subtract" "jayson skipped: $RPC_JAYSON_WHY")")
    fi
    if [[ -x $p/peer_rpc_jsonrpccpp ]]; then
        PEERS["libjson-rpc-cpp"]=$p/peer_rpc_jsonrpccpp
        order+=(libjson-rpc-cpp)
    else
        log "rpc: libjson-rpc-cpp skipped (Debian: libjsonrpccpp-dev, then rebuild the peers)"
        LINES+=("$(printf '%-24s %s' "rpc subtract" "libjson-rpc-cpp not found, skipped")")
    fi
    log "rpc: subtract, $RPC_CONNS conns x $RPC_WINDOW in flight, ${RPC_SECONDS} s" \
        "(+${RPC_WARMUP} s warm-up), $ROUNDS interleaved rounds"
    interleave rpc
    for peer in "${order[@]}"; do
        compare "rpc subtract" "calls/s" "${FIG[libwire]}" "$peer" "${FIG[$peer]}"
    done
    for peer in "${order[@]}"; do
        compare "rpc (server CPU)" "us/call" "${FIG2[libwire]}" "$peer" "${FIG2[$peer]}" lower
    done
}
