"""1,000 messages to a loopback aiosmtpd over one reused connection: Gingee's `mail.send` (smtp driver,
pool_size 1) against aiosmtplib used directly with the same settings, side by side in one run.

    python bench/mail_smtp.py [--messages 1000] [--rounds 3] [--json]

Both send the same message (text + HTML parts, one small attachment) in a loop, one at a time, with plain
SMTP (no TLS, no AUTH) so the figure is about our per-message work, not the cipher. Each side builds its
MIME per message, as a real sender does, with the same headers (From, To, Subject, Date, Message-ID), so
both put the same message on the wire. Prints messages/second for each and the ratio gingee/direct
(the issue's goal: >= 0.9). The server counts what it received; a lost message fails the run.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
import tempfile
import time
from email.message import EmailMessage
from email.utils import formatdate, make_msgid
from pathlib import Path

import aiosmtplib
from aiosmtpd.smtp import SMTP

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from gingee_kernel import mail
from gingee_kernel.engine.app import AppRuntime
from gingee_kernel.engine.config import server_config
from gingee_kernel.engine.context import app_context

HTML = "<p>Welcome to the <b>workshop</b>.</p>" * 4
TEXT = "Welcome to the workshop.\n" * 4
FILE = b"name,seat\nada,1\n" * 8


class Counter:
    def __init__(self) -> None:
        self.count = 0

    async def handle_DATA(self, server: SMTP, session: object, envelope: object) -> str:
        self.count += 1
        return "250 OK"


async def gingee_side(port: int, n: int, root: Path) -> float:
    (root / "web" / "bench" / "box").mkdir(parents=True, exist_ok=True)
    smtp = {"host": "127.0.0.1", "port": port, "security": "none", "pool_size": 1}
    config = {"mail": {"driver": "smtp", "from": "Bench <bench@example.org>", "smtp": smtp}}
    app = AppRuntime(
        "bench", root / "web" / "bench", {"name": "bench"}, server_config(config), frozenset({"mail"})
    )
    with app_context(app):
        await mail.send(to="ada@example.org", subject="warm", text=TEXT)
        started = time.perf_counter()
        for i in range(n):
            await mail.send(
                to="Ada <ada@example.org>",
                subject=f"Welcome {i}",
                text=TEXT,
                html=HTML,
                attachments=[{"filename": "seats.csv", "content": FILE}],
            )
        elapsed = time.perf_counter() - started
    await app.close()
    return elapsed


async def direct_side(port: int, n: int) -> float:
    client = aiosmtplib.SMTP(hostname="127.0.0.1", port=port, start_tls=False, timeout=15)
    await client.connect()
    await client.send_message(_message(0), sender="bench@example.org", recipients=["ada@example.org"])
    started = time.perf_counter()
    for i in range(n):
        await client.send_message(_message(i), sender="bench@example.org", recipients=["ada@example.org"])
    elapsed = time.perf_counter() - started
    await client.quit()
    return elapsed


def _message(i: int) -> EmailMessage:
    msg = EmailMessage()
    msg["From"] = "Bench <bench@example.org>"
    msg["To"] = "Ada <ada@example.org>"
    msg["Subject"] = f"Welcome {i}"
    msg["Date"] = formatdate(usegmt=True)
    msg["Message-ID"] = make_msgid(domain="example.org")
    msg.set_content(TEXT)
    msg.add_alternative(HTML, subtype="html")
    msg.add_attachment(FILE, maintype="text", subtype="csv", filename="seats.csv")
    return msg


async def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--messages", type=int, default=1000)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    counter = Counter()
    server = await asyncio.get_running_loop().create_server(
        lambda: SMTP(counter, hostname="localhost"), "127.0.0.1", 0
    )
    port = server.sockets[0].getsockname()[1]
    rounds = []
    with tempfile.TemporaryDirectory() as tmp:
        for r in range(args.rounds):
            before = counter.count
            direct = await direct_side(port, args.messages)
            ours = await gingee_side(port, args.messages, Path(tmp) / f"r{r}")
            expected = 2 * (args.messages + 1)
            if counter.count - before != expected:
                print(
                    f"lost messages: the server got {counter.count - before} of {expected}", file=sys.stderr
                )
                return 1
            rounds.append({"gingee_per_s": args.messages / ours, "direct_per_s": args.messages / direct})
    server.close()
    gingee = sorted(r["gingee_per_s"] for r in rounds)[len(rounds) // 2]
    direct = sorted(r["direct_per_s"] for r in rounds)[len(rounds) // 2]
    result = {"messages": args.messages, "rounds": rounds, "gingee_per_s": gingee, "direct_per_s": direct}
    result["ratio"] = gingee / direct
    if args.json:
        print(json.dumps(result, indent=2))
    else:
        print(f"{args.messages} messages over one connection, median of {args.rounds} rounds")
        print(f"  gingee mail.send  {gingee:8.0f} msg/s")
        print(f"  aiosmtplib direct {direct:8.0f} msg/s")
        print(f"  ratio gingee/direct: {result['ratio']:.2f}x (goal >= 0.9)")
    return 0


if __name__ == "__main__":
    sys.exit(asyncio.run(main()))
