"""One isolated worker process: started when first needed, watched, killed, and started again with backoff.

The master talks to it over one end of a socket pair (channel.py). The process gets its own session (so
killing it kills what it forked), the app's folder as working directory, an environment of PATH, the
locale and the variables its app.json references, and, when the server runs as root and `isolation.user`
is set, that user's uid and gid with no supplementary groups.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import pwd
import signal
import socket
import sys
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

from ..errors import HttpError
from .channel import Channel, Handler, Header, IsolationError, open_channel
from .settings import MB, Limits
from .worker import FD_VARIABLE, MAX_FRAME_VARIABLE

log = logging.getLogger("gingee.isolation")

#: How long a worker may take to start and load its apps.
START_TIMEOUT = 60.0
#: A worker that dies sooner than this after it started counts as failing to start (backoff grows).
STABLE_AFTER = 10.0
BACKOFF_FIRST, BACKOFF_MAX = 0.25, 30.0
#: How often the master samples a worker's resident memory.
RSS_INTERVAL = 0.2
_PAGE = os.sysconf("SC_PAGE_SIZE")


def worker_user(name: str | None) -> tuple[int, int] | None:
    """(uid, gid) of the Unix user `name`; None for no switch. IsolationError if it cannot be done."""
    if not name:
        return None
    try:
        entry = pwd.getpwnam(name)
    except KeyError:
        raise IsolationError(f"gingee.json isolation.user: there is no Unix user {name!r}") from None
    if os.geteuid() != 0:
        raise IsolationError(
            f"gingee.json isolation.user is {name!r}, but the server does not run as root and cannot "
            "switch users; run it as root, or remove isolation.user"
        )
    return entry.pw_uid, entry.pw_gid


class WorkerProcess:
    """The worker called `name`. `hello()` builds the first frame (apps, config, limits) at each start."""

    def __init__(
        self,
        name: str,
        *,
        cwd: Path,
        env: dict[str, str],
        limits: Limits,
        user: str | None,
        hello: Callable[[], Header],
        handler: Handler,
        worker_max_payload: int,
        on_ready: Callable[[dict[str, str]], Awaitable[None] | None] | None = None,
    ) -> None:
        self.name = name
        self.cwd = cwd
        self.env = env
        self.limits = limits
        self.user = user
        self._hello = hello
        self._handler = handler
        self._on_ready = on_ready
        #: The largest frame payload the worker accepts from us (the server's body limit, or more).
        self.worker_max_payload = worker_max_payload
        self.process: asyncio.subprocess.Process | None = None
        self.channel: Channel | None = None
        #: Why the master killed the current process, if it did ("memory", "timeout", "stop").
        self.killed: str | None = None
        self.restarts = 0
        self.failures = 0  # consecutive quick deaths
        self.next_start = 0.0
        self.started_at = 0.0
        self.errors: dict[str, str] = {}
        self._lock = asyncio.Lock()
        self._tasks: set[asyncio.Task[Any]] = set()
        self.closed = False

    @property
    def pid(self) -> int | None:
        """The running process's pid, or None."""
        return self.process.pid if self.process is not None and self.process.returncode is None else None

    @property
    def running(self) -> bool:
        """A process is up and its channel open."""
        return self.pid is not None and self.channel is not None and not self.channel.closed

    async def ensure(self) -> Channel:
        """The channel of a running worker, starting one if needed; 503 while a restart waits out its
        backoff or the worker cannot start."""
        channel = self.channel
        if channel is not None and not channel.closed and self.pid is not None:
            return channel
        async with self._lock:
            if self.running:
                assert self.channel is not None
                return self.channel
            if self.closed:
                raise HttpError(503, "APP_UNAVAILABLE", "the server is shutting down")
            wait = self.next_start - time.monotonic()
            if wait > 0:
                raise HttpError(
                    503, "WORKER_RESTARTING",
                    f"the worker process of '{self.name}' is restarting after it failed; retry shortly",
                    headers={"Retry-After": str(max(1, round(wait)))},
                )  # fmt: skip
            if self.process is not None and self.process.returncode is None:
                self.kill("restart")  # its channel broke but it lives on: it must not outlive its successor
            try:
                await self._start()
            except (OSError, IsolationError, asyncio.TimeoutError) as exc:
                self._failed()
                log.error("worker %s did not start: %s", self.name, exc)
                await self._reap()
                raise HttpError(
                    503, "WORKER_UNAVAILABLE", f"the worker process of '{self.name}' could not start",
                    headers={"Retry-After": "1"},
                ) from None  # fmt: skip
            assert self.channel is not None
            return self.channel

    async def _start(self) -> None:
        ours, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_STREAM)
        ids = worker_user(self.user)
        env = dict(
            self.env, **{FD_VARIABLE: str(theirs.fileno()), MAX_FRAME_VARIABLE: str(self.worker_max_payload)}
        )
        options: dict[str, Any] = {}
        if ids is not None:
            options.update(user=ids[0], group=ids[1], extra_groups=[])
        try:
            self.process = await asyncio.create_subprocess_exec(
                sys.executable, "-I", "-m", "gingee_kernel.isolation",
                pass_fds=(theirs.fileno(),), env=env, cwd=str(self.cwd), stdin=asyncio.subprocess.DEVNULL,
                start_new_session=True, **options,
            )  # fmt: skip
        finally:
            theirs.close()
        self.killed = None
        self.started_at = time.monotonic()
        self.channel = await open_channel(ours, master=True, handler=self._handler)
        self._watch(self.process, self.channel)
        hello = self._hello()
        hello["k"] = "hello"
        hello["rlimits"] = self.limits.rlimits()
        header, _ = await asyncio.wait_for(self.channel.call(hello), START_TIMEOUT)
        self.errors = dict(header.get("errors") or {})
        for app, error in self.errors.items():
            log.error("app '%s' did not load in its worker: %s", app, error)
        log.info("worker %s started (pid %s)", self.name, self.process.pid)
        if self._on_ready is not None:
            result = self._on_ready(self.errors)
            if asyncio.iscoroutine(result):
                await result

    def _watch(self, process: asyncio.subprocess.Process, channel: Channel) -> None:
        loop = asyncio.get_running_loop()
        self._spawn(loop.create_task(self._wait_exit(process, channel)))
        if self.limits.max_rss_mb is not None:
            self._spawn(loop.create_task(self._sample_rss(process, self.limits.max_rss_mb * MB)))

    def _spawn(self, task: asyncio.Task[Any]) -> None:
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _wait_exit(self, process: asyncio.subprocess.Process, channel: Channel) -> None:
        code = await process.wait()
        await channel.close()
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(process.pid, signal.SIGKILL)  # whatever it forked goes with it
        if self.process is not process:
            return
        cause = f"killed by the server ({self.killed})" if self.killed else f"exit status {code}"
        if self.killed != "stop":
            log.warning("worker %s (pid %s) ended: %s", self.name, process.pid, cause)
            if not self.killed and time.monotonic() - self.started_at < STABLE_AFTER:
                self._failed()  # it crashed on its own, soon after starting: wait before the next start
            else:
                self.failures = 0
            self.restarts += 1

    async def _sample_rss(self, process: asyncio.subprocess.Process, limit: int) -> None:
        statm = f"/proc/{process.pid}/statm"
        while process.returncode is None:
            try:
                with open(statm, "rb") as file:
                    resident = int(file.read().split()[1]) * _PAGE
            except (OSError, ValueError, IndexError):
                return
            if resident > limit:
                log.error(
                    "worker %s used %d MiB, over isolation.limits.max_rss_mb", self.name, resident // MB
                )
                self.kill("memory")
                return
            await asyncio.sleep(RSS_INTERVAL)

    def _failed(self) -> None:
        self.failures += 1  # the first start after a crash is at once; crashing again, it waits longer
        delay = 0.0 if self.failures == 1 else min(BACKOFF_FIRST * 2 ** (self.failures - 2), BACKOFF_MAX)
        self.next_start = time.monotonic() + delay

    def kill(self, reason: str) -> None:
        """SIGKILL the worker and everything in its session; requests in flight end with ChannelClosed."""
        process = self.process
        if process is None or process.returncode is not None:
            return
        self.killed = reason
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(process.pid, signal.SIGKILL)

    async def stop(self, timeout: float = 2.0) -> None:
        """End the worker: close its channel (it exits by itself), SIGKILL after `timeout` seconds."""
        process, channel = self.process, self.channel
        if process is None:
            return
        self.killed = "stop"
        if channel is not None:
            await channel.close()
        if process.returncode is None:
            try:
                await asyncio.wait_for(process.wait(), timeout)
            except asyncio.TimeoutError:
                self.kill("stop")
                await process.wait()
        await self._reap()

    async def _reap(self) -> None:
        self.process = None
        if self.channel is not None:
            await self.channel.close()
        self.channel = None

    async def close(self) -> None:
        """Stop for good (the server is stopping); safe to call more than once."""
        self.closed = True
        await self.stop()
        for task in list(self._tasks):
            task.cancel()
