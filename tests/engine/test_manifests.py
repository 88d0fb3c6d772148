"""Broken manifests: the app is not registered, the log names file, pointer and expectation,
and every other app keeps serving."""

from __future__ import annotations

import logging

import pytest

from gingee_kernel.engine import manifest
from gingee_kernel.errors import ManifestError
from gingee_kernel.standalone import Server

OK = "async def handle(g):\n    g.response.send({'ok': g.app.name})\n"

BROKEN = {
    "unknown_key": (
        {"web/bad/box/app.json": {"name": "bad", "colour": "red"}},
        "web/bad/box/app.json",
        "at the top level",
        "unknown key 'colour'",
    ),
    "wrong_type": (
        {"web/bad/box/app.json": {"name": "bad", "db": [{"name": "main", "type": "sqlite", "port": "5432"}]}},
        "web/bad/box/app.json",
        "at /db/0/port",
        "expected integer, got string",
    ),
    "bad_enum": (
        {"web/bad/box/app.json": {"name": "bad", "db": [{"name": "main", "type": "mongo"}]}},
        "web/bad/box/app.json",
        "at /db/0/type",
        'expected one of "sqlite", "postgres", "mysql"',
    ),
    "invalid_json": (
        {"web/bad/box/app.json": '{"name": "bad",}'},
        "web/bad/box/app.json",
        "at the top level",
        "valid JSON",
    ),
    "route_missing_script": (
        {"web/bad/box/app.json": {"name": "bad"}, "web/bad/box/routes.json": {"routes": [{"path": "/x"}]}},
        "web/bad/box/routes.json",
        "at /routes/0",
        "missing required key 'script'",
    ),
    "route_bad_pattern": (
        {
            "web/bad/box/app.json": {"name": "bad"},
            "web/bad/box/routes.json": {"routes": [{"path": "/x/*/y", "script": "x.py"}]},
        },
        "web/bad/box/routes.json",
        "at /routes/0/path",
        "'*' is only allowed as the last segment",
    ),
    "route_script_escapes_box": (
        {
            "web/bad/box/app.json": {"name": "bad"},
            "web/bad/box/routes.json": {"routes": [{"path": "/x", "script": "../../other/box/x.py"}]},
        },
        "web/bad/box/routes.json",
        "at /routes/0/script",
        "a script path inside box/",
    ),
    "pmft_unknown_permission": (
        {
            "web/bad/box/app.json": {"name": "bad"},
            "web/bad/box/pmft.json": {"permissions": {"mandatory": ["root"]}},
        },
        "web/bad/box/pmft.json",
        "at /permissions/mandatory/0",
        "expected one of",
    ),
    "missing_startup_script": (
        {"web/bad/box/app.json": {"name": "bad", "startup_scripts": ["setup.py"]}},
        "web/bad/box/app.json",
        "at /startup_scripts/0",
        "box/setup.py does not exist",
    ),
    "websocket_negative_rate": (
        {
            "web/bad/box/app.json": {
                "name": "bad",
                "websockets": {"handler": "ws.py", "max_messages_per_second": -1},
            },
            "web/bad/box/ws.py": "async def handle(socket, ctx):\n    pass\n",
        },
        "web/bad/box/app.json",
        "at /websockets/max_messages_per_second",
        "less than the minimum of 0",
    ),
    "websocket_send_buffer_not_a_size": (
        {
            "web/bad/box/app.json": {
                "name": "bad",
                "websockets": {"handler": "ws.py", "max_send_buffer_bytes": "lots"},
            },
            "web/bad/box/ws.py": "async def handle(socket, ctx):\n    pass\n",
        },
        "web/bad/box/app.json",
        "at /websockets/max_send_buffer_bytes",
        "expected",
    ),
    "unset_env_secret": (
        {"web/bad/box/app.json": {"name": "bad", "jwt": {"secret": "env:GINGEE_TEST_SURELY_UNSET"}}},
        "web/bad/box/app.json",
        "at the top level",
        "GINGEE_TEST_SURELY_UNSET",
    ),
}


@pytest.mark.parametrize("case", sorted(BROKEN))
def test_broken_manifest_beside_healthy_app(case, make_project, serve, client, caplog):
    files, label, where, expected = BROKEN[case]
    project = make_project({"web/good/box/app.json": {"name": "good"}, "web/good/box/ok.py": OK, **files})
    with caplog.at_level(logging.ERROR, logger="gingee.project"):
        server = serve(project, dev=False)
    assert client.get(server.url("/good/ok")).json() == {"ok": "good"}
    error = server.project.errors["bad"]
    assert label in error and where in error and expected in error, error
    assert any(label in r.getMessage() and expected in r.getMessage() for r in caplog.records)
    reply = client.get(server.url("/bad/anything"))
    assert reply.status_code == 503
    assert reply.json()["error"] == "APP_UNAVAILABLE"
    assert label not in reply.text  # production: details go to the log, not to clients


