"""Requests to an isolated app are answered by its worker process, exactly as in process."""

from __future__ import annotations

import os

import httpx

from .conftest import app_files

HELLO = """
import os

async def handle(g):
    g.response.set_cookie("seen", "1")
    g.response.set_header("X-Worker", str(os.getpid()))
    return {"pid": os.getpid(), "method": g.request.method, "body": g.request.body,
            "query": g.request.query, "app": g.app.name}
"""


def test_an_isolated_app_answers_from_its_own_process(isolated, client: httpx.Client) -> None:
    server = isolated(
        {
            **app_files("iso", {"hello.py": HELLO}),
            **app_files("inproc", {"hello.py": HELLO}),
            "web/iso/index.html": "<h1>static</h1>",
        },
        isolation={"mode": "process", "apps": ["iso"]},
    )
    reply = client.post(server.url("/iso/hello?x=1"), json={"a": [1, 2]})
    assert reply.status_code == 200, reply.text
    data = reply.json()
    assert data["pid"] != os.getpid()
    expected = {"method": "POST", "body": {"a": [1, 2]}, "query": {"x": "1"}, "app": "iso"}
    assert data == {"pid": data["pid"], **expected}
    assert reply.headers["X-Worker"] == str(data["pid"])
    assert reply.cookies["seen"] == "1"
    # the same worker answers the next request; the other app runs in the server's own process
    assert client.get(server.url("/iso/hello")).json()["pid"] == data["pid"]
    assert client.get(server.url("/inproc/hello")).json()["pid"] == os.getpid()
    # static files are served by the master
    assert client.get(server.url("/iso/index.html")).text == "<h1>static</h1>"
    # and the box stays private
    assert client.get(server.url("/iso/box/hello.py")).status_code == 403


def test_the_operator_api_shows_an_isolated_apps_worker(isolated, client: httpx.Client) -> None:
    server = isolated(
        {**app_files("iso", {"hello.py": HELLO}), **app_files("plain", {"hello.py": HELLO})},
        isolation={"mode": "process", "apps": ["iso"]},
    )

    def listed() -> dict:
        reply = client.get(server.url("/_gingee/api/apps"))
        assert reply.status_code == 200, reply.text
        return {app["name"]: app for app in reply.json()["apps"]}

    assert listed()["iso"]["isolation"] == {"worker": "iso", "pid": None, "restarts": 0, "error": None}
    assert listed()["plain"]["isolation"] is None
    pid = client.get(server.url("/iso/hello")).json()["pid"]
    assert listed()["iso"]["isolation"]["pid"] == pid
