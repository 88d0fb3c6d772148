"""Throughput and p99 latency of `GET /hello/hello`: `gingee serve examples` versus bare Tornado.

Starts both servers as subprocesses on free 127.0.0.1 ports (`gingee serve`, not --dev, and
bench/bare_tornado.py), checks they answer the same JSON, warms each up, then loads them one after
the other with the same tool: `wrk --latency` (Debian package `wrk`), or, if wrk is missing, a small
Python asyncio keep-alive load generator (said so in the output; its figures are not comparable with
wrk's). Prints requests/second and p99 of each and the gingee/bare ratios.

Usage: python bench/http_hello.py [--duration 10] [--connections 32] [--threads 1] [--rounds 1]
                                  [--metrics on|off|both] [--raise-limits] [--pin] [--json]

`--metrics both` also serves a copy of the project with metrics off and prints the on/off throughput
ratio of the same run (Gingee's metrics may cost under 5%).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from dataclasses import asdict, dataclass, field
from pathlib import Path

import _servers
from _servers import HERE, REPO, cpu_seconds, free_port, gingee_command

__all__ = [  # also what bench/metrics_cost.py imports from here
    "REPO",
    "LoadResult",
    "ServerProcess",
    "cpu_seconds",
    "free_port",
    "gingee_command",
    "project_for",
    "run_wrk",
]
ROUTE = "/hello/hello"
EXPECTED = {"message": "Hello, world!"}
GOAL = 0.85
METRICS_GOAL = 0.05  # metrics may cost under 5% of throughput


@dataclass
class LoadResult:
    """One load run against one server."""

    server: str
    requests_per_second: float
    p50_ms: float
    p99_ms: float
    requests: int
    errors: int
    non_2xx: int
    cpu_us_per_request: float = float("nan")
    raw: str = field(default="", repr=False)


# --- servers -----------------------------------------------------------------------------------


class ServerProcess(_servers.ServerProcess):
    """A server subprocess answering GET /hello/hello; `wait_ready()` checks its JSON."""

    def __init__(self, name: str, command: list[str], port: int, cpu: int | None) -> None:
        super().__init__(name, command, port, cpu)
        self.url = f"http://127.0.0.1:{port}{ROUTE}"

    def wait_ready(self, timeout: float = 30.0) -> None:
        """Poll until the route answers the expected JSON; raise with the server log otherwise."""
        deadline = time.monotonic() + timeout
        last: Exception | None = None
        while time.monotonic() < deadline:
            if self.exited():
                raise RuntimeError(f"{self.name} exited with {self.process.returncode}:\n{self.output()}")
            try:
                with urllib.request.urlopen(self.url, timeout=2) as reply:
                    kind = reply.headers.get("Content-Type", "")
                    body = json.loads(reply.read())
                if body != EXPECTED or kind != "application/json":
                    raise RuntimeError(f"{self.name} answered {body!r} as {kind!r}")
                return
            except OSError as exc:
                last = exc
                time.sleep(0.1)
        raise RuntimeError(
            f"{self.name} did not answer {self.url} within {timeout:g} s ({last}):\n{self.output()}"
        )


def project_for(
    project: Path, connections: int, raise_limits: bool, metrics: bool = True
) -> tuple[Path, str | None]:
    """The project to serve, and a note if it is a temporary copy with concurrency caps raised (or
    with `metrics.enabled` false, for `--metrics off`).

    Gingee answers 503 TOO_MANY_REQUESTS beyond `limits.max_concurrent_requests(_per_app)`; with more
    connections than the cap, part of the load may be cheap 503s (when handlers yield to the loop).
    With `raise_limits`, such a project is copied to a temporary folder with both caps raised to
    `connections`; otherwise it is served as it is.
    """
    config_path = project / "gingee.json"
    config = json.loads(config_path.read_text()) if config_path.is_file() else {}
    limits = config.setdefault("limits", {})
    caps = {
        "max_concurrent_requests": int(limits.get("max_concurrent_requests", 100)),
        "max_concurrent_requests_per_app": int(limits.get("max_concurrent_requests_per_app", 25)),
    }
    raise_limits = raise_limits and any(cap < connections for cap in caps.values())
    if not raise_limits and metrics:
        return project, None
    copy = Path(tempfile.mkdtemp(prefix="bench-project-")) / project.name
    shutil.copytree(project, copy, symlinks=True)
    notes = []
    if raise_limits:
        for key, cap in caps.items():
            limits[key] = max(cap, connections)
        notes.append(
            f"limits.max_concurrent_requests(_per_app) raised from {caps['max_concurrent_requests']}/"
            f"{caps['max_concurrent_requests_per_app']} to {connections} (--raise-limits)"
        )
    if not metrics:
        config["metrics"] = {**config.get("metrics", {}), "enabled": False}
        notes.append("metrics.enabled false (--metrics off)")
    (copy / "gingee.json").write_text(json.dumps(config, indent=2))
    return copy, f"serving a copy of {project} with " + " and ".join(notes)


# --- wrk -----------------------------------------------------------------------------------------

_UNITS_MS = {"us": 0.001, "ms": 1.0, "s": 1000.0, "m": 60_000.0}
_PERCENTILE = re.compile(r"^\s*(\d+)%\s+([\d.]+)(us|ms|s|m)\s*$", re.MULTILINE)


def parse_wrk(server: str, text: str) -> LoadResult:
    """Requests/s, p50/p99 (from `--latency`), totals and errors out of wrk's report."""
    rps = re.search(r"Requests/sec:\s+([\d.]+)", text)
    total = re.search(r"(\d+) requests in", text)
    if rps is None or total is None:
        raise RuntimeError(f"could not parse wrk output:\n{text}")
    percentiles = {int(p): float(v) * _UNITS_MS[u] for p, v, u in _PERCENTILE.findall(text)}
    if 99 not in percentiles:
        raise RuntimeError(f"wrk printed no latency distribution (was --latency given?):\n{text}")
    socket_errors = re.search(r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", text)
    non_2xx = re.search(r"Non-2xx or 3xx responses: (\d+)", text)
    return LoadResult(
        server=server,
        requests_per_second=float(rps.group(1)),
        p50_ms=percentiles.get(50, float("nan")),
        p99_ms=percentiles[99],
        requests=int(total.group(1)),
        errors=sum(int(n) for n in socket_errors.groups()) if socket_errors else 0,
        non_2xx=int(non_2xx.group(1)) if non_2xx else 0,
        raw=text,
    )


def add_load_options(parser: argparse.ArgumentParser, target: str = "server") -> None:
    """The options every wrk bench takes: --duration, --connections, --threads, --warmup, --rounds and
    --tool (read back with `load_tool`)."""
    parser.add_argument("--duration", type=float, default=10.0, help="seconds per measured run (default 10)")
    parser.add_argument("--connections", type=int, default=32, help="concurrent connections (default 32)")
    parser.add_argument("--threads", type=int, default=1, help="wrk threads (default 1)")
    parser.add_argument(
        "--warmup", type=float, default=2.0, help=f"seconds of warm-up per {target} (default 2)"
    )
    parser.add_argument(
        "--rounds", type=int, default=1, help=f"measured runs per {target}, alternating (default 1)"
    )
    parser.add_argument(
        "--tool", choices=["auto", "wrk", "python"], default="auto", help="load tool (auto: wrk if installed)"
    )


def load_tool(parser: argparse.ArgumentParser, args: argparse.Namespace) -> tuple[bool, bool]:
    """(whether wrk is installed, whether to load with it) for `--tool auto|wrk|python`; `--tool wrk`
    without wrk is a usage error."""
    has_wrk = shutil.which("wrk") is not None
    if args.tool == "wrk" and not has_wrk:
        parser.error("wrk is not installed (apt-get install -y wrk)")
    return has_wrk, has_wrk and args.tool != "python"


def run_wrk(
    server: str, url: str, threads: int, connections: int, duration: float, cpu: int | None
) -> LoadResult:
    """One `wrk --latency` run."""
    command = ["wrk", f"-t{threads}", f"-c{connections}", f"-d{max(1, round(duration))}s", "--latency", url]
    if cpu is not None and shutil.which("taskset"):
        command = ["taskset", "-c", str(cpu), *command]
    done = subprocess.run(command, capture_output=True, text=True, check=True)
    return parse_wrk(server, done.stdout)


# --- Python fallback -------------------------------------------------------------------------------


async def _connection_loop(
    port: int, request: bytes, until: float, latencies: list[float]
) -> tuple[int, int]:
    """Keep-alive requests on one connection until `until`; (errors, non-2xx)."""
    errors = non_2xx = 0
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    try:
        while time.perf_counter() < until:
            start = time.perf_counter()
            writer.write(request)
            head = await reader.readuntil(b"\r\n\r\n")
            match = re.search(rb"(?i)\r\ncontent-length:\s*(\d+)", head)
            await reader.readexactly(int(match.group(1)) if match else 0)
            latencies.append(time.perf_counter() - start)
            if not head.startswith((b"HTTP/1.1 2", b"HTTP/1.0 2")):
                non_2xx += 1
    except (OSError, asyncio.IncompleteReadError):
        errors += 1
    finally:
        writer.close()
    return errors, non_2xx


def run_python(server: str, port: int, connections: int, duration: float) -> LoadResult:
    """The fallback load generator: `connections` keep-alive connections on one asyncio loop."""
    request = f"GET {ROUTE} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\n\r\n".encode()
    latencies: list[float] = []

    async def main() -> list[tuple[int, int]]:
        until = time.perf_counter() + duration
        return await asyncio.gather(
            *(_connection_loop(port, request, until, latencies) for _ in range(connections))
        )

    started = time.perf_counter()
    outcomes = asyncio.run(main())
    elapsed = time.perf_counter() - started
    latencies.sort()
    p99 = latencies[min(len(latencies) - 1, int(0.99 * len(latencies)))] if latencies else float("nan")
    return LoadResult(
        server=server,
        requests_per_second=len(latencies) / elapsed,
        p50_ms=1000 * statistics.median(latencies) if latencies else float("nan"),
        p99_ms=1000 * p99,
        requests=len(latencies),
        errors=sum(e for e, _ in outcomes),
        non_2xx=sum(n for _, n in outcomes),
    )


# --- main ----------------------------------------------------------------------------------------


def ratio_line(label: str, ratio: float, goal: float | None = None, above: bool = True) -> str:
    """`label: 0.873` and, with a goal, whether it is met (`above`: the ratio must be >= the goal)."""
    if goal is None:
        return f"{label}: {ratio:.3f}"
    met = ratio >= goal if above else ratio <= goal
    return f"{label}: {ratio:.3f} ({'meets' if met else 'MISSES'} the {goal:g} goal)"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    add_load_options(parser)
    parser.add_argument(
        "--project", type=Path, default=REPO / "examples", help="project to serve (examples/)"
    )
    parser.add_argument(
        "--pin", action="store_true", help="taskset: servers on CPU 0, the load tool on CPU 1"
    )
    parser.add_argument(
        "--raise-limits", action="store_true", help="serve a copy whose concurrency caps allow --connections"
    )
    parser.add_argument("--json", action="store_true", help="also print the results as one JSON line")
    parser.add_argument(
        "--metrics",
        choices=["on", "off", "both"],
        default="on",
        help="gingee.json metrics.enabled; both: a metrics-off server too, and the on/off ratio (default on)",
    )
    args = parser.parse_args(argv)

    has_wrk, use_wrk = load_tool(parser, args)
    server_cpu, load_cpu = (0, 1) if args.pin else (None, None)
    # The Gingee servers to load: (name, metrics enabled).
    variants = {"on": [("gingee", True)], "off": [("gingee", False)]}.get(
        args.metrics, [("gingee", True), ("gingee-off", False)]
    )
    source = args.project.resolve()
    servers: dict[str, ServerProcess] = {}
    copies: list[Path] = []
    try:
        for name, metrics in variants:
            project, note = project_for(source, args.connections, args.raise_limits, metrics)
            if project != source:
                copies.append(project)
            if note:
                print(f"note: {name}: {note}", flush=True)
            port = free_port()
            command = [*gingee_command(), "serve", str(project), "--host", "127.0.0.1", "--port", str(port)]
            servers[name] = ServerProcess(name, command, port, server_cpu)
        port = free_port()
        bare_command = [
            sys.executable,
            str(HERE / "bare_tornado.py"),
            "--host",
            "127.0.0.1",
            "--port",
            str(port),
        ]
        servers["bare"] = ServerProcess("bare", bare_command, port, server_cpu)
        results = measure(args, servers, use_wrk, has_wrk, load_cpu)
    finally:
        for server in servers.values():
            server.stop()
        for copy in copies:
            shutil.rmtree(copy.parent, ignore_errors=True)
    return report(args, results, use_wrk)


def measure(
    args: argparse.Namespace,
    servers: dict[str, ServerProcess],
    use_wrk: bool,
    has_wrk: bool,
    load_cpu: int | None,
) -> dict[str, list[LoadResult]]:
    """Warm every server up, then load each `args.rounds` times, alternating the order every round."""

    def load(name: str, seconds: float) -> LoadResult:
        server = servers[name]
        before = cpu_seconds(server.process.pid)
        if use_wrk:
            result = run_wrk(name, server.url, args.threads, args.connections, seconds, load_cpu)
        else:
            result = run_python(name, server.port, args.connections, seconds)
        after = cpu_seconds(server.process.pid)
        if before is not None and after is not None and result.requests:
            result.cpu_us_per_request = 1e6 * (after - before) / result.requests
        return result

    for server in servers.values():
        server.wait_ready()
    if use_wrk:
        args.tool_used = (
            f"wrk -t{args.threads} -c{args.connections} -d{max(1, round(args.duration))}s --latency"
        )
    else:
        reason = "wrk NOT FOUND" if not has_wrk else "--tool python"
        args.tool_used = (
            f"python asyncio load generator, {args.connections} keep-alive connections ({reason})"
        )
    print(f"tool: {args.tool_used}; warm-up {args.warmup:g} s each; {args.rounds} round(s)", flush=True)
    for name in servers:
        load(name, args.warmup)
    results: dict[str, list[LoadResult]] = {name: [] for name in servers}
    names = list(servers)
    for index in range(args.rounds):
        for name in names if index % 2 == 0 else names[::-1]:
            result = load(name, args.duration)
            results[name].append(result)
            print(
                f"  round {index + 1} {name:<10} {result.requests_per_second:10.1f} req/s  "
                f"p50 {result.p50_ms:7.2f} ms  p99 {result.p99_ms:7.2f} ms  "
                f"cpu {result.cpu_us_per_request:6.1f} us/req  "
                f"errors {result.errors}  non-2xx {result.non_2xx}",
                flush=True,
            )
    return results


def paired(results: dict[str, list[LoadResult]], a: str, b: str) -> list[float]:
    """req/s of `a` over req/s of `b`, round by round (runs of one round are back to back)."""
    return [
        x.requests_per_second / y.requests_per_second for x, y in zip(results[a], results[b], strict=True)
    ]


def report(args: argparse.Namespace, results: dict[str, list[LoadResult]], use_wrk: bool) -> int:
    """Print the medians and ratios (and the JSON line); 1 if any request failed."""
    rps = {name: statistics.median(r.requests_per_second for r in runs) for name, runs in results.items()}
    p99 = {name: statistics.median(r.p99_ms for r in runs) for name, runs in results.items()}
    cpu = {name: statistics.median(r.cpu_us_per_request for r in runs) for name, runs in results.items()}
    print()
    for name in results:
        print(
            f"{name:<10}  {rps[name]:10.1f} req/s   p99 {p99[name]:7.2f} ms   "
            f"server cpu {cpu[name]:6.1f} us/req   (median of {args.rounds})"
        )
    summary: dict[str, object] = {
        "tool": args.tool_used,
        "results": {
            name: [{k: v for k, v in asdict(r).items() if k != "raw"} for r in runs]
            for name, runs in results.items()
        },
        "requests_per_second": rps,
        "p99_ms": p99,
        "cpu_us_per_request": cpu,
    }
    for name in (n for n in results if n != "bare"):
        label = "gingee/bare" if name == "gingee" else f"{name}/bare"
        throughput = rps[name] / rps["bare"]
        # Server CPU time per request moves much less than req/s when other processes compete for the
        # CPUs: bare/gingee estimates the saturated throughput ratio on a quiet machine.
        cpu_ratio = cpu["bare"] / cpu[name]
        rounds = paired(results, name, "bare")
        print(ratio_line(f"throughput {label}", throughput, GOAL))
        print(ratio_line(f"p99 latency {label}", p99[name] / p99["bare"]))
        print(ratio_line(f"server cpu per request, bare over {name}", cpu_ratio) + " (estimates the ratio)")
        if len(rounds) > 1:
            print(
                f"throughput {label} per round: {', '.join(f'{r:.3f}' for r in rounds)} "
                f"(median {statistics.median(rounds):.3f})"
            )
        key = "" if name == "gingee" else f"{name}_"
        summary[f"{key}throughput_ratio"] = throughput
        summary[f"{key}latency_ratio"] = p99[name] / p99["bare"]
        summary[f"{key}cpu_ratio"] = cpu_ratio
        summary[f"{key}paired_throughput_ratios"] = rounds
    if "gingee-off" in results:
        on_off = rps["gingee"] / rps["gingee-off"]
        rounds = paired(results, "gingee", "gingee-off")
        cpu_cost = cpu["gingee"] / cpu["gingee-off"] - 1
        print(
            ratio_line("throughput metrics on/off", on_off)
            + f" (metrics cost {100 * (1 - on_off):.1f}% of throughput; goal under {100 * METRICS_GOAL:g}%)"
        )
        if len(rounds) > 1:
            print(
                f"throughput metrics on/off per round: {', '.join(f'{r:.3f}' for r in rounds)} "
                f"(median {statistics.median(rounds):.3f})"
            )
        print(f"server cpu per request, metrics on over off: {1 + cpu_cost:.3f} ({100 * cpu_cost:+.1f}%)")
        summary.update(metrics_on_off_ratio=on_off, metrics_paired_on_off=rounds, metrics_cpu_cost=cpu_cost)
    if not use_wrk:
        print(
            "note: wrk was not used; these figures come from the Python fallback (client-bound on few cores)"
        )
    if args.json:
        print(json.dumps(summary))
    failed = any(r.errors or r.non_2xx for runs in results.values() for r in runs)
    if failed:
        print("WARNING: some requests failed or were not 2xx (503 from concurrency caps? see --raise-limits)")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
