// peer_echo_node.js: the Node.js `net` peer of bench/run's ping-pong,
// idle-memory and bulk benchmarks, with the contract of
// bench/peer_echo_epoll.c and bench/peer_bulk_blocking.c.
//
// Usage: node peer_echo_node.js [echo|bulk]
//
//   echo  (default) listens on an ephemeral 127.0.0.1 port, prints
//         "port N", and writes back every chunk that arrives on each
//         connection (setNoDelay; node's own read buffer, 64 KiB); runs
//         until SIGTERM or SIGINT and then exits 0.
//   bulk  listens the same way, accepts one connection, counts the bytes
//         it reads until EOF and prints "bytes=N seconds=S MB/s=X"
//         (MB = 1e6 bytes), timed from accept to EOF, then exits 0.
//
// Node raises RLIMIT_NOFILE to the hard limit itself at start-up.  A hard
// deadline (PEER_DEADLINE seconds, default 120, as the C peers) makes it
// give up with exit status 3.
'use strict';
const net = require('net');

const mode = process.argv[2] || 'echo';
if (process.argv.length > 3 || (mode !== 'echo' && mode !== 'bulk')) {
  process.stderr.write('usage: node peer_echo_node.js [echo|bulk]\n');
  process.exit(2);
}

const deadline = parseInt(process.env.PEER_DEADLINE || '', 10) > 0 ?
  parseInt(process.env.PEER_DEADLINE, 10) : 120;
setTimeout(() => {
  process.stderr.write('peer: deadline exceeded, giving up\n');
  process.exit(3);
}, deadline * 1000).unref();

function echo(conn) {
  conn.setNoDelay(true);
  conn.on('data', (d) => conn.write(d));
  conn.on('error', () => conn.destroy());
}

let server;
function bulk(conn) {
  const start = process.hrtime.bigint();
  let count = 0;
  server.close();
  conn.on('data', (d) => { count += d.length; });
  conn.on('end', () => {
    const secs = Number(process.hrtime.bigint() - start) / 1e9;
    process.stdout.write(`bytes=${count} seconds=${secs.toFixed(6)} ` +
      `MB/s=${(count / 1e6 / secs).toFixed(1)}\n`, () => process.exit(0));
  });
  conn.on('error', (e) => {
    process.stderr.write(`peer_echo_node: ${e.message}\n`);
    process.exit(1);
  });
}

server = net.createServer(mode === 'bulk' ? bulk : echo);
server.on('error', (e) => {
  process.stderr.write(`peer_echo_node: ${e.message}\n`);
  process.exit(1);
});
server.listen({port: 0, host: '127.0.0.1', backlog: 4096},
  () => process.stdout.write(`port ${server.address().port}\n`));
process.on('SIGTERM', () => process.exit(0));
process.on('SIGINT', () => process.exit(0));
