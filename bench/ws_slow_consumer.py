"""What a websocket client that never reads costs the server: its peak RSS while 100 MiB of broadcasts go
to a room holding that client and one that reads, with the send buffer limit (`max_send_buffer_bytes`,
default 1 MiB) and without it (0: the behaviour before the limit, where the server kept every unsent byte
until the ping timeout dropped the client).

    python bench/ws_slow_consumer.py [--mib 100] [--size 65536]

Prints, for each setting, the server's RSS before, its peak during the flood, the growth, whether the
server closed the stuck client (read from its /metrics), and the ratio of the growths (unlimited / limited).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
import tempfile
import threading
import time
from pathlib import Path

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _servers import ServerProcess, free_port, gingee_command
from ws_client import Client

HANDLER = """
async def handle(socket, ctx):
    socket.join("r")
    socket.send("ready")
"""

FLOOD = """
import asyncio
from gingee_kernel import websockets

async def handle(g):
    body = g.request.body
    payload = "x" * body["size"]
    for _ in range(body["count"]):
        await websockets.to_room("r", payload)
        await asyncio.sleep(0)
    return {"ok": True}
"""


def project(root: Path, port: int, limit: int) -> Path:
    box = root / "web" / "flood" / "box"
    box.mkdir(parents=True)
    app = {"name": "flood", "websockets": {"handler": "ws.py", "max_send_buffer_bytes": limit}}
    (box / "app.json").write_text(json.dumps(app))
    (box / "ws.py").write_text(HANDLER)
    (box / "flood.py").write_text(FLOOD)
    (root / "settings").mkdir()
    (root / "settings" / "permissions.json").write_text(json.dumps({"flood": {"granted": ["websockets"]}}))
    (root / "gingee.json").write_text(json.dumps({"server": {"port": port}, "logging": {"level": "error"}}))
    return root


def rss_mib(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


class Peak(threading.Thread):
    """Samples a process's RSS every 20 ms; `peak` is the largest seen."""

    def __init__(self, pid: int) -> None:
        super().__init__(daemon=True)
        self.pid, self.peak, self.running = pid, rss_mib(pid), True

    def run(self) -> None:
        while self.running:
            self.peak = max(self.peak, rss_mib(self.pid))
            time.sleep(0.02)


async def one(limit: int, mib: int, size: int) -> dict[str, float | bool]:
    port = free_port()
    with tempfile.TemporaryDirectory() as tmp:
        root = project(Path(tmp) / "p", port, limit)
        server = ServerProcess(f"limit-{limit}", [*gingee_command(), "serve", str(root)], port)
        try:
            said: list[str] = []
            received = [0]
            for _ in range(300):
                try:
                    stuck = await Client.connect(port, "/flood/ws", lambda t, n: said.append(t))
                    break
                except OSError:
                    await asyncio.sleep(0.1)
            while not said:
                await asyncio.sleep(0.01)
            assert stuck.transport is not None
            stuck.transport.pause_reading()  # from now on it reads nothing
            reader = await Client.connect(
                port, "/flood/ws", lambda t, n: received.__setitem__(0, received[0] + len(t))
            )
            while received[0] == 0:
                await asyncio.sleep(0.01)
            before = rss_mib(server.process.pid)
            peak = Peak(server.process.pid)
            peak.start()
            count = mib * (1 << 20) // size
            async with httpx.AsyncClient(timeout=120) as http:
                for start in range(0, count, 100):
                    await http.post(
                        f"http://127.0.0.1:{port}/flood/flood",
                        json={"size": size, "count": min(100, count - start)},
                    )
            while received[0] < count * size:
                await asyncio.sleep(0.01)
            await asyncio.sleep(0.2)
            peak.running = False
            peak.join()
            async with httpx.AsyncClient() as http:
                text = (await http.get(f"http://127.0.0.1:{port}/metrics")).text
            closed = 'gingee_websocket_closes_total{app="flood",reason="slow_consumer"} 1.0' in text
            reader.close()
            stuck.close()
            return {"before": before, "peak": peak.peak, "growth": peak.peak - before, "stuck_closed": closed}
        finally:
            server.stop()


async def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--mib", type=int, default=100, help="MiB broadcast to the room (default 100)")
    parser.add_argument("--size", type=int, default=65536, help="bytes per message (default 65536)")
    args = parser.parse_args()
    results = {}
    for name, limit in (("limit 1 MiB (default)", 1 << 20), ("no limit (0)", 0)):
        results[name] = r = await one(limit, args.mib, args.size)
        print(
            f"{name:22} RSS before {r['before']:6.1f} MiB  peak {r['peak']:6.1f} MiB  "
            f"growth {r['growth']:6.1f} MiB  server closed the stuck client (1008): {r['stuck_closed']}"
        )
    limited, unlimited = results["limit 1 MiB (default)"], results["no limit (0)"]
    print(f"RSS growth, unlimited / limited: {unlimited['growth'] / max(limited['growth'], 0.1):.1f}x")


if __name__ == "__main__":
    asyncio.run(main())
