"""gingee.json `isolation` (and app.json `isolation`): which apps run in worker processes, grouped how,
as which user and within which limits."""

from __future__ import annotations

import resource
from dataclasses import dataclass, field
from typing import Any

from ..errors import ManifestError

MB = 1024 * 1024


@dataclass(frozen=True)
class Limits:
    """What a worker process may use. None: no limit. `max_rss_mb` is watched by the master (resident
    memory, sampled); the others are kernel rlimits the worker sets on itself before any app code runs."""

    memory_mb: int | None = None
    max_rss_mb: int | None = 1024
    cpu_seconds: int | None = None
    open_files: int | None = 1024
    processes: int | None = None

    @classmethod
    def from_config(cls, section: dict[str, Any] | None) -> Limits:
        """Limits from gingee.json `isolation.limits` (already checked by the schema)."""
        known = {k: v for k, v in (section or {}).items() if k in cls.__dataclass_fields__}
        return cls(**known)

    def rlimits(self) -> list[tuple[int, int]]:
        """(resource, limit) pairs to apply with setrlimit, soft and hard alike."""
        pairs: list[tuple[int, int]] = []
        if self.memory_mb is not None:
            pairs.append((resource.RLIMIT_AS, self.memory_mb * MB))
        if self.cpu_seconds is not None:
            pairs.append((resource.RLIMIT_CPU, self.cpu_seconds))
        if self.open_files is not None:
            pairs.append((resource.RLIMIT_NOFILE, self.open_files))
        if self.processes is not None:
            pairs.append((resource.RLIMIT_NPROC, self.processes))
        return pairs

    def as_dict(self) -> dict[str, int | None]:
        """The limits as gingee.json spells them."""
        return {name: getattr(self, name) for name in self.__dataclass_fields__}


@dataclass(frozen=True)
class IsolationSettings:
    """`mode` "process" isolates the apps in `apps` and `groups` (every app if both are empty), plus any
    app whose app.json says `"isolation": "process"`; `mode` "none" isolates only the latter."""

    mode: str = "none"
    apps: frozenset[str] = frozenset()
    groups: dict[str, frozenset[str]] = field(default_factory=dict)
    user: str | None = None
    grace: float = 1.0
    limits: Limits = Limits()

    @classmethod
    def from_config(cls, config: dict[str, Any]) -> IsolationSettings:
        """The settings of a resolved gingee.json; a group naming an app twice is a ManifestError."""
        section = config.get("isolation") or {}
        groups = {name: frozenset(apps) for name, apps in (section.get("groups") or {}).items()}
        seen: dict[str, str] = {}
        for group, members in sorted(groups.items()):
            for app in sorted(members):
                if app in seen:
                    raise ManifestError(
                        "gingee.json",
                        f"/isolation/groups/{group}",
                        f"each app in one group at most, but '{app}' is also in group '{seen[app]}'",
                    )
                seen[app] = group
        return cls(
            mode=str(section.get("mode", "none")),
            apps=frozenset(section.get("apps") or ()),
            groups=groups,
            user=section.get("user") or None,
            grace=int(section.get("grace_ms", 1000)) / 1000.0,
            limits=Limits.from_config(section.get("limits")),
        )

    def isolated(self, name: str, app_config: dict[str, Any] | None = None) -> bool:
        """Whether app `name` (with app.json `app_config`) runs in a worker process."""
        if app_config is not None and app_config.get("isolation") == "process":
            return True
        if self.mode != "process":
            return False
        if not self.apps and not self.groups:
            return True
        return name in self.apps or any(name in members for members in self.groups.values())

    def worker_for(self, name: str) -> str:
        """The name of the worker that runs app `name`: its group's (`group:<name>`), else its own."""
        for group, members in self.groups.items():
            if name in members:
                return f"group:{group}"
        return name

    def members(self, worker: str) -> frozenset[str]:
        """The apps a worker may run: the group's members, or the one app."""
        if worker.startswith("group:"):
            return self.groups.get(worker[6:], frozenset())
        return frozenset({worker})
