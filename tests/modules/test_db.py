"""The db module on SQLite: API, transactions, isolation between apps, sandboxing of the file path."""

from __future__ import annotations

import asyncio
import importlib.util
import os
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path

import pytest

from gingee_kernel.engine.app import AppRuntime
from gingee_kernel.engine.context import app_context
from gingee_kernel.errors import ModuleConfigError, NoAppContext, PermissionDenied, ServiceUnavailable
from gingee_kernel.modules import db
from tests.fixtures.apps import MakeApp

ITEMS = "CREATE TABLE items (id INTEGER PRIMARY KEY, name TEXT NOT NULL, qty INTEGER NOT NULL DEFAULT 0)"


@pytest.fixture
async def app(make_app: MakeApp) -> AsyncIterator[AppRuntime]:
    """An app granted db, with a SQLite database "main" holding an empty `items` table."""
    runtime = make_app(
        "shop", config={"db": [{"name": "main", "database": "data/main.sqlite"}]}, grants={"db"}
    )
    with app_context(runtime):
        await db.execute("main", ITEMS)
    yield runtime
    await runtime.close()


async def test_query_one_many_execute(app: AppRuntime) -> None:
    with app_context(app):
        assert (
            await db.execute("main", "INSERT INTO items (name, qty) VALUES (:n, :q)", {"n": "a", "q": 1}) == 1
        )
        await db.execute("main", "INSERT INTO items (name, qty) VALUES ('b', 2), ('c', 3)")
        result = await db.query("main", "SELECT name, qty FROM items ORDER BY id")
        assert result.rows == [{"name": "a", "qty": 1}, {"name": "b", "qty": 2}, {"name": "c", "qty": 3}]
        assert result.row_count == 3
        assert await db.query.one("main", "SELECT qty FROM items WHERE name = :n", {"n": "b"}) == {"qty": 2}
        assert await db.query.one("main", "SELECT qty FROM items WHERE name = 'zzz'") is None
        names = await db.query.many("main", "SELECT name FROM items WHERE qty >= :q ORDER BY id", {"q": 2})
        assert names == [{"name": "b"}, {"name": "c"}]
        assert await db.execute("main", "UPDATE items SET qty = qty + 1 WHERE qty >= 2") == 2
        assert await db.execute("main", "DELETE FROM items WHERE name = 'nobody'") == 0
        dml = await db.query("main", "DELETE FROM items WHERE qty > 2")
        assert (dml.rows, dml.row_count) == ([], 2)


async def test_sqlite_file_in_box_with_wal(app: AppRuntime) -> None:
    with app_context(app):
        assert await db.query.one("main", "PRAGMA journal_mode") == {"journal_mode": "wal"}
        assert (await db.query.one("main", "PRAGMA busy_timeout"))["timeout"] >= 1000
    assert (app.box / "data" / "main.sqlite").is_file()


async def test_default_sqlite_path(make_app: MakeApp) -> None:
    app = make_app("plain", config={"db": [{"name": "store"}]}, grants={"db"})
    with app_context(app):
        await db.execute("store", "CREATE TABLE t (x INTEGER)")
    await app.close()
    assert (app.box / "data" / "store.sqlite").is_file()


async def test_transaction_commits(app: AppRuntime) -> None:
    with app_context(app):
        async with db.transaction("main") as tx:
            assert await tx.execute("INSERT INTO items (name) VALUES (:n)", {"n": "x"}) == 1
            await tx.execute("INSERT INTO items (name) VALUES (:n)", {"n": "y"})
            assert (await tx.query("SELECT count(*) AS n FROM items")).rows == [{"n": 2}]
            assert await tx.query.one("SELECT name FROM items WHERE name = 'y'") == {"name": "y"}
            assert len(await tx.query.many("SELECT * FROM items")) == 2
        assert await db.query.one("main", "SELECT count(*) AS n FROM items") == {"n": 2}


async def test_transaction_rolls_back_on_exception(app: AppRuntime) -> None:
    with app_context(app):
        await db.execute("main", "INSERT INTO items (name) VALUES ('kept')")
        with pytest.raises(RuntimeError, match="boom"):
            async with db.transaction("main") as tx:
                await tx.execute("INSERT INTO items (name) VALUES ('gone')")
                await tx.execute("DELETE FROM items WHERE name = 'kept'")
                raise RuntimeError("boom")
        assert await db.query.many("main", "SELECT name FROM items") == [{"name": "kept"}]


