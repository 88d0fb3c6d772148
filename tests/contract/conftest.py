"""The host contract: every test here runs once on `gingee serve` (Tornado) and once on the ASGI host
(uvicorn), and asserts the same answers on both, so a behaviour that differs between hosts fails a test.

`served(files, dev=...)` starts a server of the module's host on a fresh project; a module shares its
servers between its tests (module scope), so each module starts them once per host. `raw(...)` sends a
request byte for byte (HTTP clients normalise paths and framing) and reads the whole reply.

A difference known and not fixed yet is a strict expected failure on the host that has it:
`tornado_bug(...)` for the Tornado host's, `asgi_limit(...)` for those the ASGI server (uvicorn's HTTP
parser or websocket protocol) makes before gingee sees the request. Fixing one turns its test into a
failure (XPASS), so the marker goes with the fix.
"""

from __future__ import annotations

import contextlib
import json
import re
import socket
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import pytest

from tests.fixtures.asgi import RunningAsgiServer
from tests.fixtures.servers import Files, RunningServer, write_files

HOSTS = ["tornado", "asgi"]
Server = RunningServer | RunningAsgiServer


@pytest.fixture(scope="module", params=HOSTS)
def host(request: pytest.FixtureRequest) -> str:
    """Which host serves the module's tests: "tornado" (`gingee serve`) or "asgi" (uvicorn)."""
    return str(request.param)


@pytest.fixture(scope="module")
def served(host: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Callable[..., Server]]:
    """Factory: `served(files, dev=True)` writes a project and serves it on the module's host (`build`:
    a function that adds to the project folder first); every server is stopped after the module."""
    running: list[Server] = []

    def factory(files: Files, *, dev: bool = True, build: Callable[[Path], Path] | None = None) -> Server:
        root = write_files(tmp_path_factory.mktemp(f"contract-{host}") / "project", files)
        if build is not None:
            build(root)
        server: Server
        if host == "tornado":
            server = RunningServer(root, dev).start()
        else:
            pytest.importorskip("uvicorn")
            server = RunningAsgiServer(root, dev).start()
        running.append(server)
        return server

    yield factory
    for server in running:
        server.stop()


def tornado_bug(request: pytest.FixtureRequest, host: str, reason: str) -> None:
    """Mark the running test as an expected failure on the Tornado host (strict: fixing it fails it)."""
    if host == "tornado":
        request.applymarker(pytest.mark.xfail(strict=True, reason=f"Tornado host: {reason}"))


def asgi_limit(request: pytest.FixtureRequest, host: str, reason: str) -> None:
    """Mark the running test as an expected failure on the ASGI host, for a difference that the ASGI
    server (uvicorn), not gingee's ASGI application, makes (strict: fixing it fails it)."""
    if host == "asgi":
        request.applymarker(pytest.mark.xfail(strict=True, reason=f"ASGI server: {reason}"))


@dataclass
class Reply:
    """One HTTP reply read off a socket: status, headers (names lower-cased), body (de-chunked)."""

    status: int
    headers: dict[str, list[str]] = field(default_factory=dict)
    body: bytes = b""
    chunks: list[bytes] = field(default_factory=list)
    raw: bytes = b""
    #: Whether the server closed the connection after the reply.
    closed: bool = True

    def header(self, name: str) -> str | None:
        values = self.headers.get(name.lower())
        return values[-1] if values else None

    @property
    def chunked(self) -> bool:
        return (self.header("transfer-encoding") or "").lower() == "chunked"


