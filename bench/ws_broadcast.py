"""Websocket broadcast: `gingee serve` versus a bare Tornado websocket handler doing the same.

200 clients join one room; a sender socket sends 100 messages, and the server relays each to every
socket of the room but the sender (in Gingee: `socket.to("bench").send(text)` from an `on_message`
callback; in bare Tornado: a set of handlers and `write_message` on each, the payload encoded once).
Both servers run as subprocesses on free 127.0.0.1 ports; the clients (Tornado's websocket client) run
in this process. After a warm-up, the 100 broadcasts go out back to back (or every `--interval`
seconds) and each client timestamps what it receives. Prints, for each server, deliveries per second
(200 x 100 over the time from the first send to the last receipt), p50 and p99 delivery latency (send
to receipt), the server's CPU time per delivery, and the gingee/bare ratios. Goal: >= 0.9.

Usage: python bench/ws_broadcast.py [--clients 200] [--broadcasts 100] [--size 64] [--interval 0]
                                    [--warmup 20] [--rounds 1] [--pin]
       python bench/ws_broadcast.py --serve-bare PORT      (the bare server, started by the above)
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import json
import os
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
GOAL = 0.9

GINGEE_HANDLER = """
async def handle(socket, ctx):
    if ctx.query.get("role") == "sender":
        room = socket.to("bench")
        socket.on_message(room.send)
    else:
        socket.join("bench")
    socket.send("ready")
"""


# --- the bare Tornado server ---------------------------------------------------------------------


def serve_bare(port: int) -> None:
    """A plain Tornado websocket server relaying the sender's messages to every other socket."""
    import tornado.web
    import tornado.websocket

    room: set[tornado.websocket.WebSocketHandler] = set()

    class Relay(tornado.websocket.WebSocketHandler):
        def open(self) -> None:
            if self.get_query_argument("role", "") != "sender":
                room.add(self)
            self.write_message("ready")

        def on_message(self, message: str | bytes) -> None:
            data = message.encode() if isinstance(message, str) else message
            for handler in tuple(room):
                if handler is not self:
                    try:  # noqa: SIM105 - contextlib.suppress costs more per write
                        handler.write_message(data)
                    except tornado.websocket.WebSocketClosedError:
                        pass

        def on_close(self) -> None:
            room.discard(self)

    async def main() -> None:
        app = tornado.web.Application([(r"/bench/ws", Relay)])
        app.listen(port, "127.0.0.1")
        stop = asyncio.Event()
        asyncio.get_running_loop().add_signal_handler(signal.SIGTERM, stop.set)
        await stop.wait()

    asyncio.run(main())


# --- servers -------------------------------------------------------------------------------------


def free_port() -> int:
    """A port that was free on 127.0.0.1 a moment ago."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of a process, from /proc (NaN where there is none)."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()
    except OSError:
        return float("nan")
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def gingee_project(root: Path, port: int) -> Path:
    """A project with one app, `bench`, whose websocket handler relays the sender to the room."""
    box = root / "web" / "bench" / "box"
    box.mkdir(parents=True)
    (box / "app.json").write_text(json.dumps({"name": "bench", "websockets": {"handler": "ws.py"}}))
    (box / "ws.py").write_text(GINGEE_HANDLER)
    (root / "settings").mkdir()
    (root / "settings" / "permissions.json").write_text(json.dumps({"bench": {"granted": ["websockets"]}}))
    (root / "gingee.json").write_text(json.dumps({"server": {"port": port}, "logging": {"level": "warning"}}))
    return root


class Server:
    """A server subprocess; output goes to a log file shown if it fails."""

    def __init__(self, name: str, command: list[str], port: int, pin: bool) -> None:
        self.name = name
        self.port = port
        if pin and shutil.which("taskset"):
            command = ["taskset", "-c", "0", *command]
        self.log = tempfile.NamedTemporaryFile(prefix=f"ws-bench-{name}-", suffix=".log", delete=False)  # noqa: SIM115
        self.process = subprocess.Popen(command, stdout=self.log, stderr=subprocess.STDOUT, cwd=REPO)

    async def wait_ready(self, timeout: float = 60.0) -> None:
        """Poll until a websocket opens and says "ready"."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"{self.name} exited:\n{Path(self.log.name).read_text()[-3000:]}")
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

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(10)
        self.log.close()
        os.unlink(self.log.name)


