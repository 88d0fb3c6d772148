"""The test providers behave like real ones: driven over HTTP with plain httpx, as a relying party would.

Covers the OpenID Connect provider (plain and Entra ID-shaped), its attack knobs, and the GitHub-shaped one.
"""

from __future__ import annotations

import base64
import hashlib
import json
import secrets
import time
from typing import Any
from urllib.parse import parse_qsl, urlsplit

import httpx
import pytest
from joserfc import jwt
from joserfc.errors import BadSignatureError, UnsupportedAlgorithmError
from joserfc.jwk import KeySet
from joserfc.jwt import JWTClaimsRegistry

from gingee_kernel.practice.github import GithubProvider
from gingee_kernel.practice.oidc import OidcProvider

CLIENT_ID = "gingee-app"
SECRET = "s3cret-value"
REDIRECT = "http://127.0.0.1:8888/gingee/auth/callback"
GUID = "72f988bf-86f1-41af-91ab-2d7cd011db47"


def s256(verifier: str) -> str:
    """RFC 7636 §4.2, computed here rather than by authlib: BASE64URL(SHA256(verifier)) without padding."""
    return base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest()).rstrip(b"=").decode()


def location_params(response: httpx.Response) -> dict[str, str]:
    assert response.status_code == 302, response.text
    return dict(parse_qsl(urlsplit(response.headers["Location"]).query))


class RelyingParty:
    """A minimal confidential client: it follows no redirect, so each hop can be inspected."""

    def __init__(self, http: httpx.AsyncClient, config: dict[str, Any]) -> None:
        self.http = http
        self.config = config
        self.verifier = secrets.token_urlsafe(48)
        self.state = secrets.token_urlsafe(16)
        self.nonce = secrets.token_urlsafe(16)

    @classmethod
    async def discover(cls, http: httpx.AsyncClient, discovery_url: str) -> RelyingParty:
        response = await http.get(discovery_url)
        assert response.status_code == 200
        return cls(http, response.json())

    async def authorize(self, **overrides: str | None) -> httpx.Response:
        """GET the authorization endpoint; an override of None leaves that parameter out."""
        params = {
            "response_type": "code",
            "client_id": CLIENT_ID,
            "redirect_uri": REDIRECT,
            "scope": "openid email profile",
            "state": self.state,
            "nonce": self.nonce,
            "code_challenge": s256(self.verifier),
            "code_challenge_method": "S256",
            **overrides,
        }
        query = {name: value for name, value in params.items() if value is not None}
        return await self.http.get(self.config["authorization_endpoint"], params=query)

    async def code(self, **overrides: str | None) -> str:
        params = location_params(await self.authorize(**overrides))
        assert params["state"] == self.state
        return params["code"]

    async def exchange(
        self,
        code: str,
        *,
        verifier: str | None = None,
        secret: str = SECRET,
        post: bool = False,
        **extra: str,
    ) -> httpx.Response:
        form = {"grant_type": "authorization_code", "code": code, "redirect_uri": REDIRECT, **extra}
        form["code_verifier"] = verifier or self.verifier
        if post:
            form.update(client_id=CLIENT_ID, client_secret=secret)
            return await self.http.post(self.config["token_endpoint"], data=form)
        return await self.http.post(self.config["token_endpoint"], data=form, auth=(CLIENT_ID, secret))

    async def tokens(self) -> dict[str, Any]:
        response = await self.exchange(await self.code())
        assert response.status_code == 200, response.text
        return response.json()

    async def jwks(self) -> KeySet:
        response = await self.http.get(self.config["jwks_uri"])
        assert response.status_code == 200
        return KeySet.import_key_set(response.json())


@pytest.fixture
async def http() -> Any:
    async with httpx.AsyncClient(follow_redirects=False, timeout=10) as client:
        yield client


