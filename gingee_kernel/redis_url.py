"""Redis connections from a URL, with Redis Sentinel for high availability.

Plain URLs (`redis://`, `rediss://`, `unix://`) are redis-py's own (`ConnectionPool.from_url`). A Sentinel URL
names the sentinels and the monitored service; the pool talks to that service's current master:

    redis+sentinel://[[user]:password@]host1:port1[,host2:port2,...]/SERVICE[/DB][?sentinel_password=...]

The user and password are the master's (its `requirepass`/ACL); `sentinel_password` (and `sentinel_username`)
in the query are the sentinels' own, if they need one. A port left out is 26379, DB left out is 0.

The pool is redis-py's `SentinelConnectionPool`: each new connection asks the sentinels for the master, and a
READONLY reply (a demoted master) drops the connection. redis-py only asks when it connects, though, and a
master demoted by `SENTINEL FAILOVER` keeps its clients (and takes writes that the new master never sees)
for seconds; so the pool here also polls the sentinels twice a second while it has connections and, when
the master moves, closes every connection to the old one (in use ones too: their callers get a connection
error and retry or report it) so that what follows reaches the new master.
"""

from __future__ import annotations

import asyncio
import contextlib
import re
import weakref
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qs, unquote, urlsplit

from redis.asyncio import ConnectionPool, Redis
from redis.asyncio.connection import parse_url
from redis.asyncio.sentinel import Sentinel, SentinelConnectionPool
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import TimeoutError as RedisTimeoutError

SENTINEL_SCHEME = "redis+sentinel"
SENTINEL_FORM = "redis+sentinel://[[user]:password@]host1:port1[,host2:port2...]/SERVICE[/DB]"
PLAIN_FORMS = "redis://[[user]:password@]host:port/DB, rediss://..., unix:///path/to/socket"
SENTINEL_PORT = 26379
#: Connect and read timeouts (s) for the sentinels: they answer at once or are down.
SENTINEL_TIMEOUT = 0.5
#: How often (s) a pool with connections asks the sentinels where the master is.
RECHECK = 0.5
_QUERY = ("sentinel_password", "sentinel_username")
_HOST = re.compile(r"^(?:\[(?P<v6>[0-9A-Fa-f:.]+)\]|(?P<host>[^:\[\]]+))(?::(?P<port>\d{1,5}))?$")


@dataclass(frozen=True)
class SentinelURL:
    """A parsed `redis+sentinel://` URL."""

    sentinels: tuple[tuple[str, int], ...]
    service: str
    db: int = 0
    username: str | None = None
    password: str | None = None
    sentinel_username: str | None = None
    sentinel_password: str | None = None

    def where(self) -> str:
        """`sentinel SERVICE via h1:p1,h2:p2 /db`."""
        hosts = ",".join(f"[{h}]:{p}" if ":" in h else f"{h}:{p}" for h, p in self.sentinels)
        return f"sentinel {self.service} via {hosts} /{self.db}"


def is_sentinel(url: str) -> bool:
    """True for a `redis+sentinel://` URL."""
    return url.split(":", 1)[0].lower() == SENTINEL_SCHEME


def parse_sentinel(url: str) -> SentinelURL:
    """Parse a `redis+sentinel://` URL; ValueError (without the password) names the expected form."""

    def bad(why: str) -> ValueError:
        return ValueError(f"Redis Sentinel URL: {why}; expected {SENTINEL_FORM}")

    if not is_sentinel(url):
        raise bad("the scheme is not redis+sentinel://")
    parts = urlsplit(url)
    userinfo, _, hostlist = parts.netloc.rpartition("@")
    username = password = None
    if userinfo:
        user, has_password, secret = userinfo.partition(":")
        username = unquote(user) or None
        password = unquote(secret) if has_password else None
    sentinels = []
    for item in hostlist.split(","):
        match = _HOST.match(item.strip())
        if match is None:
            raise bad(f"{item.strip()!r} is not host:port" if item.strip() else "no sentinel host:port")
        port = int(match["port"] or SENTINEL_PORT)
        if not 0 < port < 65536:
            raise bad(f"port {port} is out of range")
        sentinels.append((match["v6"] or match["host"], port))
    segments = [unquote(s) for s in parts.path.split("/") if s]
    if not segments:
        raise bad("no SERVICE (the name in `sentinel monitor NAME ...`)")
    if len(segments) > 2 or (len(segments) == 2 and not segments[1].isdigit()):
        raise bad(f"the path {parts.path!r} is not /SERVICE or /SERVICE/DB")
    query = {k: v[-1] for k, v in parse_qs(parts.query, keep_blank_values=True).items()}
    unknown = sorted(set(query) - set(_QUERY))
    if unknown:
        raise bad(f"unknown query option(s) {', '.join(unknown)} (known: {', '.join(_QUERY)})")
    return SentinelURL(
        tuple(sentinels),
        segments[0],
        int(segments[1]) if len(segments) == 2 else 0,
        username,
        password,
        query.get("sentinel_username") or None,
        query.get("sentinel_password") or None,
    )


