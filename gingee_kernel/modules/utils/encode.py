"""Gingee `utils.encode`: text encodings of bytes and escapes of text, strict both ways. Ungated.

    from gingee_kernel import utils
    encode = utils.encode

    token = encode.base64url(os.urandom(16))            # 'q0Z1...' (no padding)
    raw = encode.base64url_decode(token)                # bytes again; padding optional
    encode.hex(b"\\x00\\xff")                              # '00ff'
    encode.base58(b"hello world")                       # 'StV1DL6CwTryKyV' (Bitcoin alphabet)
    encode.uri("a b&c/é")                               # 'a%20b%26c%2F%C3%A9' (encodeURIComponent)
    encode.html('<a href="x">')                         # '&lt;a href=&quot;x&quot;&gt;'

Encoders take bytes or str (a str is encoded as UTF-8) and return str. The decoders of byte encodings
(base64, base64url, hex, base58) return bytes, or str with `text=True` (decoded as UTF-8, strictly);
the text escapes (uri, html) decode to str.

Decoders are strict where Node's Buffer is lenient: a character outside the alphabet, an odd-length hex
string, a malformed `%` escape or bytes that are not UTF-8 raise EncodingError (a ValueError; uncaught
in a script, a 422 answer) saying what and where, instead of silently dropping the bad part. ASCII
whitespace (line breaks of wrapped base64) is the one thing ignored, and only by the base64 decoders.
"""

from __future__ import annotations

import base64 as _b64
import html as _html
import re
from typing import Literal, overload
from urllib.parse import quote, unquote_to_bytes

from ..content.errors import ContentError, ContentTooLarge

__all__ = [
    "MAX_BASE58_SIZE",
    "EncodingError",
    "base58",
    "base58_decode",
    "base64",
    "base64_decode",
    "base64url",
    "base64url_decode",
    "hex",
    "hex_decode",
    "html",
    "html_decode",
    "uri",
    "uri_decode",
]

#: base58 is for short values (keys, hashes, ids): its conversion is quadratic, so a longer input
#: (bytes to encode, characters to decode) is refused with ContentTooLarge (413).
MAX_BASE58_SIZE = 8 * 1024

_BASE58 = "123456789ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz"
_BASE58_INDEX = {char: value for value, char in enumerate(_BASE58)}
_BASE58_CHUNK = 10  # 58**10 < 2**63: ten digits per big-int division
_WHITESPACE = re.compile(r"[ \t\r\n\f\v]+")
_NOT_BASE64 = re.compile(r"[^A-Za-z0-9+/= \t\r\n\f\v]")
_NOT_BASE64URL = re.compile(r"[^A-Za-z0-9_= \t\r\n\f\v-]")
_NOT_HEX = re.compile(r"[^0-9A-Fa-f]")
_BAD_PERCENT = re.compile(r"%(?![0-9A-Fa-f]{2})")
_URI_SAFE = "!'()*"  # with quote()'s letters, digits and "_.-~": encodeURIComponent's unreserved set


class EncodingError(ContentError):
    """Input a decoder cannot read (a character outside the alphabet, odd-length hex, a broken %
    escape, bytes that are not UTF-8), or text an encoder cannot encode (a lone surrogate). A
    ValueError and a GingeeError; uncaught in a script, the request ends with 422 INVALID_ENCODING."""

    def __init__(self, reason: str) -> None:
        super().__init__("utils", "INVALID_ENCODING", reason)


def _to_bytes(data: bytes | bytearray | memoryview | str, what: str) -> bytes:
    if isinstance(data, str):
        try:
            return data.encode("utf-8")
        except UnicodeEncodeError as exc:
            raise EncodingError(f"{what}: the text has a lone surrogate at index {exc.start}") from None
    if isinstance(data, bytes | bytearray | memoryview):
        return bytes(data)
    raise TypeError(f"{what}: expected bytes or str, not {type(data).__name__}")


def _to_text(data: str | bytes, what: str) -> str:
    """An encoded value as str: bytes must be ASCII (encodings are ASCII)."""
    if isinstance(data, str):
        return data
    if isinstance(data, bytes | bytearray | memoryview):
        try:
            return bytes(data).decode("ascii")
        except UnicodeDecodeError as exc:
            raise EncodingError(f"{what}: byte {exc.start} is not ASCII") from None
    raise TypeError(f"{what}: expected str or bytes, not {type(data).__name__}")


