"""Soak: mixed HTTP, websocket and queue load against `gingee serve --workers 2` on Redis for minutes,
watching every server process for memory, file descriptor and Redis connection growth.

    python bench/soak.py [--minutes 10] [--interval 60] [--warmup 60] [--redis redis://127.0.0.1:6379/9]
                         [--http-clients 8] [--ws-clients 8] [--json]

It writes a one-app project to a temporary folder (queue driver arq, cache driver redis, websocket fan-out
redis, every key and channel under a prefix unique to the run, every Redis connection named after the
run), starts `gingee serve PROJECT --workers 2` on a free 127.0.0.1 port and `gingee worker PROJECT` to run
the jobs, waits for `/_gingee/health` and for both workers to answer, then for `--minutes` drives:

- `--http-clients` keep-alive HTTP clients (httpx), alternating `GET /soak/hit` (a cache incr) and
  `POST /soak/echo` (a JSON body echoed), each opening a new connection now and then;
- `--ws-clients` websocket clients (tornado): send a message, wait for its echo, reconnect now and then;
  they also count the broadcasts a broadcaster sends through `POST /soak/broadcast` (Redis fan-out);
- an enqueuer: `GET /soak/enqueue?n=N` adds job `record`, whose script (run by `gingee worker`) counts
  its run in the cache under `ran:N`.

Every `--interval` seconds (and at the end of `--warmup`) it prints a row: elapsed time, RSS and open file
descriptors of every process (the serve master, each worker, the job worker; from /proc), the Redis
connections named after the run (CLIENT LIST), HTTP requests, websocket round trips and jobs enqueued in
the interval, errors, and the interval's p99 latency of HTTP requests and websocket round trips.

At the end it stops the load, waits for every acknowledged job to have run, checks the queue's dead-letter
count and that one broadcast reaches listeners on both workers, stops the server (it must exit 0), prints a
summary and exits 1 if any error happened (non-2xx, transport error, websocket failure, a job not run), if
a process's RSS grew more than 10% from the end of warm-up to the end, if its open fds or the Redis
connections grew by more than 20 over that time, or if a process was replaced. `--json` also prints the
rows and the summary as one JSON line.
"""

from __future__ import annotations

import argparse
import asyncio
import itertools
import json
import os
import random
import re
import sys
import tempfile
import time
import uuid
from collections.abc import Iterable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import httpx
import redis.asyncio as aioredis
from tornado.websocket import WebSocketClientConnection, websocket_connect

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _servers import ServerProcess, free_port, gingee_command

APP = "soak"
RSS_GROWTH_LIMIT = 0.10  # a process's RSS may grow this much (fraction) after warm-up
COUNT_GROWTH_LIMIT = 20  # open fds of a process, or the run's Redis connections, may grow this much
HTTP_PAUSE = 0.01  # seconds between one HTTP client's requests
HTTP_RECONNECT_EVERY = (200, 800)  # requests on one connection before a new one
WS_PAUSE = 0.02  # seconds between one websocket client's messages
WS_RECONNECT_EVERY = (50, 300)  # round trips on one connection before a new one
ENQUEUE_PAUSE = 0.05  # seconds between enqueues
BROADCAST_PAUSE = 0.5  # seconds between broadcasts
TIMEOUT = 10.0  # seconds any single request or echo may take
JOBS_TIMEOUT = 60.0  # seconds, after the load stops, for every job to have run
START_TIMEOUT = 60.0
EXAMPLES_KEPT = 5  # error messages kept per kind
WORKER = re.compile(r"w\d+")  # the labels of gingee serve's workers

HIT = """
import os
from gingee_kernel import cache

async def handle(g):
    return {"pid": os.getpid(), "hits": await cache.incr("hits", ttl=3600)}
"""

ECHO = """
async def handle(g):
    return {"echo": g.request.body}
"""

ENQUEUE = """
from gingee_kernel import queue

async def handle(g):
    n = int(g.request.query["n"])
    job = await queue.add("record", {"n": n}, job_id=f"n{n}", attempts=3)
    return {"id": job.id, "created": job.created}
"""

BROADCAST = """
from gingee_kernel import websockets

async def handle(g):
    sent = await websockets.to_room("soak", {"type": "broadcast", "seq": g.request.body["seq"]})
    return {"delivered_here": sent}
"""

RECORD = """
from gingee_kernel import cache

async def handle(g):
    await cache.incr(f"ran:{g.job.payload['n']}", ttl=3600)
"""

WS_HANDLER = """
import os

async def handle(socket, ctx):
    socket.join("soak")
    socket.send({"type": "hello", "pid": os.getpid()})

    @socket.on_message
    def echo(message):
        socket.send(message)
"""


