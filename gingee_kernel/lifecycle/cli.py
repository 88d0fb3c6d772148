"""The lifecycle commands of `gingee`: pack, install, upgrade, rollback, backups, remove, deploy.

Imports stay inside the commands: building the parser must not import prometheus-client (cluster.py sets
up its multiprocess folder first)."""

from __future__ import annotations

import argparse
import asyncio
import json
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from .operations import Lifecycle
    from .plan import Plan


def _lifecycle(project: str) -> Lifecycle:
    from ..engine.project import load_server_config
    from .operations import Lifecycle

    path = Path(project)
    return Lifecycle(path, load_server_config(path))


def _show(plan: Plan, project: str) -> int:
    from ..fleet.cli import announce

    print(plan.text())
    if plan.dry_run:
        return 0
    if plan.action in ("install", "upgrade", "rollback"):
        print(
            f"done. A running `gingee serve` of this project serves it after a reload (SIGHUP, or POST "
            f"/_gingee/api/apps/{plan.app}/reload); `gingee deploy` switches a running server in place."
        )
    return announce(project, plan.app, plan.action)


def _pack(args: argparse.Namespace) -> int:
    from .package import Package, pack

    path = pack(Path(args.app), args.out, include_data=args.include_data)
    with Package.open(path) as package:
        asked = ", ".join(sorted(package.declared)) or "none"
        print(f"packed {package.name} {package.version} ({len(package.files)} files) to {path}")
        print(f"  content sha256 {package.sha256}\n  permissions asked for: {asked}")
    return 0


def _install(args: argparse.Namespace) -> int:
    run = _lifecycle(args.project).install(
        args.package, grant_declared=args.grant_declared, dry_run=args.dry_run
    )
    return _show(asyncio.run(run), args.project)


def _upgrade(args: argparse.Namespace) -> int:
    run = _lifecycle(args.project).upgrade(
        args.package, force=args.force, grant_declared=args.grant_declared, dry_run=args.dry_run
    )
    return _show(asyncio.run(run), args.project)


def _rollback(args: argparse.Namespace) -> int:
    plan = asyncio.run(_lifecycle(args.project).rollback(args.app, to=args.to, dry_run=args.dry_run))
    return _show(plan, args.project)


def _remove(args: argparse.Namespace) -> int:
    return _show(asyncio.run(_lifecycle(args.project).remove(args.app, dry_run=args.dry_run)), args.project)


def _backups(args: argparse.Namespace) -> int:
    found = _lifecycle(args.project).backups(args.app)
    if not found:
        print(f"app '{args.app}' has no backups")
    for entry in found:
        if "error" in entry:
            print(f"{entry['file']}  unreadable: {entry['error']}")
        else:
            print(f"{entry['version']:<12} {entry['created'] or '':<26} {entry['size']:>10}  {entry['file']}")
    return 0


def _deploy(args: argparse.Namespace) -> int:
    from .client import deploy

    answer: dict[str, Any] = deploy(
        Path(args.source),
        args.server,
        token=args.token,
        dry_run=args.dry_run,
        force=args.force,
        grant_declared=args.grant_declared,
    )
    print(answer.get("text") or json.dumps(answer, indent=2))
    return 0


def add_commands(commands: Any) -> None:
    """Add the lifecycle sub-commands to the `gingee` parser's subparsers."""
    pack = commands.add_parser("pack", help="pack an app folder into a .gin package")
    pack.add_argument("app", help="the app folder (web/APP)")
    pack.add_argument("-o", "--out", default=None, help="the package to write (default: APP-VERSION.gin)")
    pack.add_argument("--include-data", action="store_true", help="also pack box/data/ (left out by default)")
    pack.set_defaults(run=_pack)

    def project_command(name: str, help_text: str) -> argparse.ArgumentParser:
        command = commands.add_parser(name, help=help_text)
        command.add_argument("project", help="the project folder (holding gingee.json and web/)")
        return command

    install = project_command("install", "install an app from a .gin package")
    install.add_argument("package")
    upgrade = project_command("upgrade", "upgrade an installed app from a newer .gin package")
    upgrade.add_argument("package")
    upgrade.add_argument("--force", action="store_true", help="allow a version that is not newer")
    for command in (install, upgrade):
        command.add_argument(
            "--grant-declared",
            action="store_true",
            help="grant the permissions the package's pmft.json declares",
        )
    install.set_defaults(run=_install)
    upgrade.set_defaults(run=_upgrade)
    rollback = project_command("rollback", "restore an app's latest backup (or --to VERSION)")
    rollback.add_argument("app")
    rollback.add_argument("--to", default=None, metavar="VERSION")
    rollback.set_defaults(run=_rollback)
    remove = project_command("remove", "remove an app (backed up first)")
    remove.add_argument("app")
    remove.set_defaults(run=_remove)
    for command in (install, upgrade, rollback, remove):
        command.add_argument("--dry-run", action="store_true", help="print the plan and change nothing")
    backups = project_command("backups", "list an app's backups, newest first")
    backups.add_argument("app")
    backups.set_defaults(run=_backups)

    deploy = commands.add_parser("deploy", help="install or upgrade an app on a running server (its API)")
    deploy.add_argument("source", help="a .gin package or an app folder")
    deploy.add_argument("--server", required=True, help="the server's URL, e.g. https://host:7070")
    deploy.add_argument("--token", default=None, help="the admin token (default: $GINGEE_ADMIN_TOKEN)")
    deploy.add_argument("--dry-run", action="store_true")
    deploy.add_argument("--force", action="store_true")
    deploy.add_argument("--grant-declared", action="store_true")
    deploy.set_defaults(run=_deploy)
