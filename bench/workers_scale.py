"""How `gingee serve --workers N` scales: hello-route req/s and p99 at 1 and 2 workers, against bare Tornado
in 1 and 2 processes sharing one port, all in one run with the same load tool.

Four servers, each a subprocess on a free 127.0.0.1 port: `gingee serve examples --workers 1` and
`--workers 2` (a temporary copy of examples/ whose concurrency caps allow `--connections`, per worker), and
bench/bare_tornado.py with `--processes 1` and `--processes 2` (the parent binds one socket and forks, as
`gingee serve --workers` does; `--reuse-port` gives each bare process its own SO_REUSEPORT socket). Each is
checked, warmed up, then loaded `--rounds` times in alternating order with wrk (or bench/http_hello.py's
Python load generator without wrk). Prints req/s, p99 and server CPU per request (summed over the whole
process tree) of each, then the ratios gingee 2w/1w, bare 2p/1p and gingee 2w / bare 2p.

The load generator runs on the same machine and takes CPU from the servers: on a 2-core machine two
server processes and wrk share two cores, so 2 processes cannot reach 2x. `--pin` pins the load tool to
the last CPU (the servers stay free to use every CPU, since pinning them to the rest would leave one).

Usage: python bench/workers_scale.py [--duration 10] [--connections 32] [--threads 1] [--warmup 2]
                                     [--rounds 1] [--pin] [--reuse-port] [--tool auto|wrk|python] [--json]
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import sys
import time
from dataclasses import asdict
from pathlib import Path

from _servers import HERE, cpu_seconds
from http_hello import (
    REPO,
    LoadResult,
    ServerProcess,
    add_load_options,
    free_port,
    gingee_command,
    load_tool,
    project_for,
    run_wrk,
)
from http_hello import run_python as _run_python

RATIOS = [
    ("gingee 2w / gingee 1w", "gingee-2w", "gingee-1w"),
    ("bare 2p / bare 1p", "bare-2p", "bare-1p"),
    ("gingee 2w / bare 2p", "gingee-2w", "bare-2p"),
    ("gingee 1w / bare 1p", "gingee-1w", "bare-1p"),
]


def process_tree(pid: int) -> list[int]:
    """`pid` and all its descendants (from /proc/PID/task/TID/children)."""
    found = [pid]
    for current in found:
        try:
            tasks = os.listdir(f"/proc/{current}/task")
        except OSError:
            continue
        for tid in tasks:
            try:
                children = Path(f"/proc/{current}/task/{tid}/children").read_text().split()
            except OSError:
                continue
            found.extend(int(child) for child in children if int(child) not in found)
    return found


def tree_cpu_seconds(pid: int) -> float | None:
    """User + system CPU time of a process and its descendants; None if the process is gone."""
    total = None
    for member in process_tree(pid):
        seconds = cpu_seconds(member)
        if seconds is not None:
            total = (total or 0.0) + seconds
    return total


def start_servers(args: argparse.Namespace, project: Path) -> dict[str, ServerProcess]:
    """The four servers, started (not yet ready)."""
    servers: dict[str, ServerProcess] = {}
    for workers in (1, 2):
        port = free_port()
        command = [*gingee_command(), "serve", str(project), "--host", "127.0.0.1", "--port", str(port)]
        servers[f"gingee-{workers}w"] = ServerProcess(
            f"gingee-{workers}w", [*command, "--workers", str(workers)], port, None
        )
    for processes in (1, 2):
        port = free_port()
        command = [sys.executable, str(HERE / "bare_tornado.py"), "--host", "127.0.0.1", "--port", str(port)]
        if processes > 1:
            command += ["--processes", str(processes), *(["--reuse-port"] if args.reuse_port else [])]
        servers[f"bare-{processes}p"] = ServerProcess(f"bare-{processes}p", command, port, None)
    return servers


def load(
    args: argparse.Namespace, server: ServerProcess, seconds: float, use_wrk: bool, load_cpu: int | None
) -> LoadResult:
    """One load run; the server's CPU per request over its whole process tree."""
    before = tree_cpu_seconds(server.process.pid)
    if use_wrk:
        result = run_wrk(server.name, server.url, args.threads, args.connections, seconds, load_cpu)
    else:
        result = _run_python(server.name, server.port, args.connections, seconds)
    after = tree_cpu_seconds(server.process.pid)
    if before is not None and after is not None and result.requests:
        result.cpu_us_per_request = 1e6 * (after - before) / result.requests
    return result


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    add_load_options(parser)
    parser.add_argument("--project", type=Path, default=REPO / "examples", help="project to serve")
    parser.add_argument("--pin", action="store_true", help="taskset: the load tool on the last CPU")
    parser.add_argument(
        "--reuse-port", action="store_true", help="bare 2p: one SO_REUSEPORT socket per process"
    )
    parser.add_argument("--json", action="store_true", help="also print the results as one JSON line")
    args = parser.parse_args(argv)

    _, use_wrk = load_tool(parser, args)
    cpus = os.cpu_count() or 1
    load_cpu = cpus - 1 if args.pin else None
    source = args.project.resolve()
    project, note = project_for(source, args.connections, raise_limits=True)
    if note:
        print(f"note: {note.replace(' (--raise-limits)', '')}", flush=True)
    servers: dict[str, ServerProcess] = {}
    try:
        servers = start_servers(args, project)
        for server in servers.values():
            server.wait_ready()
        time.sleep(1.0)  # the second worker/process loads after the first answers
        if use_wrk:
            tool = f"wrk -t{args.threads} -c{args.connections} -d{max(1, round(args.duration))}s --latency"
        else:
            tool = f"python asyncio load generator, {args.connections} connections (wrk NOT used)"
        print(
            f"tool: {tool}; warm-up {args.warmup:g} s each; {args.rounds} round(s); "
            f"bare 2p sockets: {'SO_REUSEPORT per process' if args.reuse_port else 'one shared'}",
            flush=True,
        )
        print(
            f"note: {cpus} CPU(s); the load generator runs on this machine and shares them with the servers"
            + (f" (pinned to CPU {load_cpu}; servers unpinned)" if load_cpu is not None else " (unpinned)"),
            flush=True,
        )
        for server in servers.values():
            load(args, server, args.warmup, use_wrk, load_cpu)
        results: dict[str, list[LoadResult]] = {name: [] for name in servers}
        names = list(servers)
        for index in range(args.rounds):
            for name in names if index % 2 == 0 else names[::-1]:
                result = load(args, servers[name], args.duration, use_wrk, load_cpu)
                results[name].append(result)
                print(
                    f"  round {index + 1} {name:<10} {result.requests_per_second:10.1f} req/s  "
                    f"p99 {result.p99_ms:7.2f} ms  cpu {result.cpu_us_per_request:6.1f} us/req  "
                    f"errors {result.errors}  non-2xx {result.non_2xx}",
                    flush=True,
                )
    finally:
        for server in servers.values():
            server.stop()
        if project != source:
            shutil.rmtree(project.parent, ignore_errors=True)
    return report(args, tool, results)


