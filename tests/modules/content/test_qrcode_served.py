"""qrcode through a running server over real HTTP on 127.0.0.1: a script returns a QR code (image/png, read
back by the test decoder) and a barcode (image/svg+xml); data too long, a bad check digit and a scale over
app.json's qrcode.max_scale are JSON 422/413 answers, never a traceback. No permission is needed."""

from __future__ import annotations

import io
import xml.etree.ElementTree as ET
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
from PIL import Image

from .test_qrcode_decoder import decode

QR = """
from gingee_kernel import qrcode

async def handle(g):
    return await qrcode.qrcode(g.request.query["text"], scale=int(g.request.query.get("scale", "4")))
"""
BAR = """
from gingee_kernel import qrcode

async def handle(g):
    return await qrcode.barcode(g.request.query["kind"], g.request.query["text"])
"""


def project() -> dict[str, Any]:
    return {
        "web/tickets/box/app.json": {"name": "tickets", "qrcode": {"max_scale": 10}},
        "web/tickets/box/routes.json": {
            "routes": [
                {"path": "/qr", "method": "GET", "script": "qr"},
                {"path": "/bar", "method": "GET", "script": "bar"},
            ]
        },
        "web/tickets/box/qr.py": QR,
        "web/tickets/box/bar.py": BAR,
    }


def test_scripts_serve_codes_and_errors_are_json(
    make_project: Callable[..., Path], serve: Callable[..., Any]
) -> None:
    root = make_project(project())
    server = serve(root)
    with httpx.Client(timeout=30) as client:
        reply = client.get(
            server.url("/tickets/qr"), params={"text": "https://example.com/t/42", "scale": "6"}
        )
        assert reply.status_code == 200, reply.text
        assert reply.headers["Content-Type"] == "image/png"
        assert decode(reply.content)[0] == b"https://example.com/t/42"
        with Image.open(io.BytesIO(reply.content)) as image:
            assert image.width % 6 == 0

        bar = client.get(server.url("/tickets/bar"), params={"kind": "ean13", "text": "5901234123457"})
        assert bar.status_code == 200 and bar.headers["Content-Type"] == "image/svg+xml"
        assert ET.fromstring(bar.content).tag == "{http://www.w3.org/2000/svg}svg"

        for params, status, code in [
            ({"text": "x" * 3000}, 422, "DATA_TOO_LONG"),
            ({"text": "x", "scale": "11"}, 413, "SCALE_TOO_LARGE"),  # app.json lowers max_scale to 10
        ]:
            refused = client.get(server.url("/tickets/qr"), params=params)
            assert refused.status_code == status, refused.text
            assert refused.headers["Content-Type"].startswith("application/json")
            assert refused.json()["error"] == code and "Traceback" not in refused.text

        wrong = client.get(server.url("/tickets/bar"), params={"kind": "ean13", "text": "5901234123458"})
        assert wrong.status_code == 422 and wrong.json()["error"] == "INVALID_BARCODE"
        assert "should be 7" in wrong.json()["reason"] and str(root) not in wrong.text