def _result(raw: bytes, text: bool, what: str) -> bytes | str:
    if not text:
        return raw
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise EncodingError(
            f"{what}: the decoded bytes are not UTF-8 text (byte {exc.start}); use text=False for bytes"
        ) from None


def _refuse(what: str, match: re.Match[str], hint: str = "") -> EncodingError:
    return EncodingError(f"{what}: {match.group()!r} at index {match.start()} is not allowed{hint}")


def _unpadded(what: str, value: str) -> str:
    """`value` without whitespace and with its padding checked and removed."""
    value = _WHITESPACE.sub("", value)
    body = value.rstrip("=")
    if "=" in body or len(value) - len(body) > 2:
        raise EncodingError(f"{what}: '=' padding may only end the text, at most twice")
    if len(body) % 4 == 1:
        raise EncodingError(f"{what}: {len(body)} characters cannot be base64 (one too many, or cut short)")
    return body


def base64(data: bytes | str) -> str:
    """`data` in standard base64 (RFC 4648 section 4: `+/`, with `=` padding)."""
    return _b64.b64encode(_to_bytes(data, "base64")).decode("ascii")


@overload
def base64_decode(data: str | bytes, *, text: Literal[False] = False) -> bytes: ...
@overload
def base64_decode(data: str | bytes, *, text: Literal[True]) -> str: ...
def base64_decode(data: str | bytes, *, text: bool = False) -> bytes | str:
    """The bytes of standard base64 (padding optional, whitespace ignored); EncodingError for any
    other character, including the URL-safe `-_` (use base64url_decode for those)."""
    value = _to_text(data, "base64_decode")
    bad = _NOT_BASE64.search(value)
    if bad:
        hint = ": that is base64url, use base64url_decode" if bad.group() in "-_" else ""
        raise _refuse("base64_decode", bad, hint)
    body = _unpadded("base64_decode", value)
    raw = _b64.b64decode(body + "=" * (-len(body) % 4), validate=True)
    return _result(raw, text, "base64_decode")


def base64url(data: bytes | str) -> str:
    """`data` in URL- and filename-safe base64 (RFC 4648 section 5: `-_`), without padding."""
    return _b64.urlsafe_b64encode(_to_bytes(data, "base64url")).decode("ascii").rstrip("=")


@overload
def base64url_decode(data: str | bytes, *, text: Literal[False] = False) -> bytes: ...
@overload
def base64url_decode(data: str | bytes, *, text: Literal[True]) -> str: ...
def base64url_decode(data: str | bytes, *, text: bool = False) -> bytes | str:
    """The bytes of URL-safe base64, with or without padding (whitespace ignored); EncodingError for
    any other character, including the standard `+/`."""
    value = _to_text(data, "base64url_decode")
    bad = _NOT_BASE64URL.search(value)
    if bad:
        hint = ": that is standard base64, use base64_decode" if bad.group() in "+/" else ""
        raise _refuse("base64url_decode", bad, hint)
    body = _unpadded("base64url_decode", value)
    standard = body.replace("-", "+").replace("_", "/")
    raw = _b64.b64decode(standard + "=" * (-len(body) % 4), validate=True)
    return _result(raw, text, "base64url_decode")


def hex(data: bytes | str) -> str:
    """`data` as lowercase hexadecimal, two digits a byte."""
    return _to_bytes(data, "hex").hex()


@overload
def hex_decode(data: str | bytes, *, text: Literal[False] = False) -> bytes: ...
@overload
def hex_decode(data: str | bytes, *, text: Literal[True]) -> str: ...
def hex_decode(data: str | bytes, *, text: bool = False) -> bytes | str:
    """The bytes of a hexadecimal string (either case, no separators); EncodingError for an odd
    length or any other character."""
    value = _to_text(data, "hex_decode")
    bad = _NOT_HEX.search(value)
    if bad:
        raise _refuse("hex_decode", bad)
    if len(value) % 2:
        raise EncodingError(f"hex_decode: {len(value)} digits is an odd number; each byte is two digits")
    return _result(bytes.fromhex(value), text, "hex_decode")


