"""In a worker: the modules whose state lives in the master (cache, queue, websockets), called back to it.

Each proxy takes the place the module looks in (`project.shared`), so the module's code is the same in
both processes and checks the grant in the worker; the master checks it again (isolation/calls.py) and
refuses an app this worker does not run or a key outside the app's namespace.
"""

from __future__ import annotations

import asyncio
from typing import Any

from ..errors import GingeeError, PermissionDenied, ServiceUnavailable
from ..jobqueue.errors import HandlerNotFound, JobFailed, JobNotFound
from ..jobqueue.job import JobHandle, JobInfo, JobStatus
from ..modules.cache_drivers.base import CacheDriver
from .channel import Channel, RemoteError

#: The exceptions a call back to the master may raise in the script, by class name.
_ERRORS: dict[str, type[BaseException]] = {
    cls.__name__: cls
    for cls in (
        PermissionDenied, ServiceUnavailable, HandlerNotFound, JobFailed, JobNotFound, GingeeError,
        TimeoutError, asyncio.TimeoutError, ValueError, TypeError, KeyError,
    )
}  # fmt: skip


def _as_local(error: RemoteError) -> BaseException:
    cls = _ERRORS.get(error.kind, GingeeError)
    exc = cls.__new__(cls)
    Exception.__init__(exc, str(error).split(": ", 1)[-1])
    return exc


class MasterCalls:
    """Calls `module.op(...)` in the master, as `app`."""

    def __init__(self, channel: Channel) -> None:
        self.channel = channel

    async def call(self, app: str, module: str, op: str, blob: bytes = b"", /, **args: Any) -> Any:
        """The op's JSON result; its exception (by class) if it failed there. Large values (a cached
        value, a websocket message) travel as `blob`, the frame's payload, not in its JSON header."""
        try:
            header, _ = await self.channel.call(
                {"k": "call", "app": app, "mod": module, "op": op, "args": args}, blob
            )
        except RemoteError as error:
            raise _as_local(error) from None
        return header.get("r")


class RemoteCache(CacheDriver):
    """The project's cache, kept by the master; keys arrive namespaced by the cache module."""

    def __init__(self, calls: MasterCalls, app_of: Any) -> None:
        self.calls = calls
        self.app_of = app_of  # () -> the current app's name

    async def get(self, key: str) -> str | None:
        return await self.calls.call(self.app_of(), "cache", "get", key=key)

    async def set(self, key: str, value: str, ttl: float | None) -> None:
        await self.calls.call(self.app_of(), "cache", "set", value.encode("utf-8"), key=key, ttl=ttl)

    async def delete(self, key: str) -> bool:
        return bool(await self.calls.call(self.app_of(), "cache", "delete", key=key))

    async def incr(self, key: str, amount: int, ttl: float | None) -> int:
        return int(await self.calls.call(self.app_of(), "cache", "incr", key=key, amount=amount, ttl=ttl))

    async def clear_prefix(self, prefix: str) -> int:
        return int(await self.calls.call(self.app_of(), "cache", "clear_prefix", prefix=prefix))

    async def close(self) -> None:
        return None


class RemoteQueueDriver:
    """What JobHandle and the queue module ask of a driver, answered by the master's."""

    name = "remote"

    def __init__(self, calls: MasterCalls) -> None:
        self.calls = calls

    async def info(self, app: str, job_id: str) -> JobInfo | None:
        data = await self.calls.call(app, "queue", "info", job_id=job_id)
        if data is None:
            return None
        data["status"] = JobStatus(data["status"])
        return JobInfo(**data)

    async def result(self, app: str, job_id: str, timeout: float | None) -> Any:
        return await self.calls.call(app, "queue", "result", job_id=job_id, timeout=timeout)

    async def stats(self, app: str) -> dict[str, int]:
        return await self.calls.call(app, "queue", "stats")

    async def dlq_list(self, app: str, limit: int) -> list[dict[str, Any]]:
        return await self.calls.call(app, "queue", "dlq_list", limit=limit)

    async def dlq_retry(self, app: str, job_id: str) -> bool:
        return bool(await self.calls.call(app, "queue", "dlq_retry", job_id=job_id))

    async def dlq_discard(self, app: str, job_id: str) -> bool:
        return bool(await self.calls.call(app, "queue", "dlq_discard", job_id=job_id))


class RemoteQueue:
    """The project's queue service as `queue.add` sees it; jobs are enqueued in the master, which hands
    the isolated app's jobs back to this worker to run."""

    autostart = False

    def __init__(self, calls: MasterCalls) -> None:
        self.calls = calls
        self.driver = RemoteQueueDriver(calls)
        self.apps: dict[str, Any] = {}

    async def add(self, app: Any, name: str, payload: Any = None, **options: Any) -> JobHandle:
        for key in ("delay", "backoff"):
            value = options.get(key)
            if value is not None and hasattr(value, "total_seconds"):
                options[key] = value.total_seconds()
        data = await self.calls.call(app.name, "queue", "add", name=name, payload=payload, **options)
        return JobHandle(self.driver, app.name, data["id"], data["name"], bool(data["created"]))


class RemoteHub:
    """The master's websocket hub, which holds the sockets; each method returns an awaitable (the
    websockets module awaits what a hub returns when it is one)."""

    def __init__(self, calls: MasterCalls) -> None:
        self.calls = calls

    def broadcast(self, app: str, room: str | None, payload: str | bytes, binary: bool) -> Any:
        data = payload if isinstance(payload, bytes) else payload.encode("utf-8")
        return self.calls.call(app, "websockets", "broadcast", data, room=room, binary=binary)

    def room_size(self, app: str, room: str) -> Any:
        return self.calls.call(app, "websockets", "room_size", room=room)

    def connection_count(self, app: str) -> Any:
        return self.calls.call(app, "websockets", "connection_count")
