"""Social login end to end on `gingee serve`: a real OpenID provider on loopback (authlib's server side), a
browser-less cookie jar, and every check tried with the attack it stops. A refused login must answer a
clear 400/401 and leave no session behind."""

from __future__ import annotations

import time
from http.cookies import SimpleCookie
from typing import Any
from urllib.parse import urlencode, urlsplit, urlunsplit

import httpx
import pytest

from gingee_kernel.modules.login.sealing import Sealer
from gingee_kernel.practice.oidc import OidcProvider
from tests.auth.flow import CLIENT_ID, CLIENT_SECRET, Browser, oidc_entry, project_files, query, write_env
from tests.fixtures.jupyter import free_port

pytestmark = pytest.mark.filterwarnings("error")


def set_cookies(response: httpx.Response) -> dict[str, Any]:
    """The response's Set-Cookie lines by cookie name, as parsed morsels."""
    found: dict[str, Any] = {}
    for line in response.headers.get_list("set-cookie"):
        jar: SimpleCookie = SimpleCookie()
        jar.load(line)
        found.update({name: morsel for name, morsel in jar.items()})
    return found


@pytest.fixture
def club(oidc_provider: OidcProvider, make_project: Any, serve: Any, monkeypatch: pytest.MonkeyPatch) -> Any:
    """`gingee serve` with app `club` logging in with the loopback provider (entry "local")."""
    write_env(monkeypatch)
    project = make_project(project_files({"local": oidc_entry(oidc_provider.discovery_url)}))
    server = serve(project, dev=False)
    server.app_url = server.url("/club")
    oidc_provider.add_client(CLIENT_ID, CLIENT_SECRET, [server.app_url + "/_auth/callback/local"])
    server.project_dir = project
    return server


async def test_a_login_sets_a_scoped_session_and_g_user(club: Any, oidc_provider: OidcProvider) -> None:
    async with Browser() as browser:
        start = await browser.start(club.app_url, "local", "/private?x=1")
        state_cookie = set_cookies(start)["gingee_session_login"]
        assert state_cookie["path"] == "/club/_auth/" and state_cookie["httponly"]
        asked = query(start.headers["location"])
        assert asked["code_challenge_method"] == "S256" and len(asked["code_challenge"]) >= 43
        assert asked["nonce"] and asked["state"] and asked["client_id"] == CLIENT_ID
        assert asked["redirect_uri"] == club.app_url + "/_auth/callback/local"
        assert "openid" in asked["scope"].split()
        back = await browser.authorize(start.headers["location"])
        done = await browser.get(back.headers["location"])
        assert done.status_code == 302
        assert done.headers["location"] == club.app_url + "/private?x=1"
        cookies = set_cookies(done)
        session = cookies["gingee_session"]
        assert session["path"] == "/club/" and session["httponly"] and session["samesite"] == "Lax"
        assert not session["secure"]  # plain http here; see the proxy test for https
        assert cookies["gingee_session_login"]["max-age"] == "0"  # the login state is dropped
        # The provider was asked for the token with the PKCE verifier matching the challenge.
        assert oidc_provider.token_requests[-1]["code_verifier"]
        assert "client_secret" not in oidc_provider.token_requests[-1]  # client_secret_basic
        user = await browser.whoami(club.app_url)
        assert user["email"] == "ada@example.org" and user["email_verified"] is True
        assert user["provider"] == "local" and user["subject"] == "ada" and user["id"] == "local:ada"
        assert user["name"] == "Ada Lovelace" and user["claims"]["iss"] == oidc_provider.issuer
        private = await browser.get(club.app_url + "/private")
        assert private.status_code == 200 and private.json() == {"secret": "for ada@example.org"}
        me = await browser.get(club.app_url + "/_auth/me")
        assert me.status_code == 200 and me.json()["user"]["email"] == "ada@example.org"
        out = await browser.get(club.app_url + "/_auth/logout")
        assert out.status_code == 303 and out.headers["location"] == club.app_url + "/"
        assert set_cookies(out)["gingee_session"]["max-age"] == "0"
        assert await browser.whoami(club.app_url) is None


async def test_login_routes_send_browsers_to_log_in_and_answer_apis_401(club: Any) -> None:
    async with httpx.AsyncClient(follow_redirects=False) as http:
        page = await http.get(club.app_url + "/private?tab=2", headers={"Accept": "text/html"})
        assert page.status_code == 302
        target = page.headers["location"]
        assert target.startswith(club.app_url + "/_auth/login/local?")
        assert query(target)["next"] == "/private?tab=2"
        api = await http.get(club.app_url + "/private", headers={"Accept": "application/json"})
        assert api.status_code == 401
        assert api.json()["error"] == "LOGIN_REQUIRED" and api.json()["login"].startswith(club.app_url)
        post = await http.post(club.app_url + "/private", headers={"Accept": "text/html"})
        assert post.status_code in (401, 405)  # never a redirect for a non-GET
        required = await http.get(club.app_url + "/require", headers={"Accept": "text/html"})
        assert required.status_code == 302 and query(required.headers["location"])["next"] == "/require"
        me = await http.get(club.app_url + "/_auth/me")
        assert me.status_code == 401 and "traceback" not in me.text.lower()


