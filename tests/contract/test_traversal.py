"""Path confinement on both hosts, over raw sockets: the traversal corpus of tests/test_path_traversal.py
gets the same status and error code from each (nothing from box/ or outside the app, encoded `%2e%2e` and
`%2f`, backslashes, NUL, absolute paths), for every method and for websocket upgrades."""

from __future__ import annotations

import json

import pytest

from tests.test_path_traversal import (
    INDEX_HTML,
    PUBLIC_TXT,
    VARIANTS,
    WEBSOCKET_HEADERS,
    build_project,
    leaked,
)

from .conftest import Server, asgi_limit, json_error, raw

APP_NOT_FOUND = {
    "dotdot-as-app-name", "dot-as-app-name", "pct2e2e-app-name", "pct2f-in-app-name", "backslash-dotdot-app",
    "double-slash-etc", "triple-slash-etc", "encoded-app-name",
}  # fmt: skip
FILE_NOT_FOUND = {
    "double-encoded", "double-encoded-segments", "double-encoded-box", "nested-percent",
    "double-encoded-backslash", "fullwidth-dots", "fullwidth-dots-solidus", "two-dot-leader",
    "iis-u-encoding", "division-slash", "box-upper", "box-capitalised", "box-trailing-dot",
    "box-trailing-space", "app-double-slash-etc", "query-dotdot-missing", "semicolon-dotdot",
    "semicolon-box", "semicolon-param-box", "dotdot-space", "triple-dot",
}  # fmt: skip
#: Targets the two hosts' HTTP parsers read differently: each has a test of its own below.
PARSED_DIFFERENTLY = {"absolute-uri-form", "fragment-ext-symlink", "fullwidth-dots-raw-utf8"}
CORPUS = [(name, target) for name, target in VARIANTS if name not in PARSED_DIFFERENTLY]


def expected(name: str) -> tuple[int, str]:
    if name in APP_NOT_FOUND:
        return 404, "APP_NOT_FOUND"
    if name in FILE_NOT_FOUND:
        return 404, "FILE_NOT_FOUND"
    return 403, "ACCESS_DENIED"


@pytest.fixture(scope="module")
def server(served) -> Server:
    running = served({}, dev=False, build=build_project)
    assert sorted(running.project.apps) == ["app1", "app10"], running.project.errors
    return running


@pytest.mark.parametrize(("name", "target"), CORPUS, ids=[name for name, _ in CORPUS])
def test_the_corpus_is_refused_alike(server, name, target):
    reply = raw(server.port, target)
    assert (reply.status, json_error(reply)) == expected(name), target
    assert leaked(reply.raw) == []


@pytest.mark.parametrize("method", ["HEAD", "POST", "PUT", "DELETE", "OPTIONS"])
@pytest.mark.parametrize(
    ("target", "status"),
    [("/app1/box/app.json", 403), ("/app1/%2e%2e/secret.txt", 403), ("/app1/..%2f..%2fsecret.txt", 403),
     ("/app1/outside.txt", 403), ("/app1/app10link/secret.txt", 403), ("/%2e%2e/secret.txt", 404)],
)  # fmt: skip
def test_every_method_is_refused(server, target, status, method):
    reply = raw(server.port, target, method, {"Content-Length": "0"} if method in ("POST", "PUT") else {})
    assert reply.status == status
    assert leaked(reply.raw) == []
    if method == "HEAD":
        assert reply.body == b"" and reply.header("content-type") == "application/json"
    else:
        assert json_error(reply) == ("ACCESS_DENIED" if status == 403 else "APP_NOT_FOUND")


@pytest.mark.parametrize(
    "target",
    ["/app1/../secret.txt", "/app1/%2e%2e/app10/secret.txt", "/app1/box/app.json", "/app1/outside.txt"],
)
def test_websocket_upgrades_are_refused(server, target):
    headers = dict(line.split(": ", 1) for line in WEBSOCKET_HEADERS.strip().split("\r\n"))
    reply = raw(server.port, target, headers=headers)
    assert (reply.status, json_error(reply)) == (404, "WEBSOCKET_NOT_FOUND")
    assert leaked(reply.raw) == []


@pytest.mark.parametrize(
    ("target", "body"),
    [("/app1/", INDEX_HTML), ("/app1/%70ublic.txt", PUBLIC_TXT), ("/app1/alias.txt", PUBLIC_TXT),
     ("/app1/index.html?file=../../secret.txt", INDEX_HTML)],
)  # fmt: skip
def test_public_files_are_served(server, target, body):
    reply = raw(server.port, target)
    assert (reply.status, reply.body.decode()) == (200, body)


def test_a_box_script_runs_by_file_routing(server):
    reply = raw(server.port, "/app1/hello")
    assert (reply.status, json.loads(reply.body)) == (200, {"app": "app1"})
    assert leaked(reply.raw) == []


def test_an_absolute_form_target_is_confined_like_its_path(server):
    reply = raw(server.port, f"http://127.0.0.1:{server.port}/app1/../../secret.txt")
    assert (reply.status, json_error(reply)) == (403, "ACCESS_DENIED")
    assert leaked(reply.raw) == []


def test_a_fragment_is_not_part_of_the_path(server):
    """A '#' cannot be in a request target (RFC 9112 3.2); uvicorn, like nginx, ends the path there."""
    reply = raw(server.port, "/app1/public.txt#.html")
    assert (reply.status, reply.body.decode()) == (200, PUBLIC_TXT)
    symlink = raw(server.port, "/app1/outside.txt#.html")
    assert (symlink.status, json_error(symlink)) == (403, "ACCESS_DENIED")
    assert leaked(symlink.raw) == []


def test_raw_utf8_in_the_target_is_a_json_answer(server, request, host):
    asgi_limit(request, host, "httptools refuses non-ASCII bytes in the target: 400 text/plain")
    reply = raw(server.port, "/app1/\uff0e\uff0e/\uff0e\uff0e/secret.txt")
    assert (reply.status, json_error(reply)) == (404, "FILE_NOT_FOUND")
    assert leaked(reply.raw) == []
