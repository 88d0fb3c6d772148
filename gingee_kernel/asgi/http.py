"""One ASGI HTTP request through the engine: the same limits and answers as the Tornado host
(engine/tornado_handler.py), on whatever ASGI server runs it.

- methods Tornado's handler lacks get its 405 JSON;
- a body over the app's `max_body_size` is 413 `PAYLOAD_TOO_LARGE` (at once for such a Content-Length);
- on a `"body": "stream"` route the script starts at once and reads the body as it arrives, with
  `max_upload_size` as the limit;
- streamed replies (server-sent events) go out chunk by chunk, and a write after the client left raises
  ConnectionResetError; HEAD gets the headers and no body;
- 204 and 304 carry no Content-Length; a reply that cannot be sent as it is (a header with CR/LF, a body
  on a 204) is Tornado's bare 500 JSON.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import re
import time
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
from .scope import ScopeHeaders, raw_path
from .tornado_bridge import PeerContext

Receive = Callable[[], Awaitable[dict[str, Any]]]
Send = Callable[[dict[str, Any]], Awaitable[None]]
#: The methods the Tornado host's handler serves (GingeeHandler.SUPPORTED_METHODS), in its order.
_SUPPORTED = ("GET", "HEAD", "POST", "DELETE", "PATCH", "PUT", "OPTIONS")
METHODS = frozenset(_SUPPORTED)
_NOT_ALLOWED = b'{"error": "METHOD_NOT_ALLOWED", "reason": "Method Not Allowed"}'
#: A 405 names what is allowed (RFC 9110 §15.5.6), as the Tornado host's does (json_errors.py).
_NOT_ALLOWED_HEADERS = [(b"content-type", b"application/json"), (b"allow", ", ".join(_SUPPORTED).encode())]
_INTERNAL_ERROR = b'{"error": "INTERNAL_SERVER_ERROR", "reason": "Internal Server Error"}'
_CLOSE = [(b"connection", b"close")]
#: Statuses whose replies have no body, hence no Content-Length (RFC 9110 §8.6) and, as Tornado sends
#: them, none of the representation headers below.
_NO_CONTENT = frozenset({204, 304})
_REPRESENTATION = frozenset({"content-type", "content-encoding", "content-language"})
log = logging.getLogger("gingee.asgi")
_new_incoming = tuple.__new__


class _Transport:
    """Streams a reply as ASGI body messages (the engine's Transport).

    An ASGI server drops what is sent after the client left, without an error (uvicorn does), so once
    the request body is read the transport listens for `http.disconnect`: a write after it raises
    ConnectionResetError, as the Tornado host's does, and a script streaming events learns that its
    client is gone."""

    __slots__ = ("gone", "head", "head_sent", "receive", "send", "started", "watcher")

    def __init__(self, send: Send, head: bool, receive: Receive | None = None) -> None:
        self.send = send
        self.head = head
        self.started = False
        self.head_sent = False
        self.gone = False
        #: Set once the request body was read whole: from then on, `receive` only says the client left.
        self.receive = receive
        self.watcher: asyncio.Future[None] | None = None

    def body_read(self, receive: Receive) -> None:
        """The request body was read whole: watch for the client leaving while the reply streams."""
        self.receive = receive
        if self.started:
            self._watch()

    def _watch(self) -> None:
        if self.watcher is None and self.receive is not None:
            self.watcher = asyncio.ensure_future(self._wait_for_disconnect(self.receive))

    async def _wait_for_disconnect(self, receive: Receive) -> None:
        try:
            while (await receive())["type"] != "http.disconnect":
                pass
        except Exception:  # the server cannot tell: writes go on as before
            log.debug("cannot watch for the client leaving", exc_info=True)
            return
        self.gone = True

    async def start(self, status: int, headers: list[tuple[str, str]]) -> None:
        self.started = True
        lines = encode_headers(headers)  # a ValueError goes to the script, as on Tornado
        await self.send({"type": "http.response.start", "status": status, "headers": lines})
        self.head_sent = True
        self._watch()

    async def write(self, chunk: bytes) -> None:
        if self.gone:
            raise ConnectionResetError("the client closed the stream")
        if self.head:
            return
        try:
            await self.send({"type": "http.response.body", "body": chunk, "more_body": True})
        except OSError:
            raise ConnectionResetError("the client closed the stream") from None

    async def finish(self) -> None:
        with contextlib.suppress(OSError):
            if not self.head_sent:  # the stream's headers were refused: there is nothing to end
                await _internal_error(self.send, self.head)
                return
            await self.send({"type": "http.response.body", "body": b"", "more_body": False})
        if self.watcher is not None:
            self.watcher.cancel()


#: What Tornado lets into a header value (RequestHandler._VALID_HEADER_CHARS): no CR, LF or other
#: control characters, nothing past Latin-1. A header name must be an RFC 9110 token.
_VALID_VALUE = re.compile(r"[\x09\x20-\x7e\x80-\xff]*")
_VALID_NAME = re.compile(r"[!#$%&'*+\-.^_`|~0-9A-Za-z]+")
#: Header lines encoded already (the engine's constant headers, the common content types); bounded, so
#: values that vary (Location, ETag) cannot grow it for ever.
_ENCODED: dict[tuple[str, str], tuple[bytes, bytes]] = {}
_ENCODED_MAX = 512


def encode_headers(lines: list[tuple[str, str]]) -> list[tuple[bytes, bytes]]:
    """ASGI header lines; ValueError for a name or value that could split the reply (CR, LF...)."""
    encoded = []
    for name, value in lines:
        pair = _ENCODED.get((name, value))
        if pair is None:
            text = str(value)
            if _VALID_NAME.fullmatch(name) is None:
                raise ValueError(f"unsafe header name {name!r}")
            if _VALID_VALUE.fullmatch(text) is None:
                raise ValueError(f"unsafe header value {text!r}")
            pair = (name.lower().encode("latin-1"), text.encode("latin-1"))
            if type(value) is str and len(_ENCODED) < _ENCODED_MAX:
                _ENCODED[(name, value)] = pair
        encoded.append(pair)
    return encoded


class HttpExchange:
    """One request: read (or stream) the body within its limit, dispatch, write the Response."""

    __slots__ = ("engine", "headers", "method", "path", "receive", "scope", "send", "started")

    def __init__(
        self, engine: Engine, scope: dict[str, Any], receive: Receive, send: Send, path: str | None = None
    ) -> None:
        self.engine = engine
        self.scope = scope
        self.receive = receive
        self.send = send
        self.method: str = scope["method"]
        #: The raw path (`scope.raw_path(scope)`, which the application read already).
        self.path = raw_path(scope) if path is None else path
        self.headers = ScopeHeaders(list(scope["headers"]))  # a snapshot, as HTTPHeaders would be
        self.started = time.perf_counter()

    async def run(self) -> None:
        if self.method not in METHODS:
            # A body declared past the app's limit is not worth reading on: answered, then closed.
            length = self.headers.get("Content-Length")
            over = (
                length is not None and length.isdigit() and int(length) > self.engine.max_body_size(self.path)
            )
            await self._answer(
                405, [*_NOT_ALLOWED_HEADERS, *_CLOSE] if over else _NOT_ALLOWED_HEADERS, _NOT_ALLOWED
            )
            return
        engine = self.engine
        limit, streamed = engine.body_limit(self.method, self.path)
        length = self.headers.get("Content-Length")
        if length is not None and length.isdigit() and int(length) > limit:
            await self._too_large(limit)
            return
        if streamed:
            await self._streamed(limit)
            return
        message = await self.receive()
        if message["type"] == "http.request" and not message.get("more_body", False):
            body = message.get("body") or b""  # the whole body at once, as for most requests
            if body and len(body) > limit:
                await self._too_large(limit)
                return
        else:
            body = await self._read(limit, message)
            if body is None:
                return
        transport = _Transport(self.send, self.method == "HEAD", self.receive)
        response = await engine.dispatch(self.incoming(body), transport)
        if response.streaming:
            await response.end()
        elif not transport.started:  # a stream the script ended itself is answered already
            await self.write(response)

    async def _read(self, limit: int, message: dict[str, Any]) -> bytes | None:
        """The whole body, from its first message on, or None once a 413 (or nothing, for a client that
        left) was answered."""
        chunks: list[bytes] = []
        size = 0
        while True:
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
            message = await self.receive()

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
                transport.gone = True
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
                transport.body_read(self.receive)
                break
        response = await task
        if response.streaming:
            await response.end()
        elif not transport.started:
            await self.write(response, close=close)

    def incoming(self, body: bytes, stream: BodyStream | None = None) -> Incoming:
        scope, headers, path = self.scope, self.headers, self.path
        query_string = scope.get("query_string")
        query = query_string.decode("latin-1") if query_string else ""
        client = scope.get("client")
        peer = str(client[0]) if client else ""
        scheme = scope.get("scheme", "http")
        host = headers.get("Host") or _server_host(scope)
        origin = f"{scheme}://{host}"
        trusted = self.engine.trusted_proxies
        if trusted.networks:  # a proxy's X-Forwarded-* may be believed
            remote, root = (
                client_ip(peer, headers, trusted),
                public_root(scheme, host, "", headers, peer, trusted),
            )
        else:  # what client_ip and public_root answer when no proxy is trusted
            remote, root = peer, origin
        return _new_incoming(  # Incoming(...) without the Python __new__ of a named tuple
            Incoming,
            (
                self.method,
                path,
                query,
                f"{origin}{path}?{query}" if query else origin + path,
                headers,
                body,
                remote,
                stream,
                root,
                path.endswith(OPERATOR_PAGES) and self.is_operator(),
            ),
        )

    def is_operator(self) -> bool:
        """The operator APIs' rule (admin_access.py), as the Tornado host applies it."""
        context = PeerContext(self.scope.get("client"), self.scope.get("scheme", "http"))
        connection = _Peer(context)
        request = tornado.httputil.HTTPServerRequest(
            headers=self.headers,
            connection=connection,
            start_line=tornado.httputil.RequestStartLine(self.method, self.path, "HTTP/1.1"),
        )
        token = (self.engine.project.config.get("admin") or {}).get("token")
        return AdminAccess(token).who(request)[0] is not None

    async def write(self, response: Response, close: bool = False) -> None:
        body = response.body or b""
        status = response.status
        lines = response.header_lines()
        try:
            if status in _NO_CONTENT or 100 <= status < 200:
                if body:  # Tornado refuses it ("Cannot send body with status code")
                    raise ValueError(f"a reply with status {status} has no body, but one was sent")
                # No body, so no Content-Length and no representation headers (as Tornado's finish()).
                headers = encode_headers([(k, v) for k, v in lines if k.lower() not in _REPRESENTATION])
            else:
                headers = encode_headers(lines)
                headers.append((b"content-length", str(len(body)).encode()))
        except (TypeError, ValueError) as exc:  # the reply cannot be sent: a bare 500, as Tornado answers
            log.error("%s %s: the reply cannot be sent: %s", self.method, self.path, exc)
            await _internal_error(self.send, self.method == "HEAD")
            return
        if close:
            headers.extend(_CLOSE)
        send = self.send
        await send({"type": "http.response.start", "status": status, "headers": headers})
        await send({"type": "http.response.body", "body": b"" if self.method == "HEAD" else body})

    async def _too_large(self, limit: int) -> None:
        error = HttpError(413, "PAYLOAD_TOO_LARGE", f"the request body is larger than {limit} bytes")
        await self.write(error_response(error), close=True)
        engine = self.engine
        if engine.observers:  # refused before dispatch: the observers hear of it here
            name = engine.split(self.path)[0]
            exchange = Exchange(app=name if name in engine.project.apps else "-", status=413)
            exchange.method, exchange.error = self.method, error.code
            exchange.duration = time.perf_counter() - self.started
            engine.notify(exchange)

    async def _answer(self, status: int, headers: list[tuple[bytes, bytes]], body: bytes) -> None:
        headers = [*headers, (b"content-length", str(len(body)).encode())]
        send = self.send
        await send({"type": "http.response.start", "status": status, "headers": headers})
        await send({"type": "http.response.body", "body": b"" if self.method == "HEAD" else body})


async def bad_request(send: Send) -> None:
    """Tornado's answer to a request it will not read (scope.unreadable): a bare 400, and the connection
    closed."""
    headers = [(b"content-length", b"0"), *_CLOSE]
    await send({"type": "http.response.start", "status": 400, "headers": headers})
    await send({"type": "http.response.body", "body": b""})


async def _internal_error(send: Send, head: bool = False) -> None:
    """Tornado's own 500 for a reply it cannot send (json_errors.py)."""
    headers = [(b"content-type", b"application/json"), (b"content-length", b"%d" % len(_INTERNAL_ERROR))]
    await send({"type": "http.response.start", "status": 500, "headers": headers})
    await send({"type": "http.response.body", "body": b"" if head else _INTERNAL_ERROR})


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
