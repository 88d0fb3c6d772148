"""`gk.fleet_view(...)`, the notebook's widget of a fleet, against real nodes: it lists every node with its
versions, marks a killed node stale, and says plainly when the token is wrong."""

from __future__ import annotations

import asyncio

import gingee_kernel as gk
from gingee_kernel.lifecycle.client import deploy
from gingee_kernel.notebook.fleet_view import FleetView

from .fleet import TOKEN


def test_the_view_lists_the_nodes_and_marks_a_dead_one_stale(fleet) -> None:
    running = fleet(2).start()
    first, second = running.nodes
    deploy(running.app_folder("2.0.0"), first.url(), token=TOKEN)
    running.wait_for_versions(["2.0.0", "2.0.0"], "serve 2.0.0")
    view = FleetView(first.url(), token=TOKEN)

    def shows(*parts: str) -> bool:
        asyncio.run(view.refresh())
        return all(part in view.table.value for part in parts)

    first.wait_until(lambda: shows("<code>n1</code>", "<code>n2</code>", "shop 2.0.0</td>"), "list both")
    assert view.data is not None and view.data["apps"]["shop"]["version"] == "2.0.0"
    assert "stale" not in view.table.value
    second.kill()
    first.wait_until(lambda: shows("stale"), "mark n2 stale")
    row = next(r for r in view.table.value.split("<tr>") if "<code>n2</code>" in r)
    assert "stale" in row


def test_a_wrong_token_is_said_plainly(fleet) -> None:
    running = fleet(1).start()
    view = FleetView(running.nodes[0].url(), token="not-the-token-at-all")
    assert asyncio.run(view.refresh()) is None
    assert view.table.value.startswith("<b>403</b>")
    assert gk.fleet_view is not None and callable(gk.fleet_view)
