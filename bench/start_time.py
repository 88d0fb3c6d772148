"""Start time: the wall time from spawning a server to its first successfully served request.

Each target is started `--runs` times, one after the other, on a free 127.0.0.1 port; the clock starts
just before the spawn and stops at the first request that answers 200 with the expected JSON (polled
every 5 ms). Targets:

- tornado: `gingee serve examples` (the Tornado host), `GET /hello/hello`;
- asgi: `gingee serve examples --server asgi` (uvicorn), `GET /hello/hello`;
- jupyter: `jupyter server` on examples/ with the gingee_server extension, `GET /gingee/hello/hello`;
- jupyter-bare: the same Jupyter server without the gingee_server extension, `GET /api/status` (what
  Jupyter costs on its own).

Both Jupyter servers get a temporary home (runtime, config and data dirs, a token), as
tests/fixtures/jupyter.py starts them; the other installed extensions (jupyterlab...) load as usual.
Prints the median, min and max of each against the goal: < 0.5 s for Gingee without the Jupyter extras
installed, < 1 s with them (and for Jupyter with the extension). Then one more start of `--profile` (a
target, default tornado) runs with `python -X importtime` and prints the costliest imports of its path:
by top-level package, and the slowest modules each with the Gingee module that imported it.

Usage: python bench/start_time.py [--runs 5] [--targets tornado,asgi,jupyter,jupyter-bare]
                                  [--profile tornado|asgi|jupyter|jupyter-bare|none] [--top 12] [--json]
"""

from __future__ import annotations

import argparse
import http.client
import importlib.util
import json
import os
import secrets
import statistics
import subprocess
import sys
import tempfile
import time
from collections import defaultdict
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

from _servers import REPO, asgi_command, free_port, gingee_command

HELLO = {"message": "Hello, world!"}
TARGETS = ("tornado", "asgi", "jupyter", "jupyter-bare")
#: Gingee's goals: without the Jupyter extras installed, and with them (Jupyter's own figures too).
GOAL_PLAIN, GOAL_JUPYTER = 0.5, 1.0
POLL_S = 0.005


@dataclass
class Launch:
    """How to start one target and which request proves it serves."""

    command: list[str]
    path: str
    env: dict[str, str] = field(default_factory=dict)
    headers: dict[str, str] = field(default_factory=dict)
    expect: object = None  # the JSON body expected, or None for any JSON object


@contextmanager
def launch(target: str, project: Path, port: int) -> Iterator[Launch]:
    """The command of `target` (with a temporary Jupyter home for the Jupyter ones, removed after)."""
    host = ["--host", "127.0.0.1", "--port", str(port)]
    if target == "tornado":
        yield Launch([*gingee_command(), "serve", str(project), *host], "/hello/hello", expect=HELLO)
    elif target == "asgi":
        yield Launch(asgi_command(project, port), "/hello/hello", expect=HELLO)
    else:
        with tempfile.TemporaryDirectory(prefix="start-time-jupyter-") as tmp:
            yield jupyter_launch(Path(tmp), project, port, extension=target == "jupyter")


def jupyter_launch(home: Path, project: Path, port: int, extension: bool) -> Launch:
    """`jupyter server` on `project` with its own runtime, config and data dirs, the extension on or off."""
    (home / "config").mkdir()
    enable = {"ServerApp": {"jpserver_extensions": {"gingee_server": extension}}}
    (home / "config" / "jupyter_server_config.json").write_text(json.dumps(enable))
    token = secrets.token_hex(16)
    env = {
        "JUPYTER_RUNTIME_DIR": str(home / "runtime"),
        "JUPYTER_CONFIG_DIR": str(home / "config"),
        "JUPYTER_DATA_DIR": str(home / "data"),
        "JUPYTER_PLATFORM_DIRS": "1",
    }
    command = [
        sys.executable,
        "-m",
        "jupyter_server",
        "--no-browser",
        f"--ServerApp.port={port}",
        "--ServerApp.port_retries=0",
        "--ServerApp.ip=127.0.0.1",
        f"--ServerApp.token={token}",
        f"--ServerApp.root_dir={project}",
        *(["--allow-root"] if hasattr(os, "geteuid") and os.geteuid() == 0 else []),
    ]
    path, expect = ("/gingee/hello/hello", HELLO) if extension else ("/api/status", None)
    return Launch(command, path, env, {"Authorization": f"token {token}"}, expect)


def served(port: int, spec: Launch) -> bool:
    """True if one request answers 200 with the expected JSON (False while the port refuses)."""
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
    try:
        connection.request("GET", spec.path, headers=spec.headers)
        reply = connection.getresponse()
        body = reply.read()
    except OSError:
        return False
    finally:
        connection.close()
    if reply.status != 200:
        return False
    data = json.loads(body)
    return data == spec.expect if spec.expect is not None else isinstance(data, dict)


def start_once(target: str, project: Path, extra_env: dict[str, str] | None = None) -> tuple[float, str]:
    """Spawn `target`, wait for its first served request; (seconds, its stderr). Raises if it never serves."""
    port = free_port()
    with launch(target, project, port) as spec, tempfile.TemporaryFile() as err:
        env = {**os.environ, **spec.env, **(extra_env or {})}
        started = time.perf_counter()
        process = subprocess.Popen(spec.command, cwd=REPO, env=env, stdout=subprocess.DEVNULL, stderr=err)
        try:
            while not served(port, spec):
                if process.poll() is not None or time.perf_counter() - started > 60:
                    err.seek(0)
                    raise RuntimeError(f"{target} did not serve {spec.path}:\n{err.read().decode()[-3000:]}")
                time.sleep(POLL_S)
            elapsed = time.perf_counter() - started
        finally:
            process.terminate()
            try:
                process.wait(20)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
        err.seek(0)
        return elapsed, err.read().decode(errors="replace")


