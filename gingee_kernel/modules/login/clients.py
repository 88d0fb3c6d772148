"""The OAuth 2 / OpenID Connect client of one provider: authlib's async client integration, adapted.

authlib's framework clients (Starlette, Flask, Django) keep the login state in a server-side session and
read the request from their framework. Here `ProviderClient` takes authlib's `AsyncOAuth2Mixin` and
`AsyncOpenIDMixin` (metadata discovery, the authorization URL with state, PKCE S256 and nonce, the token
exchange, JWKS with one refetch for an unknown `kid`, ID token validation) on its httpx2 client, and hands
the login state back to the caller, who seals it in a cookie (`endpoints.py`).

What is checked, each time: the ID token's signature against the provider's JWKS (only asymmetric
algorithms: never `none`, never HMAC), `iss` (Microsoft's `{tenantid}` template against the token's own
`tid`), `aud` (our client id), `exp`, `iat` (not in the future), `nonce`, `azp` and `at_hash`. The claims
options are built afresh for every login: authlib pops the `validate` hooks out of the dict it is given.
GitHub is OAuth 2 without an ID token: the user comes from its API, and an email counts only if GitHub
says it is verified.
"""

from __future__ import annotations

import asyncio
import time
from typing import Any

import httpx
import httpx2
from authlib.integrations.base_client import BaseApp, FrameworkIntegration, OAuthError
from authlib.integrations.base_client.async_app import AsyncOAuth2Mixin
from authlib.integrations.base_client.async_openid import AsyncOpenIDMixin
from authlib.integrations.httpx_client import AsyncOAuth2Client
from joserfc.errors import JoseError

from ...engine.app import AppRuntime
from ..egress import EgressDenied, EgressPolicy, vet
from .settings import ProviderSettings
from .user import User

#: Signature algorithms an ID token may use: asymmetric only (HMAC keyed by a public key is a forgery).
SAFE_ALGORITHMS = ("RS256", "RS384", "RS512", "PS256", "PS384", "PS512", "ES256", "ES384", "ES512", "EdDSA")
#: Seconds of clock skew allowed on exp / iat.
LEEWAY = 60
#: Seconds before provider metadata (and its JWKS) are fetched again.
METADATA_TTL = 24 * 3600
HTTP_TIMEOUT = 10.0
USER_AGENT = "gingee-auth (+authlib)"


class LoginFailed(Exception):
    """A login that must be refused: `status` (400 for a request we did not start or that was tampered
    with, 401 for a user or token the provider or our rules refuse, 502 for a provider we cannot reach),
    a code, and a reason safe to show the user."""

    def __init__(self, status: int, code: str, reason: str) -> None:
        super().__init__(reason)
        self.status = status
        self.code = code
        self.reason = reason


class _OAuthApp(AsyncOAuth2Mixin, AsyncOpenIDMixin, BaseApp):
    """authlib's async OAuth 2 + OpenID client app on httpx2 (what `StarletteOAuth2App` is, without
    Starlette's session)."""

    client_cls = AsyncOAuth2Client


