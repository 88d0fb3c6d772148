"""What the sqlite and postgres drivers share: the database that holds an index (one of the app's own, so
indexing can join the app's transaction), table names, connections, batching and error mapping.

Each index is two things in that database, named after the app and the index (`gingee_search_<app>_<name>`):
the documents as JSON, and the engine's full-text structure over the declared fields. A row in
`gingee_search_meta` remembers which fields the structure was built for; when app.json changes them, the
index is rebuilt from the stored documents on first use, so nothing has to be indexed again by hand.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import re
from collections.abc import AsyncIterator, Sequence
from typing import Any

from sqlalchemy import text
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.ext.asyncio import AsyncConnection

from ...engine.app import AppRuntime
from ...errors import GingeeError, ModuleConfigError
from .. import db
from .base import Doc, Hit, IndexSpec, Page, Search, SearchDriver
from .errors import SearchError, SearchUnavailable
from .settings import IndexSettings
from .text import TEXT_VERSION, segment

BATCH = 500
META = "gingee_search_meta"


async def open_sql_driver(app: AppRuntime, settings: IndexSettings) -> SearchDriver:
    """The sqlite or postgres driver of one index; its tables are created (or rebuilt) by its first call,
    on that call's connection, so a first call inside the app's transaction does not wait on itself."""
    database, owned = _database(app, settings)
    if settings.driver == "sqlite":
        from .sqlite import SqliteDriver

        driver: SqlDriver = SqliteDriver(settings.spec, database, owned)
    else:
        from .postgres import PostgresDriver

        driver = PostgresDriver(settings.spec, database, owned)
    return driver


def _database(app: AppRuntime, settings: IndexSettings) -> tuple[Any, bool]:
    """The app database that holds the index (and whether the driver owns its engine)."""
    wanted = settings.values.get("db")
    kind = settings.driver
    entries = db._entries(app)
    if wanted is None:
        same = [e for e in entries if db._kind(app, e) == kind]
        if same:
            wanted = same[0]["name"]
        elif kind == "sqlite":
            path = app.box / "data" / "search.sqlite"
            path.parent.mkdir(parents=True, exist_ok=True)
            return db.sqlite_database(app, "search", path), True
        else:
            raise ModuleConfigError(
                f"{settings.where}: the postgres driver keeps the index in one of the app's databases; add "
                f'{{"name": "main", "type": "postgres", ...}} to "db" in app.json, and "db": "main" here'
            )
    entry = db._entry(app, wanted)
    if db._kind(app, entry) != kind:
        raise ModuleConfigError(
            f"{settings.where}: db {wanted!r} is {db._kind(app, entry)}, but the driver is {kind}; name a "
            f"{kind} database of app.json db[]"
        )
    return db._database(app, wanted), False


def table_name(spec: IndexSpec) -> str:
    return "gingee_search_" + re.sub(r"[^a-z0-9_]", "_", f"{spec.app.lower()}_{spec.name}")


def quoted(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def spec_json(spec: IndexSpec) -> str:
    """What the full-text structure depends on: the fields, in order, their weights, and how text is
    segmented (a TEXT_VERSION change rebuilds the index from the stored docs)."""
    return json.dumps({"fields": spec.fields, "text": TEXT_VERSION}, sort_keys=False)


class SqlDriver(SearchDriver):
    """The shared half of the sqlite and postgres drivers."""

    def __init__(self, spec: IndexSpec, database: Any, owned: bool) -> None:
        self.spec = spec
        self.database = database
        self.owned = owned
        self.table = table_name(spec)
        self.docs = quoted(self.table + "_docs")  # the documents, as JSON
        self.prepared = False  # the tables are known to be committed as the spec wants
        self.preparing = asyncio.Lock()

    # -- connections ----------------------------------------------------------------------------------
    @contextlib.asynccontextmanager
    async def connection(self, tx: Any = None) -> AsyncIterator[AsyncConnection]:
        """`tx`'s connection (checked to be on this index's database), else a new transaction."""
        if tx is not None:
            if not isinstance(tx, db.Transaction):
                raise TypeError(f"search: tx must be a db.transaction(...), not {type(tx).__name__}")
            if tx._database is not self.database:
                raise SearchError(
                    f"search: index {self.spec.name!r} is kept in database {self.database.name!r}, but tx is "
                    f"a transaction on {tx.database!r}; open the transaction on {self.database.name!r}",
                    index=self.spec.name,
                )
            async with tx.connection() as conn:
                await self.ready(conn, committed=False)
                yield conn
            return
        async with db._connection(self.database) as conn:
            try:
                async with conn.begin():
                    await self.ready(conn, committed=True)
                    yield conn
            except SQLAlchemyError as exc:
                raise self.mapped(exc) from exc

    async def ready(self, conn: AsyncConnection, *, committed: bool) -> None:
        """Prepare the tables on `conn` until a prepare has been committed (one inside the app's transaction
        may still roll back, so it is checked again next time; a check is one SELECT)."""
        if self.prepared:
            return
        async with self.preparing:
            if not self.prepared:
                await self.prepare(conn)
                self.prepared = committed

    async def run(self, conn: AsyncConnection, sql: str, params: Any = None) -> Any:
        """One statement (a list of dicts runs it once per dict, as one batch)."""
        try:
            return await conn.execute(text(sql), params)
        except SQLAlchemyError as exc:
            raise self.mapped(exc) from exc

    async def run_many(self, conn: AsyncConnection, sql: str, rows: list[tuple[Any, ...]]) -> Any:
        """One statement in the driver's own placeholders, once per row: the bulk writes, where building
        SQLAlchemy parameters row by row would cost more than the database's own work."""
        try:
            return await conn.exec_driver_sql(sql, rows)
        except SQLAlchemyError as exc:
            raise self.mapped(exc) from exc

    def mapped(self, exc: BaseException) -> GingeeError:
        """The one place a database error becomes a search error."""
        converted = db._convert(self.database, exc, connecting=True)
        where = f"search: index {self.spec.name!r} ({self.name}, database {self.database.name!r})"
        if isinstance(converted, db.DatabaseError):
            return SearchError(f"{where}: {converted}", index=self.spec.name)
        return SearchUnavailable(f"{where}: {converted}", index=self.spec.name)

    # -- what both write the same way -----------------------------------------------------------------
    async def prepare(self, conn: AsyncConnection) -> None:
        """Create the tables, or rebuild the full-text structure if the declared fields changed."""
        await self.lock(conn)
        await self.run(conn, f"CREATE TABLE IF NOT EXISTS {META} (name TEXT PRIMARY KEY, spec TEXT NOT NULL)")
        row = (await self.run(conn, f"SELECT spec FROM {META} WHERE name = :n", {"n": self.table})).first()
        wanted = spec_json(self.spec)
        if row is not None and row[0] == wanted:
            return
        if row is None:
            await self.create(conn)
        else:
            await self.rebuild(conn)
        await self.run(
            conn,
            f"INSERT INTO {META} (name, spec) VALUES (:n, :s) ON CONFLICT (name) DO UPDATE SET spec = :s",
            {"n": self.table, "s": wanted},
        )

    async def page(
        self, search: Search, select: str, source: str, params: dict[str, Any], sign: float
    ) -> Page:
        """Run a driver's ranked `select` (id, doc, rank, then one highlight per field) for one page, and
        count `source` only when the page alone cannot tell the total. `sign` turns the rank into a score
        where higher is better."""
        async with self.connection() as conn:
            rows = (
                await self.run(conn, select, {**params, "limit": search.limit, "offset": search.offset})
            ).all()
            if search.offset == 0 and len(rows) < search.limit:
                total = len(rows)
            else:
                total = int((await self.run(conn, f"SELECT count(*) {source}", params)).scalar())
        names = list(self.spec.fields)
        hits = [
            Hit(
                row[0],
                sign * float(row[2]),
                row[1] if isinstance(row[1], dict) else json.loads(row[1]),
                {name: row[3 + i] for i, name in enumerate(names)} if search.highlight else {},
            )
            for row in rows
        ]
        return Page(hits, total)

    async def lock(self, conn: AsyncConnection) -> None:
        """Keep other processes out while the tables are created (postgres; SQLite's BEGIN IMMEDIATE)."""

    async def create(self, conn: AsyncConnection) -> None:
        raise NotImplementedError

    async def rebuild(self, conn: AsyncConnection) -> None:
        raise NotImplementedError

    async def count(self) -> int:
        async with self.connection() as conn:
            return int((await self.run(conn, f"SELECT count(*) FROM {self.docs}")).scalar())

    async def close(self) -> None:
        if self.owned:
            await self.database.engine.dispose()


def batches(items: Sequence[Any]) -> list[Sequence[Any]]:
    return [items[i : i + BATCH] for i in range(0, len(items), BATCH)]


def stored_doc(spec: IndexSpec, doc_id: str, source: Any) -> Doc:
    """A stored document as the current fields index it (a rebuild: keys no longer declared are kept)."""
    if isinstance(source, str):
        source = json.loads(source)
    text = {f: segment(v) for f in spec.fields if isinstance(v := source.get(f), str)}
    return Doc(doc_id, source, text, {})


def source_json(doc: Doc) -> str:
    return doc.encoded or json.dumps(doc.source, ensure_ascii=False, separators=(",", ":"))
