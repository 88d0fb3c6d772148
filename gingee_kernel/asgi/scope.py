"""What hosts read from an ASGI scope, as the Tornado host reads it from a request."""

from __future__ import annotations

from typing import Any

import tornado.httputil


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