def base58(data: bytes | str) -> str:
    """`data` in base58 with the Bitcoin alphabet (no 0, O, I, l); each leading zero byte is a '1'.
    ContentTooLarge past MAX_BASE58_SIZE bytes."""
    raw = _to_bytes(data, "base58")
    if len(raw) > MAX_BASE58_SIZE:
        raise ContentTooLarge(
            "utils", "INPUT_TOO_LARGE", f"base58 is for short values: at most {MAX_BASE58_SIZE} bytes"
        )
    zeros = len(raw) - len(raw.lstrip(b"\0"))
    number = int.from_bytes(raw, "big")
    digits: list[str] = []
    while number:
        number, chunk = divmod(number, 58**_BASE58_CHUNK)
        for _ in range(_BASE58_CHUNK):
            chunk, digit = divmod(chunk, 58)
            digits.append(_BASE58[digit])
    return "1" * zeros + "".join(reversed(digits)).lstrip("1")


@overload
def base58_decode(data: str | bytes, *, text: Literal[False] = False) -> bytes: ...
@overload
def base58_decode(data: str | bytes, *, text: Literal[True]) -> str: ...
def base58_decode(data: str | bytes, *, text: bool = False) -> bytes | str:
    """The bytes of a Bitcoin-alphabet base58 string (each leading '1' is a zero byte); EncodingError
    for a character outside the alphabet (0, O, I, l, '+', whitespace...)."""
    value = _to_text(data, "base58_decode")
    if len(value) > MAX_BASE58_SIZE * 2:
        raise ContentTooLarge(
            "utils",
            "INPUT_TOO_LARGE",
            f"base58_decode is for short values: at most {MAX_BASE58_SIZE * 2} chars",
        )
    for index, char in enumerate(value):
        if char not in _BASE58_INDEX:
            raise EncodingError(f"base58_decode: {char!r} at index {index} is not in the base58 alphabet")
    zeros = len(value) - len(value.lstrip("1"))
    number = 0
    for start in range(0, len(value), _BASE58_CHUNK):
        chunk = value[start : start + _BASE58_CHUNK]
        part = 0
        for char in chunk:
            part = part * 58 + _BASE58_INDEX[char]
        number = number * 58 ** len(chunk) + part
    body = number.to_bytes((number.bit_length() + 7) // 8, "big")
    return _result(b"\0" * zeros + body, text, "base58_decode")


def uri(data: str | bytes) -> str:
    """`data` percent-encoded like JavaScript's encodeURIComponent: everything but letters, digits and
    `-_.!~*'()` becomes `%XX` of its UTF-8 bytes (so '/', '?', '&', '=' and '+' are encoded too)."""
    return quote(_to_bytes(data, "uri"), safe=_URI_SAFE)


def uri_decode(data: str | bytes) -> str:
    """The text of a percent-encoded string, like decodeURIComponent ('+' stays '+'); EncodingError for
    a `%` not followed by two hex digits or escapes that are not UTF-8."""
    value = _to_text(data, "uri_decode")
    bad = _BAD_PERCENT.search(value)
    if bad:
        raise EncodingError(f"uri_decode: the '%' at index {bad.start()} is not followed by two hex digits")
    try:
        return unquote_to_bytes(value).decode("utf-8")
    except UnicodeDecodeError as exc:
        raise EncodingError(f"uri_decode: the escapes do not decode as UTF-8 (byte {exc.start})") from None


def html(text: str) -> str:
    """`text` with `& < > " '` replaced by entities, safe inside HTML text and quoted attributes."""
    if not isinstance(text, str):
        raise TypeError(f"html: expected str, not {type(text).__name__}")
    return _html.escape(text, quote=True)


def html_decode(text: str) -> str:
    """`text` with every HTML5 named entity and numeric character reference decoded (html.unescape);
    a reference to an invalid code point becomes U+FFFD, as in a browser."""
    if not isinstance(text, str):
        raise TypeError(f"html_decode: expected str, not {type(text).__name__}")
    return _html.unescape(text)
