"""Session: one accepted websocket, host-neutral.

A host (the standalone Tornado handler, a Jupyter handler, a kernel proxy) admits the upgrade with
`upgrade.admit()`, accepts the connection, then drives a Session:

    session = Session(admission, connection)   # connection: anything with write_message() and close()
    await session.open()                        # after the handshake; runs the app's handle(socket, ctx)
    session.receive(message)                    # each message; await the result unless it is None
    session.closed(code, reason)                # once, when the connection is gone

It enforces `max_message_bytes` (close 1009), `max_messages_per_second` (close 1008) and `idle_timeout`
(close 1001), closes with 1011 when the handler or a callback raises, and runs callbacks in the app's
context so modules work there. The socket itself enforces `max_send_buffer_bytes` (close 1008).
"""

from __future__ import annotations

import asyncio
import inspect
import time
import uuid
from collections.abc import Awaitable, Callable, Coroutine
from typing import Any

from ...engine.context import app_context
from ...metrics import series as metrics
from .calls import run_callback, run_script
from .socket import Connection, Socket
from .upgrade import Admission

CLOSE_TOO_BIG = 1009
CLOSE_GOING_AWAY = 1001
CLOSE_ERROR = 1011
CLOSE_POLICY = 1008


class Session:
    """The life of one websocket: register, run the handler, dispatch messages, clean up."""

    def __init__(self, admission: Admission, connection: Connection) -> None:
        self.admission = admission
        self.app = admission.app
        self.hub = admission.hub
        self.limit = admission.settings.max_message_bytes
        self.idle_timeout = admission.settings.idle_timeout
        # Inbound rate: a token bucket holding one second's worth of messages, refilled continuously.
        self.rate = admission.settings.max_messages_per_second
        self._tokens = self._burst = max(self.rate, 1.0)
        loop = asyncio.get_running_loop()
        self.socket = Socket(
            uuid.uuid4().hex,
            self.app,
            connection,
            self.hub,
            admission.meta,
            loop,
            admission.settings.max_send_buffer_bytes,
        )
        self._refilled = time.monotonic()
        self._loop = loop
        self._timer: asyncio.TimerHandle | None = None
        self._done = False

    async def open(self) -> None:
        """Register the socket and run the app's `handle(socket, ctx)`."""
        sock = self.socket
        self.hub.add(sock)
        metrics.record_ws_connection(sock.app, +1)
        if not self.hub.watch(self.app):
            sock._close(CLOSE_GOING_AWAY, "app unloaded")
            return
        if self.idle_timeout > 0:
            self._timer = self._loop.call_later(self.idle_timeout, self._check_idle)
        await self._guard(
            "handle(socket, ctx)", run_script(self.app, self.admission.handler, sock, self.admission.ctx)
        )

    def receive(self, message: str | bytes) -> Awaitable[None] | None:
        """Handle one incoming message; an awaitable while callbacks run (the host awaits it)."""
        sock = self.socket
        if sock.closed:
            return None
        now = sock.last_active = time.monotonic()
        if self.rate and not self._take(now):
            sock._close(CLOSE_POLICY, f"more than {self.rate:g} messages per second", cause="rate_limited")
            return None
        if self._too_big(message):
            sock._close(CLOSE_TOO_BIG, f"message larger than {self.limit} bytes", cause="too_big")
            return None
        metrics.record_ws_message(sock.app, "in")
        callbacks = sock.message_callbacks
        if not callbacks:
            return None
        # Plain callbacks run right here; the first one that returns an awaitable hands the rest to a
        # coroutine, which the host awaits before it reads the next message.
        with app_context(self.app):
            for index, callback in enumerate(callbacks):
                try:
                    result = callback(message)
                except Exception:
                    self._failed("on_message callback")
                    return None
                if inspect.isawaitable(result):
                    return self._finish(result, callbacks[index + 1 :], message)
                if sock.closed:
                    return None
        return None

    def _take(self, now: float) -> bool:
        """Take one token from the inbound bucket; False if it is empty (over the rate)."""
        tokens = min(self._burst, self._tokens + (now - self._refilled) * self.rate)
        self._refilled = now
        if tokens < 1.0:
            self._tokens = tokens
            return False
        self._tokens = tokens - 1.0
        return True

    def _too_big(self, message: str | bytes) -> bool:
        size = len(message)
        if isinstance(message, str) and size * 4 > self.limit >= size:
            size = len(message.encode("utf-8"))
        return size > self.limit

    async def _finish(
        self, pending: Awaitable[Any], rest: list[Callable[..., Any]], message: str | bytes
    ) -> None:
        if not await self._guard("on_message callback", _wait(pending)):
            return
        for callback in rest:
            if self.socket.closed or not await self._guard(
                "on_message callback", run_callback(callback, message)
            ):
                return

    def closed(self, code: int | None = None, reason: str | None = None) -> None:
        """The connection is gone: forget the socket, free its slot, run its on_close callbacks."""
        if self._done:
            return
        self._done = True
        if self._timer is not None:
            self._timer.cancel()
        sock = self.socket
        if not sock.closed:
            sock.closed = True
            sock.close_code, sock.close_reason = code, reason
        self.hub.detach(sock)
        self.admission.release()
        metrics.record_ws_connection(sock.app, -1)
        if sock.close_callbacks:
            self.hub.spawn(self._after_close())

    async def _after_close(self) -> None:
        for callback in tuple(self.socket.close_callbacks):
            with app_context(self.app):
                try:
                    await run_callback(callback)
                except Exception:
                    self.app.log.exception("websocket %s: an on_close callback failed", self.socket.id)

    async def _guard(self, what: str, call: Coroutine[Any, Any, Any]) -> bool:
        """Await app code in the app's context; on error log it and close with 1011. True if it ran."""
        with app_context(self.app):
            try:
                await call
            except Exception:
                self._failed(what)
                return False
        return True

    def _failed(self, what: str) -> None:
        """Log the app code's exception (call from an except block) and close with 1011."""
        self.app.log.exception(
            "websocket %s of app '%s': %s failed; closing with 1011", self.socket.id, self.app.name, what
        )
        self.socket._close(CLOSE_ERROR, "handler error", cause="handler_error")

    def _check_idle(self) -> None:
        if self._done:
            return
        idle = time.monotonic() - self.socket.last_active
        if idle >= self.idle_timeout:
            self.socket._close(CLOSE_GOING_AWAY, "idle timeout", cause="idle")
        else:
            self._timer = self._loop.call_later(self.idle_timeout - idle, self._check_idle)


async def _wait(awaitable: Awaitable[Any]) -> Any:
    return await awaitable
