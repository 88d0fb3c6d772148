"""What scripts see of a request, and what of their reply reaches the client, on both hosts: the URL,
client address and public root (X-Forwarded-* only from trusted proxies), repeated headers, the Host
header rules of RFC 9112, and header values that could split a reply."""

from __future__ import annotations

import json

import pytest

from .conftest import Server, raw, send_bytes

INFO = """
async def handle(g):
    r = g.request
    return {"method": r.method, "url": r.url, "path": r.path, "query": r.query, "ip": r.remote_ip,
            "root": r.public_root, "accept": r.headers.get("Accept"), "tags": r.headers.get_list("X-Tag")}
"""

HEADER = """
async def handle(g):
    q = g.request.query
    g.response.set_header(q.get("name", "X-Custom"), q["value"])
    return "sent"
"""

FILES = {
    "web/a/box/app.json": {"name": "a"},
    "web/a/box/info.py": INFO,
    "web/a/box/header.py": HEADER,
    "web/a/page.html": "<p>page</p>",
}


@pytest.fixture(scope="module")
def server(served) -> Server:
    return served(FILES, dev=False)


@pytest.fixture(scope="module")
def proxied(served) -> Server:
    """The same project behind a trusted proxy on loopback."""
    return served({**FILES, "gingee.json": {"server": {"trusted_proxies": ["127.0.0.1"]}}}, dev=False)


def info(server: Server, target: str, headers: dict[str, str] | None = None) -> dict[str, object]:
    reply = raw(server.port, target, headers=headers)
    assert reply.status == 200, reply.raw[:300]
    return json.loads(reply.body)


def test_what_a_script_sees_of_the_request(server):
    seen = info(server, "/a/info?x=1&y=%20z", {"Accept": "text/plain", "X-Tag": "one"})
    assert seen == {
        "method": "GET",
        "url": "http://127.0.0.1/a/info?x=1&y=%20z",
        "path": "/a/info",
        "query": {"x": "1", "y": " z"},
        "ip": "127.0.0.1",
        "root": "http://127.0.0.1",
        "accept": "text/plain",
        "tags": ["one"],
    }


def test_repeated_headers_are_kept(server):
    request = (
        b"GET /a/info HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Tag: one\r\nX-Tag: two\r\nConnection: close\r\n\r\n"
    )
    data = send_bytes(server.port, request)
    assert json.loads(data.partition(b"\r\n\r\n")[2])["tags"] == ["one", "two"]


def test_forwarded_headers_count_only_from_a_trusted_proxy(server, proxied):
    forwarded = {
        "X-Forwarded-For": "203.0.113.9",
        "X-Forwarded-Proto": "https",
        "X-Forwarded-Host": "shop.example",
    }
    untrusted = info(server, "/a/info", forwarded)
    assert (untrusted["ip"], untrusted["root"]) == ("127.0.0.1", "http://127.0.0.1")
    trusted = info(proxied, "/a/info", {**forwarded, "X-Forwarded-Prefix": "/base"})
    assert (trusted["ip"], trusted["root"]) == ("203.0.113.9", "https://shop.example/base")


def test_a_request_without_host_is_400(server):
    data = send_bytes(server.port, b"GET /a/page.html HTTP/1.1\r\nConnection: close\r\n\r\n")
    assert data.startswith(b"HTTP/1.1 400 ")
    assert data.partition(b"\r\n\r\n")[2] == b""


@pytest.mark.parametrize("value", ["a b", "x\x01y", "a,b"])
def test_an_invalid_host_is_400(server, value):
    reply = raw(server.port, "/a/page.html", headers={"Host": value})
    assert reply.status == 400
    if "\x01" not in value:  # (a control character is refused by the HTTP parsers, with their own text)
        assert reply.body == b""


def test_an_http10_request_needs_no_host(server):
    data = send_bytes(server.port, b"GET /a/page.html HTTP/1.0\r\n\r\n")
    assert data.startswith(b"HTTP/1.1 200 ") and data.endswith(b"<p>page</p>")


@pytest.mark.parametrize(
    "value", ["a%0D%0ASet-Cookie:%20evil=1", "a%0Ab", "a%00b", "%E2%82%AC"], ids=["crlf", "lf", "nul", "euro"]
)
def test_a_header_value_that_could_split_the_reply_is_a_500(server, value):
    reply = raw(server.port, f"/a/header?value={value}")
    assert reply.status == 500
    assert json.loads(reply.body) == {"error": "INTERNAL_SERVER_ERROR", "reason": "Internal Server Error"}
    assert reply.header("set-cookie") is None
    assert raw(server.port, "/a/page.html").status == 200  # the server is fine


def test_a_latin1_header_value_goes_out_as_latin1(server):
    reply = raw(server.port, "/a/header?value=caf%C3%A9")
    assert reply.status == 200
    assert reply.header("x-custom") == "café"  # the byte 0xe9, read back as Latin-1


def test_a_header_name_that_could_split_the_reply_is_a_500(server):
    reply = raw(server.port, "/a/header?name=X-A%0D%0ASet-Cookie&value=evil")
    assert reply.status == 500
    assert reply.header("set-cookie") is None


def test_a_stray_upgrade_header_on_a_plain_request_is_ignored(server):
    """Without `Connection: Upgrade` the request is no upgrade (RFC 9110 7.8): it gets its page."""
    reply = raw(server.port, "/a/page.html", headers={"Upgrade": "websocket"})
    assert (reply.status, reply.body) == (200, b"<p>page</p>")


def test_an_upgrade_by_post_is_405(server):
    """Neither host answers it in JSON: Tornado's WebSocketHandler (HTML) and uvicorn (text) refuse it."""
    headers = {
        "Upgrade": "websocket",
        "Connection": "Upgrade",
        "Sec-WebSocket-Version": "13",
        "Sec-WebSocket-Key": "dGhlIHNhbXBsZSBub25jZQ==",
        "Content-Length": "0",
    }
    assert raw(server.port, "/a/page.html", "POST", headers).status == 405


@pytest.mark.parametrize("encoding", ["gzip, chunked", "xchunked", "identity"])
def test_a_transfer_encoding_but_chunked_is_400(server, encoding):
    """Framing one server reads and another does not is how requests are smuggled past a proxy."""
    reply = raw(server.port, "/a/info", "POST", {"Transfer-Encoding": encoding}, b"0\r\n\r\n")
    assert reply.status == 400


def test_an_asterisk_target_is_a_json_404(server):
    reply = raw(server.port, "*", "OPTIONS")
    assert (reply.status, json.loads(reply.body)["error"]) == (404, "APP_NOT_FOUND")
