"""A GitHub-shaped OAuth 2 provider (GitHub is OAuth 2, not OpenID Connect) on 127.0.0.1, for the login tests.

What is real: authlib's `AuthorizationServer` (the Tornado binding in server.py), its
`AuthorizationCodeGrant`, its PKCE check narrowed to S256 (optional, as on GitHub: a code requested with a
challenge needs the matching verifier) and its Bearer `ResourceProtector` in front of the API.

What is GitHub's shape (test-side imitation of github.com): `GET /login/oauth/authorize`,
`POST /login/oauth/access_token`, which answers JSON only to `Accept: application/json` (form-encoded
otherwise) and reports errors with HTTP 200 and GitHub's error codes (`incorrect_client_credentials`,
`bad_verification_code`, `redirect_uri_mismatch`); tokens `gho_...` that do not expire, with a comma-separated
`scope`; `GET /api/user` and `GET /api/user/emails`, taking `Authorization: Bearer <token>` or
`token <token>` and answering 401 `{"message": "Requires authentication" | "Bad credentials"}` otherwise
(and 404 from /user/emails to a token without the user:email scope, as GitHub does).
"""

from __future__ import annotations

from typing import Any
from urllib.parse import urlencode

from authlib.common.security import generate_token
from authlib.oauth2.rfc6749 import MissingAuthorizationError, OAuth2Error, scope_to_list
from authlib.oauth2.rfc6750 import InsufficientScopeError
from tornado.web import RequestHandler

from .server import (
    BearerValidator,
    Client,
    CodeGrant,
    LoopbackServer,
    OAuthHandler,
    Protector,
    Reply,
    S256CodeChallenge,
    TornadoAuthorizationServer,
    flat_args,
)

SCOPES = ["read:user", "user:email"]
DOCS = "https://docs.github.com/rest"


def github_token(*, scope: str | None, **_: Any) -> dict[str, Any]:
    """A GitHub OAuth app token: no expiry, no refresh token, scopes joined by commas."""
    return {
        "access_token": f"gho_{generate_token(36)}",
        "token_type": "bearer",
        "scope": ",".join(scope_to_list(scope) or []),
    }


def github_error(body: dict[str, Any]) -> dict[str, Any]:
    """authlib's RFC 6749 error, renamed as GitHub names it."""
    error, description = body.get("error"), body.get("error_description", "")
    if error == "invalid_client":
        return {
            "error": "incorrect_client_credentials",
            "error_description": "The client_id and/or client_secret passed are incorrect.",
        }
    if error == "invalid_grant" and "redirect_uri" in description:
        return {
            "error": "redirect_uri_mismatch",
            "error_description": "The redirect_uri MUST match the registered callback URL for this app.",
        }
    if error == "invalid_grant":
        return {
            "error": "bad_verification_code",
            "error_description": "The code passed is incorrect or expired.",
        }
    return body


class AuthorizeHandler(OAuthHandler):
    def get(self) -> None:
        provider: GithubProvider = self.provider
        provider.authorize_requests.append(flat_args(self.request.query_arguments))
        account = {"user": dict(provider.user), "emails": [dict(e) for e in provider.emails]}
        try:
            grant = provider.server.get_consent_grant(self, end_user=account)
        except OAuth2Error as error:
            return self.reply(provider.server.handle_error_response(None, error))
        self.reply(
            provider.server.create_authorization_response(grant.request, grant_user=account, grant=grant)
        )


class AccessTokenHandler(OAuthHandler):
    def post(self) -> None:
        provider: GithubProvider = self.provider
        provider.token_requests.append(flat_args(self.request.body_arguments))
        status, body, _ = provider.server.create_token_response(self)
        if "error" in body:
            status, body = 200, github_error(body)
        if "application/json" in self.request.headers.get("Accept", ""):
            return self.reply_json(body, status)
        self.reply(
            Reply(
                status,
                urlencode(body),
                [("Content-Type", "application/x-www-form-urlencoded; charset=utf-8")],
            )
        )


class ApiHandler(OAuthHandler):
    """`/api/user` and `/api/user/emails`, behind authlib's ResourceProtector."""

    def get(self, resource: str) -> None:
        provider: GithubProvider = self.provider
        provider.api_requests.append(self.request.path)
        request = provider.server.create_oauth2_request(self)
        required = ["user:email"] if resource == "user/emails" else None
        try:
            token = provider.protector.validate_request(required, request)
        except InsufficientScopeError:
            return self.reply_json({"message": "Not Found", "documentation_url": DOCS}, 404)
        except MissingAuthorizationError:
            return self.reply_json({"message": "Requires authentication", "documentation_url": DOCS}, 401)
        except OAuth2Error:
            return self.reply_json({"message": "Bad credentials", "documentation_url": DOCS}, 401)
        account = token.get_user()
        self.reply_json(account["emails"] if required else account["user"])


class GithubProvider(LoopbackServer):
    """A GitHub-shaped OAuth 2 provider; see the module doc. Who logs in: `user` and `emails`, as they are at
    the authorization request."""

    def __init__(self) -> None:
        super().__init__()
        self.user: dict[str, Any] = {
            "id": 583231,
            "login": "octocat",
            "name": "The Octocat",
            "email": None,
            "avatar_url": "https://example.org/octocat.png",
        }
        self.emails: list[dict[str, Any]] = [
            {"email": "octo@example.org", "primary": True, "verified": True, "visibility": "private"},
            {"email": "octo@unverified.example", "primary": False, "verified": False, "visibility": None},
        ]
        self.authorize_requests: list[dict[str, str]] = []
        self.token_requests: list[dict[str, str]] = []
        self.api_requests: list[str] = []
        self.server = TornadoAuthorizationServer(scopes_supported=SCOPES)
        self.server.register_token_generator("default", github_token)
        self.server.register_grant(CodeGrant, [S256CodeChallenge(required=False)])
        self.protector = Protector()
        self.protector.register_token_validator(BearerValidator(self.server.tokens, "bearer"))
        self.protector.register_token_validator(BearerValidator(self.server.tokens, "token"))

    @property
    def authorize_url(self) -> str:
        return f"{self.base_url}/login/oauth/authorize"

    @property
    def token_url(self) -> str:
        return f"{self.base_url}/login/oauth/access_token"

    @property
    def api_url(self) -> str:
        return f"{self.base_url}/api"

    def routes(self) -> list[tuple[str, type[RequestHandler]]]:
        return [
            (r"/login/oauth/authorize", AuthorizeHandler),
            (r"/login/oauth/access_token", AccessTokenHandler),
            (r"/api/(user|user/emails)", ApiHandler),
        ]

    def add_client(self, client_id: str, client_secret: str, redirect_uris: list[str]) -> None:
        """Register an OAuth app; redirect URIs match exactly, "*" admits any loopback http URI."""
        self.server.clients[client_id] = Client(client_id, client_secret, list(redirect_uris))
