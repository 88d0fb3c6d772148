"""Object keys: one set of rules, checked before any driver sees a key, so both drivers accept the same.

A key is 1 to 1024 bytes of UTF-8, segments joined by `/`. Refused: an empty segment (a leading, trailing
or doubled `/`), a `.` or `..` segment, a segment over 255 bytes (a file name's limit), a backslash, NUL or
any other control character. Case matters.
A prefix (for `list`) follows the same rules but may be empty or end with `/`.
"""

from __future__ import annotations

import re

from .errors import InvalidKey

MAX_KEY_BYTES = 1024
MAX_SEGMENT_BYTES = 255
_CONTROL = re.compile(r"[\x00-\x1f\x7f\\]")


def check_key(key: object) -> str:
    """`key` if it follows the key rules; InvalidKey saying which rule it breaks otherwise."""
    if not isinstance(key, str):
        raise InvalidKey(key, f"a key is a str, not {type(key).__name__}")
    if not key:
        raise InvalidKey(key, "a key cannot be empty")
    _check_text(key)
    for segment in key.split("/"):
        _check_segment(key, segment)
    return key


def check_prefix(prefix: object) -> str:
    """A `list` prefix: '' or the start of a key (it may end with '/'), by the same rules."""
    if not isinstance(prefix, str):
        raise InvalidKey(prefix, f"a prefix is a str, not {type(prefix).__name__}")
    if not prefix:
        return prefix
    _check_text(prefix)
    segments = prefix.split("/")
    if segments[-1] == "":
        segments.pop()  # "photos/" lists the folder
    for segment in segments:
        _check_segment(prefix, segment)
    return prefix


def _check_text(key: str) -> None:
    try:
        size = len(key.encode("utf-8"))
    except UnicodeEncodeError:
        raise InvalidKey(key, "a key must be valid UTF-8 (it holds a lone surrogate)") from None
    if size > MAX_KEY_BYTES:
        raise InvalidKey(key[:40] + "...", f"a key is at most {MAX_KEY_BYTES} bytes of UTF-8, this is {size}")
    bad = _CONTROL.search(key)
    if bad is not None:
        what = "a backslash" if bad.group() == "\\" else f"the control character {bad.group()!r}"
        raise InvalidKey(key, f"{what} is not allowed in a key; use '/' to separate folders")


def _check_segment(key: str, segment: str) -> None:
    if segment == "":
        raise InvalidKey(key, "a key cannot start or end with '/' nor hold '//' (an empty segment)")
    if segment in (".", ".."):
        raise InvalidKey(key, f"a {segment!r} segment is not allowed; keys never point at other folders")
    size = len(segment.encode("utf-8"))
    if size > MAX_SEGMENT_BYTES:
        raise InvalidKey(
            key[:40] + "...",
            f"a segment (between '/') is at most {MAX_SEGMENT_BYTES} bytes of UTF-8, one is {size}",
        )
