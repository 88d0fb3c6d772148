"""Limits: 413 before the body is read, 504 on the time budget, 503 + Retry-After on the concurrency cap,
and app overrides that can only tighten."""

from __future__ import annotations

import socket

import pytest

from tests.fixtures.gate import GATE, held_request

SLOW = """
import asyncio

async def handle(g):
    await asyncio.sleep(float(g.request.query.get("s", "5")))
    g.response.send("late")
"""

SIZE = "async def handle(g):\n    g.response.send(len(g.request.raw_body))\n"


@pytest.fixture
def server(make_project, serve):
    project = make_project(
        {
            # 1 s: the request test_503_with_retry_after... holds in app a must not run out of time
            "gingee.json": {"max_body_size": "1kb", "limits": {"request_timeout_ms": 1000}},
            "web/a/box/app.json": {"name": "a", "limits": {"max_concurrent_requests": 1}},
            "web/a/box/slow.py": SLOW,
            "web/a/box/gate.py": GATE,
            "web/a/box/size.py": SIZE,
            "web/tight/box/app.json": {
                "name": "tight",
                "limits": {"max_body_size": 100, "request_timeout_ms": 99999},
            },
            "web/tight/box/size.py": SIZE,
            "web/tight/box/slow.py": SLOW,
        }
    )
    return serve(project)


def raw_request(port: int, head: bytes, body: bytes = b"") -> bytes:
    with socket.create_connection(("127.0.0.1", port), timeout=10) as sock:
        sock.sendall(head + body)
        chunks = []
        while True:
            try:
                chunk = sock.recv(65536)
            except ConnectionResetError:
                break
            if not chunk:
                break
            chunks.append(chunk)
        return b"".join(chunks)


def test_body_under_limit_is_accepted(server, client):
    assert client.post(server.url("/a/size"), content=b"x" * 1000).json() == 1000


def test_413_from_content_length_before_the_body_is_sent(server):
    head = (
        b"POST /a/size HTTP/1.1\r\nHost: x\r\nContent-Type: application/octet-stream\r\n"
        b"Content-Length: 50000000\r\n\r\n"
    )
    reply = raw_request(server.port, head)  # no body at all: the answer must not wait for it
    assert reply.startswith(b"HTTP/1.1 413")
    assert b'"PAYLOAD_TOO_LARGE"' in reply


def test_413_for_chunked_body_over_limit(server):
    chunk = b"x" * 800
    body = b"".join(b"%x\r\n%s\r\n" % (len(chunk), chunk) for _ in range(3)) + b"0\r\n\r\n"
    head = b"POST /a/size HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n"
    assert raw_request(server.port, head, body).startswith(b"HTTP/1.1 413")


def test_app_limit_tightens_body_size(server, client):
    assert client.post(server.url("/tight/size"), content=b"x" * 100).json() == 100
    assert client.post(server.url("/tight/size"), content=b"x" * 101).status_code == 413


def test_504_when_the_budget_runs_out(server, client):
    reply = client.get(server.url("/a/slow?s=5"))
    assert reply.status_code == 504
    assert reply.json() == {
        "error": "GATEWAY_TIMEOUT",
        "reason": "the request took longer than its 1 s budget",
        "timeout_ms": 1000,
    }
    assert client.get(server.url("/a/slow?s=0.01")).text == "late"


def test_app_cannot_loosen_the_budget(server, client):
    assert client.get(server.url("/tight/slow?s=5")).status_code == 504


def test_503_with_retry_after_at_the_app_concurrency_cap(server, client):
    with held_request(server, "a", "/a/gate") as results:
        second = client.get(server.url("/a/gate"))
        assert second.status_code == 503
        assert second.headers["Retry-After"] == "1"
        assert second.json()["error"] == "TOO_MANY_REQUESTS"
        assert second.json()["scope"] == "app"
    assert results[0].text == "done"
    assert client.get(server.url("/a/size")).status_code == 200  # the slot was given back