# --- the project and the processes -------------------------------------------------------------------


@dataclass(frozen=True)
class Run:
    """What names this run's data in Redis."""

    redis_url: str
    tag: str  # hex, unique per run

    @property
    def prefix(self) -> str:
        """The start of every key and channel of the run."""
        return f"gingee-soak:{self.tag}:"

    @property
    def client_name(self) -> str:
        """The CLIENT SETNAME of every Redis connection the servers open."""
        return f"gingee-soak-{self.tag}"

    @property
    def named_url(self) -> str:
        """`redis_url` with `client_name` set (redis-py reads it from the query string)."""
        sep = "&" if "?" in self.redis_url else "?"
        return f"{self.redis_url}{sep}client_name={self.client_name}"

    @property
    def cache_prefix(self) -> str:
        return self.prefix + "c:"


def write_project(root: Path, run: Run, clients: int) -> Path:
    """The soak project: gingee.json on Redis, one app with its routes, job and websocket handler."""
    redis = {"url": run.named_url}
    files: dict[str, Any] = {
        "gingee.json": {
            "logging": {"level": "warning"},
            "limits": {
                "max_concurrent_requests": max(100, 4 * clients),
                "max_concurrent_requests_per_app": max(25, 2 * clients),
            },
            "queue": {"driver": "arq", "prefix": run.prefix + "q:", "redis": redis},
            "cache": {"driver": "redis", "prefix": run.cache_prefix, "redis": redis},
            "websockets": {
                "fanout": {"driver": "redis", "redis": redis, "channel_prefix": run.prefix + "ws:"}
            },
        },
        "settings/permissions.json": {APP: {"granted": ["cache", "queue", "websockets"]}},
        f"web/{APP}/box/app.json": {"name": APP, "websockets": {"path": "/ws", "handler": "ws.py"}},
        f"web/{APP}/box/hit.py": HIT,
        f"web/{APP}/box/echo.py": ECHO,
        f"web/{APP}/box/enqueue.py": ENQUEUE,
        f"web/{APP}/box/broadcast.py": BROADCAST,
        f"web/{APP}/box/jobs/record.py": RECORD,
        f"web/{APP}/box/ws.py": WS_HANDLER,
    }
    for rel, content in files.items():
        path = root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(content if isinstance(content, str) else json.dumps(content, indent=2))
    return root


def child_pids(parent: int) -> list[int]:
    """The processes whose parent is `parent` (from /proc), sorted."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            ppid = int((entry / "stat").read_text().rpartition(")")[2].split()[1])
        except (OSError, ValueError, IndexError):
            continue
        if ppid == parent:
            found.append(int(entry.name))
    return sorted(found)


def rss_kib(pid: int) -> int | None:
    """Resident set size of a process in KiB; None once it is gone."""
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    except OSError:
        return None
    return None


def fd_count(pid: int) -> int | None:
    """Open file descriptors of a process; None once it is gone."""
    try:
        return len(os.listdir(f"/proc/{pid}/fd"))
    except OSError:
        return None


def wait_for_log(process: ServerProcess, text: str, timeout: float = START_TIMEOUT) -> None:
    """Wait until `text` appears in a process's log; SystemExit with the log if it exits or times out."""
    deadline = time.monotonic() + timeout
    while text not in process.output(1_000_000):
        if process.exited() or time.monotonic() > deadline:
            raise SystemExit(f"{process.name} did not say {text!r}:\n{process.output()}")
        time.sleep(0.1)


async def wait_for_server(server: ServerProcess, workers: int) -> list[int]:
    """Wait for /_gingee/health, then until each of `workers` worker processes answered `/soak/hit`; their
    pids."""
    base = f"http://127.0.0.1:{server.port}"
    deadline = time.monotonic() + START_TIMEOUT
    seen: set[int] = set()
    while True:
        if server.exited() or time.monotonic() > deadline:
            raise SystemExit(f"gingee serve did not start ({len(seen)} workers answered):\n{server.output()}")
        try:
            async with httpx.AsyncClient(timeout=2) as client:  # a new connection each time
                if (await client.get(f"{base}/_gingee/health")).status_code == 200:
                    reply = await client.get(f"{base}/{APP}/hit")
                    if reply.status_code == 200:
                        seen.add(int(reply.json()["pid"]))
        except httpx.TransportError:
            pass
        children = child_pids(server.process.pid)
        if len(children) >= workers and seen >= set(children):
            return children
        await asyncio.sleep(0.05)


# --- load and its accounting -------------------------------------------------------------------------


def percentile(values: list[float], fraction: float) -> float | None:
    """The `fraction` percentile of `values` (nearest rank); None when there are none."""
    if not values:
        return None
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(fraction * len(ordered)) - 1))]


