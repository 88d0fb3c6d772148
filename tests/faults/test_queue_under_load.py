"""The arq queue's Redis taken away (through a loopback proxy the test owns) while clients keep enqueueing
over HTTP, then brought back. `gingee serve` enqueues and `gingee worker` runs the jobs, both on the same
gingee.json, as a user runs them, so both lose Redis. Each enqueue is accepted (a job id) or refused with
a clear 503, never a 500; every accepted job runs to its result after the restore (no job lost); the
dead-letter queue stays empty. And the one moment of such an outage that the load hits only now and
then, reproduced on purpose: the connection drops as the enqueue's transaction (EXEC) is sent."""

from __future__ import annotations

import contextlib
import itertools
import socket
import threading
import time
from concurrent.futures import ThreadPoolExecutor

import httpx
import pytest

from tests.faults.outage import assert_unavailable, sever, target
from tests.fixtures.queue_scripts import ENQUEUE, WAIT
from tests.fixtures.tcp_proxy import TcpProxy
from tests.jobqueue.workers import READY, WorkerProcess

pytestmark = pytest.mark.redis

ECHO = """
async def handle(g):
    return {"n": g.job.payload["n"]}
"""
CLIENTS = 4  # threads enqueueing at once
PHASE = 40  # accepted enqueues before the cut, and again after the restore
OUTAGE = 30  # refused enqueues while Redis is away


class Load:
    """CLIENTS threads enqueueing `echo` jobs until stopped; every answer is kept with its phase."""

    def __init__(self, url: str) -> None:
        self.url = url
        self.phase = "before"
        self.accepted: dict[str, str] = {}  # job id -> n
        self.refused: list[httpx.Response] = []
        self.other: list[str] = []
        self.counts: dict[str, int] = {}  # "<phase> <status>" -> answers
        self._numbers = itertools.count()
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._threads = [threading.Thread(target=self._run, daemon=True) for _ in range(CLIENTS)]

    def __enter__(self) -> Load:
        for thread in self._threads:
            thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        for thread in self._threads:
            thread.join(15)

    def _run(self) -> None:
        with httpx.Client(timeout=10) as client:
            while not self._stop.is_set():
                n = str(next(self._numbers))
                phase = self.phase
                try:
                    reply = client.get(self.url, params={"job": "echo", "n": n, "attempts": "5"})
                except httpx.TransportError as exc:
                    with self._lock:
                        self.other.append(f"n={n}: {exc!r}")
                    continue
                with self._lock:
                    if reply.status_code == 200:
                        self.accepted[reply.json()["id"]] = n
                    elif reply.status_code == 503:
                        self.refused.append(reply)
                    else:
                        self.other.append(f"n={n}: {reply.status_code} {reply.text}")
                    key = f"{phase} {reply.status_code}"
                    self.counts[key] = self.counts.get(key, 0) + 1
                time.sleep(0.002)

    def wait(self, answers: str, count: int, seconds: float = 15) -> None:
        """Until `count` answers of kind `answers` ("<phase> <status>") came back."""
        deadline = time.monotonic() + seconds
        while self.counts.get(answers, 0) < count:
            assert not self.other, self.other[:5]
            assert time.monotonic() < deadline, f"waiting for {count} x {answers}: {self.counts}"
            time.sleep(0.02)


def test_no_accepted_job_is_lost_when_queue_redis_goes_away_under_load(
    make_project,
    serve,
    tcp_proxy,
    redis_url: str,
    arq_keys: str,
) -> None:  # type: ignore[no-untyped-def]
    proxy = tcp_proxy(target(redis_url))
    queue = {
        "driver": "arq",
        "prefix": arq_keys,
        "redis": {"url": proxy.url(redis_url)},
        "poll_delay_ms": 10,
        "default_backoff_ms": 100,
        # A job whose result could not be stored (Redis went away as it finished) runs again once its
        # lease (job timeout + grace) expires: short here, as for any short job.
        "job_timeout_ms": 2000,
        "lease_grace_ms": 500,
    }
    project = make_project(
        {
            "gingee.json": {"queue": queue},
            "settings/permissions.json": {"shop": {"granted": ["queue"]}},
            "web/shop/box/app.json": {"name": "shop"},
            "web/shop/box/pmft.json": {"permissions": {"mandatory": ["queue"]}},
            "web/shop/box/enqueue.py": ENQUEUE,
            "web/shop/box/wait.py": WAIT,
            "web/shop/box/jobs/echo.py": ECHO,
        }
    )
    worker = WorkerProcess(project)
    try:
        worker.wait_for(READY)
        server = serve(project, dev=False)
        _enqueue_through_an_outage_and_check(server, proxy, worker)
    finally:
        worker.stop()


