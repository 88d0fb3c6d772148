"""Errors Tornado answers by itself (405 for a method a handler lacks, 400 for a malformed request, an
HTTPError) written as Gingee's JSON `{error, reason}` instead of Tornado's HTML page, with no traceback.

A handler that streams request bodies (`streams_body`) may get such an answer before Tornado has read the
request to its end (a 405 is decided before the handler runs); Tornado then closes the connection once the
request has been read. Those answers say `Connection: close`, so a keep-alive client does not send its next
request down a connection that is about to close.

A 405 says which methods the handler serves (`Allow`, RFC 9110 15.5.6)."""

from __future__ import annotations

import json
from http.client import responses
from typing import Any

import tornado.web

ERROR_CODES = {
    400: "BAD_REQUEST", 403: "ACCESS_DENIED", 404: "NOT_FOUND", 405: "METHOD_NOT_ALLOWED",
    411: "LENGTH_REQUIRED", 413: "PAYLOAD_TOO_LARGE", 415: "UNSUPPORTED_MEDIA_TYPE",
}  # fmt: skip


def write_json_error(handler: tornado.web.RequestHandler, status_code: int, exc_info: Any) -> None:
    """Finish `handler` with a JSON error for a Tornado HTTPError (or anything else: a 500 without detail)."""
    exc = exc_info[1] if exc_info else None
    reason = exc.log_message if isinstance(exc, tornado.web.HTTPError) and exc.log_message else None
    body = {
        "error": ERROR_CODES.get(status_code, "INTERNAL_SERVER_ERROR" if status_code >= 500 else "ERROR"),
        "reason": reason or responses.get(status_code, "error"),
    }
    handler.set_header("Content-Type", "application/json")
    if status_code == 405:
        handler.set_header("Allow", ", ".join(allowed_methods(handler)))
    if getattr(handler, "streams_body", False):
        handler.set_header("Connection", "close")
    handler.finish(json.dumps(body))


def allowed_methods(handler: tornado.web.RequestHandler) -> list[str]:
    """The methods of `handler.SUPPORTED_METHODS` that its class implements (RequestHandler's own `get`,
    `post`... answer 405 too)."""
    base, cls = tornado.web.RequestHandler, type(handler)
    return [
        m
        for m in handler.SUPPORTED_METHODS
        if getattr(cls, m.lower(), None) not in (None, getattr(base, m.lower(), None))
    ]


class JsonErrors(tornado.web.RequestHandler):
    """A handler whose Tornado-made errors are JSON."""

    #: True on a `@stream_request_body` handler (see the module's docstring).
    streams_body = False

    def write_error(self, status_code: int, **kwargs: Any) -> None:
        write_json_error(self, status_code, kwargs.get("exc_info"))