@dataclass
class Interval:
    """What happened since the last row."""

    http: list[float] = field(default_factory=list)  # latencies, seconds
    ws: list[float] = field(default_factory=list)
    jobs: int = 0
    errors: int = 0


@dataclass
class Stats:
    """Counters shared by every client, and the current interval."""

    http: int = 0
    ws: int = 0
    ws_connects: int = 0
    broadcasts_sent: int = 0
    broadcasts_received: int = 0
    errors: dict[str, int] = field(default_factory=dict)
    examples: dict[str, list[str]] = field(default_factory=dict)
    enqueued: set[int] = field(default_factory=set)  # job numbers the server acknowledged
    pids_http: dict[int, int] = field(default_factory=dict)  # worker pid: /soak/hit answers
    pids_ws: dict[int, int] = field(default_factory=dict)  # worker pid: websocket connections
    interval: Interval = field(default_factory=Interval)

    def error(self, kind: str, detail: str) -> None:
        """Count one error of `kind`, keeping the first few details."""
        self.errors[kind] = self.errors.get(kind, 0) + 1
        self.interval.errors += 1
        kept = self.examples.setdefault(kind, [])
        if len(kept) < EXAMPLES_KEPT:
            kept.append(detail[:300])

    def take_interval(self) -> Interval:
        """The interval so far; a new one starts."""
        done, self.interval = self.interval, Interval()
        return done


async def request(
    stats: Stats, client: httpx.AsyncClient, kind: str, method: str, url: str, **kwargs: Any
) -> dict[str, Any] | None:
    """One HTTP request, timed and counted; its JSON body, or None after counting an error."""
    began = time.perf_counter()
    try:
        reply = await client.request(method, url, **kwargs)
    except httpx.HTTPError as exc:
        stats.error(f"{kind} transport", f"{method} {url}: {type(exc).__name__}: {exc}")
        return None
    stats.interval.http.append(time.perf_counter() - began)
    stats.http += 1
    if not 200 <= reply.status_code < 300:
        stats.error(f"{kind} {reply.status_code}", f"{method} {url}: {reply.text[:200]}")
        return None
    try:
        return reply.json()
    except ValueError:
        stats.error(f"{kind} body", f"{method} {url}: not JSON: {reply.text[:200]}")
        return None


def new_http_client() -> httpx.AsyncClient:
    """An HTTP client holding one keep-alive connection."""
    return httpx.AsyncClient(timeout=TIMEOUT, limits=httpx.Limits(max_connections=1))


async def http_client(stats: Stats, base: str, stop: asyncio.Event) -> None:
    """Alternate `GET /soak/hit` and `POST /soak/echo` until `stop`, on a new connection now and then."""
    count = 0
    while not stop.is_set():
        async with new_http_client() as client:
            for _ in range(random.randint(*HTTP_RECONNECT_EVERY)):
                if stop.is_set():
                    break
                count += 1
                if count % 2:
                    body = await request(stats, client, "http", "GET", f"{base}/{APP}/hit")
                    if body is not None:
                        pid = int(body["pid"])
                        stats.pids_http[pid] = stats.pids_http.get(pid, 0) + 1
                else:
                    sent = {"n": count, "text": "x" * random.randint(0, 2000)}
                    body = await request(stats, client, "http", "POST", f"{base}/{APP}/echo", json=sent)
                    if body is not None and body.get("echo") != sent:
                        stats.error("http echo", f"sent {str(sent)[:80]}, got {str(body)[:80]}")
                await asyncio.sleep(HTTP_PAUSE)


async def enqueuer(stats: Stats, base: str, stop: asyncio.Event) -> None:
    """Enqueue job `record` with a new number every ENQUEUE_PAUSE until `stop`."""
    async with new_http_client() as client:
        for n in itertools.count():
            if stop.is_set():
                return
            body = await request(stats, client, "enqueue", "GET", f"{base}/{APP}/enqueue", params={"n": n})
            if body is not None:
                if body.get("created"):
                    stats.enqueued.add(n)
                    stats.interval.jobs += 1
                else:
                    stats.error("enqueue not created", f"job {n}: {body}")
            await asyncio.sleep(ENQUEUE_PAUSE)


async def broadcaster(stats: Stats, base: str, stop: asyncio.Event) -> None:
    """Broadcast to the websocket room every BROADCAST_PAUSE until `stop`."""
    async with new_http_client() as client:
        for seq in itertools.count():
            if stop.is_set():
                return
            if await request(
                stats, client, "broadcast", "POST", f"{base}/{APP}/broadcast", json={"seq": seq}
            ):
                stats.broadcasts_sent += 1
            await asyncio.sleep(BROADCAST_PAUSE)


