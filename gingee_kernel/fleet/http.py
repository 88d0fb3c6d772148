"""`GET /_gingee/api/cluster`: the fleet as the registry sees it (operator API, admin token)."""

from __future__ import annotations

import json
from typing import Any

from ..admin_access import AdminAccess
from ..json_errors import JsonErrors
from .node import SHARED_KEY, FleetNode

PATH = "/_gingee/api/cluster"


class ClusterApiHandler(JsonErrors):
    """The nodes (id, host, pid, started, last heartbeat, apps and versions; stale ones marked), the
    registry's entries, and this node's view (its id, whether it has caught up)."""

    def initialize(self, shared: dict[str, Any], access: AdminAccess) -> None:
        self.shared = shared
        self.access = access

    def set_default_headers(self) -> None:
        self.set_header("Content-Type", "application/json")
        self.set_header("Cache-Control", "no-store")

    async def get(self) -> None:
        who, reason = self.access.who(self.request)
        if who is None:
            self._reply(403, {"error": "ACCESS_DENIED", "reason": reason})
            return
        node: FleetNode | None = self.shared.get(SHARED_KEY)
        if node is None:
            self._reply(404, {"error": "NOT_A_FLEET", "reason": "gingee.json sets no cluster.redis.url"})
            return
        try:
            nodes = await node.registry.nodes(node.settings.stale_after)
            entries = await node.registry.entries()
            rev = await node.registry.revision()
        except Exception as exc:
            reason = f"the fleet's Redis does not answer ({type(exc).__name__})"
            self._reply(503, {"error": "REGISTRY_UNAVAILABLE", "reason": reason})
            return
        self._reply(
            200,
            {
                "cluster": node.settings.name,
                "node": node.node_id,
                "synced": node.synced,
                "rev": rev,
                "nodes": nodes,
                "apps": {name: entry.as_dict() for name, entry in sorted(entries.items())},
            },
        )

    def _reply(self, status: int, body: dict[str, Any]) -> None:
        self.set_status(status)
        self.finish(json.dumps(body))


def cluster_api_handlers(shared: dict[str, Any], config: dict[str, Any]) -> list[Any]:
    """The URL table of the cluster API, for `Server.extra_handlers`."""
    access = AdminAccess((config.get("admin") or {}).get("token"))
    return [(PATH, ClusterApiHandler, {"shared": shared, "access": access})]
