"""A refusal that a `@stream_request_body` Tornado handler decides before it has read the request body
(a stranger, a missing token, a declared size over the limit), answered once the body is read.

Answering at once makes Tornado close the connection with the body unread, which resets it, and the
client, still sending, often never sees the answer. So the refusal waits until the body has arrived (and
been thrown away), and the handler's method answers it. A body past `discard` bytes is not worth reading:
then the refusal is answered at once, saying `Connection: close` so a keep-alive client does not reuse the
connection. `discard=0` answers at once whenever a body is coming, and waits only for body-less requests.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import tornado.web

Reply = Callable[[int, dict[str, Any]], None]


def json_reply(handler: tornado.web.RequestHandler) -> Reply:
    """Finish `handler` with `status` and `body` as JSON (the default reply)."""

    def reply(status: int, body: dict[str, Any]) -> None:
        handler.set_status(status)
        handler.set_header("Content-Type", "application/json")
        handler.finish(json.dumps(body))

    return reply


class DeferredRefusal:
    """The one refusal of a request to `handler`: `refuse` it (from prepare or data_received), tell it how
    much body has been read with `received`, and `answer` it from the method handler."""

    __slots__ = ("answered", "body", "discard", "handler", "reply", "status")

    def __init__(self, handler: tornado.web.RequestHandler, discard: int, reply: Reply | None = None) -> None:
        self.handler = handler
        self.discard = discard
        self.reply = reply or json_reply(handler)
        self.status = 0
        self.body: dict[str, Any] | None = None
        self.answered = False

    @property
    def pending(self) -> bool:
        """Whether the request was refused (answered or not yet)."""
        return self.body is not None

    def refuse(self, status: int, body: dict[str, Any], read: int = 0) -> None:
        """Refuse the request (the first refusal wins); `read`: body bytes read so far. Answered now if the
        body, as declared or as read, is past `discard`; else when the method handler calls `answer`."""
        if self.body is None:
            self.status, self.body = status, body
        length = self.handler.request.headers.get("Content-Length")
        declared = int(length) if length is not None and length.isdigit() else 0
        if max(declared, read) > self.discard:
            self._answer(close=True)

    def received(self, read: int) -> None:
        """`read` body bytes have arrived so far (the handler drops them): past `discard`, answer now."""
        if read > self.discard:
            self._answer(close=True)

    def answer(self) -> bool:
        """From the method handler: answer the refusal if there is one (True), else False."""
        if self.body is None:
            return False
        self._answer(close=False)
        return True

    def _answer(self, close: bool) -> None:
        if self.answered:
            return
        self.answered = True
        if close:
            self.handler.set_header("Connection", "close")
        assert self.body is not None
        self.reply(self.status, self.body)
