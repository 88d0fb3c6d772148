"""The search module's errors, in Gingee's tree. Each names the index and says what to do next.

GingeeError
└── SearchError                a search call failed; on sqlite/postgres a failed index() changed nothing
    ├── InvalidDocument        a doc is not indexable (no id, an undeclared key, a non-JSON value); ValueError
    ├── InvalidQuery           a query argument is wrong (too long, a filter on an undeclared field, a bad
    │                          cursor); ValueError too. Malformed query *text* never raises (query.py).
    ├── IndexRefused           the engine refused a batch (per-item errors); `failures` says which docs
    └── SearchUnavailable      the engine is unreachable or overloaded (429, 5xx); ServiceUnavailable

`retryable` tells the queue (search.index_later) what a retry can fix: a bad doc or a refused batch goes
to the dead-letter queue at once; an engine that is down is tried again.
"""

from __future__ import annotations

from typing import Any

from ...errors import GingeeError, ServiceUnavailable


class SearchError(GingeeError):
    """A search call failed. `index` names the index. On sqlite and postgres a failed `index()` or
    `delete()` changed nothing; an Elasticsearch/OpenSearch bulk cannot roll back (IndexRefused says so)."""

    def __init__(self, message: str, *, index: str = "") -> None:
        self.index = index
        super().__init__(message)


class InvalidDocument(SearchError, ValueError):
    """A document cannot be indexed; `position` is its place in the batch, `doc_id` its id (if any) and
    `field` the key at fault. Nothing of the batch was indexed."""

    retryable = False

    def __init__(self, index: str, position: int, doc_id: Any, field: str | None, problem: str) -> None:
        self.position, self.doc_id, self.field = position, doc_id, field
        which = f"doc #{position}" + (f" (id {doc_id!r})" if doc_id is not None else "")
        where = f", field {field!r}" if field else ""
        super().__init__(
            f"search: index {index!r}: {which}{where}: {problem}; nothing of this batch was indexed",
            index=index,
        )


class InvalidQuery(SearchError, ValueError):
    """A query argument is wrong: too long, a filter on an undeclared field, a bad cursor or limit."""

    retryable = False


class IndexRefused(SearchError):
    """The engine refused some docs of a batch. `failures` lists `{"id", "status", "reason"}`."""

    retryable = False

    def __init__(self, message: str, *, index: str, failures: list[dict[str, Any]]) -> None:
        self.failures = failures
        super().__init__(message, index=index)


class SearchUnavailable(SearchError, ServiceUnavailable):
    """The engine could not be reached, refused the credentials, or is overloaded (429, 5xx); try later.
    On Elasticsearch/OpenSearch, chunks of a large batch sent before the failure stay written."""