async def _refused(browser: Browser, response: httpx.Response, status: int, app_url: str) -> None:
    """A refusal: the status, a page that says so, and no session (now or on the next request)."""
    assert response.status_code == status, response.text
    assert "Login failed" in response.text and "Traceback" not in response.text
    session = set_cookies(response).get("gingee_session")
    assert session is None or session["max-age"] == "0"
    assert await browser.whoami(app_url) is None


async def test_a_tampered_state_is_refused(club: Any) -> None:
    def tamper(url: str) -> str:
        parts = urlsplit(url)
        fields = query(url)
        fields["state"] = fields["state"][:-2] + ("AA" if not fields["state"].endswith("AA") else "BB")
        return urlunsplit(parts._replace(query=urlencode(fields)))

    async with Browser() as browser:
        await _refused(browser, await browser.login(club.app_url, "local", tamper=tamper), 400, club.app_url)


async def test_a_callback_without_the_login_state_cookie_is_refused(club: Any) -> None:
    async with Browser() as browser:
        start = await browser.start(club.app_url, "local")
        back = await browser.authorize(start.headers["location"])
    async with Browser() as stranger:  # the victim's browser, handed the attacker's callback link
        await _refused(stranger, await stranger.get(back.headers["location"]), 400, club.app_url)


async def test_a_tampered_login_state_cookie_is_refused(club: Any) -> None:
    async with Browser() as browser:
        start = await browser.start(club.app_url, "local")
        back = await browser.authorize(start.headers["location"])
        value = browser.http.cookies.get("gingee_session_login")
        browser.http.cookies.set("gingee_session_login", value[:-3] + "xyz", path="/club/_auth/")
        await _refused(browser, await browser.get(back.headers["location"]), 400, club.app_url)


async def test_a_replayed_code_is_refused(club: Any) -> None:
    async with Browser() as browser:
        start = await browser.start(club.app_url, "local")
        state_value = browser.http.cookies.get("gingee_session_login")
        back = await browser.authorize(start.headers["location"])
        callback = back.headers["location"]
        assert (await browser.get(callback)).status_code == 302
    async with Browser() as replay:  # the same request again, state cookie and all
        replay.http.cookies.set("gingee_session_login", state_value, path="/club/_auth/")
        await _refused(replay, await replay.get(callback), 401, club.app_url)


def _forged_state(club: Any, **state: Any) -> str:
    """A login-state cookie sealed with the server's own key (what a stolen key would allow): the one
    way to present the callback with another PKCE verifier."""
    key = (club.project_dir / ".gingee" / "session.key").read_text().strip().encode()
    return Sealer([key], "gingee-login-state-v1").seal(state, audience="club", max_age=600)


@pytest.mark.parametrize("verifier", ["a-wrong-verifier-" + "x" * 40, ""])
async def test_a_wrong_or_missing_pkce_verifier_is_refused(club: Any, verifier: str) -> None:
    async with Browser() as browser:
        start = await browser.start(club.app_url, "local")
        asked = query(start.headers["location"])
        back = await browser.authorize(start.headers["location"])
        forged = _forged_state(
            club,
            provider="local",
            state=asked["state"],
            code_verifier=verifier,
            nonce=asked["nonce"],
            redirect_uri=asked["redirect_uri"],
            next="/",
        )
        browser.http.cookies.set("gingee_session_login", forged, path="/club/_auth/")
        await _refused(browser, await browser.get(back.headers["location"]), 401, club.app_url)


ATTACKS = {
    "wrong nonce": {"id_token_claims": {"nonce": "not-the-one-we-sent"}},
    "missing nonce": {"id_token_claims": {"nonce": None}},
    "expired": {"id_token_claims": {"exp": int(time.time()) - 3600}},
    "issued in the future": {"id_token_claims": {"iat": int(time.time()) + 3600}},
    "wrong audience": {"id_token_claims": {"aud": "someone-else"}},
    "wrong audience, our azp": {"id_token_claims": {"aud": "someone-else", "azp": CLIENT_ID}},
    "forged issuer": {"id_token_claims": {"iss": "http://127.0.0.1:1/evil"}},
    "another signing key": {"sign_with": "other"},
    "alg none": {"sign_with": "none"},
}


@pytest.mark.parametrize("attack", sorted(ATTACKS))
async def test_a_bad_id_token_is_refused(club: Any, oidc_provider: OidcProvider, attack: str) -> None:
    for name, value in ATTACKS[attack].items():
        setattr(oidc_provider, name, value)
    async with Browser() as browser:
        await _refused(browser, await browser.login(club.app_url, "local"), 401, club.app_url)


