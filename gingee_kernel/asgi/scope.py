"""What hosts read from an ASGI scope, as the Tornado host reads it from a request."""

from __future__ import annotations

import re
from typing import Any

import tornado.httputil

#: A Host header as Tornado accepts it (tornado.httputil's ABNF: an RFC 3986 host, then an optional port).
_HOST = re.compile(r"(?:[\[\]:A-Za-z0-9\-._~!$&'()*+,;=]|%[0-9A-Fa-f]{2})*(?::[0-9]*)?")


def request_headers(scope: dict[str, Any]) -> tornado.httputil.HTTPHeaders:
    """The request headers as Tornado's HTTPHeaders (case-insensitive, repeated names kept), the type the
    engine and the Tornado handlers get on the Tornado host."""
    headers = tornado.httputil.HTTPHeaders()
    for name, value in scope["headers"]:
        headers.add(name.decode("latin-1"), value.decode("latin-1"))
    return headers


def raw_path(scope: dict[str, Any]) -> str:
    """The path as the client sent it (percent-encoded), as the engine routes it."""
    raw = scope.get("raw_path")
    return raw.decode("latin-1") if raw else scope["path"]


def unreadable(scope: dict[str, Any]) -> str | None:
    """Why the Tornado host would refuse to read this request (its HTTP/1 parser answers a bare 400), or
    None. What one server reads and another does not is how requests are smuggled past a proxy, so the
    ASGI host refuses the same: an HTTP/1.1 request without exactly one valid Host header (RFC 9112 3.2),
    and any Transfer-Encoding but `chunked` (uvicorn would read `gzip, chunked` as chunked)."""
    hosts: list[bytes] = []
    encodings: list[bytes] = []
    for name, value in scope["headers"]:
        if name == b"host":
            hosts.append(value)
        elif name == b"transfer-encoding":
            encodings.append(value)
    if encodings and (len(encodings) > 1 or encodings[0].lower() != b"chunked"):
        return f"unsupported Transfer-Encoding {b', '.join(encodings).decode('latin-1')!r}"
    if not hosts:
        # HTTP/1.0 needs none; nor does HTTP/2, whose :authority the server may not pass on as Host.
        return "missing Host header" if scope.get("http_version", "1.1") == "1.1" else None
    host = hosts[0].decode("latin-1")
    if len(hosts) > 1 or "," in host:
        return "more than one Host header"
    if _HOST.fullmatch(host) is None:
        return f"invalid Host header {host!r}"
    return None
