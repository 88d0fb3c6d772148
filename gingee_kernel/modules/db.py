"""`db`: SQL on the databases an app declares in its app.json (SQLite, PostgreSQL, MySQL/MariaDB).

Every call looks the database up by name in the *current* app's `db` list, so an app can only reach its
own databases. Engines are created lazily, kept in `app.state` and disposed when the app closes.
Parameters are named only (`:name`, a dict). SQLite files live inside the app's box.

    rows = await db.query.many("main", "SELECT * FROM items WHERE owner = :owner", {"owner": uid})
    async with db.transaction("main") as tx:
        await tx.execute("UPDATE stock SET n = n - 1 WHERE id = :id", {"id": item})
"""

from __future__ import annotations

import asyncio
import contextlib
import importlib.util
from collections.abc import AsyncIterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from sqlalchemy import event, text
from sqlalchemy.engine import URL, CursorResult, make_url
from sqlalchemy.exc import ArgumentError, DBAPIError, SQLAlchemyError, StatementError
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine, create_async_engine

from ..engine.app import AppRuntime
from ..engine.context import require
from ..errors import GingeeError, ModuleConfigError, ServiceUnavailable

__all__ = ["DatabaseError", "QueryResult", "Transaction", "execute", "query", "transaction"]

_STATE_KEY = "db.engines"
_BUSY_TIMEOUT_MS = 5000
_CONNECT_TIMEOUT = 10
_DRIVERS = {
    "sqlite": ("sqlite+aiosqlite", "aiosqlite", None),
    "postgres": ("postgresql+asyncpg", "asyncpg", "postgres"),
    "mysql": ("mysql+aiomysql", "aiomysql", "mysql"),
}
_SCHEMES = {"sqlite": "sqlite", "postgres": "postgres", "postgresql": "postgres"}
_SCHEMES.update(mysql="mysql", mariadb="mysql")
#: MySQL client error numbers that mean "the server could not be reached".
_MYSQL_UNREACHABLE = {2002, 2003, 2005, 2006, 2013}


class DatabaseError(GingeeError):
    """The database refused a statement; the message is the database's own (parameters never included)."""

    def __init__(self, message: str, *, database: str, code: str | None = None) -> None:
        self.database = database
        self.code = code
        super().__init__(message)


@dataclass
class QueryResult:
    """The rows of a statement (dicts keyed by column) and the row count (affected rows for DML)."""

    rows: list[dict[str, Any]] = field(default_factory=list)
    row_count: int = 0


@dataclass
class _Database:
    """One configured database of one app: its engine and what error messages should name."""

    app: str
    name: str
    kind: str
    engine: AsyncEngine
    where: str


# --- configuration -------------------------------------------------------------------------------------


def _entries(app: AppRuntime) -> list[dict[str, Any]]:
    """The app's `db` list from app.json (empty if it declares none)."""
    entries = app.config.get("db") or []
    if not isinstance(entries, list) or not all(isinstance(e, dict) for e in entries):
        raise ModuleConfigError(f"app '{app.name}': app.json 'db' must be a list of objects")
    return entries


def _entry(app: AppRuntime, name: str) -> dict[str, Any]:
    """The app's configuration for database `name`; ModuleConfigError naming the configured ones."""
    if not isinstance(name, str):
        raise TypeError(f"db: the database name must be a str, not {type(name).__name__}")
    entries = _entries(app)
    for entry in entries:
        if entry.get("name") == name:
            return entry
    known = ", ".join(repr(e.get("name")) for e in entries) or "none"
    raise ModuleConfigError(
        f"app '{app.name}' has no database named {name!r} (configured: {known}); "
        f'add {{"name": "{name}", ...}} to the "db" list of web/{app.name}/box/app.json'
    )


def _kind(app: AppRuntime, entry: dict[str, Any]) -> str:
    """sqlite, postgres or mysql: from `type`, else the scheme of `url`, else sqlite."""
    kind = entry.get("type")
    if kind is None and entry.get("url"):
        scheme = str(entry["url"]).split(":", 1)[0].split("+", 1)[0].lower()
        kind = _SCHEMES.get(scheme)
    kind = _SCHEMES.get(str(kind or "sqlite").lower())
    if kind is None:
        raise ModuleConfigError(
            f"app '{app.name}', database {entry.get('name')!r}: type must be sqlite, postgres or mysql"
        )
    return kind