def _enqueue_through_an_outage_and_check(server, proxy, worker: WorkerProcess) -> None:  # type: ignore[no-untyped-def]
    """Load before, during and after the outage; then every accepted job's outcome."""
    with Load(server.url("/shop/enqueue")) as load:
        load.wait("before 200", PHASE)
        load.phase = "down"
        sever(proxy)
        load.wait("down 503", OUTAGE)
        load.phase = "after"
        proxy.restore()
        load.wait("after 200", PHASE)
    assert not load.other, load.other[:5]  # never a 500, never a dropped connection
    assert load.refused, "no enqueue was refused while Redis was away"
    for reply in load.refused:
        assert_unavailable(reply)

    with httpx.Client(timeout=30) as client:

        def outcome(job_id: str) -> object:
            reply = client.get(server.url("/shop/wait"), params={"id": job_id})
            return reply.json() if reply.status_code == 200 else f"{reply.status_code}: {reply.text}"

        ids = sorted(load.accepted)
        with ThreadPoolExecutor(8) as pool:
            results = dict(zip(ids, pool.map(outcome, ids), strict=True))
        lost = {i: r for i, r in results.items() if r != {"result": {"n": load.accepted[i]}}}
        assert lost == {}, (
            f"{len(lost)} of {len(ids)} accepted jobs did not run to their result: {list(lost.items())[:5]}\n"
            f"worker output:\n{worker.output()[-4000:]}"
        )
        stats = client.get(server.url("/_gingee/api/queue/shop")).json()
    assert stats["dead"] == 0, stats
    print(f"accepted {len(ids)} ({load.counts}), refused {len(load.refused)}, all ran")


ADD = """
from gingee_kernel import queue

async def handle(g):
    job = await queue.add("echo", {"n": "1"})
    return {"id": job.id, "created": job.created}
"""
KNOWN = """
from gingee_kernel import queue

async def handle(g):
    job = await queue.get(g.request.query["id"])
    return {"known": job is not None}
"""


class ExecDropProxy(TcpProxy):
    """A TcpProxy that, once armed, drops the connection carrying the next MULTI/EXEC transaction instead
    of forwarding it: Redis never sees the transaction, the client sees its connection go away."""

    def __init__(self, target: tuple[str, int]) -> None:
        super().__init__(target)
        self.armed = threading.Event()
        self.dropped = threading.Event()

    def _pipe(self, source: socket.socket, sink: socket.socket) -> None:
        if sink.getpeername() != self.target:
            return super()._pipe(source, sink)
        try:  # client -> Redis: the direction that carries the EXEC
            while True:
                data = source.recv(65536)
                if not data:
                    break
                if self.armed.is_set() and b"\r\nEXEC\r\n" in data:
                    self.armed.clear()
                    self.dropped.set()
                    break
                sink.sendall(data)
        except OSError:
            pass
        finally:
            for sock in (source, sink):
                with contextlib.suppress(OSError):
                    sock.shutdown(socket.SHUT_RDWR)
                with contextlib.suppress(OSError):
                    sock.close()
                with self._lock:
                    self._open.discard(sock)


def test_an_enqueue_whose_transaction_never_reached_redis_is_not_accepted(
    make_project, serve, redis_url: str, arq_keys: str
) -> None:  # type: ignore[no-untyped-def]
    """The connection breaks as `queue.add` sends its MULTI/EXEC: the job was not written, so the add must
    fail (503, retry) rather than answer an id nobody will ever run. (redis-py turns a connection error
    in a WATCHed transaction into WatchError, which arq's enqueue_job reads as "that id is already
    taken" and answers None; Gingee then returns a handle with created=False.)"""
    proxy = ExecDropProxy(target(redis_url))
    try:
        queue = {"driver": "arq", "prefix": arq_keys, "redis": {"url": proxy.url(redis_url)}}
        project = make_project(
            {
                "gingee.json": {"queue": queue},
                "settings/permissions.json": {"shop": {"granted": ["queue"]}},
                "web/shop/box/app.json": {"name": "shop"},
                "web/shop/box/add.py": ADD,
                "web/shop/box/known.py": KNOWN,
                "web/shop/box/jobs/echo.py": ECHO,
            }
        )
        server = serve(project, dev=False)
        with httpx.Client(timeout=10) as client:
            first = client.get(server.url("/shop/add"))
            assert first.status_code == 200 and first.json()["created"] is True, first.text
            proxy.armed.set()
            reply = client.get(server.url("/shop/add"))
            assert proxy.dropped.is_set(), "the enqueue's transaction never passed the proxy"
            if reply.status_code == 200:  # accepted: then the job must exist
                known = client.get(server.url("/shop/known"), params={"id": reply.json()["id"]}).json()
                assert known == {"known": True}, f"accepted {reply.json()}, but the queue has no such job"
            else:
                assert_unavailable(reply)
            after = client.get(server.url("/shop/add"))  # and the next one goes through
            assert after.status_code == 200 and after.json()["created"] is True, after.text
    finally:
        proxy.close()
