"""Throughput and p99 latency of `GET /hello/hello`: `gingee serve examples` versus bare Tornado.

Starts both servers as subprocesses on free 127.0.0.1 ports (`gingee serve`, not --dev, and
bench/bare_tornado.py), checks they answer the same JSON, warms each up, then loads them one after
the other with the same tool: `wrk --latency` (Debian package `wrk`), or, if wrk is missing, a small
Python asyncio keep-alive load generator (said so in the output; its figures are not comparable with
wrk's). Prints requests/second and p99 of each and the gingee/bare ratios.

Usage: python bench/http_hello.py [--duration 10] [--connections 32] [--threads 1] [--rounds 1]
                                  [--metrics on|off]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import re
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from dataclasses import asdict, dataclass, field
from pathlib import Path

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
ROUTE = "/hello/hello"
EXPECTED = {"message": "Hello, world!"}
GOAL = 0.85


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


def free_port() -> int:
    """A port that was free on 127.0.0.1 a moment ago."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def cpu_seconds(pid: int) -> float | None:
    """User + system CPU time of a process (all its threads), from /proc; None where there is none."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()
    except OSError:
        return None
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def gingee_command() -> list[str]:
    """The `gingee` console script of this interpreter's environment (or the module, if it has none)."""
    script = Path(sys.executable).with_name("gingee")
    if script.is_file():
        return [str(script)]
    found = shutil.which("gingee")
    if found:
        return [found]
    return [sys.executable, "-c", "import sys; from gingee_kernel.cli import main; sys.exit(main())"]


