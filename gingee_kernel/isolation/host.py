"""In the master: the isolated apps' workers, and the relay of their requests and jobs to them.

The master keeps the port, routing, static files, the concurrency caps, websockets' sockets and the
queue's bookkeeping. A request for a script of an isolated app goes to its worker as frames (its body
streamed on when the route streams it), and the answer comes back the same way (a streamed reply is
written on as it comes). Past the app's time budget plus `isolation.grace_ms`, the worker is killed and
the request answered 504: unlike a thread, a process can be stopped, so a CPU loop ends there.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import os
import re
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from ..engine.config import DEFAULT_SERVER_CONFIG, merge_config
from ..errors import HttpError
from .calls import serve_call
from .channel import CHUNK, MAX_PAYLOAD, ChannelClosed, Exchange, Header, IsolationError, RemoteError
from .process import WorkerProcess
from .settings import IsolationSettings

if TYPE_CHECKING:
    from ..engine.app import AppRuntime
    from ..engine.dispatch import Incoming
    from ..engine.project import Project
    from ..engine.response import Response
    from ..jobqueue.job import JobSpec

log = logging.getLogger("gingee.isolation")

SHARED_KEY = "isolation"
#: The largest reply a worker may send to be held whole (a script's `return`); streamed replies are not.
MAX_REPLY = 512 * 1024 * 1024
#: The environment every worker gets (besides the variables its apps' app.json references).
BASE_ENV = ("PATH", "LANG", "LC_ALL", "TZ")
_ENV_REF = re.compile(r"^env:(.+)$")


def worker_config(config: dict[str, Any]) -> dict[str, Any]:
    """The server settings a worker may know: those that hold no secret. Tokens, the JWT secret, Redis
    URLs, mail, storage and search settings stay in the master (the plugin policy goes: it holds none)."""
    keep: dict[str, Any] = {
        key: config[key]
        for key in ("web_root", "max_body_size", "max_upload_size", "limits", "logging", "egress", "plugins")
        if key in config
    }
    cache = config.get("cache") or {}
    keep["cache"] = {k: cache[k] for k in ("prefix", "ttl", "max_entries") if k in cache}
    keep["cluster"] = {"name": (config.get("cluster") or {}).get("name")}
    sockets = dict(config.get("websockets") or {})
    sockets.pop("fanout", None)
    keep["websockets"] = sockets
    keep["jwt"] = {"secret": None, "iss": (config.get("jwt") or {}).get("iss")}
    return merge_config(DEFAULT_SERVER_CONFIG, keep)


def referenced_env(raw: Any, found: set[str] | None = None) -> set[str]:
    """The names of the environment variables an (unresolved) app.json references as `env:NAME`."""
    found = set() if found is None else found
    if isinstance(raw, dict):
        for value in raw.values():
            referenced_env(value, found)
    elif isinstance(raw, list):
        for value in raw:
            referenced_env(value, found)
    elif isinstance(raw, str):
        match = _ENV_REF.match(raw)
        if match:
            found.add(match.group(1))
    return found


class IsolationHost:
    """The workers of one project's isolated apps, by worker name (the app's, or `group:<name>`)."""

    def __init__(self, project: Project) -> None:
        self.project = project
        self.settings = IsolationSettings.from_config(project.config)
        self.workers: dict[str, WorkerProcess] = {}
        self.closed = False

    def worker(self, app: str) -> WorkerProcess:
        """The worker that runs `app` (created, not started, on first use)."""
        name = self.settings.worker_for(app)
        worker = self.workers.get(name)
        if worker is None:
            members = self._members(name, app)
            first = self.project.web_root / sorted(members)[0]
            worker = self.workers[name] = WorkerProcess(
                name,
                cwd=first,
                env=self._env(members),
                limits=self.settings.limits,
                user=self.settings.user,
                hello=lambda: self._hello(members),
                handler=lambda exchange, header, payload: self._serve(members, exchange, header, payload),
                worker_max_payload=max(self._max_body(), MAX_PAYLOAD),
            )
        return worker

    def _members(self, worker: str, app: str) -> frozenset[str]:
        return self.settings.members(worker) if worker.startswith("group:") else frozenset({app})

    def _max_body(self) -> int:
        from ..engine.sizes import parse_size

        return parse_size(self.project.config["max_body_size"]) + CHUNK

    def _env(self, members: frozenset[str]) -> dict[str, str]:
        names = set(BASE_ENV)
        for app in members:
            path = self.project.web_root / app / "box" / "app.json"
            with contextlib.suppress(OSError, ValueError):
                referenced_env(json.loads(path.read_text("utf-8")), names)
        env = {name: os.environ[name] for name in sorted(names) if name in os.environ}
        env.setdefault("PATH", "/usr/local/bin:/usr/bin:/bin")
        env["HOME"] = str(self.project.web_root / sorted(members)[0])
        env["PYTHONDONTWRITEBYTECODE"] = "1"
        return env

    def _hello(self, members: frozenset[str]) -> Header:
        apps = []
        for name in sorted(members):
            app = self.project.apps.get(name)
            if app is None or not app.isolated:
                continue
            apps.append(
                {"name": name, "root": str(app.root), "config": app.config, "grants": sorted(app.grants)}
            )
        return {
            "project_dir": str(self.project.dir),
            "dev": self.project.dev,
            "config": worker_config(self.project.config),
            "apps": apps,
        }

    async def _serve(
        self, members: frozenset[str], exchange: Exchange, header: Header, payload: bytes
    ) -> None:
        """A call the worker makes back to the master (isolation/calls.py)."""
        if header.get("k") != "call":
            await exchange.fail(IsolationError(f"a worker may not open a {header.get('k')!r} exchange"))
            return
        result = await serve_call(header, payload, members, self.project.apps)
        await exchange.send({"k": "ret", "r": result}, end=True)

    # -- requests ---------------------------------------------------------------------------------------
    async def forward(self, app: AppRuntime, incoming: Incoming, response: Response, budget: float) -> None:
        """Answer `incoming` by the app's worker, into `response` (streamed on if the worker streams)."""
        worker = self.worker(app.name)
        channel = await worker.ensure()
        exchange = channel.open()
        pump: asyncio.Task[None] | None = None
        try:
            header: Header = {
                "k": "req", "m": incoming.method, "p": incoming.path, "q": incoming.query, "u": incoming.url,
                "h": _header_pairs(incoming.headers), "ip": incoming.remote_ip, "pr": incoming.public_root,
                "op": incoming.operator,
            }  # fmt: skip
            if incoming.stream is not None:
                header["s"] = 1
                await exchange.send(header)
                pump = asyncio.ensure_future(_pump_body(incoming, exchange))
            else:
                await exchange.send(header, incoming.body, end=True)
            try:
                first, payload = await asyncio.wait_for(exchange.recv(), budget + self.settings.grace)
            except asyncio.TimeoutError:
                worker.kill("timeout")
                raise HttpError(
                    504, "GATEWAY_TIMEOUT",
                    f"the request took longer than its {budget:g} s budget; the app's worker process was "
                    "stopped and will be started again",
                    extra={"timeout_ms": int(budget * 1000)},
                ) from None  # fmt: skip
            await self._answer(exchange, first, payload, response)
        except ChannelClosed:
            raise self._lost(worker) from None
        except RemoteError as error:  # the worker could not take the request at all
            log.error("worker %s refused a request: %s", worker.name, error)
            raise HttpError(502, "BAD_GATEWAY", "the app's worker could not take the request") from None
        finally:
            if pump is not None:
                pump.cancel()
            channel.finished(exchange)

    async def _answer(self, exchange: Exchange, first: Header, payload: bytes, response: Response) -> None:
        kind = first.get("k")
        if kind == "res":
            body = payload
            if first.get("more"):
                parts, size = [payload], len(payload)
                while True:
                    frame, chunk = await exchange.recv()
                    if frame.get("k") == "fin":
                        break
                    size += len(chunk)
                    if size > MAX_REPLY:  # a reply held whole must not hold the master's memory hostage
                        raise HttpError(502, "BAD_GATEWAY", "the app's reply is larger than the server holds")
                    parts.append(chunk)
                body = b"".join(parts)
            response.relayed(int(first["st"]), first["h"])
            response.body = body
            response.sent = True
            return
        if kind != "start":
            raise IsolationError(f"the worker answered a request with a {kind!r} frame")
        await response.stream_relayed(int(first["st"]), first["h"])
        while True:
            frame, chunk = await exchange.recv()
            if frame.get("k") == "fin":
                break
            await response.write(chunk)

    def _lost(self, worker: WorkerProcess) -> HttpError:
        if worker.killed == "memory":
            reason = "the app's worker process went over its memory limit and was stopped; it starts again"
            return HttpError(503, "WORKER_OUT_OF_MEMORY", reason, headers={"Retry-After": "1"})
        if worker.killed == "timeout":
            return HttpError(
                504, "GATEWAY_TIMEOUT", "the app's worker process was stopped: a request overran"
            )
        return HttpError(
            502, "BAD_GATEWAY", "the app's worker process ended while answering; it will be started again"
        )

    # -- jobs -------------------------------------------------------------------------------------------
    async def attempt(
        self, app: AppRuntime, spec: JobSpec, attempt: int, timeout: float
    ) -> tuple[str, Any, str | None, float]:
        """Run one attempt of an isolated app's job in its worker: (kind, value, error, defer). A worker that
        overruns the timeout (plus grace) is killed; a worker that ends mid-job fails the attempt."""
        worker = self.worker(app.name)
        try:
            channel = await worker.ensure()
        except HttpError as error:
            return "retry", None, f"its worker process is not available: {error.reason}", 1.0
        exchange = channel.open()
        spec_data = _spec(spec)
        try:
            await exchange.send(
                {"k": "job", "app": app.name, "spec": spec_data, "attempt": attempt, "timeout": timeout},
                end=True,
            )
            try:
                header, _ = await asyncio.wait_for(exchange.recv(), timeout + self.settings.grace)
            except asyncio.TimeoutError:
                worker.kill("timeout")
                return (
                    "failed",
                    None,
                    f"it ran longer than {timeout:g} s; its worker process was stopped",
                    0.0,
                )
        except ChannelClosed:
            return (
                "failed",
                None,
                f"its worker process ended while running it ({worker.killed or 'crashed'})",
                0.0,
            )
        finally:
            channel.finished(exchange)
        return str(header["kind"]), header.get("value"), header.get("error"), float(header.get("defer") or 0)

    async def run_script(self, app: AppRuntime, script: str, spec: JobSpec, timeout: float) -> None:
        """Run a schedule's target script in the app's worker; raises what went wrong (the scheduler logs
        it). A worker that overruns the timeout (plus grace) is killed."""
        worker = self.worker(app.name)
        channel = await worker.ensure()
        exchange = channel.open()
        frame = {"k": "run", "app": app.name, "script": script, "spec": _spec(spec), "timeout": timeout}
        try:
            await exchange.send(frame, end=True)
            try:
                await asyncio.wait_for(exchange.recv(), timeout + self.settings.grace)
            except asyncio.TimeoutError:
                worker.kill("timeout")
                raise
        finally:
            channel.finished(exchange)

    # -- lifecycle --------------------------------------------------------------------------------------
    async def retire(self, app: str) -> None:
        """Stop the worker running `app` (a reload or an upgrade): the next request starts a new one."""
        worker = self.workers.pop(self.settings.worker_for(app), None)
        if worker is not None:
            await worker.close()

    def status(self) -> list[dict[str, Any]]:
        """Each worker: name, pid, restarts and load errors."""
        return [
            {"name": w.name, "pid": w.pid, "restarts": w.restarts, "errors": dict(w.errors)}
            for w in self.workers.values()
        ]

    async def close(self) -> None:
        """Stop every worker; safe to call more than once."""
        self.closed = True
        workers, self.workers = list(self.workers.values()), {}
        await asyncio.gather(*(w.close() for w in workers), return_exceptions=True)


