"""What every search driver implements, the index it is given, and the values a query returns.

A driver gets checked input only: documents validated and flattened by documents.py, queries parsed by
query.py (a tree, never the user's text), filters checked against the declared ones, an offset decoded
from the cursor. What it returns is made safe for a page by highlight.py.
"""

from __future__ import annotations

import html
from abc import ABC, abstractmethod
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from .query import Query

Scalar = str | int | float | bool


@dataclass(frozen=True)
class IndexSpec:
    """One declared index of one app: its searched fields and their weights, the fields it can filter on,
    and the extra keys it keeps with each doc (returned with hits, never searched)."""

    app: str
    name: str
    fields: dict[str, float]
    filters: tuple[str, ...] = ()
    stored: tuple[str, ...] = ()

    @property
    def keys(self) -> frozenset[str]:
        """Every key a document may hold besides `id`."""
        return frozenset(self.fields) | frozenset(self.filters) | frozenset(self.stored)


@dataclass(frozen=True)
class Doc:
    """A checked document: its id, the JSON text of what is kept, the segmented text of each field and the
    values of its filter fields."""

    id: str
    source: dict[str, Any]
    text: dict[str, str]
    filters: dict[str, Scalar | None]
    encoded: str = ""  # `source` as compact JSON, when the checks already wrote it


@dataclass(frozen=True)
class Search:
    """One checked query: the tree, filters (field -> allowed values), the page and whether to highlight."""

    query: Query
    filters: dict[str, tuple[Scalar, ...]]
    limit: int
    offset: int
    highlight: bool


@dataclass(frozen=True)
class Hit:
    """One ranked document: `fields` is what was indexed (without `id`), `highlights` the fields that
    matched, as HTML-safe snippets with the matches in <mark>."""

    id: str
    score: float
    fields: dict[str, Any]
    highlights: dict[str, str] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return {"id": self.id, "score": self.score, "fields": self.fields, "highlights": self.highlights}


@dataclass(frozen=True)
class Results:
    """A page of hits, best first. `total` counts every match (`total_exact` False: at least that many,
    where an engine does not count further); `cursor` fetches the next page (None on the last)."""

    hits: list[Hit]
    total: int
    total_exact: bool = True
    cursor: str | None = None

    def __iter__(self) -> Any:
        return iter(self.hits)

    def __len__(self) -> int:
        return len(self.hits)

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready dict (what a route can return as is)."""
        return {
            "hits": [h.to_dict() for h in self.hits],
            "total": self.total,
            "total_exact": self.total_exact,
            "cursor": self.cursor,
        }

    def _repr_html_(self) -> str:
        """In a notebook: the hits as a table, matches marked (the snippets are already safe HTML)."""
        count = f"{self.total}{'' if self.total_exact else '+'} found"
        rows = "".join(
            f"<tr><td>{html.escape(h.id)}</td><td>{h.score:.3g}</td><td>"
            + "<br>".join(
                h.highlights.get(k) or html.escape(v[:200])
                for k, v in h.fields.items()
                if isinstance(v, str) and v
            )
            + "</td></tr>"
            for h in self.hits
        )
        more = "; more with cursor=results.cursor" if self.cursor else ""
        return f"<p>{count}{more}</p><table><tr><th>id</th><th>score</th><th>fields</th></tr>{rows}</table>"


@dataclass
class Page:
    """What a driver answers for one query: hits with raw highlights (markers, see text.py)."""

    hits: list[Hit]
    total: int
    total_exact: bool = True


class SearchDriver(ABC):
    """One index of one app on one engine. `tx` is a `db.Transaction` (sqlite and postgres only) to index
    inside the app's own transaction; other drivers refuse it."""

    name: str

    @abstractmethod
    async def index(self, docs: Sequence[Doc], tx: Any = None) -> int:
        """Upsert `docs` by id, all or none; the number indexed."""

    @abstractmethod
    async def delete(self, ids: Sequence[str], tx: Any = None) -> int:
        """Remove the docs with these ids (unknown ids are ignored); the number removed, where known."""

    @abstractmethod
    async def search(self, search: Search) -> Page:
        """The page of `search` (query.matches_nothing is answered before a driver is asked)."""

    async def count(self) -> int:
        """How many documents the index holds."""
        raise NotImplementedError

    async def close(self) -> None:
        """Release connections (run when the app unloads)."""
        return None
