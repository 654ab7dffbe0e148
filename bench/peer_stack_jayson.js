// peer_stack_jayson.js: the npm peer of the whole-stack benchmark
// (bench/run, ONLY=stack; bench/run-stack.sh): jayson 4's own HTTP(S)
// server (jayson.Server.prototype.https / .http, Node's http and https
// modules underneath: keep-alive, HTTP/1.1 pipelining answered in order)
// with a "subtract" method, on 127.0.0.1 on an ephemeral port.  POST on
// any path, Content-Type application/json, as libwire's wire_stack.
// Prints "port N" once it listens; exits 0 on SIGTERM.
//
// Usage: node peer_stack_jayson.js https CERT KEY   (NODE_PATH must find
//        node peer_stack_jayson.js http              jayson)
//
// https: the certificate and key bench/run-stack.sh made for wire_stack
// (EC P-256), Node's TLS defaults otherwise (it negotiates the suite and
// group stack_load asks for: TLS 1.3, AES-128-GCM, X25519).
'use strict';
const fs = require('fs');
const jayson = require('jayson');

const [mode, cert, key] = process.argv.slice(2);
const server = new jayson.Server({
  subtract(args, cb) {
    if (!Array.isArray(args) || args.length !== 2 ||
        !Number.isInteger(args[0]) || !Number.isInteger(args[1])) {
      return cb(server.error(jayson.Server.errors.INVALID_PARAMS));
    }
    return cb(null, args[0] - args[1]);
  },
});

let listener;
if (mode === 'https' && cert && key) {
  listener = server.https({cert: fs.readFileSync(cert), key: fs.readFileSync(key)});
} else if (mode === 'http' && !cert) {
  listener = server.http();
} else {
  process.stderr.write('usage: node peer_stack_jayson.js https CERT KEY | http\n');
  process.exit(2);
}
// No limit on requests per connection, nor an idle cut during a run.
listener.keepAliveTimeout = 60000;
listener.maxRequestsPerSocket = 0;
listener.on(mode === 'https' ? 'secureConnection' : 'connection',
            (conn) => conn.setNoDelay(true));
listener.on('clientError', (err, conn) => {
  process.stderr.write('peer_stack_jayson: ' + err.message + '\n');
  conn.destroy();
});
listener.listen(0, '127.0.0.1', () => console.log('port ' + listener.address().port));
process.on('SIGTERM', () => process.exit(0));
