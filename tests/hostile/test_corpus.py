"""A corpus of hostile requests against the operator API, the built-in endpoints and app routes of a real
`gingee serve`: each gets a clear 4xx JSON answer (or, for a request HTTP itself cannot parse, a 400 or a
closed connection), never a 5xx or a traceback, and the server keeps serving."""

from __future__ import annotations

import json
import socket

import httpx
import pytest

FILES = {
    # With a token, the operator API refuses these anonymous requests (403), after parsing them: a loopback
    # peer without a token would be the operator, and this corpus's DELETEs would remove the app.
    "gingee.json": {"admin": {"token": "hostile-corpus-token"}},
    "web/shop/box/app.json": {"name": "shop"},
    "web/shop/box/routes.json": {
        "routes": [
            {"path": "/items/:id", "method": "GET", "script": "items.py"},
            {
                "path": "/items",
                "method": "POST",
                "script": "items.py",
                "handler": "create",
                "body": {"type": "object", "required": ["name"]},
            },
        ]
    },
    "web/shop/box/items.py": (
        "async def handle(g):\n    return {'id': g.request.params['id']}\n\n"
        "async def create(g):\n    return {'made': g.request.body['name']}\n"
    ),
    "web/shop/box/echo.py": "async def handle(g):\n    return {'body': repr(g.request.body)[:50]}\n",
}
TARGETS = [
    "/_gingee/api/apps",
    "/_gingee/api/apps/shop",
    "/_gingee/api/apps/shop/reload",
    "/_gingee/api/apps/%F0%9F%92%A5/reload",
    "/_gingee/api/apps/..%2F..%2Fetc",
    "/_gingee/api/queue",
    "/_gingee/api/queue/shop/jobs",
    "/_gingee/api/audit",
    "/_gingee/api/cluster",
    "/_gingee/health",
    "/_gingee/health/ready",
    "/shop/_gingee/openapi.json",
    "/shop/items",
    "/shop/items/%E2%82%AC",
    "/shop/echo",
    "/shop/%ZZ",
    "/shop/caf%C3%A9/%00",
    "/nope/x",
]
BODIES = [
    ("application/json", b'{"name": '),  # truncated JSON
    ("application/json", b"\xff\xfe not utf-8"),
    ("application/json", b"[" * 5000),  # deep nesting
    ("application/json", json.dumps({"name": "x" * 100}).encode()),
    ("text/plain", b"name=x"),
    ("application/x-www-form-urlencoded", b"a=%ZZ&\xff=1"),
    ("multipart/form-data", b"--x\r\nbroken"),
    ("application/json; charset=nonsense", b"{}"),
]
METHODS = ["GET", "POST", "PUT", "PATCH", "DELETE", "OPTIONS", "PROPFIND"]


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    from tests.fixtures.servers import RunningServer, write_files

    root = write_files(tmp_path_factory.mktemp("hostile") / "project", FILES)
    running = RunningServer(root, dev=False).start()
    yield running
    running.stop()


def _clear(reply: httpx.Response, what: str) -> None:
    assert reply.status_code < 500, f"{what}: {reply.status_code} {reply.text[:300]}"
    assert "Traceback" not in reply.text and 'File "/' not in reply.text, what
    if reply.status_code >= 400 and reply.content:
        assert reply.headers.get("Content-Type", "").startswith("application/json"), (what, reply.text[:200])
        body = reply.json()
        assert isinstance(body.get("error"), str) and body.get("reason"), (what, body)


def test_every_method_and_body_on_every_endpoint_gets_a_clear_answer(server) -> None:
    # One keep-alive connection throughout: an answer after which the server closes it says so.
    with httpx.Client(timeout=10) as client:
        for target in TARGETS:
            for method in METHODS:
                _clear(client.request(method, server.url(target)), f"{method} {target}")
            for content_type, body in BODIES:
                reply = client.post(server.url(target), content=body, headers={"Content-Type": content_type})
                _clear(reply, f"POST {target} {content_type} {body[:20]!r}")
        # far over the body limit: refused before it is read
        big = client.post(server.url("/shop/echo"), content=b"x" * (11 * 1024 * 1024))
        assert big.status_code == 413 and big.json()["error"] == "PAYLOAD_TOO_LARGE"
        # unicode and control characters in header values
        odd = {"X-Name": "café".encode(), "Cookie": b"a=\x7f; b\xff"}
        reply = client.get(server.url("/shop/items/1"), headers=odd)
        _clear(reply, "unicode headers")
        assert client.get(server.url("/shop/items/1")).json() == {"id": "1"}  # still serving


RAW = [
    b"GET /shop/items/1 HTTP/1.1\r\nHost: x\r\nX-\xff\xfe: \xc3\x28\r\n\r\n",
    b"GET /shop/\xe2\x82\xac HTTP/1.1\r\nHost: x\r\n\r\n",
    b"POST /shop/items HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\nContent-Length: 9\r\n\r\nhello",
    b"POST /shop/items HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n",
    b"GET /" + b"a" * 70000 + b" HTTP/1.1\r\nHost: x\r\n\r\n",
    b"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03",  # a TLS hello on the plain port
]


def test_requests_http_cannot_parse_are_refused_and_the_server_goes_on(server) -> None:
    for raw in RAW:
        with socket.create_connection(("127.0.0.1", server.port), timeout=5) as sock:
            sock.sendall(raw)
            try:
                answer = sock.recv(65536)
            except (ConnectionResetError, TimeoutError):
                answer = b""
        if answer:
            status = int(answer.split(b" ", 2)[1])
            assert 400 <= status < 500 or status == 200, (raw[:40], answer[:200])
            assert b"Traceback" not in answer
    assert httpx.get(server.url("/shop/items/1"), timeout=5).json() == {"id": "1"}


@pytest.mark.parametrize("body", [b"", b"x" * 100], ids=["no body", "a body"])
@pytest.mark.parametrize("method", ["PROPFIND", "PATCH"])
def test_an_early_refusal_says_when_it_closes_the_connection(server, method, body) -> None:
    # Tornado refuses a method the operator API lacks before reading the request, and then closes the
    # connection: a keep-alive client must be told (Connection: close), or its next request is lost.
    request = f"{method} /_gingee/api/apps HTTP/1.1\r\nHost: x\r\nContent-Length: {len(body)}\r\n\r\n"
    with socket.create_connection(("127.0.0.1", server.port), timeout=5) as sock:
        sock.sendall(request.encode() + body)
        head = b""
        while b"\r\n\r\n" not in head:
            chunk = sock.recv(65536)
            assert chunk, "the connection closed without an answer"
            head += chunk
        assert head.startswith(b"HTTP/1.1 405 "), head[:200]
        if b"\r\nconnection: close\r\n" in head.lower():
            return
        sock.sendall(b"GET /_gingee/health HTTP/1.1\r\nHost: x\r\n\r\n")  # kept open: it must serve again
        again = sock.recv(65536)
        assert again.startswith(b"HTTP/1.1 200 "), (head[:300], again[:200])
