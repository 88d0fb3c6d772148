"""The JSON of script replies (`g.response.send(dict)`, a returned value, `write_sse`): orjson where it is
installed (the `gingee[fast]` and `gingee[redis]` extras), else the standard library; compact either way,
like JavaScript's JSON.stringify in the Node original.

Values orjson does not encode itself go through `str`, as `json.dumps(value, default=str)` would have it:
datetimes and dataclasses included (orjson would write them its own way). What orjson refuses (integers
beyond 64 bits, lone surrogates, circular references, keys that are not str, int, float, bool or None) is
encoded by the standard library instead, so it either succeeds or raises the standard library's familiar
error (`ValueError: Circular reference detected`, `TypeError: keys must be str, ...`).
"""

from __future__ import annotations

import json
from typing import Any

#: The standard library's encoder: compact, non-ASCII escaped (so any str, lone surrogates too, encodes).
_STDLIB = json.JSONEncoder(default=str, separators=(",", ":"))

try:
    import orjson
except ImportError:  # pragma: no cover - orjson comes with the test extras
    orjson = None  # type: ignore[assignment]


def _stdlib_bytes(value: Any) -> bytes:
    return _STDLIB.encode(value).encode("ascii")


if orjson is not None:
    _OPTIONS = orjson.OPT_NON_STR_KEYS | orjson.OPT_PASSTHROUGH_DATETIME | orjson.OPT_PASSTHROUGH_DATACLASS
    _dumps = orjson.dumps
    _Refused = orjson.JSONEncodeError

    def json_bytes(value: Any) -> bytes:
        """`value` as UTF-8 JSON."""
        try:
            return _dumps(value, default=str, option=_OPTIONS)
        except _Refused:
            return _stdlib_bytes(value)

else:
    json_bytes = _stdlib_bytes


def json_text(value: Any) -> str:
    """`value` as JSON text."""
    return json_bytes(value).decode("utf-8")
