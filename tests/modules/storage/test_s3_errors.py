"""How the s3 driver reports a provider that fails: a loopback server on 127.0.0.1 that answers every S3
request as an overloaded S3 does (503 SlowDown), so the app can tell "try later" from its own mistakes."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from gingee_kernel import storage
from gingee_kernel.engine.context import app_context
from tests.fixtures.apps import MakeApp
from tests.modules.storage.test_behaviour import store_config

SLOW_DOWN = (
    b'<?xml version="1.0" encoding="UTF-8"?><Error><Code>SlowDown</Code>'
    b"<Message>Please reduce your request rate.</Message></Error>"
)


class _Overloaded(BaseHTTPRequestHandler):
    def _answer(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        if length:
            self.rfile.read(length)
        self.send_response(503)
        self.send_header("Content-Type", "application/xml")
        self.send_header("Content-Length", str(len(SLOW_DOWN)))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(SLOW_DOWN)

    do_GET = do_PUT = do_HEAD = do_POST = do_DELETE = _answer

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def overloaded_s3() -> Iterator[str]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Overloaded)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


async def test_a_5xx_from_s3_is_storage_unavailable(make_app: MakeApp, overloaded_s3: str) -> None:
    config = {"storage": [store_config("s3", overloaded_s3, "bucket")]}
    app = make_app("shop", config=config, server={"egress": {"allow_cidrs": ["127.0.0.1/32"]}},
                   grants={"storage"})  # fmt: skip
    with app_context(app):
        files = storage.store("files")
        with pytest.raises(storage.StorageUnavailable, match="SlowDown"):
            await files.put("a.txt", b"hello")
        with pytest.raises(storage.StorageUnavailable, match="try again later"):
            await files.get("a.txt")
