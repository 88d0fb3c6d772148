"""Cursors: an opaque token for the next page of the same query. It holds the offset and a digest of the
query, filters and limit, so a cursor given to another query is refused (InvalidQuery), not misread.
Pages end at MAX_OFFSET results (Elasticsearch's default window), the same on every driver."""

from __future__ import annotations

import base64
import hashlib
import json
from typing import Any

from .errors import InvalidQuery

MAX_OFFSET = 10_000


def digest(*parts: Any) -> str:
    text = json.dumps(parts, sort_keys=True, default=str, ensure_ascii=False)
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def encode(offset: int, query_digest: str) -> str | None:
    if offset >= MAX_OFFSET:
        return None
    raw = json.dumps({"o": offset, "q": query_digest}, separators=(",", ":")).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode(cursor: object, query_digest: str, *, index: str) -> int:
    """The offset in `cursor` (None: 0)."""
    if cursor is None:
        return 0
    try:
        if not isinstance(cursor, str):
            raise TypeError
        data = json.loads(base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)))
        offset, owner = data["o"], data["q"]
        if not isinstance(offset, int) or isinstance(offset, bool) or not 0 <= offset < MAX_OFFSET:
            raise ValueError
    except (TypeError, ValueError, KeyError, json.JSONDecodeError, UnicodeDecodeError):
        raise InvalidQuery(
            f"search: index {index!r}: the cursor {str(cursor)[:40]!r} is not one query() returned",
            index=index,
        ) from None
    if owner != query_digest:
        raise InvalidQuery(
            f"search: index {index!r}: this cursor belongs to another query; pass the same q, filters and "
            "limit as the call that returned it",
            index=index,
        )
    return offset