async def test_transaction_is_atomic_across_awaits(app: AppRuntime) -> None:
    inserted = asyncio.Event()
    release = asyncio.Event()

    async def writer(fail: bool) -> None:
        async with db.transaction("main") as tx:
            await tx.execute("INSERT INTO items (name) VALUES ('pending')")
            inserted.set()
            await release.wait()
            await asyncio.sleep(0.05)
            if fail:
                raise RuntimeError("abort")

    async def count() -> int:
        return (await db.query.one("main", "SELECT count(*) AS n FROM items WHERE name = 'pending'"))["n"]

    with app_context(app):
        task = asyncio.create_task(writer(fail=True))
        await inserted.wait()
        assert await count() == 0  # another task, mid-transaction: the row is not visible
        release.set()
        with pytest.raises(RuntimeError, match="abort"):
            await task
        assert await count() == 0  # rolled back

        inserted.clear()
        release.clear()
        task = asyncio.create_task(writer(fail=False))
        await inserted.wait()
        assert await count() == 0
        release.set()
        await task
        assert await count() == 1  # committed


async def test_concurrent_transactions_serialise(app: AppRuntime) -> None:
    """Read-modify-write in two overlapping transactions loses no update."""

    async def bump() -> None:
        async with db.transaction("main") as tx:
            row = await tx.query.one("SELECT qty FROM items WHERE id = 1")
            await asyncio.sleep(0.05)
            await tx.execute("UPDATE items SET qty = :q WHERE id = 1", {"q": row["qty"] + 1})

    with app_context(app):
        await db.execute("main", "INSERT INTO items (id, name, qty) VALUES (1, 'counter', 0)")
        await asyncio.gather(bump(), bump(), bump())
        assert await db.query.one("main", "SELECT qty FROM items WHERE id = 1") == {"qty": 3}


async def test_transaction_object_is_dead_after_the_block(app: AppRuntime) -> None:
    with app_context(app):
        async with db.transaction("main") as tx:
            await tx.query("SELECT 1")
        with pytest.raises(db.DatabaseError, match="already ended"):
            await tx.execute("INSERT INTO items (name) VALUES ('late')")


async def test_failing_statement_in_transaction_rolls_back(app: AppRuntime) -> None:
    with app_context(app):
        with pytest.raises(db.DatabaseError):
            async with db.transaction("main") as tx:
                await tx.execute("INSERT INTO items (name) VALUES ('first')")
                await tx.execute("INSERT INTO items (name) VALUES (NULL)")
        assert await db.query.many("main", "SELECT * FROM items") == []


@pytest.mark.parametrize("params", [["a"], ("a",), [{"n": "a"}]])
async def test_positional_params_refused(app: AppRuntime, params: object) -> None:
    with app_context(app), pytest.raises(TypeError, match=r":name placeholders"):
        await db.query("main", "SELECT * FROM items WHERE name = ?", params)  # type: ignore[arg-type]
    with app_context(app), pytest.raises(TypeError, match=r":name placeholders"):
        await db.execute("main", "DELETE FROM items WHERE name = ?", params)  # type: ignore[arg-type]
    with app_context(app), pytest.raises(TypeError, match=r":name placeholders"):
        async with db.transaction("main") as tx:
            await tx.query.one("SELECT * FROM items WHERE name = ?", params)  # type: ignore[arg-type]


async def test_database_errors_are_converted_without_params(app: AppRuntime) -> None:
    with app_context(app):
        with pytest.raises(db.DatabaseError, match="no such table") as info:
            await db.query("main", "SELECT * FROM missing WHERE x = :secret", {"secret": "hunter2-value"})
        assert "hunter2-value" not in str(info.value)
        assert info.value.__cause__ is not None
        assert info.value.database == "main"
        with pytest.raises(db.DatabaseError, match="UNIQUE constraint failed"):
            await db.execute("main", "INSERT INTO items (id, name) VALUES (1, :n), (1, :n)", {"n": "pw-123"})


async def test_unknown_database_name_lists_configured(make_app: MakeApp) -> None:
    app = make_app("multi", config={"db": [{"name": "main"}, {"name": "logs"}]}, grants={"db"})
    with app_context(app), pytest.raises(ModuleConfigError, match=r"'other'.*'main', 'logs'"):
        await db.query("other", "SELECT 1")
    await app.close()


