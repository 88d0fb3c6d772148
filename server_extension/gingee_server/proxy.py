"""The live-app proxy: which headers go to the kernel and back, and one shared `KernelClient`.

The kernel's server answers only requests carrying its registration's secret; it learns its public prefix
from `PREFIX_HEADER`, and that the operator asks from `OPERATOR_HEADER`. Hop-by-hop headers are dropped both
ways (and any secret, prefix or operator claim the client sent); the answer is relayed chunk by chunk as it
arrives, so server-sent events flow, and a client that leaves closes the kernel's side. Redirects are
relayed, never followed.
"""

from __future__ import annotations

from collections.abc import Iterable

from tornado.httputil import HTTPHeaders

from gingee_kernel.live import OPERATOR_HEADER, PREFIX_HEADER, SECRET_HEADER, Registration

from .kernel_client import KernelClient, Outcome, Sink

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
_NOT_FORWARDED = HOP_BY_HOP | {
    "content-length", "expect", SECRET_HEADER.lower(), PREFIX_HEADER.lower(), OPERATOR_HEADER.lower()
}  # fmt: skip

__all__ = ["HOP_BY_HOP", "LiveProxy", "Outcome", "Sink", "forward_headers", "response_headers"]


class LiveProxy:
    """Forwards requests to kernels' loopback servers over one shared client."""

    def __init__(self, connect_timeout: float = 3.0, response_timeout: float | None = 120.0) -> None:
        self.client = KernelClient(connect_timeout, response_timeout)
        self.connect_timeout = connect_timeout

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
        operator: bool = False,
    ) -> Outcome:
        """Send one request to `registration`'s kernel and relay its answer into `sink`."""
        outgoing = HTTPHeaders()
        for name, value in forward_headers(headers):
            outgoing.add(name, value)
        outgoing[SECRET_HEADER] = registration.secret
        outgoing[PREFIX_HEADER] = prefix
        outgoing["X-Forwarded-Proto"] = scheme
        if operator:
            outgoing[OPERATOR_HEADER] = "1"
        if client_ip:
            outgoing["X-Forwarded-For"] = client_ip
        target = path + (f"?{query}" if query else "")
        return await self.client.send(registration.port, method, target, outgoing, body, sink)

    def forget(self, registration: Registration) -> None:
        """Drop kept-alive connections to a kernel that is gone."""
        self.client.forget(registration.port)

    async def close(self) -> None:
        """Close the shared client's connections."""
        self.client.close()


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


def response_headers(headers: Iterable[tuple[str, str]]) -> list[tuple[str, str]]:
    """The kernel's response headers to relay: all but hop-by-hop ones."""
    pairs = list(headers)
    dropped = HOP_BY_HOP | _connection_tokens(pairs)
    return [(name, value) for name, value in pairs if name.lower() not in dropped]