class FollowingSentinelPool(SentinelConnectionPool):
    """redis-py's master pool, which also notices a moved master between connects (see the module doc)."""

    def __init__(self, service_name: str, sentinel_manager: Sentinel, **kwargs: Any) -> None:
        super().__init__(service_name, sentinel_manager, **kwargs)
        self._watcher: asyncio.Task[None] | None = None
        #: Set by disconnect() (the pool was closed): the watcher ends.
        self.closed = False

    async def get_connection(self, *args: Any, **kwargs: Any) -> Any:
        """A connection to the current master; starts the watcher on first use."""
        self.closed = False
        if self._watcher is None or self._watcher.done():
            self._watcher = asyncio.get_running_loop().create_task(
                _watch(weakref.ref(self)), name="gingee-sentinel-watch"
            )
        return await super().get_connection(*args, **kwargs)

    async def follow(self) -> bool:
        """Ask the sentinels for the master; if it moved, close every connection to the old one."""
        before = self.master_address
        address = await self.sentinel_manager.discover_master(self.service_name)
        if before is None or address == before:
            if before is None:
                self.master_address = address
            return False
        self.master_address = address
        # Every connection so far points at the former master: close them all (redis-py's public call;
        # each reconnects, to the new master, on its next use).
        await super().disconnect(inuse_connections=True)
        return True

    async def release(self, connection: Any) -> None:
        """Give the connection back, closed first if it still points at a former master."""
        if (
            self.master_address is not None
            and connection.host
            and ((connection.host, connection.port) != self.master_address)
        ):
            with contextlib.suppress(Exception):
                await connection.disconnect(nowait=True)
        await super().release(connection)

    async def disconnect(self, inuse_connections: bool = True) -> None:
        """Disconnect (on close: also the watcher and the sentinel connections)."""
        if inuse_connections:
            self.closed = True
            watcher, self._watcher = self._watcher, None
            if watcher is not None and watcher is not asyncio.current_task():
                watcher.cancel()
            for sentinel in self.sentinel_manager.sentinels:
                with contextlib.suppress(Exception):
                    await sentinel.connection_pool.disconnect()
        await super().disconnect(inuse_connections)


async def _watch(ref: weakref.ref[FollowingSentinelPool]) -> None:
    """Poll the sentinels for the pool while it lives and is not closed (a weak reference: a pool dropped
    without being closed ends its watcher; its next connection starts a new one)."""
    while True:
        await asyncio.sleep(RECHECK)
        watched = ref()
        if watched is None or watched.closed:
            return
        with contextlib.suppress(RedisConnectionError, RedisTimeoutError, OSError):
            await watched.follow()
        del watched


def pool(url: str, **kwargs: Any) -> ConnectionPool:
    """A connection pool for `url` (a plain Redis URL or a Sentinel one); kwargs go to the connections."""
    if not is_sentinel(url):
        try:
            return ConnectionPool.from_url(url, **kwargs)
        except ValueError as exc:
            raise ValueError(f"{exc}: expected {PLAIN_FORMS} or {SENTINEL_FORM}") from None
    parsed = parse_sentinel(url)
    sentinel_kwargs: dict[str, Any] = {
        "socket_connect_timeout": SENTINEL_TIMEOUT,
        "socket_timeout": SENTINEL_TIMEOUT,
    }
    if parsed.sentinel_password:
        sentinel_kwargs["password"] = parsed.sentinel_password
    if parsed.sentinel_username:
        sentinel_kwargs["username"] = parsed.sentinel_username
    manager = Sentinel(list(parsed.sentinels), sentinel_kwargs=sentinel_kwargs)
    master: dict[str, Any] = {"db": parsed.db, **kwargs, "is_master": True}
    if parsed.password is not None:
        master["password"] = parsed.password
    if parsed.username is not None:
        master["username"] = parsed.username
    return FollowingSentinelPool(parsed.service, manager, **master)


def client(url: str, **kwargs: Any) -> Redis:
    """A client owning its own `pool(url, **kwargs)` (closing the client closes the pool)."""
    return Redis.from_pool(pool(url, **kwargs))


def where(url: str) -> str:
    """A short description of `url` for error messages, without passwords."""
    if is_sentinel(url):
        return parse_sentinel(url).where()
    try:
        kwargs = parse_url(url)
    except ValueError as exc:
        raise ValueError(f"{exc}: expected {PLAIN_FORMS} or {SENTINEL_FORM}") from None
    db = kwargs.get("db", 0)
    if "path" in kwargs:
        return f"unix:{kwargs['path']}/{db}"
    return f"{kwargs.get('host', 'localhost')}:{kwargs.get('port', 6379)}/{db}"
