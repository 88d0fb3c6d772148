"""Redis high availability through Sentinel: `redis+sentinel://` URLs (redis_url.py) for the cache, the
websocket fan-out and the queue, each across a real `SENTINEL FAILOVER` (tests/fixtures/sentinel.py)."""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import threading
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import TypeVar

import httpx
import pytest
import redis
from redis.asyncio.sentinel import SentinelConnectionPool

from gingee_kernel import redis_url
from gingee_kernel.errors import ServiceUnavailable
from gingee_kernel.modules.cache_drivers.redis import RedisDriver
from gingee_kernel.modules.ws.fanout import Envelope
from gingee_kernel.modules.ws.fanout_redis import RedisFanout
from tests.fixtures.sentinel import SentinelTopology
from tests.fixtures.servers import RunningServer
from tests.jobqueue.workers import READY, WorkerProcess
from tests.jobqueue.workers import spawn_worker as spawn_worker  # a fixture

T = TypeVar("T")


# -- the URL ---------------------------------------------------------------------------------------------


def test_sentinel_url_is_parsed() -> None:
    url = "redis+sentinel://app:s%40cret@10.0.0.1:26380,[::1],sentinel-3:5000/cache/3?sentinel_password=pw"
    parsed = redis_url.parse_sentinel(url)
    assert parsed.sentinels == (("10.0.0.1", 26380), ("::1", 26379), ("sentinel-3", 5000))
    assert (parsed.service, parsed.db, parsed.username, parsed.password) == ("cache", 3, "app", "s@cret")
    assert parsed.sentinel_password == "pw"
    assert redis_url.parse_sentinel("redis+sentinel://:pw@h/svc").password == "pw"
    assert redis_url.parse_sentinel("redis+sentinel://h/svc").db == 0


async def test_pools_and_clients_for_both_kinds_of_url() -> None:
    plain = redis_url.pool("redis://h:6390/2", socket_connect_timeout=3)
    assert type(plain).__name__ == "ConnectionPool"
    assert (plain.connection_kwargs["host"], plain.connection_kwargs["db"]) == ("h", 2)
    sentinel = redis_url.pool("redis+sentinel://u:pw@h1:1,h2:2/svc/4", socket_timeout=7)
    assert isinstance(sentinel, SentinelConnectionPool) and sentinel.service_name == "svc"
    kwargs = sentinel.connection_kwargs
    assert (kwargs["db"], kwargs["socket_timeout"], kwargs["username"], kwargs["password"]) == (
        4,
        7,
        "u",
        "pw",
    )
    manager = sentinel.sentinel_manager
    assert [(s.connection_pool.connection_kwargs["host"], s.connection_pool.connection_kwargs["port"])
            for s in manager.sentinels] == [("h1", 1), ("h2", 2)]  # fmt: skip
    assert (
        manager.sentinels[0].connection_pool.connection_kwargs["socket_timeout"] == redis_url.SENTINEL_TIMEOUT
    )
    client = redis_url.client("redis+sentinel://h1:1/svc", decode_responses=True)
    assert client.get_encoder().decode_responses and client.auto_close_connection_pool
    await client.aclose()
    await sentinel.disconnect()


def test_where_names_the_server_without_passwords() -> None:
    assert redis_url.where("redis://:hunter2@cache.local:6390/4") == "cache.local:6390/4"
    assert redis_url.where("redis://localhost") == "localhost:6379/0"
    assert redis_url.where("unix:///run/redis.sock?db=2") == "unix:/run/redis.sock/2"
    where = redis_url.where("redis+sentinel://u:hunter2@a:1,b:2/main/5?sentinel_password=hunter3")
    assert where == "sentinel main via a:1,b:2 /5"


@pytest.mark.parametrize(
    "url, expected",
    [
        ("http://h:1/0", "redis://"),
        ("redis+sentinel://:hunter2@/svc", "no sentinel host"),
        ("redis+sentinel://:hunter2@h1:1,h2:2", "no SERVICE"),
        ("redis+sentinel://:hunter2@h1:1,h2:2/", "no SERVICE"),
        ("redis+sentinel://:hunter2@h1:x/svc", "'h1:x' is not host:port"),
        ("redis+sentinel://:hunter2@h1:1/svc/db", "is not /SERVICE or /SERVICE/DB"),
        ("redis+sentinel://:hunter2@h1:1/svc?password=hunter2", "unknown query option"),
    ],
)
def test_bad_urls_name_the_expected_form_and_hide_the_password(url: str, expected: str) -> None:
    with pytest.raises(ValueError) as info:
        redis_url.pool(url)
    message = str(info.value)
    assert expected in message and "redis+sentinel://[[user]:password@]host1:port1" in message
    assert "hunter2" not in message


