"""Where the client's browser sees the server (the scheme, host and path prefix that precede `/<app>`),
and who the client is (`client_ip`).

Links and redirects back to an app (a login's redirect URI, its cookies' Path) must use the URL the user's
browser sees, not the socket's. A host builds it from the request; `X-Forwarded-Proto`, `X-Forwarded-Host`
and `X-Forwarded-Prefix` are believed only from a proxy listed in gingee.json `server.trusted_proxies`
(anyone else could send them to make the server hand out links to another site).
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable, Mapping

_Network = ipaddress.IPv4Network | ipaddress.IPv6Network


class TrustedProxies:
    """The proxies whose forwarding headers are believed (none by default)."""

    __slots__ = ("networks",)

    def __init__(self, entries: Iterable[str] = ()) -> None:
        self.networks: tuple[_Network, ...] = tuple(ipaddress.ip_network(e, strict=False) for e in entries)

    def __bool__(self) -> bool:
        return bool(self.networks)

    def trusts(self, remote_ip: str) -> bool:
        """Whether the peer at `remote_ip` is one of the trusted proxies."""
        if not self.networks or not remote_ip:
            return False
        try:
            ip = ipaddress.ip_address(remote_ip)
        except ValueError:
            return False
        return any(ip in network for network in self.networks)


def _first(value: str | None) -> str:
    """The first (client-side) entry of a comma-separated forwarding header, stripped."""
    return value.split(",", 1)[0].strip() if value else ""


def _clean_prefix(prefix: str) -> str:
    """A path prefix without its trailing slash; "" unless it is a plain absolute path."""
    prefix = prefix.strip()
    if not prefix.startswith("/") or prefix.startswith("//") or any(c in prefix for c in "\\?#\r\n\t "):
        return ""
    return prefix.rstrip("/")


def public_root(
    scheme: str,
    host: str,
    prefix: str,
    headers: Mapping[str, str],
    remote_ip: str,
    trusted: TrustedProxies,
) -> str:
    """`scheme://host/prefix` as the browser sees it: the request's own values, or a trusted proxy's."""
    if trusted and trusted.trusts(remote_ip):
        proto = _first(headers.get("X-Forwarded-Proto")).lower()
        if proto in ("http", "https"):
            scheme = proto
        forwarded_host = _first(headers.get("X-Forwarded-Host"))
        if forwarded_host and _host_like(forwarded_host):
            host = forwarded_host
        forwarded_prefix = _clean_prefix(_first(headers.get("X-Forwarded-Prefix")))
        if forwarded_prefix:
            prefix = forwarded_prefix + prefix
    return f"{scheme}://{host}{prefix}"


def client_ip(remote_ip: str, headers: Mapping[str, str], trusted: TrustedProxies) -> str:
    """The client's address: the socket peer's, or, when that peer is a trusted proxy, the nearest address
    in `X-Forwarded-For` that is not itself a trusted proxy (read right to left: the entries left of an
    untrusted hop are whatever the client chose to send)."""
    if not (trusted and trusted.trusts(remote_ip)):
        return remote_ip
    get_list = getattr(headers, "get_list", None)  # Tornado's HTTPHeaders: every X-Forwarded-For line
    lines = get_list("X-Forwarded-For") if get_list is not None else [headers.get("X-Forwarded-For") or ""]
    hops = [hop.strip() for line in lines for hop in line.split(",") if hop.strip()]
    for hop in reversed(hops):
        try:
            ipaddress.ip_address(hop)
        except ValueError:
            return remote_ip  # a garbled header: believe only the socket
        if not trusted.trusts(hop):
            return hop
    return hops[0] if hops else remote_ip


def _host_like(host: str) -> bool:
    """A host[:port] with no path, credentials or whitespace in it."""
    return all(c.isalnum() or c in ".-:[]_" for c in host)