def host_for(project: Project) -> IsolationHost:
    """The project's isolation host (created on first use, closed with the project)."""
    host = project.shared.get(SHARED_KEY)
    if host is None:
        host = project.shared[SHARED_KEY] = IsolationHost(project)
    return host


def _spec(spec: JobSpec) -> dict[str, Any]:
    return {"id": spec.id, "name": spec.name, "payload": spec.payload, "attempts": spec.attempts,
            "backoff": spec.backoff, "enqueued_at": spec.enqueued_at}  # fmt: skip


def _header_pairs(headers: Mapping[str, str]) -> list[tuple[str, str]]:
    get_all = getattr(headers, "get_all", None)
    return list(get_all()) if get_all is not None else list(headers.items())


async def _pump_body(incoming: Incoming, exchange: Exchange) -> None:
    """Relay a streamed request body to the worker as it arrives."""
    assert incoming.stream is not None
    try:
        async for chunk in incoming.stream:
            for offset in range(0, len(chunk), CHUNK):
                await exchange.send({"k": "body"}, chunk[offset : offset + CHUNK])
        await exchange.send({"k": "eof"}, end=True)
    except HttpError as error:  # too large, or the client went away
        with contextlib.suppress(IsolationError):
            await exchange.send(
                {"k": "abort", "st": error.status, "code": error.code, "reason": error.reason}, end=True
            )
    except IsolationError:
        pass
