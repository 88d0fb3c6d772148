"""One ASGI HTTP request through the engine: the same limits and answers as the Tornado host
(engine/tornado_handler.py), on whatever ASGI server runs it.

- methods Tornado's handler lacks get its 405 JSON;
- a body over the app's `max_body_size` is 413 `PAYLOAD_TOO_LARGE` (at once for such a Content-Length);
- on a `"body": "stream"` route the script starts at once and reads the body as it arrives, with
  `max_upload_size` as the limit;
- streamed replies (server-sent events) go out chunk by chunk; HEAD gets the headers and no body.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Awaitable, Callable
from typing import Any

import tornado.httputil

from ..admin_access import AdminAccess
from ..engine.body import BodyStream
from ..engine.dispatch import Engine, Incoming, error_response
from ..engine.forwarded import client_ip, public_root
from ..engine.observe import Exchange
from ..engine.pipeline import OPERATOR_PAGES
from ..engine.response import Response
from ..errors import HttpError
from .scope import raw_path, request_headers
from .tornado_bridge import PeerContext

Receive = Callable[[], Awaitable[dict[str, Any]]]
Send = Callable[[dict[str, Any]], Awaitable[None]]
#: The methods the Tornado host's handler serves (GingeeHandler.SUPPORTED_METHODS).
METHODS = frozenset({"GET", "HEAD", "POST", "DELETE", "PATCH", "PUT", "OPTIONS"})
_NOT_ALLOWED = b'{"error": "METHOD_NOT_ALLOWED", "reason": "Method Not Allowed"}'
_CLOSE = [(b"connection", b"close")]


class _Transport:
    """Streams a reply as ASGI body messages (the engine's Transport)."""

    __slots__ = ("head", "send", "started")

    def __init__(self, send: Send, head: bool) -> None:
        self.send = send
        self.head = head
        self.started = False

    async def start(self, status: int, headers: list[tuple[str, str]]) -> None:
        self.started = True
        await self.send({"type": "http.response.start", "status": status, "headers": encode_headers(headers)})

    async def write(self, chunk: bytes) -> None:
        if self.head:
            return
        try:
            await self.send({"type": "http.response.body", "body": chunk, "more_body": True})
        except OSError:
            raise ConnectionResetError("the client closed the stream") from None

    async def finish(self) -> None:
        with contextlib.suppress(OSError):
            await self.send({"type": "http.response.body", "body": b"", "more_body": False})


def encode_headers(lines: list[tuple[str, str]]) -> list[tuple[bytes, bytes]]:
    return [(name.lower().encode("latin-1"), str(value).encode("latin-1")) for name, value in lines]


class HttpExchange:
    """One request: read (or stream) the body within its limit, dispatch, write the Response."""

    __slots__ = ("engine", "headers", "method", "path", "receive", "scope", "send")

    def __init__(self, engine: Engine, scope: dict[str, Any], receive: Receive, send: Send) -> None:
        self.engine = engine
        self.scope = scope
        self.receive = receive
        self.send = send
        self.method: str = scope["method"]
        self.path = raw_path(scope)
        self.headers = request_headers(scope)

    async def run(self) -> None:
        if self.method not in METHODS:
            await self._answer(405, [(b"content-type", b"application/json")], _NOT_ALLOWED)
            return
        engine, path = self.engine, self.path
        upload = engine.streamed_body_limit(self.method, path)
        limit = engine.max_body_size(path) if upload is None else upload
        length = self.headers.get("Content-Length")
        if length is not None and length.isdigit() and int(length) > limit:
            await self._too_large(limit)
            return
        if upload is not None:
            await self._streamed(limit)
            return
        body = await self._read(limit)
        if body is None:
            return
        transport = _Transport(self.send, self.method == "HEAD")
        response = await engine.dispatch(self.incoming(body), transport)
        if response.streaming:
            await response.end()
        else:
            await self.write(response)

    async def _read(self, limit: int) -> bytes | None:
        """The whole body, or None once a 413 (or nothing, for a client that left) was answered."""
        chunks: list[bytes] = []
        size = 0
        while True:
            message = await self.receive()
            if message["type"] == "http.disconnect":
                return None
            chunk = message.get("body", b"")
            if chunk:
                size += len(chunk)
                if size > limit:
                    await self._too_large(limit)
                    return None
                chunks.append(chunk)
            if not message.get("more_body", False):
                return chunks[0] if len(chunks) == 1 else b"".join(chunks)

    async def _streamed(self, limit: int) -> None:
        """The script starts now and reads the body as it arrives."""
        stream = BodyStream()
        transport = _Transport(self.send, self.method == "HEAD")
        task = asyncio.ensure_future(self.engine.dispatch(self.incoming(b"", stream), transport))
        task.add_done_callback(lambda _: stream.close())
        size, close = 0, False
        while not task.done():
            message = await self.receive()
            if message["type"] == "http.disconnect":
                stream.fail(
                    HttpError(
                        400,
                        "BODY_INCOMPLETE",
                        "the client closed the connection before the body was complete",
                    )
                )
                await task
                return
            chunk = message.get("body", b"")
            size += len(chunk)
            if size > limit:
                stream.fail(
                    HttpError(413, "PAYLOAD_TOO_LARGE", f"the request body is larger than {limit} bytes")
                )
                close = True
                break
            if chunk:
                fed = stream.feed(chunk)
                if fed is not None:
                    await fed
            if not message.get("more_body", False):
                stream.finish()
                break
        response = await task
        if response.streaming:
            await response.end()
        elif not transport.started:
            await self.write(response, close=close)

    def incoming(self, body: bytes, stream: BodyStream | None = None) -> Incoming:
        scope, headers, path = self.scope, self.headers, self.path
        query = (scope.get("query_string") or b"").decode("latin-1")
        client = scope.get("client")
        peer = str(client[0]) if client else ""
        scheme = scope.get("scheme", "http")
        host = headers.get("Host") or _server_host(scope)
        trusted = self.engine.trusted_proxies
        return Incoming(
            self.method,
            path,
            query,
            f"{scheme}://{host}{path}" + (f"?{query}" if query else ""),
            headers,
            body,
            client_ip(peer, headers, trusted),
            stream,
            public_root(scheme, host, "", headers, peer, trusted),
            path.endswith(OPERATOR_PAGES) and self.is_operator(),
        )

    def is_operator(self) -> bool:
        """The operator APIs' rule (admin_access.py), as the Tornado host applies it."""
        context = PeerContext(self.scope.get("client"), self.scope.get("scheme", "http"))
        connection = _Peer(context)
        request = tornado.httputil.HTTPServerRequest(
            self.method, self.path, headers=self.headers, connection=connection
        )
        token = (self.engine.project.config.get("admin") or {}).get("token")
        return AdminAccess(token).who(request)[0] is not None

    async def write(self, response: Response, close: bool = False) -> None:
        body = response.body or b""
        headers = encode_headers(response.header_lines())
        headers.append((b"content-length", str(len(body)).encode()))
        if close:
            headers.extend(_CLOSE)
        await self._answer(response.status, headers, body, encoded=True)

    async def _too_large(self, limit: int) -> None:
        error = HttpError(413, "PAYLOAD_TOO_LARGE", f"the request body is larger than {limit} bytes")
        await self.write(error_response(error), close=True)
        engine = self.engine
        if engine.observers:  # refused before dispatch: the observers hear of it here
            name = engine.split(self.path)[0]
            exchange = Exchange(app=name if name in engine.project.apps else "-", status=413)
            exchange.method, exchange.error = self.method, error.code
            engine.notify(exchange)

    async def _answer(
        self, status: int, headers: list[tuple[bytes, bytes]], body: bytes, encoded: bool = False
    ) -> None:
        if not encoded:
            headers = [*headers, (b"content-length", str(len(body)).encode())]
        send = self.send
        await send({"type": "http.response.start", "status": status, "headers": headers})
        await send({"type": "http.response.body", "body": b"" if self.method == "HEAD" else body})


class _Peer:
    """A stand-in connection carrying the peer's context, for code written against Tornado's request."""

    __slots__ = ("context",)

    def __init__(self, context: PeerContext) -> None:
        self.context = context


def _server_host(scope: dict[str, Any]) -> str:
    server = scope.get("server")
    if not server:
        return "localhost"
    host, port = server[0], server[1]
    return f"{host}:{port}" if port not in (None, 80, 443) else str(host)
