"""Limits on both hosts: 413 for a body over max_body_size (declared or chunked) and for a streamed upload
over max_upload_size, 405 for a method no handler serves, 503 + Retry-After at the app's concurrency cap
and in maintenance, 504 past the time budget."""

from __future__ import annotations

import json
import re
import socket

import httpx
import pytest

from tests.fixtures.gate import GATE, held_request

from .conftest import Server, asgi_limit, chunked, json_error, raw

SIZE = "async def handle(g):\n    g.response.send(len(g.request.raw_body))\n"

UPLOAD = """
async def handle(g):
    size = 0
    async for chunk in g.request.stream():
        size += len(chunk)
    return {"size": size}
"""

SLOW = "import asyncio\n\nasync def handle(g):\n    await asyncio.sleep(5)\n"

FILES = {
    "gingee.json": {"max_body_size": "1kb", "max_upload_size": "4kb"},
    "web/a/box/app.json": {"name": "a", "limits": {"max_concurrent_requests": 1}},
    "web/a/box/routes.json": {
        "routes": [{"path": "/upload", "method": "PUT", "script": "up.py", "body": "stream"}]
    },
    "web/a/box/size.py": SIZE,
    "web/a/box/gate.py": GATE,
    "web/a/box/up.py": UPLOAD,
    "web/tight/box/app.json": {"name": "tight", "limits": {"max_body_size": 100, "request_timeout_ms": 200}},
    "web/tight/box/size.py": SIZE,
    "web/tight/box/slow.py": SLOW,
    "web/down/box/app.json": {"name": "down", "maintenance": True},
    "web/down/box/size.py": SIZE,
}

TOO_LARGE = {"error": "PAYLOAD_TOO_LARGE", "reason": "the request body is larger than 1000 bytes"}


@pytest.fixture(scope="module")
def server(served) -> Server:
    return served(FILES, dev=False)


def test_a_body_within_the_limit_is_read_whole(server):
    assert raw(server.port, "/a/size", "POST", {"Content-Length": "1000"}, b"x" * 1000).body == b"1000"
    reply = raw(
        server.port, "/a/size", "POST", {"Transfer-Encoding": "chunked"}, chunked(b"x" * 600, b"y" * 400)
    )
    assert (reply.status, reply.body) == (200, b"1000")


def test_413_for_a_declared_length_before_the_body_is_sent(server):
    # No body follows: the answer must not wait for it, and the connection is closed after it.
    reply = raw(server.port, "/a/size", "POST", {"Content-Length": "50000000"}, close=False)
    assert reply.status == 413
    assert json.loads(reply.body) == TOO_LARGE
    assert reply.header("content-type") == "application/json"
    assert reply.header("content-length") == str(len(reply.body))
    assert reply.header("connection") == "close" and reply.closed


def test_413_for_a_chunked_body_past_the_limit(server):
    body = chunked(b"x" * 800, b"x" * 800, b"x" * 800)
    reply = raw(server.port, "/a/size", "POST", {"Transfer-Encoding": "chunked"}, body, close=False)
    assert reply.status == 413
    assert json.loads(reply.body) == TOO_LARGE
    assert reply.header("connection") == "close" and reply.closed


def test_an_app_limit_tightens_the_body_size(server):
    assert raw(server.port, "/tight/size", "POST", {"Content-Length": "100"}, b"x" * 100).body == b"100"
    reply = raw(server.port, "/tight/size", "POST", {"Content-Length": "101"}, b"x" * 101)
    assert reply.status == 413
    assert json.loads(reply.body)["reason"] == "the request body is larger than 100 bytes"


def test_a_streamed_upload_has_max_upload_size_as_its_limit(server):
    ok = raw(server.port, "/a/upload", "PUT", {"Content-Length": "3000"}, b"u" * 3000)
    assert (ok.status, json.loads(ok.body)) == (200, {"size": 3000})
    declared = raw(server.port, "/a/upload", "PUT", {"Content-Length": "5000"}, close=False)
    assert declared.status == 413 and declared.closed
    assert json.loads(declared.body)["reason"] == "the request body is larger than 4000 bytes"
    body = chunked(*[b"u" * 1000] * 5)
    streamed = raw(server.port, "/a/upload", "PUT", {"Transfer-Encoding": "chunked"}, body, close=False)
    assert streamed.status == 413 and streamed.closed
    assert json_error(streamed) == "PAYLOAD_TOO_LARGE"