def _sqlite_path(app: AppRuntime, entry: dict[str, Any]) -> Path:
    """The resolved SQLite file inside the app's box (parent folders created); refuses anything else."""
    name = entry.get("name")
    database = entry.get("database")
    if database is None and entry.get("url"):
        database = make_url(str(entry["url"])).database
    if database is None:
        database = f"data/{name}.sqlite"
    if not isinstance(database, str) or not database or database == ":memory:" or "\0" in database:
        raise ModuleConfigError(
            f"app '{app.name}', database {name!r}: 'database' must be a file path relative to the box"
        )
    if database.startswith("file:") or Path(database).is_absolute():
        raise ModuleConfigError(
            f"app '{app.name}', database {name!r}: {database!r} is absolute; SQLite files must be given "
            f"relative to web/{app.name}/box (e.g. data/{name}.sqlite)"
        )
    path = (app.box / database).resolve()
    if path == app.box or not path.is_relative_to(app.box):
        raise ModuleConfigError(
            f"app '{app.name}', database {name!r}: {database!r} resolves outside the app's box "
            f"(web/{app.name}/box); keep SQLite files inside it"
        )
    path.parent.mkdir(parents=True, exist_ok=True)
    return path


def _server_url(app: AppRuntime, entry: dict[str, Any], kind: str) -> URL:
    """The SQLAlchemy URL of a PostgreSQL or MySQL database, from `url` or from the parts."""
    drivername = _DRIVERS[kind][0]
    if entry.get("url"):
        try:
            return make_url(str(entry["url"])).set(drivername=drivername)
        except ArgumentError as exc:
            raise ModuleConfigError(
                f"app '{app.name}', database {entry.get('name')!r}: 'url' is not a database URL"
            ) from exc
    port = entry.get("port")
    return URL.create(
        drivername,
        username=entry.get("user"),
        password=entry.get("password"),
        host=entry.get("host") or "127.0.0.1",
        port=int(port) if port is not None else None,
        database=entry.get("database"),
    )


def _check_driver(app: AppRuntime, entry: dict[str, Any], kind: str) -> None:
    """Fail clearly when the driver package of `kind` is not installed."""
    _, package, extra = _DRIVERS[kind]
    if importlib.util.find_spec(package) is None:
        hint = f"pip install 'gingee[{extra}]'" if extra else f"pip install {package}"
        raise ModuleConfigError(
            f"app '{app.name}', database {entry.get('name')!r} is {kind} but the '{package}' driver "
            f"is not installed: {hint}"
        )


# --- engines -------------------------------------------------------------------------------------------