# -- over a real topology ------------------------------------------------------------------------------


async def until(what: str, attempt: Callable[[], Awaitable[T]], seconds: float = 20) -> tuple[T, int]:
    """Retry `attempt` through ServiceUnavailable (the switch-over) until it succeeds: (result, failures)."""
    failures, deadline = 0, time.monotonic() + seconds
    while True:
        try:
            return await attempt(), failures
        except ServiceUnavailable:
            failures += 1
            assert time.monotonic() < deadline, f"{what} still fails after the failover"
            await asyncio.sleep(0.05)


def on_port(port: int) -> redis.Redis:
    return redis.Redis(port=port, decode_responses=True)


def replicated(topology: SentinelTopology, key: str, value: str) -> None:
    """Wait until the replica holds `key` (so a killed master loses nothing the test wrote). Not WAIT from
    another connection: WAIT counts only that connection's writes, so it returns at once."""
    master = topology.master()
    replica = topology.replica_port if master == topology.master_port else topology.master_port
    deadline = time.monotonic() + 5
    while on_port(replica).get(key) != value:
        assert time.monotonic() < deadline, f"the replica :{replica} never got {key!r}"
        time.sleep(0.02)


async def reaches(port: int, write: Callable[[], Awaitable[None]], key: str, value: str) -> None:
    """Repeat `write` until it lands on the master at `port`. A pool that did not follow the failover would
    keep writing to the old master, which sentinels leave a master for ~10 s (the bound here is 5 s)."""
    deadline = time.monotonic() + 5
    while True:
        with contextlib.suppress(ServiceUnavailable):  # refused during the switch-over
            await write()
        if on_port(port).get(key) == value:
            return
        assert time.monotonic() < deadline, f"writes still do not reach the new master :{port}"
        await asyncio.sleep(0.05)


@pytest.mark.redis
async def test_cache_follows_a_failover(sentinel_topology: SentinelTopology) -> None:
    driver = RedisDriver(sentinel_topology.url, timeout=2)
    assert driver.where.startswith("sentinel gingee via 127.0.0.1:")
    try:
        old = sentinel_topology.master()
        for i in range(50):
            await driver.set(f"before:{i}", str(i), None)
        assert await driver.get("before:7") == "7"
        replicated(sentinel_topology, "before:49", "49")  # the replica has all of it

        new = await asyncio.to_thread(sentinel_topology.failover)
        assert new != old
        await reaches(new, lambda: driver.set("after", "yes", None), "after", "yes")
        values = [await driver.get(f"before:{i}") for i in range(50)]
        assert values == [str(i) for i in range(50)]
        assert await driver.get("after") == "yes"
        assert await driver.incr("n", 2, None) == 2 and on_port(new).get("n") == "2"
    finally:
        await driver.close()


@pytest.mark.redis
async def test_cache_survives_a_killed_master(sentinel_topology: SentinelTopology) -> None:
    driver = RedisDriver(sentinel_topology.url, timeout=1)
    try:
        await driver.set("kept", "1", None)
        replicated(sentinel_topology, "kept", "1")
        new = await asyncio.to_thread(sentinel_topology.kill_master)
        await reaches(new, lambda: driver.set("after", "2", None), "after", "2")
        assert await driver.get("kept") == "1"
    finally:
        await driver.close()


@pytest.mark.redis
async def test_websocket_fanout_delivers_across_a_failover(sentinel_topology: SentinelTopology) -> None:
    got: list[bytes] = []
    sender = RedisFanout(sentinel_topology.url, "gingee-test:", "node-a")
    receiver = RedisFanout(sentinel_topology.url, "gingee-test:", "node-b")
    hosts = ",".join(f"127.0.0.1:{p}" for p in sentinel_topology.sentinel_ports)
    assert receiver.where == f"sentinel gingee via {hosts} /0"

    def deliver(envelope: Envelope) -> None:
        got.append(envelope.payload)

    async def stream(tag: str, count: int) -> set[bytes]:
        """Publish `count` messages, one every 10 ms, until the receiver has seen one: what it got."""
        sent = []
        for i in range(count):
            payload = f"{tag}{i}".encode()
            sent.append(payload)
            sender.publish(Envelope("chat", "room", "lobby", payload, False))
            await asyncio.sleep(0.01)
            if any(p.startswith(tag.encode()) for p in got) and i >= 20:
                break
        await asyncio.sleep(0.2)
        return {p for p in got if p.startswith(tag.encode())}

    try:
        await sender.start(lambda envelope: None)
        await receiver.start(deliver)
        before = await stream("before-", 50)
        assert len(before) >= 20
        new = await asyncio.to_thread(sentinel_topology.failover)
        # Both processes end up subscribed on the new master, and what is published there arrives. Up to 5 s:
        # a subscription left on the old master would hear nothing until its demotion (~10 s).
        channel, moved, deadline = "gingee-test:broadcast", None, time.monotonic() + 5
        for i in itertools.count():
            sender.publish(Envelope("chat", "room", "lobby", f"after-{i}".encode(), False))
            await asyncio.sleep(0.01)
            if moved is None and on_port(new).pubsub_numsub(channel) == [(channel, 2)]:
                moved = i + 1
            if moved is not None and any(
                int(p.split(b"-")[1]) >= moved for p in got if p.startswith(b"after")
            ):
                break
            assert time.monotonic() < deadline, f"no delivery through the new master (subscribed: {moved})"
    finally:
        await sender.close()
        await receiver.close()


