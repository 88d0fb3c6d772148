"""`db`: SQL on the databases an app declares in its app.json (SQLite, PostgreSQL, MySQL/MariaDB).

Every call looks the database up by name in the *current* app's `db` list, so an app can only reach its
own databases. Engines are created lazily, kept in `app.state` and disposed when the app closes.
Parameters are named only (`:name`, a dict). SQLite files live inside the app's box.

    rows = await db.query.many("main", "SELECT * FROM items WHERE owner = :owner", {"owner": uid})
    async with db.transaction("main") as tx:
        await tx.execute("UPDATE stock SET n = n - 1 WHERE id = :id", {"id": item})

- `config`: the app.json `db` entries: kind, SQLite path, server URL, driver check.
- `engines`: one engine per database, created on first use (`sqlite_database` for other modules' files).
- `errors`: driver errors as ServiceUnavailable or DatabaseError.
- `statements`: `query` and `execute`, each in its own short transaction.
- `transactions`: `transaction` and its `Transaction`.
"""

from .config import _entries as _entries
from .config import _entry as _entry
from .config import _kind as _kind
from .engines import _database as _database
from .engines import sqlite_database as sqlite_database
from .errors import DatabaseError
from .errors import _convert as _convert
from .statements import QueryResult, execute, query
from .statements import _connection as _connection
from .transactions import Transaction, transaction

__all__ = ["DatabaseError", "QueryResult", "Transaction", "execute", "query", "transaction"]
