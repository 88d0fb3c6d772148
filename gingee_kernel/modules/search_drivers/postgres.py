"""The postgres driver: a tsvector column with a GIN index, in the app's PostgreSQL database.

    gingee_search_<app>_<index>_docs   id (primary key), doc (jsonb, GIN for filters), one text column per
                                       field (as indexed), tsv (the weighted tsvector, GIN)
    text search configuration gingee_search: `simple` with `unaccent` first (zurich finds Zürich), no
                                       stemming, so words match as they do on sqlite

Ranking is ts_rank() with the fields' weights (PostgreSQL has four weight classes: the three heaviest
distinct weights get A, B and C, the rest share D). Highlights are ts_headline(), which leaves the text's
HTML tags out of the snippet. The query is built from the parsed tree as a tsquery of plain words (`&`,
`|`, `!`, `<->`, `:*`): websearch_to_tsquery would read the user's own syntax and has no prefix search,
so it is not used. Filters are jsonb containment.

The unaccent extension is created on first use when missing (PostgreSQL 13+ lets a database owner do it);
where the role may not, the error says what to run.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

from sqlalchemy.ext.asyncio import AsyncConnection

from ...errors import ModuleConfigError
from .base import Doc, Page, Search
from .errors import SearchError
from .query import Query, Term
from .sql import SqlDriver, batches, quoted, source_json, stored_doc
from .text import CLOSE, OPEN

CONFIG = "gingee_search"
HEADLINE = f"StartSel={OPEN}, StopSel={CLOSE}, MaxWords=24, MinWords=8"
_LOCK = 0x6753_6561_7263  # pg_advisory_xact_lock key: "gSearc"
_CLASSES = "ABCD"


class PostgresDriver(SqlDriver):
    name = "postgres"

    # -- tables ---------------------------------------------------------------------------------------
    def _columns(self) -> list[str]:
        return [quoted(f"f_{f}") for f in self.spec.fields]

    def _classes(self) -> tuple[dict[str, str], list[float]]:
        """Each field's weight class, and ts_rank's weights array {D, C, B, A} (relative to the heaviest)."""
        distinct = sorted(set(self.spec.fields.values()), reverse=True)
        top = distinct[0]
        by_weight = {w: _CLASSES[min(i, 3)] for i, w in enumerate(distinct)}
        values = {c: 0.0 for c in _CLASSES}
        for weight, cls in by_weight.items():
            values[cls] = max(values[cls], weight / top)
        return {f: by_weight[w] for f, w in self.spec.fields.items()}, [values[c] for c in "DCBA"]

    async def lock(self, conn: AsyncConnection) -> None:
        await self.run(conn, f"SELECT pg_advisory_xact_lock({_LOCK})")
        await self._configuration(conn)

    async def _configuration(self, conn: AsyncConnection) -> None:
        has = (await self.run(conn, "SELECT 1 FROM pg_extension WHERE extname = 'unaccent'")).first()
        if has is None:
            try:
                async with conn.begin_nested():
                    await self.run(conn, "CREATE EXTENSION IF NOT EXISTS unaccent")
            except SearchError as exc:
                raise ModuleConfigError(
                    f"search: index {self.spec.name!r}: the postgres driver needs the unaccent extension and "
                    f"this role may not create it ({exc}); run `CREATE EXTENSION unaccent;` in database "
                    f"{self.database.name!r} as its owner or a superuser"
                ) from None
        exists = (await self.run(conn, f"SELECT 1 FROM pg_ts_config WHERE cfgname = '{CONFIG}'")).first()
        if exists is None:
            await self.run(conn, f"CREATE TEXT SEARCH CONFIGURATION {CONFIG} (COPY = simple)")
            await self.run(
                conn,
                f"ALTER TEXT SEARCH CONFIGURATION {CONFIG} ALTER MAPPING FOR hword, hword_part, word "
                "WITH unaccent, simple",
            )

    async def create(self, conn: AsyncConnection) -> None:
        await self.run(conn, f"DROP TABLE IF EXISTS {self.docs}")
        columns = "".join(f"{c} TEXT NOT NULL DEFAULT '', " for c in self._columns())
        await self.run(
            conn,
            f"CREATE TABLE {self.docs} (id TEXT PRIMARY KEY, doc JSONB NOT NULL, {columns}"
            "tsv TSVECTOR NOT NULL)",
        )
        await self.run(conn, f"CREATE INDEX ON {self.docs} USING GIN (tsv)")
        await self.run(conn, f"CREATE INDEX ON {self.docs} USING GIN (doc jsonb_path_ops)")

    async def rebuild(self, conn: AsyncConnection) -> None:
        rows = (await self.run(conn, f"SELECT id, doc FROM {self.docs}")).all()
        docs = [stored_doc(self.spec, doc_id, doc) for doc_id, doc in rows]
        await self.create(conn)
        for batch in batches(docs):
            await self._upsert(conn, batch)

    # -- writing --------------------------------------------------------------------------------------
    async def index(self, docs: Sequence[Doc], tx: Any = None) -> int:
        async with self.connection(tx) as conn:
            for batch in batches(docs):
                await self._upsert(conn, batch)
        return len(docs)

    async def _upsert(self, conn: AsyncConnection, batch: Sequence[Doc]) -> None:
        fields = list(self.spec.fields)
        classes, _ = self._classes()
        columns = self._columns()
        # asyncpg's own placeholders: $1 the id, $2 the doc, $3... the fields' text.
        vector = " || ".join(
            f"setweight(to_tsvector('{CONFIG}', ${n}::text), '{classes[f]}')"
            for n, f in enumerate(fields, start=3)
        )
        names = ", ".join(["id", "doc", *columns, "tsv"])
        values = ", ".join(["$1", "$2::jsonb", *(f"${n}::text" for n in range(3, len(fields) + 3)), vector])
        updates = ", ".join(f"{c} = excluded.{c}" for c in ["doc", *columns, "tsv"])
        await self.run_many(
            conn,
            f"INSERT INTO {self.docs} ({names}) VALUES ({values}) ON CONFLICT (id) DO UPDATE SET {updates}",
            [(d.id, source_json(d), *(d.text.get(f, "") for f in fields)) for d in batch],
        )

    async def delete(self, ids: Sequence[str], tx: Any = None) -> int:
        removed = 0
        async with self.connection(tx) as conn:
            for batch in batches(ids):
                result = await self.run(
                    conn, f"DELETE FROM {self.docs} WHERE id = ANY(:ids)", {"ids": list(batch)}
                )
                removed += max(result.rowcount, 0)
        return removed

    # -- searching ------------------------------------------------------------------------------------
    async def search(self, search: Search) -> Page:
        _, weights = self._classes()
        params: dict[str, Any] = {"q": tsquery(search.query)}
        where = "t.tsv @@ q.q" + _filters(search.filters, params)
        rank = f"ts_rank('{{{', '.join(str(w) for w in weights)}}}', t.tsv, q.q)"
        source = f"FROM {self.docs} t, (SELECT to_tsquery('{CONFIG}', :q) AS q) q WHERE {where}"
        inner = (
            f"SELECT t.*, {rank} AS rank, q.q {source} ORDER BY rank DESC, t.id LIMIT :limit OFFSET :offset"
        )
        lines = ""
        if search.highlight:
            params["h"] = HEADLINE
            lines = "".join(f", ts_headline('{CONFIG}', s.{c}, s.q, :h)" for c in self._columns())
        select = f"SELECT s.id, s.doc, s.rank{lines} FROM ({inner}) s ORDER BY s.rank DESC, s.id"
        return await self.page(search, select, source, params, sign=1.0)


def _filters(filters: dict[str, tuple[Any, ...]], params: dict[str, Any]) -> str:
    clauses = []
    for n, (field, values) in enumerate(filters.items()):
        options = []
        for m, value in enumerate(values):
            key = f"v{n}_{m}"
            params[key] = json.dumps({field: value})
            options.append(f"t.doc @> CAST(:{key} AS JSONB)")
        clauses.append("(" + " OR ".join(options) + ")")
    return "".join(f" AND {c}" for c in clauses)


def tsquery(query: Query) -> str:
    """The to_tsquery text of a parsed query. Words hold letters and digits only, so they cannot be read
    as tsquery operators; each is quoted anyway."""
    expression = " & ".join("(" + " | ".join(_term(t) for t in group) + ")" for group in query.groups)
    for term in query.excluded:
        expression = f"({expression}) & !{_term(term)}"
    return expression


def _term(term: Term) -> str:
    words = [f"'{w}'" for w in term.words]
    if term.prefix:
        words[-1] += ":*"
    return "(" + " <-> ".join(words) + ")"
