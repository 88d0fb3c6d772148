"""One ASGI websocket through the host-neutral websocket layer (modules/ws): the same upgrade checks,
Session, rooms, fan-out and close codes as on Tornado (modules/ws/tornado_host.py).

A refused upgrade is answered with its HTTP status and JSON body where the server offers the
`websocket.http.response` extension (uvicorn does), else by closing before the handshake (403 to the
client). Messages to the client go out in order through one writer task; `write_message` returns a
future that is done once the message was handed to the server, which the send buffer counts on.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Awaitable, Callable
from typing import Any

from ..engine.dispatch import Engine
from ..engine.forwarded import client_ip
from ..errors import HttpError
from ..modules.ws.session import Session
from ..modules.ws.upgrade import UpgradeRequest, admit
from .scope import raw_path, request_headers

Receive = Callable[[], Awaitable[dict[str, Any]]]
Send = Callable[[dict[str, Any]], Awaitable[None]]


class AsgiConnection:
    """What a Session writes to (modules/ws/socket.py `Connection`), over ASGI messages."""

    def __init__(self, send: Send) -> None:
        self._send = send
        self._outbox: asyncio.Queue[tuple[dict[str, Any], asyncio.Future[None]]] = asyncio.Queue()
        self._writer = asyncio.ensure_future(self._write())
        self.closing = False

    def write_message(self, message: bytes | str, binary: bool = False) -> asyncio.Future[None]:
        if self.closing:
            raise ConnectionResetError("the websocket is closing")
        if binary:
            frame = {
                "type": "websocket.send",
                "bytes": message if isinstance(message, bytes) else message.encode(),
            }
        else:
            text = message.decode("utf-8") if isinstance(message, bytes) else message
            frame = {"type": "websocket.send", "text": text}
        return self._queue(frame)

    def close(self, code: int | None = None, reason: str | None = None) -> None:
        if self.closing:
            return
        self.closing = True
        sent = self._queue({"type": "websocket.close", "code": code or 1000, "reason": reason or ""})
        sent.add_done_callback(_retrieved)  # nobody awaits it: a client gone already is no error

    def _queue(self, frame: dict[str, Any]) -> asyncio.Future[None]:
        future: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._outbox.put_nowait((frame, future))
        return future

    async def _write(self) -> None:
        while True:
            frame, future = await self._outbox.get()
            try:
                await self._send(frame)
            except Exception as exc:  # the client is gone: every pending write fails with it
                self.closing = True
                if not future.done():
                    future.set_exception(ConnectionResetError(str(exc) or "the client went away"))
                self._fail_pending()
                return
            if not future.done():
                future.set_result(None)
            if frame["type"] == "websocket.close":
                self._fail_pending()
                return

    def _fail_pending(self) -> None:
        while not self._outbox.empty():
            _, future = self._outbox.get_nowait()
            if not future.done():
                future.set_exception(ConnectionResetError("the websocket closed"))

    def stop(self) -> None:
        """The connection is over: stop the writer."""
        self.closing = True
        self._writer.cancel()

    async def flushed(self) -> None:
        """Wait until the writer has stopped (after the close frame, once the Session closed)."""
        await asyncio.wait([self._writer])


def _retrieved(future: asyncio.Future[None]) -> None:
    if not future.cancelled():
        future.exception()


async def serve_websocket(
    engine: Engine,
    scope: dict[str, Any],
    receive: Receive,
    send: Send,
    open_connections: set[AsgiConnection] | None = None,
) -> None:
    """Admit, accept, then pump messages into a Session until the client or the app closes; the
    connection is in `open_connections` meanwhile."""
    connect = await receive()
    if connect["type"] != "websocket.connect":
        return
    headers = request_headers(scope)
    path = raw_path(scope)
    client = scope.get("client")
    peer = str(client[0]) if client else ""
    request = UpgradeRequest(
        path,
        (scope.get("query_string") or b"").decode("latin-1"),
        headers,
        client_ip(peer, headers, engine.trusted_proxies),
    )
    try:
        admission = await admit(engine.project, request)
    except HttpError as error:
        await _refuse(scope, send, error)
        return
    connection: AsgiConnection | None = None
    session: Session | None = None
    try:
        await send({"type": "websocket.accept"})
        connection = AsgiConnection(send)
        if open_connections is not None:
            open_connections.add(connection)
        session = Session(admission, connection)
        await session.open()  # the app's handle(socket, ctx) first, as Tornado awaits open()
        code: int | None = None
        reason: str | None = None
        while True:
            message = await receive()
            kind = message["type"]
            if kind == "websocket.receive":
                text = message.get("text")
                result = session.receive(text if text is not None else message.get("bytes") or b"")
                if result is not None:
                    await result
            elif kind == "websocket.disconnect":
                code, reason = message.get("code", 1005), message.get("reason") or None
                break
        session.closed(code, reason)
    finally:
        if connection is not None:
            connection.stop()
            if open_connections is not None:
                open_connections.discard(connection)
        if session is None:
            admission.release()
        else:
            session.closed(1006, None)  # a no-op once closed above


async def _refuse(scope: dict[str, Any], send: Send, error: HttpError) -> None:
    """The upgrade's refusal as an HTTP answer where the server can send one, else a close."""
    if "websocket.http.response" in (scope.get("extensions") or {}):
        body = json.dumps(error.body()).encode()
        headers = [(k.lower().encode("latin-1"), v.encode("latin-1")) for k, v in error.headers.items()]
        headers += [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]
        await send({"type": "websocket.http.response.start", "status": error.status, "headers": headers})
        await send({"type": "websocket.http.response.body", "body": body})
    else:
        await send({"type": "websocket.close", "code": 1008})
