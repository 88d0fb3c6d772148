"""The baseline for bench/ws_broadcast.py: a bare Tornado websocket server doing what the Gingee app does.

Every socket but the sender (`?role=sender`) is in one room and gets "ready" on open; each message from
the sender is encoded once and written to every other socket with `write_message`.

Usage: python bench/bare_ws.py --port 8888
"""

from __future__ import annotations

import argparse
import asyncio
import signal

import tornado.web
import tornado.websocket

ROOM: set[tornado.websocket.WebSocketHandler] = set()


class Relay(tornado.websocket.WebSocketHandler):
    """Relays the sender's messages to the room."""

    def open(self) -> None:
        if self.get_query_argument("role", "") != "sender":
            ROOM.add(self)
        self.write_message("ready")

    def on_message(self, message: str | bytes) -> None:
        data = message.encode() if isinstance(message, str) else message
        for handler in tuple(ROOM):
            if handler is not self:
                try:  # noqa: SIM105 - contextlib.suppress costs more per write
                    handler.write_message(data)
                except tornado.websocket.WebSocketClosedError:
                    pass

    def on_close(self) -> None:
        ROOM.discard(self)


async def main(port: int) -> None:
    """Serve /bench/ws on 127.0.0.1:`port` until SIGTERM or SIGINT."""
    app = tornado.web.Application([(r"/bench/ws", Relay)])
    server = app.listen(port, "127.0.0.1")
    stop = asyncio.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        asyncio.get_running_loop().add_signal_handler(sig, stop.set)
    await stop.wait()
    server.stop()


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--port", type=int, required=True)
    asyncio.run(main(parser.parse_args().port))
