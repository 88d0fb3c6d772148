"""What process isolation costs: one hello route served in-process against the same route served by an app
isolated in a worker process (gingee.json `"isolation": {"mode": "process", "apps": ["iso"]}`), where the
master relays each request to the worker over a Unix socket.

Builds a temporary project with two identical apps, `web/inproc` and `web/iso` (`box/hello.py` returns
`{"message": "Hello, world!"}`), isolates `iso`, and starts one `gingee serve` (production mode, not --dev)
on a free 127.0.0.1 port. Checks that `/inproc/hello` and `/iso/hello` answer the JSON, warms both up, then
per round loads each route with `wrk --latency` at `--connections` (req/s, p50, p99), and again with one
keep-alive connection (`wrk -t1 -c1`: requests one after the other, so its p50 is one round trip at low
load). Prints the medians, isolated/in-process throughput (goal >= 0.5) and the p50 the isolation adds at
c=1 (goal < 1 ms). Any socket error or non-2xx answer makes it exit 1.

Usage: python bench/isolated_hello.py [--duration 10] [--connections 32] [--rounds 1] [--json]
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import sys
import tempfile
import time
import urllib.request
from dataclasses import asdict
from pathlib import Path

from _servers import ServerProcess, free_port, gingee_command
from http_hello import LoadResult, ratio_line, run_wrk
from workers_scale import tree_cpu_seconds

ROUTES = {"inproc": "/inproc/hello", "iso": "/iso/hello"}
EXPECTED = {"message": "Hello, world!"}
HELLO = 'async def handle(g):\n    return {"message": "Hello, world!"}\n'
CONFIG = {
    "isolation": {"mode": "process", "apps": ["iso"]},
    "limits": {"max_concurrent_requests": 1000, "max_concurrent_requests_per_app": 1000},
}
THROUGHPUT_GOAL = 0.5  # isolated/in-process req/s at --connections
ADDED_P50_GOAL_MS = 1.0  # isolated minus in-process p50 at c=1
WARMUP = 2.0  # seconds of wrk per route before measuring


def build_project() -> Path:
    """A temporary project: gingee.json isolating `iso`, and the two identical apps."""
    project = Path(tempfile.mkdtemp(prefix="bench-isolated-"))
    (project / "gingee.json").write_text(json.dumps(CONFIG, indent=2))
    for app in ROUTES:
        box = project / "web" / app / "box"
        box.mkdir(parents=True)
        (box / "app.json").write_text(json.dumps({"name": app}))
        (box / "hello.py").write_text(HELLO)
    return project


def wait_route(server: ServerProcess, path: str, timeout: float = 60.0) -> None:
    """Poll `path` until it answers the expected JSON; raise with the server log otherwise."""
    url = f"http://127.0.0.1:{server.port}{path}"
    deadline = time.monotonic() + timeout
    last: Exception | None = None
    while time.monotonic() < deadline:
        if server.exited():
            raise RuntimeError(f"gingee exited with {server.process.returncode}:\n{server.output()}")
        try:
            with urllib.request.urlopen(url, timeout=5) as reply:
                kind = reply.headers.get("Content-Type", "")
                body = json.loads(reply.read())
        except OSError as exc:
            last = exc
            time.sleep(0.1)
            continue
        if body != EXPECTED or not kind.startswith("application/json"):
            raise RuntimeError(f"{url} answered {body!r} as {kind!r}")
        return
    raise RuntimeError(f"{url} did not answer within {timeout:g} s ({last}):\n{server.output()}")


def load(server: ServerProcess, name: str, connections: int, seconds: float) -> LoadResult:
    """One wrk run on route `name`; CPU per request summed over the master and its worker."""
    before = tree_cpu_seconds(server.process.pid)
    url = f"http://127.0.0.1:{server.port}{ROUTES[name]}"
    result = run_wrk(name, url, 1, connections, seconds, None)
    after = tree_cpu_seconds(server.process.pid)
    if before is not None and after is not None and result.requests:
        result.cpu_us_per_request = 1e6 * (after - before) / result.requests
    return result


def show(label: str, result: LoadResult) -> None:
    """One measured run, as a line."""
    print(
        f"  {label:<16} {result.server:<7} {result.requests_per_second:9.1f} req/s  "
        f"p50 {result.p50_ms:7.3f} ms  p99 {result.p99_ms:7.3f} ms  "
        f"cpu {result.cpu_us_per_request:6.1f} us/req  errors {result.errors}  non-2xx {result.non_2xx}",
        flush=True,
    )


def measure(args: argparse.Namespace, server: ServerProcess) -> dict[str, dict[str, list[LoadResult]]]:
    """Warm both routes, then `args.rounds` rounds (order alternating) at --connections and at c=1."""
    for name in ROUTES:
        load(server, name, args.connections, WARMUP)
    results: dict[str, dict[str, list[LoadResult]]] = {
        "load": {name: [] for name in ROUTES},
        "c1": {name: [] for name in ROUTES},
    }
    names = list(ROUTES)
    for index in range(args.rounds):
        order = names if index % 2 == 0 else names[::-1]
        for phase, connections in (("load", args.connections), ("c1", 1)):
            for name in order:
                result = load(server, name, connections, args.duration)
                results[phase][name].append(result)
                show(f"round {index + 1} c={connections}", result)
    return results


def medians(runs: dict[str, list[LoadResult]]) -> dict[str, dict[str, float]]:
    """Median req/s, p50, p99 and CPU per request of each route."""
    keys = ("requests_per_second", "p50_ms", "p99_ms", "cpu_us_per_request")
    return {
        name: {k: statistics.median(getattr(r, k) for r in rs) for k in keys} for name, rs in runs.items()
    }


def report(args: argparse.Namespace, tool: str, results: dict[str, dict[str, list[LoadResult]]]) -> int:
    """Print the medians, the ratios against the goals (and the JSON line); 1 if any request failed."""
    load_m, c1_m = medians(results["load"]), medians(results["c1"])
    print()
    for phase, table in ((f"c={args.connections}", load_m), ("c=1", c1_m)):
        for name, m in table.items():
            print(
                f"{phase:<5} {name:<7} {m['requests_per_second']:9.1f} req/s   p50 {m['p50_ms']:7.3f} ms   "
                f"p99 {m['p99_ms']:7.3f} ms   server cpu {m['cpu_us_per_request']:6.1f} us/req   "
                f"(median of {args.rounds})"
            )
    throughput = load_m["iso"]["requests_per_second"] / load_m["inproc"]["requests_per_second"]
    added_ms = c1_m["iso"]["p50_ms"] - c1_m["inproc"]["p50_ms"]
    verdict = "meets" if added_ms < ADDED_P50_GOAL_MS else "MISSES"
    print(ratio_line(f"throughput isolated/in-process at c={args.connections}", throughput, THROUGHPUT_GOAL))
    print(ratio_line("p50 isolated/in-process", load_m["iso"]["p50_ms"] / load_m["inproc"]["p50_ms"]))
    print(ratio_line("p99 isolated/in-process", load_m["iso"]["p99_ms"] / load_m["inproc"]["p99_ms"]))
    print(
        f"added p50 at c=1: {added_ms:+.3f} ms "
        f"({c1_m['inproc']['p50_ms']:.3f} -> {c1_m['iso']['p50_ms']:.3f} ms; "
        f"{verdict} the < {ADDED_P50_GOAL_MS:g} ms goal)"
    )
    if args.rounds > 1:
        paired = [
            iso.requests_per_second / inproc.requests_per_second
            for iso, inproc in zip(results["load"]["iso"], results["load"]["inproc"], strict=True)
        ]
        print(f"throughput isolated/in-process per round: {', '.join(f'{r:.3f}' for r in paired)}")
    print(f"note: {os.cpu_count()} CPU(s) shared by the master, the worker and wrk")
    if args.json:
        summary = {
            "tool": tool,
            "results": {
                phase: {
                    name: [{k: v for k, v in asdict(r).items() if k != "raw"} for r in rs]
                    for name, rs in runs.items()
                }
                for phase, runs in results.items()
            },
            "medians": {"load": load_m, "c1": c1_m},
            "throughput_ratio": throughput,
            "added_p50_ms_c1": added_ms,
        }
        print(json.dumps(summary))
    failed = any(r.errors or r.non_2xx for runs in results.values() for rs in runs.values() for r in rs)
    if failed:
        print("WARNING: some requests failed or were not 2xx")
    return 1 if failed else 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--duration", type=float, default=10.0, help="seconds per measured run (default 10)")
    parser.add_argument("--connections", type=int, default=32, help="concurrent connections (default 32)")
    parser.add_argument("--rounds", type=int, default=1, help="measured rounds, alternating (default 1)")
    parser.add_argument("--json", action="store_true", help="also print the results as one JSON line")
    args = parser.parse_args(argv)
    if shutil.which("wrk") is None:
        parser.error("wrk is not installed (apt-get install -y wrk)")
    tool = f"wrk -t1 -c{args.connections} -d{max(1, round(args.duration))}s --latency, then -c1"
    project = build_project()
    server: ServerProcess | None = None
    try:
        port = free_port()
        command = [*gingee_command(), "serve", str(project), "--host", "127.0.0.1", "--port", str(port)]
        server = ServerProcess("isolated", command, port)
        for path in ROUTES.values():
            wait_route(server, path)
        print(f"tool: {tool}; warm-up {WARMUP:g} s per route; {args.rounds} round(s)", flush=True)
        results = measure(args, server)
    finally:
        if server is not None:
            server.stop()
        shutil.rmtree(project, ignore_errors=True)
    return report(args, tool, results)


if __name__ == "__main__":
    sys.exit(main())
