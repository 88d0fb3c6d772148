"""What a deploy costs the clients of a busy app: an upgrade through the operator API (requests wait while
the app switches) versus the usual way without one, copying the files and restarting `gingee serve`.

    python bench/deploy_pause.py [--deploys 5] [--clients 8] [--settle 1.0]

Each way serves the same app (a route answering its version) from a fresh project on a free 127.0.0.1
port, while `--clients` keep-alive clients request it without pause. Each way then deploys `--deploys`
new versions, one after the other. It prints, for each way:

- requests answered;
- errors (refused connections and non-200 answers);
- the longest any client went without a 200 (one slow answer, or a run of refused connections);
- p99 latency over the run.

Then it prints the ratios API / restart. The steady p99 (before the first deploy) is printed too, as the
floor.
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
import tempfile
import threading
import time
from pathlib import Path

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _servers import ServerProcess, free_port, gingee_command

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from gingee_kernel.lifecycle.package import pack

ROUTE = "async def handle(g):\n    g.response.send({{'version': '{version}'}})\n"


def write_app(folder: Path, version: str) -> None:
    (folder / "box").mkdir(parents=True, exist_ok=True)
    (folder / "box" / "app.json").write_text(json.dumps({"name": "shop", "version": version}))
    (folder / "box" / "version.py").write_text(ROUTE.format(version=version))


class Load:
    """`clients` threads requesting `url` until stopped: latencies, errors, and the longest gap between two
    200s of one client."""

    def __init__(self, url: str, clients: int) -> None:
        self.url = url
        self.latencies: list[float] = []
        self.errors = 0
        self.longest = 0.0
        self._stop = threading.Event()
        self._lock = threading.Lock()
        self._threads = [threading.Thread(target=self._run, daemon=True) for _ in range(clients)]

    def _run(self) -> None:
        last_ok = time.perf_counter()
        with httpx.Client(timeout=30) as client:
            while not self._stop.is_set():
                started = time.perf_counter()
                try:
                    ok = client.get(self.url).status_code == 200
                except httpx.HTTPError:
                    ok = False
                    time.sleep(0.01)
                took = time.perf_counter() - started
                with self._lock:
                    if ok:
                        self.latencies.append(took)
                        now = time.perf_counter()
                        self.longest = max(self.longest, now - last_ok)  # the longest this client went
                        last_ok = now  # without a good answer (one slow answer, or a run of errors)
                    else:
                        self.errors += 1

    def start(self) -> Load:
        for thread in self._threads:
            thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        for thread in self._threads:
            thread.join(30)

    def p99(self) -> float:
        ordered = sorted(self.latencies)
        return ordered[int(len(ordered) * 0.99)] if ordered else float("nan")


def serve(project: Path, port: int) -> ServerProcess:
    command = [*gingee_command(), "serve", str(project), "--host", "127.0.0.1", "--port", str(port)]
    server = ServerProcess("deploy", command, port)
    for _ in range(300):
        try:
            if httpx.get(f"http://127.0.0.1:{port}/shop/version", timeout=1).status_code == 200:
                return server
        except httpx.HTTPError:
            pass
        if server.exited():
            raise SystemExit(f"gingee serve exited:\n{server.output()}")
        time.sleep(0.05)
    raise SystemExit(f"gingee serve did not answer:\n{server.output()}")


def run(way: str, root: Path, deploys: int, clients: int, settle: float) -> dict[str, float]:
    project = root / way
    write_app(project / "web" / "shop", "1.0.0")
    (project / "gingee.json").write_text("{}")
    port = free_port()
    server = serve(project, port)
    load = Load(f"http://127.0.0.1:{port}/shop/version", clients).start()
    time.sleep(settle)
    steady = load.p99()
    try:
        for number in range(2, deploys + 2):
            version = f"{number}.0.0"
            source = root / f"{way}-src-{number}" / "shop"
            write_app(source, version)
            if way == "api":
                package = pack(source, root / f"shop-{version}.gin").read_bytes()
                answer = httpx.put(
                    f"http://127.0.0.1:{port}/_gingee/api/apps/shop", content=package, timeout=60
                )
                if answer.status_code != 200:
                    raise SystemExit(f"the upgrade failed: {answer.status_code} {answer.text}")
            else:
                server.stop()
                shutil.rmtree(project / "web" / "shop")
                shutil.copytree(source, project / "web" / "shop")
                server = serve(project, port)
            time.sleep(settle)
        final = httpx.get(f"http://127.0.0.1:{port}/shop/version", timeout=5).json()["version"]
        assert final == f"{deploys + 1}.0.0", final
    finally:
        load.stop()
        server.stop()
    return {
        "answered": len(load.latencies),
        "errors": load.errors,
        "longest_ms": 1000 * load.longest,
        "p99_ms": 1000 * load.p99(),
        "steady_p99_ms": 1000 * steady,
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--deploys", type=int, default=5)
    parser.add_argument("--clients", type=int, default=8)
    parser.add_argument(
        "--settle", type=float, default=1.0, help="seconds of load before and after each deploy"
    )
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="gingee-deploy-bench-") as tmp:
        results = {
            way: run(way, Path(tmp), args.deploys, args.clients, args.settle) for way in ("api", "restart")
        }
    print(f"{args.deploys} deploys under {args.clients} clients")
    print(f"{'way':<10}{'answered':>10}{'errors':>8}{'longest gap':>12}{'p99 ms':>9}{'steady p99':>12}")
    for way, r in results.items():
        print(
            f"{way:<10}{r['answered']:>10}{r['errors']:>8}{r['longest_ms']:>12.1f}{r['p99_ms']:>9.1f}"
            f"{r['steady_p99_ms']:>12.1f}"
        )
    api, restart = results["api"], results["restart"]
    ratio = api["longest_ms"] / restart["longest_ms"]
    print(f"ratio api/restart: longest gap {ratio:.2f}x; errors {api['errors']} vs {restart['errors']}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
