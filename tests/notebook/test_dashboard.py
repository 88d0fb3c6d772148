"""app.dashboard(): the route table shows the app's Prometheus series (what /metrics says), the last
requests come from the engine's observer, and the refresh task ends when the app stops."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from gingee_kernel import HttpError
from gingee_kernel.metrics.read import snapshot
from gingee_kernel.notebook import App


@pytest.fixture
def dash_app(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Callable[[], App]:
    monkeypatch.chdir(tmp_path)
    made: list[App] = []

    def factory() -> App:
        app = App(f"dash{len(made)}_{tmp_path.name[-6:]}".replace("-", "_"))

        @app.route("/items/:id")
        async def item(g: Any) -> dict[str, Any]:
            if g.request.params["id"] == "0":
                raise HttpError(404, "NO_ITEM", "no item 0")
            if g.request.params["id"] == "boom":
                raise RuntimeError("boom")
            return {"id": g.request.params["id"]}

        made.append(app)
        return app

    yield factory
    for app in made:
        app.stop()


async def test_the_table_shows_the_metrics_and_the_last_requests(dash_app: Callable[[], App]) -> None:
    app = dash_app()
    app.serve()
    board = app.dashboard()
    for path in ("/items/1", "/items/2", "/items/0", "/items/boom"):
        app.request("GET", path)
    for _ in range(100):  # the refresh task runs on this loop
        await asyncio.sleep(0.05)
        if len(board.recent) == 4 and "boom" not in board.table.value:
            break
    route = snapshot(app.name).routes[("/items/:id", "GET")]
    assert (route.requests, route.by_class.get("4xx"), route.errors) == (4, 1, 1)
    row = "<td>GET</td><td><code>/items/:id</code></td><td>4</td><td>1</td><td>1</td>"
    assert row in board.table.value
    assert [e.status for _, e in board.recent] == [200, 200, 404, 500]
    assert "/items/1" not in board.table.value  # route patterns, never raw URLs

    app.stop()
    for _ in range(100):
        await asyncio.sleep(0.05)
        if board._task is not None and board._task.done():
            break
    assert board._task is not None and board._task.done()
    assert "not serving" in board.title.value
    assert board.collector not in board.host.engine.observers