def report(args: argparse.Namespace, tool: str, results: dict[str, list[LoadResult]]) -> int:
    """Medians, the ratios and the JSON line; 1 if any request failed."""
    rps = {name: statistics.median(r.requests_per_second for r in runs) for name, runs in results.items()}
    p99 = {name: statistics.median(r.p99_ms for r in runs) for name, runs in results.items()}
    cpu = {name: statistics.median(r.cpu_us_per_request for r in runs) for name, runs in results.items()}
    print()
    for name in results:
        print(
            f"{name:<10}  {rps[name]:10.1f} req/s   p99 {p99[name]:7.2f} ms   "
            f"server cpu {cpu[name]:6.1f} us/req   (median of {args.rounds})"
        )
    ratios = {}
    for label, a, b in RATIOS:
        ratios[label] = {"throughput": rps[a] / rps[b], "p99": p99[a] / p99[b]}
        print(f"{label:<22} throughput {rps[a] / rps[b]:.3f}   p99 {p99[a] / p99[b]:.3f}")
    print(
        f"note: {os.cpu_count()} CPU(s) shared by the servers and the load generator; "
        "a 2-process server cannot reach 2x here"
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
            "cpu_us_per_request": cpu,
            "ratios": ratios,
        }
        print(json.dumps(summary))
    failed = any(r.errors or r.non_2xx for runs in results.values() for r in runs)
    if failed:
        print("WARNING: some requests failed or were not 2xx")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
