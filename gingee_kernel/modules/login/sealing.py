"""Sealed cookie values: authenticated encryption (JWE `dir` + A256GCM, by joserfc) under rotating keys.

A value sealed here can be read back only by a server holding one of the same keys, unchanged, for the
purpose and app it was sealed for, before it expires. The keys are gingee.json `auth.session.keys`
(newest first: the first seals, every one opens, so a key is rotated by putting the new one in front and
dropping the old one once its sessions have expired). Each configured key is stretched with HKDF into one
key per purpose, so a login-state cookie can never be passed off as a session.
"""

from __future__ import annotations

import base64
import hashlib
import json
import time
from collections.abc import Sequence
from typing import Any

from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.kdf.hkdf import HKDF
from joserfc import jwe
from joserfc.errors import JoseError
from joserfc.jwk import OctKey

_ALGORITHMS = ["dir", "A256GCM"]


def _derive(secret: bytes, purpose: str) -> OctKey:
    raw = HKDF(hashes.SHA256(), 32, salt=b"gingee-sealed-cookie", info=purpose.encode()).derive(secret)
    return OctKey.import_key(raw)


def _kid(key: OctKey) -> str:
    digest = hashlib.sha256(key.raw_value).digest()[:9]
    return base64.urlsafe_b64encode(digest).decode("ascii")


class Sealer:
    """Seals and opens values for one purpose ("session", "login-state") under a list of keys."""

    __slots__ = ("_by_kid", "_current", "_opened", "purpose")

    #: Values opened recently, remembered (with their audience and expiry) so that a browser sending the
    #: same session cookie on every request costs one decryption, not one per request.
    REMEMBER = 4096

    def __init__(self, secrets: Sequence[bytes], purpose: str) -> None:
        if not secrets:
            raise ValueError("Sealer: at least one key is needed")
        self.purpose = purpose
        keys = [_derive(secret, purpose) for secret in secrets]
        self._current = keys[0]
        self._by_kid = {_kid(key): key for key in reversed(keys)}
        self._opened: dict[str, tuple[str, int, dict[str, Any]]] = {}

    def seal(self, data: dict[str, Any], *, audience: str, max_age: int) -> str:
        """`data` sealed for `audience` (the app), valid `max_age` seconds."""
        now = int(time.time())
        payload = {"aud": audience, "p": self.purpose, "iat": now, "exp": now + max_age, "d": data}
        header = {"alg": "dir", "enc": "A256GCM", "kid": _kid(self._current)}
        plaintext = json.dumps(payload, separators=(",", ":"), ensure_ascii=False).encode("utf-8")
        return jwe.encrypt_compact(header, plaintext, self._current, algorithms=_ALGORITHMS)

    def open(self, value: str, *, audience: str) -> dict[str, Any] | None:
        """The data sealed in `value` for `audience`, or None if it was not sealed by one of our keys,
        was changed, is for another purpose or app, or has expired."""
        if not value or len(value) > 8192:
            return None
        known = self._opened.get(value)
        if known is not None:
            if known[0] == audience and known[1] > time.time():
                return known[2]
            return None
        try:
            header = json.loads(base64.urlsafe_b64decode(value.split(".", 1)[0] + "=="))
            key = self._by_kid.get(header.get("kid")) if isinstance(header, dict) else None
            if key is None:
                return None
            plaintext = jwe.decrypt_compact(value, key, algorithms=_ALGORITHMS).plaintext
            payload = json.loads(plaintext or b"")
        except (JoseError, ValueError, TypeError, UnicodeDecodeError):
            return None
        if (
            not isinstance(payload, dict)
            or payload.get("p") != self.purpose
            or payload.get("aud") != audience
        ):
            return None
        expires = payload.get("exp")
        if not isinstance(expires, int) or expires <= time.time():
            return None
        data = payload.get("d")
        if not isinstance(data, dict):
            return None
        if len(self._opened) >= self.REMEMBER:
            del self._opened[next(iter(self._opened))]  # the oldest
        self._opened[value] = (audience, expires, data)
        return data
