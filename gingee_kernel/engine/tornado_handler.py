"""The thin layer between Tornado and the engine: stream the body in, write the Response out."""

from __future__ import annotations

from typing import Any

import tornado.web
from tornado.iostream import StreamClosedError

from ..errors import HttpError
from .dispatch import Engine, Incoming, error_response
from .observe import Exchange


class _TornadoTransport:
    """Streams a response through a RequestHandler (server-sent events)."""

    __slots__ = ("handler",)

    def __init__(self, handler: tornado.web.RequestHandler) -> None:
        self.handler = handler

    async def start(self, status: int, headers: list[tuple[str, str]]) -> None:
        self.handler.set_status(status)
        _apply_headers(self.handler, headers)
        await self.handler.flush()

    async def write(self, chunk: bytes) -> None:
        self.handler.write(chunk)
        try:
            await self.handler.flush()
        except StreamClosedError:
            raise ConnectionResetError("the client closed the stream") from None

    async def finish(self) -> None:
        if not self.handler._finished:
            self.handler.finish()


def _apply_headers(handler: tornado.web.RequestHandler, headers: list[tuple[str, str]]) -> None:
    handler.clear_header("Content-Type")
    for name, value in headers:
        if name.lower() == "set-cookie":
            handler.add_header(name, value)
        else:
            handler.set_header(name, value)


@tornado.web.stream_request_body
class GingeeHandler(tornado.web.RequestHandler):
    """Serves every path under `prefix` through the engine. `prefix` is what precedes `/<app>`."""

    SUPPORTED_METHODS = ("GET", "HEAD", "POST", "DELETE", "PATCH", "PUT", "OPTIONS")

    def initialize(self, engine: Engine, prefix: str = "") -> None:
        self.engine = engine
        self.prefix = prefix
        self._chunks: list[bytes] = []
        self._size = 0
        self._limit = 0
        self._refused = False

    def app_path(self) -> str:
        """The raw request path with the host's prefix removed (starts with `/<app>`)."""
        path = self.request.path
        return path[len(self.prefix) :] if self.prefix and path.startswith(self.prefix) else path

    async def prepare(self) -> None:
        self.limit_body(self.engine.max_body_size(self.app_path()))

    def limit_body(self, limit: int) -> None:
        """Answer 413 for a body over `limit` bytes: at once for such a Content-Length, else once the
        streamed body passes it."""
        self._limit = limit
        # Leave Tornado headroom past our limit, so that we (not Tornado's bare 400) answer 413 for a chunked
        # body; a Content-Length over the limit is refused below before any body byte is read.
        self.request.connection.set_max_body_size(2 * self._limit + 65536)  # type: ignore[attr-defined]
        length = self.request.headers.get("Content-Length")
        if length is not None and length.isdigit() and int(length) > self._limit:
            self._refuse_body()

    def data_received(self, chunk: bytes) -> None:
        if self._refused:
            return
        self._size += len(chunk)
        if self._size > self._limit:
            self._refuse_body()
            return
        self._chunks.append(chunk)

    def _refuse_body(self) -> None:
        self._refused = True
        self._chunks.clear()
        error = HttpError(413, "PAYLOAD_TOO_LARGE", f"the request body is larger than {self._limit} bytes")
        self._write_response(error_response(error), close=True)
        # Refused before dispatch: the observers hear of it here.
        if self.engine is not None and self.engine.observers:
            name = self.engine.split(self.app_path())[0]
            exchange = Exchange(app=name if name in self.engine.project.apps else "-", status=413)
            exchange.method, exchange.error = self.request.method or "GET", error.code
            exchange.duration = self.request.request_time()
            self.engine.notify(exchange)

    async def _serve(self) -> None:
        if self._refused or self._finished:
            return
        request = self.request
        incoming = Incoming(
            method=request.method or "GET",
            path=self.app_path(),
            query=request.query,
            url=request.full_url(),
            headers=request.headers,
            body=b"".join(self._chunks),
            remote_ip=request.remote_ip or "",
        )
        self._chunks.clear()
        response = await self.engine.dispatch(incoming, _TornadoTransport(self))
        if response.streaming:
            await response.end()
        elif not self._finished:
            self._write_response(response)

    def _write_response(self, response: Any, close: bool = False) -> None:
        self.set_status(response.status)
        _apply_headers(self, response.header_lines())
        if close:
            # Tornado closes the connection itself when we answer before the body was read.
            self.set_header("Connection", "close")
        if response.body and self.request.method != "HEAD":
            self.write(response.body)
        elif response.body and self.request.method == "HEAD":
            self.set_header("Content-Length", str(len(response.body)))
        self.finish()

    get = post = put = patch = delete = head = options = _serve  # type: ignore[assignment]

    def compute_etag(self) -> None:
        return None
