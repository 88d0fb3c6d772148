"""Throughput and p99 of `GET /hello/hello` on Gingee's ASGI host, against Starlette, bare Tornado and
Gingee on Tornado, in one run with the same load tool.

Four servers, each a subprocess on a free 127.0.0.1 port:

- asgi: `gingee serve examples --server asgi` (uvicorn with uvloop and httptools);
- starlette: bench/bare_starlette.py, one Starlette route on uvicorn writing bare_tornado.py's response;
- bare: bench/bare_tornado.py, a plain Tornado handler;
- tornado: `gingee serve examples` (the default Tornado host).

Each is checked for the expected JSON, warmed up, then loaded `--rounds` times in alternating order by
bench/http_hello.py's `measure` (wrk, or its Python load generator without wrk). Prints req/s, p99 and
server CPU per request of each, then asgi/starlette (goal >= 0.7), asgi/bare (goal >= 2.5) and
tornado/bare, for throughput, p99 and (inverted) CPU per request, which estimates the throughput ratio and
moves less when other processes compete for the CPUs. Any socket error or non-2xx answer fails the run;
`--raise-limits` serves a copy of the project whose concurrency caps allow `--connections`.

Usage: python bench/asgi_hello.py [--duration 10] [--connections 32] [--threads 1] [--warmup 2]
                                  [--rounds 1] [--raise-limits] [--pin] [--tool auto|wrk|python] [--json]
"""

from __future__ import annotations

import argparse
import json
import shutil
import statistics
import sys
from dataclasses import asdict
from pathlib import Path

from _servers import HERE, asgi_command
from http_hello import (
    REPO,
    LoadResult,
    ServerProcess,
    add_load_options,
    free_port,
    gingee_command,
    load_tool,
    measure,
    paired,
    project_for,
    ratio_line,
)

SERVERS = {
    "asgi": "gingee serve --server asgi (uvicorn, uvloop + httptools)",
    "starlette": "bench/bare_starlette.py (Starlette on uvicorn, uvloop + httptools)",
    "bare": "bench/bare_tornado.py (bare Tornado)",
    "tornado": "gingee serve (Tornado host)",
}
#: (label, numerator, denominator, goal): throughput ratios, from the medians and round by round.
RATIOS = [
    ("gingee-ASGI / Starlette", "asgi", "starlette", 0.7),
    ("gingee-ASGI / bare Tornado", "asgi", "bare", 2.5),
    ("gingee-Tornado / bare Tornado", "tornado", "bare", None),
]


def commands(project: Path) -> tuple[dict[str, list[str]], dict[str, int]]:
    """Each server's command and port (a free one each)."""
    ports = {name: free_port() for name in SERVERS}
    python, host = sys.executable, ["--host", "127.0.0.1"]
    return {
        "asgi": asgi_command(project, ports["asgi"]),
        "starlette": [python, str(HERE / "bare_starlette.py"), *host, "--port", str(ports["starlette"])],
        "bare": [python, str(HERE / "bare_tornado.py"), *host, "--port", str(ports["bare"])],
        "tornado": [*gingee_command(), "serve", str(project), *host, "--port", str(ports["tornado"])],
    }, ports


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    add_load_options(parser)
    parser.add_argument("--project", type=Path, default=REPO / "examples", help="project to serve")
    parser.add_argument(
        "--pin", action="store_true", help="taskset: servers on CPU 0, the load tool on CPU 1"
    )
    parser.add_argument(
        "--raise-limits", action="store_true", help="serve a copy whose concurrency caps allow --connections"
    )
    parser.add_argument("--json", action="store_true", help="also print the results as one JSON line")
    args = parser.parse_args(argv)

    has_wrk, use_wrk = load_tool(parser, args)
    server_cpu, load_cpu = (0, 1) if args.pin else (None, None)
    source = args.project.resolve()
    project, note = project_for(source, args.connections, args.raise_limits)
    if note:
        print(f"note: {note}", flush=True)
    for name, what in SERVERS.items():
        print(f"  {name:<10} {what}")
    servers: dict[str, ServerProcess] = {}
    try:
        argvs, ports = commands(project)
        for name, command in argvs.items():
            servers[name] = ServerProcess(name, command, ports[name], server_cpu)
        results = measure(args, servers, use_wrk, has_wrk, load_cpu)
    finally:
        for server in servers.values():
            server.stop()
        if project != source:
            shutil.rmtree(project.parent, ignore_errors=True)
    return report(args, results, use_wrk)


def report(args: argparse.Namespace, results: dict[str, list[LoadResult]], use_wrk: bool) -> int:
    """Print the table of medians and the ratios (and the JSON line); 1 if any request failed."""
    fields = ("requests_per_second", "p99_ms", "cpu_us_per_request")
    median = {
        name: {f: statistics.median(getattr(r, f) for r in runs) for f in fields}
        for name, runs in results.items()
    }
    print(f"\n{'server':<10} {'req/s':>10} {'p99 ms':>8} {'cpu us/req':>11}   (median of {args.rounds})")
    for name, m in median.items():
        print(
            f"{name:<10} {m['requests_per_second']:10.1f} {m['p99_ms']:8.2f} {m['cpu_us_per_request']:11.1f}"
        )
    ratios: dict[str, dict[str, object]] = {}
    for label, a, b, goal in RATIOS:
        ratio = median[a]["requests_per_second"] / median[b]["requests_per_second"]
        rounds = paired(results, a, b)
        line = ratio_line(f"throughput {label}", ratio, goal)
        cpu = median[b]["cpu_us_per_request"] / median[a]["cpu_us_per_request"]
        line += f"; p99 {median[a]['p99_ms'] / median[b]['p99_ms']:.2f}x; cpu per request {b}/{a} {cpu:.3f}"
        if len(rounds) > 1:
            line += f"; per round {', '.join(f'{r:.3f}' for r in rounds)}"
        print(line)
        ratios[f"{a}/{b}"] = {"throughput": ratio, "goal": goal, "paired": rounds, "cpu": cpu}
    if not use_wrk:
        print(
            "note: wrk was not used; these figures come from the Python fallback (client-bound on few cores)"
        )
    if args.json:
        raw = {
            name: [{k: v for k, v in asdict(r).items() if k != "raw"} for r in runs]
            for name, runs in results.items()
        }
        print(json.dumps({"tool": args.tool_used, "results": raw, "medians": median, "ratios": ratios}))
    failed = [name for name, runs in results.items() if any(r.errors or r.non_2xx for r in runs)]
    if failed:
        print(f"FAILED: socket errors or non-2xx answers from {', '.join(failed)} (503: see --raise-limits)")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
