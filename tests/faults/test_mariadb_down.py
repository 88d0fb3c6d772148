"""MariaDB/MySQL taken away under the db module of a running `gingee serve` (through a loopback proxy the
test owns, never the machine's server) and brought back: a clear 503 with Retry-After while it is away,
for reads, writes and transactions, and for a statement in flight when it goes; nothing written by a
refused request; full recovery after, on every pooled connection."""

from __future__ import annotations

import os
import threading
import uuid
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from urllib.parse import urlsplit

import httpx
import pytest

from tests.faults.outage import assert_unavailable, sever, target, until

pytestmark = pytest.mark.mysql

POOL = 4  # app.json pool_size: the rounds below hold this many connections at once

CONN = """
from gingee_kernel import db

async def handle(g):
    pause = float(g.request.query.get("pause", "0"))
    row = await db.query.one("main", "SELECT CONNECTION_ID() AS conn, SLEEP(:p) AS slept", {"p": pause})
    return {"conn": row["conn"]}
"""
WRITE = """
from gingee_kernel import db

async def handle(g):
    n = int(g.request.query["n"])
    async with db.transaction("main") as tx:
        await tx.execute("INSERT INTO {table} (id, tag) VALUES (:n, 'tx')", {{"n": n}})
        await tx.execute("UPDATE {table} SET tag = 'done' WHERE id = :n", {{"n": n}})
    return {{"written": n}}
"""
IDS = """
from gingee_kernel import db

async def handle(g):
    rows = await db.query.many("main", "SELECT id, tag FROM {table} ORDER BY id")
    return {{"rows": rows}}
"""
SLOW = """
from gingee_kernel import db

async def handle(g):
    await db.query("main", "SELECT SLEEP(3) AS {marker}")
    return {{"slept": True}}
"""


def _direct(url: str):  # type: ignore[no-untyped-def]
    """A pymysql connection straight to the server (not through the proxy), autocommit."""
    import pymysql

    parts = urlsplit(url)
    return pymysql.connect(
        host=parts.hostname or "127.0.0.1",
        port=parts.port or 3306,
        user=parts.username or "root",
        password=parts.password or "",
        database=parts.path.lstrip("/") or None,
        autocommit=True,
    )


@pytest.fixture
def mysql_url() -> str:
    url = os.environ.get("GINGEE_TEST_MYSQL_URL")
    if not url:
        pytest.skip("GINGEE_TEST_MYSQL_URL is not set: no MySQL/MariaDB to test against")
    return url


@pytest.fixture
def table(mysql_url: str) -> Iterator[str]:
    """A table unique to the test, created empty and dropped afterwards."""
    name = f"gingee_f_{uuid.uuid4().hex[:12]}"
    conn = _direct(mysql_url)
    try:
        with conn.cursor() as cur:
            cur.execute(f"CREATE TABLE {name} (id INTEGER PRIMARY KEY, tag VARCHAR(10) NOT NULL)")
        yield name
        with conn.cursor() as cur:
            cur.execute(f"DROP TABLE IF EXISTS {name}")
    finally:
        conn.close()


@pytest.fixture
def shop(make_project, serve, tcp_proxy, mysql_url: str, table: str):  # type: ignore[no-untyped-def]
    """A served app whose database "main" is MariaDB through a proxy: (server, proxy, marker)."""
    proxy = tcp_proxy(target(mysql_url))
    marker = f"m_{uuid.uuid4().hex[:12]}"
    project = make_project(
        {
            "web/a/box/app.json": {"name": "a", "db": [{"name": "main", "url": proxy.url(mysql_url),
                                                        "pool_size": POOL}]},
            "web/a/box/pmft.json": {"permissions": {"mandatory": ["db"]}},
            "web/a/box/conn.py": CONN,
            "web/a/box/write.py": WRITE.format(table=table),
            "web/a/box/ids.py": IDS.format(table=table),
            "web/a/box/slow.py": SLOW.format(marker=marker),
        }
    )  # fmt: skip
    return serve(project, dev=True), proxy, marker


def _round(client: httpx.Client, url: str, n: int = POOL) -> list[httpx.Response]:
    """`n` requests at once, each holding its connection for a moment (so the pool hands out `n`)."""
    with ThreadPoolExecutor(n) as pool:
        return list(pool.map(lambda _: client.get(url, params={"pause": "0.2"}), range(n)))


def test_mariadb_down_and_back_under_the_db_module(shop) -> None:  # type: ignore[no-untyped-def]
    server, proxy, _ = shop
    conn_url, write_url, ids_url = server.url("/a/conn"), server.url("/a/write"), server.url("/a/ids")
    written: set[int] = set()
    with httpx.Client(timeout=10, limits=httpx.Limits(max_connections=POOL * 2)) as client:
        before = _round(client, conn_url)
        assert [r.status_code for r in before] == [200] * POOL, [r.text for r in before]
        assert len({r.json()["conn"] for r in before}) == POOL  # the pool holds POOL live connections
        for n in range(3):
            assert client.get(write_url, params={"n": n}).status_code == 200
            written.add(n)

        sever(proxy)
        assert_unavailable(until(lambda: client.get(conn_url), 503))
        for n in range(10, 15):  # reads, transactions, concurrent requests: a clear 503 every time
            assert_unavailable(client.get(conn_url))
            assert_unavailable(client.get(write_url, params={"n": n}))
        for reply in _round(client, conn_url):
            assert_unavailable(reply)

        proxy.restore()
        back = until(lambda: client.get(conn_url), 200)
        assert back.status_code == 200, back.text
        for _ in range(3):  # every pooled connection works again, POOL at once, round after round
            replies = _round(client, conn_url)
            assert [r.status_code for r in replies] == [200] * POOL, [r.text for r in replies]
        for n in range(20, 23):
            reply = client.get(write_url, params={"n": n})
            assert reply.status_code == 200, reply.text
            written.add(n)
        rows = client.get(ids_url).json()["rows"]
    # What was acknowledged is stored (whole transactions); what was refused left nothing behind.
    assert rows == [{"id": n, "tag": "done"} for n in sorted(written)]


def test_a_statement_in_flight_when_mariadb_goes_away(shop, mysql_url: str) -> None:  # type: ignore[no-untyped-def]
    """The connection under a running statement drops: the client gets the same retryable 503 as when the
    server is away before the request (not a 500 "the server script failed"), and the pool recovers."""
    server, proxy, marker = shop
    replies: list[httpx.Response] = []
    with httpx.Client(timeout=15) as client:
        assert client.get(server.url("/a/conn")).status_code == 200
        slow = threading.Thread(target=lambda: replies.append(client.get(server.url("/a/slow"))))
        slow.start()
        watcher = _direct(mysql_url)
        try:  # wait until MariaDB runs the statement, then take the server away under it
            with watcher.cursor() as cur:
                for _ in range(100):
                    cur.execute("SELECT COUNT(*) FROM information_schema.processlist WHERE info LIKE %s",
                                (f"%AS {marker}%",))  # fmt: skip
                    if cur.fetchone()[0]:
                        break
                    threading.Event().wait(0.05)
                else:
                    pytest.fail("the slow statement never reached MariaDB")
        finally:
            watcher.close()
        sever(proxy)
        slow.join(15)
        assert replies, "the request in flight never got an answer"
        proxy.restore()
        back = until(lambda: client.get(server.url("/a/conn")), 200)
        assert back.status_code == 200, back.text
        for _ in range(2):
            assert [r.status_code for r in _round(client, server.url("/a/conn"))] == [200] * POOL
    assert_unavailable(replies[0])
