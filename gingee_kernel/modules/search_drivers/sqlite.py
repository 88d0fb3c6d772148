"""The sqlite driver (the default): FTS5, in the Python standard library, in the app's SQLite database.

    gingee_search_<app>_<index>_docs   rowid, id (unique), doc (the JSON kept)
    gingee_search_<app>_<index>        FTS5 over the declared fields, rowid = the doc's rowid,
                                       tokenize 'unicode61 remove_diacritics 2' (zurich finds Zürich)

Ranking is FTS5's bm25() with each field's weight; highlights are snippet(). Every word of a query is
quoted, so nothing a user types is read as FTS5 syntax (`foo-bar`, `a:b`, `AND (`). Filters compare JSON
values exactly (a str never equals a number, `true` never equals 1), as on postgres.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlalchemy.ext.asyncio import AsyncConnection

from .base import Doc, Page, Search
from .query import Query, Term
from .sql import SqlDriver, batches, quoted, source_json, stored_doc
from .text import CLOSE, OPEN

TOKENIZE = "unicode61 remove_diacritics 2"
SNIPPET_TOKENS = 24


class SqliteDriver(SqlDriver):
    name = "sqlite"

    @property
    def fts(self) -> str:
        return quoted(self.table)

    def _columns(self) -> list[str]:
        return [quoted(f) for f in self.spec.fields]

    async def create(self, conn: AsyncConnection) -> None:
        await self.run(
            conn,
            f"CREATE TABLE IF NOT EXISTS {self.docs} (rowid INTEGER PRIMARY KEY, id TEXT NOT NULL UNIQUE, "
            "doc TEXT NOT NULL)",
        )
        await self.run(conn, f"DROP TABLE IF EXISTS {self.fts}")
        columns = ", ".join(self._columns())
        await self.run(
            conn, f"CREATE VIRTUAL TABLE {self.fts} USING fts5({columns}, tokenize = '{TOKENIZE}')"
        )
        weights = ", ".join(repr(w) for w in self.spec.fields.values())
        await self.run(
            conn, f"INSERT INTO {self.fts} ({self.fts}, rank) VALUES ('rank', :r)", {"r": f"bm25({weights})"}
        )

    async def rebuild(self, conn: AsyncConnection) -> None:
        await self.create(conn)
        rows = (await self.run(conn, f"SELECT id, doc FROM {self.docs}")).all()
        docs = [stored_doc(self.spec, doc_id, doc) for doc_id, doc in rows]
        for batch in batches(docs):
            await self._insert_fts(conn, batch)

    async def _insert_fts(self, conn: AsyncConnection, batch: Sequence[Doc]) -> None:
        fields = list(self.spec.fields)
        columns = ", ".join(self._columns())
        marks = ", ".join("?" for _ in fields)
        await self.run_many(
            conn,
            f"INSERT INTO {self.fts} (rowid, {columns}) SELECT rowid, {marks} FROM {self.docs} WHERE id = ?",
            [(*(d.text.get(f, "") for f in fields), d.id) for d in batch],
        )

    # -- writing --------------------------------------------------------------------------------------
    async def index(self, docs: Sequence[Doc], tx: Any = None) -> int:
        async with self.connection(tx) as conn:
            for batch in batches(docs):
                await self.run_many(
                    conn,
                    f"DELETE FROM {self.fts} WHERE rowid = (SELECT rowid FROM {self.docs} WHERE id = ?)",
                    [(d.id,) for d in batch],
                )
                await self.run_many(
                    conn,
                    f"INSERT INTO {self.docs} (id, doc) VALUES (?, ?) "
                    "ON CONFLICT (id) DO UPDATE SET doc = excluded.doc",
                    [(d.id, source_json(d)) for d in batch],
                )
                await self._insert_fts(conn, batch)
        return len(docs)

    async def delete(self, ids: Sequence[str], tx: Any = None) -> int:
        removed = 0
        async with self.connection(tx) as conn:
            for batch in batches(ids):
                marks = ", ".join(f":i{n}" for n in range(len(batch)))
                params = {f"i{n}": value for n, value in enumerate(batch)}
                inside = f"SELECT rowid FROM {self.docs} WHERE id IN ({marks})"
                await self.run(conn, f"DELETE FROM {self.fts} WHERE rowid IN ({inside})", params)
                result = await self.run(conn, f"DELETE FROM {self.docs} WHERE id IN ({marks})", params)
                removed += max(result.rowcount, 0)
        return removed

    # -- searching ------------------------------------------------------------------------------------
    async def search(self, search: Search) -> Page:
        params: dict[str, Any] = {"q": match_expression(search.query)}
        where = f"{self.fts} MATCH :q" + self._filters(search.filters, params)
        snippets = ""
        if search.highlight:
            params.update(o=OPEN, c=CLOSE)
            snippets = "".join(
                f", snippet({self.fts}, {i}, :o, :c, '…', {SNIPPET_TOKENS})"
                for i in range(len(self.spec.fields))
            )
        source = f"FROM {self.fts} JOIN {self.docs} d ON d.rowid = {self.fts}.rowid WHERE {where}"
        # FTS5's own `rank` (bm25 with the fields' weights, configured at create) lets FTS5 hand back the
        # rows best first and stop at the page, so snippet() runs for the page only; an ORDER BY of
        # anything else would sort, and snippet, every match. Ties keep FTS5's order: stable for the same
        # data, so cursors page through them without repeats.
        select = (
            f"SELECT d.id, d.doc, {self.fts}.rank{snippets} {source} "
            f"ORDER BY {self.fts}.rank LIMIT :limit OFFSET :offset"
        )
        counted = source if search.filters else f"FROM {self.fts} WHERE {self.fts} MATCH :q"
        return await self.page(search, select, counted, params, sign=-1.0)  # bm25: lower is better

    def _filters(self, filters: dict[str, tuple[Any, ...]], params: dict[str, Any]) -> str:
        clauses = []
        for n, (field, values) in enumerate(filters.items()):
            path = f"'$.{field}'"  # a declared filter: [a-z_][a-z0-9_]* (the schema's rule)
            options = []
            for m, value in enumerate(values):
                key = f"v{n}_{m}"
                kinds = _json_types(value)
                params[key] = value
                options.append(
                    f"(json_type(d.doc, {path}) IN ({kinds}) AND json_extract(d.doc, {path}) = :{key})"
                )
            clauses.append("(" + " OR ".join(options) + ")")
        return "".join(f" AND {c}" for c in clauses)


def _json_types(value: Any) -> str:
    if isinstance(value, bool):
        return "'true'" if value else "'false'"
    if isinstance(value, (int, float)):
        return "'integer', 'real'"
    return "'text'"


def match_expression(query: Query) -> str:
    """The FTS5 MATCH text of a parsed query: every word inside double quotes (words hold letters and
    digits only), groups in parentheses, exclusions with NOT."""
    expression = " AND ".join("(" + " OR ".join(_term(t) for t in group) + ")" for group in query.groups)
    for term in query.excluded:
        expression = f"({expression}) NOT {_term(term)}"
    return expression


def _term(term: Term) -> str:
    return '"' + " ".join(term.words) + '"' + ("*" if term.prefix else "")
