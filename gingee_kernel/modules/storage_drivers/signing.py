"""Signed URLs for the local driver, served by gingee itself, so code that hands out `storage.url(...)`
on a laptop works unchanged on S3.

    <app base>/_gingee/storage/<store>/<key>?expires=<unix>&method=GET[&type=<content type>]&sig=<hmac>

The signature is HMAC-SHA256 over the app, store, key, method, expiry and content type, keyed by
gingee.json `storage.signing_key` (a secret reference; set it to the same value on every node of a
fleet), else a key gingee creates once in `<project>/.gingee/storage-signing.key`. Anything changed in
the URL, a URL past its expiry or used with another method is refused with 403.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import time
from typing import Any
from urllib.parse import quote, urlencode

from ...engine.app import AppRuntime
from ...engine.context import current_request
from ...engine.project_keys import project_key
from ...errors import HttpError

ENDPOINT = "/_gingee/storage/"
_KEY_STATE = "storage.signing_key"
_KEY_FILE = "storage-signing.key"


def signing_key(app: AppRuntime) -> bytes:
    """The server's URL signing key (one per project; see the module docstring)."""
    key = app.shared.get(_KEY_STATE)
    if key is None:
        key = app.shared[_KEY_STATE] = _load_key(app)
    return key


def _load_key(app: AppRuntime) -> bytes:
    configured = (app.server_config.get("storage") or {}).get("signing_key")
    if configured:
        return str(configured).encode("utf-8")
    return project_key(app, _KEY_FILE)


def _signature(
    secret: bytes, app: str, store: str, key: str, method: str, expires: int, content_type: str
) -> str:
    message = "\n".join(("gingee-storage-v1", app, store, key, method, str(expires), content_type))
    digest = hmac.new(secret, message.encode("utf-8"), hashlib.sha256).digest()
    return base64.urlsafe_b64encode(digest).decode("ascii").rstrip("=")


def signed_url(
    app: AppRuntime, store: str, key: str, method: str, expires: int, content_type: str | None
) -> str:
    """The URL for `key` of `store`, valid `expires` seconds, for `method` only."""
    until = int(time.time()) + expires
    query: dict[str, Any] = {"expires": until, "method": method}
    if content_type:
        query["type"] = content_type
    query["sig"] = _signature(signing_key(app), app.name, store, key, method, until, content_type or "")
    path = f"{ENDPOINT}{quote(store, safe='')}/{quote(key, safe='/')}"
    return f"{app_base(app)}{path}?{urlencode(query)}"


def app_base(app: AppRuntime) -> str:
    """Where the app is served: from the request being answered (`Request.app_url`: its scheme, host and
    any Jupyter base URL or trusted proxy's prefix, as the browser sees them), else gingee.json
    `storage.public_url` + /<app>, else the server-relative `/<app>`."""
    request = current_request()
    if request is not None:
        return request.app_url  # as the browser sees it: a kernel's live app too, behind Jupyter
    public = (app.server_config.get("storage") or {}).get("public_url")
    return f"{str(public).rstrip('/')}/{quote(app.name)}" if public else f"/{quote(app.name)}"


def verify(
    app: AppRuntime, store: str, key: str, query: dict[str, str], method: str, content_type: str
) -> None:
    """Refuse (403 SIGNATURE_INVALID) unless `query` signs this app, store, key and `method`, unexpired,
    and a PUT sends the signed content type."""
    try:
        until = int(query.get("expires", ""))
    except ValueError:
        raise _refused("the URL has no valid expiry") from None
    signed_method = query.get("method", "")
    signed_type = query.get("type", "")
    expected = _signature(signing_key(app), app.name, store, key, signed_method, until, signed_type)
    if not hmac.compare_digest(expected, query.get("sig", "")):
        raise _refused("the signature does not match this URL (it was changed, or signed by another server)")
    if time.time() > until:
        raise _refused("the URL has expired")
    if signed_method != ("GET" if method == "HEAD" else method):
        raise _refused(f"the URL was signed for {signed_method or 'no method'}, not {method}")
    if method == "PUT" and signed_type and content_type != signed_type:
        raise _refused(f"the URL was signed for Content-Type {signed_type}; send that type")


def _refused(reason: str) -> HttpError:
    return HttpError(403, "SIGNATURE_INVALID", f"signed storage URL refused: {reason}")