@pytest.fixture
async def rp(oidc_provider: OidcProvider, http: httpx.AsyncClient) -> RelyingParty:
    oidc_provider.add_client(CLIENT_ID, SECRET, [REDIRECT])
    return await RelyingParty.discover(http, oidc_provider.discovery_url)


# ---- OpenID Connect ----------------------------------------------------------------------------------------


async def test_discovery_document_lists_the_endpoints(oidc_provider: OidcProvider, rp: RelyingParty) -> None:
    base = oidc_provider.base_url
    assert base.startswith("http://127.0.0.1:")
    assert oidc_provider.issuer == base
    assert oidc_provider.discovery_url == base + "/.well-known/openid-configuration"
    doc = rp.config
    assert doc["issuer"] == base
    assert doc["authorization_endpoint"] == base + "/authorize"
    assert doc["token_endpoint"] == base + "/token"
    assert doc["userinfo_endpoint"] == base + "/userinfo"
    assert doc["jwks_uri"] == base + "/jwks"
    assert doc["response_types_supported"] == ["code"]
    assert doc["subject_types_supported"] == ["public"]
    assert doc["id_token_signing_alg_values_supported"] == ["RS256"]
    assert {"openid", "email", "profile"} <= set(doc["scopes_supported"])
    assert doc["token_endpoint_auth_methods_supported"] == ["client_secret_basic", "client_secret_post"]
    assert doc["code_challenge_methods_supported"] == ["S256"]
    assert {"sub", "email", "email_verified", "name", "picture", "nonce"} <= set(doc["claims_supported"])
    assert oidc_provider.discovery_requests == 1
    keys = (await rp.http.get(doc["jwks_uri"])).json()["keys"]
    assert [(k["kty"], k["alg"], k["use"]) for k in keys] == [("RSA", "RS256", "sig")]
    assert keys[0]["kid"] and "d" not in keys[0]  # public half only
    assert oidc_provider.jwks_requests == 1


async def test_code_flow_with_pkce_reaches_userinfo(oidc_provider: OidcProvider, rp: RelyingParty) -> None:
    oidc_provider.user = {**oidc_provider.user, "sub": "grace", "email": "grace@example.org"}
    response = await rp.authorize()
    assert response.headers["Location"].startswith(REDIRECT + "?")
    params = location_params(response)
    assert params["state"] == rp.state and len(params["code"]) >= 32
    assert oidc_provider.authorize_requests[-1]["code_challenge"] == s256(rp.verifier)

    token_response = await rp.exchange(params["code"])
    assert token_response.status_code == 200, token_response.text
    assert token_response.headers["Cache-Control"] == "no-store"
    tokens = token_response.json()
    assert tokens["token_type"] == "Bearer" and tokens["expires_in"] == 3600
    assert tokens["scope"] == "openid email profile" and tokens["id_token"].count(".") == 2
    assert oidc_provider.token_requests[-1]["code_verifier"] == rp.verifier

    info = await rp.http.get(
        rp.config["userinfo_endpoint"], headers={"Authorization": f"Bearer {tokens['access_token']}"}
    )
    assert info.status_code == 200
    assert info.json() == {
        "sub": "grace",
        "email": "grace@example.org",
        "email_verified": True,
        "name": "Ada Lovelace",
        "picture": "https://example.org/ada.png",
    }


async def test_client_secret_post_is_accepted(rp: RelyingParty, oidc_provider: OidcProvider) -> None:
    response = await rp.exchange(await rp.code(), post=True)
    assert response.status_code == 200, response.text
    assert oidc_provider.token_requests[-1]["client_secret"] == SECRET


async def test_scope_limits_the_released_claims(rp: RelyingParty) -> None:
    response = await rp.exchange(await rp.code(scope="openid"))
    claims = jwt.decode(response.json()["id_token"], await rp.jwks(), algorithms=["RS256"]).claims
    assert claims["sub"] == "ada"
    assert not {"email", "name", "picture"} & set(claims)


