"""An app's `db` list from app.json: which database a name means, its kind, and where it lives.

SQLite files must stay inside the app's box; PostgreSQL and MySQL/MariaDB are given by `url` or by
their parts, and need their driver package installed.
"""

from __future__ import annotations

import importlib.util
from pathlib import Path
from typing import Any

from sqlalchemy.engine import URL, make_url
from sqlalchemy.exc import ArgumentError

from ...engine.app import AppRuntime
from ...errors import ModuleConfigError

_DRIVERS = {
    "sqlite": ("sqlite+aiosqlite", "aiosqlite", None),
    "postgres": ("postgresql+asyncpg", "asyncpg", "postgres"),
    "mysql": ("mysql+aiomysql", "aiomysql", "mysql"),
}
_SCHEMES = {"sqlite": "sqlite", "postgres": "postgres", "postgresql": "postgres"}
_SCHEMES.update(mysql="mysql", mariadb="mysql")


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
