"""Tornado request handlers served to ASGI clients, through Tornado's public connection interfaces.

The operator API, health, metrics and queue API are Tornado `RequestHandler`s (shared with `gingee serve`
on Tornado and the Jupyter extension). Under an ASGI server they are run as Tornado runs them: the
`Application` is an `HTTPServerConnectionDelegate`, so each request gets a delegate from `start_request`
and is fed its start line, headers and body; the handler answers through an `HTTPConnection` whose writes
become ASGI messages. One implementation, the same answers on both hosts.
"""

from __future__ import annotations

import asyncio
import ipaddress
import re
import socket
from collections.abc import Awaitable, Callable
from typing import Any

import tornado.httputil
import tornado.iostream
import tornado.routing
import tornado.web

from .scope import request_headers

Receive = Callable[[], Awaitable[dict[str, Any]]]
Send = Callable[[dict[str, Any]], Awaitable[None]]
#: Framing, Server and Date are the ASGI server's business: these headers from a Tornado handler are not
#: passed on.
_FRAMING = frozenset({"connection", "transfer-encoding", "keep-alive", "server", "date"})


class PeerContext:
    """What Tornado reads from a connection's `context`: the peer's address and the scheme."""

    __slots__ = ("address", "address_family", "protocol", "remote_ip")

    def __init__(self, client: tuple[str, int] | list[Any] | None, scheme: str) -> None:
        self.remote_ip = str(client[0]) if client else ""
        self.address = (self.remote_ip, int(client[1])) if client else None
        self.address_family = _family(self.remote_ip)
        self.protocol = "https" if scheme in ("https", "wss") else "http"


def _family(ip: str) -> int | None:
    try:
        return socket.AF_INET6 if ipaddress.ip_address(ip).version == 6 else socket.AF_INET
    except ValueError:
        return None  # a Unix socket or no peer: never loopback


class _Connection(tornado.httputil.HTTPConnection):
    """The `HTTPConnection` a bridged handler writes to: its writes are queued as ASGI messages."""

    def __init__(self, context: PeerContext, head: bool) -> None:
        self.context = context
        self.head = head
        self.outbox: asyncio.Queue[tuple[dict[str, Any] | None, asyncio.Future[None] | None]] = (
            asyncio.Queue()
        )
        self.finished = False
        self._close_callback: Callable[[], None] | None = None

    def _queue(self, message: dict[str, Any] | None) -> asyncio.Future[None]:
        future: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self.outbox.put_nowait((message, future))
        return future

    def write_headers(
        self,
        start_line: tornado.httputil.RequestStartLine | tornado.httputil.ResponseStartLine,
        headers: tornado.httputil.HTTPHeaders,
        chunk: bytes | None = None,
    ) -> asyncio.Future[None]:
        assert isinstance(start_line, tornado.httputil.ResponseStartLine)
        lines = [
            (name.lower().encode("latin-1"), value.encode("latin-1"))
            for name, value in headers.get_all()
            if name.lower() not in _FRAMING
        ]
        future = self._queue({"type": "http.response.start", "status": start_line.code, "headers": lines})
        if chunk:
            future = self.write(chunk)
        return future

    def write(self, chunk: bytes) -> asyncio.Future[None]:
        if self.head or not chunk:
            future: asyncio.Future[None] = asyncio.get_running_loop().create_future()
            future.set_result(None)
            return future
        return self._queue({"type": "http.response.body", "body": bytes(chunk), "more_body": True})

    def finish(self) -> None:
        self.finished = True
        self._queue({"type": "http.response.body", "body": b"", "more_body": False})
        self._queue(None)

    def set_close_callback(self, callback: Callable[[], None] | None) -> None:
        self._close_callback = callback

    def set_max_body_size(self, max_body_size: int) -> None:
        """The ASGI host reads the body; a bridged handler's own limit is applied as it counts it."""

    def closed(self) -> None:
        """The client went away."""
        if self._close_callback is not None:
            callback, self._close_callback = self._close_callback, None
            callback()


class TornadoBridge:
    """Serves the paths of a table of Tornado handlers to ASGI HTTP requests."""

    def __init__(self, handlers: list[Any], **settings: Any) -> None:
        self.application = tornado.web.Application(handlers, compress_response=False, **settings)
        patterns = []
        for rule in self.application.wildcard_router.rules:
            matcher = rule.matcher
            if isinstance(matcher, tornado.routing.PathMatches):
                patterns.append(matcher.regex.pattern)
        self._paths = re.compile("|".join(f"(?:{p})" for p in patterns)) if patterns else None

    def matches(self, path: str) -> bool:
        """Whether a handler of the table serves `path` (the raw path)."""
        return self._paths is not None and self._paths.match(path) is not None

    async def __call__(self, scope: dict[str, Any], receive: Receive, send: Send) -> None:
        method = scope["method"]
        context = PeerContext(scope.get("client"), scope.get("scheme", "http"))
        connection = _Connection(context, head=method == "HEAD")
        headers = request_headers(scope)
        raw_path = scope.get("raw_path") or scope["path"].encode()
        query = scope.get("query_string") or b""
        target = (raw_path + (b"?" + query if query else b"")).decode("latin-1")
        delegate = self.application.start_request(None, connection)  # type: ignore[arg-type]
        pump = asyncio.ensure_future(_pump(connection, send))
        try:
            start_line = tornado.httputil.RequestStartLine(method, target, "HTTP/1.1")
            started = delegate.headers_received(start_line, headers)
            if started is not None:
                await started
            while not connection.finished:
                message = await receive()
                if message["type"] == "http.disconnect":
                    connection.closed()
                    delegate.on_connection_close()
                    return  # nothing more may be sent
                body = message.get("body", b"")
                if body:
                    fed = delegate.data_received(body)
                    if fed is not None:
                        await fed
                if not message.get("more_body", False):
                    delegate.finish()
                    break
            await pump
        finally:
            if not pump.done():
                pump.cancel()


async def _pump(connection: _Connection, send: Send) -> None:
    """Send what the handler writes, in order, until it finishes."""
    while True:
        message, future = await connection.outbox.get()
        if message is not None:
            try:
                await send(message)
            except OSError:
                connection.closed()
                if future is not None and not future.done():
                    future.set_exception(tornado.iostream.StreamClosedError())
                return
        if future is not None and not future.done():
            future.set_result(None)
        if message is None:
            return