def _sqlite_hooks(engine: AsyncEngine) -> None:
    """WAL, a busy timeout, foreign keys, and real BEGINs (IMMEDIATE for transactions) on SQLite."""

    @event.listens_for(engine.sync_engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        dbapi_connection.isolation_level = None  # SQLAlchemy emits BEGIN itself, below
        cursor = dbapi_connection.cursor()
        try:
            cursor.execute(f"PRAGMA busy_timeout = {_BUSY_TIMEOUT_MS}")
            cursor.execute("PRAGMA journal_mode = WAL")
            cursor.execute("PRAGMA foreign_keys = ON")
        finally:
            cursor.close()

    @event.listens_for(engine.sync_engine, "begin")
    def _on_begin(conn: Any) -> None:
        immediate = conn.get_execution_options().get("gingee_immediate", False)
        conn.exec_driver_sql("BEGIN IMMEDIATE" if immediate else "BEGIN")


def _create(app: AppRuntime, name: str) -> _Database:
    """A new engine for the app's database `name` (nothing is connected yet)."""
    entry = _entry(app, name)
    kind = _kind(app, entry)
    _check_driver(app, entry, kind)
    pool_size = entry.get("pool_size") or 5
    if isinstance(pool_size, bool) or not isinstance(pool_size, int) or pool_size < 1:
        raise ModuleConfigError(f"app '{app.name}', database {name!r}: pool_size must be a positive integer")
    if kind == "sqlite":
        return sqlite_database(app, name, _sqlite_path(app, entry), pool_size)
    else:
        url = _server_url(app, entry, kind)
        if kind == "mysql":
            extra: dict[str, Any] = {
                "pool_recycle": 3600,
                "connect_args": {"connect_timeout": _CONNECT_TIMEOUT},
            }
        else:
            extra = {"connect_args": {"timeout": _CONNECT_TIMEOUT}}
        engine = create_async_engine(url, pool_size=pool_size, pool_pre_ping=True, **extra)
        where = f"{url.host or 'localhost'}:{url.port or 'default port'}"
    return _Database(app.name, name, kind, engine, where)


def sqlite_database(app: AppRuntime, name: str, path: Path, pool_size: int = 5) -> _Database:
    """A database on the SQLite file `path` inside the app's box, with Gingee's connection settings (WAL,
    busy timeout, foreign keys, real BEGINs). Other modules (search) use it for files of their own."""
    url = URL.create("sqlite+aiosqlite", database=str(path))
    engine = create_async_engine(url, pool_size=pool_size, connect_args={"timeout": _BUSY_TIMEOUT_MS / 1000})
    _sqlite_hooks(engine)
    return _Database(app.name, name, "sqlite", engine, str(path.relative_to(app.box)))


def _database(app: AppRuntime, name: str) -> _Database:
    """The app's database `name`, creating its engine on first use (and the close hook with it)."""
    databases: dict[str, _Database] | None = app.state.get(_STATE_KEY)
    if databases is None:
        databases = app.state[_STATE_KEY] = {}

        async def dispose() -> None:
            for database in list(databases.values()):
                try:
                    await database.engine.dispose()
                except Exception:
                    app.log.exception("db: disposing the engine of database '%s' failed", database.name)
            databases.clear()

        app.on_close(dispose)
    database = databases.get(name)
    if database is None:
        database = databases[name] = _create(app, name)
    return database


# --- errors --------------------------------------------------------------------------------------------


def _unreachable(exc: BaseException) -> bool:
    """True if `exc` (or what it wraps) says the server could not be reached at all."""
    seen: set[int] = set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        if isinstance(current, asyncio.TimeoutError):
            return True
        if isinstance(current, OSError) and not isinstance(current, (PermissionError, FileNotFoundError)):
            return True
        args = getattr(current, "args", ())
        if type(current).__module__.startswith("pymysql") and args and isinstance(args[0], int):
            return args[0] in _MYSQL_UNREACHABLE
        current = getattr(current, "orig", None) or current.__cause__ or current.__context__
    return False


def _convert(database: _Database, exc: BaseException, *, connecting: bool) -> GingeeError:
    """The Gingee error for a driver/SQLAlchemy error: ServiceUnavailable or DatabaseError."""
    label = f"database '{database.name}' of app '{database.app}'"
    if connecting and database.kind != "sqlite" and _unreachable(exc):
        return ServiceUnavailable(
            f"{label} ({database.kind} at {database.where}) cannot be reached; check that the server "
            f"is running and the app.json host/port are right"
        )
    if database.kind != "sqlite" and isinstance(exc, DBAPIError) and exc.connection_invalidated:
        # SQLAlchemy's dialect recognised a lost connection (the server went away mid-statement): worth
        # a retry, like an unreachable server, though a write may or may not have been committed.
        return ServiceUnavailable(
            f"{label} ({database.kind} at {database.where}): the connection was lost during the statement "
            "(a write in it may or may not have been committed)"
        )
    orig = exc.orig if isinstance(exc, StatementError) and exc.orig is not None else exc
    args = getattr(orig, "args", ())
    code = getattr(orig, "sqlstate", None)
    if code is None and database.kind == "mysql" and args and isinstance(args[0], int):
        code = str(args[0])
    if database.kind == "mysql" and len(args) >= 2 and isinstance(args[0], int):
        message = str(args[1])
    elif isinstance(orig, DBAPIError):
        message = str(orig.orig)
    else:
        message = str(args[0]) if args else type(orig).__name__
    return DatabaseError(f"{label}: {message}", database=database.name, code=code)


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


# --- statements ----------------------------------------------------------------------------------------


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


# --- transactions --------------------------------------------------------------------------------------


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
