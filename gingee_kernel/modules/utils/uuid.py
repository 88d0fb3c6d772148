"""Gingee `utils.uuid`: random and time-ordered UUIDs as strings, and a validator. Ungated.

    from gingee_kernel import utils

    utils.uuid.v4()                       # '9b2f0c7e-...'  random (RFC 9562 version 4)
    key = utils.uuid.v7()                 # '0190f3a1-...'  unix-millisecond time first, then random
    utils.uuid.validate(key)              # True
    utils.uuid.validate(key, version=4)   # False: it is a version 7

v7 ids sort (as strings or bytes) in the order they were made, which keeps database index inserts local.
Within one process they are strictly increasing, even several in the same millisecond or when the clock
steps back: RFC 9562 method 1, a 42-bit counter seeded at random each new millisecond, then 32 random
bits (CPython 3.14's uuid7 does the same). They reveal when they were made, to the millisecond: use v4
where that matters.
"""

from __future__ import annotations

import os
import re
import threading
import time
import uuid as _uuid

__all__ = ["v4", "v7", "validate"]

_CANONICAL = re.compile(r"[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}")
_NIL = "00000000-0000-0000-0000-000000000000"
_MAX = "ffffffff-ffff-ffff-ffff-ffffffffffff"
_COUNTER_MAX = (1 << 42) - 1
_VERSION_7 = (0x7 << 76) | (0b10 << 62)

_lock = threading.Lock()
_last_ms = -1
_last_counter = 0


def v4() -> str:
    """A random UUID (version 4, 122 random bits), lowercase and hyphenated."""
    return str(_uuid.uuid4())


def _seed() -> int:
    """A fresh 42-bit counter whose top bit is clear, leaving room to count up within a millisecond."""
    return int.from_bytes(os.urandom(6), "big") & (_COUNTER_MAX >> 1)


def v7() -> str:
    """A time-ordered UUID (version 7): 48 bits of Unix time in milliseconds, a 42-bit counter and 32
    random bits. Strictly increasing within the process."""
    global _last_ms, _last_counter
    with _lock:
        now = time.time_ns() // 1_000_000
        if now > _last_ms:
            counter = _seed()
        else:  # same millisecond, or the clock stepped back: keep counting from the last id
            now = _last_ms
            counter = _last_counter + 1
            if counter > _COUNTER_MAX:
                now += 1
                counter = _seed()
        _last_ms, _last_counter = now, counter
    tail = int.from_bytes(os.urandom(4), "big")
    value = (now & 0xFFFF_FFFF_FFFF) << 80 | (counter >> 30) << 64 | (counter & 0x3FFF_FFFF) << 32 | tail
    return str(_uuid.UUID(int=value | _VERSION_7))


def validate(text: object, version: int | None = None) -> bool:
    """True if `text` is a UUID in the canonical 8-4-4-4-12 hyphenated form (either case) with a
    version from 1 to 8 and the RFC variant, or the nil or max UUID (as Node's uuid.validate). With
    `version`, it must also be that version (the nil and max UUIDs then never match). Braces, URNs,
    missing hyphens and surrounding whitespace are False."""
    if not isinstance(text, str) or not _CANONICAL.fullmatch(text):
        return False
    lower = text.lower()
    special = lower in (_NIL, _MAX)
    if version is None and special:
        return True
    found = int(lower[14], 16)
    variant_ok = lower[19] in "89ab"
    if version is None:
        return 1 <= found <= 8 and variant_ok
    return not special and found == version and variant_ok
