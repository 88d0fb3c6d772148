"""A practice OpenID Connect provider on 127.0.0.1 (free port), on authlib's server side: for the login
tests and for workshops, where no Google or Microsoft client is at hand.

What is real: authlib's `AuthorizationServer` (bound to Tornado in server.py, as authlib's Flask and Django
integrations bind it), its `AuthorizationCodeGrant`, its PKCE extension `CodeChallenge` (narrowed to S256;
with `required=True` demanded of every client, where authlib's own flag binds public clients only), its
`OpenIDCode` extension, which issues the RS256 ID token, its `UserInfoEndpoint` and its Bearer
`ResourceProtector`. Keys and signatures are joserfc's. Clients, codes (60 s, single use: a replay also
revokes the tokens the code bought) and access tokens (3600 s) live in dicts. There is no login form:
/authorize approves at once as `provider.user`.

What is test-only: the attack knobs (`id_token_claims`, `sign_with`; reset with `reset_knobs()`) that rewrite
authlib's genuine ID token the way a broken or hostile issuer would, `rotate_key()`, and the request logs.

`OidcProvider(microsoft=True)` imitates Entra ID v2: tenant-segmented URLs, the `{tenantid}` issuer template.

The Tornado glue and the in-memory models are in server.py, shared with github.py.
"""

from __future__ import annotations

import base64
import json
import time
from functools import cached_property
from typing import Any

from authlib.common.security import generate_token
from authlib.oauth2.rfc6749 import (
    OAuth2Error,
    OAuth2Request,
)
from authlib.oauth2.rfc6749.grants import AuthorizationCodeGrant
from authlib.oauth2.rfc6750 import BearerTokenGenerator
from authlib.oidc.core import UserInfo, UserInfoEndpoint
from authlib.oidc.core.grants import OpenIDCode
from joserfc import jwt
from joserfc.jwk import RSAKey
from tornado.web import RequestHandler

from .server import (
    BearerValidator,
    Client,
    CodeGrant,
    LoopbackServer,
    OAuthHandler,
    Protector,
    S256CodeChallenge,
    TornadoAuthorizationServer,
    flat_args,
)

# ----------------------------------------------------------------------------------------------------
# The OpenID Connect provider
# ----------------------------------------------------------------------------------------------------

MS_SEGMENT = r"(common|organizations|consumers|[0-9a-fA-F]{8}-(?:[0-9a-fA-F]{4}-){3}[0-9a-fA-F]{12})"
MS_MULTI_TENANT = ("common", "organizations", "consumers")
SCOPES = ["openid", "email", "profile"]
# Claims a scope governs are released per scope; the others in `user` (Google's hd, Entra's oid) always are.
SCOPED_CLAIMS = {claim for claims in UserInfo.SCOPES_CLAIMS_MAPPING.values() for claim in claims}


def user_claims(user: dict[str, Any], scope: str) -> UserInfo:
    """The claims of `user` that `scope` releases (openid: sub; email: email, email_verified; profile...)."""
    extra = {name: value for name, value in user.items() if name not in SCOPED_CLAIMS}
    return UserInfo({**extra, **UserInfo(user).filter(scope)})


def b64url_json(value: dict[str, Any]) -> str:
    return base64.urlsafe_b64encode(json.dumps(value).encode()).rstrip(b"=").decode()


class IdToken(OpenIDCode):
    """authlib's OpenID Connect extension of the code grant; the provider gives it issuer, key and claims."""

    def __init__(self, provider: OidcProvider) -> None:
        super().__init__(require_nonce=False)
        self.provider = provider

    def exists_nonce(self, nonce: str, request: OAuth2Request) -> bool:
        codes = self.provider.server.codes.values()
        return any(c.nonce == nonce and c.client_id == request.payload.client_id for c in codes)

    def resolve_client_private_key(self, client: Client) -> RSAKey:
        return self.provider._key

    def get_encode_header(self, client: Client) -> dict[str, str]:
        return {"alg": "RS256", "kid": self.provider._key.kid or ""}

    def get_client_claims(self, client: Client) -> dict[str, Any]:
        now = int(time.time())
        claims: dict[str, Any] = {"iss": self.provider.token_issuer, "aud": client.client_id}
        claims.update(iat=now, exp=now + 600)
        if self.provider.microsoft:
            claims.update(tid=self.provider.tenant, ver="2.0")
        return claims

    def generate_user_info(self, user: dict[str, Any], scope: str) -> UserInfo:
        return user_claims(user, scope)

    def process_token(self, grant: AuthorizationCodeGrant, response: Any) -> dict[str, Any]:
        token = super().process_token(grant, response)
        if "id_token" in token:
            token["id_token"] = self.provider._apply_knobs(token["id_token"])
        return token


