"""Documents as every driver receives them: checked all at once before anything is written, so a bad doc
fails the whole batch and the error names it (its place, its id, the key at fault).

A document is a dict with an `id` (a non-empty str of at most 512 characters, or an int, kept as its
decimal string) and only the keys the index declares: its `fields` (text: str or None), its `filters`
(str, int, float, bool or None) and its `stored` keys (any JSON value). Everything must be JSON.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from typing import Any

from .base import Doc, IndexSpec
from .errors import InvalidDocument
from .text import segment

MAX_ID_CHARS = 512
MAX_DOC_BYTES = 1024 * 1024
MAX_BATCH = 100_000


def check_docs(spec: IndexSpec, docs: object) -> list[Doc]:
    """The checked docs of one `index()` call, last one winning for a repeated id."""
    if isinstance(docs, Mapping):
        docs = [docs]
    if isinstance(docs, (str, bytes)) or not isinstance(docs, Iterable):
        raise InvalidDocument(
            spec.name, 0, None, None, f"docs must be a list of dicts, not {type(docs).__name__}"
        )
    checked: dict[str, Doc] = {}
    for position, doc in enumerate(docs):
        if position >= MAX_BATCH:
            raise InvalidDocument(spec.name, position, None, None, f"a batch holds at most {MAX_BATCH} docs")
        one = check_doc(spec, position, doc)
        checked.pop(one.id, None)
        checked[one.id] = one
    return list(checked.values())


def check_id(index: str, position: int, value: object) -> str:
    """An id as stored: a str as is, an int as its decimal string."""
    if isinstance(value, bool) or not isinstance(value, (str, int)):
        raise InvalidDocument(
            index, position, None, "id", f"an id is a str or an int, not {type(value).__name__}"
        )
    text = str(value)
    if not text or len(text) > MAX_ID_CHARS:
        raise InvalidDocument(index, position, value, "id", f"an id is 1 to {MAX_ID_CHARS} characters")
    return text


def check_doc(spec: IndexSpec, position: int, doc: object) -> Doc:
    if not isinstance(doc, Mapping):
        raise InvalidDocument(spec.name, position, None, None, f"a doc is a dict, not {type(doc).__name__}")
    if "id" not in doc:
        raise InvalidDocument(spec.name, position, None, "id", 'every doc needs an "id"')
    doc_id = check_id(spec.name, position, doc["id"])
    source: dict[str, Any] = {}
    text: dict[str, str] = {}
    filters: dict[str, Any] = {}
    for key, value in doc.items():
        if key == "id":
            continue
        if not isinstance(key, str) or key not in spec.keys:
            declared = ", ".join(sorted(spec.keys))
            raise InvalidDocument(
                spec.name, position, doc_id, str(key),
                f"not declared; index {spec.name!r} takes id and {declared} (app.json search[] fields, "
                "filters and stored)",
            )  # fmt: skip
        if key in spec.fields:
            if value is not None and not isinstance(value, str):
                raise InvalidDocument(
                    spec.name,
                    position,
                    doc_id,
                    key,
                    f"a searched field is text (str), not {type(value).__name__}",
                )
            text[key] = segment(value or "")
        if key in spec.filters:
            if value is not None and not isinstance(value, (str, int, float, bool)):
                raise InvalidDocument(
                    spec.name, position, doc_id, key,
                    f"a filter field is a str, number or bool, not {type(value).__name__}",
                )  # fmt: skip
            filters[key] = value
        source[key] = value
    encoded = _encoded(spec.name, position, doc_id, source)
    size = len(encoded.encode())
    if size > MAX_DOC_BYTES:
        raise InvalidDocument(
            spec.name, position, doc_id, None, f"the doc is {size} bytes; at most {MAX_DOC_BYTES}"
        )
    return Doc(doc_id, source, text, filters, encoded)


def _encoded(index: str, position: int, doc_id: str, source: dict[str, Any]) -> str:
    """`source` as the compact JSON kept; a value that is not JSON (a set, NaN, a circular list) raises
    InvalidDocument naming its key. One encoding per doc: the key is looked for only when it fails."""
    try:
        return json.dumps(source, ensure_ascii=False, separators=(",", ":"), allow_nan=False)
    except (TypeError, ValueError, RecursionError):
        pass
    for key, value in source.items():
        try:
            json.dumps(value, allow_nan=False)
        except (TypeError, ValueError, RecursionError) as exc:
            raise InvalidDocument(index, position, doc_id, key, f"the value is not JSON ({exc})") from None
    raise InvalidDocument(index, position, doc_id, None, "the doc is not JSON")  # pragma: no cover


def check_ids(index: str, ids: object) -> list[str]:
    """The ids of one `delete()` call."""
    if isinstance(ids, (str, int)) and not isinstance(ids, bool):
        ids = [ids]
    if not isinstance(ids, Iterable):
        raise InvalidDocument(index, 0, None, "id", f"ids must be a list, not {type(ids).__name__}")
    return list(dict.fromkeys(check_id(index, position, value) for position, value in enumerate(ids)))