# -- the queue, end to end -------------------------------------------------------------------------------

RECORD = """
import os

async def handle(g):
    with open(g.job.payload["log"], "a") as log:
        log.write(g.job.id + "\\n")
"""
ENQUEUE = """
from gingee_kernel import queue

async def handle(g):
    q = g.request.query
    job = await queue.add("record", {"log": q["log"]}, job_id=q["id"])  # unreachable Redis: the engine's 503
    return {"id": job.id}
"""


def queue_project(make_project: Callable[..., Path], url: str) -> Path:
    """An arq-queue project on the Sentinel URL: `GET /shop/enqueue?id=..&log=..` adds a `record` job."""
    return make_project({
        "gingee.json": {"queue": {"driver": "arq", "prefix": "gingee-test:",
                                  "redis": {"url": url, "wait_replicas": 1, "wait_timeout_ms": 500},
                                  "poll_delay_ms": 10, "concurrency": 20}},
        "settings/permissions.json": {"shop": {"granted": ["queue"]}},
        "web/shop/box/app.json": {"name": "shop"},
        "web/shop/box/enqueue.py": ENQUEUE,
        "web/shop/box/jobs/record.py": RECORD,
    })  # fmt: skip


@pytest.mark.redis
def test_queue_loses_no_acknowledged_job_across_a_failover(
    sentinel_topology: SentinelTopology, make_project: Callable[..., Path],
    serve: Callable[..., RunningServer], spawn_worker: type[WorkerProcess], client: httpx.Client,
    tmp_path: Path,
) -> None:  # fmt: skip
    """With queue.redis.wait_replicas 1, no acknowledged enqueue is lost: an enqueue counts only once the
    replica confirmed it (Redis WAIT), so whatever the promoted replica lacks was refused (503, retry).
    Without it, the jobs acknowledged between the replica's promotion and the clients' move are lost (a
    dozen in a run like this one; bench/redis_failover.py counts them)."""
    project = queue_project(make_project, sentinel_topology.url)
    worker = spawn_worker(project)
    worker.wait_for(READY)
    server = serve(project, dev=False)
    log = tmp_path / "ran.log"
    acked: list[str] = []
    refused: list[httpx.Response] = []
    failover = threading.Thread(target=sentinel_topology.failover)
    after = 0  # acknowledged once the sentinels agree on the new master
    for n in range(3000):
        if n == 50:
            failover.start()
        answer = client.get(server.url("/shop/enqueue"), params={"id": f"j{n}", "log": str(log)})
        if answer.status_code == 200:
            acked.append(answer.json()["id"])
            after += n > 50 and not failover.is_alive()
        else:
            refused.append(answer)
        if after >= 50:
            break
        time.sleep(0.005)
    failover.join(30)
    assert after >= 50 and sentinel_topology.master() != sentinel_topology.master_port
    for answer in refused:  # a 503 worth retrying, never a traceback (the cause is in the server log)
        assert answer.status_code == 503, answer.text
        assert answer.json()["error"] == "SERVICE_UNAVAILABLE" and answer.headers["Retry-After"] == "1"
        assert "Traceback" not in answer.text and "127.0.0.1" not in answer.text

    def lost() -> list[str]:
        ran = set(log.read_text().split()) if log.exists() else set()
        return sorted(set(acked) - ran)

    deadline = time.monotonic() + 20
    while lost() and time.monotonic() < deadline:
        time.sleep(0.05)
    assert lost() == [], f"acknowledged jobs never ran: {lost()}"
    runs = log.read_text().split()
    print(f"acknowledged {len(acked)}, refused {len(refused)}, ran {len(set(runs))}, lost {lost()}, "
          f"duplicates {len(runs) - len(set(runs))}")  # fmt: skip
