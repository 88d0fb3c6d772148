"""Routing on both hosts: file-mapped scripts, routes.json routes with params, static files, the app-root,
directory and default-app redirects, JSON 404s, and the framing of bodiless replies (204, 304, HEAD)."""

from __future__ import annotations

import json
from collections.abc import Iterator

import httpx
import pytest

from .conftest import Server, json_error, raw

ECHO = """
async def handle(g):
    g.response.send({"script": __name__.rsplit(".", 1)[-1], "method": g.request.method,
                     "params": g.request.params, "query": g.request.query, "path": g.request.path})
"""

NAMED = """
async def handle(g):
    g.response.send({"fn": "handle", "params": g.request.params})

async def show(g):
    g.response.send({"fn": "show", "params": g.request.params})
"""

REPLIES = """
async def nothing(g):
    return None

async def status(g):
    body = g.request.query.get("body", "")
    g.response.send(body, status=int(g.request.query["s"]))

async def moved(g):
    g.response.redirect("/shop/api/items", status=303)

async def cookies(g):
    g.response.set_cookie("a", "1")
    g.response.set_cookie("b", "2", max_age=60)
    g.response.set_header("X-Extra", "yes")
    return "with cookies"

async def boom(g):
    raise RuntimeError("the script failed")
"""

ROUTES = [
    {"path": "/users/:id", "method": "GET", "script": "users.py", "handler": "show"},
    {"path": "/users/:id", "method": "DELETE", "script": "users"},
    {"path": "/posts/:year/:slug?", "script": "users.py"},
    {"path": "/files/*", "method": "ALL", "script": "users.py"},
    *(
        {"path": f"/r/{name}", "method": "ALL", "script": "replies.py", "handler": name}
        for name in ("nothing", "status", "moved", "cookies", "boom")
    ),
]

FILES = {
    "gingee.json": {"default_app": "shop"},
    "web/shop/box/app.json": {"name": "shop"},
    "web/shop/box/routes.json": {"routes": ROUTES},
    "web/shop/box/users.py": NAMED,
    "web/shop/box/replies.py": REPLIES,
    "web/shop/box/api/items.py": ECHO,
    "web/shop/index.html": "<h1>shop</h1>",
    "web/shop/css/site.css": "body{}",
    "web/shop/docs/index.html": "<p>docs</p>",
    "web/shop/empty.txt": "",
}


@pytest.fixture(scope="module")
def server(served) -> Server:
    return served(FILES, dev=False)


@pytest.fixture
def client() -> Iterator[httpx.Client]:
    with httpx.Client(follow_redirects=False, timeout=10) as http:
        yield http


def test_file_routes_run_box_scripts_for_any_method(server, client):
    for method in ("GET", "POST", "PUT", "DELETE", "PATCH", "OPTIONS"):
        reply = client.request(method, server.url("/shop/api/items?x=1&x=2&y=%C3%A9"))
        assert reply.status_code == 200, method
        assert reply.headers["content-type"] == "application/json"
        assert reply.headers["content-length"] == str(len(reply.content))
        assert reply.headers["x-content-type-options"] == "nosniff"
        assert reply.json() == {
            "script": "items",
            "method": method,
            "params": {},
            "query": {"x": "2", "y": "é"},
            "path": "/shop/api/items",
        }


def test_manifest_routes_with_params(server, client):
    assert client.get(server.url("/shop/users/42")).json() == {"fn": "show", "params": {"id": "42"}}
    assert client.delete(server.url("/shop/users/42")).json() == {"fn": "handle", "params": {"id": "42"}}
    assert client.get(server.url("/shop/users/a%2Fb%20c")).json()["params"] == {"id": "a/b c"}
    assert client.get(server.url("/shop/users/%C3%A9t%C3%A9")).json()["params"] == {"id": "été"}
    assert client.get(server.url("/shop/posts/2024/hello")).json()["params"] == {
        "year": "2024",
        "slug": "hello",
    }
    assert client.get(server.url("/shop/posts/2024/")).json()["params"] == {"year": "2024"}
    assert client.put(server.url("/shop/files/a/b/c.txt")).json()["params"] == {"*": "a/b/c.txt"}


def test_a_route_answers_405_with_allow_for_other_methods(server, client):
    reply = client.post(server.url("/shop/users/1"))
    assert reply.status_code == 405
    assert reply.headers["allow"] == "GET, DELETE, HEAD"
    assert json_error(reply) == "METHOD_NOT_ALLOWED"
    assert reply.json()["reason"] == "POST is not allowed here; allowed: GET, DELETE, HEAD"


