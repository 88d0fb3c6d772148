"""`gingee serve --workers 2` with the Redis cache and the arq queue behind a loopback proxy the test owns:
Redis taken away, then brought back. Each worker process answers a clear 503 (cache and queue calls) and
fails readiness while it is away, and each recovers on its own after, on the connections it pooled.

A 503 carries no header of the script's (the error reply replaces them), so which worker answered is told
by keep-alive connections pinned to each worker: a connection stays with the process that accepted it,
and `/_gingee/health` (which names its pid) before and after shows it did not move."""

from __future__ import annotations

import contextlib
import time
from collections.abc import Iterator

import httpx
import pytest

from tests.cluster.nodes import Node
from tests.faults.outage import assert_unavailable, fresh_get, sever, target, until

pytestmark = pytest.mark.redis

HITS = """
import os
from gingee_kernel import cache

async def handle(g):
    return {"hits": await cache.incr("hits"), "pid": os.getpid()}
"""
ENQUEUE = """
import os
from gingee_kernel import queue

async def handle(g):
    job = await queue.add("noop", {})
    return {"id": job.id, "pid": os.getpid()}
"""
NOOP = """
async def handle(g):
    return None
"""


def _pid(client: httpx.Client) -> int:
    return int(client.get("/_gingee/health").json()["pid"])


@contextlib.contextmanager
def _pinned(node: Node, workers: int) -> Iterator[dict[int, httpx.Client]]:
    """One keep-alive client (one connection) per worker process, keyed by the worker's pid."""
    pinned: dict[int, httpx.Client] = {}
    spare: list[httpx.Client] = []
    try:
        for _ in range(200):
            client = httpx.Client(base_url=node.url(), timeout=10, limits=httpx.Limits(max_connections=1))
            pid = _pid(client)
            if pid in pinned:
                spare.append(client)
            else:
                pinned[pid] = client
            if len(pinned) == workers:
                break
        assert len(pinned) == workers, f"new connections reached only {sorted(pinned)}"
        for client in spare:
            client.close()
        yield pinned
    finally:
        for client in [*pinned.values(), *spare]:
            client.close()


def test_both_workers_answer_503_while_redis_is_away_and_both_recover(
    make_project, tcp_proxy, redis_url: str, arq_keys: str
) -> None:  # type: ignore[no-untyped-def]
    proxy = tcp_proxy(target(redis_url))
    redis = {"url": proxy.url(redis_url)}
    project = make_project(
        {
            "gingee.json": {
                "cache": {"driver": "redis", "prefix": arq_keys + "c:", "redis": redis},
                "queue": {"driver": "arq", "prefix": arq_keys, "redis": redis},
            },
            "settings/permissions.json": {"a": {"granted": ["cache", "queue"]}},
            "web/a/box/app.json": {"name": "a"},
            "web/a/box/hits.py": HITS,
            "web/a/box/enqueue.py": ENQUEUE,
            "web/a/box/jobs/noop.py": NOOP,
        }
    )
    node = Node(project, name="workers", workers=2).start()
    try:
        # Both workers up, each serving on its own Redis connections (cache and queue).
        node.wait_until(lambda: len({_pid_of_fresh(node) for _ in range(20)}) == 2, "run two workers")
        with _pinned(node, 2) as pinned:
            for pid, client in pinned.items():
                for path in ("/a/hits", "/a/enqueue"):
                    reply = client.get(path)
                    assert reply.status_code == 200 and reply.json()["pid"] == pid, reply.text
                assert client.get("/_gingee/health/ready").status_code == 200

            sever(proxy)
            for pid, client in pinned.items():
                assert_unavailable(until(lambda c=client: c.get("/a/hits"), 503))
                for _ in range(5):  # it stays a clear 503 on this worker, for the cache and the queue
                    assert_unavailable(client.get("/a/hits"))
                    assert_unavailable(client.get("/a/enqueue"))
                ready = until(lambda c=client: c.get("/_gingee/health/ready"), 503)
                assert ready.status_code == 503 and ready.json() == {
                    "ready": False, "reasons": ["queue redis unreachable"]
                }, ready.text  # fmt: skip
                assert _pid(client) == pid, "the pinned connection moved to another worker"
            for _ in range(10):  # and on any new connection, whichever worker takes it
                assert_unavailable(fresh_get(node.url("/a/hits")))

            proxy.restore()
            for pid, client in pinned.items():
                back = until(lambda c=client: c.get("/a/hits"), 200)
                assert back.status_code == 200 and back.json()["pid"] == pid, back.text
                for _ in range(10):  # every pooled connection of this worker works again
                    for path in ("/a/hits", "/a/enqueue"):
                        reply = client.get(path)
                        assert reply.status_code == 200 and reply.json()["pid"] == pid, reply.text
                assert until(lambda c=client: c.get("/_gingee/health/ready"), 200).status_code == 200
        seen: set[int] = set()
        deadline = time.monotonic() + 10
        while len(seen) < 2 and time.monotonic() < deadline:  # new connections, both workers, all 200
            reply = fresh_get(node.url("/a/hits"))
            assert reply.status_code == 200, reply.text
            seen.add(reply.json()["pid"])
        assert seen == set(pinned), f"after the restore new connections reached {seen}, not {set(pinned)}"
        assert node.proc is not None and node.proc.poll() is None, node.log()[-4000:]
        assert "Traceback" not in node.log(), node.log()[-4000:]
    finally:
        node.stop()


def _pid_of_fresh(node: Node) -> int:
    return int(fresh_get(node.url("/_gingee/health")).json()["pid"])
