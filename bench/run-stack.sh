#!/usr/bin/env bash
# shellcheck disable=SC2034 # RESULT*, WIRE_CMD, PEERS, LINES, CSV_DONE: bench/run's
#
# run-stack.sh: the whole-stack benchmark's runner, sourced by bench/run
# (after run-peers.sh and run-rpc.sh, whose helpers it uses: log, die,
# kill_pid, wait_exit, field, median, pin_prefix, tree_cpu_ns, tls_cert,
# rpc_start, rpc_jayson, BENCH_TMP, BG_PIDS).  It defines run_stack, which
# bench/run's interleave calls once per server and round, and stack_group,
# the whole ONLY=stack group.
#
# The benchmark: JSON-RPC over HTTP over TLS over TCP on 127.0.0.1.  One
# load generator (bench/stack_load: OpenSSL, never libwire) keeps
# STACK_WINDOW calls in flight on each of STACK_CONNS keep-alive
# connections (over HTTP/1.1: pipelined), each call
# {"jsonrpc":"2.0","method":"subtract","params":[42,23],"id":N}, and checks
# every answer (result 19, the right id; over HTTP a 200 in request order).
# TLS: TLS 1.3, TLS_AES_128_GCM_SHA256, X25519 (the client's offer), the
# EC P-256 certificate run-peers.sh's tls_cert makes.  The servers:
#   libwire   bench/wire_stack MODE, the stack MODE names top-down:
#             lines-tcp, lines-tls-tcp, http-tcp, http-tls-tcp
#   jayson    jayson 4's own HTTPS and HTTP servers (npm; Node's https and
#             http modules): bench/peer_stack_jayson.js https|http
# Rows: calls per second (timed by stack_load from the first call to the
# last answer, after an unmeasured warm-up of STACK_WARMUP seconds on the
# same server) and the server's CPU microseconds per call (all its
# threads, /proc/PID/task/*/schedstat, over the measured run), libwire
# against jayson for http-tls-tcp and http-tcp; the two lines stacks have
# no peer here (jayson over lines is in the rpc group) and give libwire's
# figures alone, so each layer's cost shows by difference.
#
# Then the callgrind pass: each libwire stack runs under valgrind
# --tool=callgrind twice, for STACK_CG_BASE calls and for STACK_CG_BASE +
# STACK_CG_CALLS calls (same connections, same window); the difference
# over STACK_CG_CALLS is the server's user-space instructions per call,
# free of start-up, handshakes and exit.  Each function's SELF cost goes
# to a layer by its object and source file:
#   TCP+loop  libwire's lib/* and transports/* but tls (tcp.c, fdio.c,
#             sock.c, ...), and libevent
#   lines     protocols/chunk.c and the other framing files of protocols/
#   HTTP      protocols/http/* and llhttp (compiled into libwire)
#   TLS       transports/tls*.c, libssl, libcrypto
#   JSON-RPC  protocols/jsonrpc/*, jansson
#   method    wire_stack itself (the subtract handler)
#   libc      reported apart, split: "libc alloc" (malloc, free and their
#             internals), "libc mem/str" (mem*, str*: copies, compares,
#             strtol) and "libc other" (syscall wrappers, printf, ...)
#   other     the rest: the dynamic loader (__tls_get_addr, for
#             OpenSSL's thread-locals), call stubs callgrind cannot place
# A second view charges libc to the layer that called it: each layer's
# self cost plus the inclusive cost of its calls into libc (a call through
# a stub goes to the stub's callers, pro rata; "libc not charged" is what
# no layer's call explains).  Kernel time is not in callgrind's counts
# (the CPU rows include it).
#
# Environment (all optional):
#   STACK_CONNS=4 STACK_WINDOW=16   connections, calls in flight on each
#   STACK_SECONDS=2 STACK_WARMUP=1  seconds of the measured and warm-up runs
#   STACK_SERVER_CPU=1 STACK_CLIENT_CPU=0
#                                   CPUs (taskset) of the server and of
#                                   stack_load
#   STACK_CG_CALLS=5000             calls measured by callgrind per stack
#                                   (0: no callgrind pass)
#   STACK_CG_BASE=200               calls of the run subtracted
#   STACK_CG_MODES="lines-tcp lines-tls-tcp http-tcp http-tls-tcp"
#   WIRE_NPM_CACHE                  where jayson@4 is (run-rpc.sh)
# Needs valgrind (Debian: valgrind) for the callgrind pass, else its rows
# say "skipped"; node and npm for jayson, else its rows say "skipped".

