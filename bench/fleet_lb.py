"""Three `gingee serve` nodes behind HAProxy versus one node direct, and what a client sees when a node is
killed with SIGKILL under load.

Each node is a single-process `gingee serve` of its own copy of examples/ (concurrency caps raised to
`--connections`) on a free 127.0.0.1 port. HAProxy (tests/fixtures/haproxy.py's `HAProxy`: roundrobin,
HTTP health check every `--inter-ms`, `fall 2 rise 1`, `--retries` 0 by default) balances the three on
another free port. The health check is `GET /_gingee/health/ready` when the node answers it with 200,
else the hello route (said so in the output).

1. Throughput: `GET /hello/hello` through HAProxy and on one node direct, `--rounds` alternating runs with
   the same tool (wrk, or bench/http_hello.py's Python load generator): req/s and p99 of each, the ratio
   fleet/direct, and HAProxy's CPU per request.
2. Failover: a `--kill-duration` run through HAProxy; `--kill-after` seconds in, one node gets SIGKILL.
   Prints how many client requests failed (socket errors + non-2xx: HAProxy answers 502 for requests in
   flight on the killed node and 503 for new ones sent to it before its health check fails, unless
   `--retries` lets it redispatch them) and how long until HAProxy marked the node DOWN (polled on its
   stats socket every 10 ms).

Every process shares this machine's cores with the load generator, so on a small machine the fleet
cannot be faster than one node: the figures show the LB's cost, not a cluster's capacity.

Usage: python bench/fleet_lb.py [--duration 10] [--connections 32] [--threads 1] [--warmup 2] [--rounds 1]
                                [--kill-duration 6] [--kill-after 2] [--inter-ms 200] [--retries 0]
                                [--retry-on "conn-failure empty-response response-timeout"]
                                [--tool auto|wrk|python] [--json]
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.request
from dataclasses import asdict
from pathlib import Path

from _servers import cpu_seconds
from http_hello import (
    REPO,
    ROUTE,
    LoadResult,
    ServerProcess,
    add_load_options,
    free_port,
    gingee_command,
    load_tool,
    project_for,
    run_python,
    run_wrk,
)

sys.path.insert(0, str(REPO))
from tests.fixtures.haproxy import HAProxy

NODES = ("n1", "n2", "n3")
READY = "/_gingee/health/ready"


def start_nodes(project: Path, count: int) -> dict[str, ServerProcess]:
    """`count` single-process nodes, each serving its own copy of `project` (next to it)."""
    nodes: dict[str, ServerProcess] = {}
    for name in NODES[:count]:
        copy = project.parent / name / project.name
        shutil.copytree(project, copy, symlinks=True)
        port = free_port()
        command = [*gingee_command(), "serve", str(copy), "--host", "127.0.0.1", "--port", str(port)]
        nodes[name] = ServerProcess(name, command, port, None)
    return nodes


def health_path(node: ServerProcess) -> str:
    """The readiness endpoint if the node has it, else the hello route."""
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{node.port}{READY}", timeout=5) as reply:
            if reply.status == 200:
                return READY
    except (urllib.error.URLError, OSError):
        pass
    return ROUTE


def run_load(args: argparse.Namespace, name: str, port: int, seconds: float, use_wrk: bool) -> LoadResult:
    """One load run on 127.0.0.1:port with the chosen tool."""
    if use_wrk:
        url = f"http://127.0.0.1:{port}{ROUTE}"
        return run_wrk(name, url, args.threads, args.connections, seconds, None)
    return run_python(name, port, args.connections, seconds)


def throughput(
    args: argparse.Namespace, proxy: HAProxy, direct: ServerProcess, use_wrk: bool
) -> dict[str, list[LoadResult]]:
    """Warm both up, then `args.rounds` alternating runs of the fleet (through HAProxy) and one node."""
    targets = {"fleet": proxy.port, "direct": direct.port}
    for name, port in targets.items():
        run_load(args, name, port, args.warmup, use_wrk)
    results: dict[str, list[LoadResult]] = {name: [] for name in targets}
    names = list(targets)
    for index in range(args.rounds):
        for name in names if index % 2 == 0 else names[::-1]:
            before = cpu_seconds(proxy.process.pid) if proxy.process else None
            result = run_load(args, name, targets[name], args.duration, use_wrk)
            after = cpu_seconds(proxy.process.pid) if proxy.process else None
            if name == "fleet" and before is not None and after is not None and result.requests:
                result.cpu_us_per_request = 1e6 * (after - before) / result.requests  # HAProxy's CPU
            results[name].append(result)
            print(
                f"  round {index + 1} {name:<7} {result.requests_per_second:10.1f} req/s  "
                f"p99 {result.p99_ms:7.2f} ms  errors {result.errors}  non-2xx {result.non_2xx}",
                flush=True,
            )
    return results


def failover(
    args: argparse.Namespace, proxy: HAProxy, victim: str, node: ServerProcess, use_wrk: bool
) -> dict[str, float]:
    """Load through HAProxy, SIGKILL `node` midway: failed requests, seconds until HAProxy marks it DOWN."""
    outcome: dict[str, LoadResult] = {}

    def loader() -> None:
        outcome["result"] = run_load(args, "failover", proxy.port, args.kill_duration, use_wrk)

    thread = threading.Thread(target=loader, name="fleet-load")
    thread.start()
    time.sleep(args.kill_after)
    node.process.kill()
    killed = time.monotonic()
    down_after = float("nan")
    while time.monotonic() - killed < max(10.0, args.kill_duration):
        if victim not in proxy.servers_up():
            down_after = time.monotonic() - killed
            break
        time.sleep(0.01)
    thread.join()
    result = outcome["result"]
    return {
        "requests": result.requests,
        "failed": result.errors + result.non_2xx,
        "socket_errors": result.errors,
        "non_2xx": result.non_2xx,
        "down_after_s": down_after,
        "requests_per_second": result.requests_per_second,
        "p99_ms": result.p99_ms,
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    add_load_options(parser, "target")
    parser.add_argument("--kill-duration", type=float, default=6.0, help="seconds of the failover run")
    parser.add_argument("--kill-after", type=float, default=2.0, help="SIGKILL a node this far into it")
    parser.add_argument("--inter-ms", type=int, default=200, help="HAProxy health check interval")
    parser.add_argument("--retries", type=int, default=0, help="HAProxy retries (with redispatch when > 0)")
    parser.add_argument(
        "--retry-on", default=None, help='HAProxy retry-on, e.g. "conn-failure empty-response"'
    )
    parser.add_argument("--project", type=Path, default=REPO / "examples", help="project to serve")
    parser.add_argument("--json", action="store_true", help="also print the results as one JSON line")
    args = parser.parse_args(argv)
    if args.kill_after >= args.kill_duration:
        parser.error("--kill-after must be shorter than --kill-duration")

    _, use_wrk = load_tool(parser, args)
    source = args.project.resolve()
    project, _ = project_for(source, args.connections, raise_limits=True)
    if project == source:  # caps already allow --connections: copy it anyway, the nodes get copies of it
        project = Path(tempfile.mkdtemp(prefix="bench-fleet-")) / source.name
        shutil.copytree(source, project, symlinks=True)
    nodes: dict[str, ServerProcess] = {}
    proxy: HAProxy | None = None
    try:
        nodes = start_nodes(project, len(NODES))
        for node in nodes.values():
            node.wait_ready()
        path = health_path(nodes["n1"])
        proxy = HAProxy(
            [(name, "127.0.0.1", node.port) for name, node in nodes.items()],
            health_path=path,
            inter_ms=args.inter_ms,
            retries=args.retries,
            redispatch=args.retries > 0,
            retry_on=args.retry_on,
        ).start()
        proxy.wait_until(set(nodes))
        if use_wrk:
            tool = f"wrk -t{args.threads} -c{args.connections} -d{max(1, round(args.duration))}s --latency"
        else:
            tool = f"python asyncio load generator, {args.connections} connections (wrk NOT used)"
        print(
            f"tool: {tool}; {len(nodes)} nodes (1 process each, own project copy) behind HAProxy on "
            f":{proxy.port}; health check GET {path} every {args.inter_ms} ms, fall {proxy.fall} "
            f"rise {proxy.rise}; retries {args.retries}{' + redispatch' if args.retries else ''}"
            f"{f'; retry-on {args.retry_on}' if args.retry_on else ''}",
            flush=True,
        )
        print(
            f"note: {os.cpu_count()} CPU(s) shared by the nodes, HAProxy and the load generator", flush=True
        )
        results = throughput(args, proxy, nodes["n1"], use_wrk)
        print(f"failover: {args.kill_duration:g} s through HAProxy, SIGKILL n3 at {args.kill_after:g} s")
        failed = failover(args, proxy, "n3", nodes["n3"], use_wrk)
    finally:
        if proxy is not None:
            proxy.close()
        for node in nodes.values():
            node.stop()
        shutil.rmtree(project.parent, ignore_errors=True)
    return report(args, tool, results, failed, use_wrk)


def report(
    args: argparse.Namespace,
    tool: str,
    results: dict[str, list[LoadResult]],
    failed: dict[str, float],
    use_wrk: bool,
) -> int:
    """Medians, the ratio, the failover figures and the JSON line; 1 if the steady runs had failures."""
    rps = {name: statistics.median(r.requests_per_second for r in runs) for name, runs in results.items()}
    p99 = {name: statistics.median(r.p99_ms for r in runs) for name, runs in results.items()}
    haproxy_cpu = statistics.median(r.cpu_us_per_request for r in results["fleet"])
    print()
    print(f"fleet (3 nodes via HAProxy)  {rps['fleet']:10.1f} req/s   p99 {p99['fleet']:7.2f} ms")
    print(f"direct (1 node)              {rps['direct']:10.1f} req/s   p99 {p99['direct']:7.2f} ms")
    print(
        f"fleet/direct: throughput {rps['fleet'] / rps['direct']:.3f}   "
        f"p99 {p99['fleet'] / p99['direct']:.3f}"
        f"   (HAProxy cpu {haproxy_cpu:.1f} us/req; median of {args.rounds})"
    )
    print(
        f"kill -9 of one node under load: {failed['failed']:.0f} of {failed['requests']:.0f} client requests "
        f"failed ({failed['socket_errors']:.0f} socket errors, {failed['non_2xx']:.0f} non-2xx); "
        f"HAProxy marked it DOWN after {1000 * failed['down_after_s']:.0f} ms"
    )
    if not use_wrk:
        print(
            "note: the Python load generator stops a connection at its first socket error, "
            "so failures undercount"
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
            "throughput_ratio": rps["fleet"] / rps["direct"],
            "haproxy_cpu_us_per_request": haproxy_cpu,
            "failover": failed,
        }
        print(json.dumps(summary))
    steady_failed = any(r.errors or r.non_2xx for runs in results.values() for r in runs)
    if steady_failed:
        print("WARNING: some requests of the steady runs failed or were not 2xx")
    return 1 if steady_failed else 0


if __name__ == "__main__":
    sys.exit(main())