# --- the load ------------------------------------------------------------------------------------


class Client(asyncio.Protocol):
    """A lean websocket client (raw asyncio protocol): it parses every frame of a read at once and
    timestamps them, so 200 of them in one process cost far less CPU than the server under test."""

    KEY = base64.b64encode(b"gingee-ws-bench!").decode()

    def __init__(self, on_text: Callable[[str, float], None]) -> None:
        self.on_text = on_text
        self.transport: asyncio.Transport | None = None
        self.buffer = bytearray()
        self.opened: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self.closed: asyncio.Future[None] = asyncio.get_running_loop().create_future()

    @classmethod
    async def connect(cls, port: int, path: str, on_text: Callable[[str, float], None]) -> Client:
        loop = asyncio.get_running_loop()
        _, client = await loop.create_connection(lambda: cls(on_text), "127.0.0.1", port)
        assert client.transport is not None
        client.transport.write(
            f"GET {path} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
            f"Sec-WebSocket-Key: {cls.KEY}\r\nSec-WebSocket-Version: 13\r\n\r\n".encode()
        )
        await client.opened
        return client

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self.transport = transport
        transport.get_extra_info("socket").setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

    def data_received(self, data: bytes) -> None:
        now = time.perf_counter()
        buffer = self.buffer
        buffer += data
        if not self.opened.done():
            head, sep, _ = bytes(buffer).partition(b"\r\n\r\n")
            if not sep:
                return
            if not head.startswith(b"HTTP/1.1 101"):
                self.opened.set_exception(RuntimeError(head.decode(errors="replace")))
                return
            del buffer[: len(head) + 4]
            self.opened.set_result(None)
        pos, end = 0, len(buffer)
        while end - pos >= 2:
            opcode, length, start = buffer[pos] & 0x0F, buffer[pos + 1] & 0x7F, pos + 2
            if length == 126:
                if end - pos < 4:
                    break
                length, start = int.from_bytes(buffer[pos + 2 : pos + 4], "big"), pos + 4
            elif length == 127:
                if end - pos < 10:
                    break
                length, start = int.from_bytes(buffer[pos + 2 : pos + 10], "big"), pos + 10
            if end - start < length:
                break
            payload = bytes(buffer[start : start + length])
            pos = start + length
            if opcode == 0x1:
                self.on_text(payload.decode(), now)
            elif opcode == 0x9:
                self.send(payload, opcode=0xA)
            elif opcode == 0x8 and not self.closed.done():
                self.closed.set_result(None)
        del buffer[:pos]

    def send(self, payload: bytes, opcode: int = 0x1) -> None:
        """One masked frame (mask 0000: the payload goes as is)."""
        assert self.transport is not None and len(payload) < 65536
        if len(payload) < 126:
            head = bytes([0x80 | opcode, 0x80 | len(payload)])
        else:
            head = bytes([0x80 | opcode, 0x80 | 126]) + len(payload).to_bytes(2, "big")
        self.transport.write(head + b"\0\0\0\0" + payload)

    def connection_lost(self, exc: Exception | None) -> None:
        if not self.closed.done():
            self.closed.set_result(None)
        if not self.opened.done():
            self.opened.set_exception(ConnectionError("closed during the handshake"))

    def close(self) -> None:
        if self.transport is not None:
            self.transport.close()


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
        gingee_cmd = [sys.executable, "-m", "gingee_kernel.cli", "serve", str(project)]
        servers = [
            Server("gingee", gingee_cmd, gingee_port, args.pin),
            Server(
                "bare tornado",
                [sys.executable, __file__, "--serve-bare", str(bare_port)],
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
    g, b = median["gingee"], median["bare tornado"]
    print(
        f"gingee/bare: deliveries/s {g.deliveries_per_second / b.deliveries_per_second:.2f} "
        f"(goal >= {GOAL}); p99 latency, bare/gingee {b.p99_ms / g.p99_ms:.2f}; "
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
    parser.add_argument("--serve-bare", type=int, metavar="PORT", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.serve_bare:
        serve_bare(args.serve_bare)
        return 0
    return asyncio.run(bench(args))


if __name__ == "__main__":
    sys.exit(main())
