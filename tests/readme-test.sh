#!/usr/bin/env bash
# The README's first example must compile against this build and serve:
# extract it, build it with the in-tree headers and library, and check
# that it echoes over TCP.
set -euo pipefail
top_srcdir=${top_srcdir:-$(cd "$(dirname "$0")/.." && pwd)}
build=${1:-.}
tmp=$(mktemp -d)
trap 'kill "${pid:-}" 2>/dev/null || true; rm -rf "$tmp"' EXIT
awk '/^```c$/{f=1;next}/^```$/{f=0}f' "$top_srcdir/README.md" > "$tmp/readme.c"
[ -s "$tmp/readme.c" ] || { echo "FAIL: no C example in README.md"; exit 1; }
# Use a free port instead of the example's fixed 7000.
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
sed -i "s/127.0.0.1:7000/127.0.0.1:$port/" "$tmp/readme.c"
${CC:-cc} -Wall -Wextra -Werror -I"$top_srcdir/include" "$tmp/readme.c" -o "$tmp/readme" \
    "$build/.libs/libwire.a" $(pkg-config --libs libevent_core libevent_extra libssl libcrypto) -lpthread ${LDFLAGS:-}
"$tmp/readme" & pid=$!
for _ in $(seq 1 200); do
    if reply=$(python3 - "$port" <<'PY'
import socket, sys
s = socket.create_connection(("127.0.0.1", int(sys.argv[1])), timeout=5)
s.sendall(b"hello readme\n"); s.shutdown(socket.SHUT_WR)
d = b""
while len(d) < 13:
    c = s.recv(100)
    if not c: break
    d += c
print(d.decode().strip())
PY
    ); then break; fi
    python3 -c 'import select; select.select([],[],[],0.05)'
done
[ "${reply:-}" = "hello readme" ] || { echo "FAIL: README example did not echo (got '${reply:-}')"; exit 1; }
echo "PASS readme example compiles and echoes"
