"""Transactions: `async with db.transaction(name) as tx`, committed on exit, rolled back on an exception.

Statements inside one transaction run one at a time, in order, on its one connection.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Mapping
from typing import Any

from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.ext.asyncio import AsyncConnection

from ...engine.context import require
from .engines import _Database, _database
from .errors import DatabaseError, _convert
from .statements import QueryResult, _connection, _run


class _TxQuery:
    """`tx.query(sql, params)`, with `tx.query.one(...)` and `tx.query.many(...)`."""

    def __init__(self, tx: Transaction) -> None:
        self._tx = tx

    async def __call__(self, sql: str, params: Mapping[str, Any] | None = None) -> QueryResult:
        """Run `sql` inside the transaction; rows and row count."""
        return await self._tx._run(sql, params)

    async def one(self, sql: str, params: Mapping[str, Any] | None = None) -> dict[str, Any] | None:
        """The first row of `sql` inside the transaction, or None."""
        rows = (await self._tx._run(sql, params)).rows
        return rows[0] if rows else None

    async def many(self, sql: str, params: Mapping[str, Any] | None = None) -> list[dict[str, Any]]:
        """All rows of `sql` inside the transaction."""
        return (await self._tx._run(sql, params)).rows


class Transaction:
    """One open transaction on one connection; statements run one at a time, in order."""

    def __init__(self, database: _Database, conn: AsyncConnection) -> None:
        self._database = database
        self._conn = conn
        self._lock = asyncio.Lock()
        self._open = True
        self.query = _TxQuery(self)

    async def execute(self, sql: str, params: Mapping[str, Any] | None = None) -> int:
        """Run a statement inside the transaction; the number of affected rows."""
        return (await self._run(sql, params)).row_count

    async def _run(self, sql: str, params: Mapping[str, Any] | None) -> QueryResult:
        """Run one statement on the transaction's connection."""
        async with self.connection() as conn:
            return await _run(self._database, conn, sql, params)

    @property
    def database(self) -> str:
        """The name of the database (app.json db[]) this transaction is on."""
        return self._database.name

    @contextlib.asynccontextmanager
    async def connection(self) -> AsyncIterator[AsyncConnection]:
        """The transaction's connection, for other modules' statements (search.index(..., tx=tx)), one
        user at a time; DatabaseError once the transaction has ended."""
        async with self._lock:
            if not self._open:
                raise DatabaseError(
                    f"database '{self._database.name}': this transaction has already ended; "
                    "use tx only inside its `async with db.transaction(...)` block",
                    database=self._database.name,
                )
            yield self._conn


@contextlib.asynccontextmanager
async def transaction(name: str) -> AsyncIterator[Transaction]:
    """A transaction on the app's database `name`: committed on exit, rolled back on an exception."""
    app = require("db")
    database = _database(app, name)
    async with _connection(database) as conn:
        if database.kind == "sqlite":
            await conn.execution_options(gingee_immediate=True)
        tx = Transaction(database, conn)
        try:
            async with conn.begin():
                yield tx
        except SQLAlchemyError as exc:
            raise _convert(database, exc, connecting=False) from exc
        finally:
            tx._open = False