@pytest.mark.parametrize(
    "database", ["/tmp/evil.sqlite", "../outside.sqlite", "data/../../x.sqlite", ":memory:"]
)
async def test_sqlite_path_must_stay_in_box(make_app: MakeApp, database: str) -> None:
    app = make_app("boxed", config={"db": [{"name": "main", "database": database}]}, grants={"db"})
    with app_context(app), pytest.raises(ModuleConfigError):
        await db.query("main", "SELECT 1")
    await app.close()


async def test_sqlite_url_is_also_confined(make_app: MakeApp, tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'escape.sqlite'}"
    app = make_app("boxed", config={"db": [{"name": "main", "url": url}]}, grants={"db"})
    with app_context(app), pytest.raises(ModuleConfigError, match="absolute"):
        await db.query("main", "SELECT 1")
    await app.close()
    assert not (tmp_path / "escape.sqlite").exists()


async def test_sqlite_symlink_out_of_box_refused(make_app: MakeApp, tmp_path: Path) -> None:
    app = make_app("linked", config={"db": [{"name": "main", "database": "link/main.sqlite"}]}, grants={"db"})
    outside = tmp_path / "outside"
    outside.mkdir()
    os.symlink(outside, app.box / "link")
    with app_context(app), pytest.raises(ModuleConfigError, match="outside the app's box"):
        await db.query("main", "SELECT 1")
    await app.close()
    assert list(outside.iterdir()) == []


async def test_apps_cannot_see_each_others_databases(make_app: MakeApp) -> None:
    config = {"db": [{"name": "main", "database": "main.sqlite"}]}
    first = make_app("first", config=config, grants={"db"})
    second = make_app("second", config=config, grants={"db"})
    with app_context(first):
        await db.execute("main", "CREATE TABLE secrets (v TEXT)")
        await db.execute("main", "INSERT INTO secrets VALUES ('first-only')")
    with app_context(second), pytest.raises(db.DatabaseError, match="no such table"):
        await db.query("main", "SELECT * FROM secrets")
    assert (first.box / "main.sqlite").is_file()
    assert (second.box / "main.sqlite").is_file()
    await first.close()
    await second.close()


async def _empty_transaction() -> None:
    async with db.transaction("main"):
        pass


DbCall = Callable[[], Awaitable[object]]

#: Every way a script reaches a database "main", for the checks that refuse them all.
DB_CALLS: dict[str, DbCall] = {
    "query": lambda: db.query("main", "SELECT 1"),
    "query.one": lambda: db.query.one("main", "SELECT 1"),
    "query.many": lambda: db.query.many("main", "SELECT 1"),
    "execute": lambda: db.execute("main", "SELECT 1"),
    "transaction": _empty_transaction,
}
each_db_call = pytest.mark.parametrize("call", list(DB_CALLS.values()), ids=list(DB_CALLS))


@each_db_call
async def test_permission_denied_without_grant(make_app: MakeApp, call: DbCall) -> None:
    app = make_app("nogrant", config={"db": [{"name": "main"}]})
    with app_context(app), pytest.raises(PermissionDenied):
        await call()
    assert not (app.box / "data").exists()


@each_db_call
async def test_no_app_context(call: DbCall) -> None:
    with pytest.raises(NoAppContext):
        await call()


async def test_engines_disposed_on_close(app: AppRuntime) -> None:
    with app_context(app):
        await db.query("main", "SELECT 1")
    assert app.state["db.engines"]
    await app.close()
    assert "db.engines" not in app.state


async def test_missing_driver_names_the_extra(make_app: MakeApp, monkeypatch: pytest.MonkeyPatch) -> None:
    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec", lambda n, *a: None if n == "asyncpg" else real(n, *a))
    app = make_app("pg", config={"db": [{"name": "main", "type": "postgres"}]}, grants={"db"})
    with app_context(app), pytest.raises(ModuleConfigError, match=r"pip install 'gingee\[postgres\]'"):
        await db.query("main", "SELECT 1")
    await app.close()


@pytest.mark.parametrize("kind", ["postgres", "mysql"])
async def test_refused_connection_is_service_unavailable(make_app: MakeApp, kind: str) -> None:
    pytest.importorskip({"postgres": "asyncpg", "mysql": "aiomysql"}[kind])
    entry = {"name": "main", "type": kind, "host": "127.0.0.1", "port": 1, "user": "nobody"}
    app = make_app("down", config={"db": [entry]}, grants={"db"})
    with app_context(app), pytest.raises(ServiceUnavailable, match="cannot be reached") as info:
        await db.query("main", "SELECT 1")
    assert info.value.__cause__ is not None
    await app.close()