async def test_a_forged_issuer_on_a_second_login_is_refused(club: Any, oidc_provider: OidcProvider) -> None:
    """A second login is checked as strictly as the first (the Microsoft test covers the validate hook
    authlib pops out of a reused claims_options dict)."""
    async with Browser() as browser:
        assert (await browser.login(club.app_url, "local")).status_code == 302
    oidc_provider.id_token_claims = {"iss": "http://127.0.0.1:1/evil"}
    async with Browser() as browser:
        await _refused(browser, await browser.login(club.app_url, "local"), 401, club.app_url)


async def test_a_rotated_signing_key_is_fetched_once(club: Any, oidc_provider: OidcProvider) -> None:
    async with Browser() as browser:
        assert (await browser.login(club.app_url, "local")).status_code == 302
    fetched = oidc_provider.jwks_requests
    oidc_provider.rotate_key()
    async with Browser() as browser:
        assert (await browser.login(club.app_url, "local")).status_code == 302
        assert (await browser.whoami(club.app_url))["subject"] == "ada"
    assert oidc_provider.jwks_requests == fetched + 1
    async with Browser() as browser:  # the new key is kept: no fetch per login
        assert (await browser.login(club.app_url, "local")).status_code == 302
    assert oidc_provider.jwks_requests == fetched + 1


async def test_the_providers_error_is_shown_and_nothing_kept(club: Any) -> None:
    async with Browser() as browser:
        await browser.start(club.app_url, "local")
        denied = await browser.get(
            club.app_url + "/_auth/callback/local",
            params={"error": "access_denied", "error_description": "<b>the user said no</b>"},
        )
        await _refused(browser, denied, 401, club.app_url)
        assert "&lt;b&gt;the user said no" in denied.text  # shown, escaped


@pytest.mark.parametrize(
    "next_path",
    ["//evil.example/x", "https://evil.example/", "/\\evil.example", "/../other/", "/%2e%2e/other", "\t/x"],
)
async def test_next_never_leaves_the_app(club: Any, next_path: str) -> None:
    async with Browser() as browser:
        done = await browser.login(club.app_url, "local", next_path=next_path)
        assert done.status_code == 302 and done.headers["location"] == club.app_url + "/"
        out = await browser.get(club.app_url + "/_auth/logout", params={"next": next_path})
        assert out.headers["location"] == club.app_url + "/"


async def test_an_unknown_provider_and_endpoint_are_404(club: Any) -> None:
    async with httpx.AsyncClient() as http:
        assert (await http.get(club.app_url + "/_auth/login/nobody")).status_code == 404
        assert (await http.get(club.app_url + "/_auth/elsewhere")).status_code == 404
        assert (await http.delete(club.app_url + "/_auth/me")).status_code == 405


async def test_a_forged_callback_never_logs_anyone_out(club: Any) -> None:
    async with Browser() as browser:
        assert (await browser.login(club.app_url, "local")).status_code == 302
        forged = await browser.get(club.app_url + "/_auth/callback/local", params={"code": "x", "state": "y"})
        assert forged.status_code == 400
        assert "gingee_session" not in set_cookies(forged)  # the session cookie is not touched
        assert (await browser.whoami(club.app_url))["subject"] == "ada"


async def test_an_unreachable_provider_is_a_502_that_names_it(
    make_project: Any, serve: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    write_env(monkeypatch)
    discovery = f"http://127.0.0.1:{free_port()}/.well-known/openid-configuration"  # nobody listens
    server = serve(
        make_project(project_files({"local": oidc_entry(discovery, label="Staff SSO")})), dev=False
    )
    async with Browser() as browser:
        page = await browser.get(server.url("/club/_auth/login/local"))
        assert page.status_code == 502 and "Staff SSO could not be reached" in page.text
        assert str(discovery) not in page.text and "ConnectError" not in page.text  # the log has those
        assert "Traceback" not in page.text
    async with httpx.AsyncClient() as http:
        api = await http.get(server.url("/club/_auth/login/local"), headers={"Accept": "application/json"})
        assert api.status_code == 502 and api.json()["error"] == "PROVIDER_UNAVAILABLE"


async def test_a_provider_the_egress_policy_refuses_is_blocked(
    oidc_provider: OidcProvider, make_project: Any, serve: Any, monkeypatch: pytest.MonkeyPatch, caplog: Any
) -> None:
    """An app.json may not point the server at a loopback or private address unless the operator allows it."""
    write_env(monkeypatch)
    files = project_files({"local": oidc_entry(oidc_provider.discovery_url)}, egress=False)
    server = serve(make_project(files), dev=False)
    async with httpx.AsyncClient() as http:
        reply = await http.get(server.url("/club/_auth/login/local"), headers={"Accept": "application/json"})
    assert reply.status_code == 502 and reply.json()["error"] == "PROVIDER_BLOCKED"
    assert oidc_provider.discovery_requests == 0  # nothing was sent to it
    assert any("egress" in r.getMessage() and "local" in r.getMessage() for r in caplog.records)
