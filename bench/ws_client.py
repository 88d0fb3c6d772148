"""A lean websocket client for bench/ws_broadcast.py (a raw asyncio protocol, no library).

It parses every frame of a read at once and timestamps them all, so the 200 clients of the benchmark,
in one process, cost far less CPU than the server under test. Text frames go to `on_text(text,
received_at)`; pings are answered; frames it sends are masked with 0000 (the payload goes as is).
"""

from __future__ import annotations

import asyncio
import base64
import socket
import time
from collections.abc import Callable


class Client(asyncio.Protocol):
    """A lean websocket client (raw asyncio protocol): it parses every frame of a read at once and
    timestamps them, so 200 of them in one process cost far less CPU than the server under test."""

    KEY = base64.b64encode(b"gingee-ws-bench!").decode()

    def __init__(self, on_text: Callable[[str, float], None]) -> None:
        self.on_text = on_text
        self.transport: asyncio.Transport | None = None
        self.buffer = bytearray()
        self.opened: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self.closed: asyncio.Future[None] = asyncio.get_running_loop().create_future()

    @classmethod
    async def connect(cls, port: int, path: str, on_text: Callable[[str, float], None]) -> Client:
        loop = asyncio.get_running_loop()
        _, client = await loop.create_connection(lambda: cls(on_text), "127.0.0.1", port)
        assert client.transport is not None
        client.transport.write(
            f"GET {path} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
            f"Sec-WebSocket-Key: {cls.KEY}\r\nSec-WebSocket-Version: 13\r\n\r\n".encode()
        )
        await client.opened
        return client

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self.transport = transport
        transport.get_extra_info("socket").setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

    def data_received(self, data: bytes) -> None:
        now = time.perf_counter()
        buffer = self.buffer
        buffer += data
        if not self.opened.done():
            head, sep, _ = bytes(buffer).partition(b"\r\n\r\n")
            if not sep:
                return
            if not head.startswith(b"HTTP/1.1 101"):
                self.opened.set_exception(RuntimeError(head.decode(errors="replace")))
                return
            del buffer[: len(head) + 4]
            self.opened.set_result(None)
        pos, end = 0, len(buffer)
        while end - pos >= 2:
            opcode, length, start = buffer[pos] & 0x0F, buffer[pos + 1] & 0x7F, pos + 2
            if length == 126:
                if end - pos < 4:
                    break
                length, start = int.from_bytes(buffer[pos + 2 : pos + 4], "big"), pos + 4
            elif length == 127:
                if end - pos < 10:
                    break
                length, start = int.from_bytes(buffer[pos + 2 : pos + 10], "big"), pos + 10
            if end - start < length:
                break
            payload = bytes(buffer[start : start + length])
            pos = start + length
            if opcode == 0x1:
                self.on_text(payload.decode(), now)
            elif opcode == 0x9:
                self.send(payload, opcode=0xA)
            elif opcode == 0x8 and not self.closed.done():
                self.closed.set_result(None)
        del buffer[:pos]

    def send(self, payload: bytes, opcode: int = 0x1) -> None:
        """One masked frame (mask 0000: the payload goes as is)."""
        assert self.transport is not None and len(payload) < 65536
        if len(payload) < 126:
            head = bytes([0x80 | opcode, 0x80 | len(payload)])
        else:
            head = bytes([0x80 | opcode, 0x80 | 126]) + len(payload).to_bytes(2, "big")
        self.transport.write(head + b"\0\0\0\0" + payload)

    def connection_lost(self, exc: Exception | None) -> None:
        if not self.closed.done():
            self.closed.set_result(None)
        if not self.opened.done():
            self.opened.set_exception(ConnectionError("closed during the handshake"))

    def close(self) -> None:
        if self.transport is not None:
            self.transport.close()
