"""End-to-end job throughput: raw arq versus Gingee's queue on the arq driver (same Redis, same worker
settings, one run each), and Gingee's memory driver.

Each arq case starts one worker process and waits until it is ready: `arq`'s own `Worker` running a no-op
coroutine (this script with --raw-worker), or `gingee worker` on a one-app project whose job
`box/jobs/noop.py` does nothing. Then the clock starts: 5,000 jobs are enqueued from this process (50 at
a time: `ArqRedis.enqueue_job` for raw arq, `queue.add` inside the app for Gingee) and the run ends when
the queue's sorted set is empty, i.e. every job finished; the results are counted. The memory driver runs
its jobs in this process. Also printed: one job's latency (enqueue to result, idle worker, median of 20).

Usage: python bench/queue_throughput.py [--jobs 5000] [--concurrency 50] [--poll-delay-ms 20] [--rounds 1]
                                        [--redis redis://127.0.0.1:6379/9]
With --rounds N, raw arq and Gingee alternate N times and the medians (and the median per-round ratio)
are reported: use it on a shared, noisy machine.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import os
import signal
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))

from gingee_kernel import queue  # noqa: E402
from gingee_kernel.engine.context import app_context  # noqa: E402
from gingee_kernel.engine.project import Project  # noqa: E402
from gingee_kernel.jobqueue.service import close_service, start_project_queue  # noqa: E402

GOAL_RATIO = 0.9
GOAL_RATE = 1000
ENQUEUE_AT_ONCE = 50


async def noop(ctx: dict) -> None:
    """The raw arq job."""


def raw_worker(queue_name: str, url: str, poll_delay: float, max_jobs: int) -> None:
    """`--raw-worker`: arq's Worker with the given settings (arq's defaults otherwise)."""
    from arq.connections import RedisSettings
    from arq.worker import Worker

    logging.basicConfig(level=logging.WARNING)

    async def ready(ctx: dict) -> None:
        print("ready", flush=True)

    worker = Worker(
        [noop], queue_name=queue_name, redis_settings=RedisSettings.from_dsn(url), poll_delay=poll_delay,
        max_jobs=max_jobs, on_startup=ready, log_results=False,
    )  # fmt: skip
    worker.run()


def start(cmd: list[str], ready: str) -> subprocess.Popen[str]:
    """Start a worker process and wait for `ready` on its stdout."""
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True,
                            env={**os.environ, "PYTHONUNBUFFERED": "1"})  # fmt: skip
    assert proc.stdout is not None
    for line in proc.stdout:
        if ready in line:
            return proc
    raise SystemExit(f"worker {cmd} exited before it was ready")


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of a process so far (Linux /proc)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def stop(proc: subprocess.Popen[str]) -> None:
    proc.send_signal(signal.SIGTERM)
    try:
        proc.wait(30)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()


async def drained(redis: object, key: str) -> None:
    while await redis.zcard(key):  # type: ignore[attr-defined]
        await asyncio.sleep(0.002)


async def gather_limited(calls: list, limit: int = ENQUEUE_AT_ONCE) -> list:
    gate = asyncio.Semaphore(limit)

    async def one(call):  # type: ignore[no-untyped-def]
        async with gate:
            return await call()

    return await asyncio.gather(*(one(c) for c in calls))


async def bench_raw(args: argparse.Namespace, prefix: str) -> tuple[float, float]:
    from arq.connections import RedisSettings, create_pool

    name = f"{prefix}raw"
    proc = start([sys.executable, __file__, "--raw-worker", name, args.redis, str(args.poll_delay_ms / 1000),
                  str(args.concurrency)], "ready")  # fmt: skip
    pool = await create_pool(RedisSettings.from_dsn(args.redis), default_queue_name=name)
    try:
        cpu = cpu_seconds(proc.pid)
        began = time.perf_counter()
        calls = [lambda n=n: pool.enqueue_job("noop", _job_id=f"{prefix}raw:{n}") for n in range(args.jobs)]
        jobs = await gather_limited(calls)
        await drained(pool, name)
        elapsed = time.perf_counter() - began
        cpu = cpu_seconds(proc.pid) - cpu
        results = len([k async for k in pool.scan_iter(match=f"arq:result:{prefix}raw:*", count=1000)])
        assert all(jobs) and results == args.jobs, (results, args.jobs)
        return args.jobs / elapsed, cpu / args.jobs
    finally:
        await pool.aclose()
        stop(proc)


def write_project(root: Path, driver: dict) -> Path:
    files = {
        "gingee.json": {"queue": driver},
        "settings/permissions.json": {"bench": {"granted": ["queue"]}},
        "web/bench/box/app.json": {"name": "bench"},
        "web/bench/box/jobs/noop.py": "async def handle(g):\n    return None\n",
    }
    for rel, content in files.items():
        path = root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(content if isinstance(content, str) else json.dumps(content))
    return root


async def latency(app: object) -> float:
    """Median seconds from add to result for one job at a time (idle worker)."""
    samples = []
    with app_context(app):  # type: ignore[arg-type]
        for _ in range(20):
            began = time.perf_counter()
            await (await queue.add("noop")).result(timeout=30)
            samples.append(time.perf_counter() - began)
    return statistics.median(samples)


async def bench_gingee_arq(args: argparse.Namespace, prefix: str, root: Path) -> tuple[float, float, float]:
    settings = {"driver": "arq", "prefix": prefix, "redis": {"url": args.redis},
                "concurrency": args.concurrency, "poll_delay_ms": args.poll_delay_ms}  # fmt: skip
    project_dir = write_project(root / "arq", settings)
    cli = [sys.executable, "-m", "gingee_kernel.cli", "--log-level", "warning", "worker", str(project_dir)]
    proc = start(cli, "gingee worker: running jobs")
    project = Project(project_dir)
    await project.load()
    service = await start_project_queue(project)  # enqueue only, as `gingee serve` does with arq
    app = project.apps["bench"]
    redis = service.driver.redis  # type: ignore[attr-defined]
    try:
        cpu = cpu_seconds(proc.pid)
        with app_context(app):
            began = time.perf_counter()
            handles = await gather_limited(
                [lambda n=n: queue.add("noop", None, job_id=f"n{n}") for n in range(args.jobs)]
            )
        await drained(redis, f"{prefix}bench")
        elapsed = time.perf_counter() - began
        cpu = cpu_seconds(proc.pid) - cpu
        results = len([k async for k in redis.scan_iter(match=f"arq:result:{prefix}bench:n*", count=1000)])
        assert all(h.created for h in handles) and results == args.jobs, (results, args.jobs)
        return args.jobs / elapsed, cpu / args.jobs, await latency(app)
    finally:
        await close_service(project.shared)
        await project.close()
        stop(proc)


async def bench_memory(args: argparse.Namespace, root: Path) -> tuple[float, float]:
    project_dir = write_project(root / "memory", {"driver": "memory", "concurrency": args.concurrency})
    project = Project(project_dir)
    await project.load()
    await start_project_queue(project)
    app = project.apps["bench"]
    try:
        with app_context(app):
            began = time.perf_counter()
            handles = await gather_limited([lambda: queue.add("noop") for _ in range(args.jobs)])
            for handle in handles:
                await handle.result(timeout=60)
            elapsed = time.perf_counter() - began
        return args.jobs / elapsed, await latency(app)
    finally:
        await close_service(project.shared)
        await project.close()


async def cleanup(url: str, prefix: str) -> None:
    from redis.asyncio import Redis

    redis = Redis.from_url(url)
    try:
        for pattern in (f"{prefix}*", f"arq:*:{prefix}*"):
            keys = [k async for k in redis.scan_iter(match=pattern, count=1000)]
            for start_at in range(0, len(keys), 1000):
                await redis.delete(*keys[start_at : start_at + 1000])
    finally:
        await redis.aclose()


async def main(args: argparse.Namespace) -> int:
    logging.basicConfig(level=logging.WARNING)
    print(f"{args.jobs} no-op jobs; worker settings: concurrency (arq max_jobs) {args.concurrency}, "
          f"poll_delay {args.poll_delay_ms} ms; Redis {args.redis}; one worker process")  # fmt: skip
    raws, ours, ratios = [], [], []
    for round_no in range(1, args.rounds + 1):
        prefix = f"gingee-bench:{uuid.uuid4().hex[:8]}:"
        try:
            with tempfile.TemporaryDirectory() as tmp:
                raw, raw_cpu = await bench_raw(args, prefix)
                mine, my_cpu, latency_s = await bench_gingee_arq(args, prefix, Path(tmp))
        finally:
            await cleanup(args.redis, prefix)
        raws.append(raw)
        ours.append(mine)
        ratios.append(mine / raw)
        print(f"round {round_no}: raw arq {raw:6.0f} jobs/s, gingee arq driver {mine:6.0f} jobs/s "
              f"(ratio {mine / raw:.2f}), one job {latency_s * 1000:.1f} ms; worker CPU per job: raw "
              f"{raw_cpu * 1e6:.0f} us, gingee {my_cpu * 1e6:.0f} us", flush=True)  # fmt: skip
    with tempfile.TemporaryDirectory() as tmp:
        memory, memory_latency = await bench_memory(args, Path(tmp))
    raw, mine, ratio = statistics.median(raws), statistics.median(ours), statistics.median(ratios)
    print(f"raw arq            {raw:8.0f} jobs/s" + (" (median)" if args.rounds > 1 else ""))
    print(f"gingee, arq driver {mine:8.0f} jobs/s   ratio {ratio:.2f} of raw arq (goal >= {GOAL_RATIO})")
    print(f"gingee, memory     {memory:8.0f} jobs/s   one job {memory_latency * 1000:.2f} ms")
    ok = ratio >= GOAL_RATIO and mine >= GOAL_RATE
    print("goals met" if ok else f"goal missed: want >= {GOAL_RATIO} of raw arq and >= {GOAL_RATE} jobs/s")
    return 0 if ok else 1


if __name__ == "__main__":
    if len(sys.argv) > 1 and sys.argv[1] == "--raw-worker":
        raw_worker(sys.argv[2], sys.argv[3], float(sys.argv[4]), int(sys.argv[5]))
        sys.exit(0)
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--jobs", type=int, default=5000)
    parser.add_argument("--concurrency", type=int, default=50, help="arq max_jobs / queue.concurrency")
    parser.add_argument("--poll-delay-ms", type=float, default=20)
    parser.add_argument("--rounds", type=int, default=1, help="alternating rounds; medians are reported")
    parser.add_argument(
        "--redis", default=os.environ.get("GINGEE_BENCH_REDIS_URL", "redis://127.0.0.1:6379/9")
    )
    sys.exit(asyncio.run(main(parser.parse_args())))