async def ws_connect(url: str) -> tuple[WebSocketClientConnection, int]:
    """A websocket connection and the pid of the worker that holds it (from the handler's hello)."""
    conn = await asyncio.wait_for(websocket_connect(url), TIMEOUT)
    hello = await asyncio.wait_for(conn.read_message(), TIMEOUT)
    if not isinstance(hello, str) or json.loads(hello).get("type") != "hello":
        conn.close()
        raise ConnectionError(f"expected the handler's hello, got {hello!r}")
    return conn, int(json.loads(hello)["pid"])


async def ws_echo(stats: Stats, conn: WebSocketClientConnection, seq: int) -> None:
    """Send one message and wait for its echo (counting broadcasts that arrive meanwhile)."""
    sent = json.dumps({"type": "echo", "seq": seq, "pad": "y" * random.randint(0, 500)})
    began = time.perf_counter()
    await conn.write_message(sent)
    while True:
        message = await asyncio.wait_for(conn.read_message(), TIMEOUT)
        if message is None:
            raise ConnectionError(f"closed by the server ({conn.close_code} {conn.close_reason})")
        if message == sent:
            break
        if isinstance(message, str) and json.loads(message).get("type") == "broadcast":
            stats.broadcasts_received += 1
        else:
            raise ValueError(f"expected the echo of {seq}, got {str(message)[:100]}")
    stats.interval.ws.append(time.perf_counter() - began)
    stats.ws += 1


async def ws_client(stats: Stats, url: str, stop: asyncio.Event) -> None:
    """Round trips on a websocket until `stop`, on a new connection now and then."""
    seq = 0
    while not stop.is_set():
        try:
            conn, pid = await ws_connect(url)
        except Exception as exc:  # OSError, a timeout, tornado's HTTPClientError for a refused upgrade...
            stats.error("ws connect", f"{type(exc).__name__}: {exc}")
            await asyncio.sleep(1)
            continue
        stats.ws_connects += 1
        stats.pids_ws[pid] = stats.pids_ws.get(pid, 0) + 1
        try:
            for _ in range(random.randint(*WS_RECONNECT_EVERY)):
                if stop.is_set():
                    break
                seq += 1
                await ws_echo(stats, conn, seq)
                await asyncio.sleep(WS_PAUSE)
        except Exception as exc:  # a timeout, a close, an unexpected message, tornado's WebSocketClosedError
            stats.error("ws round trip", f"{type(exc).__name__}: {exc}")
        finally:
            conn.close()


# --- samples, rows and the rules ---------------------------------------------------------------------


@dataclass
class Usage:
    """Resources at one moment: per process label (master, w1, w2, worker) and the run's Redis connections."""

    rss_kib: dict[str, int]
    fds: dict[str, int]
    redis_connections: int
    pids: dict[str, int] = field(default_factory=dict)


@dataclass
class Row:
    """One printed row."""

    elapsed: float
    usage: Usage
    http: int
    ws: int
    jobs: int
    errors: int
    p99_http_ms: float | None
    p99_ws_ms: float | None
    note: str = ""


class Processes:
    """The server's process tree (master and workers) and the job worker, each under a stable label."""

    def __init__(self, master: int, job_worker: int) -> None:
        self.master = master
        self.labels: dict[int, str] = {master: "master"}
        self.job_worker = job_worker
        self.refresh()
        self.labels[job_worker] = "worker"

    def refresh(self) -> None:
        """Give a label to any worker not seen before (a replacement gets a new one: w3, ...)."""
        for pid in child_pids(self.master):
            if pid not in self.labels:
                self.labels[pid] = (
                    f"w{sum(1 for label in self.labels.values() if WORKER.fullmatch(label)) + 1}"
                )

    def live(self) -> dict[str, int]:
        """label: pid of each process alive now, master first, then workers, then the job worker."""
        self.refresh()
        alive = {pid: label for pid, label in self.labels.items() if rss_kib(pid) is not None}
        order = sorted(alive, key=lambda pid: (alive[pid] != "master", alive[pid] == "worker", alive[pid]))
        return {alive[pid]: pid for pid in order}


async def redis_connections(client: aioredis.Redis, name: str) -> int:
    """CLIENT LIST entries named `name`."""
    return sum(1 for entry in await client.client_list() if entry.get("name") == name)


async def measure(processes: Processes, client: aioredis.Redis, run: Run) -> Usage:
    """RSS and fds of every process, and the run's Redis connections."""
    pids = processes.live()
    rss = {label: rss_kib(pid) for label, pid in pids.items()}
    fds = {label: fd_count(pid) for label, pid in pids.items()}
    return Usage(
        rss_kib={k: v for k, v in rss.items() if v is not None},
        fds={k: v for k, v in fds.items() if v is not None},
        redis_connections=await redis_connections(client, run.client_name),
        pids=pids,
    )


