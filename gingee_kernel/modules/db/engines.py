"""Engines: one SQLAlchemy engine per database of an app, created on first use and disposed on close.

SQLite engines get Gingee's connection settings (WAL, a busy timeout, foreign keys, real BEGINs).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sqlalchemy import event
from sqlalchemy.engine import URL
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine

from ...engine.app import AppRuntime
from ...errors import ModuleConfigError
from .config import _check_driver, _entry, _kind, _server_url, _sqlite_path

_STATE_KEY = "db.engines"
_BUSY_TIMEOUT_MS = 5000
_CONNECT_TIMEOUT = 10


@dataclass
class _Database:
    """One configured database of one app: its engine and what error messages should name."""

    app: str
    name: str
    kind: str
    engine: AsyncEngine
    where: str


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
