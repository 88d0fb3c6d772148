"""notebooks/07-a-community-plugin.ipynb: the example plugin gingee-hello, installed from the repository
into a folder beside the notebook, allowed and pinned in gingee.json, used by a notebook app with a config
of its own, and refused by a real `gingee serve` until the app is granted `plugin:hello`; and its export,
served by `gingee serve`."""

from __future__ import annotations

import json
import sys

import pytest

from gingee_kernel.cli import main


@pytest.fixture
def run(tutorial):
    return tutorial("07-a-community-plugin")


def starting(out: dict[str, str], prefix: str) -> str:
    """The output of the one cell whose first line starts with `prefix`."""
    (found,) = [text for first, text in out.items() if first.startswith(prefix)]
    return found


def test_the_plugin_is_installed_allowed_and_used_by_the_app(run) -> None:
    out = run.outputs_by_cell()
    found = out['found = discovery.find("gingee-hello")']
    assert "gingee-hello 1.0.0 {'hello': 'gingee_hello:Module'}" in found and "imported yet: False" in found
    listed = out["!gingee plugins list ."]
    assert "gingee-hello 1.0.0  modules: hello  allowed: no" in listed and "sha256 " in listed
    pin = listed.split("sha256 ")[1].split()[0]
    allowed = json.loads((run.workdir / "gingee.json").read_text())["plugins"]["allow"]
    assert allowed == {"gingee-hello": {"version": ">=1,<2", "sha256": pin}}  # pinned to what was listed

    noted = out['app = gk.App("greeter", version="1.0.0")']
    assert "HTTP 201" in noted and "plugins keep their files in the app's box" in noted
    assert "['box/data/plugins/hello/notes.txt']" in starting(out, "sorted(str(path.relative_to(app.root))")
    refusals = out['for versions, options in [(">=2", {}), (">=1,<2", {"greting": "Hej"})]:']
    assert "'>=2' does not" in refusals
    assert "at /plugins/gingee-hello/config: unknown key 'greting'" in refusals
    assert "{'gingee-hello': '>=1,<2'}" in refusals  # the app kept its last config

    exported = out['folder = app.export("web")']
    assert '"greeting": "Hej"' in exported and '"plugin:hello"' in exported


def test_the_real_server_refuses_the_plugin_until_the_grant(run) -> None:
    out = run.outputs_by_cell()
    assert "'grants': []" in out["with socket.socket() as probe:"]
    assert "'declared': ['plugin:hello']" in out["with socket.socket() as probe:"]
    refused = out['refused = httpx.get(f"{URL}/greeter/notes")']
    assert refused.startswith("500 ") and "INTERNAL_SERVER_ERROR" in refused
    assert "is not granted the 'plugin:hello' permission" in refused  # the server's log says why
    assert "['plugin:hello']" in out["!gingee grant . greeter plugin:hello"]
    assert "plugins keep their files in the app's box" in out['httpx.get(f"{URL}/greeter/notes").json()']
    assert "gingee serve stopped, exit code 0" in out["server.terminate()"]


def test_gingee_serve_serves_the_export_with_the_plugin_while_it_is_granted(
    run, serve, client, monkeypatch
) -> None:
    """The notebook granted the app (settings/permissions.json); revoked, the plugin is refused again."""
    monkeypatch.syspath_prepend(str(run.workdir / "plugin-site"))
    try:
        server = serve(run.workdir, dev=False)
        assert client.get(server.url("/greeter/greet/Ada")).json() == {"message": "Hej, Ada!"}
        saved = client.post(server.url("/greeter/notes"), json={"text": "served by gingee serve"})
        assert saved.status_code == 201
        notes = saved.json()["notes"]
        assert notes[-2:] == ["plugins keep their files in the app's box", "served by gingee serve"]
        assert main(["grant", str(run.workdir), "greeter", "plugin:hello", "--revoke"]) == 0
        assert client.post(server.url("/_gingee/api/apps/greeter/reload")).json()["grants"] == []
        assert client.get(server.url("/greeter/greet/Ada")).status_code == 500
        denied = client.get(server.url("/metrics")).text
        assert 'gingee_permission_denials_total{app="greeter",module="plugin:hello"}' in denied
    finally:
        for name in [n for n in sys.modules if n == "gingee_hello" or n.startswith("gingee_hello.")]:
            del sys.modules[name]
