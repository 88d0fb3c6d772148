"""`g.response`: what a script sends back, buffered or streamed (server-sent events)."""

from __future__ import annotations

import logging
from collections.abc import Awaitable
from http.cookies import SimpleCookie
from typing import Any, Protocol

from .json_text import json_bytes, json_text

log = logging.getLogger("gingee.engine")


class Transport(Protocol):
    """How a host writes a streamed response; the Tornado adapter implements it."""

    def start(self, status: int, headers: list[tuple[str, str]]) -> Awaitable[None]:
        """Send the status line and headers."""

    def write(self, chunk: bytes) -> Awaitable[None]:
        """Send one chunk and flush it to the client."""

    def finish(self) -> Awaitable[None]:
        """End the response."""


def encode_body(data: Any, content_type: str | None) -> tuple[bytes, str]:
    """Bytes and content type for `data`: dict/list/number/bool/None as JSON, str as text, bytes as-is
    (typed by their own `content_type` if they carry one, as the image, chart, qrcode and pdf outputs do)."""
    kind = type(data)
    if kind is dict or kind is list:
        return json_bytes(data), content_type or "application/json"
    if isinstance(data, bytes | bytearray | memoryview):
        return bytes(data), content_type or getattr(data, "content_type", None) or "application/octet-stream"
    if isinstance(data, str):
        return data.encode("utf-8"), content_type or "text/plain; charset=utf-8"
    return json_bytes(data), content_type or "application/json"