def row_from(elapsed: float, usage: Usage, interval: Interval, note: str) -> Row:
    """A row from a measurement and the interval's counts."""
    p99_http, p99_ws = percentile(interval.http, 0.99), percentile(interval.ws, 0.99)
    return Row(
        elapsed=round(elapsed, 1),
        usage=usage,
        http=len(interval.http),
        ws=len(interval.ws),
        jobs=interval.jobs,
        errors=interval.errors,
        p99_http_ms=None if p99_http is None else round(p99_http * 1000, 2),
        p99_ws_ms=None if p99_ws is None else round(p99_ws * 1000, 2),
        note=note,
    )


COLUMNS = "{:>8}  {:<29}  {:<21}  {:>5}  {:>7}  {:>6}  {:>5}  {:>6}  {:>9}  {:>9}  {}"


def header(labels: Iterable[str]) -> str:
    names = "/".join(labels)
    columns = ("elapsed", f"RSS MiB {names}", f"fds {names}", "redis", "http", "ws", "jobs", "errors")
    return COLUMNS.format(*columns, "p99 http", "p99 ws", "").rstrip()


def format_row(row: Row) -> str:
    def ms(value: float | None) -> str:
        return "-" if value is None else f"{value:.1f} ms"

    rss = "/".join(f"{kib / 1024:.1f}" for kib in row.usage.rss_kib.values())
    fds = "/".join(str(n) for n in row.usage.fds.values())
    counts = (row.usage.redis_connections, row.http, row.ws, row.jobs, row.errors)
    latencies = (ms(row.p99_http_ms), ms(row.p99_ws_ms))
    return COLUMNS.format(f"{row.elapsed:.0f} s", rss, fds, *counts, *latencies, row.note).rstrip()


def growth_problems(base: Usage, end: Usage) -> list[str]:
    """What grew too much from the end of warm-up (`base`) to the end: RSS by more than RSS_GROWTH_LIMIT,
    a process's open fds or the Redis connections by more than COUNT_GROWTH_LIMIT; and processes that
    went away or appeared (a worker replaced)."""
    problems = []
    for label, before in base.rss_kib.items():
        after = end.rss_kib.get(label)
        if after is None:
            problems.append(f"{label}: exited before the end")
            continue
        growth = (after - before) / before
        if growth > RSS_GROWTH_LIMIT:
            problems.append(
                f"{label}: RSS grew {growth:.1%} after warm-up ({before / 1024:.1f} -> {after / 1024:.1f} "
                f"MiB), more than {RSS_GROWTH_LIMIT:.0%}"
            )
    for label in end.rss_kib.keys() - base.rss_kib.keys():
        problems.append(
            f"{label}: a new process after warm-up (pid {end.pids.get(label, '?')}; one was replaced?)"
        )
    for label, before in base.fds.items():
        after = end.fds.get(label)
        if after is not None and after - before > COUNT_GROWTH_LIMIT:
            problems.append(
                f"{label}: open fds kept growing after warm-up ({before} -> {after}, more than "
                f"{COUNT_GROWTH_LIMIT})"
            )
    if end.redis_connections - base.redis_connections > COUNT_GROWTH_LIMIT:
        problems.append(
            f"Redis connections kept growing after warm-up ({base.redis_connections} -> "
            f"{end.redis_connections}, more than {COUNT_GROWTH_LIMIT})"
        )
    return problems


# --- the end: jobs, fan-out, summary -----------------------------------------------------------------


async def runs_of(client: aioredis.Redis, run: Run, numbers: list[int]) -> dict[int, int]:
    """How many times each job number ran (its `ran:N` cache counter), for those that ran."""
    ran: dict[int, int] = {}
    for start in range(0, len(numbers), 1000):
        batch = numbers[start : start + 1000]
        values = await client.mget([f"{run.cache_prefix}{APP}:ran:{n}" for n in batch])
        ran.update({n: int(v) for n, v in zip(batch, values, strict=True) if v is not None})
    return ran


async def wait_for_jobs(client: aioredis.Redis, run: Run, enqueued: set[int]) -> tuple[list[int], int]:
    """Wait up to JOBS_TIMEOUT for every acknowledged job to have run: the ones that did not, and how many
    ran more than once (allowed: the queue runs jobs at least once)."""
    numbers = sorted(enqueued)
    deadline = time.monotonic() + JOBS_TIMEOUT
    while True:
        ran = await runs_of(client, run, numbers)
        missing = [n for n in numbers if n not in ran]
        if not missing or time.monotonic() > deadline:
            return missing, sum(1 for count in ran.values() if count > 1)
        await asyncio.sleep(0.5)