def test_dev_mode_shows_the_load_error_to_the_author(make_project, serve, client):
    project = make_project({"web/bad/box/app.json": {"name": "bad", "public": "yes"}})
    server = serve(project, dev=True)
    reply = client.get(server.url("/bad/x"))
    assert reply.status_code == 503
    assert "at /public: expected boolean" in reply.json()["reason"]


def test_failing_startup_script_keeps_only_that_app_down(make_project, serve, client):
    project = make_project(
        {
            "web/good/box/app.json": {"name": "good"},
            "web/good/box/ok.py": OK,
            "web/bad/box/app.json": {"name": "bad", "startup_scripts": ["boom.py"]},
            "web/bad/box/boom.py": "def handle(g):\n    raise RuntimeError('no database today')\n",
            "web/bad/box/ok.py": OK,
        }
    )
    server = serve(project)
    assert client.get(server.url("/good/ok")).status_code == 200
    assert (
        "startup script box/boom.py failed: RuntimeError: no database today" in server.project.errors["bad"]
    )
    assert client.get(server.url("/bad/ok")).status_code == 503


def test_startup_script_runs_once_at_load_as_the_app(make_project, serve, client):
    project = make_project(
        {
            "web/a/box/app.json": {"name": "a", "startup_scripts": ["init.py"]},
            "web/a/box/init.py": "from gingee_kernel.engine.context import current_app\n"
            "def handle(g):\n    current_app().state['boots'] = current_app().state.get('boots', 0) + 1\n",
            "web/a/box/count.py": "from gingee_kernel.engine.context import current_app\n"
            "async def handle(g):\n    g.response.send(current_app().state['boots'])\n",
        }
    )
    server = serve(project)
    assert client.get(server.url("/a/count")).json() == 1
    assert client.get(server.url("/a/count")).json() == 1
    assert client.get(server.url("/a/init")).status_code == 404  # startup scripts are not URL routes


def test_secrets_resolved_from_env_and_file(make_project, serve, client, monkeypatch):
    monkeypatch.setenv("GINGEE_TEST_GREETING", "bonjour")
    project = make_project(
        {
            "settings/secrets/api-key": "s3cr3t\n",
            "web/a/box/app.json": {
                "name": "a",
                "env": {"greeting": "env:GINGEE_TEST_GREETING", "key": "file:api-key"},
            },
            "web/a/box/env.py": "async def handle(g):\n    g.response.send(g.app.env)\n",
        }
    )
    server = serve(project)
    assert client.get(server.url("/a/env")).json() == {"greeting": "bonjour", "key": "s3cr3t"}


def test_file_secret_outside_roots_is_refused(make_project, serve):
    project = make_project(
        {
            "outside.txt": "leak",
            "web/a/box/app.json": {"name": "a", "env": {"key": "file:../../outside.txt"}},
        }
    )
    server = serve(project)
    assert "was not found under the secret roots" in server.project.errors["a"]


def test_broken_gingee_json_stops_the_server_with_a_clear_error(make_project):
    project = make_project({"gingee.json": {"limits": {"request_timeout_ms": "soon"}}})
    with pytest.raises(ManifestError) as info:
        Server(project)
    assert (
        str(info.value) == 'gingee.json: at /limits/request_timeout_ms: expected integer, got string "soon"'
    )


def test_a_cluster_name_that_cannot_be_a_channel_name_stops_the_server(make_project):
    project = make_project({"gingee.json": {"cluster": {"name": "my project"}}})
    with pytest.raises(ManifestError) as info:
        Server(project)
    assert str(info.value).startswith("gingee.json: at /cluster/name:")


def test_reload_picks_up_fixed_manifest(make_project, serve, client):
    project = make_project({"web/a/box/app.json": {"name": "a", "typo": 1}, "web/a/box/ok.py": OK})
    server = serve(project, dev=False)
    assert client.get(server.url("/a/ok")).status_code == 503
    (project / "web/a/box/app.json").write_text('{"name": "a"}')
    server.call(server.project.reload("a"))
    assert client.get(server.url("/a/ok")).json() == {"ok": "a"}


@pytest.mark.parametrize("kind", manifest.SCHEMAS)
def test_every_shipped_schema_is_a_valid_json_schema(kind):
    # manifest.validator() skips the meta-schema check at start; it is made here instead
    compiled = manifest.validator(kind)
    type(compiled).check_schema(compiled.schema)