class UserInfoEp(UserInfoEndpoint):
    def generate_user_info(self, user: dict[str, Any], scope: str) -> UserInfo:
        return user_claims(user, scope)


class DiscoveryHandler(OAuthHandler):
    def get(self, segment: str = "") -> None:
        self.provider.discovery_requests += 1
        self.reply_json(self.provider.discovery_document(segment))


class JwksHandler(OAuthHandler):
    def get(self, segment: str = "") -> None:
        self.provider.jwks_requests += 1
        self.reply_json({"keys": [self.provider._key.as_dict(private=False)]})


class AuthorizeHandler(OAuthHandler):
    """Auto-approves as the provider's current `user`; errors go per RFC 6749 §4.1.2.1 (authlib decides)."""

    def get(self, segment: str = "") -> None:
        self.provider.authorize_requests.append(flat_args(self.request.query_arguments))
        server: TornadoAuthorizationServer = self.provider.server
        user = self.provider.login_snapshot()
        try:
            grant = server.get_consent_grant(self, end_user=user)
        except OAuth2Error as error:
            return self.reply(server.handle_error_response(None, error))
        self.reply(server.create_authorization_response(grant.request, grant_user=user, grant=grant))


class TokenHandler(OAuthHandler):
    def post(self, segment: str = "") -> None:
        self.provider.token_requests.append(flat_args(self.request.body_arguments))
        self.reply(self.provider.server.create_token_response(self))


class UserInfoHandler(OAuthHandler):
    def get(self) -> None:
        self.reply(self.provider.server.create_endpoint_response("userinfo", self))

    post = get


