"""Redis pub/sub fan-out (redis.asyncio): every process publishes its broadcasts on one channel and
delivers what the others publish.

Publishing never blocks a broadcast: envelopes wait in a bounded buffer and a background task sends
them, pipelined. While Redis is away they are held and retried for `retry_seconds`; each held message
is counted as "delayed" and each one given up (too old, or the buffer is full) as "dropped", in the
log and in `gingee_websocket_fanout_errors_total`. Nothing is lost silently. Pub/sub itself does not
replay: while a process's subscription is down, what others publish does not reach its sockets, which
the log says when it happens.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections import Counter, deque
from typing import Any

from ... import redis_url
from ...errors import ModuleConfigError
from ...metrics import series as metrics
from .fanout import Deliver, Envelope, Fanout
from .presence import Presence

try:
    import redis.asyncio as aioredis
    from redis.exceptions import RedisError
except ImportError:  # pragma: no cover - exercised only without the extra
    aioredis = None  # type: ignore[assignment]
    RedisError = OSError  # type: ignore[assignment,misc]

log = logging.getLogger("gingee.websockets.fanout")

BATCH = 256
READY_WAIT = 2.0


class _Held:
    __slots__ = ("app", "data", "delayed", "since")

    def __init__(self, app: str, data: bytes) -> None:
        self.app = app
        self.data = data
        self.since = time.monotonic()
        self.delayed = False


class RedisFanout(Fanout):
    """Broadcasts over the Redis channel `<prefix>broadcast`; announces itself on `<prefix>hello`."""

    def __init__(
        self,
        url: str,
        prefix: str,
        node: str,
        *,
        project: str = "",
        retry_seconds: float = 10.0,
        max_pending: int = 10_000,
    ) -> None:
        if aioredis is None:
            raise ModuleConfigError(
                "websockets fan-out driver 'redis' needs the redis package: pip install 'gingee[redis]'"
            )
        self.channel = f"{prefix}broadcast"
        self.hello_channel = f"{prefix}hello"
        self.node = node
        self.retry_seconds = retry_seconds
        self.max_pending = max_pending
        self._publisher_client: Any = redis_url.client(url, socket_connect_timeout=2, socket_timeout=5)
        self._subscriber_client: Any = redis_url.client(
            url, socket_connect_timeout=2, health_check_interval=15
        )
        kwargs = self._publisher_client.connection_pool.connection_kwargs
        self.where = redis_url.where(url)
        self.presence = Presence.here(node, project, int(kwargs.get("db") or 0))
        self._warned: set[str] = set()
        self._pending: deque[_Held] = deque()
        self._wake: asyncio.Event | None = None
        self._ready: asyncio.Event | None = None
        self._publisher: asyncio.Task[None] | None = None
        self._receiver: asyncio.Task[None] | None = None
        self._deliver: Deliver | None = None
        self._publish_down: float | None = None
        self._closed = False

    # -- receiving ----------------------------------------------------------------------------------

    async def start(self, deliver: Deliver) -> None:
        """Subscribe (waiting up to 2 s the first time); a Redis that is away is retried in the background."""
        if self._receiver is not None:
            return
        self._deliver = deliver
        self._ready = asyncio.Event()
        self._receiver = asyncio.get_running_loop().create_task(self._receive_loop())
        try:
            await asyncio.wait_for(self._ready.wait(), READY_WAIT)
        except asyncio.TimeoutError:
            log.warning(
                "websocket fan-out: not subscribed to Redis at %s yet; this process serves its own "
                "sockets and keeps trying",
                self.where,
            )

    async def _receive_loop(self) -> None:
        delay, down = 0.1, False
        while not self._closed:
            pubsub = self._subscriber_client.pubsub()
            try:
                await pubsub.subscribe(self.channel, self.hello_channel)
                while True:
                    message = await pubsub.get_message(timeout=5.0)
                    if message is None:
                        continue
                    if message["type"] == "subscribe" and message["channel"] == self.channel.encode():
                        assert self._ready is not None
                        self._ready.set()
                        if down:
                            log.warning("websocket fan-out: subscribed to Redis at %s again", self.where)
                        delay, down = 0.1, False
                    elif message["type"] == "subscribe":
                        await self._hello(reply=False)
                    elif message["channel"] == self.channel.encode():
                        self._receive(message["data"])
                    else:
                        await self._greeted(message["data"])
            except (RedisError, OSError) as exc:
                if not down:
                    down = True
                    metrics.record_ws_fanout_error("-", "subscribe_failed")
                    log.error(
                        "websocket fan-out: lost the Redis subscription at %s (%s); broadcasts from other "
                        "processes do not reach this one until it is back. Retrying.",
                        self.where,
                        exc,
                    )
            finally:
                with contextlib.suppress(Exception):
                    await pubsub.aclose()
            await asyncio.sleep(delay)
            delay = min(delay * 2, 2.0)

    def _receive(self, raw: bytes) -> None:
        try:
            origin, envelope = Envelope.loads(raw)
        except (ValueError, KeyError, TypeError):
            log.warning(
                "websocket fan-out: ignored a message on %s that is not a Gingee envelope", self.channel
            )
            return
        if origin == self.node or self._deliver is None:
            return
        try:
            self._deliver(envelope)
        except Exception:
            log.exception("websocket fan-out: delivering a broadcast for app '%s' failed", envelope.app)

    # -- presence (presence.py) ---------------------------------------------------------------------

    async def _hello(self, reply: bool) -> None:
        await self._publisher_client.publish(self.hello_channel, self.presence.dumps(reply))

    async def _greeted(self, raw: bytes) -> None:
        try:
            other, reply = Presence.loads(raw)
        except (ValueError, KeyError, TypeError):
            return
        if other.node == self.node:
            return
        why = self.presence.conflict(other, self.channel)
        if why is not None and other.node not in self._warned:
            self._warned.add(other.node)
            log.warning("%s", why)
        if not reply:
            await self._hello(reply=True)

    # -- publishing ---------------------------------------------------------------------------------

    def publish(self, envelope: Envelope) -> None:
        """Queue `envelope` for the publisher task (started on first use)."""
        if self._closed:
            self._drop([_Held(envelope.app, b"")], "the server is shutting down")
            return
        if len(self._pending) >= self.max_pending:
            self._drop([self._pending.popleft()], f"{self.max_pending} messages were already waiting")
        self._pending.append(_Held(envelope.app, envelope.dumps(self.node)))
        if self._publisher is None:
            self._wake = asyncio.Event()
            self._publisher = asyncio.get_running_loop().create_task(self._publish_loop())
        assert self._wake is not None
        self._wake.set()

    async def _publish_loop(self) -> None:
        assert self._wake is not None
        while True:
            await self._wake.wait()
            self._wake.clear()
            delay = 0.05
            while self._pending:
                self._expire()
                batch = [self._pending[i] for i in range(min(BATCH, len(self._pending)))]
                if not batch:
                    break
                try:
                    async with self._publisher_client.pipeline(transaction=False) as pipe:
                        for held in batch:
                            pipe.publish(self.channel, held.data)
                        await pipe.execute()
                except (RedisError, OSError) as exc:
                    self._publish_failed(batch, exc)
                    await asyncio.sleep(delay)
                    delay = min(delay * 2, 1.0)
                    continue
                for _ in batch:
                    self._pending.popleft()
                if self._publish_down is not None:
                    log.warning(
                        "websocket fan-out: Redis at %s is back after %.1f s; held broadcasts were published",
                        self.where,
                        time.monotonic() - self._publish_down,
                    )
                    self._publish_down = None
                delay = 0.05

    def _publish_failed(self, batch: list[_Held], exc: BaseException) -> None:
        for held in batch:
            if not held.delayed:
                held.delayed = True
                metrics.record_ws_fanout_error(held.app, "delayed")
        if self._publish_down is None:
            self._publish_down = time.monotonic()
            log.error(
                "websocket fan-out: cannot publish to Redis at %s (%s); holding %d broadcast(s) for other "
                "processes and retrying for up to %g s",
                self.where,
                exc,
                len(self._pending),
                self.retry_seconds,
            )

    def _expire(self) -> None:
        limit = time.monotonic() - self.retry_seconds
        expired: list[_Held] = []
        while self._pending and self._pending[0].since < limit and self._pending[0].delayed:
            expired.append(self._pending.popleft())
        if expired:
            self._drop(expired, f"Redis at {self.where} stayed away for more than {self.retry_seconds:g} s")

    def _drop(self, dropped: list[_Held], why: str) -> None:
        apps = Counter(held.app for held in dropped)
        for app, count in apps.items():
            metrics.record_ws_fanout_error(app, "dropped", count)
        log.error(
            "websocket fan-out: dropped %d broadcast(s) for other processes (apps: %s): %s",
            len(dropped),
            ", ".join(sorted(apps)),
            why,
        )

    @property
    def pending(self) -> int:
        """Broadcasts waiting to be published."""
        return len(self._pending)

    async def close(self) -> None:
        """Give held broadcasts a moment to go out, report the rest, close both connections."""
        if self._publisher is not None and self._pending and self._publish_down is None:
            deadline = time.monotonic() + 1.0
            while self._pending and time.monotonic() < deadline:
                await asyncio.sleep(0.01)
        self._closed = True
        for task in (self._publisher, self._receiver):
            if task is not None:
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError, Exception):
                    await task
        if self._pending:
            self._drop(list(self._pending), "the server shut down before Redis took them")
            self._pending.clear()
        await self._publisher_client.aclose()
        await self._subscriber_client.aclose()
