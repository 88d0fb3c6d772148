"""Helpers for the fault tests: where a service URL points, polling until an answer changes, and what a
client must see while a service is away (a clear 503 worth retrying, never a 500 or a traceback)."""

from __future__ import annotations

import contextlib
import socket
import time
from collections.abc import Callable
from urllib.parse import urlsplit

import httpx

from tests.fixtures.tcp_proxy import TcpProxy


def target(url: str) -> tuple[str, int]:
    """(host, port) of a service URL, for `tcp_proxy(...)`."""
    parts = urlsplit(url)
    return parts.hostname or "127.0.0.1", parts.port or 0


def sever(proxy: TcpProxy) -> None:
    """`proxy.cut()`, and the connections it holds really end at once.

    `TcpProxy.cut()` closes its sockets while its pipe threads sit in `recv()` on them; on Linux a close
    does not end a `recv()` in another thread (the kernel keeps the socket until it returns), so a
    connection that is waiting for the service (a statement in flight, an idle pooled connection) stays
    open until the next byte comes from either side. Shutting the sockets down first wakes those threads,
    so both ends see the service go away now, as they would if its host died."""
    proxy._cut.set()
    with proxy._lock:
        for sock in list(proxy._open):
            with contextlib.suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)
    proxy.cut()


def until(ask: Callable[[], httpx.Response], want: int, seconds: float = 10) -> httpx.Response:
    """Ask until the answer has status `want` (or `seconds` passed); the last answer."""
    deadline = time.monotonic() + seconds
    while True:
        reply = ask()
        if reply.status_code == want or time.monotonic() > deadline:
            return reply
        time.sleep(0.05)


def assert_unavailable(reply: httpx.Response) -> None:
    """The answer a client may retry: 503 SERVICE_UNAVAILABLE with Retry-After, no traceback, no host."""
    assert reply.status_code == 503, f"{reply.status_code}: {reply.text}"
    assert reply.json()["error"] == "SERVICE_UNAVAILABLE", reply.text
    assert reply.headers["Retry-After"] == "1"
    assert "Traceback" not in reply.text and "127.0.0.1" not in reply.text, reply.text


def fresh_get(url: str, **kwargs: object) -> httpx.Response:
    """A GET on a new connection (so SO_REUSEPORT may hand it to any worker process)."""
    return httpx.get(url, timeout=10, headers={"Connection": "close"}, **kwargs)  # type: ignore[arg-type]
