"""gingee.json `cluster`: whether this project is one node of a fleet, and how the node behaves."""

from __future__ import annotations

import os
import socket
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class FleetSettings:
    """A fleet joined over the Redis at `redis_url`; every key lives under `prefix`.

    `heartbeat` seconds between a node's heartbeats (a node silent for `stale_after` is marked stale);
    `sync_interval`: how often a node checks the registry even when no announcement arrived (pub/sub
    loses messages while a subscriber reconnects)."""

    name: str
    redis_url: str
    node_id: str
    heartbeat: float = 2.0
    stale_after: float = 10.0
    sync_interval: float = 5.0

    @property
    def prefix(self) -> str:
        # The braces are a Redis Cluster hash tag: every key of one fleet lives in one slot.
        return f"gingee:fleet:{{{self.name}}}:"

    @classmethod
    def from_config(cls, config: dict[str, Any], *, worker: int | None = None) -> FleetSettings | None:
        """The settings of a project whose gingee.json sets `cluster.redis.url`; else None."""
        cluster = config.get("cluster") or {}
        url = (cluster.get("redis") or {}).get("url")
        if not url:
            return None
        base = cluster.get("node_id") or f"{socket.gethostname()}:{os.getpid()}"
        node_id = base if worker is None else f"{base}/{worker}"
        heartbeat = int(cluster.get("heartbeat_ms", 2000)) / 1000
        return cls(
            name=str(cluster.get("name") or "project"),
            redis_url=str(url),
            node_id=node_id,
            heartbeat=heartbeat,
            stale_after=int(cluster.get("stale_after_ms", 5 * heartbeat * 1000)) / 1000,
            sync_interval=int(cluster.get("sync_interval_ms", 5000)) / 1000,
        )
