"""Install, upgrade, rollback, remove and list backups, for the CLI and the operator API alike.

Every operation checks everything first (the package, its name and version, the target's state) and
changes nothing when a check fails. Then, under the project's lifecycle lock: the previous version is
packed into `backups/<app>/`, the new one is written to a staging folder, and `replace` switches it in and
loads it. On `gingee serve`, `replace` is the live Project's (requests wait while in-flight ones finish on
the old version; see Project.replace); from the CLI it is a load in a throwaway Project, the check a
server would make. If the new version does not load, the old one is put back and the error returned.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Awaitable, Callable
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from packaging.version import InvalidVersion, Version

from ..engine.loader import APP_NAME, is_app_dir
from ..engine.permissions import declared as declared_permissions
from ..engine.permissions import grant, read_grants
from ..errors import GingeeError, ManifestError
from . import rules
from .audit import AuditLog
from .package import SUFFIX, Package, PackageError, PackageLimits, pack, read_app
from .plan import Plan, file_plan
from .switch import ProjectLock, Swap, recover

#: `replace(app, change, undo)`: run `change()` (the file switch) and load the app; if it fails to load,
#: run `undo()`, load the old version again and return the load error (None when the new one serves).
Replace = Callable[[str, Callable[[], None], Callable[[], None] | None], Awaitable[str | None]]


class LifecycleError(GingeeError):
    """An operation refused; `status` is the HTTP status the operator API answers with."""

    status = 400
    code = "BAD_PACKAGE"


class Conflict(LifecycleError):
    status = 409
    code = "CONFLICT"


class NotInstalled(LifecycleError):
    status = 404
    code = "APP_NOT_FOUND"


class LoadFailed(LifecycleError):
    """The new version did not load; the previous one is serving again."""

    status = 422
    code = "LOAD_FAILED"

    def __init__(self, message: str, plan: Plan) -> None:
        super().__init__(message)
        self.plan = plan


def newer(new: str, old: str) -> bool | None:
    """Whether version `new` is newer than `old` (PEP 440), or None if either is not a PEP 440 version."""
    try:
        return Version(new) > Version(old)
    except InvalidVersion:
        return None


def by_age(paths: list[Path]) -> list[Path]:
    """Backups oldest first, by the UTC stamp that ends their name (not by name: "10.0" < "9.0")."""
    return sorted(paths, key=lambda p: (p.stem.rsplit("-", 1)[-1], p.name))


def backup_name(app: str, version: str) -> str:
    stamp = datetime.now(timezone.utc).strftime("%Y%m%dT%H%M%S%fZ")
    safe = "".join(c if c.isalnum() or c in "._-" else "_" for c in version)
    return f"{app}-{safe}-{stamp}{SUFFIX}"


class Lifecycle:
    """The lifecycle operations of one project. `who` goes into the audit log ("cli", "token:...")."""

    def __init__(
        self,
        project_dir: Path | str,
        config: dict[str, Any],
        *,
        who: str = "cli",
        replace: Replace | None = None,
    ) -> None:
        self.dir = Path(project_dir).resolve()
        self.config = config
        self.who = who
        self.web_root = (self.dir / config["web_root"]).resolve()
        self.backups_dir = self.dir / "backups"
        self.grants_file = self.dir / config["permissions_file"]
        section = config.get("lifecycle") or {}
        self.limits = PackageLimits.from_config(config)
        self.keep_backups = int(section.get("keep_backups", 10))
        self.audit = AuditLog(self.dir)
        self.replace = replace or self._check_load
        self.lock = ProjectLock(self.web_root)

    # -- reading ---------------------------------------------------------------------------------------

    def open(self, source: Path | str | bytes, label: str | None = None) -> Package:
        """Open and check a package (raises PackageError / ManifestError)."""
        return Package.open(source, self.limits, label=label)

    def installed_version(self, app: str) -> str | None:
        config, _ = read_app(self.web_root / app)
        version = config.get("version")
        return str(version) if version is not None else None

    def backups(self, app: str) -> list[dict[str, Any]]:
        """The backups of `app`, newest first: file, version, size, content hash, permissions declared."""
        _check_name(app)
        folder = self.backups_dir / app
        found = []
        for path in reversed(by_age(list(folder.glob(f"*{SUFFIX}")))):
            try:
                with Package.open(path, self.limits) as package:
                    found.append(
                        {
                            "file": str(path.relative_to(self.dir)),
                            "version": package.version,
                            "created": package.manifest.get("created"),
                            "size": path.stat().st_size,
                            "sha256": package.sha256,
                            "permissions": sorted(package.declared),
                        }
                    )
            except (PackageError, ManifestError) as exc:
                found.append({"file": str(path.relative_to(self.dir)), "error": str(exc)})
        return found

    # -- operations -------------------------------------------------------------------------------------

    async def install(
        self,
        source: Path | str | bytes,
        *,
        grant_declared: bool = False,
        grants: set[str] | None = None,
        dry_run: bool = False,
    ) -> Plan:
        """Install a new app from a package; refuses an app that exists (use upgrade). `grants`: exactly
        what the app is granted once it switches (a fleet node copies another node's grants)."""
        package = await asyncio.to_thread(self._open_checked, source)
        try:
            live = self.web_root / package.name
            if live.exists():
                raise Conflict(f"app '{package.name}' is already installed; upgrade it instead")
            plan = file_plan(Plan("install", package.name, None, package.version), None, package.files, [])
            plan.permissions = self._permissions(package.name, package.declared, None, grant_declared, grants)
            plan.dry_run = dry_run
            if dry_run:
                return plan
            return await self._apply(plan, package, None, [], grant_declared or grants is not None)
        finally:
            package.close()

    async def upgrade(
        self,
        source: Path | str | bytes,
        *,
        app: str | None = None,
        force: bool = False,
        grant_declared: bool = False,
        grants: set[str] | None = None,
        dry_run: bool = False,
        action: str = "upgrade",
    ) -> Plan:
        """Replace an installed app with a newer package, keeping its data and `.gup` files."""
        package = await asyncio.to_thread(self._open_checked, source)
        try:
            if app is not None:
                package.expect_name(app)
            name = package.name
            live = self.web_root / name
            if not is_app_dir(live):
                raise NotInstalled(f"app '{name}' is not installed; install it first")
            current = self.installed_version(name)
            if not force and current is not None:
                verdict = newer(package.version, current)
                if verdict is None:
                    raise Conflict(
                        f"cannot tell whether {package.version!r} is newer than {current!r} (not PEP 440 "
                        f"versions); pass --force (force=1) to replace it anyway"
                    )
                if not verdict:
                    raise Conflict(
                        f"app '{name}' is at {current}; {package.version} is not newer (pass --force, or "
                        f"roll back with `gingee rollback`)"
                    )
            preserve = self._preserve(live, package)
            plan = file_plan(Plan(action, name, current, package.version), live, package.files, preserve)
            _, pmft = read_app(live)
            plan.permissions = self._permissions(
                name, package.declared, declared_permissions(pmft), grant_declared, grants
            )
            plan.dry_run = dry_run
            if dry_run:
                return plan
            return await self._apply(plan, package, live, preserve, grant_declared or grants is not None)
        finally:
            package.close()

    async def rollback(self, app: str, *, to: str | None = None, dry_run: bool = False) -> Plan:
        """Go back to the newest backup (of version `to`, if given); the current version is backed up."""
        _check_name(app)
        candidates = [b for b in self.backups(app) if "error" not in b and (to is None or b["version"] == to)]
        if not candidates:
            which = f" of version {to}" if to else ""
            raise NotInstalled(f"app '{app}' has no backup{which} in backups/{app}/")
        path = self.dir / candidates[0]["file"]
        return await self.upgrade(path, app=app, force=True, dry_run=dry_run, action="rollback")

    async def remove(self, app: str, *, dry_run: bool = False) -> Plan:
        """Remove an installed app (backed up first, grants revoked)."""
        _check_name(app)
        live = self.web_root / app
        if not live.is_dir():
            raise NotInstalled(f"app '{app}' is not installed")
        plan = Plan("remove", app, self.installed_version(app) if is_app_dir(live) else None, None)
        file_plan(plan, live, {}, [])
        plan.deleted, plan.preserved = plan.deleted + plan.preserved, []
        plan.dry_run = dry_run
        if dry_run:
            return plan
        await asyncio.to_thread(self.lock.acquire)
        try:
            plan.backup = await asyncio.to_thread(self._backup, live, plan.from_version)
            swap = Swap(self.web_root, app)

            def change() -> None:
                swap.retire()

            await self.replace(app, change, None)
            await asyncio.to_thread(swap.finish)
            if app in read_grants(self.grants_file):
                self.set_grants(app, set())
        finally:
            self.lock.release()
        self._audit(plan)
        return plan

    # -- the steps -------------------------------------------------------------------------------------

    def _open_checked(self, source: Path | str | bytes) -> Package:
        recover(self.web_root)
        package = self.open(source)
        try:
            package.app_config()
            package.verify()
        except BaseException:
            package.close()
            raise
        return package

    def _preserve(self, live: Path, package: Package) -> list[str]:
        """The `.gup` globs of the installed version and of the package, together."""
        label = f"{live.name}/box/.gup"
        patterns = list(rules.read_rules(live / "box" / ".gup", "gup", label).get("preserve", []))
        if "box/.gup" in package.files:
            from ..engine import manifest

            where = f"{package.name}.gin: box/.gup"
            try:
                document = json.loads(package.read("box/.gup"))
            except (json.JSONDecodeError, UnicodeDecodeError) as exc:
                raise ManifestError(where, "", f"valid JSON ({exc})") from None
            manifest.validate("gup", document, where)
            patterns += document.get("preserve", [])
        rules.check_patterns({"preserve": patterns}, label)
        return sorted(set(patterns))

    def _permissions(
        self,
        app: str,
        asked: set[str],
        before: set[str] | None,
        grant_declared: bool,
        grants: set[str] | None = None,
    ) -> dict[str, list[str]]:
        """`before`: what the installed version declares (None on a fresh install: nothing is "new")."""
        granted = read_grants(self.grants_file).get(app, set())
        after = set(grants) if grants is not None else (granted | asked if grant_declared else granted)
        return {
            "declared": sorted(asked),
            "granted": sorted(after),
            "not_granted": sorted(asked - after),
            "newly_declared": sorted(asked - before) if before is not None else [],
            "no_longer_declared": sorted(before - asked) if before is not None else [],
        }

    def set_grants(self, app: str, wanted: set[str]) -> None:
        """Grant `app` exactly `wanted` (the grants file, written atomically)."""
        current = read_grants(self.grants_file).get(app, set())
        if current - wanted:
            grant(self.grants_file, app, sorted(current - wanted), revoke=True)
        if wanted - current:
            grant(self.grants_file, app, sorted(wanted - current))

    def _backup(self, live: Path, version: str | None) -> str:
        folder = self.backups_dir / live.name
        for stale in folder.glob(f".*{SUFFIX}.*.tmp"):  # a backup a killed process left half written
            stale.unlink(missing_ok=True)  # (the caller holds the lock: no one else is writing one)
        target = folder / backup_name(live.name, version or "0")
        pack(live, target, include_data=True, fallback_version=version or "0")
        for old in by_age(list(folder.glob(f"*{SUFFIX}")))[: -self.keep_backups or None]:
            old.unlink(missing_ok=True)
        return str(target.relative_to(self.dir))

    async def _apply(
        self, plan: Plan, package: Package, live: Path | None, preserve: list[str], set_grants: bool
    ) -> Plan:
        name = package.name
        await asyncio.to_thread(self.lock.acquire)
        swap = Swap(self.web_root, name, preserve=preserve)
        try:
            if live is not None:
                plan.backup = await asyncio.to_thread(self._backup, live, plan.from_version)

            def stage() -> None:
                package.extract(swap.begin())

            try:
                await asyncio.to_thread(stage)
            except OSError as exc:
                swap.abort()
                raise LifecycleError(
                    f"could not write app '{name}': {exc.strerror or exc}; nothing was changed"
                ) from None
            except BaseException:
                swap.abort()
                raise
            grants_before = read_grants(self.grants_file).get(name)

            def change() -> None:
                swap.switch()
                if set_grants:
                    self.set_grants(name, set(plan.permissions["granted"]))

            def undo() -> None:
                swap.undo()  # a fresh install goes back to staging, and away
                if set_grants:  # a fresh install that did not load keeps no grants either
                    self.set_grants(name, grants_before or set())

            error = await self.replace(name, change, undo)
            if error is not None:
                self._audit(plan, result="error", error=error)
                kept = (
                    f"version {plan.from_version} is still serving"
                    if live is not None
                    else "nothing was installed"
                )
                raise LoadFailed(f"app '{name}' {package.version} did not load ({error}); {kept}", plan)
            await asyncio.to_thread(swap.finish)
        finally:
            self.lock.release()
        self._audit(plan)
        return plan

    def _audit(self, plan: Plan, *, result: str = "ok", error: str | None = None) -> None:
        self.audit.record(
            self.who,
            plan.action,
            plan.app,
            result,
            from_version=plan.from_version,
            to_version=plan.to_version,
            backup=plan.backup,
            files={k: len(getattr(plan, k)) for k in ("added", "overwritten", "preserved", "deleted")},
            granted=plan.permissions.get("granted"),
            error=error,
        )

    async def _check_load(
        self, name: str, change: Callable[[], None], undo: Callable[[], None] | None
    ) -> str | None:
        """The CLI's `replace`: switch the files, then load the app once in a throwaway Project."""
        from ..engine.project import Project

        await asyncio.to_thread(change)
        project = Project(self.dir, config=self.config)
        try:
            error = await project.load_one(name)
        finally:
            await project.close()
        if error is not None and undo is not None:
            await asyncio.to_thread(undo)
        return error


def _check_name(app: str) -> None:
    if not APP_NAME.match(app or ""):
        raise LifecycleError(f"'{app}' is not an app name: use letters, digits, '_' and '-'")
