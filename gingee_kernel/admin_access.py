"""Who may call the operator APIs of `gingee serve` (`/_gingee/api/queue`, `/_gingee/api/apps`,
`/_gingee/api/audit`): one rule for all of them.

With gingee.json `admin.token` set (a literal or an `env:`/`file:` reference), any peer sending
`Authorization: Bearer <token>`; without one, loopback peers only (the socket's own address; proxy headers
are never read). A state-changing call that a browser marks as cross-site (`Sec-Fetch-Site`, or an `Origin`
that is not the server's own) is refused whatever it carries: a page on another site cannot drive the API
through a logged-in or loopback browser.
"""

from __future__ import annotations

import hmac
from urllib.parse import urlsplit

import tornado.httputil

from .lifecycle.audit import token_id
from .metrics.http import parse_peer, socket_peer

SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})


class AdminAccess:
    """The operator APIs' access rule for one configured token (or None: loopback only)."""

    def __init__(self, token: str | None) -> None:
        self.token = token or None
        self._token = token.encode() if token else None

    def who(self, request: tornado.httputil.HTTPServerRequest) -> tuple[str | None, str]:
        """(who, reason): who is calling ("token:<id>", "loopback:<ip>"), or None and why it is refused."""
        if request.method not in SAFE_METHODS and cross_site(request):
            return None, "cross-site browser requests may not change anything here"
        if self._token is not None:
            scheme, _, value = (request.headers.get("Authorization") or "").partition(" ")
            if scheme.lower() == "bearer" and hmac.compare_digest(value.strip().encode(), self._token):
                return token_id(self.token or ""), ""
            return None, "send Authorization: Bearer <admin.token from gingee.json>"
        peer = parse_peer(socket_peer(request))
        if peer is not None and peer.is_loopback:
            return f"loopback:{peer}", ""
        return None, "set admin.token in gingee.json to call the operator API remotely"


def cross_site(request: tornado.httputil.HTTPServerRequest) -> bool:
    """Whether a browser says this request comes from another site (Sec-Fetch-Site, else Origin)."""
    fetch_site = request.headers.get("Sec-Fetch-Site")
    if fetch_site is not None:
        return fetch_site.lower() not in ("same-origin", "none")
    origin = request.headers.get("Origin")
    if origin is None:
        return False
    if origin == "null":
        return True
    return urlsplit(origin).netloc.lower() != (request.headers.get("Host") or "").lower()
