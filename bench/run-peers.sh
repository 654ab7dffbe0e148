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
#   TLS_BULK_BYTES=536870912 plaintext bytes per TLS bulk run
#   HS_CONNS=16 HS_SECONDS=2 connections in flight and seconds per TLS
#                            handshake run
#   TLS_SERVER_CPU=1 TLS_CLIENT_CPU=0
#                            CPUs (taskset) of the server and of the
#                            client in the TLS runs; empty: no pinning
#   HTTP_CONNS=50 HTTP_SECONDS=10
#                            wrk's connections and seconds per HTTP run
#   HTTP_SERVER_CPU=1 HTTP_CLIENT_CPU=0
#                            CPUs (taskset) of the HTTP server and of wrk
#
# The TLS functions (run_tls_bulk, run_tls_hs) and the HTTP one
# (run_http) are used by bench/run only; run_tls_hs and run_http run
# nginx (Debian: nginx or nginx-light) when asked to, tls_cert needs the
# openssl command, run_http needs wrk (Debian: wrk) and checks each
# server's answer with curl when it is there.
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
TLS_BULK_BYTES=${TLS_BULK_BYTES:-536870912}
HS_CONNS=${HS_CONNS:-16}
HS_SECONDS=${HS_SECONDS:-2}
TLS_SERVER_CPU=${TLS_SERVER_CPU-1}
TLS_CLIENT_CPU=${TLS_CLIENT_CPU-0}
HTTP_CONNS=${HTTP_CONNS:-50}
HTTP_SECONDS=${HTTP_SECONDS:-10}
HTTP_SERVER_CPU=${HTTP_SERVER_CPU-1}
HTTP_CLIENT_CPU=${HTTP_CLIENT_CPU-0}

BENCH_TMP=$(mktemp -d "${TMPDIR:-/tmp}/run-peers.XXXXXX")
BG_PIDS=()      # every background process we started and not yet reaped
RESULT=""       # figure left by the last run_* call
RESULT2=""      # its second figure, for the run_* calls that have one
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

# ---- TLS ----

# tls_cert: make the benchmark's certificate once (EC P-256, CN and SAN
# localhost and 127.0.0.1) and set TLS_CERT and TLS_KEY.
tls_cert() {
    [[ -n ${TLS_CERT:-} ]] && return 0
    TLS_CERT=$BENCH_TMP/tls-cert.pem
    TLS_KEY=$BENCH_TMP/tls-key.pem
    openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes \
        -keyout "$TLS_KEY" -out "$TLS_CERT" -days 2 -subj /CN=localhost \
        -addext "subjectAltName=DNS:localhost,IP:127.0.0.1" >/dev/null 2>&1 ||
        die "openssl could not make the TLS benchmark certificate"
}

