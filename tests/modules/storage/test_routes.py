"""Storage through a running server over real HTTP on 127.0.0.1: a streamed upload route, downloads with
Range, ETag and 304, and the local driver's signed URLs (served by gingee, refused if tampered)."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from typing import Any
from urllib.parse import parse_qs, urlencode, urlsplit

import httpx
import pytest

UPLOAD = """
from gingee_kernel import storage

async def handle(g):
    info = await storage.store("uploads").put(g.request.params["name"], g.request,
                                              content_type=g.request.headers.get("Content-Type"))
    return info.to_dict()
"""
DOWNLOAD = """
async def handle(g):
    await g.response.send_object("uploads", g.request.params["name"])
"""
SIGN = """
from gingee_kernel import storage

async def handle(g):
    method = g.request.query.get("method", "GET")
    return {"url": await storage.store("uploads").url(g.request.params["name"], expires=int(
        g.request.query.get("expires", "60")), method=method, content_type=g.request.query.get("type"))}
"""


def project(max_upload: str = "1gb") -> dict[str, Any]:
    return {
        "gingee.json": {"max_body_size": "1mb", "max_upload_size": max_upload},
        "web/files/box/app.json": {"name": "files", "storage": [{"name": "uploads", "driver": "local"}]},
        "web/files/box/pmft.json": {"permissions": {"mandatory": ["storage"]}},
        "web/files/box/routes.json": {
            "routes": [
                {"path": "/up/:name", "method": "PUT", "script": "up", "body": "stream"},
                {"path": "/down/:name", "method": "GET", "script": "down"},
                {"path": "/sign/:name", "method": "GET", "script": "sign"},
            ]
        },
        "web/files/box/up.py": UPLOAD,
        "web/files/box/down.py": DOWNLOAD,
        "web/files/box/sign.py": SIGN,
    }


@pytest.fixture
def server(make_project: Callable[..., Any], serve: Callable[..., Any]) -> Any:
    return serve(make_project(project()))


def body(size: int, chunk: int = 256 * 1024) -> Iterator[bytes]:
    block = bytes(range(256)) * (chunk // 256)
    sent = 0
    while sent < size:
        part = block[: min(chunk, size - sent)]
        sent += len(part)
        yield part


def test_streamed_upload_over_the_buffered_limit_then_download_with_ranges(server: Any) -> None:
    size = 5 * 1024 * 1024  # five times max_body_size: only a streamed route accepts it
    with httpx.Client() as client:
        put = client.put(server.url("/files/up/blob.bin"), content=body(size),
                         headers={"Content-Type": "application/x-blob"})  # fmt: skip
        assert put.status_code == 200, put.text
        assert put.json()["size"] == size
        whole = client.get(server.url("/files/down/blob.bin"))
        assert whole.status_code == 200 and whole.content == b"".join(body(size))
        assert whole.headers["Content-Type"] == "application/x-blob"
        etag = whole.headers["ETag"]
        assert (
            client.get(server.url("/files/down/blob.bin"), headers={"If-None-Match": etag}).status_code == 304
        )
        part = client.get(server.url("/files/down/blob.bin"), headers={"Range": "bytes=10-19"})
        assert part.status_code == 206 and part.content == whole.content[10:20]
        assert part.headers["Content-Range"] == f"bytes 10-19/{size}"
        tail = client.get(server.url("/files/down/blob.bin"), headers={"Range": "bytes=-5"})
        assert tail.content == whole.content[-5:]
        bad = client.get(server.url("/files/down/blob.bin"), headers={"Range": f"bytes={size}-"})
        assert bad.status_code == 416 and bad.headers["Content-Range"] == f"bytes */{size}"
        assert client.get(server.url("/files/down/none.bin")).status_code == 404


def test_streamed_upload_over_max_upload_size_is_413_and_stores_nothing(
    make_project: Callable[..., Any], serve: Callable[..., Any]
) -> None:
    running = serve(make_project(project(max_upload="2mb")))
    with httpx.Client() as client:
        reply = client.put(running.url("/files/up/big.bin"), content=body(6 * 1024 * 1024))
        assert reply.status_code == 413 and reply.json()["error"] == "PAYLOAD_TOO_LARGE"
        assert client.get(running.url("/files/down/big.bin")).status_code == 404


def test_local_signed_urls(server: Any) -> None:
    with httpx.Client() as client:
        client.put(
            server.url("/files/up/cat.png"), content=b"\x89PNG-data", headers={"Content-Type": "image/png"}
        )
        url = client.get(server.url("/files/sign/cat.png")).json()["url"]
        assert url.startswith(server.url("/files/_gingee/storage/uploads/cat.png?"))
        fetched = client.get(url)
        assert fetched.status_code == 200 and fetched.content == b"\x89PNG-data"
        parts = urlsplit(url)
        query = {k: v[0] for k, v in parse_qs(parts.query).items()}

        def with_query(**changes: str) -> str:
            return f"{parts.scheme}://{parts.netloc}{parts.path}?{urlencode({**query, **changes})}"

        other_key = url.replace("/cat.png?", "/dog.png?")
        for tampered in (
            other_key,
            with_query(expires=str(int(query["expires"]) + 60)),
            with_query(sig="x" * 43),
        ):
            refused = client.get(tampered)
            assert refused.status_code == 403 and refused.json()["error"] == "SIGNATURE_INVALID"
        assert client.put(url, content=b"overwrite").status_code == 403  # signed for GET only
        expired = client.get(server.url("/files/sign/cat.png?expires=1")).json()["url"]
        time.sleep(2.1)
        assert client.get(expired).status_code == 403
        upload = client.get(server.url("/files/sign/new.txt?method=PUT&type=text/plain")).json()["url"]
        assert client.put(upload, content=b"hi", headers={"Content-Type": "text/html"}).status_code == 403
        stored = client.put(upload, content=b"hi", headers={"Content-Type": "text/plain"})
        assert stored.status_code == 200 and stored.json()["size"] == 2
        assert client.get(server.url("/files/down/new.txt")).content == b"hi"


def test_signed_urls_answer_client_errors_with_a_status_not_a_500(
    make_project: Callable[..., Any], serve: Callable[..., Any]
) -> None:
    files = project()
    files["web/files/box/app.json"]["storage"][0]["max_object_size"] = "1kb"
    running = serve(make_project(files))
    with httpx.Client() as client:
        upload = client.get(running.url("/files/sign/big.bin?method=PUT")).json()["url"]
        too_big = client.put(upload, content=b"x" * 4096)
        assert too_big.status_code == 413 and too_big.json()["error"] == "PAYLOAD_TOO_LARGE"
        assert "1000 bytes" in too_big.json()["reason"]
        missing = client.get(client.get(running.url("/files/sign/gone.txt")).json()["url"])
        assert missing.status_code == 404 and missing.json()["error"] == "NOT_FOUND"
        bad_key = client.get(running.url("/files/down/a%5Cb"))  # a backslash breaks the key rules
        assert bad_key.status_code == 400 and bad_key.json()["error"] == "INVALID_KEY"
        assert "backslash" in bad_key.json()["reason"]
