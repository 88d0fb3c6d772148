"""app.json `auth`: the login providers and the session, checked once when the app loads.

    "auth": {
      "providers": {
        "google":  {"client_id": "env:GOOGLE_ID", "client_secret": "env:GOOGLE_SECRET"},
        "microsoft": {"client_id": "env:MS_ID", "client_secret": "env:MS_SECRET", "tenant": "organizations"},
        "github":  {"client_id": "env:GH_ID", "client_secret": "env:GH_SECRET"},
        "company": {"type": "oidc",
                    "discovery_url": "https://idp.example/.well-known/openid-configuration",
                    "client_id": "env:IDP_ID", "client_secret": "env:IDP_SECRET",
                    "allowed_domains": ["example.org"]}
      },
      "session": {"max_age": 86400}
    }

The schema checks the shapes (secrets only as `env:`/`file:` references); this checks what depends on the
provider's type. The session keys come from gingee.json `auth.session.keys`, else a key gingee makes once
in `<project>/.gingee/session.key` (every process of the project shares it; a fleet sets the keys).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from ...engine.app import AppRuntime
from ...engine.project_keys import project_key
from ...errors import ManifestError

if TYPE_CHECKING:  # imported by login_settings, for an app with logins: joserfc and cryptography cost
    from .sealing import Sealer  # about 50 ms at every start otherwise

KINDS = ("google", "microsoft", "github", "oidc")
GOOGLE_DISCOVERY = "https://accounts.google.com/.well-known/openid-configuration"
MICROSOFT_AUTHORITY = "https://login.microsoftonline.com"
GITHUB_WEB = "https://github.com"
GITHUB_API = "https://api.github.com"
OIDC_SCOPES = ("openid", "email", "profile")
GITHUB_SCOPES = ("read:user", "user:email")
DEFAULT_MAX_AGE = 14 * 24 * 3600
#: The shortest session key accepted (gingee.json auth.session.keys): 128 bits.
MIN_KEY_BYTES = 16
#: How long a login may take between leaving for the provider and coming back.
LOGIN_STATE_MAX_AGE = 600
_KEY_STATE = "auth.session_keys"
#: Keys each kind accepts besides the common ones.
_KIND_KEYS = {
    "google": {"discovery_url"},
    "microsoft": {"tenant", "allowed_tenants", "authority"},
    "github": {"base_url", "api_url"},
    "oidc": {"discovery_url"},
}
_COMMON = {"type", "label", "client_id", "client_secret", "scopes", "allowed_domains"}
_LABELS = {"google": "Google", "microsoft": "Microsoft", "github": "GitHub"}


@dataclass(frozen=True)
class ProviderSettings:
    """One checked provider entry, with its endpoints filled in for its kind."""

    name: str
    kind: str
    label: str
    client_id: str
    client_secret: str
    scopes: tuple[str, ...]
    allowed_domains: tuple[str, ...]
    #: OpenID kinds: where the provider's metadata is (None for github).
    discovery_url: str | None = None
    #: microsoft: the tenant segment, and the tenant ids (tid) allowed in.
    tenant: str | None = None
    allowed_tenants: tuple[str, ...] = ()
    #: github: the authorize and token endpoints and the API.
    authorize_url: str | None = None
    token_url: str | None = None
    api_url: str | None = None
    #: URLs the app's own app.json set (checked against gingee.json egress before use).
    app_urls: tuple[str, ...] = ()

    @property
    def openid(self) -> bool:
        """Whether the provider speaks OpenID Connect (an ID token), rather than plain OAuth 2 (github)."""
        return self.kind != "github"


@dataclass(frozen=True)
class LoginSettings:
    """An app's `auth` section, checked: its providers and how its session is sealed and kept."""

    app: str
    providers: dict[str, ProviderSettings]
    cookie: str
    max_age: int
    session: Sealer
    state: Sealer

    @property
    def state_cookie(self) -> str:
        """The short-lived login-state cookie's name (apart from the session)."""
        return f"{self.cookie}_login"


def login_settings(app: AppRuntime, label: str) -> LoginSettings | None:
    """The app's checked `auth` section, or None if it has none; ManifestError naming the key otherwise."""
    section = app.config.get("auth")
    if section is None:
        return None
    server = (app.server_config.get("auth") or {}).get("session") or {}
    own = section.get("session") or {}
    providers = {
        name: _provider(name, entry, label) for name, entry in (section.get("providers") or {}).items()
    }
    keys = session_keys(app)
    return LoginSettings(
        app=app.name,
        providers=providers,
        cookie=str(own.get("cookie") or server.get("cookie") or "gingee_session"),
        max_age=int(own.get("max_age") or server.get("max_age") or DEFAULT_MAX_AGE),
        session=_sealer(keys, "gingee-session-v1"),
        state=_sealer(keys, "gingee-login-state-v1"),
    )


