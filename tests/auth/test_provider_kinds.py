"""The provider kinds' own rules, against loopback providers: Microsoft's `{tenantid}` issuer and tenants,
GitHub's OAuth 2 user and verified-only emails, and allowed email domains."""

from __future__ import annotations

from typing import Any

import pytest

from gingee_kernel.practice.github import GithubProvider
from gingee_kernel.practice.oidc import OidcProvider
from tests.auth.flow import CLIENT_ID, CLIENT_SECRET, Browser, project_files, query, write_env

SECRETS = {"client_id": "env:OIDC_ID", "client_secret": "env:OIDC_SECRET"}


def _serve(make_project: Any, serve: Any, providers: dict[str, Any]) -> Any:
    server = serve(make_project(project_files(providers)), dev=False)
    server.app_url = server.url("/club")
    return server


@pytest.fixture
def microsoft(microsoft_provider: OidcProvider, make_project: Any, serve: Any, monkeypatch: Any) -> Any:
    """`club` with a multi-tenant ("common") Microsoft entry, and a factory for other entries."""
    write_env(monkeypatch)

    def start(**entry: Any) -> Any:
        server = _serve(
            make_project, serve, {"microsoft": {"authority": microsoft_provider.base_url, **SECRETS, **entry}}
        )
        microsoft_provider.add_client(
            CLIENT_ID, CLIENT_SECRET, [server.app_url + "/_auth/callback/microsoft"]
        )
        return server

    return start


async def _login(app_url: str, provider: str) -> tuple[int, Any]:
    async with Browser() as browser:
        done = await browser.login(app_url, provider)
        return done.status_code, await browser.whoami(app_url)


async def test_microsoft_common_checks_the_issuer_against_the_tokens_tid(
    microsoft: Any, microsoft_provider: OidcProvider
) -> None:
    server = microsoft(tenant="common")
    status, user = await _login(server.app_url, "microsoft")
    assert status == 302
    assert user["claims"]["tid"] == microsoft_provider.tenant
    assert user["claims"]["iss"] == f"{microsoft_provider.base_url}/{microsoft_provider.tenant}/v2.0"
    # A token whose tid names another tenant than its issuer: refused.
    microsoft_provider.id_token_claims = {"tid": "72f988bf-86f1-41af-91ab-2d7cd011db47"}
    assert await _login(server.app_url, "microsoft") == (401, None)


async def test_microsoft_a_forged_issuer_on_a_second_login_is_refused(
    microsoft: Any, microsoft_provider: OidcProvider
) -> None:
    """The `{tenantid}` check is a validate hook, which authlib pops out of the claims options it is
    given: options reused from the first login would let the second one through unchecked."""
    server = microsoft(tenant="organizations")
    assert (await _login(server.app_url, "microsoft"))[0] == 302
    microsoft_provider.id_token_claims = {"iss": "http://127.0.0.1:1/evil/v2.0"}
    assert await _login(server.app_url, "microsoft") == (401, None)
    microsoft_provider.id_token_claims = {"tid": None}  # no tid: the template cannot be checked
    assert await _login(server.app_url, "microsoft") == (401, None)


async def test_microsoft_allowed_tenants_and_a_single_tenant(
    microsoft: Any, microsoft_provider: OidcProvider
) -> None:
    refused = microsoft(tenant="common", allowed_tenants=["72f988bf-86f1-41af-91ab-2d7cd011db47"])
    assert await _login(refused.app_url, "microsoft") == (401, None)
    single = microsoft(tenant=microsoft_provider.tenant)
    status, user = await _login(single.app_url, "microsoft")
    assert status == 302 and user["claims"]["tid"] == microsoft_provider.tenant


@pytest.fixture
def github(github_provider: GithubProvider, make_project: Any, serve: Any, monkeypatch: Any) -> Any:
    write_env(monkeypatch)

    def start(**entry: Any) -> Any:
        urls = {"base_url": github_provider.base_url, "api_url": github_provider.api_url}
        server = _serve(make_project, serve, {"github": {**urls, **SECRETS, **entry}})
        github_provider.add_client(CLIENT_ID, CLIENT_SECRET, [server.app_url + "/_auth/callback/github"])
        return server

    return start


