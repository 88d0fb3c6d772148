"""zip through a running server over real HTTP on 127.0.0.1: a script zips a box folder and returns
it; an uploaded archive is unpacked, and a zip-slip upload is answered with a JSON 422, not a traceback."""

from __future__ import annotations

import io
import zipfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx

from tests.modules.content.test_zip import archive

PACK = """
from gingee_kernel import zip

async def handle(g):
    return await zip.pack("box", "docs", include_root_folder=True)
"""
UNZIP = """
from gingee_kernel import zip

async def handle(g):
    return {"files": await zip.unzip_bytes(g.request.raw_body, "box", "uploads")}
"""


def project() -> dict[str, Any]:
    return {
        "web/zipper/box/app.json": {"name": "zipper"},
        "web/zipper/box/pmft.json": {"permissions": {"mandatory": ["zip", "fs"]}},
        "web/zipper/box/routes.json": {
            "routes": [
                {"path": "/pack", "method": "GET", "script": "pack"},
                {"path": "/unzip", "method": "POST", "script": "unzip"},
            ]
        },
        "web/zipper/box/pack.py": PACK,
        "web/zipper/box/unzip.py": UNZIP,
        "web/zipper/box/docs/hello.txt": "hello",
        "web/zipper/box/docs/sub/data.csv": "a,b\n1,2\n",
    }


def test_a_script_packs_and_unpacks_over_http(
    make_project: Callable[..., Path], serve: Callable[..., Any]
) -> None:
    root = make_project(project())
    server = serve(root)
    box = root / "web" / "zipper" / "box"
    with httpx.Client(timeout=30) as client:
        reply = client.get(server.url("/zipper/pack"))
        assert reply.status_code == 200 and reply.headers["Content-Type"] == "application/zip"
        with zipfile.ZipFile(io.BytesIO(reply.content)) as got:
            assert got.namelist() == ["docs/", "docs/hello.txt", "docs/sub/", "docs/sub/data.csv"]
            assert got.read("docs/sub/data.csv") == b"a,b\n1,2\n"

        upload = {"Content-Type": "application/zip"}
        slip = client.post(
            server.url("/zipper/unzip"),
            content=archive({"ok.txt": b"ok", "../../escaped.txt": b"pwned"}),
            headers=upload,
        )
        assert slip.status_code == 422, slip.text
        assert slip.headers["Content-Type"].startswith("application/json")
        body = slip.json()
        assert body["error"] == "UNSAFE_ENTRY" and "'../../escaped.txt'" in body["reason"]
        assert "Traceback" not in slip.text and str(root) not in slip.text
        assert not (box / "uploads").exists()
        assert not list(root.rglob("escaped.txt"))

        good = client.post(server.url("/zipper/unzip"), content=archive({"a/b.txt": b"b"}), headers=upload)
        assert good.status_code == 200 and good.json() == {"files": ["uploads/a/b.txt"]}
        assert (box / "uploads" / "a" / "b.txt").read_bytes() == b"b"

        broken = client.post(server.url("/zipper/unzip"), content=b"not a zip", headers=upload)
        assert broken.status_code == 422 and broken.json()["error"] == "INVALID_ARCHIVE"