def check_providers(section: dict[str, Any], label: str) -> None:
    """The rules of each provider's type (what the schema cannot say), before secrets are resolved: a
    notebook's `app.use("auth", ...)` fails in the defining cell."""
    for name, entry in (section.get("providers") or {}).items():
        _provider(name, entry, label)


def _provider(name: str, entry: dict[str, Any], label: str) -> ProviderSettings:
    where = f"/auth/providers/{name}"
    kind = entry.get("type") or (name if name in _LABELS else None)
    if kind is None:
        raise ManifestError(
            label, f"{where}/type", f'a provider type ("oidc" for any OpenID issuer, or {", ".join(_LABELS)})'
        )
    extra = sorted(set(entry) - _COMMON - _KIND_KEYS[kind])
    if extra:
        allowed = ", ".join(sorted(_KIND_KEYS[kind])) or "none"
        raise ManifestError(
            label, f"{where}/{extra[0]}", f"no {extra[0]!r} for a {kind} provider (its own keys: {allowed})"
        )
    common: dict[str, Any] = {
        "name": name,
        "kind": kind,
        "label": str(entry.get("label") or _LABELS.get(kind) or name),
        "client_id": str(entry["client_id"]),
        "client_secret": str(entry["client_secret"]),
        "scopes": tuple(entry.get("scopes") or (GITHUB_SCOPES if kind == "github" else OIDC_SCOPES)),
        "allowed_domains": tuple(d.lower() for d in entry.get("allowed_domains") or ()),
    }
    if not common["client_id"] or not common["client_secret"]:
        raise ManifestError(
            label, f"{where}/client_id", "a client id and secret that resolve to non-empty values"
        )
    if kind != "github" and "openid" not in common["scopes"]:
        raise ManifestError(
            label, f"{where}/scopes", f'scopes that include "openid" (a {kind} login is OpenID)'
        )
    app_urls = tuple(
        str(entry[k]) for k in ("discovery_url", "authority", "base_url", "api_url") if k in entry
    )
    if kind == "github":
        web = str(entry.get("base_url") or GITHUB_WEB).rstrip("/")
        default_api = GITHUB_API if web == GITHUB_WEB else f"{web}/api/v3"  # GitHub Enterprise Server
        return ProviderSettings(
            **common,
            authorize_url=f"{web}/login/oauth/authorize",
            token_url=f"{web}/login/oauth/access_token",
            api_url=str(entry.get("api_url") or default_api).rstrip("/"),
            app_urls=app_urls,
        )
    if kind == "microsoft":
        tenant = str(entry.get("tenant") or "common")
        authority = str(entry.get("authority") or MICROSOFT_AUTHORITY).rstrip("/")
        return ProviderSettings(
            **common,
            discovery_url=f"{authority}/{tenant}/v2.0/.well-known/openid-configuration",
            tenant=tenant,
            allowed_tenants=tuple(entry.get("allowed_tenants") or ()),
            app_urls=app_urls,
        )
    discovery = entry.get("discovery_url") or (GOOGLE_DISCOVERY if kind == "google" else None)
    if discovery is None:
        raise ManifestError(
            label,
            f"{where}/discovery_url",
            "the issuer's discovery URL (https://.../.well-known/openid-configuration)",
        )
    return ProviderSettings(**common, discovery_url=str(discovery), app_urls=app_urls)


def session_keys(app: AppRuntime) -> list[bytes]:
    """gingee.json `auth.session.keys` (newest first), else the project's own key (made once)."""
    keys = app.shared.get(_KEY_STATE)
    if keys is None:
        keys = app.shared[_KEY_STATE] = _load_keys(app)
    return keys


def _load_keys(app: AppRuntime) -> list[bytes]:
    configured = ((app.server_config.get("auth") or {}).get("session") or {}).get("keys")
    if configured:
        keys = [str(key).encode("utf-8") for key in configured]
        for index, key in enumerate(keys):
            if len(key) < MIN_KEY_BYTES:
                raise ManifestError(
                    "gingee.json",
                    f"/auth/session/keys/{index}",
                    f"a session key of at least {MIN_KEY_BYTES} bytes (this one has {len(key)}); "
                    "make one with: python -c 'import secrets; print(secrets.token_urlsafe(32))'",
                )
        return keys
    return [project_key(app, "session.key")]


def _sealer(keys: Sequence[bytes], purpose: str) -> Sealer:
    from .sealing import Sealer

    return Sealer(keys, purpose)
