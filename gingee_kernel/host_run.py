"""What both hosts of `gingee serve` do around serving (standalone.py on Tornado, asgi/serving.py under
uvicorn): the start line, the stop signals with the drain, and the in-flight publisher of several workers.

SIGTERM drains first: readiness fails at once while the server keeps serving for gingee.json
`server.drain_ms` (a load balancer's health check takes the node out meanwhile), then the host stops; a
second SIGTERM, or SIGINT, stops at once. SIGHUP reloads every app.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import sys
from collections.abc import Callable, Iterator
from typing import Any

from .engine.project import Project
from .health import Health

#: `stop(first)`: `first` is True for the first stop, False when a second signal asks for it at once.
Stop = Callable[[bool], None]


def who(worker: int | None) -> str:
    """How the start and stop lines name this process: "" alone, "worker N (pid P) " under a cluster."""
    return "" if worker is None else f"worker {worker} (pid {os.getpid()}) "


def announce(project: Project, host: str, port: int, worker: int | None, under: str = "") -> None:
    """Print the start line (`gingee: serving DIR on http://HOST:PORT/ (apps: ...)`) and the apps that did
    not load; `under` names the server when it is not Tornado (" under uvicorn")."""
    names = ", ".join(sorted(project.apps)) or "none"
    print(f"gingee: {who(worker)}serving {project.dir} on http://{host}:{port}/ (apps: {names}){under}")
    for name, error in sorted(project.errors.items()):
        print(f"gingee: {who(worker)}app '{name}' not loaded: {error}")
    sys.stdout.flush()


@contextlib.contextmanager
def stop_signals(project: Project, health: Health, stop: Stop, worker: int | None) -> Iterator[None]:
    """Handle SIGTERM (drain, then `stop(True)`), SIGINT and a second SIGTERM (`stop`, at once) and SIGHUP
    (reload every app) on the running loop, until the block ends."""
    loop = asyncio.get_running_loop()
    drain = int(project.config["server"].get("drain_ms", 0)) / 1000
    stopped = False

    def now() -> None:
        nonlocal stopped
        first, stopped = not stopped, True
        stop(first)

    def terminate() -> None:
        if health.draining or not drain:
            now()
            return
        health.draining = True
        print(f"gingee: {who(worker)}draining for {drain:g} s (readiness fails), then stopping", flush=True)
        loop.call_later(drain, lambda: stopped or now())

    loop.add_signal_handler(signal.SIGINT, now)
    loop.add_signal_handler(signal.SIGTERM, terminate)
    loop.add_signal_handler(signal.SIGHUP, lambda: asyncio.ensure_future(project.reload()))
    try:
        yield
    finally:
        for sig in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
            loop.remove_signal_handler(sig)


@contextlib.contextmanager
def in_flight_publisher() -> Iterator[None]:
    """Several workers (prometheus-client's multiprocess mode): keep this worker's share of the requests in
    flight current, every second, until the block ends."""
    from .metrics.export import multiprocess_dir

    if multiprocess_dir() is None:
        yield
        return
    from .metrics.series import publish_in_flight

    async def publish() -> Any:
        while True:
            publish_in_flight()
            await asyncio.sleep(1)

    task = asyncio.ensure_future(publish())
    try:
        yield
    finally:
        task.cancel()
