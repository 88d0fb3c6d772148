"""Permissions: grants file, `gingee grant`, dev auto-grant with a log line, clear PermissionDenied."""

from __future__ import annotations

import json
import logging

from gingee_kernel.cli import main

USES_CACHE = """
from gingee_kernel import cache, PermissionDenied

async def handle(g):
    try:
        await cache.set("k", 1)
    except PermissionDenied as exc:
        g.response.send({"denied": str(exc)}, status=403)
        return
    g.response.send({"value": await cache.get("k")})
"""

FILES = {
    "web/a/box/app.json": {"name": "a"},
    "web/a/box/pmft.json": {"permissions": {"mandatory": ["cache"]}},
    "web/a/box/use.py": USES_CACHE,
}


def test_ungranted_module_raises_permission_denied_naming_app_module_and_fix(make_project, serve, client):
    server = serve(make_project(FILES), dev=False)
    reply = client.get(server.url("/a/use"))
    assert reply.status_code == 403
    message = reply.json()["denied"]
    assert "app 'a' is not granted the 'cache' permission" in message
    assert "gingee grant PROJECT a cache" in message


def test_uncaught_permission_denied_is_a_500_without_details(make_project, serve, client):
    project = make_project(
        {
            **FILES,
            "web/a/box/raw.py": "from gingee_kernel import cache\n"
            "async def handle(g):\n    await cache.get('k')\n",
        }
    )
    server = serve(project, dev=False)
    reply = client.get(server.url("/a/raw"))
    assert reply.status_code == 500 and "cache" not in reply.text


def test_gingee_grant_then_serve(make_project, serve, client, capsys):
    project = make_project(FILES)
    assert main(["grant", str(project), "a", "cache"]) == 0
    assert "app 'a' is granted: cache" in capsys.readouterr().out
    saved = json.loads((project / "settings/permissions.json").read_text())
    assert saved == {"a": {"granted": ["cache"]}}
    server = serve(project, dev=False)
    assert client.get(server.url("/a/use")).json() == {"value": 1}
    assert main(["grant", str(project), "a", "cache", "--revoke"]) == 0
    server.call(server.project.reload("a"))
    assert client.get(server.url("/a/use")).status_code == 403


def test_grant_refuses_unknown_permission(make_project, capsys):
    project = make_project(FILES)
    assert main(["grant", str(project), "a", "rootkit"]) == 2
    assert "unknown permission(s) rootkit; known: db, cache" in capsys.readouterr().err
    assert not (project / "settings/permissions.json").exists()


def test_dev_mode_grants_what_pmft_declares_with_a_log_line(make_project, serve, client, caplog):
    with caplog.at_level(logging.INFO, logger="gingee.permissions"):
        server = serve(make_project(FILES), dev=True)
    assert client.get(server.url("/a/use")).json() == {"value": 1}
    assert "dev mode: granting app 'a' what its pmft.json declares: cache" in caplog.text


def test_dev_mode_does_not_grant_undeclared_modules(make_project, serve, client):
    files = {**FILES, "web/a/box/pmft.json": {"permissions": {"mandatory": []}}}
    server = serve(make_project(files), dev=True)
    assert client.get(server.url("/a/use")).status_code == 403


def test_module_outside_an_app_says_so():
    import asyncio

    from gingee_kernel import NoAppContext, cache

    try:
        asyncio.run(cache.get("k"))
    except NoAppContext as exc:
        assert "no Gingee app is running here" in str(exc)
    else:
        raise AssertionError("cache worked outside an app")
