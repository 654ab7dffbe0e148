// peer_rpc_jayson.js: the npm peer of the JSON-RPC benchmark (bench/run,
// ONLY=rpc): jayson 4's Server with a "subtract" method, on 127.0.0.1 on
// an ephemeral port.  Prints "port N" once it listens; exits on SIGTERM.
//
// Usage: node peer_rpc_jayson.js lines|tcp   (NODE_PATH must find jayson)
//
//   lines  jayson's Server (its request validation, method dispatch and
//          response building: jayson.Server.prototype.call) behind a
//          newline-delimited TCP listener: one JSON text per line in,
//          JSON.stringify(response) + "\n" out.  This is the framing
//          libwire's lines layer speaks, and the listener is the one
//          tests/interop/jsonrpc-jayson-test.sh uses, with the writes of
//          one read corked into one send (as libwire batches them).
//   tcp    jayson's own TCP server (jayson.server.tcp) unchanged: it reads
//          with a streaming JSON parser and writes each response with no
//          delimiter, so the load generator reads it in "stream" mode.
'use strict';
const jayson = require('jayson');
const net = require('net');

const mode = process.argv[2];
const server = new jayson.Server({
  subtract(args, cb) {
    if (Array.isArray(args)) return cb(null, args[0] - args[1]);
    return cb(null, args.minuend - args.subtrahend);
  },
});

function lineListener(conn) {
  let buf = '';
  const reply = (err, res) => {
    const out = err || res;
    if (out) conn.write(JSON.stringify(out) + '\n');
  };
  conn.setEncoding('utf8');
  conn.setNoDelay(true);
  conn.on('data', (d) => {
    buf += d;
    let start = 0;
    let i;
    conn.cork();
    while ((i = buf.indexOf('\n', start)) >= 0) {
      const line = buf.slice(start, i);
      start = i + 1;
      let req;
      try {
        req = JSON.parse(line);
      } catch (e) {
        reply(null, {jsonrpc: '2.0', error: {code: -32700, message: 'Parse error'}, id: null});
        continue;
      }
      server.call(req, reply);
    }
    buf = buf.slice(start);
    process.nextTick(() => conn.uncork());
  });
  conn.on('error', () => {});
}

let tcp;
if (mode === 'lines') {
  tcp = net.createServer(lineListener);
} else if (mode === 'tcp') {
  tcp = server.tcp();
  tcp.on('connection', (conn) => {
    conn.setNoDelay(true);
    conn.on('error', () => {});
  });
} else {
  process.stderr.write('usage: node peer_rpc_jayson.js lines|tcp\n');
  process.exit(2);
}
tcp.listen(0, '127.0.0.1', () => console.log('port ' + tcp.address().port));
process.on('SIGTERM', () => process.exit(0));
