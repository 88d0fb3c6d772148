"""Logins from a notebook: `@app.route(login=True)`, `app.request(..., user=...)` and `app.login_as(...)`
call protected routes without a browser (a real sealed session cookie each time), and the export keeps
the `auth` section and the routes' `"login": true`."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from pathlib import Path
from types import ModuleType

import httpx
import pytest

from gingee_kernel.notebook import App, AppConfigError


def test_protected_routes_from_a_cell(run_notebook: Callable[..., ModuleType]) -> None:
    app = run_notebook("nb_login.py").app
    assert app.request("GET", "/whoami").json() == {"email": None}
    refused = app.request("GET", "/members")
    assert refused.status == 401 and refused.json()["error"] == "LOGIN_REQUIRED"
    assert refused.json()["login"].endswith("/club/_auth/login/company?next=%2Fmembers")
    page = app.request("GET", "/members", headers={"Accept": "text/html"})
    assert page.status == 302 and "/club/_auth/login/company?next=%2Fmembers" in page.headers["Location"]
    # One call as a user (an email, or a dict of claims).
    assert app.request("GET", "/members", user="ada@example.org").json() == {"welcome": "ada@example.org"}
    assert app.request("GET", "/members", user={"sub": "ada", "name": "Ada"}).json() == {"welcome": "Ada"}
    assert app.request("GET", "/members").status == 401  # that was for one call only
    # Every call as a user, until login_as(None).
    user = app.login_as({"sub": "grace", "email": "grace@example.org", "name": "Grace Hopper"})
    assert user is not None and user.id == "notebook:grace"
    assert app.request("GET", "/whoami").json() == {"email": "grace@example.org"}
    assert app.request("GET", "/settings").json() == {"settings for": "notebook:grace"}
    assert app.request("GET", "/_auth/me").json()["user"]["name"] == "Grace Hopper"
    app.login_as(None)
    assert app.request("GET", "/settings").status == 401


@pytest.fixture
def plain() -> Iterator[App]:
    made = App("plain")
    yield made
    made.stop()


def test_logging_in_needs_an_auth_section(plain: App) -> None:
    @plain.route("/x", login=True)
    def x(g):  # type: ignore[no-untyped-def]
        return {"user": g.user.id}

    assert plain.request("GET", "/x").status == 401  # no auth section: nobody can log in
    with pytest.raises(AppConfigError) as raised:
        plain.login_as("ada@example.org")
    assert raised.value.pointer == "/auth" and 'app.use("auth"' in raised.value.expected
    plain.use("auth")  # sessions without providers: enough for cells and tests
    assert plain.request("GET", "/x", user="ada@example.org").json() == {"user": "notebook:ada@example.org"}


@pytest.mark.parametrize(
    ("provider", "pointer"),
    [
        ({"client_id": "env:A", "client_secret": "a-literal-secret"}, "/auth/providers/google/client_secret"),
        (
            {"client_id": "env:A", "client_secret": "env:B", "tenant": "common"},
            "/auth/providers/google/tenant",
        ),
    ],
)
def test_a_bad_provider_is_refused_in_the_cell(plain: App, provider: dict[str, str], pointer: str) -> None:
    with pytest.raises(AppConfigError) as raised:
        plain.use("auth", providers={"google": provider})  # refused in the defining cell
    assert raised.value.pointer == pointer and "auth" not in plain.config
    with pytest.raises(AppConfigError):
        plain.route("/y", login="yes")  # type: ignore[arg-type]


def test_export_keeps_auth_and_login_routes_and_gingee_serve_enforces_them(
    run_notebook: Callable[..., ModuleType],
    tmp_path: Path,
    serve: Callable[..., object],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    nb = run_notebook("nb_login.py")
    project = tmp_path / "project"
    (project).mkdir()
    (project / "gingee.json").write_text("{}")
    folder = nb.app.export(project / "web")
    box = folder / "box"
    config = json.loads((box / "app.json").read_text())
    assert config["auth"]["providers"]["company"]["client_secret"] == "env:CLUB_CLIENT_SECRET"
    routes = {r["path"]: r for r in json.loads((box / "routes.json").read_text())["routes"]}
    assert routes["/members"]["login"] is True and "login" not in routes["/whoami"]
    monkeypatch.setenv("CLUB_CLIENT_ID", "club-client")
    monkeypatch.setenv("CLUB_CLIENT_SECRET", "club-secret-of-some-length")
    server = serve(project, dev=True)
    with httpx.Client(follow_redirects=False) as http:
        refused = http.get(server.url("/club/members"))  # type: ignore[attr-defined]
        assert refused.status_code == 401 and refused.json()["error"] == "LOGIN_REQUIRED"
        page = http.get(server.url("/club/members"), headers={"Accept": "text/html"})  # type: ignore[attr-defined]
        assert page.status_code == 302
        assert page.headers["location"] == server.url(  # type: ignore[attr-defined]
            "/club/_auth/login/company?next=%2Fmembers"
        )
        assert http.get(server.url("/club/whoami")).json() == {"email": None}  # type: ignore[attr-defined]
