"""chart through a running server over real HTTP on 127.0.0.1: a script returns `await chart.render(...)`
of the posted Chart.js config (image/png of the asked size, or image/svg+xml); a bad config is a JSON 422
naming the pointer and an oversized chart a JSON 413, never a traceback. No permission is needed."""

from __future__ import annotations

import io
import xml.etree.ElementTree as ET
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
from PIL import Image

RENDER = """
from gingee_kernel import chart

async def handle(g):
    query = g.request.query
    return await chart.render(g.request.body, width=int(query.get("width", "640")),
                              height=int(query.get("height", "320")), format=query.get("format", "png"))
"""
CONFIG = {
    "type": "bar",
    "data": {"labels": ["Jan", "Feb"], "datasets": [{"label": "Sales", "data": [3, 5]}]},
    "options": {"plugins": {"title": {"display": True, "text": "Served"}}},
}


def project() -> dict[str, Any]:
    return {
        "web/reports/box/app.json": {"name": "reports"},
        "web/reports/box/routes.json": {"routes": [{"path": "/chart", "method": "POST", "script": "render"}]},
        "web/reports/box/render.py": RENDER,
    }


def test_a_script_renders_the_posted_config(
    make_project: Callable[..., Path], serve: Callable[..., Any]
) -> None:
    root = make_project(project())
    server = serve(root)
    url = server.url("/reports/chart")
    with httpx.Client(timeout=60) as client:
        png = client.post(url, json=CONFIG)
        assert png.status_code == 200, png.text
        assert png.headers["Content-Type"] == "image/png"
        with Image.open(io.BytesIO(png.content)) as image:
            assert image.format == "PNG" and image.size == (640, 320)

        svg = client.post(url, json=CONFIG, params={"format": "svg"})
        assert svg.status_code == 200 and svg.headers["Content-Type"] == "image/svg+xml"
        texts = [t.text for t in ET.fromstring(svg.content).iter("{http://www.w3.org/2000/svg}text")]
        assert "Served" in texts and "Sales" in texts

        bad = {**CONFIG, "data": {"labels": ["a"], "datasets": [{"data": ["lots"]}]}}
        refused = client.post(url, json=bad)
        assert refused.status_code == 422, refused.text
        assert refused.headers["Content-Type"].startswith("application/json")
        body = refused.json()
        assert body["error"] == "INVALID_CHART" and body["pointer"] == "/data/datasets/0/data/0"
        assert "Traceback" not in refused.text and str(root) not in refused.text

        huge = client.post(url, json=CONFIG, params={"width": "10000", "height": "2000"})
        assert huge.status_code == 413 and huge.json()["error"] == "CHART_TOO_LARGE"
