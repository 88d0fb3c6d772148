"""The baseline for bench/http_hello.py: bare Tornado answering GET /hello/hello like Gingee's hello app.

Same body (`{"message": "Hello, world!"}` as `json.dumps` writes it), same `Content-Type:
application/json`, no ETag (Gingee sends none) and the same `X-Content-Type-Options` header, so the
two servers put the same response on the wire and the benchmark measures only the engine's overhead.

Usage: python bench/bare_tornado.py --port 8888 [--host 127.0.0.1]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import signal

import tornado.httpserver
import tornado.web

BODY = json.dumps({"message": "Hello, world!"}).encode("utf-8")


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


async def main(host: str, port: int) -> None:
    """Serve until SIGINT/SIGTERM."""
    app = tornado.web.Application([(r"/hello/hello", HelloHandler)], log_function=_quiet)
    server = tornado.httpserver.HTTPServer(app, xheaders=False)
    server.listen(port, host)
    print(f"bare tornado: serving on http://{host}:{port}/hello/hello", flush=True)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    await stop.wait()
    server.stop()


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, required=True)
    args = parser.parse_args()
    asyncio.run(main(args.host, args.port))