class ProviderClient:
    """Starts and finishes logins with one provider entry of one app."""

    def __init__(self, app: AppRuntime, provider: ProviderSettings) -> None:
        self.app = app
        self.provider = provider
        self._vetted = False
        self._lock = asyncio.Lock()
        kwargs: dict[str, Any] = {
            "scope": " ".join(provider.scopes),
            "code_challenge_method": "S256",
            "timeout": HTTP_TIMEOUT,
            # GitHub documents the secret in the token request's form; OpenID issuers say in their metadata.
            "token_endpoint_auth_method": "client_secret_basic" if provider.openid else "client_secret_post",
        }
        # OpenID issuers are found by their discovery document; GitHub's endpoints are fixed.
        endpoints: dict[str, Any] = (
            {"server_metadata_url": provider.discovery_url}
            if provider.openid
            else {
                "authorize_url": provider.authorize_url,
                "access_token_url": provider.token_url,
                "api_base_url": f"{provider.api_url}/",
            }
        )
        self.oauth = _OAuthApp(
            FrameworkIntegration(provider.name),
            name=provider.name,
            client_id=provider.client_id,
            client_secret=provider.client_secret,
            client_kwargs=kwargs,
            user_agent=USER_AGENT,
            **endpoints,
        )

    # --- metadata -------------------------------------------------------------------------------------

    async def _ready(self) -> None:
        """Egress-check the app's own endpoints once, and (re)load the provider's metadata when stale."""
        async with self._lock:
            if not self._vetted:
                for url in self.provider.app_urls:
                    await self._vet(url, "an endpoint")
                self._vetted = True
            if not self.provider.openid:
                return
            if self.oauth.server_metadata.get("_loaded_at", 0) < time.time() - METADATA_TTL:
                # authlib loads the document only into metadata without `_loaded_at`: start afresh.
                self.oauth.server_metadata = {}
                try:
                    metadata = await self.oauth.load_server_metadata()
                    await self._check_metadata(metadata)
                except (httpx2.HTTPError, ValueError) as exc:
                    self.oauth.server_metadata = {}
                    raise self._unreachable("its discovery document", exc) from None
                except LoginFailed:
                    self.oauth.server_metadata = {}
                    raise

    async def _check_metadata(self, metadata: dict[str, Any]) -> None:
        where = f"the discovery document of {self.provider.discovery_url}"
        for key in ("issuer", "authorization_endpoint", "token_endpoint", "jwks_uri"):
            if not isinstance(metadata.get(key), str) or not metadata[key]:
                raise LoginFailed(502, "PROVIDER_MISCONFIGURED", f"{where} has no {key}")
        if self.provider.app_urls:  # endpoints the server will call, named by a document the app chose
            for key in ("token_endpoint", "jwks_uri", "userinfo_endpoint"):
                if metadata.get(key):
                    await self._vet(str(metadata[key]), key)
        offered = metadata.get("id_token_signing_alg_values_supported") or ["RS256"]
        safe = [alg for alg in offered if alg in SAFE_ALGORITHMS]
        if not safe:
            raise LoginFailed(
                502, "PROVIDER_MISCONFIGURED", f"{where} offers no asymmetric ID token algorithm ({offered})"
            )
        metadata["id_token_signing_alg_values_supported"] = safe
        methods = metadata.get("token_endpoint_auth_methods_supported") or ["client_secret_basic"]
        if "client_secret_basic" not in methods and "client_secret_post" in methods:
            self.oauth.client_kwargs["token_endpoint_auth_method"] = "client_secret_post"

    async def _vet(self, url: str, what: str) -> None:
        """An endpoint the app's own app.json chose must pass gingee.json `egress` (the log says which
        rule refused it, and how an operator allows it)."""
        try:
            await vet(httpx.URL(url), EgressPolicy.from_config(self.app.server_config.get("egress")))
        except EgressDenied as exc:
            self.app.log.error(
                "app '%s': login provider %s (%s): %s", self.app.name, self.provider.name, what, exc
            )
            raise LoginFailed(
                502, "PROVIDER_BLOCKED", f"the server's egress policy does not allow {self.provider.label}"
            ) from None

    def _unreachable(self, what: str, exc: Exception) -> LoginFailed:
        self.app.log.warning(
            "app '%s': login provider %s: %s failed: %s: %s",
            self.app.name,
            self.provider.name,
            what,
            type(exc).__name__,
            exc,
        )
        return LoginFailed(
            502, "PROVIDER_UNAVAILABLE", f"{self.provider.label} could not be reached ({what})"
        )

    # --- the flow -------------------------------------------------------------------------------------

    async def start(self, redirect_uri: str) -> dict[str, Any]:
        """The authorization URL to send the browser to, and the state to keep until it comes back:
        `url`, `state`, `code_verifier` (PKCE S256) and, for OpenID, `nonce`."""
        await self._ready()
        extra: dict[str, Any] = {}
        if self.provider.kind == "google":
            extra["prompt"] = "select_account"
        elif self.provider.kind == "microsoft":
            extra["response_mode"] = "query"
        result = await self.oauth.create_authorization_url(redirect_uri, **extra)
        return {
            "url": result["url"],
            "state": result["state"],
            "code_verifier": result["code_verifier"],
            "nonce": result.get("nonce"),
        }

    async def finish(self, code: str, redirect_uri: str, code_verifier: str, nonce: str | None) -> User:
        """Exchange `code` (with the PKCE verifier) for tokens, and the user they vouch for."""
        await self._ready()
        try:
            token = await self.oauth.fetch_access_token(
                redirect_uri=redirect_uri, code=code, code_verifier=code_verifier
            )
        except OAuthError as exc:
            raise LoginFailed(
                401, "LOGIN_REFUSED", f"{self.provider.label} refused the login: {exc.error or 'error'}"
            ) from None
        except (httpx2.HTTPError, ValueError) as exc:
            raise self._unreachable("the token request", exc) from None
        if not isinstance(token, dict) or not token.get("access_token"):
            raise LoginFailed(401, "LOGIN_REFUSED", f"{self.provider.label} sent no access token")
        user = await (self._openid_user(token, nonce) if self.provider.openid else self._github_user(token))
        self._admit(user)
        return user

    # --- OpenID ---------------------------------------------------------------------------------------

    def _claims_options(self) -> dict[str, Any]:
        """Built afresh per login (authlib pops the `validate` hooks out of the dict it is given)."""
        issuer = str(self.oauth.server_metadata["issuer"])
        options: dict[str, Any] = {
            "aud": {"essential": True, "value": self.provider.client_id},
            "exp": {"essential": True},
            "iat": {"essential": True},
            "sub": {"essential": True},
        }
        if "{tenantid}" in issuer:

            def tenant_issuer(claims: Any, value: Any) -> bool:
                tid = claims.get("tid")
                return isinstance(tid, str) and bool(tid) and value == issuer.replace("{tenantid}", tid)

            options["iss"] = {"essential": True, "validate": tenant_issuer}
        else:
            options["iss"] = {"essential": True, "value": issuer}
        return options

    async def _openid_user(self, token: dict[str, Any], nonce: str | None) -> User:
        if not token.get("id_token"):
            raise LoginFailed(401, "LOGIN_REFUSED", f"{self.provider.label} sent no ID token")
        if not nonce:
            raise LoginFailed(400, "LOGIN_STATE_INVALID", "the login has no nonce; start again")
        try:
            claims = await self.oauth.parse_id_token(
                token, nonce, claims_options=self._claims_options(), leeway=LEEWAY
            )
        except (JoseError, ValueError, KeyError, TypeError) as exc:
            self.app.log.warning(
                "app '%s': login provider %s: ID token refused: %s: %s",
                self.app.name,
                self.provider.name,
                type(exc).__name__,
                exc,
            )
            raise LoginFailed(401, "ID_TOKEN_INVALID", "the provider's ID token did not verify") from None
        except (httpx2.HTTPError, RuntimeError) as exc:
            raise self._unreachable("its signing keys", exc) from None
        data = dict(claims)
        return User(
            provider=self.provider.name,
            subject=str(data["sub"]),
            email=data.get("email") if isinstance(data.get("email"), str) else None,
            email_verified=data.get("email_verified") is True,
            name=data.get("name") if isinstance(data.get("name"), str) else None,
            picture=data.get("picture") if isinstance(data.get("picture"), str) else None,
            claims=data,
        )

    # --- GitHub ---------------------------------------------------------------------------------------

    async def _api(self, path: str, token: dict[str, Any]) -> Any:
        headers = {"Accept": "application/vnd.github+json", "X-GitHub-Api-Version": "2022-11-28"}
        try:
            response = await self.oauth.get(path, token=token, headers=headers)
            response.raise_for_status()
            return response.json()
        except (httpx2.HTTPError, ValueError) as exc:
            raise self._unreachable(f"its API ({path})", exc) from None

    async def _github_user(self, token: dict[str, Any]) -> User:
        profile = await self._api("user", token)
        emails = await self._api("user/emails", token)
        if not isinstance(profile, dict) or "id" not in profile:
            raise LoginFailed(502, "PROVIDER_MISCONFIGURED", f"{self.provider.label} sent no user")
        verified = [
            e
            for e in (emails if isinstance(emails, list) else [])
            if isinstance(e, dict) and e.get("verified") is True
        ]
        verified.sort(key=lambda e: e.get("primary") is not True)
        chosen = None
        for entry in verified:
            if (
                not self.provider.allowed_domains
                or _domain(entry.get("email")) in self.provider.allowed_domains
            ):
                chosen = entry.get("email")
                break
        return User(
            provider=self.provider.name,
            subject=str(profile["id"]),
            email=chosen if isinstance(chosen, str) else None,
            email_verified=isinstance(chosen, str),
            name=str(profile.get("name") or profile.get("login") or "") or None,
            picture=profile.get("avatar_url") if isinstance(profile.get("avatar_url"), str) else None,
            claims={
                k: profile.get(k) for k in ("id", "login", "name", "avatar_url", "html_url") if k in profile
            },
        )

    # --- the app's own rules --------------------------------------------------------------------------

    def _admit(self, user: User) -> None:
        provider = self.provider
        if provider.allowed_tenants and user.claims.get("tid") not in provider.allowed_tenants:
            raise LoginFailed(
                401, "LOGIN_NOT_ALLOWED", "your organisation's accounts may not log in to this app"
            )
        if provider.allowed_domains and not (
            user.email and user.email_verified and _domain(user.email) in provider.allowed_domains
        ):
            raise LoginFailed(
                401,
                "LOGIN_NOT_ALLOWED",
                "this app only admits verified email addresses at " + ", ".join(provider.allowed_domains),
            )


def _domain(email: Any) -> str:
    return email.rsplit("@", 1)[-1].lower() if isinstance(email, str) and "@" in email else ""
