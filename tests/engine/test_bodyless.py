"""Requests whose headers announce no body skip Tornado's request-body streaming (`BodylessGingeeHandler`)
and are answered exactly as before; anything that may carry a body keeps the streaming handler. Both reach
Tornado through its public API only (the decorator, set_header, get_status and the on_finish hook)."""

from __future__ import annotations

import socket

import pytest
import tornado.web
from tornado.httputil import HTTPHeaders, HTTPServerRequest, RequestStartLine

from gingee_kernel.engine.tornado_handler import (
    BodylessGingeeHandler,
    EngineHandler,
    GingeeHandler,
    bodyless_handler,
)

ECHO = """
async def handle(g):
    g.response.set_header("X-Method", g.request.method)
    g.response.send({"body": g.request.raw_body.decode(), "query": g.request.query})
"""


def request(**headers: str) -> HTTPServerRequest:
    start = RequestStartLine("GET", "/a/echo", "HTTP/1.1")
    return HTTPServerRequest(headers=HTTPHeaders({"Host": "x", **headers}), start_line=start)


@pytest.mark.parametrize(
    ("headers", "expected"),
    [
        ({}, BodylessGingeeHandler),
        ({"Accept": "*/*", "Cookie": "a=b"}, BodylessGingeeHandler),
        ({"Content-Length": "0"}, GingeeHandler),
        ({"Content-Length": "5"}, GingeeHandler),
        ({"Transfer-Encoding": "chunked"}, GingeeHandler),
        ({"Content-Type": "multipart/form-data"}, GingeeHandler),
        ({"content-length": "3"}, GingeeHandler),
        ({"TRANSFER-ENCODING": "chunked"}, GingeeHandler),
    ],
)
def test_only_requests_that_announce_no_body_are_bodyless(headers, expected):
    assert bodyless_handler(GingeeHandler, request(**headers)) is expected


def test_other_handlers_are_left_alone():
    class Other(GingeeHandler):
        pass

    assert bodyless_handler(Other, request()) is Other


@pytest.fixture
def server(make_project, serve):
    return serve(make_project({"web/a/box/app.json": {"name": "a"}, "web/a/box/echo.py": ECHO}), dev=False)


def exchange(port: int, data: bytes, until: bytes) -> bytes:
    """Send raw bytes; read until the reply ends with `until` or the server closes the connection."""
    with socket.create_connection(("127.0.0.1", port), timeout=10) as sock:
        sock.sendall(data)
        reply = b""
        while not reply.endswith(until):
            chunk = sock.recv(65536)
            if not chunk:
                break
            reply += chunk
        return reply


def test_with_and_without_a_body_the_answer_is_the_same(server, client):
    plain = client.get(server.url("/a/echo?x=1"))
    assert plain.status_code == 200
    assert plain.json() == {"body": "", "query": {"x": "1"}}
    assert plain.headers["X-Method"] == "GET"
    assert plain.headers["Content-Type"] == "application/json"
    assert plain.headers["X-Content-Type-Options"] == "nosniff"
    with_body = client.request("GET", server.url("/a/echo?x=1"), content=b"hello")
    assert with_body.json() == {"body": "hello", "query": {"x": "1"}}
    assert client.head(server.url("/a/echo?x=1")).headers["Content-Length"] == plain.headers["Content-Length"]
    # HTTP/1.0 without any header at all, and a keep-alive connection reused after a bodyless request
    reply = exchange(server.port, b"GET /a/echo HTTP/1.0\r\n\r\n", until=b"never")
    assert reply.startswith(b"HTTP/1.1 200") and reply.endswith(b'{"body":"","query":{}}')
    two = (
        b"GET /a/echo HTTP/1.1\r\nHost: x\r\n\r\n"
        b"POST /a/echo HTTP/1.1\r\nHost: x\r\nContent-Length: 2\r\n\r\nhi"
    )
    replies = exchange(server.port, two, until=b'{"body":"hi","query":{}}')
    assert replies.count(b"HTTP/1.1 200") == 2
    assert replies.endswith(b'{"body":"hi","query":{}}')


class _Connection:
    def set_close_callback(self, callback: object) -> None:
        pass


def test_the_handlers_know_they_answered_through_tornados_on_finish_hook():
    app = tornado.web.Application()
    start = RequestStartLine("GET", "/a/echo", "HTTP/1.1")
    req = HTTPServerRequest(headers=HTTPHeaders({"Host": "x"}), start_line=start, connection=_Connection())
    handler = BodylessGingeeHandler(app, req, engine=None)
    assert handler.answered is False
    handler.on_finish()  # what RequestHandler.finish() calls once the reply is done
    assert handler.answered is True
    assert BodylessGingeeHandler(app, req, engine=None).answered is False  # per request, not per class
    assert issubclass(GingeeHandler, EngineHandler) and issubclass(BodylessGingeeHandler, EngineHandler)
    assert not issubclass(BodylessGingeeHandler, GingeeHandler)  # so it does not inherit body streaming
