"""What the content modules share: limits from app.json, the missing-extra error, CPU work off the event loop
within the request budget, and Picture bytes that carry their media type to the reply and to a notebook."""

from __future__ import annotations

import asyncio
import base64
import threading
import time
from collections.abc import Callable
from typing import Any

import httpx
import pytest

from gingee_kernel.engine.context import app_context, set_deadline
from gingee_kernel.errors import HttpError, ManifestError
from gingee_kernel.modules.content import settings
from gingee_kernel.modules.content.errors import ContentError, ContentTooLarge, MissingExtra
from gingee_kernel.modules.content.extras import need
from gingee_kernel.modules.content.files import as_bytes
from gingee_kernel.modules.content.offload import Budget, ContentTimeout, run_cpu
from gingee_kernel.modules.content.picture import Picture
from tests.fixtures.apps import MakeApp


def test_limits_are_the_defaults_outside_an_app_and_app_json_overrides_them(make_app: MakeApp) -> None:
    assert settings.limits("zip") == settings.DEFAULTS["zip"]
    app = make_app("shop", config={"zip": {"max_entries": 10, "max_unpacked_size": "2mb"}})
    with app_context(app):
        got = settings.limits("zip")
    assert got["max_entries"] == 10
    assert got["max_unpacked_size"] == 2_000_000
    assert got["max_ratio"] == settings.DEFAULTS["zip"]["max_ratio"]


def test_a_limit_of_the_wrong_kind_is_a_manifest_error_naming_the_key(
    make_project: Callable[..., Any],
) -> None:
    from gingee_kernel.engine import manifest

    project = make_project({"web/a/box/app.json": {"name": "a", "image": {"max_pixels": "lots"}}})
    with pytest.raises(ManifestError) as info:
        manifest.load("app", project / "web" / "a" / "box" / "app.json")
    assert "/image/max_pixels" in str(info.value)


def test_a_missing_library_names_the_pip_install_to_run() -> None:
    with pytest.raises(MissingExtra) as info:
        need("gingee_no_such_library_xyz", module="image", package="Pillow", extra="image")
    assert "pip install 'gingee[image]'" in str(info.value)
    assert "the image module needs Pillow" in str(info.value)
    assert isinstance(info.value, ImportError)


def test_content_errors_answer_422_and_413_with_the_module_in_the_reason() -> None:
    bad = ContentError("image", "INVALID_IMAGE", "the input is not an image")
    big = ContentTooLarge("zip", "ARCHIVE_TOO_LARGE", "over 10 entries")
    assert (bad.status, bad.body()) == (
        422,
        {"error": "INVALID_IMAGE", "reason": "image: the input is not an image"},
    )
    assert big.status == 413 and isinstance(big, ContentError) and isinstance(big, HttpError)
    with pytest.raises(ContentTooLarge):
        as_bytes("html", b"x" * 11, limit=10)
    with pytest.raises(ContentError, match="must be bytes, not str"):
        as_bytes("image", "text", limit=10)


async def test_cpu_work_runs_off_the_event_loop_in_the_callers_context(make_app: MakeApp) -> None:
    app = make_app("shop")
    seen: dict[str, Any] = {}

    def work(budget: Budget, n: int) -> int:
        from gingee_kernel.engine.context import current_app

        seen["thread"] = threading.current_thread().name
        seen["app"] = current_app().name
        return n * 2

    with app_context(app):
        assert await run_cpu("chart", work, 21) == 42
    assert seen["thread"].startswith("gingee-content")
    assert seen["app"] == "shop"


async def test_work_past_the_request_budget_stops_at_its_next_step() -> None:
    steps: list[int] = []

    def slow(budget: Budget) -> None:
        for step in range(200):
            budget.check()
            steps.append(step)
            time.sleep(0.01)

    with set_deadline(time.monotonic() + 0.2), pytest.raises(ContentTimeout) as info:
        await run_cpu("pdf", slow)
    assert info.value.status == 504
    assert 0 < len(steps) < 200  # it stopped early, between steps
    with set_deadline(time.monotonic() - 1), pytest.raises(ContentTimeout):
        await run_cpu("pdf", slow)  # a budget already spent starts nothing
    await asyncio.sleep(0)


def test_a_picture_is_bytes_with_a_type_a_data_url_and_a_notebook_display() -> None:
    png = Picture(b"\x89PNG fake", "image/png")
    assert png == b"\x89PNG fake" and isinstance(png, bytes)
    assert png.data_url() == "data:image/png;base64," + base64.b64encode(b"\x89PNG fake").decode()
    bundle = png._repr_mimebundle_()
    assert base64.b64decode(bundle["image/png"]) == b"\x89PNG fake"
    svg = Picture(b"<svg xmlns='http://www.w3.org/2000/svg'/>", "image/svg+xml")
    assert svg._repr_mimebundle_()["image/svg+xml"].startswith("<svg")


def test_a_script_returning_a_picture_is_answered_with_its_type(
    make_project: Callable[..., Any], serve: Callable[..., Any]
) -> None:
    script = (
        "from gingee_kernel.modules.content.picture import Picture\n\n"
        "def handle(g):\n    return Picture(b'<svg/>', 'image/svg+xml')\n"
    )
    server = serve(make_project({"web/pics/box/app.json": {"name": "pics"}, "web/pics/box/dot.py": script}))
    reply = httpx.get(server.url("/pics/dot"))
    assert reply.status_code == 200
    assert reply.headers["content-type"] == "image/svg+xml"
    assert reply.content == b"<svg/>"
