"""Websocket broadcast: `gingee serve` versus a bare Tornado websocket handler doing the same.

200 clients join one room; a sender socket sends 100 messages, and the server relays each to every
socket of the room but the sender (in Gingee: `socket.to("bench").send(text)` from an `on_message`
callback; in bare Tornado, bench/bare_ws.py: a set of handlers and `write_message` on each, the
payload encoded once). Both servers run as subprocesses on free 127.0.0.1 ports (`gingee serve` is
not in --dev mode); the clients (bench/ws_client.py, a lean asyncio client) run in this process.
After a warm-up, the 100 broadcasts go out back to back (or every `--interval` seconds) and each
client timestamps what it receives. Prints, for each server, deliveries per second (200 x 100 over
the time from the first send to the last receipt), p50 and p99 delivery latency (send to receipt),
the server's CPU time per delivery, and the gingee/bare ratios. Goal: >= 0.9.

`--server asgi` serves the Gingee side with `gingee serve --server asgi` (uvicorn, uvloop, websockets'
protocol) instead of the Tornado host, against the same bare Tornado server. Goal: >= 1.

Usage: python bench/ws_broadcast.py [--clients 200] [--broadcasts 100] [--size 64] [--interval 0]
                                    [--warmup 20] [--rounds 1] [--pin] [--server tornado|asgi]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import _servers
from _servers import HERE, ServerProcess, asgi_command, free_port
from ws_client import Client

#: gingee/bare deliveries per second, per Gingee host (`--server`).
GOALS = {"tornado": 0.9, "asgi": 1.0}

GINGEE_HANDLER = """
async def handle(socket, ctx):
    if ctx.query.get("role") == "sender":
        room = socket.to("bench")
        socket.on_message(room.send)
    else:
        socket.join("bench")
    socket.send("ready")
"""


# --- servers -------------------------------------------------------------------------------------


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of a process, from /proc (NaN where there is none)."""
    seconds = _servers.cpu_seconds(pid)
    return float("nan") if seconds is None else seconds


def gingee_project(root: Path, port: int) -> Path:
    """A project with one app, `bench`, whose websocket handler relays the sender to the room."""
    box = root / "web" / "bench" / "box"
    box.mkdir(parents=True)
    (box / "app.json").write_text(
        json.dumps(
            # the sender is the load generator: no inbound rate limit for it (the check still runs)
            {"name": "bench", "websockets": {"handler": "ws.py", "max_messages_per_second": 0}}
        )
    )
    (box / "ws.py").write_text(GINGEE_HANDLER)
    (root / "settings").mkdir()
    (root / "settings" / "permissions.json").write_text(json.dumps({"bench": {"granted": ["websockets"]}}))
    (root / "gingee.json").write_text(json.dumps({"server": {"port": port}, "logging": {"level": "warning"}}))
    return root


