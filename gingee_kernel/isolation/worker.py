"""The isolated worker: `python -m gingee_kernel.isolation`, started by the master (process.py).

It inherits one end of a socket pair (fd in `GINGEE_ISOLATION_FD`) and nothing else of the master: no
gingee.json, no other app's config or secrets. The first exchange ("hello") brings what it may know: the
apps it runs, their resolved app.json and grants, the server settings that hold no secret, and its limits,
which it applies to itself before any app code runs. Then it answers relayed requests ("req"), runs the
app's jobs ("job"), and calls back to the master for cache, queue and websockets (remote.py).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import resource
import socket
import sys
from pathlib import Path

from tornado.httputil import HTTPHeaders

from ..engine.body import BodyStream
from ..engine.context import current_app
from ..engine.dispatch import Engine, Incoming
from ..engine.loader import load_app
from ..engine.project import Project
from ..errors import GingeeError, HttpError
from .channel import CHUNK, Channel, Exchange, Header, open_channel

log = logging.getLogger("gingee.isolation.worker")

FD_VARIABLE = "GINGEE_ISOLATION_FD"
#: The largest frame payload the master may send (a request body read ahead is one frame).
MAX_FRAME_VARIABLE = "GINGEE_ISOLATION_MAX_FRAME"


class ChannelTransport:
    """A streamed reply, sent to the master frame by frame (the master writes it to the client)."""

    def __init__(self, exchange: Exchange) -> None:
        self.exchange = exchange

    async def start(self, status: int, headers: list[tuple[str, str]]) -> None:
        await self.exchange.send({"k": "start", "st": status, "h": headers})

    async def write(self, chunk: bytes) -> None:
        for offset in range(0, max(len(chunk), 1), CHUNK):
            await self.exchange.send({"k": "chunk"}, chunk[offset : offset + CHUNK])

    async def finish(self) -> None:
        if not self.exchange.local_end:
            await self.exchange.send({"k": "fin"}, end=True)


class Worker:
    """The apps of one worker process and the engine that answers for them."""

    def __init__(self) -> None:
        self.channel: Channel | None = None
        self.project: Project | None = None
        self.engine: Engine | None = None

    async def handle(self, exchange: Exchange, header: Header, payload: bytes) -> None:
        kind = header.get("k")
        if kind == "req":
            await self.request(exchange, header, payload)
        elif kind == "job":
            await self.job(exchange, header)
        elif kind == "run":
            await self.run_script(exchange, header)
        elif kind in ("ws-auth", "ws-open"):
            await self.websocket(exchange, header)
        elif kind == "hello":
            errors = await self.hello(header)
            await exchange.send({"k": "ready", "errors": errors, "pid": os.getpid()}, end=True)
        elif kind == "ping":
            await exchange.send({"k": "pong"}, end=True)
        else:
            await exchange.fail(GingeeError(f"unknown frame kind {kind!r}"))

    async def hello(self, header: Header) -> dict[str, str]:
        """Apply the limits, then load the apps; their load errors by name."""
        for limit, value in header.get("rlimits") or ():
            resource.setrlimit(limit, (value, value))
        assert self.channel is not None
        project = Project(Path(header["project_dir"]), dev=bool(header.get("dev")), config=header["config"])
        from ..jobqueue.service import SHARED_KEY as QUEUE_KEY
        from ..modules.ws.hub import SHARED_KEY as HUB_KEY
        from .remote import MasterCalls, RemoteCache, RemoteHub, RemoteQueue

        calls = MasterCalls(self.channel)
        project.shared["cache"] = RemoteCache(calls, lambda: current_app().name)
        project.shared[QUEUE_KEY] = RemoteQueue(calls)
        project.shared[HUB_KEY] = RemoteHub(calls)
        for spec in header["apps"]:
            name = spec["name"]
            try:
                project.apps[name] = await load_app(
                    Path(spec["root"]),
                    project_dir=project.dir,
                    server_config=project.config,
                    shared=project.shared,
                    executor=project.executor,
                    dev=project.dev,
                    resolved=spec["config"],
                    grants=frozenset(spec["grants"]),
                )
            except GingeeError as exc:
                project.errors[name] = str(exc)
            except Exception as exc:
                log.exception("app '%s' did not load in its worker", name)
                project.errors[name] = f"{type(exc).__name__}: {exc}"
        self.project = project
        self.engine = Engine(project)
        return dict(project.errors)

    async def request(self, exchange: Exchange, header: Header, payload: bytes) -> None:
        assert self.engine is not None
        stream: BodyStream | None = None
        pump: asyncio.Task[None] | None = None
        if header.get("s"):
            stream = BodyStream()
            pump = asyncio.ensure_future(_pump_body(exchange, stream))
        headers = HTTPHeaders()
        for name, value in header["h"]:
            headers.add(name, value)
        incoming = Incoming(
            header["m"], header["p"], header["q"], header["u"], headers, payload, header.get("ip", ""),
            stream, header.get("pr", ""), bool(header.get("op")),
        )  # fmt: skip
        try:
            response = await self.engine.dispatch(incoming, ChannelTransport(exchange))
        finally:
            if pump is not None:
                pump.cancel()
            if stream is not None:
                stream.close()
        if response.streaming:
            await response.end()
        elif not exchange.local_end:
            body = response.body or b""
            head = {"k": "res", "st": response.status, "h": response.header_lines()}
            if len(body) <= CHUNK:
                await exchange.send(head, body, end=True)
            else:
                head["more"] = 1
                await exchange.send(head)
                for offset in range(0, len(body), CHUNK):
                    await exchange.send({"k": "chunk"}, body[offset : offset + CHUNK])
                await exchange.send({"k": "fin"}, end=True)

    async def websocket(self, exchange: Exchange, header: Header) -> None:
        """An isolated app's websocket: its auth hook, or its handler and callbacks (sockets_worker.py)."""
        from .sockets_worker import authenticate, serve_socket

        assert self.project is not None
        app = self.project.apps.get(str(header.get("app")))
        if app is None:
            await exchange.fail(GingeeError(f"app {header.get('app')!r} is not loaded in this worker"))
            return
        if header["k"] == "ws-auth":
            await exchange.send(await authenticate(app, header["ctx"]), end=True)
        else:
            await serve_socket(app, exchange, header)

    async def run_script(self, exchange: Exchange, header: Header) -> None:
        """A schedule's target script of one of our apps (its error goes back to the master's log)."""
        assert self.project is not None
        from ..jobqueue.job import JobSpec
        from ..jobqueue.schedules import run_schedule_script

        app = self.project.apps.get(str(header.get("app")))
        if app is None:
            await exchange.fail(GingeeError(f"app {header.get('app')!r} is not loaded in this worker"))
            return
        await run_schedule_script(app, header["script"], JobSpec(**header["spec"]), float(header["timeout"]))
        await exchange.send({"k": "done"}, end=True)

    async def job(self, exchange: Exchange, header: Header) -> None:
        """One attempt of a job of one of our apps; the outcome goes back to the master's queue."""
        assert self.project is not None
        from ..jobqueue.job import JobSpec
        from ..jobqueue.runner import JobRunner

        spec = JobSpec(**header["spec"])
        runner = JobRunner(self.project.apps, float(header["timeout"]))
        outcome = await runner.attempt(header["app"], spec, int(header["attempt"]))
        await exchange.send(
            {"k": "outcome", "kind": outcome.kind, "value": outcome.value, "error": outcome.error,
             "defer": outcome.defer},
            end=True,
        )  # fmt: skip

    async def close(self) -> None:
        if self.project is not None:
            await self.project.close()


