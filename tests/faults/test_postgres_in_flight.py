"""PostgreSQL taken away (through a loopback proxy the test owns) under a statement that is running: the
client gets the retryable 503 it gets when the server is away before the request, and the pool recovers.
(tests/faults/test_services_down.py covers the outage between requests.)"""

from __future__ import annotations

import asyncio
import os
import threading
import uuid

import httpx
import pytest

from tests.faults.outage import assert_unavailable, sever, target, until

pytestmark = pytest.mark.postgres

SLOW = """
from gingee_kernel import db

async def handle(g):
    await db.query("main", "SELECT pg_sleep(3) AS {marker}")
    return {{"slept": True}}
"""
ANSWER = """
from gingee_kernel import db

async def handle(g):
    rows = await db.query("main", "SELECT 41 + 1 AS answer")
    return {"answer": rows.rows[0]["answer"]}
"""


def _running(url: str, marker: str) -> bool:
    """True once PostgreSQL runs the statement holding `marker` (asked straight, not through the proxy)."""
    import asyncpg

    async def ask() -> bool:
        conn = await asyncpg.connect(url)
        try:
            sql = "SELECT count(*) FROM pg_stat_activity WHERE query LIKE $1 AND pid <> pg_backend_pid()"
            return bool(await conn.fetchval(sql, f"%AS {marker}%"))
        finally:
            await conn.close()

    return asyncio.run(ask())


def test_a_statement_in_flight_when_postgres_goes_away(make_project, serve, tcp_proxy) -> None:  # type: ignore[no-untyped-def]
    url = os.environ.get("GINGEE_TEST_POSTGRES_URL")
    if not url:
        pytest.skip("GINGEE_TEST_POSTGRES_URL is not set: no PostgreSQL to test against")
    proxy = tcp_proxy(target(url))
    marker = f"m_{uuid.uuid4().hex[:12]}"
    project = make_project(
        {
            "web/a/box/app.json": {"name": "a", "db": [{"name": "main", "url": proxy.url(url)}]},
            "web/a/box/pmft.json": {"permissions": {"mandatory": ["db"]}},
            "web/a/box/slow.py": SLOW.format(marker=marker),
            "web/a/box/answer.py": ANSWER,
        }
    )
    server = serve(project, dev=True)
    replies: list[httpx.Response] = []
    with httpx.Client(timeout=15) as client:
        assert client.get(server.url("/a/answer")).status_code == 200
        slow = threading.Thread(target=lambda: replies.append(client.get(server.url("/a/slow"))))
        slow.start()
        for _ in range(100):
            if _running(url, marker):
                break
            threading.Event().wait(0.05)
        else:
            pytest.fail("the slow statement never reached PostgreSQL")
        sever(proxy)
        slow.join(15)
        assert replies, "the request in flight never got an answer"
        proxy.restore()
        back = until(lambda: client.get(server.url("/a/answer")), 200)
        assert back.status_code == 200, back.text
        for _ in range(10):
            assert client.get(server.url("/a/answer")).json() == {"answer": 42}
    assert_unavailable(replies[0])
