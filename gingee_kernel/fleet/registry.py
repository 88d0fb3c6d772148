"""The fleet's app registry in Redis: which version of each app every node must serve, the packages
themselves, and the nodes' heartbeats.

Keys, under the fleet's prefix (`gingee:fleet:{NAME}:`):

- `apps`: a hash, app name -> its entry (JSON): `rev`, `version`, `hash` (the package's content hash),
  `granted` (the permissions the app holds), `removed`, and who published it (`op`, `node`, `who`, `at`).
- `rev`: the registry's revision, raised by one at every publication; each entry carries the revision
  that wrote it, so the newest publication of an app wins everywhere.
- `pkg:<hash>`: a package (`.gin` bytes), content-addressed, unless the packages live in S3
  (packages.py). The package an entry names is kept; the one it replaced expires after `PACKAGE_GRACE`
  seconds (nodes still fetching it have that long).
- `nodes`: a hash, node id -> its last heartbeat (JSON).
- `events`: the pub/sub channel announcing each publication (`{"app", "rev"}`). Announcements are only a
  prompt: a node compares its apps with the `apps` hash, so a missed one is caught up on the next check.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass
from typing import Any

#: Seconds a replaced package stays fetchable.
PACKAGE_GRACE = 24 * 3600
#: Heartbeats older than this are dropped from `nodes` (a node gone for good).
FORGET_AFTER = 24 * 3600

# Raise the revision, write the entry with it, let the replaced package expire, announce: one step.
_PUBLISH = """
local rev = redis.call('INCR', KEYS[2])
local entry = cjson.decode(ARGV[2])
entry['rev'] = rev
local old = redis.call('HGET', KEYS[1], ARGV[1])
local hash = entry['hash']
if type(hash) ~= 'string' then hash = nil end  -- a removal: JSON null
if old then
  local previous = cjson.decode(old)['hash']
  if type(previous) == 'string' and previous ~= hash then
    redis.call('EXPIRE', ARGV[3] .. previous, tonumber(ARGV[4]))
  end
end
if hash then redis.call('PERSIST', ARGV[3] .. hash) end
redis.call('HSET', KEYS[1], ARGV[1], cjson.encode(entry))
redis.call('PUBLISH', KEYS[3], cjson.encode({app = ARGV[1], rev = rev}))
return rev
"""


@dataclass(frozen=True)
class Entry:
    """What the registry says about one app."""

    app: str
    rev: int
    version: str | None
    hash: str | None
    granted: tuple[str, ...]
    removed: bool
    origin: dict[str, Any]

    @classmethod
    def parse(cls, app: str, raw: str | bytes) -> Entry:
        data = json.loads(raw)
        return cls(
            app=app,
            rev=int(data.get("rev", 0)),
            version=data.get("version"),
            hash=data.get("hash"),
            granted=tuple(sorted(data.get("granted") or ())),
            removed=bool(data.get("removed")),
            origin={k: data.get(k) for k in ("op", "node", "who", "at")},
        )

    @property
    def state(self) -> tuple[str | None, tuple[str, ...]] | None:
        """What a node serving this entry holds: (content hash, grants), or None when removed."""
        return None if self.removed else (self.hash, self.granted)

    def as_dict(self) -> dict[str, Any]:
        return {
            "rev": self.rev,
            "version": self.version,
            "hash": self.hash,
            "granted": list(self.granted),
            "removed": self.removed,
            **self.origin,
        }


class Registry:
    """The registry of one fleet, over a redis.asyncio client (bytes replies)."""

    def __init__(self, redis: Any, prefix: str) -> None:
        self.redis = redis
        self.prefix = prefix
        self.apps_key = f"{prefix}apps"
        self.rev_key = f"{prefix}rev"
        self.nodes_key = f"{prefix}nodes"
        self.events = f"{prefix}events"
        self._publish = redis.register_script(_PUBLISH)

    def package_key(self, content_hash: str) -> str:
        return f"{self.prefix}pkg:{content_hash}"

    async def revision(self) -> int:
        return int(await self.redis.get(self.rev_key) or 0)

    async def entries(self) -> dict[str, Entry]:
        raw = await self.redis.hgetall(self.apps_key)
        return {name.decode(): Entry.parse(name.decode(), value) for name, value in raw.items()}

    async def package(self, content_hash: str) -> bytes | None:
        return await self.redis.get(self.package_key(content_hash))

    async def publish(self, app: str, entry: dict[str, Any]) -> int:
        """Write the entry (its package stored already) and announce it; the new revision."""
        keys = [self.apps_key, self.rev_key, self.events]
        args = [app, json.dumps(entry), f"{self.prefix}pkg:", PACKAGE_GRACE]
        return int(await self._publish(keys=keys, args=args))

    async def beat(self, node_id: str, heartbeat: dict[str, Any]) -> None:
        await self.redis.hset(self.nodes_key, node_id, json.dumps(heartbeat))

    async def leave(self, node_id: str) -> None:
        await self.redis.hdel(self.nodes_key, node_id)

    async def nodes(self, stale_after: float) -> list[dict[str, Any]]:
        """Every node's last heartbeat, with its age and whether it is stale; long-gone ones are dropped."""
        now = time.time()
        found, forgotten = [], []
        for node_id, raw in (await self.redis.hgetall(self.nodes_key)).items():
            beat = json.loads(raw)
            age = now - float(beat.get("beat", 0))
            if age > FORGET_AFTER:
                forgotten.append(node_id)
                continue
            found.append({**beat, "age_s": round(age, 1), "stale": age > stale_after})
        if forgotten:
            await self.redis.hdel(self.nodes_key, *forgotten)
        return sorted(found, key=lambda n: str(n.get("id")))