class Response:
    """Status, headers, cookies and body of the reply; `send` may be called once."""

    __slots__ = ("_cookies", "_raw_cookies", "_stream", "_transport", "body", "headers", "sent", "status")

    def __init__(self, transport: Transport | None = None) -> None:
        self.status = 200
        self.headers: dict[str, str] = {}
        self.body: bytes | None = None
        self.sent = False
        self._cookies: SimpleCookie | None = None
        self._raw_cookies: list[str] | None = None
        self._transport = transport
        self._stream = False

    @property
    def streaming(self) -> bool:
        """True once `stream()` started a streamed reply."""
        return self._stream

    def send(self, data: Any = None, status: int | None = None, content_type: str | None = None) -> None:
        """Set the reply body: JSON for dicts and lists, text for str, raw for bytes."""
        if self.sent:
            log.error("response already sent: a second send() was ignored (status %s)", status or self.status)
            return
        self.body, self.headers["Content-Type"] = encode_body(data, content_type)
        if status is not None:
            self.status = status
        self.sent = True

    def set_header(self, name: str, value: str) -> None:
        """Set one response header."""
        self.headers[name] = value

    def set_cookie(
        self,
        name: str,
        value: str,
        *,
        max_age: int | None = None,
        expires: str | None = None,
        path: str = "/",
        domain: str | None = None,
        secure: bool = False,
        httponly: bool = True,
        samesite: str | None = "Lax",
    ) -> None:
        """Add a Set-Cookie header with the given attributes (HttpOnly and SameSite=Lax by default)."""
        jar = self._cookies if self._cookies is not None else SimpleCookie()
        self._cookies = jar
        jar[name] = value
        morsel = jar[name]
        morsel["path"] = path
        if max_age is not None:
            morsel["max-age"] = str(max_age)
        if expires:
            morsel["expires"] = expires
        if domain:
            morsel["domain"] = domain
        if secure:
            morsel["secure"] = True
        if httponly:
            morsel["httponly"] = True
        if samesite:
            morsel["samesite"] = samesite

    def delete_cookie(self, name: str, *, path: str = "/", domain: str | None = None) -> None:
        """Tell the client to drop a cookie."""
        self.set_cookie(
            name, "", max_age=0, expires="Thu, 01 Jan 1970 00:00:00 GMT", path=path, domain=domain
        )

    def redirect(self, url: str, status: int = 302) -> None:
        """Reply with a redirect to `url`."""
        if not 300 <= status < 400:
            raise ValueError(f"redirect status must be 3xx, got {status}")
        self.headers["Location"] = url
        self.send(b"", status=status, content_type="text/plain")

    def add_set_cookie(self, line: str) -> None:
        """Add a Set-Cookie header line as it is (a reply relayed from an isolated app's worker)."""
        if self._raw_cookies is None:
            self._raw_cookies = []
        self._raw_cookies.append(line)

    def header_lines(self) -> list[tuple[str, str]]:
        """Every header to send, Set-Cookie lines included."""
        lines = list(self.headers.items())
        if self._cookies or self._raw_cookies:
            lines.extend(self.cookie_lines())
        return lines

    def cookie_lines(self) -> list[tuple[str, str]]:
        """The Set-Cookie header lines of the cookies set or deleted (empty if none)."""
        lines = [("Set-Cookie", line) for line in self._raw_cookies or ()]
        if self._cookies:
            lines.extend(("Set-Cookie", m.OutputString()) for m in self._cookies.values())
        return lines

    async def stream(self, status: int = 200, content_type: str = "text/event-stream; charset=utf-8") -> None:
        """Start a streamed reply (server-sent events by default); then `write`/`write_sse`, `end`."""
        if self.sent:
            raise RuntimeError("response already sent; stream() must come before send()")
        if self._transport is None:
            raise RuntimeError("this host cannot stream responses")
        self.status = status
        self.headers["Content-Type"] = content_type
        self.headers.setdefault("Cache-Control", "no-cache, no-transform")
        self.headers.setdefault("X-Accel-Buffering", "no")
        self.sent = True
        self._stream = True
        await self._start(status)

    async def _start(self, status: int) -> None:
        """Send the head of a streamed reply, with the security headers the engine adds to every other
        reply once it is dispatched (too late for a stream's)."""
        from .dispatch import SECURITY_HEADERS  # dispatch imports this module

        assert self._transport is not None
        for name, value in SECURITY_HEADERS.items():
            self.headers.setdefault(name, value)
        await self._transport.start(status, self.header_lines())

    def relayed(self, status: int, lines: list[tuple[str, str]] | list[list[str]]) -> None:
        """Take the status and header lines an isolated app's worker answered with (Set-Cookie kept as is)."""
        self.status = status
        for name, value in lines:
            if name.lower() == "set-cookie":
                self.add_set_cookie(value)
            else:
                self.headers[name] = value

    async def stream_relayed(self, status: int, lines: list[tuple[str, str]] | list[list[str]]) -> None:
        """Start a streamed reply with the status and header lines an isolated app's worker sent."""
        if self._transport is None:
            raise RuntimeError("this host cannot stream responses")
        self.relayed(status, lines)
        self.sent = True
        self._stream = True
        await self._start(status)

    async def send_object(self, store: Any, key: str, *, cache_control: str | None = None) -> None:
        """Reply with a stored object, streamed: its content type and ETag, `Range` (206) and
        `If-None-Match` (304) handled. `store` is a `storage.store(...)` or a store name (None: the
        app's first); needs the `storage` grant. ObjectNotFound becomes 404."""
        from .objects import send_object

        await send_object(self, store, key, cache_control=cache_control)

    async def write(self, chunk: str | bytes) -> None:
        """Write one chunk of a streamed reply and flush it."""
        if not self._stream or self._transport is None:
            raise RuntimeError("call await g.response.stream() before write()")
        await self._transport.write(chunk.encode("utf-8") if isinstance(chunk, str) else chunk)

    async def write_sse(self, data: Any, *, event: str | None = None, id: str | None = None) -> None:
        """Write one server-sent event; `data` that is not a str is sent as JSON."""
        text = data if isinstance(data, str) else json_text(data)
        lines = [f"event: {event}"] if event else []
        if id is not None:
            lines.append(f"id: {id}")
        lines.extend(f"data: {line}" for line in text.split("\n"))
        await self.write("\n".join(lines) + "\n\n")

    async def end(self) -> None:
        """Finish a streamed reply."""
        if self._stream and self._transport is not None:
            self._stream = False
            await self._transport.finish()