async def dead_jobs(base: str) -> int | str:
    """The app's dead-letter count from the operator API (loopback needs no token), or why it is unknown."""
    async with httpx.AsyncClient(timeout=TIMEOUT) as client:
        try:
            reply = await client.get(f"{base}/_gingee/api/queue/{APP}")
            return int(reply.json()["dead"])
        except (httpx.HTTPError, ValueError, KeyError) as exc:
            return f"{type(exc).__name__}: {exc}"


async def fanout_check(base: str, ws_url: str, workers: int) -> str | None:
    """Open listeners until every worker holds one, broadcast once: None if each received it, else why not."""
    listeners: dict[int, WebSocketClientConnection] = {}
    extra: list[WebSocketClientConnection] = []
    try:
        for _ in range(40):
            conn, pid = await ws_connect(ws_url)
            if pid in listeners:
                extra.append(conn)
            else:
                listeners[pid] = conn
            if len(listeners) >= workers:
                break
        if len(listeners) < workers:
            return f"40 connections reached only {len(listeners)} of {workers} workers"
        marker = -random.randint(1, 10**9)
        async with new_http_client() as client:
            reply = await client.post(f"{base}/{APP}/broadcast", json={"seq": marker})
            if reply.status_code != 200:
                return f"the broadcast answered {reply.status_code}: {reply.text[:200]}"
        for pid, conn in listeners.items():
            while True:
                message = await asyncio.wait_for(conn.read_message(), TIMEOUT)
                if message is None:
                    return f"the listener on worker pid {pid} was closed"
                if json.loads(message).get("seq") == marker:
                    break
        return None
    except Exception as exc:  # a timeout, a refused connection: say which
        return f"{type(exc).__name__}: {exc}"
    finally:
        for conn in [*listeners.values(), *extra]:
            conn.close()


def log_problems(text: str) -> list[str]:
    """Lines of a server log that report an error (tracebacks, ERROR/CRITICAL records)."""
    return [line for line in text.splitlines() if re.search(r"Traceback|\bERROR\b|\bCRITICAL\b", line)]


@dataclass
class Outcome:
    """What the end of the run found."""

    missing: list[int]  # acknowledged jobs that never ran
    duplicates: int  # jobs that ran more than once (allowed: at least once)
    dead: int | str  # the dead-letter count, or why it is unknown
    fanout: str | None  # why one broadcast did not reach every worker's listener, or None
    exit: int | None = None  # gingee serve's exit status on SIGTERM
    worker_exit: int | None = None  # gingee worker's
    log_errors: list[str] = field(default_factory=list)


def all_problems(stats: Stats, base: Row, end: Row, outcome: Outcome) -> list[str]:
    """Every reason to exit 1."""
    problems = []
    if stats.errors:
        problems.append(f"{sum(stats.errors.values())} errors ({', '.join(sorted(stats.errors))})")
    if outcome.missing:
        problems.append(f"{len(outcome.missing)} jobs never ran (the first: {outcome.missing[:10]})")
    if outcome.dead != 0:
        problems.append(f"dead-letter queue: {outcome.dead}")
    if outcome.fanout is not None:
        problems.append(f"fan-out: {outcome.fanout}")
    if outcome.exit != 0:
        problems.append(f"gingee serve exited with {outcome.exit} on SIGTERM")
    if outcome.worker_exit != 0:
        problems.append(f"gingee worker exited with {outcome.worker_exit} on SIGTERM")
    return problems + growth_problems(base.usage, end.usage)


def by_pid(counts: dict[int, int]) -> str:
    return ", ".join(f"pid {pid}: {n}" for pid, n in sorted(counts.items())) or "none"


