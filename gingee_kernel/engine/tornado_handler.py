"""The thin layer between Tornado and the engine: stream the body in, write the Response out."""

from __future__ import annotations

import asyncio
import copy
import re
from collections.abc import Awaitable
from typing import Any

import tornado
import tornado.httputil
import tornado.web
from tornado.iostream import StreamClosedError

from ..errors import HttpError
from ..json_errors import JsonErrors
from .body import BodyStream
from .dispatch import Engine, Incoming, error_response
from .forwarded import client_ip, public_root
from .observe import Exchange
from .pipeline import OPERATOR_PAGES


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
        if not self.handler.answered:
            self.handler.finish()


def _apply_headers(handler: tornado.web.RequestHandler, headers: list[tuple[str, str]]) -> None:
    """Replace the handler's headers with `headers` (Tornado's default Content-Type is dropped unless
    `headers` sets one); Set-Cookie lines are added, every other header set."""
    if not any(name == "Content-Type" for name, _ in headers):
        handler.clear_header("Content-Type")
    for name, value in headers:
        if name.lower() == "set-cookie":
            handler.add_header(name, value)
        else:
            _set_header(handler, name, value)


#: A header name must be an RFC 9110 token (Tornado checks values only): a CR or LF in one would split
#: the reply (the ASGI host refuses the same names, asgi/http.py encode_headers).
_HEADER_NAME = re.compile(r"[!#$%&'*+\-.^_`|~0-9A-Za-z]+")


def _set_header(handler: tornado.web.RequestHandler, name: str, value: str) -> None:
    """`handler.set_header(name, value)` with the name checked too (ValueError, as Tornado raises for a bad
    value)."""
    if _HEADER_NAME.fullmatch(name) is None:
        raise ValueError(f"unsafe header name {name!r}")
    handler.set_header(name, value)


class EngineHandler(JsonErrors):
    """Serves every path under `prefix` through the engine. `prefix` is what precedes `/<app>`.
    Used as `GingeeHandler` (the body streamed, limited as it arrives) or `BodylessGingeeHandler`."""

    SUPPORTED_METHODS = ("GET", "HEAD", "POST", "DELETE", "PATCH", "PUT", "OPTIONS")
    streams_body = True
    #: True once the reply is finished (`on_finish`, Tornado's public hook, has run).
    answered = False

    def on_finish(self) -> None:
        self.answered = True
        super().on_finish()

    def initialize(self, engine: Engine, prefix: str = "") -> None:
        self.engine = engine
        self.prefix = prefix
        self._chunks: list[bytes] = []
        self._size = 0
        self._limit = 0
        self._refused = False
        self._body_stream: BodyStream | None = None
        self._task: asyncio.Future[Any] | None = None

    def app_path(self) -> str:
        """The raw request path with the host's prefix removed (starts with `/<app>`)."""
        path = self.request.path
        return path[len(self.prefix) :] if self.prefix and path.startswith(self.prefix) else path

    async def prepare(self) -> None:
        path = self.app_path()
        upload = self.engine.streamed_body_limit(self.request.method or "GET", path)
        if upload is None:
            self.limit_body(self.engine.max_body_size(path))
            return
        self.limit_body(upload)
        if not self._refused:
            # The script starts now and reads the body as it arrives (data_received feeds it).
            self._body_stream = stream = BodyStream()
            self._task = asyncio.ensure_future(
                self.engine.dispatch(self._incoming(b"", stream), _TornadoTransport(self))
            )
            self._task.add_done_callback(lambda _: stream.close())

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

    def data_received(self, chunk: bytes) -> Any:
        if self._refused:
            return None
        self._size += len(chunk)
        if self._size > self._limit:
            if self._body_stream is not None:
                return self._streamed_too_large()
            self._refuse_body()
            return None
        if self._body_stream is not None:
            return self._body_stream.feed(chunk)  # a future to await when the script is behind
        self._chunks.append(chunk)
        return None

    async def _streamed_too_large(self) -> None:
        """A streamed body passed the limit: the script's read raises 413 (a put in progress is dropped),
        and its answer goes out with the connection closed."""
        self._refused = True
        assert self._body_stream is not None and self._task is not None
        self._body_stream.fail(
            HttpError(413, "PAYLOAD_TOO_LARGE", f"the request body is larger than {self._limit} bytes")
        )
        response = await self._task
        if not self.answered:
            if response.streaming:
                await response.end()
            else:
                self._write_response(response, close=True)

    def on_connection_close(self) -> None:
        if self._body_stream is not None:
            self._body_stream.fail(
                HttpError(
                    400, "BODY_INCOMPLETE", "the client closed the connection before the body was complete"
                )
            )
        super().on_connection_close()

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

    def _incoming(self, body: bytes, stream: BodyStream | None = None) -> Incoming:
        request = self.request
        return Incoming(
            request.method or "GET",
            self.app_path() if self.prefix else request.path,
            request.query,
            request.full_url(),
            request.headers,
            body,
            client_ip(request.remote_ip or "", request.headers, self.engine.trusted_proxies),
            stream,
            self.public_root(),
            request.path.endswith(OPERATOR_PAGES) and self.is_operator(),  # asked where it matters only
        )

    def is_operator(self) -> bool:
        """Whether the operator sends this request: the operator APIs' rule (admin_access.py)."""
        from ..admin_access import AdminAccess

        return (
            AdminAccess((self.engine.project.config.get("admin") or {}).get("token")).who(self.request)[0]
            is not None
        )

    def public_root(self) -> str:
        """What precedes `/<app>` in the URL the client's browser sees (see engine/forwarded.py)."""
        request = self.request
        return public_root(
            request.protocol,
            request.host,
            self.prefix,
            request.headers,
            request.remote_ip or "",
            self.engine.trusted_proxies,
        )

    async def _serve(self) -> None:
        if self._refused or self.answered:
            return
        if self._task is not None:
            assert self._body_stream is not None
            self._body_stream.finish()
            response = await self._task
        else:
            chunks = self._chunks
            incoming = self._incoming(
                (chunks[0] if len(chunks) == 1 else b"".join(chunks)) if chunks else b""
            )
            chunks.clear()
            response = await self.engine.dispatch(incoming, _TornadoTransport(self))
        if response.streaming:
            await response.end()
        elif not self.answered:
            self._write_response(response)

    def _write_response(self, response: Any, close: bool = False) -> None:
        if response.status != self.get_status():
            self.set_status(response.status)
        _apply_headers(self, response.header_lines())
        if close:
            # Tornado closes the connection itself when we answer before the body was read.
            self.set_header("Connection", "close")
        body = response.body
        if body:
            if self.request.method != "HEAD":
                self.write(body)
            else:
                self.set_header("Content-Length", str(len(body)))
        self.finish()

    get = post = put = patch = delete = head = options = _serve  # type: ignore[assignment]

    def compute_etag(self) -> None:
        return None


