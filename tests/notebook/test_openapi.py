"""`@app.route(body=schema, response=schema)` in a notebook: 422 for a bad body, `app.openapi()`, and the
schemas carried into the exported routes.json (where `gingee serve` checks them the same way)."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from types import ModuleType

import pytest

from gingee_kernel.notebook.model import AppConfigError


def test_a_notebook_route_checks_its_body_and_documents_it(
    run_notebook: Callable[..., ModuleType], tmp_path: Path, make_project, serve, client
) -> None:
    nb = run_notebook("nb_orders.py")
    bad = nb.app.request("POST", "/orders", json={"sku": "tea", "qty": 0})
    assert bad.status == 422 and bad.json()["pointer"] == "/qty"
    assert nb.app.request("POST", "/orders", json={"sku": "tea", "qty": 2}).json() == {"total": 6}
    doc = nb.app.openapi()
    operation = doc["paths"]["/orders"]["post"]
    assert operation["requestBody"]["content"]["application/json"]["schema"] == nb.ORDER
    assert operation["responses"]["200"]["content"]["application/json"]["schema"]["required"] == ["total"]
    folder = nb.app.export(tmp_path / "out" / "web")
    (route,) = json.loads((folder / "box" / "routes.json").read_text())["routes"]
    assert route["body"] == nb.ORDER and route["response"] == {"type": "object", "required": ["total"]}
    server = serve(tmp_path / "out", dev=False)
    assert client.post(server.url("/orders/orders"), json={"sku": "tea"}).status_code == 422
    assert client.post(server.url("/orders/orders"), json={"sku": "tea", "qty": 1}).json() == {"total": 3}


def test_a_broken_schema_is_refused_at_the_decorator(run_notebook: Callable[..., ModuleType]) -> None:
    nb = run_notebook("nb_orders.py")
    with pytest.raises(AppConfigError, match="a JSON Schema"):
        nb.app.route("/x", body={"type": 5})
