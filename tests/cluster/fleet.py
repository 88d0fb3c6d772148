"""A fleet for tests: N `gingee serve` nodes, each with its own project folder (standing in for a host),
joined over the test Redis under a fleet name of their own.

Every node starts with app `shop` at 1.0.0, whose `/shop/version` answers the version it serves and
`/shop/node` the node's id. `app_folder(version)` writes another version to package or deploy.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.fixtures.redis import delete_keys
from tests.fixtures.servers import write_files

from .nodes import Node

TOKEN = "fleet-test-admin-token-0123456789"
AUTH = {"Authorization": f"Bearer {TOKEN}"}

VERSION = """import json
from pathlib import Path

async def handle(g):
    g.response.send({"version": json.loads((Path(__file__).parent / "app.json").read_text())["version"]})
"""
NODE = """import json
from pathlib import Path

async def handle(g):
    config = json.loads((Path(__file__).parents[3] / "gingee.json").read_text())
    g.response.send({"node": config["cluster"]["node_id"]})
"""


def shop_files(version: str, extra: dict[str, Any] | None = None) -> dict[str, Any]:
    """The files of app `shop` at `version`, relative to its folder."""
    return {
        "box/app.json": {"name": "shop", "version": version},
        "box/version.py": VERSION,
        "box/node.py": NODE,
        **(extra or {}),
    }


class Fleet:
    """N nodes of one fleet; `nodes[i]` is host i (its folder is `root/n<i+1>`)."""

    def __init__(
        self,
        root: Path,
        redis_url: str,
        count: int,
        extra: dict[str, Any] | None = None,
        cluster: dict[str, Any] | None = None,
    ) -> None:
        self.root = root
        self.redis_url = redis_url
        self.name = f"t{uuid.uuid4().hex[:10]}"
        self.extra = extra or {}
        self.cluster = cluster or {}
        self.nodes = [self.node(f"n{i + 1}") for i in range(count)]

    def config(self, node_id: str) -> dict[str, Any]:
        cluster = {
            "name": self.name,
            "node_id": node_id,
            "redis": {"url": self.redis_url},
            "heartbeat_ms": 200,
            "stale_after_ms": 1500,
            "sync_interval_ms": 500,
            **self.cluster,
        }
        return {"cluster": cluster, "admin": {"token": TOKEN}, **self.extra}

    def node(self, node_id: str) -> Node:
        """A node's folder (gingee.json, shop 1.0.0), not started."""
        folder = self.root / node_id
        files = {"gingee.json": self.config(node_id)}
        files.update({f"web/shop/{rel}": content for rel, content in shop_files("1.0.0").items()})
        return Node(write_files(folder, files), name=node_id)

    def start(self) -> Fleet:
        for node in self.nodes:  # all at once: each takes a couple of seconds to import and load
            node.start(wait=False)
        for node in self.nodes:
            node.wait_until(lambda n=node: n.get("/_gingee/health/ready").status_code == 200, "become ready")
        return self

    def app_folder(self, version: str, extra: dict[str, Any] | None = None) -> Path:
        """App `shop` at `version`, outside every project (what an author packs or deploys)."""
        return write_files(self.root / "src" / version / "shop", shop_files(version, extra))

    def versions(self) -> list[str | None]:
        """What each running node's /shop/version answers (None: not served)."""
        found: list[str | None] = []
        for node in self.nodes:
            answer = node.get("/shop/version")
            found.append(answer.json()["version"] if answer.status_code == 200 else None)
        return found

    def wait_for_versions(self, expected: list[str | None], what: str, timeout: float = 30) -> None:
        self.nodes[0].wait_until(lambda: self.versions() == expected, what, timeout)

    def close(self) -> None:
        for node in self.nodes:
            node.stop()
        delete_keys(self.redis_url, f"gingee:fleet:{{{self.name}}}:*")


@pytest.fixture
def fleet(tmp_path: Path, redis_url: str) -> Iterator[Any]:
    """Factory: `fleet(count, extra=, cluster=)` builds (not starts) a fleet of `count` nodes (`extra`:
    more gingee.json; `cluster`: more of its `cluster` section); all are stopped afterwards."""
    made: list[Fleet] = []

    def build(
        count: int = 3, extra: dict[str, Any] | None = None, cluster: dict[str, Any] | None = None
    ) -> Fleet:
        made.append(Fleet(tmp_path, redis_url, count, extra, cluster))
        return made[-1]

    yield build
    for each in made:
        each.close()