async def test_id_token_verifies_against_the_jwks(oidc_provider: OidcProvider, rp: RelyingParty) -> None:
    before = int(time.time())
    id_token = (await rp.tokens())["id_token"]
    keys = await rp.jwks()
    token = jwt.decode(id_token, keys, algorithms=["RS256"])
    assert token.header["alg"] == "RS256"
    assert token.header["kid"] == keys.keys[0].kid
    claims = token.claims
    JWTClaimsRegistry(
        iss={"essential": True, "value": oidc_provider.issuer},
        aud={"essential": True, "value": CLIENT_ID},
        exp={"essential": True},
        iat={"essential": True},
        nonce={"essential": True, "value": rp.nonce},
        sub={"essential": True, "value": "ada"},
        email={"essential": True, "value": "ada@example.org"},
    ).validate(claims)
    assert claims["aud"] == CLIENT_ID
    assert before <= claims["iat"] <= time.time() and claims["exp"] == claims["iat"] + 600
    assert claims["email_verified"] is True and claims["name"] == "Ada Lovelace"
    assert claims["picture"] == "https://example.org/ada.png"


async def test_replayed_code_is_refused_and_revokes_its_tokens(rp: RelyingParty) -> None:
    code = await rp.code()
    first = await rp.exchange(code)
    assert first.status_code == 200
    replay = await rp.exchange(code)
    assert replay.status_code == 400
    assert replay.json()["error"] == "invalid_grant"
    bearer = {"Authorization": f"Bearer {first.json()['access_token']}"}
    assert (await rp.http.get(rp.config["userinfo_endpoint"], headers=bearer)).status_code == 401


async def test_wrong_code_verifier_is_refused(rp: RelyingParty) -> None:
    response = await rp.exchange(await rp.code(), verifier=secrets.token_urlsafe(48))
    assert response.status_code == 400
    assert response.json()["error"] == "invalid_grant"
    assert "access_token" not in response.json()


@pytest.mark.parametrize(
    "overrides",
    [
        {"code_challenge": None, "code_challenge_method": None},  # no PKCE at all
        {"code_challenge_method": None},  # no method means plain (RFC 7636 §4.3)
        {"code_challenge_method": "plain"},
    ],
    ids=["missing", "no-method", "plain"],
)
async def test_pkce_is_mandatory_and_s256_only(rp: RelyingParty, overrides: dict[str, str | None]) -> None:
    params = location_params(await rp.authorize(**overrides))
    assert params["error"] == "invalid_request"
    assert params["state"] == rp.state
    assert "code" not in params


async def test_unregistered_redirect_uri_is_refused(rp: RelyingParty) -> None:
    response = await rp.authorize(redirect_uri="http://127.0.0.1:8888/elsewhere")
    assert response.status_code == 400
    assert "Location" not in response.headers
    assert response.json()["error"] == "invalid_request"

    unknown = await rp.authorize(client_id="nobody")
    assert unknown.status_code == 400 and unknown.json()["error"] == "invalid_client"


async def test_token_redirect_uri_must_match_the_authorization_request(rp: RelyingParty) -> None:
    response = await rp.exchange(await rp.code(), redirect_uri="http://127.0.0.1:8888/other")
    assert response.status_code == 400
    assert response.json()["error"] == "invalid_grant"


@pytest.mark.parametrize(
    ("uri", "allowed"),
    [
        ("http://127.0.0.1:41234/jupyter/gingee/auth/callback", True),
        ("http://localhost:8888/cb?x=1", True),
        ("https://127.0.0.1:8888/cb", False),
        ("http://127.0.0.1.evil.example/cb", False),
        ("http://127.0.0.1@evil.example/cb", False),
        ("http://evil.example/cb", False),
    ],
)
async def test_star_admits_only_loopback_http(
    oidc_provider: OidcProvider, rp: RelyingParty, uri: str, allowed: bool
) -> None:
    oidc_provider.add_client("wild", SECRET, ["*"])
    response = await rp.authorize(client_id="wild", redirect_uri=uri)
    if allowed:
        assert response.headers["Location"].startswith(uri.split("?")[0])
        assert "code" in location_params(response)
    else:
        assert response.status_code == 400 and "Location" not in response.headers


