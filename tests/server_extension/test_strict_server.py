"""A server that refuses unauthenticated access by default (`allow_unauthenticated_access=False`): Gingee's
own gate still decides, so public apps and gingee.js stay reachable and everything else stays closed."""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest

from tests.fixtures.jupyter import JupyterServer
from tests.server_extension.conftest import ECHO, start_server

FILES = {
    "web/private/box/app.json": {"name": "private"},
    "web/private/box/echo.py": ECHO,
    "web/pub/box/app.json": {"name": "pub", "public": True},
    "web/pub/box/echo.py": ECHO,
}


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[JupyterServer]:
    running = start_server(
        tmp_path_factory, FILES, extra_args=("--ServerApp.allow_unauthenticated_access=False",)
    )
    yield running
    running.stop()


def test_gingee_gate_under_a_strict_server(server):
    with httpx.Client(timeout=10, follow_redirects=False) as http:
        assert http.get(server.url("gingee/pub/echo")).status_code == 200
        assert http.post(server.url("gingee/pub/echo"), json={}).status_code == 200
        assert http.get(server.url("gingee/static/gingee.js")).status_code == 200
        assert http.get(server.url("gingee/private/echo")).status_code == 302
        assert http.post(server.url("gingee/private/echo"), json={}).status_code == 403
        assert http.get(server.url("gingee/api/apps")).status_code == 403
        assert http.get(server.url("gingee/private/echo"), headers=server.auth).status_code == 200
