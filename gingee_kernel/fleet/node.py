"""One node of a fleet: it publishes its own app changes to the registry and follows everyone else's.

Following is state-based, not message-based: the node keeps what it serves of each app (content hash and
grants) and, whenever the registry may have moved (an announcement, a reconnect, every `sync_interval`),
compares that with the registry's entries and brings each differing app to the entry's state:

- the project folder already holds the entry's content (another worker of this host switched it, or
  `gingee upgrade` ran here): the app is reloaded (its grants set first);
- else the package is fetched from the registry, its content hash checked against the entry, and the app
  installed or upgraded through the app lifecycle (backup, atomic switch, load check, grants), as if an
  operator had run it here; a removed entry removes the app.

A change that fails to load keeps the version that serves and is not retried until the entry changes;
the node's heartbeat reports it. Readiness fails until the node has caught up once, so a node that
returns after downtime takes traffic only once it serves the fleet's versions.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import socket
import tempfile
import time
from pathlib import Path
from typing import Any

from .. import __version__
from ..engine.loader import is_app_dir
from ..engine.permissions import read_grants
from ..errors import GingeeError
from ..health import NotReady
from ..lifecycle.package import Package, PackageLimits, app_files, build_manifest, pack
from ..lifecycle.switch import Busy, ProjectLock
from .packages import PackageStore, package_store
from .registry import Entry, Registry
from .settings import FleetSettings

log = logging.getLogger("gingee.fleet")

SHARED_KEY = "fleet"
#: Seconds between reconnection attempts while the fleet's Redis does not answer.
RETRY = 1.0

State = tuple[str | None, tuple[str, ...]]


def disk_hash(app_dir: Path) -> str:
    """The content hash a package of this app folder would have (box/data left out)."""
    files = app_files(app_dir, include_data=False)
    return str(build_manifest(app_dir, files, fallback_version="0")["sha256"])


def package_bytes(app_dir: Path) -> tuple[bytes, dict[str, Any]]:
    """A package of the app folder (without box/data), and its manifest."""
    with tempfile.TemporaryDirectory(prefix="gingee-fleet-") as folder:
        path = pack(app_dir, Path(folder) / "app.gin", fallback_version="0")
        data = path.read_bytes()
    with Package.open(data, PackageLimits()) as package:
        return data, dict(package.manifest)


class FleetNode:
    """The fleet membership of one Project (a `gingee serve` process, or one of its workers)."""

    def __init__(self, project: Any, settings: FleetSettings, *, role: str = "serve") -> None:
        from ..redis_url import client

        self.project = project
        self.settings = settings
        self.role = role
        self.node_id = settings.node_id
        self.redis = client(settings.redis_url, socket_connect_timeout=2, socket_timeout=5)
        self.registry = Registry(self.redis, settings.prefix)
        self.packages = package_store(project.config, self.registry)
        self.served: dict[str, State] = {}
        #: The version of what `served` holds, noted with it (a heartbeat never pairs a new version with the
        #: former content hash while an app is being switched).
        self.versions: dict[str, str | None] = {}
        self.failed: dict[str, tuple[int, str]] = {}  # app -> (entry rev, why it did not apply)
        self.synced = False
        self.rev = 0
        self.started = time.time()
        self._applying = asyncio.Lock()
        self._tasks: list[asyncio.Task[None]] = []
        self._closing = False

    # -- membership ------------------------------------------------------------------------------------

    async def start(self) -> None:
        """Note what this node serves, then follow the registry and beat in the background."""
        for name in self.project.apps:
            try:
                state = await asyncio.to_thread(self._local_state, name)
            except (GingeeError, OSError) as exc:  # e.g. a symlink a package may not hold
                log.warning("fleet: app '%s' cannot be compared with the registry: %s", name, exc)
                continue
            if state is not None:
                self._note(name, state, self._runtime_version(name))
        self._tasks = [
            asyncio.create_task(self._follow(), name="gingee-fleet-follow"),
            asyncio.create_task(self._beat(), name="gingee-fleet-beat"),
        ]

    async def close(self) -> None:
        self._closing = True
        for task in self._tasks:
            task.cancel()
        for task in self._tasks:
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task
        with contextlib.suppress(Exception):
            await asyncio.wait_for(self.registry.leave(self.node_id), 2)
        with contextlib.suppress(Exception):
            await self.packages.close()
        with contextlib.suppress(Exception):
            await self.redis.aclose()

    async def check(self) -> None:
        """Readiness: the fleet's Redis answers and this node has caught up with the registry once."""
        await self.redis.ping()
        if not self.synced:
            raise NotReady("fleet catching up")

    def _runtime_version(self, name: str) -> str | None:
        runtime = self.project.apps.get(name)
        return getattr(runtime, "config", {}).get("version") if runtime is not None else None

    def _note(self, name: str, state: State | None, version: str | None) -> None:
        """Note what this node serves of `name` (None: nothing), with that content's version."""
        if state is None:
            self.served.pop(name, None)
            self.versions.pop(name, None)
        else:
            self.served[name] = state
            self.versions[name] = version

    def heartbeat(self) -> dict[str, Any]:
        apps = {}
        for name, (content, granted) in sorted(self.served.items()):
            version = self.versions.get(name) if name in self.versions else self._runtime_version(name)
            apps[name] = {"version": version, "hash": content, "granted": list(granted)}
        return {
            "id": self.node_id,
            "role": self.role,
            "host": socket.gethostname(),
            "pid": os.getpid(),
            "gingee": __version__,
            "started": round(self.started, 3),
            "beat": round(time.time(), 3),
            "rev": self.rev,
            "synced": self.synced,
            "apps": apps,
            "errors": {name: why for name, (_, why) in sorted(self.failed.items())},
        }

    async def _beat(self) -> None:
        while True:
            try:
                await self.registry.beat(self.node_id, self.heartbeat())
            except Exception as exc:  # Redis away: the follower logs it; keep beating
                log.debug("fleet heartbeat failed: %s", exc)
            await asyncio.sleep(self.settings.heartbeat)

    async def _follow(self) -> None:
        """Subscribe, catch up, then catch up again at each announcement or every sync_interval; on a
        lost connection, resubscribe and catch up (nothing announced meanwhile is missed)."""
        down_since: float | None = None
        while not self._closing:
            pubsub = self.redis.pubsub()
            try:
                await pubsub.subscribe(self.registry.events)
                await self.catch_up(force=True)
                if down_since is not None:
                    log.warning(
                        "fleet: Redis answers again after %.1f s; caught up", time.time() - down_since
                    )
                    down_since = None
                while True:
                    await pubsub.get_message(
                        ignore_subscribe_messages=True, timeout=self.settings.sync_interval
                    )
                    await self.catch_up()
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                if down_since is None:
                    down_since = time.time()
                    log.warning("fleet: lost the registry (%s: %s); retrying", type(exc).__name__, exc)
                await asyncio.sleep(RETRY)
            finally:
                with contextlib.suppress(Exception):
                    await pubsub.aclose()

    # -- following -------------------------------------------------------------------------------------

    async def catch_up(self, *, force: bool = False) -> None:
        """Bring every app that differs from its registry entry to that entry's state."""
        from redis.exceptions import RedisError  # here: a project that is no fleet never imports redis

        rev = await self.registry.revision()
        if rev == self.rev and not force:
            return
        entries = await self.registry.entries()
        for name, entry in sorted(entries.items(), key=lambda item: item[1].rev):
            if self.served.get(name) == entry.state or (entry.removed and name not in self.served):
                self.failed.pop(name, None)
                continue
            if self.failed.get(name, (None,))[0] == entry.rev:
                continue  # this revision did not apply here; wait for the next one
            try:
                await self._apply(entry)
                self.failed.pop(name, None)
            except (RedisError, OSError, Busy, _Unavailable):
                raise  # the registry or the packages went away, or an operator holds the lock: try again
            except Exception as exc:
                why = str(exc) or type(exc).__name__
                log.error(
                    "fleet: app '%s' rev %d (%s) did not apply here: %s", name, entry.rev, entry.version, why
                )
                self.failed[name] = (entry.rev, why)
        self.rev = rev
        self.synced = True

    async def _apply(self, entry: Entry) -> None:
        from ..lifecycle.operations import Lifecycle, LifecycleError

        name = entry.app
        async with self._applying:
            origin = entry.origin.get("node") or "?"
            lifecycle = Lifecycle(
                self.project.dir, self.project.config, who=f"fleet:{origin}", replace=self.project.replace
            )
            live = self.project.web_root / name
            if entry.removed:
                if live.is_dir():
                    await lifecycle.remove(name)
                self._note(name, None, None)
                return
            wanted = set(entry.granted)
            on_disk = await asyncio.to_thread(self._locked_state, name)
            if on_disk is not None and on_disk[0] == entry.hash:
                if on_disk[1] != entry.granted:
                    await self.project.replace(name, lambda: lifecycle.set_grants(name, wanted), None)
                else:
                    await self.project.reload(name)
                error = self.project.errors.get(name)
                if error is not None:
                    raise LifecycleError(f"did not load: {error}")
            else:
                try:
                    data = await self.packages.get(entry.hash or "")
                except Exception as exc:
                    raise _Unavailable(f"the {self.packages.name} package store: {exc}") from exc
                if data is None:
                    raise LifecycleError(f"package {entry.hash} is not in the registry")
                with lifecycle.open(data, label=f"{name} rev {entry.rev}") as package:
                    if package.sha256 != entry.hash or package.name != name:
                        raise LifecycleError(
                            f"the registry's package is {package.name} {package.sha256}, not {name} "
                            f"{entry.hash}"
                        )
                if is_app_dir(live):
                    await lifecycle.upgrade(data, app=name, force=True, grants=wanted, action="fleet")
                else:
                    await lifecycle.install(data, grants=wanted)
            self._note(name, (entry.hash, entry.granted), entry.version)
            log.info("fleet: app '%s' now at %s (rev %d, from %s)", name, entry.version, entry.rev, origin)

    def _local_state(self, name: str) -> State | None:
        live = self.project.web_root / name
        if not is_app_dir(live):
            return None
        granted = tuple(
            sorted(read_grants(self.project.dir / self.project.config["permissions_file"]).get(name, ()))
        )
        return disk_hash(live), granted

    def _locked_state(self, name: str) -> State | None:
        """What the folder holds, read under the lifecycle lock (no switch half done)."""
        with ProjectLock(self.project.web_root):
            return self._local_state(name)

    # -- publishing ------------------------------------------------------------------------------------

    async def publish(self, name: str, *, op: str, who: str) -> int:
        """Tell the fleet what this node now has of app `name` (after a change made here)."""
        state = await asyncio.to_thread(self._local_state, name)
        self._note(name, state, self._runtime_version(name))
        project, config = self.project, self.project.config
        return await publish(
            self.registry, self.packages, project.dir, config, name, op=op, who=who, node=self.node_id
        )


