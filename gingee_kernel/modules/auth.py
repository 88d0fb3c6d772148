"""Gingee `auth` module: who is logged in, and HS256 JSON Web Tokens built on joserfc.

Ungated. Logins (Google, Microsoft, GitHub, any OpenID Connect issuer) are configured in app.json `auth`
and answered by gingee under `<app>/_auth/` (modules/login, docs/auth.md); a script sees `g.user`, and
`auth.require_login(g)` turns a visitor away (a browser to the login, an API call with 401).

For tokens, the secret comes from the call, else the app's `app.json` `jwt.secret`, else the server's
`gingee.json` `jwt.secret`; `iss` is resolved the same way. `verify` returns None for any bad token.
"""

from __future__ import annotations

import time
from typing import Any

from joserfc import jwt as _jwt
from joserfc.errors import JoseError
from joserfc.jwk import OctKey

from ..engine.context import current_app
from ..errors import ModuleConfigError, NoAppContext
from .login import gate
from .login.user import User

__all__ = ["MIN_SECRET_BYTES", "User", "jwt", "login_url", "require_login"]

#: Shortest accepted HMAC secret: 112 bits, the NIST floor joserfc also warns below. Use 32+ random bytes.
MIN_SECRET_BYTES = 14
_ALGORITHMS = ["HS256"]


def _app_jwt_setting(config: dict[str, Any] | None, name: str) -> Any:
    section = (config or {}).get("jwt")
    return section.get(name) if isinstance(section, dict) else None


def _resolve(name: str, explicit: Any) -> Any:
    """The call's value, else the current app's `jwt.<name>`, else the server's; None if none is set."""
    if explicit is not None:
        return explicit
    try:
        app = current_app()
    except NoAppContext:
        return None
    for config in (app.config, app.server_config):
        value = _app_jwt_setting(config, name)
        if value is not None:
            return value
    return None


def _key(secret: str | bytes | None) -> OctKey:
    resolved = _resolve("secret", secret)
    if resolved is None or resolved == "" or resolved == b"":
        raise ModuleConfigError(
            'auth.jwt: no JWT secret is configured. Pass secret=..., or set "jwt": {"secret": ...} '
            'in the app\'s box/app.json, or in gingee.json for every app (an "env:NAME" or "file:path" '
            "reference keeps it out of the file)."
        )
    if not isinstance(resolved, (str, bytes)):
        raise ModuleConfigError(f"auth.jwt: the JWT secret must be a string, not {type(resolved).__name__}")
    raw = resolved.encode("utf-8") if isinstance(resolved, str) else resolved
    if len(raw) < MIN_SECRET_BYTES:
        raise ModuleConfigError(
            f"auth.jwt: the JWT secret is {len(raw)} bytes; use at least {MIN_SECRET_BYTES} "
            "(32 or more random characters is better), e.g. from crypto.random_string(48)."
        )
    return OctKey.import_key(raw)


def _iss(iss: str | None) -> str | None:
    resolved = _resolve("iss", iss)
    if resolved is not None and not isinstance(resolved, str):
        raise ModuleConfigError(f"auth.jwt: iss must be a string, not {type(resolved).__name__}")
    return resolved or None


class _Jwt:
    """HS256 JSON Web Tokens: `create` signs claims, `verify` returns them or None."""

    def create(
        self,
        payload: dict[str, Any],
        expires_in: int | float = 3600,
        *,
        secret: str | bytes | None = None,
        iss: str | None = None,
    ) -> str:
        """Sign `payload` as an HS256 JWT that expires `expires_in` seconds from now (sets iat, exp, iss)."""
        if not isinstance(payload, dict):
            raise TypeError(f"auth.jwt.create: payload must be a dict, not {type(payload).__name__}")
        key = _key(secret)
        issuer = _iss(iss)
        now = time.time()
        claims = {**payload, "iat": int(now), "exp": int(now + expires_in)}
        if issuer is not None:
            claims["iss"] = issuer
        return _jwt.encode({"alg": "HS256"}, claims, key, algorithms=_ALGORITHMS)

    def verify(
        self, token: str, *, secret: str | bytes | None = None, iss: str | None = None
    ) -> dict[str, Any] | None:
        """The token's claims if it is a valid, unexpired HS256 JWT signed with the secret; otherwise None."""
        key = _key(secret)
        issuer = _iss(iss)
        if not isinstance(token, (str, bytes)) or not token:
            return None
        options: dict[str, Any] = {"exp": {"essential": True}}
        if issuer is not None:
            options["iss"] = {"essential": True, "value": issuer}
        try:
            decoded = _jwt.decode(token, key, algorithms=_ALGORITHMS)
            if decoded.header.get("alg") != "HS256" or not isinstance(decoded.claims, dict):
                return None
            _jwt.JWTClaimsRegistry(**options).validate(decoded.claims)
        except (JoseError, ValueError, TypeError, KeyError, AttributeError):
            return None
        return dict(decoded.claims)


#: The `auth.jwt` namespace.
jwt = _Jwt()


def require_login(g: Any) -> User:
    """`g.user`, or the end of the request: a browser is redirected to log in (and comes back here), an
    API call gets 401 JSON with the login URL. For a script whose route is not `"login": true`."""
    user = getattr(g, "user", None)
    if user is not None:
        return user  # type: ignore[no-any-return]
    app = current_app()
    settings = app.pipeline.login if app.pipeline is not None else None
    if settings is None:
        raise ModuleConfigError(
            f"auth.require_login: app '{app.name}' has no login: add an app.json \"auth\" section with "
            "providers (docs/auth.md)"
        )
    raise gate.login_required(settings, g.request)


def login_url(g: Any, next: str = "/") -> str:
    """Where a link should send the user to log in and then come back to `next` (a path in the app)."""
    app = current_app()
    settings = app.pipeline.login if app.pipeline is not None else None
    if settings is None or g.request is None:
        raise ModuleConfigError(f"auth.login_url: app '{app.name}' has no app.json \"auth\" section")
    return gate.login_url(settings, g.request, next)
