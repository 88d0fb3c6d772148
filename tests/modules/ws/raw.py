"""A raw websocket client on a blocking socket: it sends frames a real client library never would (bad
UTF-8, reserved bits, unknown opcodes) and can stop reading. The servers under test run in their own
thread (tests/fixtures/servers.py), so blocking here is fine."""

from __future__ import annotations

import base64
import os
import socket
import struct

TIMEOUT = 10.0


class RawClient:
    """One websocket connection, frame by frame."""

    def __init__(self, port: int, path: str, *, rcvbuf: int | None = None) -> None:
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        if rcvbuf is not None:  # before connect, so the TCP window starts small
            self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, rcvbuf)
        self.sock.settimeout(TIMEOUT)
        self.sock.connect(("127.0.0.1", port))
        key = base64.b64encode(os.urandom(16)).decode()
        self.sock.sendall(
            f"GET {path} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nUpgrade: websocket\r\n"
            f"Connection: Upgrade\r\nSec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: 13\r\n\r\n".encode()
        )
        self._buffer = b""
        head = self._read_until(b"\r\n\r\n")
        status = head.split(b"\r\n", 1)[0]
        assert b" 101 " in status, f"the upgrade was refused: {head!r}"

    def _read_until(self, marker: bytes) -> bytes:
        while marker not in self._buffer:
            chunk = self.sock.recv(65536)
            if not chunk:
                raise ConnectionError("the server closed the connection")
            self._buffer += chunk
        head, self._buffer = self._buffer.split(marker, 1)
        return head

    def _read(self, n: int) -> bytes:
        while len(self._buffer) < n:
            chunk = self.sock.recv(max(65536, n - len(self._buffer)))
            if not chunk:
                raise ConnectionError("the server closed the connection")
            self._buffer += chunk
        data, self._buffer = self._buffer[:n], self._buffer[n:]
        return data

    def send_frame(self, opcode: int, payload: bytes, *, fin: bool = True, rsv: int = 0) -> None:
        """Send one masked client frame (`rsv`: the reserved bits, 0x70 for all three)."""
        mask = os.urandom(4)
        head = bytes([(0x80 if fin else 0) | rsv | opcode])
        size = len(payload)
        if size < 126:
            head += bytes([0x80 | size])
        elif size < 65536:
            head += bytes([0x80 | 126]) + struct.pack("!H", size)
        else:
            head += bytes([0x80 | 127]) + struct.pack("!Q", size)
        masked = bytes(b ^ mask[i % 4] for i, b in enumerate(payload))
        self.sock.sendall(head + mask + masked)

    def send_text(self, text: str) -> None:
        """A text frame."""
        self.send_frame(0x1, text.encode())

    def frame(self) -> tuple[int, bytes]:
        """(opcode, payload) of the next server frame (servers do not mask)."""
        first, second = self._read(2)
        size = second & 0x7F
        if size == 126:
            size = struct.unpack("!H", self._read(2))[0]
        elif size == 127:
            size = struct.unpack("!Q", self._read(8))[0]
        return first & 0x0F, self._read(size)

    def text(self) -> str:
        """The next text message (pings are skipped)."""
        opcode, payload = self.frame()
        while opcode == 0x9:
            opcode, payload = self.frame()
        assert opcode == 0x1, f"expected a text message, got opcode {opcode:#x} {payload[:60]!r}"
        return payload.decode()

    def close_frame(self) -> tuple[int, str, int]:
        """Read up to the server's close frame: (code, reason, data messages skipped on the way)."""
        skipped = 0
        while True:
            opcode, payload = self.frame()
            if opcode == 0x8:
                code = struct.unpack("!H", payload[:2])[0] if len(payload) >= 2 else 1005
                return code, payload[2:].decode(), skipped
            skipped += opcode in (0x1, 0x2)

    def ended(self) -> bool:
        """True once the server has closed the TCP connection (reads to the end)."""
        try:
            while self.sock.recv(65536):
                pass
        except TimeoutError:
            return False
        except ConnectionResetError:
            return True
        return True

    def close(self) -> None:
        """Drop the TCP connection."""
        self.sock.close()