async def test_wrong_client_secret_is_refused(rp: RelyingParty) -> None:
    code = await rp.code()
    basic = await rp.exchange(code, secret="not-the-secret")
    assert basic.status_code == 401
    assert basic.json()["error"] == "invalid_client"
    post = await rp.exchange(code, secret="not-the-secret", post=True)
    assert post.status_code == 401  # authlib answers 401 to either method (RFC 6749 §5.2 allows it)
    assert post.json()["error"] == "invalid_client"
    assert (await rp.exchange(code)).status_code == 200  # the code survived the failed attempts


async def test_userinfo_requires_a_valid_bearer_token(rp: RelyingParty) -> None:
    url = rp.config["userinfo_endpoint"]
    missing = await rp.http.get(url)
    assert missing.status_code == 401 and missing.json()["error"] == "missing_authorization"
    bogus = await rp.http.get(url, headers={"Authorization": "Bearer not-a-token"})
    assert bogus.status_code == 401 and bogus.json()["error"] == "invalid_token"


# ---- the attack knobs --------------------------------------------------------------------------------------


def unverified(id_token: str) -> tuple[dict[str, Any], dict[str, Any]]:
    def part(segment: str) -> dict[str, Any]:
        return json.loads(base64.urlsafe_b64decode(segment + "=" * (-len(segment) % 4)))

    header, payload, _ = id_token.split(".")
    return part(header), part(payload)


async def test_id_token_claims_knob_overrides_and_deletes(
    oidc_provider: OidcProvider, rp: RelyingParty
) -> None:
    oidc_provider.id_token_claims = {"aud": "someone-else", "nonce": "x", "email": None, "azp": "other"}
    claims = jwt.decode((await rp.tokens())["id_token"], await rp.jwks(), algorithms=["RS256"]).claims
    assert (claims["aud"], claims["nonce"], claims["azp"]) == ("someone-else", "x", "other")
    assert "email" not in claims and claims["sub"] == "ada"

    oidc_provider.reset_knobs()
    rp.nonce = secrets.token_urlsafe(16)
    claims = jwt.decode((await rp.tokens())["id_token"], await rp.jwks(), algorithms=["RS256"]).claims
    assert (claims["aud"], claims["nonce"], claims["email"]) == (CLIENT_ID, rp.nonce, "ada@example.org")
    assert "azp" not in claims


async def test_sign_with_other_key_keeps_the_kid_but_fails(
    oidc_provider: OidcProvider, rp: RelyingParty
) -> None:
    oidc_provider.sign_with = "other"
    id_token = (await rp.tokens())["id_token"]
    keys = await rp.jwks()
    header, claims = unverified(id_token)
    assert header["kid"] == keys.keys[0].kid and header["alg"] == "RS256"
    assert claims["nonce"] == rp.nonce
    with pytest.raises(BadSignatureError):
        jwt.decode(id_token, keys, algorithms=["RS256"])


async def test_sign_with_none_is_unsigned(oidc_provider: OidcProvider, rp: RelyingParty) -> None:
    oidc_provider.sign_with = "none"
    id_token = (await rp.tokens())["id_token"]
    header, claims = unverified(id_token)
    assert header == {"alg": "none"}
    assert id_token.endswith(".") and claims["sub"] == "ada"
    with pytest.raises(UnsupportedAlgorithmError):
        jwt.decode(id_token, await rp.jwks(), algorithms=["RS256"])


async def test_rotate_key_serves_only_the_new_key(oidc_provider: OidcProvider, rp: RelyingParty) -> None:
    old = (await rp.jwks()).keys[0].kid
    kid = oidc_provider.rotate_key()
    assert kid and kid != old
    keys = await rp.jwks()
    assert [k.kid for k in keys.keys] == [kid]
    token = jwt.decode((await rp.tokens())["id_token"], keys, algorithms=["RS256"])
    assert token.header["kid"] == kid
    assert oidc_provider.jwks_requests == 2


