"""The ASGI baseline for bench/asgi_hello.py: Starlette on uvicorn answering GET /hello/hello.

One route that puts the same response on the wire as bench/bare_tornado.py: the same body
(`{"message":"Hello, world!"}`, compact as Gingee writes JSON), `Content-Type: application/json` (no charset),
`X-Content-Type-Options: nosniff`, no ETag. uvicorn runs it as it runs Gingee's ASGI host in the bench:
uvloop, httptools, no access log.

Usage: python bench/bare_starlette.py --port 8888 [--host 127.0.0.1]
"""

from __future__ import annotations

import argparse
import json

import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

BODY = json.dumps({"message": "Hello, world!"}, separators=(",", ":")).encode("utf-8")
HEADERS = {"X-Content-Type-Options": "nosniff"}


async def hello(request: Request) -> Response:
    """The hello JSON dict, as bytes encoded once."""
    return Response(BODY, media_type="application/json", headers=HEADERS)


app = Starlette(routes=[Route("/hello/hello", hello)])

if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, required=True)
    args = parser.parse_args()
    uvicorn.run(
        app,
        host=args.host,
        port=args.port,
        loop="uvloop",
        http="httptools",
        access_log=False,
        log_level="warning",
    )
