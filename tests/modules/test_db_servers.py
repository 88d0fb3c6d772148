"""The db module against real PostgreSQL and MySQL/MariaDB servers.

Set GINGEE_TEST_POSTGRES_URL (e.g. postgresql://postgres@127.0.0.1:5432/test) and GINGEE_TEST_MYSQL_URL
(e.g. mysql://root@127.0.0.1:3306/test); without them these tests are skipped.
"""

from __future__ import annotations

import asyncio
import os
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

import pytest
from sqlalchemy.engine import make_url

from gingee_kernel.engine.app import AppRuntime
from gingee_kernel.engine.context import app_context
from gingee_kernel.modules import db
from tests.fixtures.apps import MakeApp

ENV = {"postgres": "GINGEE_TEST_POSTGRES_URL", "mysql": "GINGEE_TEST_MYSQL_URL"}


@dataclass
class Server:
    """An app whose database "main" is a real server, and a table name unique to this test."""

    kind: str
    url: str
    app: AppRuntime
    table: str


@pytest.fixture(
    params=[
        pytest.param("postgres", marks=pytest.mark.postgres),
        pytest.param("mysql", marks=pytest.mark.mysql),
    ]
)
async def server(request: pytest.FixtureRequest, make_app: MakeApp) -> AsyncIterator[Server]:
    """A `Server` for each configured kind; the table is created empty and dropped afterwards."""
    kind = request.param
    url = os.environ.get(ENV[kind])
    if not url:
        pytest.skip(f"{ENV[kind]} is not set: no {kind} server to test against")
    table = f"gingee_t_{uuid.uuid4().hex[:12]}"
    app = make_app("srv", config={"db": [{"name": "main", "url": url}]}, grants={"db"})
    with app_context(app):
        await db.execute("main", f"CREATE TABLE {table} (id INTEGER PRIMARY KEY, name VARCHAR(50) NOT NULL)")
    try:
        yield Server(kind, url, app, table)
    finally:
        with app_context(app):
            await db.execute("main", f"DROP TABLE IF EXISTS {table}")
        await app.close()


async def test_query_one_many_execute(server: Server) -> None:
    t = server.table
    with app_context(server.app):
        assert (
            await db.execute("main", f"INSERT INTO {t} (id, name) VALUES (:i, :n)", {"i": 1, "n": "a"}) == 1
        )
        assert await db.execute("main", f"INSERT INTO {t} (id, name) VALUES (2, 'b'), (3, 'c')") == 2
        result = await db.query("main", f"SELECT id, name FROM {t} ORDER BY id")
        assert result.rows == [{"id": 1, "name": "a"}, {"id": 2, "name": "b"}, {"id": 3, "name": "c"}]
        assert result.row_count == 3
        assert await db.query.one("main", f"SELECT name FROM {t} WHERE id = :i", {"i": 2}) == {"name": "b"}
        assert await db.query.one("main", f"SELECT name FROM {t} WHERE id = 99") is None
        assert len(await db.query.many("main", f"SELECT * FROM {t} WHERE id > :i", {"i": 1})) == 2
        assert await db.execute("main", f"UPDATE {t} SET name = 'z' WHERE id >= 2") == 2
        assert await db.execute("main", f"DELETE FROM {t} WHERE id = 42") == 0


async def test_transaction_commit_and_rollback(server: Server) -> None:
    t = server.table
    with app_context(server.app):
        async with db.transaction("main") as tx:
            await tx.execute(f"INSERT INTO {t} (id, name) VALUES (1, 'kept')")
            assert await tx.query.one(f"SELECT name FROM {t} WHERE id = 1") == {"name": "kept"}
        with pytest.raises(RuntimeError):
            async with db.transaction("main") as tx:
                await tx.execute(f"INSERT INTO {t} (id, name) VALUES (2, 'gone')")
                assert len(await tx.query.many(f"SELECT * FROM {t}")) == 2
                raise RuntimeError("abort")
        assert await db.query.many("main", f"SELECT name FROM {t}") == [{"name": "kept"}]


async def test_transaction_is_atomic_across_awaits(server: Server) -> None:
    t = server.table
    inserted = asyncio.Event()

    async def writer(fail: bool) -> None:
        async with db.transaction("main") as tx:
            await tx.execute(f"INSERT INTO {t} (id, name) VALUES (7, 'pending')")
            inserted.set()
            await asyncio.sleep(0.2)
            if fail:
                raise RuntimeError("abort")

    async def visible() -> bool:
        return await db.query.one("main", f"SELECT name FROM {t} WHERE id = 7") is not None

    with app_context(server.app):
        for fail in (True, False):
            inserted.clear()
            task = asyncio.create_task(writer(fail))
            await inserted.wait()
            assert not await visible()
            if fail:
                with pytest.raises(RuntimeError):
                    await task
            else:
                await task
            assert await visible() is (not fail)


async def test_errors_are_converted(server: Server) -> None:
    with app_context(server.app):
        with pytest.raises(db.DatabaseError) as info:
            await db.query("main", "SELECT * FROM gingee_no_such_table WHERE x = :v", {"v": "s3cret-param"})
        assert "s3cret-param" not in str(info.value)
        assert info.value.code
        assert info.value.__cause__ is not None
        with pytest.raises(db.DatabaseError):
            await db.execute("main", f"INSERT INTO {server.table} (id, name) VALUES (1, 'a'), (1, 'b')")


async def test_config_from_parts(server: Server, make_app: MakeApp) -> None:
    url = make_url(server.url)
    entry: dict[str, Any] = {"name": "parts", "type": server.kind, "host": url.host, "port": url.port}
    entry.update(user=url.username, password=url.password, database=url.database, pool_size=2)
    app = make_app("parts", config={"db": [entry]}, grants={"db"})
    with app_context(app):
        assert await db.query.one("parts", "SELECT 1 AS one") == {"one": 1}
    await app.close()