STACK_CONNS=${STACK_CONNS:-4}
STACK_WINDOW=${STACK_WINDOW:-16}
STACK_SECONDS=${STACK_SECONDS:-2}
STACK_WARMUP=${STACK_WARMUP:-1}
STACK_SERVER_CPU=${STACK_SERVER_CPU-1}
STACK_CLIENT_CPU=${STACK_CLIENT_CPU-0}
STACK_CG_CALLS=${STACK_CG_CALLS:-5000}
STACK_CG_BASE=${STACK_CG_BASE:-200}
STACK_CG_MODES=${STACK_CG_MODES:-lines-tcp lines-tls-tcp http-tcp http-tls-tcp}
STACK_LAYERS=("TCP+loop" lines HTTP TLS JSON-RPC method "libc alloc" "libc mem/str"
    "libc other" other)

# stack_load's mode for each wire_stack mode, and for each server command.
declare -A STACK_LOAD=([lines-tcp]=lines [lines-tls-tcp]=lines-tls [http-tcp]=http
    [http-tls-tcp]=https)
declare -A STACK_PROTO

# stack_wire MODE: the wire_stack command for MODE (one word list) in
# STACK_CMD, its load mode noted in STACK_PROTO.
stack_wire() {
    STACK_CMD="$STACK_BIN/wire_stack $1"
    [[ $1 == *-tls-* ]] && STACK_CMD+=" $TLS_CERT $TLS_KEY"
    STACK_PROTO[$STACK_CMD]=${STACK_LOAD[$1]}
}

# stack_drive MODE LIMIT: run bench/stack_load on STACK_CLIENT_CPU against
# PORT; LIMIT is "Ns" or a number of calls.  Prints its result line.
stack_drive() {
    PIN=$STACK_CLIENT_CPU pin_prefix
    timeout 600 "${PIN_PREFIX[@]}" "$BENCH_DIR/stack_load" "$1" "$PORT" \
        "$STACK_CONNS" "$STACK_WINDOW" "$2"
}

# run_stack SERVER: SERVER is one word list whose load mode is in
# STACK_PROTO.  A warm-up run of stack_load, then the measured one, on a
# fresh server each of RUNS times; RESULT is the median calls per second,
# RESULT2 the median server CPU microseconds per call.
run_stack() {
    local out=$BENCH_TMP/stack.out mode=${STACK_PROTO[$1]} run line cpu n
    local -a cmd rates=() costs=()
    read -ra cmd <<<"$1"
    for ((run = 1; run <= RUNS; run++)); do
        RPC_SERVER_CPU=$STACK_SERVER_CPU rpc_start "$out" "${cmd[@]}"
        stack_drive "$mode" "${STACK_WARMUP}s" >/dev/null || die "stack_load (warm-up) failed against: $1"
        cpu=$(tree_cpu_ns "$SERVER_PID")
        line=$(stack_drive "$mode" "${STACK_SECONDS}s") || die "stack_load failed against: $1"
        cpu=$(($(tree_cpu_ns "$SERVER_PID") - cpu))
        kill_pid "$SERVER_PID"
        n=$(field calls "$line")
        ((n > 0)) || die "no call answered by: $1"
        log "  stack run $run: $line server_cpu_ms=$((cpu / 1000000))"
        rates+=("$(field calls/s "$line")")
        costs+=("$(awk -v c="$cpu" -v n="$n" 'BEGIN { printf "%.2f", c / 1000 / n }')")
    done
    RESULT=$(median "${rates[@]}")
    RESULT2=$(median "${costs[@]}")
}