class _Unavailable(Exception):
    """The package store could not be read: worth another try, not a verdict on the package."""


async def publish(
    registry: Registry,
    packages: PackageStore,
    project_dir: Path,
    config: dict[str, Any],
    name: str,
    *,
    op: str,
    who: str,
    node: str,
) -> int:
    """Publish the project's app `name` (or its removal, when it is gone) and its grants."""
    live = project_dir / config["web_root"] / name
    entry: dict[str, Any] = {"op": op, "who": who, "node": node, "at": round(time.time(), 3)}
    if is_app_dir(live):
        package, manifest = await asyncio.to_thread(package_bytes, live)
        await packages.put(manifest["sha256"], package)
        grants_file = project_dir / config["permissions_file"]
        entry.update(
            version=manifest["version"],
            hash=manifest["sha256"],
            granted=sorted(read_grants(grants_file).get(name, ())),
            removed=False,
        )
    else:
        entry.update(version=None, hash=None, granted=[], removed=True)
    rev = await registry.publish(name, entry)
    log.info("fleet: published app '%s' (%s) as rev %d", name, op, rev)
    return rev


async def start_fleet(project: Any, *, worker: int | None = None, role: str = "serve") -> FleetNode | None:
    """Join the fleet gingee.json `cluster.redis` names (None: not a fleet); kept in `project.shared`."""
    settings = FleetSettings.from_config(project.config, worker=worker)
    if settings is None:
        return None
    node = FleetNode(project, settings, role=role)
    await node.start()
    project.shared[SHARED_KEY] = node
    return node


async def close_fleet(shared: dict[str, Any]) -> None:
    node = shared.pop(SHARED_KEY, None)
    if node is not None:
        await node.close()
