"""Driver and SQLAlchemy errors as Gingee errors: ServiceUnavailable when the server cannot be reached or
the connection was lost, else DatabaseError with the database's own message (parameters never included).
"""

from __future__ import annotations

import asyncio

from sqlalchemy.exc import DBAPIError, StatementError

from ...errors import GingeeError, ServiceUnavailable
from .engines import _Database

#: MySQL client error numbers that mean "the server could not be reached".
_MYSQL_UNREACHABLE = {2002, 2003, 2005, 2006, 2013}


class DatabaseError(GingeeError):
    """The database refused a statement; the message is the database's own (parameters never included)."""

    def __init__(self, message: str, *, database: str, code: str | None = None) -> None:
        self.database = database
        self.code = code
        super().__init__(message)


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
