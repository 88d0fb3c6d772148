"""DESIGN §2: file routing, manifest routes, params, wildcards, 405, statuses — over real HTTP."""

from __future__ import annotations

import pytest

ECHO = """
async def handle(g):
    g.response.send({"script": __name__.rsplit(".", 1)[-1], "method": g.request.method,
                     "params": g.request.params, "query": g.request.query})
"""

NAMED = """
async def handle(g):
    g.response.send({"fn": "handle", "params": g.request.params})

async def show(g):
    g.response.send({"fn": "show", "params": g.request.params})
"""


@pytest.fixture
def server(make_project, serve):
    project = make_project(
        {
            "gingee.json": {"default_app": "shop"},
            "web/shop/box/app.json": {"name": "shop"},
            "web/shop/box/routes.json": {
                "routes": [
                    {"path": "/users/:id", "method": "GET", "script": "users.py", "handler": "show"},
                    {"path": "/users/:id", "method": "DELETE", "script": "users"},
                    {"path": "/posts/:year/:slug?", "script": "users.py"},
                    {"path": "/files/*", "method": "ALL", "script": "users.py"},
                    {"path": "/echo", "method": "POST", "script": "echo.py"},
                    {"path": "/echo", "method": "POST", "script": "users.py"},
                ]
            },
            "web/shop/box/users.py": NAMED,
            "web/shop/box/echo.py": ECHO,
            "web/shop/box/api/items.py": ECHO,
            "web/shop/index.html": "<h1>shop</h1>",
            "web/shop/css/site.css": "body{}",
            "web/shop/docs/index.html": "<p>docs</p>",
            "web/shop/README": "plain file without extension",
        }
    )
    return serve(project)


def test_file_route_runs_box_script_for_any_method(server, client):
    for method in ("GET", "POST", "PUT", "DELETE", "PATCH"):
        reply = client.request(method, server.url("/shop/api/items?x=1&x=2"))
        assert reply.status_code == 200
        assert reply.json() == {"script": "items", "method": method, "params": {}, "query": {"x": "2"}}


def test_manifest_route_param_and_named_handler(server, client):
    reply = client.get(server.url("/shop/users/42"))
    assert reply.json() == {"fn": "show", "params": {"id": "42"}}
    assert client.delete(server.url("/shop/users/42")).json() == {"fn": "handle", "params": {"id": "42"}}


def test_params_are_percent_decoded_one_by_one(server, client):
    reply = client.get(server.url("/shop/users/a%2Fb%20c"))
    assert reply.json()["params"] == {"id": "a/b c"}


def test_optional_param_present_and_absent(server, client):
    assert client.get(server.url("/shop/posts/2024/hello")).json()["params"] == {
        "year": "2024",
        "slug": "hello",
    }
    assert client.get(server.url("/shop/posts/2024")).json()["params"] == {"year": "2024"}
    assert client.get(server.url("/shop/posts/2024/")).json()["params"] == {"year": "2024"}


def test_trailing_wildcard_captures_rest(server, client):
    assert client.get(server.url("/shop/files/a/b/c.txt")).json()["params"] == {"*": "a/b/c.txt"}
    assert client.put(server.url("/shop/files")).json()["params"] == {"*": ""}


def test_405_lists_allowed_methods(server, client):
    reply = client.post(server.url("/shop/users/1"))
    assert reply.status_code == 405
    assert reply.headers["Allow"] == "GET, DELETE, HEAD"
    assert reply.json()["error"] == "METHOD_NOT_ALLOWED"


def test_a_route_without_method_answers_get_only(server, client):
    assert client.get(server.url("/shop/posts/2024/hello")).status_code == 200
    for method in ("POST", "PUT", "DELETE"):
        reply = client.request(method, server.url("/shop/posts/2024/hello"))
        assert reply.status_code == 405, method
        assert reply.headers["Allow"] == "GET, HEAD"
        assert reply.json()["error"] == "METHOD_NOT_ALLOWED"


def test_first_matching_route_wins(server, client):
    assert client.post(server.url("/shop/echo")).json()["script"] == "echo"


def test_static_files_with_types(server, client):
    reply = client.get(server.url("/shop/css/site.css"))
    assert reply.status_code == 200
    assert reply.headers["content-type"].startswith("text/css")
    assert reply.text == "body{}"
    assert client.get(server.url("/shop/README")).text == "plain file without extension"


def test_app_root_and_directory_index(server, client):
    bare = client.get(server.url("/shop"))
    assert bare.status_code == 301 and bare.headers["Location"] == "shop/"
    assert client.get(server.url("/shop/")).text == "<h1>shop</h1>"
    docs = client.get(server.url("/shop/docs"))
    assert docs.status_code == 301 and docs.headers["Location"] == "docs/"
    assert client.get(server.url("/shop/docs/")).text == "<p>docs</p>"


def test_default_app_redirect(server, client):
    reply = client.get(server.url("/"))
    assert reply.status_code == 302 and reply.headers["Location"] == "shop/"


@pytest.mark.parametrize(
    ("path", "status", "code"),
    [
        ("/nothere/x", 404, "APP_NOT_FOUND"),
        ("/shop/missing.css", 404, "FILE_NOT_FOUND"),
        ("/shop/missing", 404, "FILE_NOT_FOUND"),
        ("/shop/box/app.json", 403, "ACCESS_DENIED"),
        ("/shop/box/users", 403, "ACCESS_DENIED"),
        ("/shop/box", 403, "ACCESS_DENIED"),
    ],
)
def test_error_statuses(server, client, path, status, code):
    reply = client.get(server.url(path))
    assert reply.status_code == status
    assert reply.json()["error"] == code
    assert "Traceback" not in reply.text


def test_box_like_public_names_are_not_refused(make_project, serve, client):
    """The original refused any URL containing '/<app>/box' as a substring; we decide by resolved path."""
    project = make_project(
        {
            "web/a/box/app.json": {"name": "a"},
            "web/a/boxes.css": "ok",
            "web/a/page.html": "next",
        }
    )
    server = serve(project)
    assert client.get(server.url("/a/boxes.css")).text == "ok"
    assert client.get(server.url("/a/page.html?next=/a/box/app.json")).text == "next"


def test_head_has_no_body(server, client):
    reply = client.head(server.url("/shop/css/site.css"))
    assert reply.status_code == 200
    assert reply.content == b""
    assert reply.headers["content-length"] == "6"


def test_app_in_maintenance_is_503_with_retry_after(make_project, serve, client):
    project = make_project(
        {
            "web/down/box/app.json": {"name": "down", "maintenance": True},
            "web/down/box/x.py": "async def handle(g):\n    g.response.send('up')\n",
            "web/down/index.html": "page",
        }
    )
    server = serve(project)
    for path in ("/down/x", "/down/index.html"):
        reply = client.get(server.url(path))
        assert reply.status_code == 503
        assert reply.json()["error"] == "MAINTENANCE"
        assert reply.headers["Retry-After"] == "30"


def test_observers_see_route_patterns_not_raw_urls(server, client):
    seen = []
    server.server.engine.observers.append(seen.append)
    client.get(server.url("/shop/users/42?secret=x"))
    client.get(server.url("/shop/api/items"))
    client.get(server.url("/shop/css/site.css"))
    client.get(server.url("/unknown-app-abc/x"))
    assert [(e.app, e.route, e.kind, e.status) for e in seen] == [
        ("shop", "/users/:id", "script", 200),
        ("shop", "/api/items", "script", 200),
        ("shop", "static", "static", 200),
        ("-", "-", "other", 404),
    ]
    assert all(e.duration > 0 for e in seen)
