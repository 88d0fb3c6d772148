"""Sessions beyond one process: shared keys (no sticky sessions), key rotation, cookies behind a trusted
proxy, the websocket auth hook's `ctx.user`, and manifests that are refused with the file and key."""

from __future__ import annotations

import json
from typing import Any

import httpx
import pytest
from tornado.httpclient import HTTPClientError, HTTPRequest
from tornado.websocket import websocket_connect

from gingee_kernel.practice.oidc import OidcProvider
from tests.auth.flow import CLIENT_ID, CLIENT_SECRET, Browser, oidc_entry, project_files, write_env
from tests.auth.test_login_flow import set_cookies

KEY_NEW = "a-new-session-key-of-forty-random-chars!!"
KEY_OLD = "the-old-session-key-of-forty-random-chars"


def _keys(*names: str) -> dict[str, Any]:
    return {"auth": {"session": {"keys": [f"env:{name}" for name in names]}}}


@pytest.fixture
def keyed(oidc_provider: OidcProvider, make_project: Any, serve: Any, monkeypatch: Any) -> Any:
    """Start `club` servers (separate projects, like separate hosts) with the session keys named."""
    write_env(monkeypatch)
    monkeypatch.setenv("KEY_NEW", KEY_NEW)
    monkeypatch.setenv("KEY_OLD", KEY_OLD)
    count = [0]

    def start(*keys: str, extra: dict[str, Any] | None = None) -> Any:
        count[0] += 1
        files = project_files(
            {"local": oidc_entry(oidc_provider.discovery_url)}, server={**_keys(*keys), **(extra or {})}
        )
        server = serve(make_project(files, name=f"host{count[0]}"), dev=False)
        server.app_url = server.url("/club")
        oidc_provider.add_client(CLIENT_ID, CLIENT_SECRET, [server.app_url + "/_auth/callback/local"])
        return server

    return start


async def _whoami(url: str, cookie: str) -> Any:
    async with httpx.AsyncClient() as http:
        reply = await http.get(url + "/whoami", headers={"Cookie": f"gingee_session={cookie}"})
        return reply.json()["user"]


async def test_another_host_with_the_same_keys_reads_the_session_and_rotation_keeps_it(keyed: Any) -> None:
    first = keyed("KEY_OLD")
    async with Browser() as browser:
        assert (await browser.login(first.app_url, "local")).status_code == 302
        cookie = browser.http.cookies.get("gingee_session")
    same = keyed("KEY_OLD")
    assert (await _whoami(same.app_url, cookie))["subject"] == "ada"  # no sticky sessions
    rotated = keyed("KEY_NEW", "KEY_OLD")  # a new key in front: old sessions still open
    assert (await _whoami(rotated.app_url, cookie))["subject"] == "ada"
    retired = keyed("KEY_NEW")  # the old key dropped: its sessions are over
    assert await _whoami(retired.app_url, cookie) is None
    other = keyed("KEY_NEW", "KEY_OLD")
    async with Browser() as browser:  # a new login seals with the new key only
        assert (await browser.login(other.app_url, "local")).status_code == 302
        fresh = browser.http.cookies.get("gingee_session")
    assert (await _whoami(retired.app_url, fresh))["subject"] == "ada"
    assert await _whoami(first.app_url, fresh) is None


async def test_a_session_for_one_app_does_not_open_another(
    oidc_provider: OidcProvider, make_project: Any, serve: Any, monkeypatch: Any
) -> None:
    write_env(monkeypatch)
    files = project_files({"local": oidc_entry(oidc_provider.discovery_url)})
    files["web/other/box/app.json"] = {"name": "other", "auth": {}}
    files["web/other/box/whoami.py"] = files["web/club/box/whoami.py"]
    server = serve(make_project(files), dev=False)
    oidc_provider.add_client(CLIENT_ID, CLIENT_SECRET, [server.url("/club/_auth/callback/local")])
    async with Browser() as browser:
        assert (await browser.login(server.url("/club"), "local")).status_code == 302
        cookie = browser.http.cookies.get("gingee_session")
    assert await _whoami(server.url("/other"), cookie) is None
    assert (await _whoami(server.url("/club"), cookie))["subject"] == "ada"


async def test_a_trusted_proxy_makes_cookies_secure_and_the_redirect_uri_https(keyed: Any) -> None:
    server = keyed("KEY_NEW", extra={"server": {"trusted_proxies": ["127.0.0.1"]}})
    proxied = {
        "X-Forwarded-Proto": "https",
        "X-Forwarded-Host": "club.example",
        "X-Forwarded-Prefix": "/apps",
    }
    async with httpx.AsyncClient(follow_redirects=False) as http:
        start = await http.get(server.app_url + "/_auth/login/local", headers=proxied)
        assert start.status_code == 302
        assert (
            "redirect_uri=https%3A%2F%2Fclub.example%2Fapps%2Fclub%2F_auth%2Fcallback%2Flocal"
            in (start.headers["location"])
        )
        state = set_cookies(start)["gingee_session_login"]
        assert state["secure"] and state["path"] == "/apps/club/_auth/"