def summary_lines(
    stats: Stats, rows: list[Row], base: Row, outcome: Outcome, problems: list[str]
) -> list[str]:
    """The printed summary."""
    end, jobs = rows[-1], len(stats.enqueued)
    lines = [
        "",
        f"summary after {end.elapsed:.0f} s (baseline: the row at {base.elapsed:.0f} s)",
        f"  http requests: {stats.http}; /{APP}/hit answers by worker: {by_pid(stats.pids_http)}",
        f"  websocket round trips: {stats.ws} over {stats.ws_connects} connections "
        f"(by worker: {by_pid(stats.pids_ws)})",
        f"  broadcasts: {stats.broadcasts_sent} sent, {stats.broadcasts_received} deliveries received",
        f"  jobs: {jobs} enqueued, {jobs - len(outcome.missing)} ran, {len(outcome.missing)} lost, "
        f"{outcome.duplicates} ran more than once, dead-letter queue: {outcome.dead}",
        f"  fan-out across workers: {'ok' if outcome.fanout is None else outcome.fanout}",
        f"  exit status on SIGTERM: gingee serve {outcome.exit}, gingee worker {outcome.worker_exit}",
        f"  errors: {sum(stats.errors.values())}",
    ]
    for kind, count in sorted(stats.errors.items()):
        lines.append(f"    {kind}: {count}, e.g. {stats.examples[kind][0]}")
    for label, before in base.usage.rss_kib.items():
        after = end.usage.rss_kib.get(label)
        if after is not None:
            growth = (after - before) / before
            lines.append(
                f"  {label}: RSS {before / 1024:.1f} -> {after / 1024:.1f} MiB ({growth:+.1%}), "
                f"fds {base.usage.fds.get(label)} -> {end.usage.fds.get(label)}"
            )
    lines.append(f"  Redis connections: {base.usage.redis_connections} -> {end.usage.redis_connections}")
    if outcome.log_errors:
        lines.append(
            f"  server logs: {len(outcome.log_errors)} error lines, the first: {outcome.log_errors[0][:300]}"
        )
    lines.append("FAIL:" if problems else "PASS: 0 errors, 0 lost jobs, no growth after warm-up")
    lines += [f"  - {problem}" for problem in problems]
    return lines


# --- the run -----------------------------------------------------------------------------------------


def sample_times(seconds: float, interval: float, warmup: float) -> list[float]:
    """Seconds after the start at which to print a row: every interval, the end of warm-up, the end."""
    fixed = {round(min(warmup, seconds), 3), round(seconds, 3)}
    ticks = {round(interval * k, 3) for k in range(1, int(seconds / interval) + 1)}
    ticks = {t for t in ticks if all(abs(t - f) >= 1 for f in fixed)}  # one within 1 s of those: merged
    return sorted(t for t in ticks | fixed if 0 < t <= seconds)


async def drive(
    args: argparse.Namespace, run: Run, port: int, processes: Processes
) -> tuple[Stats, list[Row], Row]:
    """Run the load for `--minutes`, printing a row at each sample time; the stats, the rows, the baseline."""
    base_url, ws_url = f"http://127.0.0.1:{port}", f"ws://127.0.0.1:{port}/{APP}/ws"
    stats, stop, rows = Stats(), asyncio.Event(), []
    tasks = [asyncio.create_task(http_client(stats, base_url, stop)) for _ in range(args.http_clients)]
    tasks += [asyncio.create_task(ws_client(stats, ws_url, stop)) for _ in range(args.ws_clients)]
    tasks += [
        asyncio.create_task(enqueuer(stats, base_url, stop)),
        asyncio.create_task(broadcaster(stats, base_url, stop)),
    ]
    seconds = args.minutes * 60
    warmup = min(args.warmup, seconds)
    redis = aioredis.Redis.from_url(run.redis_url, decode_responses=True)
    baseline: Row | None = None
    try:
        began = time.monotonic()
        for at in sample_times(seconds, args.interval, warmup):
            await asyncio.sleep(max(0.0, began + at - time.monotonic()))
            is_baseline = baseline is None and at >= warmup
            note = "warm-up" if at < warmup else "baseline" if is_baseline else ""
            if at == seconds:
                note = f"{note}, end" if note else "end"
            usage = await measure(processes, redis, run)
            row = row_from(time.monotonic() - began, usage, stats.take_interval(), note)
            if is_baseline:
                baseline = row
            rows.append(row)
            print(format_row(row), flush=True)
    finally:
        stop.set()
        await asyncio.wait(tasks, timeout=TIMEOUT + 5)
        for task in tasks:
            task.cancel()
        await redis.aclose()
    assert baseline is not None
    return stats, rows, baseline


async def finish(run: Run, port: int, stats: Stats, workers: int) -> Outcome:
    """After the load: lost and duplicated jobs, the dead-letter count, the fan-out check."""
    redis = aioredis.Redis.from_url(run.redis_url, decode_responses=True)
    try:
        missing, duplicates = await wait_for_jobs(redis, run, stats.enqueued)
    finally:
        await redis.aclose()
    base_url = f"http://127.0.0.1:{port}"
    fanout = await fanout_check(base_url, f"ws://127.0.0.1:{port}/{APP}/ws", workers)
    return Outcome(missing, duplicates, await dead_jobs(base_url), fanout)


async def delete_run_keys(run: Run) -> None:
    """Delete every key of the run: its prefix, and arq's keys for its job ids."""
    client = aioredis.Redis.from_url(run.redis_url)
    try:
        for pattern in (f"{run.prefix}*", f"arq:*:{run.prefix}*"):
            batch = [key async for key in client.scan_iter(match=pattern, count=1000)]
            for start in range(0, len(batch), 1000):
                await client.delete(*batch[start : start + 1000])
    finally:
        await client.aclose()