# --- python -X importtime ------------------------------------------------------------------------------


@dataclass
class Imported:
    """One line of `-X importtime`: a module, its own and its cumulative time, and who imported it."""

    name: str
    self_us: int
    total_us: int
    depth: int
    parent: Imported | None = None


def parse_importtime(text: str) -> list[Imported]:
    """The modules of `-X importtime` output, each with its parent (the output lists children first)."""
    modules: list[Imported] = []
    pending: list[Imported] = []
    for line in text.splitlines():
        if not line.startswith("import time:") or "self [us]" in line:
            continue
        self_us, total_us, name = line[len("import time:") :].split("|", 2)
        stripped = name.rstrip()[1:]  # one space after the bar, then two per level
        module = Imported(
            stripped.lstrip(), int(self_us), int(total_us), (len(stripped) - len(stripped.lstrip())) // 2
        )
        while pending and pending[-1].depth > module.depth:
            pending.pop().parent = module
        pending.append(module)
        modules.append(module)
    return modules


def importer(module: Imported) -> str:
    """The nearest Gingee module (gingee_kernel, gingee_server) that imported `module`; else the import at
    the top of its chain (a module imported from inside a function shows at the top level)."""
    current = module
    while current.parent is not None:
        current = current.parent
        if current.name.startswith(("gingee_kernel", "gingee_server")):
            return current.name
    return f"{current.name}, at the top level" if current is not module else "the top level"


def print_profile(target: str, text: str, top: int) -> dict[str, object]:
    """Print the costliest packages (summed own times) and modules of one importtime log."""
    modules = parse_importtime(text)
    packages: dict[str, int] = defaultdict(int)
    for module in modules:
        packages[module.name.partition(".")[0]] += module.self_us
    total = sum(m.self_us for m in modules)
    print(f"\n-X importtime of {target}'s start: {len(modules)} modules, {total / 1000:.0f} ms of imports")
    print("  by top-level package (own times summed):")
    by_package = sorted(packages.items(), key=lambda item: -item[1])[:top]
    for name, us in by_package:
        print(f"    {us / 1000:8.1f} ms  {name}")
    print("  slowest modules (own time; cumulative; imported through):")
    slowest = sorted(modules, key=lambda m: -m.self_us)[:top]
    for module in slowest:
        print(
            f"    {module.self_us / 1000:8.1f} ms  {module.total_us / 1000:8.1f} ms  {module.name}  "
            f"(via {importer(module)})"
        )
    return {
        "total_ms": total / 1000,
        "packages_ms": {name: us / 1000 for name, us in by_package},
        "modules": [{"name": m.name, "self_ms": m.self_us / 1000, "via": importer(m)} for m in slowest],
    }


# --- main ----------------------------------------------------------------------------------------------


def goal_of(target: str, jupyter_installed: bool) -> float:
    """The start-time goal of a target, in seconds."""
    if target.startswith("jupyter") or jupyter_installed:
        return GOAL_JUPYTER
    return GOAL_PLAIN


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=5, help="starts per target (default 5)")
    parser.add_argument(
        "--targets", default=",".join(TARGETS), help="comma-separated, of: " + ", ".join(TARGETS)
    )
    parser.add_argument(
        "--profile", default="tornado", choices=[*TARGETS, "none"], help="target to -X importtime"
    )
    parser.add_argument("--top", type=int, default=12, help="rows of the importtime tables (default 12)")
    parser.add_argument("--project", type=Path, default=REPO / "examples", help="project to serve")
    parser.add_argument("--json", action="store_true", help="also print the results as one JSON line")
    args = parser.parse_args(argv)
    targets = [t for t in args.targets.split(",") if t]
    if unknown := set(targets) - set(TARGETS):
        parser.error(f"unknown targets: {', '.join(sorted(unknown))}")
    jupyter_installed = importlib.util.find_spec("jupyter_server") is not None
    if not jupyter_installed:
        targets = [t for t in targets if not t.startswith("jupyter")]
    project = args.project.resolve()
    extras = "installed" if jupyter_installed else "not installed"
    print(f"start time to the first served request, {args.runs} starts each; Jupyter extras {extras}")
    times: dict[str, list[float]] = {t: [] for t in targets}
    for _ in range(args.runs):  # alternating, so a busy moment of the machine hits every target
        for target in targets:
            times[target].append(start_once(target, project)[0])
    print(f"\n{'target':<13} {'median s':>9} {'min s':>7} {'max s':>7}   goal")
    summary: dict[str, object] = {"runs": args.runs, "jupyter_extras": jupyter_installed, "targets": {}}
    for target, runs in times.items():
        median, goal = statistics.median(runs), goal_of(target, jupyter_installed)
        verdict = "meets" if median < goal else "MISSES"
        print(f"{target:<13} {median:9.3f} {min(runs):7.3f} {max(runs):7.3f}   < {goal:g} s: {verdict}")
        summary["targets"][target] = {"median_s": median, "runs_s": runs, "goal_s": goal}  # type: ignore[index]
    if "jupyter" in times and "jupyter-bare" in times:
        extension = statistics.median(times["jupyter"]) - statistics.median(times["jupyter-bare"])
        print(f"the gingee_server extension adds {extension:+.3f} s to Jupyter's start (medians)")
    if args.profile != "none" and (args.profile in targets or not args.profile.startswith("jupyter")):
        _, stderr = start_once(args.profile, project, {"PYTHONPROFILEIMPORTTIME": "1"})
        summary["importtime"] = print_profile(args.profile, stderr, args.top)
    if args.json:
        print(json.dumps(summary))
    return 0


if __name__ == "__main__":
    sys.exit(main())