# ---- Microsoft (Entra ID v2) mode --------------------------------------------------------------------------


async def test_microsoft_discovery_per_tenant_segment(
    microsoft_provider: OidcProvider, http: httpx.AsyncClient
) -> None:
    base = microsoft_provider.base_url
    assert microsoft_provider.issuer == base + "/{tenantid}/v2.0"
    assert microsoft_provider.discovery_url == base + "/common/v2.0/.well-known/openid-configuration"
    for segment in ("common", "organizations", "consumers"):
        doc = (await http.get(microsoft_provider.tenant_discovery_url(segment))).json()
        assert doc["issuer"] == base + "/{tenantid}/v2.0"
        assert doc["authorization_endpoint"] == f"{base}/{segment}/oauth2/v2.0/authorize"
        assert doc["token_endpoint"] == f"{base}/{segment}/oauth2/v2.0/token"
        assert doc["jwks_uri"] == f"{base}/{segment}/discovery/v2.0/keys"
        assert doc["userinfo_endpoint"] == f"{base}/oidc/userinfo"
    doc = (await http.get(microsoft_provider.tenant_discovery_url(GUID))).json()
    assert doc["issuer"] == f"{base}/{GUID}/v2.0"
    assert (await http.get(microsoft_provider.tenant_discovery_url("not-a-tenant"))).status_code == 404
    assert (await http.get(base + "/.well-known/openid-configuration")).status_code == 404
    assert microsoft_provider.discovery_requests == 4


async def test_microsoft_tokens_carry_the_tenant(
    microsoft_provider: OidcProvider, http: httpx.AsyncClient
) -> None:
    microsoft_provider.add_client(CLIENT_ID, SECRET, [REDIRECT])
    rp = await RelyingParty.discover(http, microsoft_provider.discovery_url)
    base, tenant = microsoft_provider.base_url, microsoft_provider.tenant
    tokens = await rp.tokens()
    claims = jwt.decode(tokens["id_token"], await rp.jwks(), algorithms=["RS256"]).claims
    assert claims["tid"] == tenant and claims["iss"] == f"{base}/{tenant}/v2.0"
    assert claims["iss"] == microsoft_provider.issuer.replace("{tenantid}", claims["tid"])
    assert claims["aud"] == CLIENT_ID and claims["nonce"] == rp.nonce

    microsoft_provider.tenant = GUID
    rp.nonce = secrets.token_urlsafe(16)
    claims = jwt.decode((await rp.tokens())["id_token"], await rp.jwks(), algorithms=["RS256"]).claims
    assert (claims["tid"], claims["iss"]) == (GUID, f"{base}/{GUID}/v2.0")

    info = await http.get(
        base + "/oidc/userinfo", headers={"Authorization": f"Bearer {tokens['access_token']}"}
    )
    assert info.status_code == 200 and info.json()["email"] == "ada@example.org"


# ---- GitHub ------------------------------------------------------------------------------------------------


@pytest.fixture
def github(github_provider: GithubProvider, http: httpx.AsyncClient) -> RelyingParty:
    github_provider.add_client(CLIENT_ID, SECRET, [REDIRECT])
    config = {
        "authorization_endpoint": github_provider.authorize_url,
        "token_endpoint": github_provider.token_url,
    }
    return RelyingParty(http, config)


async def github_code(rp: RelyingParty, scope: str = "read:user user:email") -> str:
    return await rp.code(scope=scope, nonce=None)


async def github_exchange(
    rp: RelyingParty, code: str, *, json_reply: bool = True, **extra: str
) -> httpx.Response:
    """POST /login/oauth/access_token the way GitHub's docs show it: credentials in the form."""
    form = {
        "grant_type": "authorization_code",
        "code": code,
        "redirect_uri": REDIRECT,
        "code_verifier": rp.verifier,
    }
    form.update({"client_id": CLIENT_ID, "client_secret": SECRET, **extra})
    headers = {"Accept": "application/json"} if json_reply else {}
    return await rp.http.post(rp.config["token_endpoint"], data=form, headers=headers)


