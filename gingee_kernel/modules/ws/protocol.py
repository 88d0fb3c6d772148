"""RFC 6455 close frames where Tornado's protocol drops the connection without one.

Tornado's `WebSocketProtocol13` answers a frame it cannot accept (reserved bits, a fragmented or
oversized control frame, a continuation of nothing, an unknown opcode, a text message that is not
UTF-8) by closing the TCP connection at once, so the client sees 1006. RFC 6455 §7.1.7 asks the server
to fail such a connection with a close frame first: 1007 for invalid UTF-8 (§8.1), 1002 for a protocol
error (§7.4.1). `StrictProtocol` sends that frame, then lets Tornado tear the connection down.

It leans on two of Tornado's internals, `_abort` (every path that drops the connection) and
`_handle_message` (where a text message is decoded); tests/modules/ws/test_protocol.py sends each kind
of bad frame over a raw socket, so a Tornado that changes them fails there, not in production.
"""

from __future__ import annotations

from typing import Any

from tornado.websocket import WebSocketProtocol13

CLOSE_PROTOCOL_ERROR = 1002
CLOSE_INVALID_DATA = 1007
_TEXT = 0x1

_PROTOCOL_ERROR = (CLOSE_PROTOCOL_ERROR, "protocol error", "protocol_error")
_INVALID_UTF8 = (CLOSE_INVALID_DATA, "invalid UTF-8 in a text message", "invalid_utf8")


class StrictProtocol(WebSocketProtocol13):
    """Tornado's RFC 6455 protocol, closing with 1002 or 1007 where Tornado would just drop the TCP link."""

    _failure = _PROTOCOL_ERROR

    def _handle_message(self, opcode: int, data: bytes) -> Any:
        if opcode != _TEXT:
            return super()._handle_message(opcode, data)
        self._failure = _INVALID_UTF8  # an abort while decoding this message means its bytes were not UTF-8
        try:
            return super()._handle_message(opcode, data)
        finally:
            self._failure = _PROTOCOL_ERROR

    def _abort(self) -> None:
        # Drops of a connection already closing (the peer went away, the close handshake timed out, a
        # close frame was already sent) stay as they are; anything else is the peer breaking the protocol.
        stream = self.stream
        if not self.server_terminated and stream is not None and not stream.closed():
            code, reason, cause = self._failure
            self.close(code, reason)
            failed = getattr(self.handler, "protocol_failed", None)
            if failed is not None:
                failed(cause)
        super()._abort()
