"""HTTP/1.1 to kernels' loopback servers over kept-alive connections, with Tornado's own HTTP/1 code.

A general client (httpx, Tornado's AsyncHTTPClient) spends about a millisecond of the Jupyter process's
CPU per request; this one writes the request and parses the answer with `HTTP1Connection` (what Tornado's
server uses) over pooled `IOStream`s, so the proxy costs a fraction of that. The peer is always a
kernel's Tornado server on 127.0.0.1, which keeps HTTP/1.1 connections alive.
"""

from __future__ import annotations

import asyncio
import contextlib
import enum
from collections.abc import Awaitable
from typing import Protocol

from tornado import httputil
from tornado.http1connection import HTTP1Connection, HTTP1ConnectionParameters
from tornado.iostream import IOStream, StreamClosedError
from tornado.tcpclient import TCPClient

MAX_IDLE_PER_PORT = 32


class Outcome(enum.Enum):
    """How a request to a kernel ended."""

    RELAYED = "relayed"  # the kernel answered and the answer was relayed (or the client left)
    REFUSED = "refused"  # nothing listens on the port any more: the registration is stale
    UNREACHABLE = "unreachable"  # the kernel did not accept the connection in time, or dropped it
    TIMEOUT = "timeout"  # the kernel accepted the request but sent no answer in time
    BROKEN = "broken"  # the kernel's answer broke off after it had started


class Sink(Protocol):
    """Where a kernel's answer goes (the Tornado handler implements it)."""

    def start(self, status: int, reason: str, headers: httputil.HTTPHeaders) -> Awaitable[None]:
        """Set the status line and headers; send them at once if the body is streamed."""

    def write(self, chunk: bytes) -> Awaitable[None]:
        """Send one chunk (raises StreamClosedError if the client has gone)."""


class _Relay(httputil.HTTPMessageDelegate):
    """Receives one answer from the kernel and passes it on; never raises into Tornado's reader."""

    def __init__(self, sink: Sink, stream: IOStream) -> None:
        self.sink = sink
        self.stream = stream
        self.started = False
        self.finished = False
        self.client_gone = False
        self.keep_alive = False

    async def headers_received(
        self,
        start_line: httputil.RequestStartLine | httputil.ResponseStartLine,
        headers: httputil.HTTPHeaders,
    ) -> None:
        assert isinstance(start_line, httputil.ResponseStartLine)
        self.started = True
        self.keep_alive = (
            start_line.version == "HTTP/1.1" and "close" not in headers.get("Connection", "").lower()
        )
        try:
            await self.sink.start(start_line.code, start_line.reason, headers)
        except StreamClosedError:
            self._client_left()

    async def data_received(self, chunk: bytes) -> None:
        if self.client_gone:
            return
        try:
            await self.sink.write(chunk)
        except StreamClosedError:
            self._client_left()

    def finish(self) -> None:
        self.finished = True

    def _client_left(self) -> None:
        self.client_gone = True
        self.stream.close()  # stop reading the kernel's answer (an event stream would never end)


class KernelClient:
    """Sends requests to `127.0.0.1:<port>` and relays the answers; one pool of idle connections."""

    def __init__(self, connect_timeout: float = 3.0, response_timeout: float | None = 120.0) -> None:
        if connect_timeout <= 0:
            raise ValueError(f"connect_timeout must be > 0 seconds, got {connect_timeout}")
        if response_timeout is not None and response_timeout <= 0:
            raise ValueError(f"response_timeout must be > 0 seconds or None, got {response_timeout}")
        self.connect_timeout = connect_timeout
        self.params = HTTP1ConnectionParameters(
            no_keep_alive=False, decompress=False, header_timeout=response_timeout, max_body_size=2**40
        )
        self._tcp = TCPClient()
        self._idle: dict[int, list[IOStream]] = {}

    async def send(
        self,
        port: int,
        method: str,
        target: str,
        headers: httputil.HTTPHeaders,
        body: bytes,
        sink: Sink,
    ) -> Outcome:
        """Send one request and relay its answer into `sink`; a stale pooled connection is retried once."""
        if body or method in ("POST", "PUT", "PATCH"):
            headers["Content-Length"] = str(len(body))
        headers.setdefault("Host", f"127.0.0.1:{port}")
        start = httputil.RequestStartLine(method, target, "HTTP/1.1")
        for reused in (True, False):
            stream = self._checkout(port) if reused else None
            if reused and stream is None:
                continue
            if stream is None:
                try:
                    stream = await self._tcp.connect("127.0.0.1", port, timeout=self.connect_timeout)
                except (OSError, asyncio.TimeoutError, StreamClosedError) as error:
                    cause = getattr(error, "real_error", None) or error
                    return (
                        Outcome.REFUSED if isinstance(cause, ConnectionRefusedError) else Outcome.UNREACHABLE
                    )
            outcome = await self._exchange(port, stream, start, headers, body, sink)
            if outcome is not None:
                return outcome
        return Outcome.UNREACHABLE

    async def _exchange(
        self,
        port: int,
        stream: IOStream,
        start: httputil.RequestStartLine,
        headers: httputil.HTTPHeaders,
        body: bytes,
        sink: Sink,
    ) -> Outcome | None:
        """One request on one connection; None if the connection was dead before any answer."""
        connection = HTTP1Connection(stream, True, self.params)
        relay = _Relay(sink, stream)
        reusable = False
        try:
            await connection.write_headers(start, headers)
            if body:
                await connection.write(body)
            connection.finish()
            open_after = await connection.read_response(relay)
            reusable = open_after and relay.finished and relay.keep_alive
        except StreamClosedError:
            if not relay.started:
                return None
        finally:
            if reusable:
                self._checkin(port, stream)
            else:
                stream.close()
        if relay.client_gone or relay.finished:
            return Outcome.RELAYED
        if relay.started:
            return Outcome.BROKEN
        return Outcome.TIMEOUT

    def _checkout(self, port: int) -> IOStream | None:
        idle = self._idle.get(port)
        while idle:
            stream = idle.pop()
            if not stream.closed():
                return stream
        return None

    def _checkin(self, port: int, stream: IOStream) -> None:
        idle = self._idle.setdefault(port, [])
        if len(idle) < MAX_IDLE_PER_PORT:
            idle.append(stream)
        else:
            stream.close()

    def forget(self, port: int) -> None:
        """Close the idle connections to a port (its kernel is gone)."""
        for stream in self._idle.pop(port, []):
            stream.close()

    def close(self) -> None:
        """Close every idle connection."""
        for port in list(self._idle):
            self.forget(port)
        with contextlib.suppress(Exception):
            self._tcp.close()
