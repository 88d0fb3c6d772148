"""The queue across a Redis Sentinel failover: what is acknowledged, run, lost, duplicated and refused.

Each scenario starts a fresh topology (tests/fixtures/sentinel.py: a master, a replica, three sentinels on
free loopback ports), a `gingee worker` on a one-app project whose queue URL is `redis+sentinel://...`, and
loads the same project in this process to enqueue. Jobs are enqueued one after the other (`queue.add`,
one every 2 ms); after 1 s the master is failed over, and enqueueing goes on until 200 jobs were
acknowledged after the sentinels agreed on the new master. Each job appends its id to a file. Then the
script waits (up to 20 s) for every acknowledged job to run and prints:

  acknowledged  enqueues that returned; run: distinct ids in the file; lost: acknowledged, never run
  duplicates    runs beyond the first of an id; refused: enqueues that raised ServiceUnavailable, and the
                time from the first refusal to the last one (ms)

Scenarios: (a) `SENTINEL FAILOVER` (graceful), (a+) the same with the master started with
`min-replicas-to-write 1` (it refuses writes once its replica left it), (aw) the same with gingee.json
`queue.redis.wait_replicas 1` (an enqueue counts once the replica confirmed it), (b) SIGKILL of the
master, (bw) SIGKILL with `wait_replicas 1`.

Usage: python bench/redis_failover.py [--scenarios a,a+,aw,b,bw]  (needs redis-server, Debian's by default)
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import sys
import tempfile
import threading
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))

from gingee_kernel import queue  # noqa: E402
from gingee_kernel.engine.context import app_context  # noqa: E402
from gingee_kernel.engine.project import Project  # noqa: E402
from gingee_kernel.errors import ServiceUnavailable  # noqa: E402
from gingee_kernel.jobqueue.service import close_service, start_project_queue  # noqa: E402
from tests.fixtures.sentinel import SentinelTopology, running_topology  # noqa: E402
from tests.fixtures.servers import write_files  # noqa: E402
from tests.jobqueue.workers import READY, WorkerProcess  # noqa: E402

#: Seconds a scenario enqueues at most (with wait_replicas 1 and the only replica gone, every enqueue is
#: refused until a replica is back).
LIMIT = 40.0

RECORD = """
async def handle(g):
    with open(g.job.payload["log"], "a") as log:
        log.write(g.job.id + "\\n")
"""


def project(root: Path, url: str, wait: int) -> Path:
    """A one-app arq project on `url` (`wait`: queue.redis.wait_replicas)."""
    queue_settings = {"driver": "arq", "prefix": "bench:", "redis": {"url": url, "wait_replicas": wait},
                      "poll_delay_ms": 10, "concurrency": 20}  # fmt: skip
    return write_files(root, {
        "gingee.json": {"queue": queue_settings},
        "settings/permissions.json": {"shop": {"granted": ["queue"]}},
        "web/shop/box/app.json": {"name": "shop"},
        "web/shop/box/jobs/record.py": RECORD,
    })  # fmt: skip


async def scenario(topology: SentinelTopology, action: str, workdir: Path, wait: int) -> dict[str, float]:
    """Stream jobs through `action` ("failover" or "kill"); the figures."""
    path = project(workdir / "project", topology.url, wait)
    log = workdir / "ran.log"
    worker = WorkerProcess(path)
    worker.wait_for(READY)
    loaded = Project(path)
    await loaded.load()
    await start_project_queue(loaded)
    acked: list[str] = []
    refusals: list[float] = []
    switch = threading.Thread(target=topology.failover if action == "failover" else topology.kill_master)
    started, after, n = time.monotonic(), 0, 0
    try:
        with app_context(loaded.apps["shop"]):
            while after < 200 and time.monotonic() - started < LIMIT:
                if not switch.is_alive() and time.monotonic() - started > 1 and switch.ident is None:
                    switch.start()
                try:
                    job = await queue.add("record", {"log": str(log)}, job_id=f"j{n}")
                    acked.append(job.id)
                    after += switch.ident is not None and not switch.is_alive()
                except ServiceUnavailable:
                    refusals.append(time.monotonic())
                n += 1
                await asyncio.sleep(0.002)
        switch.join(30)
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            runs = log.read_text().split() if log.exists() else []
            if set(acked) <= set(runs):
                break
            await asyncio.sleep(0.1)
    finally:
        await close_service(loaded.shared, drain=1)
        await loaded.close()
        worker.stop()
    runs = log.read_text().split() if log.exists() else []
    return {
        "acknowledged": len(acked),
        "run": len(set(runs)),
        "lost": len(set(acked) - set(runs)),
        "duplicates": len(runs) - len(set(runs)),
        "refused": len(refusals),
        "refused_ms": round((refusals[-1] - refusals[0]) * 1000) if refusals else 0,
    }


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--scenarios", default="a,a+,aw,b,bw")
    args = parser.parse_args()
    logging.basicConfig(level=logging.CRITICAL)
    names = {"a": ("graceful SENTINEL FAILOVER", "failover", False, 0),
             "a+": ("graceful, master with min-replicas-to-write 1", "failover", True, 0),
             "aw": ("graceful, queue.redis.wait_replicas 1", "failover", False, 1),
             "b": ("SIGKILL of the master", "kill", False, 0),
             "bw": ("SIGKILL of the master, queue.redis.wait_replicas 1", "kill", False, 1)}  # fmt: skip
    for key in args.scenarios.split(","):
        title, action, guarded, wait = names[key]
        with running_topology(guarded=guarded) as topology, tempfile.TemporaryDirectory() as tmp:
            figures = await scenario(topology, action, Path(tmp), wait)
        print(f"({key}) {title}: " + ", ".join(f"{k} {v}" for k, v in figures.items()), flush=True)


if __name__ == "__main__":
    asyncio.run(main())