class OidcProvider(LoopbackServer):
    """An OpenID Connect provider (plain, or Entra ID v2-shaped with `microsoft=True`); see the module doc."""

    def __init__(
        self, *, microsoft: bool = False, tenant: str = "9188040d-6c67-4c5b-b112-36a304b66dad"
    ) -> None:
        super().__init__()
        self.microsoft = microsoft
        self.tenant = tenant
        self.user: dict[str, Any] = {
            "sub": "ada",
            "email": "ada@example.org",
            "email_verified": True,
            "name": "Ada Lovelace",
            "picture": "https://example.org/ada.png",
        }
        self.jwks_requests = 0
        self.discovery_requests = 0
        self.authorize_requests: list[dict[str, str]] = []
        self.token_requests: list[dict[str, str]] = []
        self.reset_knobs()
        self._key = self._new_key()
        self.server = TornadoAuthorizationServer(scopes_supported=SCOPES)
        self.server.register_token_generator(
            "default", BearerTokenGenerator(lambda **_: generate_token(42), expires_generator=3600)
        )
        self.server.register_grant(CodeGrant, [S256CodeChallenge(required=True), IdToken(self)])
        protector = Protector()
        protector.register_token_validator(BearerValidator(self.server.tokens))
        self.server.register_endpoint(UserInfoEp(resource_protector=protector))

    # -- URLs -----------------------------------------------------------------------------------------------
    @property
    def issuer(self) -> str:
        return f"{self.base_url}/{{tenantid}}/v2.0" if self.microsoft else self.base_url

    @property
    def discovery_url(self) -> str:
        if self.microsoft:
            return self.tenant_discovery_url("common")
        return f"{self.base_url}/.well-known/openid-configuration"

    def tenant_discovery_url(self, segment: str) -> str:
        """Microsoft mode: the discovery URL under `segment` (common, organizations, consumers, a GUID)."""
        return f"{self.base_url}/{segment}/v2.0/.well-known/openid-configuration"

    @property
    def token_issuer(self) -> str:
        """The `iss` the tokens carry (Microsoft: the template filled with `tenant`)."""
        return f"{self.base_url}/{self.tenant}/v2.0" if self.microsoft else self.base_url

    def routes(self) -> list[tuple[str, type[RequestHandler]]]:
        if not self.microsoft:
            return [
                (r"/\.well-known/openid-configuration", DiscoveryHandler),
                (r"/authorize", AuthorizeHandler),
                (r"/token", TokenHandler),
                (r"/userinfo", UserInfoHandler),
                (r"/jwks", JwksHandler),
            ]
        return [
            (rf"/{MS_SEGMENT}/v2\.0/\.well-known/openid-configuration", DiscoveryHandler),
            (rf"/{MS_SEGMENT}/oauth2/v2\.0/authorize", AuthorizeHandler),
            (rf"/{MS_SEGMENT}/oauth2/v2\.0/token", TokenHandler),
            (rf"/{MS_SEGMENT}/discovery/v2\.0/keys", JwksHandler),
            (r"/oidc/userinfo", UserInfoHandler),
        ]

    def discovery_document(self, segment: str = "") -> dict[str, Any]:
        base = self.base_url
        if self.microsoft:
            issuer = self.issuer if segment in MS_MULTI_TENANT else f"{base}/{segment}/v2.0"
            endpoints = {
                "authorization_endpoint": f"{base}/{segment}/oauth2/v2.0/authorize",
                "token_endpoint": f"{base}/{segment}/oauth2/v2.0/token",
                "userinfo_endpoint": f"{base}/oidc/userinfo",
                "jwks_uri": f"{base}/{segment}/discovery/v2.0/keys",
            }
        else:
            issuer = base
            endpoints = {
                "authorization_endpoint": f"{base}/authorize",
                "token_endpoint": f"{base}/token",
                "userinfo_endpoint": f"{base}/userinfo",
                "jwks_uri": f"{base}/jwks",
            }
        claims = ["sub", "iss", "aud", "exp", "iat", "auth_time", "nonce", "at_hash", *sorted(SCOPED_CLAIMS)]
        return {
            "issuer": issuer,
            **endpoints,
            "response_types_supported": ["code"],
            "response_modes_supported": ["query"],
            "grant_types_supported": ["authorization_code"],
            "subject_types_supported": ["pairwise" if self.microsoft else "public"],
            "id_token_signing_alg_values_supported": ["RS256"],
            "scopes_supported": SCOPES,
            "token_endpoint_auth_methods_supported": ["client_secret_basic", "client_secret_post"],
            "code_challenge_methods_supported": ["S256"],
            "claims_supported": [*claims, "tid", "ver"] if self.microsoft else claims,
        }

    # -- clients, users -------------------------------------------------------------------------------------
    def add_client(self, client_id: str, client_secret: str, redirect_uris: list[str]) -> None:
        """Register a confidential client; redirect URIs match exactly, "*" admits any loopback http URI."""
        self.server.clients[client_id] = Client(client_id, client_secret, list(redirect_uris))

    def login_snapshot(self) -> dict[str, Any]:
        """Who approves an authorization request: a copy of `user` as it is now."""
        return dict(self.user)

    # -- keys and the test-only knobs -----------------------------------------------------------------------
    @staticmethod
    def _new_key() -> RSAKey:
        return RSAKey.generate_key(2048, parameters={"use": "sig", "alg": "RS256"}, auto_kid=True)

    @cached_property
    def _other_key(self) -> RSAKey:
        return self._new_key()

    def rotate_key(self) -> str:
        """Sign with a new key (new kid) from now on; the JWKS serves only the new key. Returns its kid."""
        self._key = self._new_key()
        return self._key.kid or ""

    def reset_knobs(self) -> None:
        self.id_token_claims: dict[str, Any] = {}
        self.sign_with = "current"

    def _apply_knobs(self, id_token: str) -> str:
        """Test-only: rewrite authlib's genuine ID token per `id_token_claims` and `sign_with`."""
        if not self.id_token_claims and self.sign_with == "current":
            return id_token
        claims = jwt.decode(id_token, self._key, algorithms=["RS256"]).claims
        for name, value in self.id_token_claims.items():
            if value is None:
                claims.pop(name, None)
            else:
                claims[name] = value
        if self.sign_with == "none":
            return f"{b64url_json({'alg': 'none'})}.{b64url_json(claims)}."
        keys = {"current": self._key, "other": self._other_key}
        if self.sign_with not in keys:
            raise ValueError(f"sign_with must be 'current', 'other' or 'none', not {self.sign_with!r}")
        header = {"typ": "JWT", "alg": "RS256", "kid": self._key.kid or ""}
        return jwt.encode(header, claims, keys[self.sign_with], algorithms=["RS256"])
