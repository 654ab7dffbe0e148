# shellcheck shell=bash disable=SC2034,SC2154 # tmp, pids, limit: the sourcing script's; line, pid, drain: set for it
# tests/interop/harness.sh: what the interop scripts share, sourced by
# them after they set `tmp` (a fresh temp dir), `pids` (an empty array)
# and `limit` (seconds any one program may run).  Bash only.
#
#   cleanup          the EXIT trap: stops every program in `pids`, removes
#                    `tmp` (installed here)
#   reap PID         waits for a background program; $? is its status
#   run NAME FN...   runs a case: "ok - NAME" or "not ok - NAME: $why"
#   tail_of FILE     a file's last lines on one line
#   start NAME PATTERN CMD...
#                    a program in the background, its first line matching
#                    PATTERN read from a FIFO within the deadline
#   make_ca NAME, make_leaf NAME CA SECTION CN
#                    EC P-256 certificates in `tmp` (sections: localhost,
#                    other), valid two days

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
    local p=$1 rc q keep=()
    wait "$p"
    rc=$?
    for q in ${pids[@]+"${pids[@]}"}; do
        [ "$q" = "$p" ] || keep+=("$q")
    done
    pids=(${keep[@]+"${keep[@]}"})
    return "$rc"
}

why=
failures=0
run() {
    local name=$1
    shift
    why=
    if "$@"; then
        echo "ok - $name"
    else
        echo "not ok - $name: ${why:-failed}"
        failures=$((failures + 1))
    fi
}
# tail_of FILE: its last lines, on one line, for a failure message.
tail_of() {
    tail -n 4 "$1" 2>/dev/null | tr -d '\r' | tr '\n' '|'
}

# start NAME PATTERN CMD...: run CMD in the background, stdin from
# /dev/null, stdout through a FIFO, stderr in $tmp/NAME.err.  Reads
# stdout until a line matching the bash regex PATTERN, which it leaves in
# $line; then copies the rest to $tmp/NAME.out in the background, so the
# program never blocks on a full pipe nor gets SIGPIPE.  Sets $pid, and
# $drain to that copy's pid (it ends when the program does).
start() {
    local name=$1 pattern=$2 fifo=$tmp/$1.fifo fd l ok=false deadline left
    shift 2
    rm -f "$fifo"
    mkfifo "$fifo" || return 1
    "$@" </dev/null >"$fifo" 2>"$tmp/$name.err" &
    pid=$!
    pids+=("$pid")
    # Opening waits for the writer, which the child opens at once.
    exec {fd}<"$fifo"
    : >"$tmp/$name.out"
    line=
    deadline=$((SECONDS + limit))
    while left=$((deadline - SECONDS)) && [ "$left" -gt 0 ] &&
        IFS= read -r -t "$left" -u "$fd" l; do
        echo "$l" >>"$tmp/$name.out"
        if [[ $l =~ $pattern ]]; then
            line=$l
            ok=true
            break
        fi
    done
    drain=
    if $ok; then
        cat <&"$fd" >>"$tmp/$name.out" &
        drain=$!
        pids+=("$drain")
    fi
    exec {fd}<&-
    $ok
}

# Our own config, so the system's openssl.cnf (or its absence) does not
# decide which extensions the certificates get.
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
[other]
basicConstraints = CA:FALSE
keyUsage = critical, digitalSignature
extendedKeyUsage = serverAuth
subjectAltName = DNS:other.example
authorityKeyIdentifier = keyid
EOF

# make_ca NAME: NAME.pem and NAME.key, a self-signed CA.
make_ca() {
    openssl req -config "$tmp/x509.cnf" -x509 -newkey ec \
        -pkeyopt ec_paramgen_curve:P-256 -nodes -days 2 -subj "/CN=$1" \
        -extensions ca -keyout "$tmp/$1.key" -out "$tmp/$1.pem" \
        >>"$tmp/certs.log" 2>&1
}

# make_leaf NAME CA SECTION CN: NAME.pem and NAME.key, issued by CA with
# the extensions of SECTION.
serial=1
make_leaf() {
    serial=$((serial + 1))
    openssl req -config "$tmp/x509.cnf" -new -newkey ec \
        -pkeyopt ec_paramgen_curve:P-256 -nodes -subj "/CN=$4" \
        -keyout "$tmp/$1.key" -out "$tmp/$1.csr" >>"$tmp/certs.log" 2>&1 &&
        openssl x509 -req -in "$tmp/$1.csr" -CA "$tmp/$2.pem" \
            -CAkey "$tmp/$2.key" -set_serial "$serial" -days 2 \
            -extfile "$tmp/x509.cnf" -extensions "$3" -out "$tmp/$1.pem" \
            >>"$tmp/certs.log" 2>&1
}
