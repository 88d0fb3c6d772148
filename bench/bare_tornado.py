"""The baseline for bench/http_hello.py: bare Tornado answering GET /hello/hello like Gingee's hello app.

Same body (`{"message":"Hello, world!"}`, compact as Gingee writes JSON), same `Content-Type:
application/json`, no ETag (Gingee sends none) and the same `X-Content-Type-Options` header, so the
two servers put the same response on the wire and the benchmark measures only the engine's overhead.

`--processes N` serves from N forked processes on the same port, as `gingee serve --workers N` does: the
parent binds one socket and forks N children that accept on it (the parent serves nothing, forwards
SIGTERM/SIGINT to the children and exits when they have). With `--reuse-port` each child binds its own
`SO_REUSEPORT` socket instead, and the kernel spreads new connections over them.

Usage: python bench/bare_tornado.py --port 8888 [--host 127.0.0.1] [--processes 1] [--reuse-port]
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import ctypes
import json
import os
import signal
import socket

import tornado.httpserver
import tornado.netutil
import tornado.web

BODY = json.dumps({"message": "Hello, world!"}, separators=(",", ":")).encode("utf-8")


class HelloHandler(tornado.web.RequestHandler):
    """Writes the hello JSON dict."""

    def get(self) -> None:
        self.set_header("Content-Type", "application/json")
        self.set_header("X-Content-Type-Options", "nosniff")
        self.write(BODY)

    def compute_etag(self) -> None:
        return None


def _quiet(handler: tornado.web.RequestHandler) -> None:
    """No access log, as `gingee serve` logs nothing for 2xx answers by default."""


async def main(host: str, port: int, sockets: list[socket.socket] | None = None) -> None:
    """Serve until SIGINT/SIGTERM (on `sockets` if given, else on a socket of its own)."""
    app = tornado.web.Application([(r"/hello/hello", HelloHandler)], log_function=_quiet)
    server = tornado.httpserver.HTTPServer(app, xheaders=False)
    if sockets is None:
        server.listen(port, host)
    else:
        server.add_sockets(sockets)
    print(f"bare tornado: pid {os.getpid()} serving on http://{host}:{port}/hello/hello", flush=True)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    await stop.wait()
    server.stop()


def serve_processes(host: str, port: int, processes: int, reuse_port: bool) -> int:
    """Fork `processes` children serving one port; forward SIGTERM/SIGINT to them; 0 once all exited."""
    shared = None if reuse_port else tornado.netutil.bind_sockets(port, host)
    children: list[int] = []

    def forward(signum: int, frame: object) -> None:
        for pid in children:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGTERM)

    signal.signal(signal.SIGTERM, forward)
    signal.signal(signal.SIGINT, forward)
    for _ in range(processes):
        pid = os.fork()
        if pid == 0:
            signal.signal(signal.SIGTERM, signal.SIG_DFL)
            signal.signal(signal.SIGINT, signal.SIG_DFL)
            with contextlib.suppress(OSError, AttributeError):  # Linux: SIGTERM when the parent dies
                ctypes.CDLL(None, use_errno=True).prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG
            sockets = shared or tornado.netutil.bind_sockets(port, host, reuse_port=True)
            asyncio.run(main(host, port, sockets))
            os._exit(0)
        children.append(pid)
    for pid in children:
        os.waitpid(pid, 0)
    return 0


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--processes", type=int, default=1, help="forked processes sharing the port")
    parser.add_argument("--reuse-port", action="store_true", help="one SO_REUSEPORT socket per process")
    args = parser.parse_args()
    if args.processes > 1 or args.reuse_port:
        raise SystemExit(serve_processes(args.host, args.port, max(1, args.processes), args.reuse_port))
    asyncio.run(main(args.host, args.port))
