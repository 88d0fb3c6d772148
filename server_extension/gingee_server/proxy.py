"""The live-app proxy: one request from Jupyter's Tornado to the kernel's loopback server, streamed back.

One shared httpx client (kept-alive connections, no redirects followed, a short connect timeout). The
kernel's server answers only requests carrying its registration's secret; it learns its public prefix
from `PREFIX_HEADER`. Hop-by-hop headers are dropped both ways; the body is relayed chunk by chunk as it
arrives, so server-sent events flow, and closing the client's side closes the kernel's.
"""

from __future__ import annotations

import enum
from collections.abc import Awaitable, Iterable
from typing import Protocol

import httpx

from gingee_kernel.live import PREFIX_HEADER, SECRET_HEADER, Registration

HOP_BY_HOP = frozenset(
    {
        "connection",
        "keep-alive",
        "proxy-authenticate",
        "proxy-authorization",
        "proxy-connection",
        "te",
        "trailer",
        "trailers",
        "transfer-encoding",
        "upgrade",
    }
)
#: Request headers never forwarded: hop-by-hop, framing (recomputed), and our own (set by the proxy).
_NOT_FORWARDED = HOP_BY_HOP | {"content-length", "expect", SECRET_HEADER.lower(), PREFIX_HEADER.lower()}
#: Headers httpx adds on its own; removed again unless the client sent them.
_CLIENT_DEFAULTS = ("accept", "accept-encoding", "user-agent")


class Outcome(enum.Enum):
    """How a proxied request ended."""

    RELAYED = "relayed"  # the kernel answered and the answer was relayed (or the client left)
    REFUSED = "refused"  # nothing listens on the port any more: the registration is stale
    UNREACHABLE = "unreachable"  # the kernel did not accept the connection in time, or broke it
    BROKEN = "broken"  # the kernel's answer broke off after it had started


class Sink(Protocol):
    """Where the proxy writes the kernel's answer (the Tornado handler implements it)."""

    def start(self, status: int, reason: str, headers: list[tuple[str, str]]) -> Awaitable[None]:
        """Set the status line and headers; send them at once if the body is streamed."""

    def write(self, chunk: bytes) -> Awaitable[None]:
        """Send one chunk (and the headers before the first one)."""


class LiveProxy:
    """Forwards requests to kernels' loopback servers over one shared client."""

    def __init__(self, connect_timeout: float = 3.0, read_timeout: float | None = None) -> None:
        if connect_timeout <= 0:
            raise ValueError(f"connect_timeout must be > 0 seconds, got {connect_timeout}")
        if read_timeout is not None and read_timeout <= 0:
            raise ValueError(f"read_timeout must be > 0 seconds or None (no limit), got {read_timeout}")
        self.timeout = httpx.Timeout(
            connect=connect_timeout, read=read_timeout, write=30.0, pool=connect_timeout
        )
        self._client: httpx.AsyncClient | None = None

    @property
    def client(self) -> httpx.AsyncClient:
        """The shared client, created on first use (on the server's event loop)."""
        if self._client is None:
            self._client = httpx.AsyncClient(
                timeout=self.timeout,
                follow_redirects=False,
                trust_env=False,
                limits=httpx.Limits(max_connections=None, max_keepalive_connections=32),
            )
        return self._client

    async def forward(
        self,
        registration: Registration,
        method: str,
        path: str,
        query: str,
        headers: Iterable[tuple[str, str]],
        body: bytes,
        sink: Sink,
        *,
        prefix: str,
        client_ip: str = "",
        scheme: str = "http",
    ) -> Outcome:
        """Send one request to `registration`'s kernel and relay its answer into `sink`."""
        url = f"http://127.0.0.1:{registration.port}{path}" + (f"?{query}" if query else "")
        outgoing = forward_headers(headers)
        sent = {name.lower() for name, _ in outgoing}
        outgoing += [
            (SECRET_HEADER, registration.secret),
            (PREFIX_HEADER, prefix),
            ("X-Forwarded-Proto", scheme),
        ]
        if client_ip:
            outgoing.append(("X-Forwarded-For", client_ip))
        content = body if body or method in ("POST", "PUT", "PATCH") else None
        request = self.client.build_request(method, httpx.URL(url), headers=outgoing, content=content)
        for name in _CLIENT_DEFAULTS:
            if name not in sent:
                request.headers.pop(name, None)
        try:
            response = await self.client.send(request, stream=True)
        except httpx.ConnectError:
            return Outcome.REFUSED
        except (httpx.TimeoutException, httpx.TransportError):
            return Outcome.UNREACHABLE
        try:
            await sink.start(response.status_code, response.reason_phrase, response_headers(response))
            try:
                async for chunk in response.aiter_raw():
                    await sink.write(chunk)
            except httpx.HTTPError:
                return Outcome.BROKEN
        finally:
            await response.aclose()
        return Outcome.RELAYED

    async def close(self) -> None:
        """Close the shared client and its connections."""
        if self._client is not None:
            await self._client.aclose()
            self._client = None


def _connection_tokens(headers: Iterable[tuple[str, str]]) -> set[str]:
    return {
        token.strip().lower()
        for name, value in headers
        if name.lower() == "connection"
        for token in value.split(",")
        if token.strip()
    }


def forward_headers(headers: Iterable[tuple[str, str]]) -> list[tuple[str, str]]:
    """The request headers to send on: all but hop-by-hop ones (and those `Connection` names)."""
    pairs = list(headers)
    dropped = _NOT_FORWARDED | _connection_tokens(pairs)
    return [(name, value) for name, value in pairs if name.lower() not in dropped]


def response_headers(response: httpx.Response) -> list[tuple[str, str]]:
    """The kernel's response headers to relay: all but hop-by-hop ones."""
    pairs = response.headers.multi_items()
    dropped = HOP_BY_HOP | _connection_tokens(pairs)
    return [(name, value) for name, value in pairs if name.lower() not in dropped]