async def test_github_logs_in_with_its_verified_email_only(
    github: Any, github_provider: GithubProvider
) -> None:
    server = github()
    status, user = await _login(server.app_url, "github")
    assert status == 302
    assert user["subject"] == "583231" and user["name"] == "The Octocat"
    assert user["email"] == "octo@example.org" and user["email_verified"] is True
    assert user["picture"] == "https://example.org/octocat.png" and user["claims"]["login"] == "octocat"
    asked = github_provider.authorize_requests[-1]
    assert asked["code_challenge_method"] == "S256" and asked["code_challenge"] and asked["state"]
    assert set(asked["scope"].split()) == {"read:user", "user:email"}
    sent = github_provider.token_requests[-1]  # GitHub takes the secret in the form, as it documents
    assert sent["client_secret"] == CLIENT_SECRET and sent["code_verifier"]
    # Only unverified addresses: logged in, but with no email at all.
    github_provider.emails = [
        {"email": "octo@unverified.example", "primary": True, "verified": False, "visibility": "public"}
    ]
    github_provider.user = {**github_provider.user, "email": "octo@unverified.example"}
    status, user = await _login(server.app_url, "github")
    assert status == 302 and user["email"] is None and user["email_verified"] is False


async def test_allowed_domains_need_a_verified_address_there(
    github: Any, github_provider: GithubProvider
) -> None:
    # octo@unverified.example exists but is unverified: it cannot open a domain-restricted app.
    refused = github(allowed_domains=["unverified.example"])
    assert await _login(refused.app_url, "github") == (401, None)
    admitted = github(allowed_domains=["example.org"])
    status, user = await _login(admitted.app_url, "github")
    assert status == 302 and user["email"] == "octo@example.org"


async def test_the_login_page_lists_every_provider(
    github_provider: GithubProvider,
    oidc_provider: OidcProvider,
    make_project: Any,
    serve: Any,
    monkeypatch: Any,
) -> None:
    write_env(monkeypatch)
    server = _serve(
        make_project,
        serve,
        {
            "github": {"base_url": github_provider.base_url, "api_url": github_provider.api_url, **SECRETS},
            "staff": {
                "type": "oidc",
                "discovery_url": oidc_provider.discovery_url,
                "label": "Staff SSO",
                **SECRETS,
            },
        },
    )
    async with Browser() as browser:
        page = await browser.get(server.app_url + "/_auth/login", params={"next": "/private"})
        assert page.status_code == 200 and "text/html" in page.headers["content-type"]
        assert "Log in with GitHub" in page.text and "Log in with Staff SSO" in page.text
        assert "/club/_auth/login/staff?next=%2Fprivate" in page.text
        protected = await browser.get(server.app_url + "/private")
        assert protected.status_code == 302
        assert protected.headers["location"].startswith(server.app_url + "/_auth/login?")
        assert query(protected.headers["location"])["next"] == "/private"


async def test_github_refuses_a_replayed_code_with_200_and_so_do_we(github: Any) -> None:
    """GitHub answers token errors with HTTP 200 and an `error` field: that must still be a refusal."""
    server = github()
    async with Browser() as browser:
        start = await browser.start(server.app_url, "github")
        state_value = browser.http.cookies.get("gingee_session_login")
        back = await browser.authorize(start.headers["location"])
        assert (await browser.get(back.headers["location"])).status_code == 302
    async with Browser() as replay:
        replay.http.cookies.set("gingee_session_login", state_value, path="/club/_auth/")
        again = await replay.get(back.headers["location"])
        assert again.status_code == 401 and "Login failed" in again.text
        assert await replay.whoami(server.app_url) is None


async def test_a_google_entry_is_openid_with_googles_own_parameters(
    oidc_provider: OidcProvider, make_project: Any, serve: Any, monkeypatch: Any
) -> None:
    """The google kind is OpenID Connect by Google's discovery document (pointed at the practice issuer
    here: no real Google can be reached from the tests), asking Google to let the user pick an account."""
    write_env(monkeypatch)
    oidc_provider.user = {**oidc_provider.user, "hd": "example.org"}
    server = _serve(
        make_project, serve, {"google": {"discovery_url": oidc_provider.discovery_url, **SECRETS}}
    )
    oidc_provider.add_client(CLIENT_ID, CLIENT_SECRET, [server.app_url + "/_auth/callback/google"])
    status, user = await _login(server.app_url, "google")
    assert status == 302 and user["provider"] == "google" and user["claims"]["hd"] == "example.org"
    asked = oidc_provider.authorize_requests[-1]
    assert asked["prompt"] == "select_account" and asked["code_challenge_method"] == "S256"