def raw(
    port: int,
    target: str,
    method: str = "GET",
    headers: dict[str, str] | None = None,
    body: bytes = b"",
    *,
    close: bool = True,
) -> Reply:
    """Send `<method> <target>` as given (UTF-8) and read the reply; `body` is sent as it is (chunked
    framing included, if `headers` say so).

    `close`: ask for `Connection: close`. Else the connection is kept alive, and `Reply.closed` says
    whether the server closed it after the reply (it is asked a second request)."""
    headers = headers or {}
    lines = [f"{method} {target} HTTP/1.1"]
    lines += [] if any(name.lower() == "host" for name in headers) else ["Host: 127.0.0.1"]
    lines += ["Connection: close"] if close else []
    lines += [f"{name}: {value}" for name, value in headers.items()]
    request = ("\r\n".join(lines) + "\r\n\r\n").encode() + body
    head_only = method == "HEAD"
    data = b""
    closed = False
    with socket.create_connection(("127.0.0.1", port), timeout=10) as sock:
        # A 413 may be answered, and the connection closed, before the whole body was sent.
        with contextlib.suppress(BrokenPipeError, ConnectionResetError):
            sock.sendall(request)
        while not _complete(data, head_only):
            try:
                chunk = sock.recv(65536)
            except ConnectionResetError:
                chunk = b""
            if not chunk:
                closed = True
                break
            data += chunk
        if not closed and not close:  # is the connection still usable? Ask it a second question.
            closed = not _answers(sock)
    reply = parse_reply(data, head_only)
    reply.closed = closed
    return reply


def send_bytes(port: int, request: bytes) -> bytes:
    """Send `request` as it is and read until the server closes the connection."""
    data = b""
    with socket.create_connection(("127.0.0.1", port), timeout=10) as sock:
        sock.sendall(request)
        while chunk := sock.recv(65536):
            data += chunk
    return data


def _answers(sock: socket.socket) -> bool:
    """Whether a connection that served one reply answers another request."""
    try:
        sock.sendall(b"GET /_gingee/health HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n")
        return sock.recv(65536).startswith(b"HTTP/1.1 200 ")
    except (BrokenPipeError, ConnectionResetError):
        return False


def _complete(data: bytes, head_only: bool) -> bool:
    head, sep, rest = data.partition(b"\r\n\r\n")
    if not sep:
        return False
    if head_only or re.match(rb"HTTP/1\.[01] (?:1\d\d|204|304) ", head):
        return True  # no body follows
    framing = head.lower()
    if b"\r\ntransfer-encoding: chunked" in framing:
        return rest.endswith(b"0\r\n\r\n")
    length = re.search(rb"\r\ncontent-length:\s*(\d+)", framing)
    return length is not None and len(rest) >= int(length.group(1))


def parse_reply(data: bytes, head_only: bool = False) -> Reply:
    """A reply's status, headers and body from its bytes."""
    head, sep, rest = data.partition(b"\r\n\r\n")
    assert sep, f"no complete reply head: {data[:300]!r}"
    status_line, *header_lines = head.decode("latin-1").split("\r\n")
    match = re.match(r"HTTP/1\.[01] (\d{3})", status_line)
    assert match, f"no HTTP status line: {status_line!r}"
    reply = Reply(int(match.group(1)), raw=data)
    for line in header_lines:
        name, _, value = line.partition(":")
        reply.headers.setdefault(name.strip().lower(), []).append(value.strip())
    if head_only:
        reply.body = rest
    elif reply.chunked:
        while True:
            size_line, _, rest = rest.partition(b"\r\n")
            size = int(size_line.split(b";")[0], 16)
            if size == 0:
                break
            reply.chunks.append(rest[:size])
            rest = rest[size + 2 :]
        reply.body = b"".join(reply.chunks)
    else:
        length = reply.header("content-length")
        reply.body = rest if length is None else rest[: int(length)]
    return reply


def chunked(*parts: bytes) -> bytes:
    """A chunked request body of `parts`."""
    return b"".join(b"%x\r\n%s\r\n" % (len(part), part) for part in parts) + b"0\r\n\r\n"


def json_error(reply: Reply | httpx.Response) -> str:
    """The `error` code of a JSON error reply `{error, reason}` (a Reply or an httpx response)."""
    if isinstance(reply, Reply):
        content_type, body = reply.header("content-type"), reply.body
    else:
        content_type, body = reply.headers.get("content-type"), reply.content
    assert content_type is not None and content_type.startswith("application/json"), content_type
    answer = json.loads(body)
    assert set(answer) >= {"error", "reason"}, answer
    assert "Traceback" not in answer["reason"]
    return str(answer["error"])