def test_static_files(server, client):
    css = client.get(server.url("/shop/css/site.css"))
    assert (css.status_code, css.text) == (200, "body{}")
    assert css.headers["content-type"] == "text/css; charset=utf-8"
    assert css.headers["cache-control"] == "no-cache"
    assert css.headers["content-length"] == "6"
    empty = client.get(server.url("/shop/empty.txt"))
    assert (empty.status_code, empty.content, empty.headers["content-length"]) == (200, b"", "0")
    assert client.get(server.url("/shop/")).text == "<h1>shop</h1>"
    assert client.get(server.url("/shop/docs/")).text == "<p>docs</p>"


@pytest.mark.parametrize(
    ("path", "status", "location"),
    [
        ("/shop", 301, "shop/"),
        ("/shop?x=1&y=2", 301, "shop/?x=1&y=2"),
        ("/shop/docs", 301, "docs/"),
        ("/", 302, "shop/"),
        ("/shop/r/moved", 303, "/shop/api/items"),
    ],
)
def test_redirects(server, client, path, status, location):
    reply = client.get(server.url(path))
    assert reply.status_code == status
    assert reply.headers["location"] == location
    assert (reply.content, reply.headers["content-length"]) == (b"", "0")


@pytest.mark.parametrize(
    ("path", "status", "code"),
    [
        ("/nothere/x", 404, "APP_NOT_FOUND"),
        ("/shop/missing.css", 404, "FILE_NOT_FOUND"),
        ("/shop/missing", 404, "FILE_NOT_FOUND"),
        ("/shop/api/", 404, "FILE_NOT_FOUND"),
        ("/shop/_gingee/nothing", 404, "FILE_NOT_FOUND"),
        ("/shop/box/app.json", 403, "ACCESS_DENIED"),
    ],
)
def test_refusals_are_json(server, client, path, status, code):
    reply = client.get(server.url(path))
    assert reply.status_code == status
    assert json_error(reply) == code
    assert reply.headers["content-length"] == str(len(reply.content))
    assert reply.headers["x-content-type-options"] == "nosniff"


def test_a_failing_script_is_a_500_without_traceback(server, client):
    reply = client.get(server.url("/shop/r/boom"))
    assert reply.status_code == 500
    assert json_error(reply) == "INTERNAL_SERVER_ERROR"
    assert reply.json()["reason"].startswith("the server script failed; the app's log has the details")


def test_cookies_and_script_headers(server, client):
    reply = client.get(server.url("/shop/r/cookies"))
    assert reply.text == "with cookies"
    assert reply.headers["content-type"] == "text/plain; charset=utf-8"
    assert reply.headers["x-extra"] == "yes"
    assert reply.headers.get_list("set-cookie") == [
        "a=1; HttpOnly; Path=/; SameSite=Lax",
        "b=2; HttpOnly; Max-Age=60; Path=/; SameSite=Lax",
    ]


@pytest.mark.parametrize("method", ["GET", "HEAD"])
@pytest.mark.parametrize("target", ["/shop/r/nothing", "/shop/r/status?s=204", "/shop/r/status?s=304"])
def test_bodiless_statuses_carry_no_length_nor_type(server, target, method):
    """204 and 304 have no body, so no Content-Length (RFC 9110) and, as Tornado sends them, no
    Content-Type."""
    reply = raw(server.port, target, method)
    assert reply.status == (304 if "304" in target else 204)
    assert reply.body == b""
    assert reply.header("content-length") is None and not reply.chunked
    assert reply.header("content-type") is None
    assert reply.header("x-content-type-options") == "nosniff"


def test_a_body_on_a_204_is_a_500(server):
    """A script that sends a body with a bodiless status: Tornado refuses it ("Cannot send body with
    status code HTTP204"), so a keep-alive client never reads that body as the next reply."""
    reply = raw(server.port, "/shop/r/status?s=204&body=oops")
    assert reply.status == 500
    assert json.loads(reply.body) == {"error": "INTERNAL_SERVER_ERROR", "reason": "Internal Server Error"}


@pytest.mark.parametrize("target", ["/shop/users/7?q=1", "/shop/css/site.css", "/shop/missing"])
def test_head_has_the_get_headers_and_no_body(server, target):
    get = raw(server.port, target)
    head = raw(server.port, target, "HEAD")
    assert head.status == get.status
    assert head.body == b""
    for name in ("content-type", "content-length", "cache-control", "x-content-type-options"):
        assert head.header(name) == get.header(name), name
    assert head.header("content-length") == str(len(get.body))


def test_an_absolute_form_target_is_served_like_its_path(server):
    reply = raw(server.port, f"http://127.0.0.1:{server.port}/shop/users/7")
    assert reply.status == 200
    assert json.loads(reply.body) == {"fn": "show", "params": {"id": "7"}}