NOT_ALLOWED = {"error": "METHOD_NOT_ALLOWED", "reason": "Method Not Allowed"}


@pytest.mark.parametrize("method", ["PROPFIND", "TRACE", "MKCOL", "PURGE"])
def test_a_method_no_handler_serves_is_405(server, method):
    reply = raw(server.port, "/a/size", method, close=False)
    assert reply.status == 405
    assert json.loads(reply.body) == NOT_ALLOWED
    assert reply.header("content-length") == str(len(reply.body))
    assert not reply.closed  # a request without a body: the connection is reused


def test_a_405_for_an_unknown_method_says_what_is_allowed(server):
    reply = raw(server.port, "/a/size", "PROPFIND")
    assert reply.status == 405
    assert reply.header("allow") == "GET, HEAD, POST, DELETE, PATCH, PUT, OPTIONS"


def test_a_method_token_outside_the_registry_is_405_too(server, request, host):
    asgi_limit(request, host, "httptools (llhttp) parses a fixed set of methods: 400 text/plain for others")
    reply = raw(server.port, "/a/size", "FROBNICATE")
    assert (reply.status, json.loads(reply.body)) == (405, NOT_ALLOWED)


@pytest.mark.parametrize(
    ("headers", "body"),
    [({"Content-Length": "5"}, b"hello"), ({"Transfer-Encoding": "chunked"}, chunked(b"hel", b"lo"))],
    ids=["length", "chunked"],
)
def test_a_405_given_before_the_body_was_read_keeps_the_connection(server, headers, body):
    """The server reads past the unread body, so the client may send its next request on it."""
    reply = raw(server.port, "/a/size", "PROPFIND", headers, body, close=False)
    assert (reply.status, json.loads(reply.body)) == (405, NOT_ALLOWED)
    assert reply.header("connection") is None and not reply.closed


def test_a_405_whose_body_is_declared_past_the_limit_is_answered_and_closed(server):
    """A body declared larger than the app's max_body_size is not read on (nor waited for): the 405 goes
    out at once with `Connection: close`, and the connection closes."""
    with socket.create_connection(("127.0.0.1", server.port), timeout=10) as sock:
        head = b"PROPFIND /a/size HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: 100000000\r\n\r\n"
        sock.sendall(head + b"x" * 5000)
        data = b""
        while chunk := sock.recv(65536):  # a server still reading the body would time this out
            data += chunk
    status, _, rest = data.partition(b"\r\n")
    assert status == b"HTTP/1.1 405 Method Not Allowed", data
    assert re.search(rb"(?i)\r\nconnection: close\r\n", rest), data
    assert json.loads(rest.partition(b"\r\n\r\n")[2]) == NOT_ALLOWED


def test_503_with_retry_after_at_the_app_concurrency_cap(server):
    with httpx.Client(timeout=10) as client, held_request(server, "a", "/a/gate") as results:
        second = client.get(server.url("/a/gate"))
        assert second.status_code == 503
        assert second.headers["retry-after"] == "1"
        assert json_error(second) == "TOO_MANY_REQUESTS"
        assert second.json()["scope"] == "app"
    assert results[0].text == "done"
    assert raw(server.port, "/a/size").status == 200  # the slot was given back


def test_maintenance_is_503_with_retry_after(server):
    reply = raw(server.port, "/down/size")
    assert reply.status == 503
    assert reply.header("retry-after") == "30"
    assert json_error(reply) == "MAINTENANCE"


def test_504_past_the_time_budget(server):
    reply = raw(server.port, "/tight/slow")
    assert reply.status == 504
    assert json.loads(reply.body) == {
        "error": "GATEWAY_TIMEOUT",
        "reason": "the request took longer than its 0.2 s budget",
        "timeout_ms": 200,
    }
