#!/usr/bin/python3
"""peer_echo_asyncio.py: the Python asyncio peer of bench/run's ping-pong,
idle-memory and bulk benchmarks, with the contract of
bench/peer_echo_epoll.c and bench/peer_bulk_blocking.c.

Usage: /usr/bin/python3 peer_echo_asyncio.py [--uvloop] [echo|bulk]

  echo     (default) listens on an ephemeral 127.0.0.1 port, prints
           "port N", and writes back every chunk that arrives on each
           connection (an asyncio.Protocol: data_received calls
           transport.write; asyncio sets TCP_NODELAY itself); runs until
           SIGTERM or SIGINT and then exits 0.
  bulk     listens the same way, accepts one connection, reads it to EOF
           into one 256 KiB buffer (asyncio.BufferedProtocol, no copy per
           read) counting bytes, and prints "bytes=N seconds=S MB/s=X"
           (MB = 1e6 bytes), timed from connection_made to EOF, then
           exits 0.
  --uvloop runs the same code on uvloop's loop (Debian: python3-uvloop)
           instead of asyncio's own; exits 2 if uvloop is not installed.

It raises RLIMIT_NOFILE to the hard limit.  A hard deadline
(PEER_DEADLINE seconds, default 120, as the C peers) makes it give up
with exit status 3.
"""
import asyncio
import os
import resource
import signal
import sys
import time

BLOCK = 256 * 1024


class Echo(asyncio.Protocol):
    def connection_made(self, transport):
        self.transport = transport

    def data_received(self, data):
        self.transport.write(data)

    def connection_lost(self, exc):
        self.transport = None


class BulkCounter(asyncio.BufferedProtocol):
    def __init__(self, server_box, done):
        self.server_box = server_box
        self.done = done
        self.buf = memoryview(bytearray(BLOCK))
        self.count = 0
        self.start = 0.0

    def connection_made(self, transport):
        self.start = time.monotonic()
        self.server_box[0].close()

    def get_buffer(self, sizehint):
        return self.buf

    def buffer_updated(self, nbytes):
        self.count += nbytes

    def eof_received(self):
        secs = time.monotonic() - self.start
        print(f"bytes={self.count} seconds={secs:.6f} "
              f"MB/s={self.count / 1e6 / secs:.1f}", flush=True)
        if not self.done.done():
            self.done.set_result(0)
        return False

    def connection_lost(self, exc):
        if not self.done.done():
            print(f"peer_echo_asyncio: connection lost before EOF: {exc}",
                  file=sys.stderr)
            self.done.set_result(1)


def deadline_hit(signum, frame):
    os.write(2, b"peer: deadline exceeded, giving up\n")
    os._exit(3)


async def main(mode):
    loop = asyncio.get_running_loop()
    done = loop.create_future()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, lambda: done.done() or done.set_result(0))
    server_box = [None]
    if mode == "bulk":
        def factory():
            return BulkCounter(server_box, done)
    else:
        factory = Echo
    server = await loop.create_server(factory, "127.0.0.1", 0, backlog=4096)
    server_box[0] = server
    print(f"port {server.sockets[0].getsockname()[1]}", flush=True)
    rc = await done
    server.close()
    return rc


def run():
    args = sys.argv[1:]
    use_uvloop = "--uvloop" in args
    args = [a for a in args if a != "--uvloop"]
    mode = args[0] if args else "echo"
    if len(args) > 1 or mode not in ("echo", "bulk"):
        print("usage: peer_echo_asyncio.py [--uvloop] [echo|bulk]",
              file=sys.stderr)
        return 2
    deadline = int(os.environ.get("PEER_DEADLINE", "0") or "0")
    signal.signal(signal.SIGALRM, deadline_hit)
    signal.alarm(deadline if deadline > 0 else 120)
    _, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    if use_uvloop:
        try:
            import uvloop
        except ImportError:
            print("peer_echo_asyncio: uvloop not installed "
                  "(Debian: python3-uvloop)", file=sys.stderr)
            return 2
        loop = uvloop.new_event_loop()
    else:
        loop = asyncio.new_event_loop()
    try:
        return loop.run_until_complete(main(mode))
    finally:
        loop.close()


if __name__ == "__main__":
    sys.exit(run())
