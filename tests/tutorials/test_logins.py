"""Notebook 06 (logins): a real login against the practice provider, a forgery refused, the export guarded."""

from __future__ import annotations

import json

import pytest


def test_logins_tutorial_logs_in_refuses_a_forgery_and_gingee_serve_guards_the_export(
    tutorial, serve, client, monkeypatch: pytest.MonkeyPatch
) -> None:
    run = tutorial("06-logins")
    tmp_path, by_first_line = run.workdir, run.outputs_by_cell()

    def out(start: str) -> str:
        [text] = [text for first, text in by_first_line.items() if first.startswith(start)]
        return text

    # Logged out: an API call gets 401 and the login URL, a browser a redirect to it.
    refused = out('app.request("GET", "/members")')
    assert "HTTP 401" in refused and '"error": "LOGIN_REQUIRED"' in refused
    login = "http://notebook/club/_auth/login/practice?next=%2Fmembers"
    assert login in refused and login in out(
        'app.request("GET", "/members", headers={"Accept": "text/html"})'
    )
    # Logged in from cells: one call as Grace, then every call as Ada.
    assert '"welcome": "Grace Hopper"' in out('app.request("GET", "/members", user={"sub": "grace", "email"')
    assert '"user": "notebook:ada@example.org"' in out('app.login_as("ada@example.org")')
    assert out("app.login_as(None)").strip() == "401"
    assert "Well done" in out('gk.check(app).route("GET", "/me", status=401)')  # the exercise, solved
    # The real login, hop by hop: PKCE S256, state and nonce asked; the session set; the provider's user in.
    asked = out(
        'leave = keep_cookies(app.request("GET", "/_auth/login/practice", query={"next": "/members"}))'
    )
    assert "302 to http://127.0.0.1:" in asked and "with cookies ['gingee_session_login']" in asked
    assert "'code_challenge_method': 'S256'" in asked and "'nonce': '" in asked and "'state': '" in asked
    assert "'redirect_uri': 'http://notebook/club/_auth/callback/practice'" in asked
    assert "/_auth/callback/practice?code=" in out("back = httpx.get(authorize_url)")
    assert "302 to http://notebook/club/members with cookies ['gingee_session']" in out(
        'done = keep_cookies(app.request("GET", in_app(callback), headers=cookies()))'
    )
    assert '"welcome": "Ada Lovelace"' in out(
        'app.request("GET", in_app(done.headers["Location"]), headers=cookies())'
    )
    me = out('me = app.request("GET", "/_auth/me", headers=cookies()).json()["user"]')
    assert "'practice:ada'" in me and "'aud': 'workshop-club'" in me
    # The forged ID token: 401, the reason, no session then or after.
    forged = out('provider.sign_with = "other"')
    assert "HTTP 401" in forged and '"error": "ID_TOKEN_INVALID"' in forged
    assert "Set-Cookie: gingee_session=" not in forged
    assert out('print("cookies:", jar)') == "cookies: {}\n401"
    # The export: secrets as references, the protected route marked.
    box = tmp_path / "web/club/box"
    entry = json.loads((box / "app.json").read_text())["auth"]["providers"]["practice"]
    assert entry["type"] == "oidc" and entry["discovery_url"].startswith("http://127.0.0.1:")
    assert (entry["client_id"], entry["client_secret"]) == (
        "env:PRACTICE_CLIENT_ID",
        "env:PRACTICE_CLIENT_SECRET",
    )
    assert '"client_secret": "env:PRACTICE_CLIENT_SECRET"' in out('folder = app.export("web")')
    routes = {r["path"]: r for r in json.loads((box / "routes.json").read_text())["routes"]}
    assert routes["/members"]["login"] is True and routes["/me"]["login"] is True
    assert "login" not in routes["/whoami"]
    assert '"login": true' in out('print((folder / "box" / "routes.json").read_text())')

    # gingee serve guards the exported route as the notebook did (the practice provider is gone with the
    # kernel: no login here, only the gate).
    monkeypatch.setenv("PRACTICE_CLIENT_ID", "workshop-club")
    monkeypatch.setenv("PRACTICE_CLIENT_SECRET", "practice-only-secret-do-not-reuse")
    server = serve(tmp_path, dev=False)
    assert client.get(server.url("/club/whoami")).json()["user"] is None
    denied = client.get(server.url("/club/members"))
    assert denied.status_code == 401 and denied.json()["error"] == "LOGIN_REQUIRED"
    assert client.get(server.url("/club/me")).json()["error"] == "LOGIN_REQUIRED"
    page = client.get(server.url("/club/members"), headers={"Accept": "text/html"})
    assert page.status_code == 302
    assert page.headers["location"] == server.url("/club/_auth/login/practice?next=%2Fmembers")
