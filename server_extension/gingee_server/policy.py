"""Safe beside Jupyter: what app pages served on Jupyter's origin may do (docs/jupyter.md, "Safety").

App pages share the origin with `/api/kernels`, so a script on them could drive the user's kernels with
the user's cookie. Every response a browser may render as a document therefore carries a sandbox CSP
without `allow-same-origin`: the page gets an opaque origin, cannot read Jupyter's cookies or `_xsrf`,
and its requests are cross-site, so they carry no Jupyter credentials. A non-public app may opt out in
app.json (`"jupyter": {"sandbox": false}`: its pages can act as you in Jupyter); a public app never can.
Public apps are anonymous: Jupyter's credentials are stripped from what they see, and their answers
allow any origin without credentials, so their own sandboxed pages can call their API.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from tornado.httputil import HTTPHeaders

DEFAULT_SANDBOX = "sandbox allow-scripts allow-forms allow-popups allow-modals allow-downloads"
#: Content types a browser renders as a document that can run script (plus a missing type).
DOCUMENT_TYPES = frozenset(
    {"text/html", "application/xhtml+xml", "image/svg+xml", "text/xml", "application/xml", ""}
)
#: Cookies that carry Jupyter or JupyterHub credentials, besides the identity provider's own cookie.
CREDENTIAL_COOKIES = frozenset({"_xsrf"})
CREDENTIAL_COOKIE_PREFIXES = ("jupyterhub-",)
PREFLIGHT_METHODS = "GET, HEAD, POST, PUT, PATCH, DELETE"


class SafetyPolicy:
    """The sandbox CSP put on app documents; `csp` must be a `sandbox` directive without
    `allow-same-origin` (that flag would hand the page Jupyter's origin back)."""

    def __init__(self, csp: str = DEFAULT_SANDBOX) -> None:
        tokens = csp.split()
        if not tokens or tokens[0].lower() != "sandbox":
            raise ValueError(f"the sandbox policy must be a CSP `sandbox` directive, got {csp!r}")
        if any(token.lower() == "allow-same-origin" for token in tokens):
            raise ValueError(
                "the sandbox policy may not contain allow-same-origin: app pages would share Jupyter's "
                "origin again; opt single trusted apps out with app.json jupyter.sandbox = false instead"
            )
        self.csp = " ".join(tokens)

    def for_app(self, name: str, public: bool, jupyter: Mapping[str, Any] | None) -> AppPolicy:
        """The policy of one app from its public flag and its app.json `jupyter` section."""
        opt_out = (jupyter or {}).get("sandbox") is False
        if public and opt_out:
            warning = (
                f"app '{name}' is public, so its pages stay sandboxed: app.json jupyter.sandbox = false "
                "is only honoured for apps that require Jupyter's login (remove `public` or the opt-out)"
            )
            return AppPolicy(public=True, sandbox=True, warning=warning)
        return AppPolicy(public=public, sandbox=not opt_out)

    def response_headers(self, app: AppPolicy, content_type: str | None) -> list[tuple[str, str]]:
        """Headers to add to one app response with this content type."""
        added: list[tuple[str, str]] = []
        if app.sandbox and is_document(content_type):
            added.append(("Content-Security-Policy", self.csp))
        if app.public:
            added.append(("Access-Control-Allow-Origin", "*"))
        return added


@dataclass(frozen=True)
class AppPolicy:
    """How one app is served: anonymous (`public`) or behind Jupyter's login, sandboxed or trusted."""

    public: bool
    sandbox: bool = True
    warning: str | None = None

    def __post_init__(self) -> None:
        if self.public and not self.sandbox:
            raise ValueError("a public app is always sandboxed")


def is_document(content_type: str | None) -> bool:
    """Whether a response of this type may be rendered by a browser as a document that runs script."""
    media = (content_type or "").split(";", 1)[0].strip().lower()
    return media in DOCUMENT_TYPES or media.endswith("+xml")


def strip_credentials(headers: HTTPHeaders, login_cookie: str) -> None:
    """Remove Jupyter's credentials (Authorization, login, hub and `_xsrf` cookies) from request headers."""
    headers.pop("Authorization", None)
    cookies = headers.get_list("Cookie")
    if not cookies:
        return
    del headers["Cookie"]
    kept = [
        pair.strip()
        for line in cookies
        for pair in line.split(";")
        if pair.strip() and not _is_credential(pair.split("=", 1)[0].strip(), login_cookie)
    ]
    if kept:
        headers["Cookie"] = "; ".join(kept)


def _is_credential(name: str, login_cookie: str) -> bool:
    return name == login_cookie or name in CREDENTIAL_COOKIES or name.startswith(CREDENTIAL_COOKIE_PREFIXES)


def preflight_headers(request_headers: Mapping[str, str]) -> list[tuple[str, str]]:
    """The answer to a CORS preflight for a public app: any origin, no credentials."""
    asked = request_headers.get("Access-Control-Request-Headers", "")
    allowed = ", ".join(h.strip() for h in asked.split(",") if h.strip() and _token_like(h.strip()))
    lines = [
        ("Access-Control-Allow-Origin", "*"),
        ("Access-Control-Allow-Methods", PREFLIGHT_METHODS),
        ("Access-Control-Max-Age", "600"),
    ]
    if allowed:
        lines.append(("Access-Control-Allow-Headers", allowed))
    return lines


def _token_like(name: str) -> bool:
    return all(c.isalnum() or c in "-_" for c in name)