async def _pump_body(exchange: Exchange, stream: BodyStream) -> None:
    """Feed the body frames the master relays into the script's stream."""
    try:
        while True:
            header, chunk = await exchange.recv()
            if header.get("k") == "eof":
                break
            if header.get("k") == "abort":
                stream.fail(HttpError(int(header.get("st", 400)), str(header["code"]), str(header["reason"])))
                return
            if chunk:
                room = stream.feed(chunk)
                if room is not None:
                    await room
        stream.finish()
    except Exception as exc:  # the channel closed: the master is gone
        stream.fail(HttpError(400, "BODY_INCOMPLETE", f"the request body did not arrive: {exc}"))


async def serve(fd: int, max_payload: int) -> None:
    """Serve the master on the socket `fd` until it closes the channel."""
    worker = Worker()
    sock = socket.socket(fileno=fd)
    channel = await open_channel(
        sock, master=False, handler=worker.handle, max_payload=max_payload, max_served=1_000_000
    )
    worker.channel = channel
    try:
        await channel.wait_closed()
    finally:
        with contextlib.suppress(Exception):
            await worker.close()


def main() -> None:
    """The worker process's entry point."""
    level = os.environ.get("GINGEE_ISOLATION_LOG_LEVEL", "INFO").upper()
    logging.basicConfig(
        level=getattr(logging, level, logging.INFO),
        stream=sys.stderr,
        format="%(asctime)s %(levelname)s [worker %(process)d] %(name)s: %(message)s",
    )
    fd = int(os.environ.pop(FD_VARIABLE))
    asyncio.run(serve(fd, int(os.environ.pop(MAX_FRAME_VARIABLE, str(16 * 1024 * 1024)))))
    sys.exit(0)