@tornado.web.stream_request_body
class GingeeHandler(EngineHandler):
    """EngineHandler with the request body streamed to it, so its limit applies as the body arrives."""


class BodylessGingeeHandler(EngineHandler):
    """`GingeeHandler` for a request whose headers announce no body (no Content-Length, Transfer-Encoding
    or Content-Type): Tornado need not stream a body that cannot come, so the handler runs once the
    headers are read, without the streaming hand-offs, and there is no body limit to apply.
    `bodyless_handler` picks it; it answers exactly as GingeeHandler would."""

    streams_body = False

    def prepare(self) -> None:  # type: ignore[override]
        # Nothing to limit; a plain method, so Tornado has no coroutine to await.
        return None


#: The request headers that announce a body (Content-Type too: Tornado parses a form or multipart body
#: by it even when it is empty).
BODY_HEADERS = frozenset({"Content-Length", "Transfer-Encoding", "Content-Type"})


def announces_no_body(request: tornado.httputil.HTTPServerRequest) -> bool:
    """True if the request's headers say it has no body at all (so Tornado reads none)."""
    # HTTPHeaders iterates over its normalised names ("Content-Length"): one pass over the request's
    # few headers rather than three lookups.
    return BODY_HEADERS.isdisjoint(request.headers)


def bodyless_handler(
    handler_class: type[tornado.web.RequestHandler], request: tornado.httputil.HTTPServerRequest
) -> type[tornado.web.RequestHandler]:
    """`BodylessGingeeHandler` for a request to `GingeeHandler` that announces no body, else
    `handler_class` (a host's `Application.get_handler_delegate` calls it)."""
    if handler_class is GingeeHandler and announces_no_body(request):
        return BodylessGingeeHandler
    return handler_class


#: The scheme and authority of an absolute-form request target (`http://host:port`, RFC 9112 3.2.2).
_ABSOLUTE_FORM = re.compile(r"[A-Za-z][A-Za-z0-9+.\-]*://[^/?#]*")


def origin_form(request: tornado.httputil.HTTPServerRequest) -> None:
    """Read the request's target as uvicorn does, before it is routed: an absolute-form target
    (`http://host/a/x`) loses its scheme and authority (the Host header stays the host), and a fragment,
    which a target cannot carry (RFC 9112 3.2), is dropped with what follows it. Tornado keeps both in
    `request.path`; an origin-form target without a `#` (nearly all) is left as it is."""
    uri = request.uri
    if not uri or (uri[0] == "/" and "#" not in uri):
        return
    target = uri.partition("#")[0]
    absolute = _ABSOLUTE_FORM.match(target)
    if absolute is not None:
        target = target[absolute.end() :]
        if not target.startswith("/"):
            target = "/" + target  # `http://host` and `http://host?q`: the path is `/`
    if target == uri:
        return  # `*`, or a target that is neither (routed, and answered, as it is)
    query = request.query
    request.uri = target
    request.path, _, request.query = target.partition("?")
    if request.query != query:  # as HTTPServerRequest parses it (fewer fields than the one it parsed)
        request.arguments = tornado.httputil.parse_qs_bytes(request.query, keep_blank_values=True)
        request.query_arguments = copy.deepcopy(request.arguments)


class BodyDropped(tornado.httputil.HTTPMessageDelegate):
    """The delegate of a request that `GingeeHandler` refuses by its method (405) though it has a body:
    the body is read and dropped, and only then does `delegate` (a `BodylessGingeeHandler`'s) answer.
    Answered before the body was read, Tornado would close the connection after the reply; the ASGI server
    (uvicorn) reads past an unread body too, so the client may send its next request on the connection."""

    def __init__(self, delegate: tornado.httputil.HTTPMessageDelegate) -> None:
        self.delegate = delegate

    def headers_received(
        self,
        start_line: tornado.httputil.RequestStartLine | tornado.httputil.ResponseStartLine,
        headers: tornado.httputil.HTTPHeaders,
    ) -> Awaitable[None] | None:
        return self.delegate.headers_received(start_line, headers)

    def data_received(self, chunk: bytes) -> None:
        return None

    def finish(self) -> None:
        self.delegate.finish()

    def on_connection_close(self) -> None:
        self.delegate.on_connection_close()


def refuses_method(request: tornado.httputil.HTTPServerRequest) -> bool:
    """Whether `GingeeHandler` answers the request 405 for its method although a body follows (then
    `BodyDropped` reads the body first)."""
    return request.method not in GingeeHandler.SUPPORTED_METHODS and not announces_no_body(request)
