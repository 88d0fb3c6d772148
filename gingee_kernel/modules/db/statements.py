"""Statements run outside a transaction: `db.query(...)`, `db.query.one/many(...)` and `db.execute(...)`.

Each runs in its own short transaction on a pooled connection. Parameters are named only (`:name`, a dict).
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator, Mapping
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import text
from sqlalchemy.engine import CursorResult
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.ext.asyncio import AsyncConnection

from ...engine.context import require
from .engines import _Database, _database
from .errors import _convert


@dataclass
class QueryResult:
    """The rows of a statement (dicts keyed by column) and the row count (affected rows for DML)."""

    rows: list[dict[str, Any]] = field(default_factory=list)
    row_count: int = 0


@contextlib.asynccontextmanager
async def _connection(database: _Database) -> AsyncIterator[AsyncConnection]:
    """A pooled connection; failing to connect becomes ServiceUnavailable or DatabaseError."""
    conn = database.engine.connect()
    try:
        await conn.start()
    except (SQLAlchemyError, OSError) as exc:
        raise _convert(database, exc, connecting=True) from exc
    try:
        yield conn
    finally:
        await conn.close()


def _params(params: Mapping[str, Any] | None) -> dict[str, Any]:
    """The parameters as a dict; positional parameters are refused."""
    if params is None:
        return {}
    if isinstance(params, (list, tuple)):
        raise TypeError(
            "db: positional parameters are not supported; write :name placeholders in the SQL and pass "
            'a dict, e.g. db.query("main", "SELECT * FROM t WHERE id = :id", {"id": 1})'
        )
    if not isinstance(params, Mapping):
        raise TypeError(f"db: params must be a dict of :name values, not {type(params).__name__}")
    return dict(params)


async def _run(
    database: _Database, conn: AsyncConnection, sql: str, params: Mapping[str, Any] | None
) -> QueryResult:
    """Execute one statement on `conn`, converting the result and any driver error."""
    if not isinstance(sql, str):
        raise TypeError(f"db: sql must be a str, not {type(sql).__name__}")
    values = _params(params)
    try:
        result: CursorResult[Any] = await conn.execute(text(sql), values)
        if result.returns_rows:
            rows = [dict(row) for row in result.mappings()]
            return QueryResult(rows, len(rows))
        return QueryResult([], max(result.rowcount, 0))
    except SQLAlchemyError as exc:
        raise _convert(database, exc, connecting=False) from exc


async def _run_alone(database: _Database, sql: str, params: Mapping[str, Any] | None) -> QueryResult:
    """Run one statement in its own short transaction."""
    _params(params)  # refuse bad parameters before taking a connection
    async with _connection(database) as conn:
        try:
            async with conn.begin():
                return await _run(database, conn, sql, params)
        except SQLAlchemyError as exc:
            raise _convert(database, exc, connecting=False) from exc


class _Query:
    """`db.query(name, sql, params)`, with `db.query.one(...)` and `db.query.many(...)`."""

    async def __call__(self, name: str, sql: str, params: Mapping[str, Any] | None = None) -> QueryResult:
        """Run `sql` on the app's database `name`; rows and row count."""
        app = require("db")
        return await _run_alone(_database(app, name), sql, params)

    async def one(
        self, name: str, sql: str, params: Mapping[str, Any] | None = None
    ) -> dict[str, Any] | None:
        """The first row of `sql`, or None."""
        app = require("db")
        rows = (await _run_alone(_database(app, name), sql, params)).rows
        return rows[0] if rows else None

    async def many(
        self, name: str, sql: str, params: Mapping[str, Any] | None = None
    ) -> list[dict[str, Any]]:
        """All rows of `sql`."""
        app = require("db")
        return (await _run_alone(_database(app, name), sql, params)).rows


query = _Query()


async def execute(name: str, sql: str, params: Mapping[str, Any] | None = None) -> int:
    """Run a statement on the app's database `name`; the number of affected rows."""
    app = require("db")
    return (await _run_alone(_database(app, name), sql, params)).row_count
