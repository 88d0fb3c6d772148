"""Gingee `crypto` module: password hashing, HMAC, authenticated encryption and random strings.

Ungated: nothing here reads the current app. Passwords use stdlib scrypt; encryption is AES-256-GCM with
a key derived from the secret by HKDF-SHA256 (the secret should be a high-entropy app secret, not a
user's password). Verifiers return False / None for bad input instead of raising.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import secrets
import string

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

__all__ = [
    "decrypt",
    "encrypt",
    "hash_password",
    "hmac_sha256",
    "hmac_verify",
    "random_string",
    "sha256",
    "verify_password",
]

# scrypt cost for new hashes (about 16 MiB and a few tens of milliseconds per hash).
_SCRYPT_N = 2**14
_SCRYPT_R = 8
_SCRYPT_P = 1
_SCRYPT_SALT_BYTES = 16
_SCRYPT_DKLEN = 32
# Upper bounds accepted when verifying, so a forged hash string cannot ask for unbounded work or memory.
_SCRYPT_MAX_N = 2**20
_SCRYPT_MAX_R = 32
_SCRYPT_MAX_P = 16
_SCRYPT_MAX_MEM = 1024 * 1024 * 1024

# Encrypted package: base64url(version | salt | nonce | ciphertext+tag), without padding.
_PKG_VERSION = b"\x01"
_PKG_SALT_BYTES = 16
_PKG_NONCE_BYTES = 12
_PKG_TAG_BYTES = 16
_HKDF_INFO = b"gingee.crypto.encrypt.v1"


def _to_bytes(value: str | bytes, what: str) -> bytes:
    if isinstance(value, bytes):
        return value
    if isinstance(value, str):
        return value.encode("utf-8")
    raise TypeError(f"{what} must be str or bytes, not {type(value).__name__}")


def _b64e(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def _b64d(text: str) -> bytes:
    if not text.isascii():
        raise ValueError("not base64")
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def _scrypt(password: bytes, salt: bytes, n: int, r: int, p: int, dklen: int) -> bytes:
    maxmem = min(_SCRYPT_MAX_MEM, 128 * r * (n + p + 2) + 1024 * 1024)
    return hashlib.scrypt(password, salt=salt, n=n, r=r, p=p, maxmem=maxmem, dklen=dklen)


def hash_password(password: str | bytes) -> str:
    """Hash a password with scrypt and a random salt, as `scrypt$n$r$p$salt$hash` (base64url parts)."""
    salt = secrets.token_bytes(_SCRYPT_SALT_BYTES)
    digest = _scrypt(_to_bytes(password, "password"), salt, _SCRYPT_N, _SCRYPT_R, _SCRYPT_P, _SCRYPT_DKLEN)
    return f"scrypt${_SCRYPT_N}${_SCRYPT_R}${_SCRYPT_P}${_b64e(salt)}${_b64e(digest)}"


def verify_password(password: str | bytes, hashed: str) -> bool:
    """True if `password` matches a `hash_password` string; False for a wrong password or a malformed hash."""
    try:
        scheme, n_s, r_s, p_s, salt_s, digest_s = hashed.split("$")
        if scheme != "scrypt" or not (n_s.isdigit() and r_s.isdigit() and p_s.isdigit()):
            return False
        n, r, p = int(n_s), int(r_s), int(p_s)
        if not 2 <= n <= _SCRYPT_MAX_N or n & (n - 1):
            return False
        if not (1 <= r <= _SCRYPT_MAX_R and 1 <= p <= _SCRYPT_MAX_P):
            return False
        salt, expected = _b64d(salt_s), _b64d(digest_s)
        if not salt or not 16 <= len(expected) <= 64:
            return False
        actual = _scrypt(_to_bytes(password, "password"), salt, n, r, p, len(expected))
    except (AttributeError, TypeError, ValueError, binascii.Error, MemoryError):
        return False
    return hmac.compare_digest(actual, expected)


def hmac_sha256(message: str | bytes, secret: str | bytes) -> str:
    """The HMAC-SHA256 of `message` under `secret`, as lowercase hex."""
    return hmac.new(_to_bytes(secret, "secret"), _to_bytes(message, "message"), hashlib.sha256).hexdigest()


def hmac_verify(message: str | bytes, signature: str, secret: str | bytes) -> bool:
    """True if `signature` (hex) is the HMAC-SHA256 of `message` under `secret`; compared in constant time."""
    if not isinstance(signature, str) or not signature.isascii():
        return False
    expected = hmac_sha256(message, secret)
    return hmac.compare_digest(expected.encode("ascii"), signature.strip().lower().encode("ascii"))


def _derive_key(secret: bytes, salt: bytes) -> bytes:
    return HKDF(algorithm=hashes.SHA256(), length=32, salt=salt, info=_HKDF_INFO).derive(secret)


def encrypt(text: str, secret: str | bytes) -> str:
    """Encrypt `text` with AES-256-GCM under a key derived from `secret`; returns a base64url package."""
    key_material = _to_bytes(secret, "secret")
    if not key_material:
        raise ValueError("encrypt: the secret must not be empty")
    salt = secrets.token_bytes(_PKG_SALT_BYTES)
    nonce = secrets.token_bytes(_PKG_NONCE_BYTES)
    header = _PKG_VERSION + salt + nonce
    sealed = AESGCM(_derive_key(key_material, salt)).encrypt(nonce, _to_bytes(text, "text"), header)
    return _b64e(header + sealed)


def decrypt(package: str, secret: str | bytes) -> str | None:
    """The text sealed by `encrypt`; None if the package was altered or malformed, or the secret is wrong."""
    try:
        raw = _b64d(package)
        key_material = _to_bytes(secret, "secret")
        header_len = 1 + _PKG_SALT_BYTES + _PKG_NONCE_BYTES
        if not key_material or len(raw) < header_len + _PKG_TAG_BYTES or raw[:1] != _PKG_VERSION:
            return None
        salt = raw[1 : 1 + _PKG_SALT_BYTES]
        nonce = raw[1 + _PKG_SALT_BYTES : header_len]
        plain = AESGCM(_derive_key(key_material, salt)).decrypt(nonce, raw[header_len:], raw[:header_len])
        return plain.decode("utf-8")
    except (InvalidTag, AttributeError, TypeError, ValueError, binascii.Error):
        return None


def random_string(length: int = 32, letters_only: bool = False) -> str:
    """A cryptographically random string of ASCII letters (and digits unless `letters_only`)."""
    if length < 0:
        raise ValueError("random_string: length must be >= 0")
    alphabet = string.ascii_letters if letters_only else string.ascii_letters + string.digits
    return "".join(secrets.choice(alphabet) for _ in range(length))


def sha256(data: str | bytes) -> str:
    """The SHA-256 digest of `data` (text is UTF-8 encoded), as lowercase hex."""
    return hashlib.sha256(_to_bytes(data, "data")).hexdigest()