# stack_row BENCH PEER FIGURE UNIT NOTE: a table row with libwire's figure
# alone (no peer, no ratio), also in the CSV when bench/csv.sh is there.
stack_row() {
    local csv=""
    declare -F csv_row >/dev/null && csv=yes
    [[ -z $csv ]] || csv_sync
    LINES+=("$(printf '%-24s %-16s %12s %12s %-7s %7s' "$1" "$2" "$3" - "$4" -)")
    if [[ -n $csv ]]; then
        csv_row "$1" "$2" "$3" "" "$4" "" "" "$5"
        CSV_DONE=${#LINES[@]}
    fi
}

# ---- the callgrind pass ----

# stack_cg_layers FILE: print "LAYER IR" for each layer's self cost in the
# callgrind output FILE, and "libc>LAYER IR" for the inclusive cost of
# LAYER's calls into libc (see the header).  Names in the file are
# compressed ("fn=(12) name" once, then "fn=(12)"); objects and files
# have their own tables; cost lines follow fn=, and the one line after
# calls= is the call's inclusive cost, not self cost.
stack_cg_layers() {
    awk '
    function name(kind, s,   id, rest) {
        if (!match(s, /^\([0-9]+\)/))
            return s
        id = substr(s, 2, RLENGTH - 2)
        rest = substr(s, RLENGTH + 1)
        sub(/^ /, "", rest)
        if (rest != "")
            tab[kind, id] = rest
        return tab[kind, id]
    }
    function layer(ob, fl, fn) {
        if (ob ~ /libwire\.so/) {
            if (fl ~ /\/protocols\/http\/|\/llhttp\//) return "HTTP"
            if (fl ~ /\/protocols\/jsonrpc\//) return "JSON-RPC"
            if (fl ~ /\/protocols\//) return "lines"
            if (fl ~ /\/transports\/tls/) return "TLS"
            return "TCP+loop"
        }
        if (ob ~ /libevent/) return "TCP+loop"
        if (ob ~ /libssl|libcrypto/) return "TLS"
        if (ob ~ /libjansson/) return "JSON-RPC"
        if (ob ~ /\/libc\.so|\/libc-/) {
            if (fn ~ /alloc|free|tcache|_int_|arena|consolidate/) return "libc alloc"
            if (fn ~ /mem|str|stp/) return "libc mem/str"
            return "libc other"
        }
        if (ob ~ /\/wire_stack$/) return "method"
        return "other"
    }
    /^ob=/ { ob = name("ob", substr($0, 4)); next }
    /^fl=/ { fl = name("fl", substr($0, 4)); next }
    /^f[ie]=/ { name("fl", substr($0, 4)); next }
    /^fn=/ { fn = name("fn", substr($0, 4)); cur = layer(ob, fl, fn); cob = ob; next }
    /^cob=/ { cob = name("ob", substr($0, 5)); next }
    /^cf[il]=/ { name("fl", substr($0, 5)); next }
    /^cfn=/ { cfn = name("fn", substr($0, 5)); next }
    /^calls=/ { incall = 1; next }
    /^[0-9+*-]/ {
        if (!incall) {
            self[cur] += $2
            next
        }
        incall = 0
        callee = layer(cob, "", cfn)
        # A call through a stub callgrind cannot place (object "???": a
        # PLT entry) is charged to the stub'"'"'s callers below, pro rata.
        if (cob == "???") {
            stub_in[cob, cfn, cur] += $2
            stub_all[cob, cfn] += $2
        } else if (ob == "???" && callee ~ /^libc/) {
            stub_out[ob, fn] += $2
        } else if (cur !~ /^libc/ && callee ~ /^libc/ &&
                   cfn !~ /^__libc_start|^\(below main\)$/) {
            # (_start calls main through libc: that is not a libc cost)
            libc[cur] += $2
        }
        cob = ob
    }
    END {
        for (k in stub_in) {
            split(k, part, SUBSEP)
            s = part[1] SUBSEP part[2]
            if (part[3] !~ /^libc/ && stub_all[s] > 0)
                libc[part[3]] += stub_out[s] * stub_in[k] / stub_all[s]
        }
        for (l in self) print l "\t" self[l]
        for (l in libc) printf "libc>%s\t%.0f\n", l, libc[l]
    }' "$1"
}

# stack_cg_run MODE CALLS FILE: wire_stack MODE under callgrind (output
# in FILE), loaded with CALLS calls, then SIGTERM; it must exit 0.
stack_cg_run() {
    local out=$BENCH_TMP/cg.out i
    local -a cmd
    stack_wire "$1"
    read -ra cmd <<<"$STACK_CMD"
    : >"$out"
    timeout 900 valgrind --tool=callgrind --callgrind-out-file="$3" "${cmd[@]}" \
        >"$out" 2>"$out.err" &
    SERVER_PID=$!
    BG_PIDS+=("$SERVER_PID")
    PORT=""
    for ((i = 0; i < 1200; i++)); do # valgrind starts slowly
        kill -0 "$SERVER_PID" 2>/dev/null || { tail -n 5 "$out.err" >&2; die "callgrind: $1 did not start"; }
        sleep 0.1
        PORT=$(sed -n 's/^port \([0-9][0-9]*\)$/\1/p' "$out")
        [[ -z $PORT ]] || break
    done
    [[ -n $PORT ]] || die "callgrind: $1 said no port within 120 s"
    stack_drive "${STACK_LOAD[$1]}" "$2" >/dev/null || die "callgrind: stack_load failed against $1"
    kill -TERM "$SERVER_PID"
    wait_exit "$SERVER_PID" 120 || die "callgrind: $1 did not exit"
    [[ $WAIT_RC == 0 ]] || { tail -n 5 "$out.err" >&2; die "callgrind: $1 exited $WAIT_RC"; }
    grep -q '^totals:' "$3" || die "callgrind: no totals in $3"
}

# stack_callgrind MODE: the two runs for MODE; sets CG[MODE|LAYER] (self
# instructions per call), CG[MODE|libc>LAYER] and CG[MODE|total].
declare -A CG
stack_callgrind() {
    local mode=$1 f0=$BENCH_TMP/cg.$1.0 f1=$BENCH_TMP/cg.$1.1 layer ir
    declare -A base=()
    stack_cg_run "$mode" "$STACK_CG_BASE" "$f0"
    stack_cg_run "$mode" "$((STACK_CG_BASE + STACK_CG_CALLS))" "$f1"
    while IFS=$'\t' read -r layer ir; do base[$layer]=$ir; done < <(stack_cg_layers "$f0")
    CG[$mode|total]=0
    while IFS=$'\t' read -r layer ir; do
        ir=$(((ir - ${base[$layer]:-0}) / STACK_CG_CALLS))
        CG[$mode|$layer]=$ir
        [[ $layer == libc\>* ]] || CG[$mode|total]=$((CG[$mode|total] + ir))
    done < <(stack_cg_layers "$f1")
    rm -f "$f0" "$f1"
    log "  callgrind $mode: ${CG[$mode|total]} instructions per call"
}

# stack_cg_table MODE...: print the per-layer tables (self cost; libc
# charged to callers) and add the self-cost rows to the main table.
stack_cg_table() {
    local mode layer v total charged
    local -a modes=("$@")
    printf '\nwhole stack: server instructions per call by layer (callgrind, self cost;\n'
    printf '%s calls after %s, %s conns x %s in flight; user space only)\n' \
        "$STACK_CG_CALLS" "$STACK_CG_BASE" "$STACK_CONNS" "$STACK_WINDOW"
    printf '%-16s' layer
    printf ' %14s' "${modes[@]}"
    printf '\n'
    for layer in "${STACK_LAYERS[@]}" total; do
        printf '%-16s' "$layer"
        for mode in "${modes[@]}"; do printf ' %14s' "${CG[$mode|$layer]:-0}"; done
        printf '\n'
    done
    printf 'libc charged to the calling layer (self + its calls into libc):\n'
    for layer in "${STACK_LAYERS[@]}" "libc not charged"; do
        [[ $layer == libc\ * && $layer != "libc not charged" ]] && continue
        printf '%-16s' "$layer"
        for mode in "${modes[@]}"; do
            if [[ $layer == "libc not charged" ]]; then
                charged=0
                for v in "${STACK_LAYERS[@]}"; do charged=$((charged + ${CG[$mode|libc>$v]:-0})); done
                v=$((${CG[$mode|libc alloc]:-0} + ${CG[$mode|libc mem/str]:-0} +
                    ${CG[$mode|libc other]:-0} - charged))
            else
                v=$((${CG[$mode|$layer]:-0} + ${CG[$mode|libc>$layer]:-0}))
            fi
            printf ' %14s' "$v"
        done
        printf '\n'
    done
    printf '\n'
    for mode in "${modes[@]}"; do
        total=${CG[$mode|total]}
        for layer in "${STACK_LAYERS[@]}" total; do
            v=${CG[$mode|$layer]:-0}
            ((v * 200 >= total)) || continue # under 0.5 %: not a row
            stack_row "stack Ir $mode" "$layer" "$v" "Ir/call" \
                "$(awk -v v="$v" -v t="$total" 'BEGIN { printf "%.0f%% of the call", 100 * v / t }')"
        done
    done
}

# stack_group BUILD_BENCH_DIR PEER_DIR: the whole ONLY=stack group for
# bench/run.
stack_group() {
    local w=$1 p=$2 mode peer cmd t0=$SECONDS
    local -a order=()
    STACK_BIN=$w
    [[ -x $w/wire_stack ]] || die "missing $w/wire_stack"
    [[ -x $p/stack_load ]] || die "missing $p/stack_load (make -C bench -f Makefile.peers)"
    tls_cert
    log "stack: subtract, $STACK_CONNS conns x $STACK_WINDOW in flight, ${STACK_SECONDS} s" \
        "(+${STACK_WARMUP} s warm-up), $ROUNDS interleaved rounds"
    for mode in http-tls-tcp http-tcp; do
        stack_wire "$mode"
        WIRE_CMD=$STACK_CMD
        PEERS=()
        peer="jayson (${STACK_LOAD[$mode]})"
        if rpc_jayson; then
            cmd="node $p/peer_stack_jayson.js ${STACK_LOAD[$mode]}"
            [[ $mode == http-tls-tcp ]] && cmd+=" $TLS_CERT $TLS_KEY"
            PEERS["$peer"]=$cmd
            STACK_PROTO[$cmd]=${STACK_LOAD[$mode]}
        fi
        log "stack $mode:"
        interleave stack
        if [[ -n ${PEERS[$peer]:-} ]]; then
            compare "stack $mode" "calls/s" "${FIG[libwire]}" "$peer" "${FIG[$peer]}"
            compare "stack $mode CPU" "us/call" "${FIG2[libwire]}" "$peer" "${FIG2[$peer]}" lower
        else
            log "stack: jayson skipped: $RPC_JAYSON_WHY"
            if declare -F skipped >/dev/null; then
                skipped "stack $mode" "$peer" "$RPC_JAYSON_WHY"
            else
                LINES+=("$(printf '%-24s %-16s %s' "stack $mode" "$peer" "$RPC_JAYSON_WHY, skipped")")
            fi
            stack_row "stack $mode" "-" "${FIG[libwire]}" "calls/s" "no peer"
            stack_row "stack $mode CPU" "-" "${FIG2[libwire]}" "us/call" "no peer"
        fi
    done
    for mode in lines-tls-tcp lines-tcp; do
        stack_wire "$mode"
        WIRE_CMD=$STACK_CMD
        PEERS=()
        log "stack $mode (libwire alone):"
        interleave stack
        stack_row "stack $mode" "-" "${FIG[libwire]}" "calls/s" "libwire alone"
        stack_row "stack $mode CPU" "-" "${FIG2[libwire]}" "us/call" "libwire alone"
    done

    if ((STACK_CG_CALLS <= 0)); then
        return 0
    elif ! command -v valgrind >/dev/null 2>&1; then
        log "stack: valgrind not found, no callgrind pass"
        stack_row "stack Ir" "-" "" "" "valgrind not found, skipped"
        return 0
    fi
    read -ra order <<<"$STACK_CG_MODES"
    log "stack: callgrind, $STACK_CG_CALLS calls (after $STACK_CG_BASE) per stack: ${order[*]}"
    for mode in "${order[@]}"; do
        [[ -n ${STACK_LOAD[$mode]:-} ]] || die "STACK_CG_MODES: unknown stack $mode"
        stack_callgrind "$mode"
    done
    stack_cg_table "${order[@]}"
    log "stack: done in $((SECONDS - t0)) s"
}
