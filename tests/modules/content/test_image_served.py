"""image in a served script over real HTTP on 127.0.0.1: an uploaded photo resized and returned as a
Picture (its Content-Type and decoded size checked), garbage answered 422 JSON INVALID_IMAGE, a pixel bomb
413 JSON, and an app without the grant refused with a log line naming the permission."""

from __future__ import annotations

import io
import logging
from collections.abc import Callable
from typing import Any

import httpx
import pytest
from PIL import Image as PILImage

from tests.modules.content.test_image_hostile import png_declaring

THUMB = """
from gingee_kernel import image

async def handle(g):
    upload = g.request.files["photo"]
    width = int(g.request.query.get("width", "64"))
    return await image.load(upload.data).resize(width=width).format("webp", quality=70).to_bytes()
"""


def project(granted: bool = True) -> dict[str, Any]:
    return {
        "web/pics/box/app.json": {"name": "pics", "image": {"max_pixels": 4_000_000}},
        "web/pics/box/pmft.json": {"permissions": {"mandatory": ["image"] if granted else []}},
        "web/pics/box/routes.json": {"routes": [{"path": "/thumb", "method": "POST", "script": "thumb"}]},
        "web/pics/box/thumb.py": THUMB,
    }


def jpeg(width: int, height: int) -> bytes:
    out = io.BytesIO()
    PILImage.effect_noise((width, height), 60).convert("RGB").save(out, "JPEG")
    return out.getvalue()


def upload(client: httpx.Client, url: str, data: bytes, **params: str) -> httpx.Response:
    return client.post(url, params=params, files={"photo": ("photo.jpg", data, "image/jpeg")})


def test_a_script_resizes_an_upload_and_returns_the_picture(
    make_project: Callable[..., Any], serve: Callable[..., Any]
) -> None:
    server = serve(make_project(project()))
    url = server.url("/pics/thumb")
    with httpx.Client(timeout=30) as client:
        reply = upload(client, url, jpeg(640, 480), width="160")
        assert reply.status_code == 200, reply.text
        assert reply.headers["Content-Type"].startswith("image/webp")
        picture = PILImage.open(io.BytesIO(reply.content))
        assert picture.format == "WEBP" and picture.size == (160, 120)

        garbage = upload(client, url, b"this is not a photo at all")
        assert garbage.status_code == 422
        assert garbage.headers["Content-Type"].startswith("application/json")
        assert garbage.json()["error"] == "INVALID_IMAGE" and "Traceback" not in garbage.text

        bomb = upload(client, url, png_declaring(100_000, 100_000))
        assert bomb.status_code == 413 and bomb.json()["error"] == "IMAGE_TOO_LARGE"
        assert "over the limit of 4000000" in bomb.json()["reason"]


def test_without_the_grant_the_script_fails_and_the_log_names_the_permission(
    make_project: Callable[..., Any], serve: Callable[..., Any], caplog: pytest.LogCaptureFixture
) -> None:
    server = serve(make_project(project(granted=False)))
    with caplog.at_level(logging.INFO), httpx.Client(timeout=30) as client:
        reply = upload(client, server.url("/pics/thumb"), jpeg(32, 32))
    assert reply.status_code == 500 and "Traceback" not in reply.text
    logged = "\n".join(logging.Formatter().format(record) for record in caplog.records)
    assert "PermissionDenied" in logged and "'image'" in logged, logged