class Server(ServerProcess):
    """A server subprocess (on CPU 0 with `pin`); `wait_ready()` waits for a websocket to say "ready"."""

    def __init__(self, name: str, command: list[str], port: int, pin: bool) -> None:
        super().__init__(name, command, port, 0 if pin else None, log_prefix="ws-bench")

    async def wait_ready(self, timeout: float = 60.0) -> None:
        """Poll until a websocket opens and says "ready"."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.exited():
                raise RuntimeError(f"{self.name} exited:\n{self.output(3000)}")
            said: list[str] = []
            try:
                client = await Client.connect(
                    self.port, "/bench/ws", lambda text, now, said=said: said.append(text)
                )
            except (OSError, RuntimeError):
                await asyncio.sleep(0.1)
                continue
            while not said:
                await asyncio.sleep(0.01)
            client.close()
            if said[0] != "ready":
                raise RuntimeError(f"{self.name} answered {said[0]!r}, not 'ready'")
            return
        raise RuntimeError(f"{self.name} did not accept websockets on port {self.port}")


# --- the load ------------------------------------------------------------------------------------


@dataclass
class Result:
    """One run against one server."""

    server: str
    deliveries_per_second: float
    p50_ms: float
    p99_ms: float
    cpu_us_per_delivery: float


async def run(server: Server, args: argparse.Namespace) -> Result:
    """Connect the clients, warm up, then time `args.broadcasts` broadcasts to all of them."""
    total = args.warmup + args.broadcasts
    sent = [0.0] * total
    got = [[0.0] * total for _ in range(args.clients)]
    counts = [0] * args.clients
    ready = asyncio.Event()
    done = asyncio.Event()
    waiting = {"ready": args.clients, "done": args.clients}

    def receiver(index: int) -> Callable[[str, float], None]:
        times = got[index]

        def on_text(text: str, now: float) -> None:
            if text == "ready":
                waiting["ready"] -= 1
                if not waiting["ready"]:
                    ready.set()
                return
            times[int(text[: text.index("|")])] = now
            counts[index] += 1
            if counts[index] == total:
                waiting["done"] -= 1
                if not waiting["done"]:
                    done.set()

        return on_text

    clients = [await Client.connect(server.port, "/bench/ws", receiver(i)) for i in range(args.clients)]
    sender_ready = asyncio.Event()
    sender = await Client.connect(server.port, "/bench/ws?role=sender", lambda text, now: sender_ready.set())
    await asyncio.wait_for(asyncio.gather(ready.wait(), sender_ready.wait()), 60)
    padding = "x" * max(0, args.size - 8)

    def broadcast(seq: int) -> None:
        sent[seq] = time.perf_counter()
        sender.send(f"{seq}|{padding}".encode())

    for seq in range(args.warmup):  # warm-up: one at a time, all delivered before the next
        broadcast(seq)
        while any(times[seq] == 0.0 for times in got):
            await asyncio.sleep(0.001)
    cpu_before = cpu_seconds(server.process.pid)
    for seq in range(args.warmup, total):
        broadcast(seq)
        if args.interval:
            await asyncio.sleep(args.interval)
    await asyncio.wait_for(done.wait(), 120)
    cpu = cpu_seconds(server.process.pid) - cpu_before
    for client in [*clients, sender]:
        client.close()
    measured = range(args.warmup, total)
    latencies = sorted((times[s] - sent[s]) * 1000 for times in got for s in measured)
    elapsed = max(times[s] for times in got for s in measured) - sent[args.warmup]
    return Result(
        server.name,
        len(latencies) / elapsed,
        latencies[len(latencies) // 2],
        latencies[min(len(latencies) - 1, int(len(latencies) * 0.99))],
        cpu / len(latencies) * 1e6,
    )


async def bench(args: argparse.Namespace) -> int:
    if args.pin:
        os.sched_setaffinity(0, {1})
    gingee_port, bare_port = free_port(), free_port()
    with tempfile.TemporaryDirectory(prefix="ws-bench-") as tmp:
        project = gingee_project(Path(tmp), gingee_port)
        if args.server == "asgi":
            gingee_cmd = asgi_command(project, gingee_port)
        else:
            gingee_cmd = [sys.executable, "-m", "gingee_kernel.cli", "serve", str(project)]
        servers = [
            Server(gingee_name(args), gingee_cmd, gingee_port, args.pin),
            Server(
                "bare tornado",
                [sys.executable, str(HERE / "bare_ws.py"), "--port", str(bare_port)],
                bare_port,
                args.pin,
            ),
        ]
        try:
            for server in servers:
                await server.wait_ready()
            results: dict[str, list[Result]] = {s.name: [] for s in servers}
            for round_ in range(args.rounds):
                for server in servers if round_ % 2 == 0 else servers[::-1]:
                    results[server.name].append(await run(server, args))
        finally:
            for server in servers:
                server.stop()
    report(args, results)
    return 0


FIELDS = ("deliveries_per_second", "p50_ms", "p99_ms", "cpu_us_per_delivery")


def gingee_name(args: argparse.Namespace) -> str:
    """The Gingee server's name in the output: "gingee" on Tornado, "gingee asgi" on the ASGI host."""
    return "gingee" if args.server == "tornado" else "gingee asgi"


def report(args: argparse.Namespace, results: dict[str, list[Result]]) -> None:
    """Print each server's medians and the gingee/bare ratios."""
    mode = "back to back" if not args.interval else f"every {args.interval:g} s"
    print(
        f"ws_broadcast: {args.clients} clients in one room, {args.broadcasts} broadcasts of "
        f"{args.size} bytes ({mode}); {args.rounds} run(s) per server, medians"
    )
    print(f"{'server':14} {'deliveries/s':>13} {'p50 ms':>8} {'p99 ms':>8} {'CPU us/delivery':>16}")
    median: dict[str, Result] = {}
    for name, runs in results.items():
        values = [statistics.median(getattr(r, f) for r in runs) for f in FIELDS]
        median[name] = m = Result(name, *values)
        print(
            f"{name:14} {m.deliveries_per_second:13.0f} {m.p50_ms:8.2f} {m.p99_ms:8.2f} "
            f"{m.cpu_us_per_delivery:16.2f}"
        )
    g, b = median[gingee_name(args)], median["bare tornado"]
    print(
        f"{g.server}/bare: deliveries/s {g.deliveries_per_second / b.deliveries_per_second:.2f} "
        f"(goal >= {GOALS[args.server]:g}); p99 latency, bare/gingee {b.p99_ms / g.p99_ms:.2f}; "
        f"CPU per delivery, bare/gingee {b.cpu_us_per_delivery / g.cpu_us_per_delivery:.2f}"
    )


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--clients", type=int, default=200)
    parser.add_argument("--broadcasts", type=int, default=100)
    parser.add_argument("--size", type=int, default=64, help="message size in bytes")
    parser.add_argument("--interval", type=float, default=0.0, help="seconds between broadcasts (0: burst)")
    parser.add_argument("--warmup", type=int, default=20)
    parser.add_argument("--rounds", type=int, default=1)
    parser.add_argument("--pin", action="store_true", help="servers on CPU 0, clients on CPU 1")
    parser.add_argument(
        "--server", choices=sorted(GOALS), default="tornado", help="Gingee's host: tornado (default) or asgi"
    )
    args = parser.parse_args()
    return asyncio.run(bench(args))


if __name__ == "__main__":
    sys.exit(main())
