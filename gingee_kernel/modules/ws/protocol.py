"""RFC 6455 close frames where Tornado's protocol drops the connection without one.

Tornado's `WebSocketProtocol13` answers a frame it cannot accept (reserved bits, a fragmented or
oversized control frame, a continuation of nothing, an unknown opcode, a text message that is not
UTF-8) by closing the TCP connection at once, so the client sees 1006. RFC 6455 §7.1.7 asks the server
to fail such a connection with a close frame first: 1007 for invalid UTF-8 (§8.1), 1002 for a protocol
error (§7.4.1). `StrictProtocol` sends that frame, then lets Tornado tear the connection down.

It fails a client's close frame that Tornado would echo, as the ASGI server (websockets) does: 1002 for a
one-byte payload or a close code that §7.4 does not let an endpoint send (999, 1005, 2000...), 1007 for
a reason that is not UTF-8.

It leans on two of Tornado's internals, `_abort` (every path that drops the connection) and
`_handle_message` (where a text message is decoded); tests/modules/ws/test_protocol.py sends each kind
of bad frame over a raw socket, so a Tornado that changes them fails there, not in production.
"""

from __future__ import annotations

from typing import Any

from tornado.websocket import WebSocketProtocol13

CLOSE_PROTOCOL_ERROR = 1002
CLOSE_INVALID_DATA = 1007
#: The close codes a peer may send (RFC 6455 §7.4.1 and IANA's registry; websockets' EXTERNAL_CLOSE_CODES),
#: besides 3000-4999 (libraries', applications').
SENDABLE_CLOSE_CODES = frozenset({1000, 1001, 1002, 1003, 1007, 1008, 1009, 1010, 1011, 1012, 1013, 1014})
_TEXT = 0x1
_CLOSE = 0x8

_PROTOCOL_ERROR = (CLOSE_PROTOCOL_ERROR, "protocol error", "protocol_error")
_INVALID_UTF8 = (CLOSE_INVALID_DATA, "invalid UTF-8 in a text message", "invalid_utf8")
_INVALID_REASON = (CLOSE_INVALID_DATA, "invalid UTF-8 in a close reason", "invalid_utf8")


class StrictProtocol(WebSocketProtocol13):
    """Tornado's RFC 6455 protocol, closing with 1002 or 1007 where Tornado would just drop the TCP link."""

    _failure = _PROTOCOL_ERROR

    def _handle_message(self, opcode: int, data: bytes) -> Any:
        if opcode == _CLOSE and not self.client_terminated:
            failure = _close_failure(data)
            if failure is not None:
                self._failure = failure
                self._abort()
                return None
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


def _close_failure(data: bytes) -> tuple[int, str, str] | None:
    """Why a close frame's payload breaks RFC 6455 §5.5.1 (a code, then a UTF-8 reason), or None."""
    if not data:
        return None
    code = int.from_bytes(data[:2], "big")
    if len(data) < 2 or not (code in SENDABLE_CLOSE_CODES or 3000 <= code < 5000):
        return _PROTOCOL_ERROR
    try:
        data[2:].decode("utf-8")
    except UnicodeDecodeError:
        return _INVALID_REASON
    return None
