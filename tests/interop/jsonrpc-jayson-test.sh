#!/usr/bin/env bash
# shellcheck disable=SC2015,SC2317  # pass() never fails; cleanup runs from the trap
# jsonrpc-jayson-test: JSON-RPC 2.0 interop with jayson (npm, v4), both
# directions, over TCP and over HTTP on 127.0.0.1:
#  1. jayson's TCP client (jayson.client.tcp) against examples/jsonrpc-server
#     --framing lines: calls (positional, named), results of every JSON
#     type, an error, a notification, a batch, answers that overtake
#     each other on concurrent connections;
#  2. jayson's server (its method dispatch) against examples/jsonrpc-call;
#  3. jayson's HTTP client (jayson.client.http) against jsonrpc-server
#     --framing http: the same checks (the notification answered 204, which
#     jayson takes as "no response"), a path of jayson's choosing, answers
#     overtaking each other on the concurrent connections node's agent
#     opens, and, through an agent limited to one keep-alive connection,
#     the same sleeps answered in order (HTTP's);
#  4. jayson's HTTP server (jayson.server.http: POST, application/json,
#     204 for notifications) against jsonrpc-call --framing http.
#
# Framing.  jayson's TCP transport is not symmetric newline-delimited JSON:
# its client writes each request followed by "\n" (options.delimiter), but
# both its client and its server *read* with stream-json (JSON texts one
# after another, any whitespace or none between them), and its server
# writes each response with no delimiter at all (lib/server/tcp.js:
# conn.write(body)).  So a lines peer reads jayson's client and is read by
# it (direction 1 uses jayson's own TCP client unchanged), but cannot
# read jayson's TCP server's responses, which never end with a newline.
# Direction 2 therefore serves jayson's Server (jayson.server, the part that
# validates requests, dispatches methods and builds responses) over a
# small newline-delimited TCP listener written here, the framing
# jsonrpc-call speaks.
#
# jayson is installed at test time with `npm install --no-save --prefix
# DIR jayson@4` into a cache directory (WIRE_NPM_CACHE, default
# ~/.cache/libwire/npm); without node or npm, or if the install fails, the
# test is skipped (exit 77).  Every step is bounded by `timeout`.
#
# Usage: bash tests/interop/jsonrpc-jayson-test.sh [BUILD_DIR]  (default: .)
if [ -z "${BASH_VERSION:-}" ]; then exec bash "$0" "$@"; fi
set -u

build=${1:-.}
srv=$build/examples/jsonrpc-server
call=$build/examples/jsonrpc-call
for tool in node npm python3; do
    if ! command -v "$tool" >/dev/null 2>&1; then
        echo "SKIP: $tool is not installed"
        exit 77
    fi
done
cache=${WIRE_NPM_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/libwire/npm}
if ! mkdir -p "$cache" 2>/dev/null || [ ! -w "$cache" ]; then
    cache=$(mktemp -d)/npm
    mkdir -p "$cache"
fi
if [ ! -f "$cache/node_modules/jayson/package.json" ]; then
    if ! timeout 300 npm install --no-save --no-audit --no-fund --prefix "$cache" \
        jayson@4 >"$cache/install.log" 2>&1; then
        echo "SKIP: npm install jayson@4 failed:"
        tail -n 5 "$cache/install.log"
        exit 77
    fi
fi
export NODE_PATH=$cache/node_modules
ver=$(node -e 'console.log(require("jayson/package.json").version)' 2>/dev/null)
case $ver in
4.*) echo "jayson $ver from $cache" ;;
*)
    echo "SKIP: jayson 4 not usable from $cache (got '$ver')"
    exit 77
    ;;
esac

tmp=$(mktemp -d)
pids=()
cleanup() {
    for p in "${pids[@]}"; do kill -9 "$p" 2>/dev/null; done
    rm -rf "$tmp"
}
trap cleanup EXIT
failed=0
pass() { echo "PASS $1"; }
fail() { echo "FAIL $1 ($2)"; failed=1; }

# wait_line FILE PID: until FILE has a line (bounded).
wait_line() {
    for _ in $(seq 1 1000); do
        grep -q . "$1" 2>/dev/null && return 0
        kill -0 "$2" 2>/dev/null || return 1
        python3 -c 'import select; select.select([],[],[],0.01)'
    done
    return 1
}

