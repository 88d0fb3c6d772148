"""`gingee cluster status|publish`, and the fleet announcement of changes the CLI makes on disk.

Imports stay inside the functions: building the parser must not import prometheus-client."""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
from pathlib import Path
from typing import Any


def _project(project: Path | str) -> tuple[Path, dict[str, Any]]:
    """The project folder and its config, settled as a server settles it (the fleet's name)."""
    from ..engine.config import settle_cluster
    from ..engine.project import load_server_config

    project_dir = Path(project).resolve()
    config = load_server_config(project_dir)
    settle_cluster(config, project_dir)
    return project_dir, config


async def _with_registry(config: dict[str, Any], work: Any) -> Any:
    from ..redis_url import client
    from .registry import Registry
    from .settings import FleetSettings

    settings = FleetSettings.from_config(config)
    assert settings is not None
    redis = client(settings.redis_url, socket_connect_timeout=3, socket_timeout=10)
    try:
        return await work(Registry(redis, settings.prefix), settings)
    finally:
        await redis.aclose()


def announce(project: Path | str, app: str, op: str) -> int:
    """After a CLI change to `app` on disk: publish it when the project is a fleet node (exit status)."""
    from .node import publish

    project_dir, config = _project(project)
    if not (config.get("cluster") or {}).get("redis"):
        return 0

    async def work(registry: Any, settings: Any) -> int:
        from .packages import package_store

        node = f"cli@{settings.node_id}"
        packages = package_store(config, registry)
        try:
            return await publish(registry, packages, project_dir, config, app, op=op, who="cli", node=node)
        finally:
            await packages.close()

    try:
        rev = asyncio.run(_with_registry(config, work))
    except Exception as exc:
        print(
            f"gingee: app '{app}' changed here, but the fleet registry could not be told ({exc}); the "
            f"other nodes serve the previous version. Publish this copy with: gingee cluster publish "
            f"{project} {app}",
            file=sys.stderr,
        )
        return 1
    print(f"published to fleet '{config['cluster']['name']}' as revision {rev}: every node follows it")
    return 0


def _status(args: argparse.Namespace) -> int:
    from ..errors import GingeeError

    _, config = _project(args.project)
    if not (config.get("cluster") or {}).get("redis"):
        raise GingeeError(f"{args.project}/gingee.json sets no cluster.redis.url: it is not a fleet node")

    async def work(registry: Any, settings: Any) -> dict[str, Any]:
        entries = await registry.entries()
        return {
            "cluster": settings.name,
            "rev": await registry.revision(),
            "nodes": await registry.nodes(settings.stale_after),
            "apps": {name: entry.as_dict() for name, entry in sorted(entries.items())},
        }

    print(json.dumps(asyncio.run(_with_registry(config, work)), indent=2))
    return 0


def _publish(args: argparse.Namespace) -> int:
    return announce(args.project, args.app, "publish")


def add_commands(commands: Any) -> None:
    """Add `gingee cluster status|publish` to the `gingee` parser's subparsers."""
    cluster = commands.add_parser("cluster", help="the fleet this project belongs to (gingee.json cluster)")
    actions = cluster.add_subparsers(dest="action", required=True)
    status = actions.add_parser("status", help="nodes, their apps and heartbeats; the registry's entries")
    status.add_argument("project")
    status.set_defaults(run=_status)
    publish = actions.add_parser("publish", help="publish this node's copy of an app to every node")
    publish.add_argument("project")
    publish.add_argument("app")
    publish.set_defaults(run=_publish)
