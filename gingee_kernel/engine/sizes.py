"""Parse sizes such as "10mb", "512KiB" or 1048576 into bytes (decimal kb/mb/gb, binary KiB/MiB/GiB)."""

from __future__ import annotations

import re

_SIZE = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([kmg]i?b?|b)?\s*$", re.IGNORECASE)
_UNITS = {
    "": 1,
    "b": 1,
    "k": 10**3,
    "kb": 10**3,
    "m": 10**6,
    "mb": 10**6,
    "g": 10**9,
    "gb": 10**9,
    "ki": 2**10,
    "kib": 2**10,
    "mi": 2**20,
    "mib": 2**20,
    "gi": 2**30,
    "gib": 2**30,
}


def parse_size(value: int | str) -> int:
    """Bytes for an int or a size string; raises ValueError for anything else."""
    if isinstance(value, int):
        return value
    match = _SIZE.match(value)
    if not match:
        raise ValueError(f"not a size: {value!r} (expected e.g. 10mb, 512KiB or a number of bytes)")
    number, unit = match.groups()
    return int(float(number) * _UNITS[(unit or "").lower()])