# ---- 1. jayson's TCP client -> jsonrpc-server ----
"$srv" --framing lines "tcp://127.0.0.1:0" >"$tmp/srv.out" 2>"$tmp/srv.err" &
spid=$!
pids+=("$spid")
if ! wait_line "$tmp/srv.out" "$spid"; then
    fail "jsonrpc-server starts" "$(cat "$tmp/srv.err")"
    exit 1
fi
addr=$(sed -n 's/^listening on //p' "$tmp/srv.out")
port=${addr##*:}
cat >"$tmp/client.js" <<'JS'
'use strict';
const jayson = require('jayson');
const assert = require('assert');
const port = Number(process.argv[2]);
setTimeout(() => { console.log('FAIL timeout'); process.exit(1); }, 20000).unref();
const client = jayson.client.tcp({host: '127.0.0.1', port});
const call = (method, params) => new Promise((resolve, reject) => {
  client.request(method, params, (err, response) => err ? reject(err) : resolve(response));
});
const checks = [];
function check(name, fn) { checks.push([name, fn]); }
check('subtract positional', async () => {
  const r = await call('subtract', [42, 23]);
  assert.strictEqual(r.jsonrpc, '2.0'); assert.strictEqual(r.result, 19);
});
check('subtract named', async () => {
  const r = await call('subtract', {subtrahend: 23, minuend: 42});
  assert.strictEqual(r.result, 19);
});
check('sum', async () => assert.strictEqual((await call('sum', [1, 2, 4])).result, 7));
check('get_data', async () => assert.deepStrictEqual((await call('get_data', [])).result, ['hello', 5]));
check('echo of every JSON type', async () => {
  const p = {s: 'h\u00e9llo \u2603 "q" \\ \n', n: -1.5e10, i: 12345678901, t: true, f: false, z: null, a: [[], {}], o: {k: [1, 'x']}};
  assert.deepStrictEqual((await call('echo', p)).result, p);
});
check('method not found', async () => {
  const r = await call('foobar', [1]);
  assert.deepStrictEqual(r.error, {code: -32601, message: 'Method not found'});
});
check('invalid params', async () => {
  const r = await call('subtract', ['a']);
  assert.strictEqual(r.error.code, -32602);
});
check('notification', async () => {
  // jayson: an id of null makes a notification; nothing comes back
  const r = await new Promise((res, rej) => client.request('notify_hello', [7], null, (e, x) => e ? rej(e) : res(x)));
  assert.strictEqual(r, undefined);
});
check('batch', async () => {
  const batch = [
    client.request('sum', [1, 2, 4], undefined, false),
    client.request('notify_hello', [7], null, false),
    client.request('subtract', [42, 23], undefined, false),
    client.request('get_data', [], undefined, false),
  ];
  const r = await new Promise((res, rej) => client.request(batch, (e, responses) => e ? rej(e) : res(responses)));
  // one array, in the order of the calls, none for the notification
  assert.deepStrictEqual(r.map(x => x.id), [batch[0].id, batch[2].id, batch[3].id]);
  assert.deepStrictEqual(r.map(x => x.result), [7, 19, ['hello', 5]]);
});
check('sleeps overtake each other', async () => {
  const order = [];
  await Promise.all([200, 0, 100].map(ms => call('sleep', {ms}).then(r => order.push(r.result))));
  assert.deepStrictEqual(order, [0, 100, 200]);
});
(async () => {
  let bad = 0;
  for (const [name, fn] of checks) {
    try { await fn(); console.log('PASS jayson client -> jsonrpc-server: ' + name); }
    catch (e) { bad = 1; console.log('FAIL jayson client -> jsonrpc-server: ' + name + ' (' + (e && e.message) + ')'); }
  }
  process.exit(bad);
})();
JS
timeout 30 node "$tmp/client.js" "$port" || failed=1
kill -TERM "$spid"
wait "$spid"
rc=$?
[ "$rc" = 0 ] && pass "jsonrpc-server: SIGTERM exits 0" || fail "jsonrpc-server: SIGTERM" "status $rc"

# ---- 2. jayson's server -> jsonrpc-call ----
cat >"$tmp/server.js" <<'JS'
'use strict';
const jayson = require('jayson');
const net = require('net');
const server = new jayson.Server({
  subtract(args, cb) {
    if (Array.isArray(args)) return cb(null, args[0] - args[1]);
    return cb(null, args.minuend - args.subtrahend);
  },
  sum(args, cb) { cb(null, args.reduce((a, b) => a + b, 0)); },
  get_data(args, cb) { cb(null, ['hello', 5]); },
  echo(args, cb) { cb(null, args); },
  fail(args, cb) { cb({code: -32042, message: 'it failed', data: args}); },
  note(args, cb) { process.stderr.write('note ' + JSON.stringify(args) + '\n'); cb(); },
});
// jayson's Server over newline-delimited TCP (see the top of the test).
const tcp = net.createServer(conn => {
  let buf = '';
  conn.setEncoding('utf8');
  conn.on('data', d => {
    buf += d;
    let i;
    while ((i = buf.indexOf('\n')) >= 0) {
      const line = buf.slice(0, i); buf = buf.slice(i + 1);
      let req;
      try { req = JSON.parse(line); } catch (e) {
        conn.write(JSON.stringify({jsonrpc: '2.0', error: {code: -32700, message: 'Parse error'}, id: null}) + '\n');
        continue;
      }
      server.call(req, (err, res) => {
        const out = err || res;
        if (out) conn.write(JSON.stringify(out) + '\n');
      });
    }
  });
  conn.on('error', () => {});
});
tcp.listen(0, '127.0.0.1', () => console.log('listening on tcp://127.0.0.1:' + tcp.address().port));
process.on('SIGTERM', () => { tcp.close(); process.exit(0); });
setTimeout(() => process.exit(3), 60000).unref();
JS
node "$tmp/server.js" >"$tmp/js.out" 2>"$tmp/js.err" &
jpid=$!
pids+=("$jpid")
if ! wait_line "$tmp/js.out" "$jpid"; then
    fail "jayson server starts" "$(cat "$tmp/js.err")"
    exit 1
fi
jaddr=$(sed -n 's/^listening on //p' "$tmp/js.out")

# expect LABEL STATUS STDOUT STDERR_SUBSTRING -- ARGS...
expect() {
    local label=$1 want_rc=$2 want_out=$3 want_err=$4
    shift 5
    timeout 10 "$call" "$@" >"$tmp/c.out" 2>"$tmp/c.err"
    local rc=$?
    local out err
    out=$(cat "$tmp/c.out")
    err=$(cat "$tmp/c.err")
    if [ "$rc" = "$want_rc" ] && [ "$out" = "$want_out" ] &&
        { [ -z "$want_err" ] && [ -z "$err" ] || [ -n "$want_err" ] && [[ $err == *"$want_err"* ]]; }; then
        pass "jsonrpc-call -> jayson server: $label"
    else
        fail "jsonrpc-call -> jayson server: $label" "status $rc, stdout '$out', stderr '$err'"
    fi
}
expect "subtract positional" 0 19 "" -- "$jaddr" subtract '[42, 23]'
expect "subtract named" 0 19 "" -- "$jaddr" subtract '{"subtrahend": 23, "minuend": 42}'
expect "sum" 0 7 "" -- "$jaddr" sum '[1,2,4]'
expect "get_data" 0 '["hello",5]' "" -- "$jaddr" get_data
# (written back as UTF-8: the same JSON text)
expect "echo" 0 '{"s":"hé \"q\"","a":[1.5,null,true],"o":{}}' "" -- \
    "$jaddr" echo '{"s":"h\u00e9 \"q\"","a":[1.5,null,true],"o":{}}'
expect "method not found" 1 "" '{"code":-32601,"message":"Method not found"}' -- "$jaddr" foobar '[1]'
expect "error with data" 1 "" '{"code":-32042,"message":"it failed","data":[3]}' -- "$jaddr" fail '[3]'
expect "notification" 0 "" "" -- --notify "$jaddr" note '[7]'
for _ in $(seq 1 300); do
    grep -q 'note \[7\]' "$tmp/js.err" && break
    python3 -c 'import select; select.select([],[],[],0.01)'
done
grep -q 'note \[7\]' "$tmp/js.err" && pass "jayson server got the notification" ||
    fail "jayson server got the notification" "$(cat "$tmp/js.err")"
kill -TERM "$jpid"
wait "$jpid"

# ---- 3. jayson's HTTP client -> jsonrpc-server --framing http ----
"$srv" --framing http "tcp://127.0.0.1:0" >"$tmp/hsrv.out" 2>"$tmp/hsrv.err" &
spid=$!
pids+=("$spid")
if ! wait_line "$tmp/hsrv.out" "$spid"; then
    fail "jsonrpc-server --framing http starts" "$(cat "$tmp/hsrv.err")"
    exit 1
fi
haddr=$(sed -n 's/^listening on //p' "$tmp/hsrv.out")
hport=${haddr##*:}
cat >"$tmp/http-client.js" <<'JS'
'use strict';
const jayson = require('jayson');
const http = require('http');
const assert = require('assert');
const port = Number(process.argv[2]);
setTimeout(() => { console.log('FAIL timeout'); process.exit(1); }, 20000).unref();
const client = jayson.client.http({host: '127.0.0.1', port, path: '/jsonrpc'});
const call = (c, method, params) => new Promise((resolve, reject) => {
  c.request(method, params, (err, response) => err ? reject(err) : resolve(response));
});
const checks = [];
function check(name, fn) { checks.push([name, fn]); }
check('subtract positional', async () => {
  const r = await call(client, 'subtract', [42, 23]);
  assert.strictEqual(r.jsonrpc, '2.0'); assert.strictEqual(r.result, 19);
});
check('subtract named', async () => {
  assert.strictEqual((await call(client, 'subtract', {subtrahend: 23, minuend: 42})).result, 19);
});
check('sum', async () => assert.strictEqual((await call(client, 'sum', [1, 2, 4])).result, 7));
check('get_data', async () => assert.deepStrictEqual((await call(client, 'get_data', [])).result, ['hello', 5]));
check('echo of every JSON type', async () => {
  const p = {s: 'h\u00e9llo \u2603 "q" \\ \n', n: -1.5e10, i: 12345678901, t: true, f: false, z: null, a: [[], {}], o: {k: [1, 'x']}};
  assert.deepStrictEqual((await call(client, 'echo', p)).result, p);
});
check('method not found', async () => {
  const r = await call(client, 'foobar', [1]);
  assert.deepStrictEqual(r.error, {code: -32601, message: 'Method not found'});
});
check('invalid params', async () => {
  assert.strictEqual((await call(client, 'subtract', ['a'])).error.code, -32602);
});
check('notification (204)', async () => {
  let status = 0;
  const c = jayson.client.http({host: '127.0.0.1', port});
  c.on('http response', res => { status = res.statusCode; });
  const r = await new Promise((res, rej) => c.request('notify_hello', [7], null, (e, x) => e ? rej(e) : res(x)));
  assert.strictEqual(r, undefined);
  assert.strictEqual(status, 204);
});
check('batch', async () => {
  const batch = [
    client.request('sum', [1, 2, 4], undefined, false),
    client.request('notify_hello', [7], null, false),
    client.request('subtract', [42, 23], undefined, false),
    client.request('get_data', [], undefined, false),
  ];
  const r = await new Promise((res, rej) => client.request(batch, (e, responses) => e ? rej(e) : res(responses)));
  assert.deepStrictEqual(r.map(x => x.id), [batch[0].id, batch[2].id, batch[3].id]);
  assert.deepStrictEqual(r.map(x => x.result), [7, 19, ['hello', 5]]);
});
check('sleeps overtake each other on concurrent connections', async () => {
  const order = [];
  await Promise.all([200, 0, 100].map(ms => call(client, 'sleep', {ms}).then(r => order.push(r.result))));
  assert.deepStrictEqual(order, [0, 100, 200]);
});
check('sleeps on one keep-alive connection answer in order', async () => {
  const agent = new http.Agent({keepAlive: true, maxSockets: 1});
  const one = jayson.client.http({host: '127.0.0.1', port, agent});
  const sockets = new Set();
  one.on('http request', req => req.on('socket', s => sockets.add(s)));
  const order = [];
  await Promise.all([200, 0, 100].map(ms => call(one, 'sleep', {ms}).then(r => order.push(r.result))));
  agent.destroy();
  assert.deepStrictEqual(order, [200, 0, 100]);
  assert.strictEqual(sockets.size, 1);
});
(async () => {
  let bad = 0;
  for (const [name, fn] of checks) {
    try { await fn(); console.log('PASS jayson http client -> jsonrpc-server: ' + name); }
    catch (e) { bad = 1; console.log('FAIL jayson http client -> jsonrpc-server: ' + name + ' (' + (e && e.message) + ')'); }
  }
  process.exit(bad);
})();
JS
timeout 30 node "$tmp/http-client.js" "$hport" || failed=1
kill -TERM "$spid"
wait "$spid"
rc=$?
[ "$rc" = 0 ] && pass "jsonrpc-server --framing http: SIGTERM exits 0" ||
    fail "jsonrpc-server --framing http: SIGTERM" "status $rc"

# ---- 4. jayson's HTTP server -> jsonrpc-call --framing http ----
cat >"$tmp/http-server.js" <<'JS'
'use strict';
const jayson = require('jayson');
const server = new jayson.Server({
  subtract(args, cb) {
    if (Array.isArray(args)) return cb(null, args[0] - args[1]);
    return cb(null, args.minuend - args.subtrahend);
  },
  sum(args, cb) { cb(null, args.reduce((a, b) => a + b, 0)); },
  get_data(args, cb) { cb(null, ['hello', 5]); },
  echo(args, cb) { cb(null, args); },
  fail(args, cb) { cb({code: -32042, message: 'it failed', data: args}); },
  note(args, cb) { process.stderr.write('note ' + JSON.stringify(args) + '\n'); cb(); },
});
const http = server.http();
http.on('request', req => process.stderr.write(req.method + ' ' + req.url + '\n'));
http.listen(0, '127.0.0.1', () => console.log('listening on tcp://127.0.0.1:' + http.address().port));
process.on('SIGTERM', () => { http.close(); process.exit(0); });
setTimeout(() => process.exit(3), 60000).unref();
JS
node "$tmp/http-server.js" >"$tmp/jh.out" 2>"$tmp/jh.err" &
jpid=$!
pids+=("$jpid")
if ! wait_line "$tmp/jh.out" "$jpid"; then
    fail "jayson http server starts" "$(cat "$tmp/jh.err")"
    exit 1
fi
jhaddr=$(sed -n 's/^listening on //p' "$tmp/jh.out")
h=(--framing http)
expect "http: subtract positional" 0 19 "" -- "${h[@]}" "$jhaddr" subtract '[42, 23]'
expect "http: subtract named" 0 19 "" -- "${h[@]}" "$jhaddr" subtract '{"subtrahend": 23, "minuend": 42}'
expect "http: sum" 0 7 "" -- "${h[@]}" "$jhaddr" sum '[1,2,4]'
expect "http: get_data" 0 '["hello",5]' "" -- "${h[@]}" --path /api/rpc "$jhaddr" get_data
expect "http: echo" 0 '{"s":"hé \"q\"","a":[1.5,null,true],"o":{}}' "" -- \
    "${h[@]}" "$jhaddr" echo '{"s":"h\u00e9 \"q\"","a":[1.5,null,true],"o":{}}'
expect "http: method not found" 1 "" '{"code":-32601,"message":"Method not found"}' -- "${h[@]}" "$jhaddr" foobar '[1]'
expect "http: error with data" 1 "" '{"code":-32042,"message":"it failed","data":[3]}' -- "${h[@]}" "$jhaddr" fail '[3]'
expect "http: notification (204)" 0 "" "" -- "${h[@]}" --notify "$jhaddr" note '[9]'
for _ in $(seq 1 300); do
    grep -q 'note \[9\]' "$tmp/jh.err" && break
    python3 -c 'import select; select.select([],[],[],0.01)'
done
grep -q 'note \[9\]' "$tmp/jh.err" && pass "jayson http server got the notification" ||
    fail "jayson http server got the notification" "$(cat "$tmp/jh.err")"
grep -q '^POST /api/rpc$' "$tmp/jh.err" && pass "jayson http server saw POST /api/rpc" ||
    fail "jayson http server saw POST /api/rpc" "$(cat "$tmp/jh.err")"
kill -TERM "$jpid"
wait "$jpid"
exit $failed