async def test_github_flow_returns_the_user_and_emails(
    github_provider: GithubProvider, github: RelyingParty
) -> None:
    response = await github_exchange(github, await github_code(github))
    assert response.status_code == 200 and response.headers["Content-Type"].startswith("application/json")
    token = response.json()
    assert token["token_type"] == "bearer" and token["access_token"].startswith("gho_")
    assert token["scope"] == "read:user,user:email" and "expires_in" not in token

    api = github_provider.api_url
    user = await github.http.get(api + "/user", headers={"Authorization": f"Bearer {token['access_token']}"})
    assert user.status_code == 200
    assert user.json() == {
        "id": 583231,
        "login": "octocat",
        "name": "The Octocat",
        "email": None,
        "avatar_url": "https://example.org/octocat.png",
    }
    emails = await github.http.get(
        api + "/user/emails", headers={"Authorization": f"token {token['access_token']}"}
    )
    assert emails.status_code == 200
    assert [(e["email"], e["primary"], e["verified"], e["visibility"]) for e in emails.json()] == [
        ("octo@example.org", True, True, "private"),
        ("octo@unverified.example", False, False, None),
    ]
    assert github_provider.api_requests == ["/api/user", "/api/user/emails"]
    assert github_provider.authorize_requests[-1]["code_challenge_method"] == "S256"
    assert github_provider.token_requests[-1]["client_secret"] == SECRET


async def test_github_answers_form_encoded_without_accept_json(github: RelyingParty) -> None:
    response = await github_exchange(github, await github_code(github, "read:user"), json_reply=False)
    assert response.status_code == 200
    assert response.headers["Content-Type"].startswith("application/x-www-form-urlencoded")
    body = dict(parse_qsl(response.text))
    assert body["token_type"] == "bearer" and body["scope"] == "read:user" and body["access_token"]


async def test_github_errors_come_with_200_and_github_codes(github: RelyingParty) -> None:
    code = await github_code(github)
    wrong_secret = await github_exchange(github, code, client_secret="nope")
    assert wrong_secret.status_code == 200
    assert wrong_secret.json()["error"] == "incorrect_client_credentials"
    wrong_verifier = await github_exchange(github, code, code_verifier=secrets.token_urlsafe(48))
    assert wrong_verifier.status_code == 200
    assert wrong_verifier.json()["error"] == "bad_verification_code"
    assert "access_token" in (await github_exchange(github, code)).json()
    replay = await github_exchange(github, code)
    assert replay.json() == {
        "error": "bad_verification_code",
        "error_description": "The code passed is incorrect or expired.",
    }


async def test_github_refuses_an_unregistered_redirect_uri(github: RelyingParty) -> None:
    response = await github.authorize(redirect_uri="http://evil.example/cb", nonce=None, scope="read:user")
    assert response.status_code == 400 and "Location" not in response.headers


async def test_github_api_needs_a_token_with_the_scope(
    github_provider: GithubProvider, github: RelyingParty
) -> None:
    api = github_provider.api_url
    missing = await github.http.get(api + "/user")
    assert missing.status_code == 401 and missing.json()["message"] == "Requires authentication"
    bogus = await github.http.get(api + "/user", headers={"Authorization": "Bearer gho_bogus"})
    assert bogus.status_code == 401 and bogus.json()["message"] == "Bad credentials"

    token = (await github_exchange(github, await github_code(github, "read:user"))).json()
    bearer = {"Authorization": f"Bearer {token['access_token']}"}
    assert (await github.http.get(api + "/user", headers=bearer)).status_code == 200
    assert (await github.http.get(api + "/user/emails", headers=bearer)).status_code == 404
