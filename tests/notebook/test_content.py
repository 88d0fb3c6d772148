"""The content modules from a notebook: `app.use("image", ...)` sets the module's limits, a route's Picture
reply shows as the picture it is, and the export grants what the routes use (image, not the ungated
qrcode), then answers as the live app did when `gingee serve` runs it."""

from __future__ import annotations

import base64
import io
import json
from collections.abc import Callable
from pathlib import Path
from types import ModuleType

import httpx
import pytest
from PIL import Image as PILImage

from gingee_kernel.notebook import App, AppConfigError


def jpeg(width: int, height: int) -> bytes:
    out = io.BytesIO()
    PILImage.new("RGB", (width, height), "red").save(out, "JPEG")
    return out.getvalue()


@pytest.fixture
def app(run_notebook: Callable[..., ModuleType]) -> App:
    return run_notebook("nb_thumbs.py").app


def test_a_picture_reply_is_typed_and_shown_as_a_picture(app: App) -> None:
    reply = app.request("POST", "/thumb", body=jpeg(400, 200), headers={"Content-Type": "image/jpeg"})
    assert (reply.status, reply.content_type) == (200, "image/png")
    assert PILImage.open(io.BytesIO(reply.body)).size == (40, 20)
    shown = reply._repr_html_()
    assert f"src='data:image/png;base64,{base64.b64encode(reply.body).decode()}'" in shown
    svg = app.request("GET", "/qr/hello")
    assert svg.content_type == "image/svg+xml" and "<img src='data:image/svg+xml;base64," in svg._repr_html_()


def test_use_sets_the_limits_and_a_bad_one_is_named_in_the_cell(app: App) -> None:
    big = app.request("POST", "/thumb", body=jpeg(2000, 1000), headers={"Content-Type": "image/jpeg"})
    assert big.status == 413 and big.json()["error"] == "IMAGE_TOO_LARGE"
    assert "1000000" in big.json()["reason"]
    with pytest.raises(AppConfigError) as raised:
        app.use("image", max_pixels="lots")
    assert raised.value.pointer == "/image/max_pixels"
    assert app.config["image"] == {"max_pixels": 1_000_000}


def test_the_export_grants_image_and_serves_the_same_answers(
    app: App, serve: Callable[..., object], tmp_path: Path
) -> None:
    folder = app.export(tmp_path / "project" / "web")
    box = folder / "box"
    assert json.loads((box / "pmft.json").read_text()) == {
        "permissions": {"mandatory": ["image"], "optional": []}
    }
    assert json.loads((box / "app.json").read_text())["image"] == {"max_pixels": 1_000_000}
    server = serve(tmp_path / "project")
    with httpx.Client() as client:
        reply = client.post(server.url("/thumbs/thumb"), content=jpeg(400, 200),  # type: ignore[attr-defined]
                            headers={"Content-Type": "image/jpeg"})  # fmt: skip
        assert reply.headers["Content-Type"] == "image/png"
        assert PILImage.open(io.BytesIO(reply.content)).size == (40, 20)
        big = client.post(server.url("/thumbs/thumb"), content=jpeg(2000, 1000),  # type: ignore[attr-defined]
                          headers={"Content-Type": "image/jpeg"})  # fmt: skip
        assert big.status_code == 413 and big.json()["error"] == "IMAGE_TOO_LARGE"
