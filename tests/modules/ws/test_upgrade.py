"""Websocket upgrade checks, each with its status, and their order: path 404, maintenance 503, server
then app caps 503, origin 403, auth hook 401 or its own code."""

from __future__ import annotations

import pytest

from .conftest import chat_files, recv, refused, ws_url


@pytest.fixture
def server(make_project, serve):
    files = {
        **chat_files("chat", allowed_origins=["https://app.example.org"]),
        **chat_files("solo", max_connections=1),
        **chat_files("closed"),
        **chat_files("nogrant"),
        "web/closed/box/app.json": {
            "name": "closed",
            "maintenance": True,
            "websockets": {"handler": "ws.py", "auth": "auth.py"},
        },
        "web/nogrant/box/pmft.json": {"permissions": {"mandatory": ["cache"]}},
        "web/plain/box/app.json": {"name": "plain"},
        "web/plain/box/hello.py": "async def handle(g):\n    return 'hi'\n",
    }
    return serve(make_project(files))


async def test_accepted_upgrade_gets_meta_from_the_auth_hook(server, ws):
    conn = await ws(ws_url(server, "/chat/ws?token=acme"))
    hello = await recv(conn)
    assert hello["meta"] == {"user": "u-acme", "tenant": "acme"}
    assert (hello["tenant"], hello["path"], hello["app"]) == ("acme", "/ws", "chat")
    trailing = await ws(ws_url(server, "/chat/ws/?token=anon"))
    assert (await recv(trailing))["meta"] == {}


@pytest.mark.parametrize(
    ("path", "code"),
    [
        ("/nope/ws", "APP_NOT_FOUND"),
        ("/chat/other", "WEBSOCKET_NOT_FOUND"),
        ("/plain/ws", "WEBSOCKET_NOT_FOUND"),
        ("/closed/elsewhere", "WEBSOCKET_NOT_FOUND"),  # the path check comes before maintenance
    ],
)
async def test_unknown_paths_are_404(server, path, code):
    status, body, _ = await refused(ws_url(server, path + "?token=anon"))
    assert (status, body["error"]) == (404, code)


async def test_app_without_the_grant_is_403_naming_the_permission(server):
    status, body, _ = await refused(ws_url(server, "/nogrant/ws?token=anon"))
    assert (status, body["error"]) == (403, "ACCESS_DENIED")
    assert "'websockets' permission" in body["reason"]


async def test_maintenance_is_503_before_origin_and_auth(server):
    headers = {"Origin": "https://evil.example"}
    status, body, reply_headers = await refused(ws_url(server, "/closed/ws"), headers)
    assert (status, body["error"], reply_headers["Retry-After"]) == (503, "MAINTENANCE", "30")


async def test_app_cap_is_503_before_origin(server, ws):
    await recv(await ws(ws_url(server, "/solo/ws?token=anon")))
    status, body, reply_headers = await refused(
        ws_url(server, "/solo/ws?token=anon"), {"Origin": "https://evil.example"}
    )
    assert (status, body["error"], body["scope"]) == (503, "TOO_MANY_CONNECTIONS", "app")
    assert reply_headers["Retry-After"] == "1"


async def test_a_closed_connection_frees_its_slot(server, ws):
    conn = await ws(ws_url(server, "/solo/ws?token=anon"))
    await recv(conn)
    conn.close()
    assert await conn.read_message() is None
    await recv(await ws(ws_url(server, "/solo/ws?token=anon")))


async def test_a_refused_upgrade_frees_its_slot(server, ws):
    for _ in range(3):
        status, _, _ = await refused(ws_url(server, "/solo/ws"))  # no token: the auth hook refuses
        assert status == 401
    await recv(await ws(ws_url(server, "/solo/ws?token=anon")))


@pytest.mark.parametrize(
    ("origin", "allowed"),
    [
        (None, True),  # not a browser
        ("https://app.example.org", True),  # listed
        ("HTTPS://APP.EXAMPLE.ORG/", True),
        ("SAME", True),  # same origin as the Host header
        ("https://evil.example", False),
        ("https://app.example.org.evil.example", False),
        ("null", False),
    ],
)
async def test_origin_same_origin_or_listed(server, ws, origin, allowed):
    headers = {}
    if origin == "SAME":
        headers["Origin"] = f"http://127.0.0.1:{server.port}"
    elif origin is not None:
        headers["Origin"] = origin
    url = ws_url(server, "/chat/ws?token=anon")
    if allowed:
        await recv(await ws(url, headers))
    else:
        status, body, _ = await refused(url, headers)
        assert (status, body["error"]) == (403, "ORIGIN_NOT_ALLOWED")


async def test_origin_is_checked_before_auth(server):
    status, body, _ = await refused(ws_url(server, "/chat/ws"), {"Origin": "https://evil.example"})
    assert (status, body["error"]) == (403, "ORIGIN_NOT_ALLOWED")


@pytest.mark.parametrize(
    ("token", "status", "code"),
    [
        ("", 401, "UNAUTHORIZED"),  # the hook returned None
        ("boom", 401, "UNAUTHORIZED"),  # the hook raised
        ("banned", 403, "FORBIDDEN"),  # {"ok": False, "status": 403}
        ("bad-tenant", 500, "INVALID_TENANT"),
    ],
)
async def test_auth_hook_refusals(server, token, status, code):
    got, body, _ = await refused(ws_url(server, f"/chat/ws?token={token}"))
    assert (got, body["error"]) == (status, code)
    assert "Traceback" not in body["reason"]
    if token == "banned":
        assert body["reason"] == "banned here"


async def test_plain_get_on_the_websocket_path_does_not_run_the_handler(server, client):
    reply = client.get(server.url("/chat/ws"))
    assert reply.status_code == 404
    assert client.get(server.url("/chat/auth")).status_code == 404
    assert client.get(server.url("/plain/hello")).text == "hi"  # normal HTTP still served


async def test_server_cap_is_checked_before_the_app_cap(make_project, serve, ws):
    files = {**chat_files("a", max_connections=1), "gingee.json": {"websockets": {"max_connections": 1}}}
    server = serve(make_project(files))
    await recv(await ws(ws_url(server, "/a/ws?token=anon")))
    status, body, _ = await refused(ws_url(server, "/a/ws?token=anon"))
    assert (status, body["error"], body["scope"]) == (503, "TOO_MANY_CONNECTIONS", "server")


def test_missing_handler_script_is_a_manifest_error(make_project, serve):
    files = chat_files("chat")
    del files["web/chat/box/ws.py"]
    server = serve(make_project(files))
    assert "chat" not in server.project.apps
    assert "/websockets/handler" in server.project.errors["chat"]


def test_websocket_settings_are_validated_by_the_schema(make_project, serve):
    files = chat_files("chat", idle_timeout=-1, bogus=True)
    server = serve(make_project(files))
    assert "/websockets" in server.project.errors["chat"]
