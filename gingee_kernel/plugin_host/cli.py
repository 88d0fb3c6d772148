"""`gingee plugins list | check | new`: what is installed and allowed, a CI check, a plugin skeleton."""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any


def _report(project: Path) -> tuple[list[dict[str, Any]], bool]:
    """One row per plugin distribution installed or named (by an app or the allow-list), and whether all
    the apps' plugins may load."""
    from packaging.utils import canonicalize_name

    from ..engine import manifest
    from ..engine.loader import is_app_dir
    from ..engine.project import load_server_config
    from ..errors import GingeeError
    from . import discovery, policy

    config = load_server_config(project)
    web_root = project / config["web_root"]
    used: dict[str, dict[str, str]] = {}  # canonical name -> {app: range}

    for folder in sorted(web_root.iterdir()) if web_root.is_dir() else []:
        if not is_app_dir(folder):
            continue
        try:
            app_config = manifest.load("app", folder / "box" / "app.json", f"{folder.name}/box/app.json")
        except GingeeError:
            continue
        for name, entry in (app_config.get("plugins") or {}).items():
            wanted = entry if isinstance(entry, str) else str(entry.get("version", ""))
            used.setdefault(canonicalize_name(name), {})[folder.name] = wanted
    installed = discovery.installed()
    allowed = {canonicalize_name(k) for k in ((config.get("plugins") or {}).get("allow") or {})}
    rows = []
    ok = True
    for name in sorted(set(installed) | set(used) | allowed):
        plugin = installed.get(name)
        row: dict[str, Any] = {
            "plugin": name,
            "version": plugin.version if plugin else None,
            "modules": sorted(plugin.entry_points) if plugin else [],
            "allowed": name in allowed,
            "sha256": discovery.record_hash(plugin.distribution)[0] if plugin else None,
            "used_by": used.get(name, {}),
            "status": "ok",
        }
        problems = []
        for app, wanted in sorted(used.get(name, {}).items()):
            try:
                policy.check(name, wanted, plugin, config, f"web/{app}/box/app.json", f"/plugins/{name}")
            except GingeeError as exc:
                problems.append(str(exc))
        if problems:
            row["status"] = "refused"
            row["problems"] = problems
            ok = False
        elif not used.get(name):
            row["status"] = "unused"
        rows.append(row)
    return rows, ok


def _list(args: argparse.Namespace) -> int:
    rows, _ = _report(Path(args.project))
    if args.json:
        print(json.dumps(rows, indent=2))
        return 0
    if not rows:
        print("no plugins installed or named")
    for row in rows:
        apps = ", ".join(f"{a} ({r or 'any'})" for a, r in row["used_by"].items()) or "no app"
        modules = ", ".join(row["modules"]) or "-"
        print(
            f"{row['plugin']} {row['version'] or '(not installed)'}  modules: {modules}"
            f"  allowed: {'yes' if row['allowed'] else 'no'}  used by: {apps}  status: {row['status']}"
        )
        if row["sha256"]:
            print(f"  sha256 {row['sha256']}")
        for problem in row.get("problems", []):
            print(f"  refused: {problem}")
    return 0


def _check(args: argparse.Namespace) -> int:
    rows, ok = _report(Path(args.project))
    for row in rows:
        for problem in row.get("problems", []):
            print(f"error  {row['plugin']}: {problem}")
    print("plugins: ok" if ok else "plugins: refused (see above)")
    return 0 if ok else 1


def _new(args: argparse.Namespace) -> int:
    from .skeleton import names, new_plugin

    target = new_plugin(args.name, Path(args.dir))
    n = names(args.name)
    print(f"wrote {target}/")
    for path in sorted(p for p in target.rglob("*") if p.is_file()):
        print(f"  {path.relative_to(target)}")
    print(
        "next steps:\n"
        f"  cd {target}\n"
        "  pip install -e .          # into the environment gingee runs in\n"
        "  pytest                    # the tests use gingee_kernel.plugin_host.testing.throwaway_app\n"
        f"  edit {n.package}/__init__.py (plugins.{n.module} in app scripts; apps need the grant "
        f"plugin:{n.module})\n"
        f"  allow it in gingee.json plugins.allow, name it in app.json plugins, grant plugin:{n.module}; "
        "`gingee plugins list PROJECT` prints the sha256 to pin (README.md has the details)"
    )
    return 0


def add_commands(commands: Any) -> None:
    """`gingee plugins ...` on the `gingee` parser's subparsers."""
    plugins = commands.add_parser("plugins", help="community plugins: list, check, new")
    sub = plugins.add_subparsers(dest="plugins_command", required=True)
    listing = sub.add_parser(
        "list", help="installed and named plugins: version, allowed, used by, hash, status"
    )
    listing.add_argument("project")
    listing.add_argument("--json", action="store_true")
    listing.set_defaults(run=_list)
    check = sub.add_parser("check", help="exit 1 if an app names a plugin that may not load")
    check.add_argument("project")
    check.set_defaults(run=_check)
    new = sub.add_parser("new", help="write a new plugin distribution (a skeleton with tests) to DIR/NAME")
    new.add_argument("name", help="the distribution name, e.g. gingee-weather (module: weather)")
    new.add_argument("--dir", default=".", help="the folder to create NAME/ in (default: .)")
    new.set_defaults(run=_new)
