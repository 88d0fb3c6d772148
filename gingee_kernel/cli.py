"""The `gingee` command: serve, worker, new, grant, check, export; the app lifecycle is lifecycle/cli.py."""

from __future__ import annotations

import argparse
import asyncio
import logging
import sys
from pathlib import Path

from .errors import GingeeError
from .hosts import NAMES as HOSTS


def _serve(args: argparse.Namespace) -> int:
    workers = args.workers or _cpu_count()
    if workers == 1:
        from .hosts import load

        host = load(args.server)
        host.run(host.serve(Path(args.project), dev=args.dev, host=args.host, port=args.port))
        return 0
    if args.dev:
        raise ValueError(
            f"--dev reloads files and grants permissions in one process: drop --dev to serve with "
            f"--workers {args.workers}, or drop --workers to develop"
        )
    from .cluster import serve_cluster

    return serve_cluster(
        Path(args.project), workers=workers, host=args.host, port=args.port, server=args.server
    )


def _cpu_count() -> int:
    import tornado.process

    return tornado.process.cpu_count()


def _worker_count(text: str) -> int:
    """`--workers`: a whole number >= 0 (0: one per CPU)."""
    try:
        count = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"expected a whole number of processes (0: one per CPU), not {text!r}"
        ) from None
    if count < 0:
        raise argparse.ArgumentTypeError(f"expected 0 (one per CPU) or more processes, not {count}")
    return count


def _worker(args: argparse.Namespace) -> int:
    from .jobqueue.worker import run_worker

    return asyncio.run(run_worker(Path(args.project), concurrency=args.concurrency))


def _new(args: argparse.Namespace) -> int:
    from .scaffold import new_project

    path = new_project(Path(args.project))
    print(f"created {path}; run: gingee serve {args.project} --dev")
    return 0


def _grant(args: argparse.Namespace) -> int:
    from .engine.permissions import grant
    from .engine.project import load_server_config

    project = Path(args.project)
    config = load_server_config(project)
    granted = grant(project / config["permissions_file"], args.app, args.permissions, revoke=args.revoke)
    from .lifecycle.audit import AuditLog

    AuditLog(project.resolve()).record(
        "cli", "revoke" if args.revoke else "grant", args.app, permissions=sorted(args.permissions)
    )
    print(f"app '{args.app}' is granted: {', '.join(sorted(granted)) or 'nothing'}")
    from .fleet.cli import announce

    return announce(project, args.app, "revoke" if args.revoke else "grant")


def _check(args: argparse.Namespace) -> int:
    from .engine.project import Project

    async def run() -> int:
        project = Project(Path(args.project), dev=args.dev)
        await project.load()
        for name in sorted(project.apps):
            print(f"ok     {name}")
        for name, error in sorted(project.errors.items()):
            print(f"error  {name}: {error}")
        await project.close()
        return 1 if project.errors else 0

    return asyncio.run(run())


def _export(args: argparse.Namespace) -> int:
    from .notebook.export import export_notebook

    for folder in export_notebook(Path(args.notebook), Path(args.out), app=args.app):
        print(f"exported {folder}")
    return 0


def parser() -> argparse.ArgumentParser:
    """The argument parser of the `gingee` command."""
    top = argparse.ArgumentParser(prog="gingee", description="Gingee for Python: serve Gingee projects.")
    top.add_argument("--log-level", default="info", choices=["debug", "info", "warning", "error"])
    commands = top.add_subparsers(dest="command", required=True)

    serve = commands.add_parser("serve", help="serve a project over HTTP")
    serve.add_argument("project", help="the project folder (holding gingee.json and web/)")
    serve.add_argument("--port", type=int, default=None, help="port (default: gingee.json server.port, 7070)")
    serve.add_argument("--host", default=None, help="address to bind (default: gingee.json server.host)")
    serve.add_argument(
        "--dev",
        action="store_true",
        help="development mode: reload changed scripts and manifests, grant what pmft.json declares",
    )
    serve.add_argument(
        "--workers",
        type=_worker_count,
        default=1,
        metavar="N",
        help="processes serving the port (default 1; 0: one per CPU); see docs/serving.md",
    )
    serve.add_argument(
        "--server",
        choices=HOSTS,
        default=HOSTS[0],
        help="the HTTP server: tornado (default) or asgi (uvicorn: the gingee[fast] extra); docs/serving.md",
    )
    serve.set_defaults(run=_serve)

    worker = commands.add_parser("worker", help="run the project's queue jobs and schedules (arq on Redis)")
    worker.add_argument("project", help="the project folder (holding gingee.json and web/)")
    worker.add_argument(
        "--concurrency", type=int, default=None, help="jobs run at once per app (default: queue.concurrency)"
    )
    worker.set_defaults(run=_worker)

    new = commands.add_parser("new", help="create a project with a hello app")
    new.add_argument("project")
    new.set_defaults(run=_new)

    grant = commands.add_parser("grant", help="grant (or --revoke) permissions to an app")
    grant.add_argument("project")
    grant.add_argument("app")
    grant.add_argument("permissions", nargs="+")
    grant.add_argument("--revoke", action="store_true")
    grant.set_defaults(run=_grant)

    check = commands.add_parser("check", help="load every app and report manifest errors")
    check.add_argument("project")
    check.add_argument("--dev", action="store_true")
    check.set_defaults(run=_check)

    export = commands.add_parser("export", help="export a notebook's apps to web/ without running it")
    export.add_argument("notebook", help="the .ipynb file (or a .py file with `# %%` cells)")
    export.add_argument("--out", default="web", help="the folder to write <app>/ into (default: web)")
    export.add_argument("--app", default=None, help="export only this app (default: every App in it)")
    export.set_defaults(run=_export)
    from .fleet.cli import add_commands as add_cluster_commands
    from .lifecycle.cli import add_commands
    from .plugin_host.cli import add_commands as add_plugin_commands
    from .workshop import add_commands as add_workshop_commands

    add_commands(commands)
    add_plugin_commands(commands)
    add_cluster_commands(commands)
    add_workshop_commands(commands)
    return top


def main(argv: list[str] | None = None) -> int:
    """Entry point of the `gingee` console script."""
    args = parser().parse_args(argv)
    logging.basicConfig(
        level=args.log_level.upper(), format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )
    try:
        return int(args.run(args))
    except (GingeeError, FileExistsError, ValueError) as exc:
        print(f"gingee: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    sys.exit(main())