# tree_cpu_ns PID: CPU time (ns) PID and its descendants have used so far,
# from the scheduler's own accounting (/proc/PID/task/*/schedstat).
tree_cpu_ns() {
    local pid=$1 total=0 f child v
    for f in /proc/"$pid"/task/*/schedstat; do
        read -r v _ <"$f" 2>/dev/null && total=$((total + v))
    done
    for child in $(pgrep -P "$pid" 2>/dev/null); do
        total=$((total + $(tree_cpu_ns "$child")))
    done
    printf '%s\n' "$total"
}

# tls_cmd CMD: split a command given as one word list ("prog mode") into
# TLS_CMD, so that bench/run's interleave can pass "wire_tls bulk-recv"
# as one program.  (Paths with spaces are not supported here.)
tls_cmd() {
    read -ra TLS_CMD <<<"$1"
}

# run_tls_bulk RECEIVER: RECEIVER (one word list, given CERT KEY as its
# last arguments) prints "port N", accepts one TLS connection, reads it
# to the client's close_notify and prints
# "bytes=N seconds=S MB/s=X cpu=C cipher=NAME".  tls_bulk_send sends it
# TLS_BULK_BYTES.  Receiver on TLS_SERVER_CPU, sender on TLS_CLIENT_CPU.
# Runs RUNS times; RESULT is the median MB/s, RESULT2 the median MB per
# CPU second of the receiver.
run_tls_bulk() {
    local out=$BENCH_TMP/tls_bulk.out run line bytes cipher
    local -a figures=() effs=()
    tls_cert
    tls_cmd "$1"
    for ((run = 1; run <= RUNS; run++)); do
        PIN=$TLS_SERVER_CPU start_server "$out" "${TLS_CMD[@]}" "$TLS_CERT" "$TLS_KEY"
        PIN=$TLS_CLIENT_CPU pin_prefix
        "${PIN_PREFIX[@]}" "$BENCH_DIR/tls_bulk_send" "$PORT" "$TLS_BULK_BYTES" ||
            die "tls_bulk_send failed against: $1"
        wait_exit "$SERVER_PID" 60 || die "receiver did not finish: $1"
        [[ $WAIT_RC == 0 ]] || { cat "$out.err" >&2; die "receiver failed ($WAIT_RC): $1"; }
        line=$(grep '^bytes=' "$out" | tail -n 1) || die "no result line from: $1"
        bytes=$(field bytes "$line")
        cipher=$(field cipher "$line")
        [[ $bytes == "$TLS_BULK_BYTES" ]] ||
            die "receiver counted $bytes bytes, expected $TLS_BULK_BYTES"
        [[ $cipher == TLS_AES_128_GCM_SHA256 ]] || die "unexpected suite $cipher: $1"
        log "  tls bulk run $run: $line"
        figures+=("$(field MB/s "$line")")
        effs+=("$(awk -v b="$bytes" -v c="$(field cpu "$line")" \
            'BEGIN { printf "%.1f", (c > 0 ? b / 1e6 / c : 0) }')")
    done
    RESULT=$(median "${figures[@]}")
    RESULT2=$(median "${effs[@]}")
}

# start_nginx [http]: run nginx (one worker, access log off) in the
# foreground under a prefix in BENCH_TMP, on a free port below the
# ephemeral range.  Sets SERVER_PID (the master) and PORT.
# Without an argument, for the TLS handshakes: no session cache, session
# tickets on as in libwire's default (both issue stateless tickets), TLS
# 1.2-1.3, OpenSSL's default groups as libwire has them, no keep-alive,
# every request answered with a 1-byte 200; needs TLS_CERT and TLS_KEY.
# With "http", for the HTTP benchmark: plain HTTP, keep-alive without a
# request limit per connection (libwire and evhttp have none; nginx's
# default of 1000 would make wrk reconnect), `return 200 "hello"` with
# default_type text/plain, so the response is the one libwire and
# evhttp send (plus nginx's Server and Connection headers).
start_nginx() {
    local prefix=$BENCH_TMP/nginx try i user="" server
    mkdir -p "$prefix/logs" "$prefix/tmp"
    ((EUID == 0)) && user="user root;" # the workers need nothing but the socket
    for ((try = 0; try < 20; try++)); do
        PORT=$((20000 + RANDOM % 12000))
        if [[ ${1:-} == http ]]; then
            server="
        listen 127.0.0.1:$PORT backlog=4096;
        keepalive_timeout 75s;
        keepalive_requests 100000000;
        server_tokens off;
        default_type text/plain;
        location / { return 404; }
        location = /hello { return 200 \"hello\"; }
        location /static/ { alias $HTTP_WWW/; sendfile on; tcp_nopush on; }"
        else
            server="
        listen 127.0.0.1:$PORT ssl backlog=4096;
        ssl_certificate $TLS_CERT;
        ssl_certificate_key $TLS_KEY;
        ssl_protocols TLSv1.2 TLSv1.3;
        ssl_ecdh_curve auto;
        ssl_session_cache off;
        ssl_session_tickets on;
        keepalive_timeout 0;
        location / { return 200 \"x\"; }"
        fi
        cat >"$prefix/nginx.conf" <<NGINX_CONF
$user
worker_processes 1;
master_process on;
daemon off;
pid $prefix/nginx.pid;
error_log $prefix/logs/error.log error;
events { worker_connections 4096; }
http {
    access_log off;
    client_body_temp_path $prefix/tmp/body;
    proxy_temp_path $prefix/tmp/proxy;
    fastcgi_temp_path $prefix/tmp/fastcgi;
    uwsgi_temp_path $prefix/tmp/uwsgi;
    scgi_temp_path $prefix/tmp/scgi;
    server {$server
    }
}
NGINX_CONF
        rm -f "$prefix/nginx.pid"
        : >"$prefix/logs/error.log"
        pin_prefix
        "${PIN_PREFIX[@]}" nginx -p "$prefix" -c "$prefix/nginx.conf" \
            -e "$prefix/logs/error.log" >/dev/null 2>&1 &
        SERVER_PID=$!
        BG_PIDS+=("$SERVER_PID")
        # nginx writes its pid file once it listens.
        for ((i = 0; i < 1000; i++)); do
            [[ -s $prefix/nginx.pid ]] && return 0
            kill -0 "$SERVER_PID" 2>/dev/null || break
            sleep 0.01
        done
        kill_pid "$SERVER_PID"
        grep -q 'Address already in use' "$prefix/logs/error.log" ||
            die "nginx did not start: $(tail -n 3 "$prefix/logs/error.log")"
    done
    die "nginx found no free port"
}

# run_tls_hs SERVER: SERVER is "nginx" or one word list that, given CERT
# KEY as its last arguments, prints "port N" and answers an HTTP request
# over TLS (wire_tls hs-server).  tls_hs_client keeps HS_CONNS
# connections doing full handshakes for HS_SECONDS.  Server on
# TLS_SERVER_CPU, client on TLS_CLIENT_CPU.  Runs RUNS times, each on a
# fresh server; RESULT is the median handshakes per second, RESULT2 the
# median server CPU microseconds per handshake (all its processes).
run_tls_hs() {
    local out=$BENCH_TMP/tls_hs.out run line cpu0 cpu1 n
    local -a figures=() costs=()
    tls_cert
    for ((run = 1; run <= RUNS; run++)); do
        if [[ $1 == nginx ]]; then
            PIN=$TLS_SERVER_CPU start_nginx
        else
            tls_cmd "$1"
            PIN=$TLS_SERVER_CPU start_server "$out" "${TLS_CMD[@]}" "$TLS_CERT" "$TLS_KEY"
        fi
        cpu0=$(tree_cpu_ns "$SERVER_PID")
        PIN=$TLS_CLIENT_CPU pin_prefix
        line=$("${PIN_PREFIX[@]}" "$BENCH_DIR/tls_hs_client" "$PORT" "$HS_CONNS" "$HS_SECONDS") ||
            die "tls_hs_client failed against: $1"
        cpu1=$(tree_cpu_ns "$SERVER_PID")
        kill_pid "$SERVER_PID"
        [[ $(field suite "$line") == TLS_AES_128_GCM_SHA256 &&
            $(field group "$line") == x25519 ]] ||
            die "unexpected suite or group against $1: $line"
        n=$(field handshakes "$line")
        ((n > 0)) || die "no handshake completed against: $1"
        log "  tls handshake run $run: $line server_cpu_ms=$(((cpu1 - cpu0) / 1000000))"
        figures+=("$(field hs/s "$line")")
        costs+=("$(awk -v c="$((cpu1 - cpu0))" -v n="$n" 'BEGIN { printf "%.0f", c / 1000 / n }')")
    done
    RESULT=$(median "${figures[@]}")
    # shellcheck disable=SC2034 # read by bench/run
    RESULT2=$(median "${costs[@]}")
}

# ---- HTTP ----

# The static files of the HTTP file row: HTTP_WWW/file1m, 1 MiB of random
# bytes, made once per run (http_www).  nginx serves the directory at
# /static/ with `sendfile on`, bench/wire_http with --root HTTP_WWW.
HTTP_WWW=$BENCH_TMP/www
HTTP_FILE_BYTES=1048576
http_www() {
    [[ -s $HTTP_WWW/file1m ]] && return 0
    mkdir -p "$HTTP_WWW"
    head -c "$HTTP_FILE_BYTES" /dev/urandom >"$HTTP_WWW/file1m"
}

# http_check_file PORT PATH: one GET of PATH with curl, which must get
# 200 and the bytes of HTTP_WWW/file1m; sets HTTP_HEAD_BYTES.  Without
# curl nothing is checked.
http_check_file() {
    local port=$1 line code
    HTTP_HEAD_BYTES=""
    command -v curl >/dev/null 2>&1 || return 0
    line=$(curl -s --max-time 5 -o "$BENCH_TMP/http.body" \
        -w '%{http_code} %{size_header}' "http://127.0.0.1:$port$2") ||
        die "curl got no answer on port $port"
    read -r code HTTP_HEAD_BYTES <<<"$line"
    [[ $code == 200 ]] && cmp -s "$BENCH_TMP/http.body" "$HTTP_WWW/file1m" ||
        die "unexpected answer for $2 on port $port: $line"
}

# http_check PORT: one GET /hello with curl, which must get 200, "hello"
# and Content-Type text/plain; sets HTTP_HEAD_BYTES (the response head,
# status line to the blank line) and HTTP_BODY_BYTES.  Without curl
# both stay empty.
http_check() {
    local port=$1 line code ctype
    HTTP_HEAD_BYTES="" HTTP_BODY_BYTES=""
    command -v curl >/dev/null 2>&1 || return 0
    line=$(curl -s --max-time 5 -o "$BENCH_TMP/http.body" \
        -w '%{http_code} %{size_header} %{size_download} %{content_type}' \
        "http://127.0.0.1:$port/hello") || die "curl got no answer on port $port"
    read -r code HTTP_HEAD_BYTES HTTP_BODY_BYTES ctype <<<"$line"
    [[ $code == 200 && $ctype == text/plain && $HTTP_BODY_BYTES == 5 &&
        $(cat "$BENCH_TMP/http.body") == hello ]] ||
        die "unexpected answer on port $port: $line body '$(cat "$BENCH_TMP/http.body")'"
}

# run_http SERVER: SERVER is "nginx" or a command (one word list) that
# prints "port N" and serves GET /hello with 200 "hello" (text/plain),
# keeping connections alive.  After one check with curl (http_check),
# wrk runs `-t1 -c HTTP_CONNS -d HTTP_SECONDS` on /hello, or on
# HTTP_PATH when it is set (a file under /static/, checked against
# HTTP_WWW/file1m by http_check_file).  Server on
# HTTP_SERVER_CPU, wrk on HTTP_CLIENT_CPU.  Runs RUNS times, each on a
# fresh server; RESULT is the median requests per second (wrk's), RESULT2
# the median server CPU microseconds per request (all its processes,
# from the scheduler's accounting, over the wrk run only).  The head
# size of SERVER's response is left in HTTP_HEAD["SERVER"].
declare -A HTTP_HEAD # read by bench/run
run_http() {
    local out=$BENCH_TMP/http.out wout=$BENCH_TMP/wrk.out run cpu0 cpu1 n rps bad
    local -a figures=() costs=()
    for ((run = 1; run <= RUNS; run++)); do
        if [[ $1 == nginx ]]; then
            PIN=$HTTP_SERVER_CPU start_nginx http
        else
            tls_cmd "$1"
            PIN=$HTTP_SERVER_CPU start_server "$out" "${TLS_CMD[@]}"
        fi
        if [[ ${HTTP_PATH:-/hello} == /hello ]]; then
            http_check "$PORT"
        else
            http_check_file "$PORT" "$HTTP_PATH"
        fi
        # shellcheck disable=SC2034 # read by bench/run
        HTTP_HEAD[$1]=$HTTP_HEAD_BYTES
        cpu0=$(tree_cpu_ns "$SERVER_PID")
        PIN=$HTTP_CLIENT_CPU pin_prefix
        # wrk stops itself after HTTP_SECONDS; timeout bounds a hang.
        timeout $((HTTP_SECONDS + 30)) "${PIN_PREFIX[@]}" wrk -t1 -c"$HTTP_CONNS" \
            -d"${HTTP_SECONDS}s" "http://127.0.0.1:$PORT${HTTP_PATH:-/hello}" >"$wout" 2>&1 ||
            { cat "$wout" >&2; die "wrk failed against: $1"; }
        cpu1=$(tree_cpu_ns "$SERVER_PID")
        kill_pid "$SERVER_PID"
        n=$(awk '/ requests in / { print $1 }' "$wout")
        rps=$(awk '/^Requests\/sec:/ { print $2 }' "$wout")
        bad=$(awk '/Non-2xx or 3xx responses:/ { print $NF }' "$wout")
        if [[ -z $n || -z $rps ]] || ((n == 0)); then
            cat "$wout" >&2
            die "no requests completed against: $1"
        fi
        [[ -z $bad ]] || { cat "$wout" >&2; die "$bad responses were not 200 from: $1"; }
        log "  http run $run: requests=$n req/s=$rps server_cpu_ms=$(((cpu1 - cpu0) / 1000000))" \
            "head=${HTTP_HEAD_BYTES:-?}B$(grep -o 'Socket errors:.*' "$wout" | sed 's/^/ /')"
        figures+=("$rps")
        costs+=("$(awk -v c="$((cpu1 - cpu0))" -v n="$n" 'BEGIN { printf "%.2f", c / 1000 / n }')")
    done
    RESULT=$(median "${figures[@]}")
    # shellcheck disable=SC2034 # read by bench/run
    RESULT2=$(median "${costs[@]}")
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