class ServerProcess:
    """A server subprocess whose output goes to a temporary log file."""

    def __init__(self, name: str, command: list[str], port: int, cpu: int | None) -> None:
        self.name = name
        self.port = port
        self.url = f"http://127.0.0.1:{port}{ROUTE}"
        self.log = tempfile.NamedTemporaryFile(prefix=f"bench-{name}-", suffix=".log", delete=False)  # noqa: SIM115
        if cpu is not None and shutil.which("taskset"):
            command = ["taskset", "-c", str(cpu), *command]
        self.process = subprocess.Popen(command, stdout=self.log, stderr=subprocess.STDOUT, cwd=REPO)

    def wait_ready(self, timeout: float = 30.0) -> None:
        """Poll until the route answers the expected JSON; raise with the server log otherwise."""
        deadline = time.monotonic() + timeout
        last: Exception | None = None
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
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

    def output(self) -> str:
        self.log.flush()
        return Path(self.log.name).read_text(errors="replace")[-4000:]

    def stop(self) -> None:
        """SIGTERM, then SIGKILL if it does not exit; remove the log."""
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(10)
        self.log.close()
        os.unlink(self.log.name)


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


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--duration", type=float, default=10.0, help="seconds per measured run (default 10)")
    parser.add_argument("--connections", type=int, default=32, help="concurrent connections (default 32)")
    parser.add_argument("--threads", type=int, default=1, help="wrk threads (default 1)")
    parser.add_argument("--warmup", type=float, default=2.0, help="seconds of warm-up per server (default 2)")
    parser.add_argument(
        "--rounds", type=int, default=1, help="measured runs per server, alternating (default 1)"
    )
    parser.add_argument(
        "--project", type=Path, default=REPO / "examples", help="project to serve (examples/)"
    )
    parser.add_argument(
        "--pin", action="store_true", help="taskset: servers on CPU 0, the load tool on CPU 1"
    )
    parser.add_argument(
        "--raise-limits", action="store_true", help="serve a copy whose concurrency caps allow --connections"
    )
    parser.add_argument(
        "--tool", choices=["auto", "wrk", "python"], default="auto", help="load tool (auto: wrk if installed)"
    )
    parser.add_argument("--json", action="store_true", help="also print the results as one JSON line")
    parser.add_argument(
        "--metrics", choices=["on", "off"], default="on", help="gingee.json metrics.enabled (default on)"
    )
    args = parser.parse_args(argv)

    has_wrk = shutil.which("wrk") is not None
    if args.tool == "wrk" and not has_wrk:
        parser.error("wrk is not installed (apt-get install -y wrk)")
    use_wrk = has_wrk and args.tool != "python"
    server_cpu, load_cpu = (0, 1) if args.pin else (None, None)
    gingee_port, bare_port = free_port(), free_port()
    project, note = project_for(
        args.project.resolve(), args.connections, args.raise_limits, args.metrics == "on"
    )
    if note:
        print(f"note: {note}", flush=True)
    servers = {
        "gingee": ServerProcess(
            "gingee",
            [
                *gingee_command(),
                "serve",
                str(project),
                "--host",
                "127.0.0.1",
                "--port",
                str(gingee_port),
            ],
            gingee_port,
            server_cpu,
        ),
        "bare": ServerProcess(
            "bare",
            [sys.executable, str(HERE / "bare_tornado.py"), "--host", "127.0.0.1", "--port", str(bare_port)],
            bare_port,
            server_cpu,
        ),
    }

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

    try:
        for server in servers.values():
            server.wait_ready()
        if use_wrk:
            tool = f"wrk -t{args.threads} -c{args.connections} -d{max(1, round(args.duration))}s --latency"
        else:
            reason = "wrk NOT FOUND" if not has_wrk else "--tool python"
            tool = f"python asyncio load generator, {args.connections} keep-alive connections ({reason})"
        print(f"tool: {tool}; warm-up {args.warmup:g} s each; {args.rounds} round(s)", flush=True)
        for name in servers:
            load(name, args.warmup)
        results: dict[str, list[LoadResult]] = {name: [] for name in servers}
        for index in range(args.rounds):
            order = ["gingee", "bare"] if index % 2 == 0 else ["bare", "gingee"]
            for name in order:
                result = load(name, args.duration)
                results[name].append(result)
                print(
                    f"  round {index + 1} {name:<6} {result.requests_per_second:10.1f} req/s  "
                    f"p50 {result.p50_ms:7.2f} ms  p99 {result.p99_ms:7.2f} ms  "
                    f"cpu {result.cpu_us_per_request:6.1f} us/req  "
                    f"errors {result.errors}  non-2xx {result.non_2xx}",
                    flush=True,
                )
    finally:
        for server in servers.values():
            server.stop()
        if project != args.project.resolve():
            shutil.rmtree(project.parent, ignore_errors=True)

    rps = {name: statistics.median(r.requests_per_second for r in runs) for name, runs in results.items()}
    p99 = {name: statistics.median(r.p99_ms for r in runs) for name, runs in results.items()}
    cpu = {name: statistics.median(r.cpu_us_per_request for r in runs) for name, runs in results.items()}
    throughput_ratio = rps["gingee"] / rps["bare"]
    # Server CPU time per request barely depends on what else the machine runs: bare/gingee estimates
    # the saturated throughput ratio when the req/s figures are noisy.
    cpu_ratio = cpu["bare"] / cpu["gingee"]
    latency_ratio = p99["gingee"] / p99["bare"]
    # Runs of the same round are back to back, so their ratio is less exposed to a noisy machine.
    paired = [
        g.requests_per_second / b.requests_per_second
        for g, b in zip(results["gingee"], results["bare"], strict=True)
    ]
    print()
    for name in ("gingee", "bare"):
        print(
            f"{name:<6}  {rps[name]:10.1f} req/s   p99 {p99[name]:7.2f} ms   "
            f"server cpu {cpu[name]:6.1f} us/req   (median of {args.rounds})"
        )
    verdict = "meets" if throughput_ratio >= GOAL else "BELOW"
    print(f"throughput gingee/bare: {throughput_ratio:.3f} ({verdict} the {GOAL} goal)")
    print(f"p99 latency gingee/bare: {latency_ratio:.3f}")
    print(f"server cpu per request bare/gingee: {cpu_ratio:.3f} (estimates the ratio on a quiet machine)")
    if len(paired) > 1:
        print(
            f"throughput gingee/bare per round: {', '.join(f'{r:.3f}' for r in paired)} "
            f"(median {statistics.median(paired):.3f})"
        )
    if not use_wrk:
        print(
            "note: wrk was not used; these figures come from the Python fallback (client-bound on few cores)"
        )
    if args.json:
        summary = {
            "tool": tool,
            "results": {
                name: [{k: v for k, v in asdict(r).items() if k != "raw"} for r in runs]
                for name, runs in results.items()
            },
            "requests_per_second": rps,
            "p99_ms": p99,
            "throughput_ratio": throughput_ratio,
            "latency_ratio": latency_ratio,
            "cpu_us_per_request": cpu,
            "cpu_ratio": cpu_ratio,
            "paired_throughput_ratios": paired,
        }
        print(json.dumps(summary))
    failed = any(r.errors or r.non_2xx for runs in results.values() for r in runs)
    if failed:
        print("WARNING: some requests failed or were not 2xx (503 from concurrency caps? see --raise-limits)")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
