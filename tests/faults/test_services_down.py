"""Redis and PostgreSQL taken away under a running `gingee serve` (through a loopback proxy the test owns,
never the machine's servers) and brought back: clear 503s with Retry-After while down, full recovery
after, no stuck connection pool."""

from __future__ import annotations

import os
import time
from urllib.parse import urlsplit

import httpx
import pytest

CACHE = """
from gingee_kernel import cache

async def handle(g):
    n = await cache.incr("hits")
    return {"hits": n}
"""
DB = """
from gingee_kernel import db

async def handle(g):
    rows = await db.query("main", "SELECT 41 + 1 AS answer")
    return {"answer": rows.rows[0]["answer"]}
"""


def _target(url: str) -> tuple[str, int]:
    parts = urlsplit(url)
    return parts.hostname or "127.0.0.1", parts.port or 0


def _until(client: httpx.Client, url: str, want: int, seconds: float = 15) -> httpx.Response:
    deadline = time.monotonic() + seconds
    while True:
        reply = client.get(url)
        if reply.status_code == want or time.monotonic() > deadline:
            return reply
        time.sleep(0.1)


def _down_then_back(client: httpx.Client, url: str, proxy) -> None:
    assert client.get(url).status_code == 200
    proxy.cut()
    down = _until(client, url, 503)
    assert down.status_code == 503, down.text
    assert down.json()["error"] == "SERVICE_UNAVAILABLE" and down.headers["Retry-After"] == "1"
    assert "Traceback" not in down.text
    for _ in range(5):  # it stays a clear 503, never a 500, while the service is away
        assert client.get(url).status_code == 503
    proxy.restore()
    back = _until(client, url, 200)
    assert back.status_code == 200, back.text
    for _ in range(20):  # and every pooled connection works again
        assert client.get(url).status_code == 200


@pytest.mark.redis
def test_redis_down_and_back_under_the_cache(make_project, serve, redis_url, tcp_proxy) -> None:
    proxy = tcp_proxy(_target(redis_url))
    gingee = {
        "cache": {
            "driver": "redis",
            "prefix": f"faults-{os.getpid()}:",
            "redis": {"url": proxy.url(redis_url)},
        }
    }
    project = make_project(
        {
            "gingee.json": gingee,
            "web/a/box/app.json": {"name": "a"},
            "web/a/box/pmft.json": {"permissions": {"mandatory": ["cache"]}},
            "web/a/box/hits.py": CACHE,
        }
    )
    server = serve(project, dev=True)
    with httpx.Client(timeout=10) as client:
        _down_then_back(client, server.url("/a/hits"), proxy)


@pytest.mark.postgres
def test_postgres_down_and_back_under_the_db_module(make_project, serve, tcp_proxy) -> None:
    url = os.environ.get("GINGEE_TEST_POSTGRES_URL")
    if not url:
        pytest.skip("GINGEE_TEST_POSTGRES_URL is not set: no PostgreSQL to test against")
    proxy = tcp_proxy(_target(url))
    project = make_project(
        {
            "web/a/box/app.json": {"name": "a", "db": [{"name": "main", "url": proxy.url(url)}]},
            "web/a/box/pmft.json": {"permissions": {"mandatory": ["db"]}},
            "web/a/box/answer.py": DB,
        }
    )
    server = serve(project, dev=True)
    with httpx.Client(timeout=10) as client:
        _down_then_back(client, server.url("/a/answer"), proxy)