def stop_process(process: ServerProcess) -> tuple[int | None, str]:
    """Stop a server process (SIGTERM, SIGKILL after 10 s): its exit status and its log."""
    log = process.output(10_000_000)
    process.stop()
    return process.process.returncode, log


def start_processes(project: Path, port: int) -> tuple[ServerProcess, ServerProcess]:
    """`gingee worker PROJECT` and `gingee serve PROJECT --workers 2` (not waited for)."""
    top = [*gingee_command(), "--log-level", "warning"]
    job_worker = ServerProcess("worker", [*top, "worker", str(project)], 0, log_prefix="soak")
    serve = [*top, "serve", str(project), "--host", "127.0.0.1", "--port", str(port), "--workers", "2"]
    return job_worker, ServerProcess("serve", serve, port, log_prefix="soak")


def report(args: argparse.Namespace, stats: Stats, rows: list[Row], base: Row, outcome: Outcome) -> int:
    """Print the summary (and the JSON line with --json); the exit status."""
    problems = all_problems(stats, base, rows[-1], outcome)
    print("\n".join(summary_lines(stats, rows, base, outcome, problems)))
    if args.json:
        print(
            json.dumps(
                {
                    "rows": [asdict(row) for row in rows],
                    "baseline": base.elapsed,
                    "http": stats.http,
                    "ws": stats.ws,
                    "jobs": len(stats.enqueued),
                    "errors": stats.errors,
                    "outcome": asdict(outcome),
                    "problems": problems,
                }
            )
        )
    return 1 if problems else 0


async def soak(args: argparse.Namespace) -> int:
    """Start the project, drive it, check the end, stop it; the exit status."""
    run = Run(args.redis, uuid.uuid4().hex[:12])
    port = free_port()
    with tempfile.TemporaryDirectory(prefix="gingee-soak-") as tmp:
        project = write_project(Path(tmp) / "soak", run, args.http_clients + args.ws_clients)
        job_worker, server = start_processes(project, port)
        try:
            wait_for_log(job_worker, "gingee worker: running jobs")
            await wait_for_server(server, 2)
            processes = Processes(server.process.pid, job_worker.process.pid)
            pids = ", ".join(f"{label} {pid}" for label, pid in processes.live().items())
            print(f"soak: {args.minutes:g} min on 127.0.0.1:{port}, Redis {args.redis}, keys {run.prefix}*")
            print(f"processes: {pids}")
            print(
                f"clients: {args.http_clients} http, {args.ws_clients} websocket, 1 enqueuer, 1 broadcaster; "
                f"a row every {args.interval:g} s, warm-up {args.warmup:g} s"
            )
            print(header(processes.live()), flush=True)
            stats, rows, base = await drive(args, run, port, processes)
            outcome = await finish(run, port, stats, 2)
        finally:
            exit_status, log = stop_process(server)
            worker_exit, worker_log = stop_process(job_worker)
            await delete_run_keys(run)
    outcome.exit, outcome.worker_exit = exit_status, worker_exit
    outcome.log_errors = log_problems(log + "\n" + worker_log)
    status = report(args, stats, rows, base, outcome)
    if status:
        print(f"\nend of the gingee serve log:\n{log[-3000:]}")
        print(f"end of the gingee worker log:\n{worker_log[-2000:]}")
    return status


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--minutes", type=float, default=10.0, help="how long the load runs (default 10)")
    parser.add_argument("--interval", type=float, default=60.0, help="seconds between rows (default 60)")
    parser.add_argument(
        "--warmup", type=float, default=60.0, help="seconds before the baseline row (default 60)"
    )
    parser.add_argument("--redis", default="redis://127.0.0.1:6379/9", help="the Redis to use")
    parser.add_argument("--http-clients", type=int, default=8, help="keep-alive HTTP clients (default 8)")
    parser.add_argument("--ws-clients", type=int, default=8, help="websocket clients (default 8)")
    parser.add_argument(
        "--json", action="store_true", help="also print the rows and the summary as one JSON line"
    )
    args = parser.parse_args(argv)
    if args.minutes <= 0 or args.interval <= 0 or args.warmup < 0:
        parser.error("--minutes and --interval must be > 0, --warmup >= 0")
    if args.warmup >= args.minutes * 60:
        parser.error("--warmup must end before the run does (there would be nothing to compare)")
    return args


def main(argv: list[str] | None = None) -> int:
    return asyncio.run(soak(parse_args(argv)))


if __name__ == "__main__":
    sys.exit(main())