async def test_forwarded_headers_from_an_untrusted_peer_are_ignored(keyed: Any) -> None:
    server = keyed("KEY_NEW")  # no trusted_proxies
    forged = {"X-Forwarded-Proto": "https", "X-Forwarded-Host": "evil.example"}
    async with httpx.AsyncClient(follow_redirects=False) as http:
        start = await http.get(server.app_url + "/_auth/login/local", headers=forged)
    assert "evil.example" not in start.headers["location"]
    assert "redirect_uri=http%3A%2F%2F127.0.0.1" in start.headers["location"]
    assert not set_cookies(start)["gingee_session_login"]["secure"]


SOCKET_AUTH = """
def handle(ctx):
    if ctx.user is None:
        return False
    return {"email": ctx.user.email}
"""
SOCKET = """
async def handle(socket, ctx):
    socket.send({"meta": socket.meta, "user": ctx.user.subject})
"""


async def test_the_websocket_auth_hook_sees_ctx_user(
    oidc_provider: OidcProvider, make_project: Any, serve: Any, monkeypatch: Any
) -> None:
    write_env(monkeypatch)
    files = project_files({"local": oidc_entry(oidc_provider.discovery_url)})
    app = files["web/club/box/app.json"]
    app["websockets"] = {"path": "/ws", "handler": "socket.py", "auth": "socket_auth.py"}
    files["web/club/box/pmft.json"] = {"permissions": {"mandatory": ["websockets"]}}
    files["web/club/box/socket.py"] = SOCKET
    files["web/club/box/socket_auth.py"] = SOCKET_AUTH
    server = serve(make_project(files), dev=True)
    oidc_provider.add_client(CLIENT_ID, CLIENT_SECRET, [server.url("/club/_auth/callback/local")])
    url = f"ws://127.0.0.1:{server.port}/club/ws"
    with pytest.raises(HTTPClientError) as refused:
        await websocket_connect(HTTPRequest(url))
    assert refused.value.code == 401
    async with Browser() as browser:
        assert (await browser.login(server.url("/club"), "local")).status_code == 302
        cookie = browser.http.cookies.get("gingee_session")
    conn = await websocket_connect(HTTPRequest(url, headers={"Cookie": f"gingee_session={cookie}"}))
    message = json.loads(await conn.read_message())
    assert message == {"meta": {"email": "ada@example.org"}, "user": "ada"}
    conn.close()


@pytest.mark.parametrize(
    ("entry", "pointer", "expected"),
    [
        (
            {"client_id": "abc", "client_secret": "env:OIDC_SECRET"},
            "/auth/providers/github/client_id",
            "secret",
        ),
        (
            {"client_id": "env:OIDC_ID", "client_secret": "env:OIDC_SECRET", "tenant": "common"},
            "/auth/providers/github/tenant",
            "github",
        ),
        ({"client_id": "env:OIDC_ID", "client_secret": "env:OIDC_SECRET", "scopes": ["profile"]}, None, None),
    ],
)
async def test_a_broken_auth_section_names_the_file_and_key_and_other_apps_serve(
    make_project: Any, serve: Any, monkeypatch: Any, entry: dict[str, Any], pointer: Any, expected: Any
) -> None:
    write_env(monkeypatch)
    files = project_files({"github": entry})
    files["web/fine/box/app.json"] = {"name": "fine"}
    files["web/fine/box/hello.py"] = "def handle(g):\n    return {'ok': True}\n"
    server = serve(make_project(files), dev=True)
    async with httpx.AsyncClient() as http:
        assert (await http.get(server.url("/fine/hello"))).json() == {"ok": True}
        broken = await http.get(server.url("/club/whoami"))
    if pointer is None:  # github needs no "openid": its own scopes are fine
        assert broken.status_code == 200
        return
    assert broken.status_code == 503
    reason = broken.json()["reason"]
    assert "web/club/box/app.json" in reason and pointer in reason and expected in reason


async def test_an_oidc_entry_without_openid_scope_or_discovery_is_refused(
    make_project: Any, serve: Any, monkeypatch: Any
) -> None:
    write_env(monkeypatch)
    no_openid = project_files(
        {"sso": oidc_entry("https://idp.example/.well-known/openid-configuration", scopes=["email"])}
    )
    server = serve(make_project(no_openid, name="a"), dev=True)
    no_discovery = project_files(
        {"sso": {"type": "oidc", "client_id": "env:OIDC_ID", "client_secret": "env:X"}}
    )
    monkeypatch.setenv("X", "y")
    other = serve(make_project(no_discovery, name="b"), dev=True)
    async with httpx.AsyncClient() as http:
        first = (await http.get(server.url("/club/whoami"))).json()["reason"]
        second = (await http.get(other.url("/club/whoami"))).json()["reason"]
    assert "/auth/providers/sso/scopes" in first and "openid" in first
    assert "/auth/providers/sso/discovery_url" in second


async def test_a_short_session_key_is_refused_naming_it(
    make_project: Any, serve: Any, monkeypatch: Any
) -> None:
    write_env(monkeypatch)
    monkeypatch.setenv("SHORT", "too-short")
    files = project_files({}, server=_keys("SHORT"))
    server = serve(make_project(files), dev=True)
    async with httpx.AsyncClient() as http:
        reply = await http.get(server.url("/club/whoami"))
    assert reply.status_code == 503
    assert (
        "gingee.json: at /auth/session/keys/0: a session key of at least 16 bytes" in reply.json()["reason"]
    )
