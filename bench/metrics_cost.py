"""What recording metrics costs: `gingee serve examples` with metrics on and with metrics off.

Both servers run at once, as subprocesses on free 127.0.0.1 ports. Each serves a temporary copy of the
project: the concurrency caps are raised to `--connections`, and one copy sets `metrics.enabled` to false.
The script checks that the "on" server counts requests on /metrics and that the "off" server has no
/metrics at all. Then it loads `GET /hello/hello` with `wrk --latency`, one server after the other,
alternating which goes first in each round. It prints the medians of requests/second and of server CPU
time per request, and the cost of metrics (goal: under 5% of throughput). Servers and wrk helpers come
from bench/http_hello.py.

Usage: python bench/metrics_cost.py [--rounds 6] [--duration 10] [--connections 32] [--pin] [--json]
"""

from __future__ import annotations

import argparse
import json
import shutil
import statistics
import sys
import time
import timeit
import urllib.error
import urllib.request

from http_hello import (
    REPO,
    LoadResult,
    ServerProcess,
    cpu_seconds,
    free_port,
    gingee_command,
    project_for,
    run_wrk,
)

GOAL = 0.05


def hook_microseconds(calls: int = 100_000, repeats: int = 7) -> float:
    """CPU time the engine spends per request on metrics (the Exchange, two clock reads, the observer),
    best of `repeats`, measured in this process."""
    from gingee_kernel.engine.observe import Exchange
    from gingee_kernel.metrics.hooks import observe

    observers = [observe]
    clock = time.perf_counter

    def one_request() -> None:
        exchange = Exchange(method="GET", started=clock())
        exchange.app, exchange.kind, exchange.route = "hello", "script", "/hello"
        exchange.status = 200
        exchange.duration = clock() - exchange.started
        for observer in observers:
            observer(exchange)

    best = min(timeit.repeat(one_request, number=calls, repeat=repeats, timer=time.process_time))
    return 1e6 * best / calls


def metrics_requests(port: int) -> float | None:
    """The server's total of gingee_http_requests_total, or None if it has no /metrics (404)."""
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5) as reply:
            text = reply.read().decode()
    except urllib.error.HTTPError as exc:
        if exc.code == 404:
            return None
        raise
    return sum(
        float(line.rsplit(" ", 1)[1])
        for line in text.splitlines()
        if line.startswith("gingee_http_requests_total{")
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--rounds", type=int, default=6, help="measured runs per server, alternating (default 6)"
    )
    parser.add_argument("--duration", type=float, default=10.0, help="seconds per measured run (default 10)")
    parser.add_argument("--warmup", type=float, default=2.0, help="seconds of warm-up per server (default 2)")
    parser.add_argument("--connections", type=int, default=32, help="concurrent connections (default 32)")
    parser.add_argument("--pin", action="store_true", help="taskset: servers on CPU 0, wrk on CPU 1")
    parser.add_argument("--json", action="store_true", help="also print the results as one JSON line")
    args = parser.parse_args(argv)
    if shutil.which("wrk") is None:
        parser.error("wrk is not installed (apt-get install -y wrk)")
    server_cpu, load_cpu = (0, 1) if args.pin else (None, None)
    examples = REPO / "examples"
    projects = {
        "on": project_for(examples, args.connections, True, metrics=True)[0],
        "off": project_for(examples, args.connections, True, metrics=False)[0],
    }
    servers: dict[str, ServerProcess] = {}
    for name, project in projects.items():
        port = free_port()
        command = [*gingee_command(), "--log-level", "warning", "serve", str(project), "--port", str(port)]
        servers[name] = ServerProcess(f"metrics-{name}", command, port, server_cpu)

    def load(name: str, seconds: float) -> LoadResult:
        server = servers[name]
        before = cpu_seconds(server.process.pid)
        result = run_wrk(name, server.url, 1, args.connections, seconds, load_cpu)
        after = cpu_seconds(server.process.pid)
        if before is not None and after is not None and result.requests:
            result.cpu_us_per_request = 1e6 * (after - before) / result.requests
        return result

    results: dict[str, list[LoadResult]] = {"on": [], "off": []}
    try:
        for server in servers.values():
            server.wait_ready(60)
        if metrics_requests(servers["off"].port) is not None:
            raise RuntimeError("the metrics-off server still serves /metrics")
        counted_before = metrics_requests(servers["on"].port) or 0.0
        print(
            f"wrk -t1 -c{args.connections} -d{max(1, round(args.duration))}s; {args.rounds} rounds",
            flush=True,
        )
        for name in servers:
            load(name, args.warmup)
        for index in range(args.rounds):
            for name in ("on", "off") if index % 2 == 0 else ("off", "on"):
                result = load(name, args.duration)
                results[name].append(result)
                print(
                    f"  round {index + 1} metrics {name:<3} {result.requests_per_second:9.1f} req/s  "
                    f"p99 {result.p99_ms:7.2f} ms  cpu {result.cpu_us_per_request:6.1f} us/req  "
                    f"non-2xx {result.non_2xx}  errors {result.errors}",
                    flush=True,
                )
        counted = (metrics_requests(servers["on"].port) or 0.0) - counted_before
    finally:
        for server in servers.values():
            server.stop()
        for project in projects.values():
            shutil.rmtree(project.parent, ignore_errors=True)

    sent = sum(r.requests for r in results["on"])
    rps = {name: statistics.median(r.requests_per_second for r in runs) for name, runs in results.items()}
    cpu = {name: statistics.median(r.cpu_us_per_request for r in runs) for name, runs in results.items()}
    paired = [
        on.requests_per_second / off.requests_per_second
        for on, off in zip(results["on"], results["off"], strict=True)
    ]
    throughput_cost = 1 - rps["on"] / rps["off"]
    cpu_cost = cpu["on"] / cpu["off"] - 1
    print()
    for name in ("on", "off"):
        print(f"metrics {name:<3}  {rps[name]:9.1f} req/s   server cpu {cpu[name]:6.1f} us/req   (medians)")
    print(f"the 'on' server counted {counted:.0f} requests on /metrics ({sent} measured, plus warm-up)")
    print(f"throughput on/off per round: {', '.join(f'{r:.3f}' for r in paired)}")
    verdict = "meets" if throughput_cost < GOAL else "ABOVE"
    print(f"metrics cost, throughput: {100 * throughput_cost:.1f}% ({verdict} the {100 * GOAL:.0f}% goal)")
    print(f"metrics cost, server cpu per request: {100 * cpu_cost:.1f}% (steadier on a busy machine)")
    hook = hook_microseconds()
    print(
        f"the hook alone: {hook:.2f} us per request, {100 * hook / cpu['off']:.1f}% of the metrics-off "
        "server's cpu per request (the least noisy estimate)"
    )
    if args.json:
        print(
            json.dumps(
                {
                    "requests_per_second": rps,
                    "cpu_us_per_request": cpu,
                    "paired": paired,
                    "throughput_cost": throughput_cost,
                    "cpu_cost": cpu_cost,
                    "hook_us": hook,
                }
            )
        )
    failed = any(r.errors or r.non_2xx for runs in results.values() for r in runs)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
