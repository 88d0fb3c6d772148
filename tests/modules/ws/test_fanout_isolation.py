"""Two projects on one real Redis: Redis pub/sub channels belong to the whole server, not to a database, so
the fan-out channel prefix is what keeps projects apart. By default it carries the project's name
(gingee.json `cluster.name`, else the project folder's name); projects that would still share one are
warned about at start, on both sides."""

from __future__ import annotations

import asyncio
import json
import logging
import time
import uuid
from urllib.parse import urlsplit, urlunsplit

import pytest

from tests.fixtures.servers import write_files

from .conftest import chat_files, recv, ws_url
from .test_fanout import joined, push

pytestmark = pytest.mark.redis

WARNING = "publishes on"


def other_db(url: str) -> str:
    """The same Redis server, another database number."""
    parts = urlsplit(url)
    db = int(parts.path.strip("/") or 0)
    return urlunsplit(parts._replace(path=f"/{(db + 1) % 16}"))


def files(url: str, **cluster) -> dict:
    gingee = {"websockets": {"fanout": {"driver": "redis", "redis": {"url": url}}}, **cluster}
    return {
        **chat_files("chat"),
        "gingee.json": gingee,
        "settings/permissions.json": {"chat": {"granted": ["websockets", "cache"]}},
    }


async def room_member(ws, server):
    conn = await ws(ws_url(server, "/chat/ws?token=anon"))
    await recv(conn)
    await joined(conn, "news")
    return conn


async def assert_apart(a, on_a, on_b, n: int) -> None:
    """A broadcast on A reaches A's socket, and B's socket (same app and room name) sees nothing: its next
    message is its own echo (with the old server-wide prefix it got A's broadcast first)."""
    assert await push(a.url("").rstrip("/"), "news", {"n": n}) == {"sent": 1}
    assert await recv(on_a) == {"n": n}
    on_b.write_message(json.dumps({"op": "echo", "data": "only mine"}))
    assert await recv(on_b) == "only mine"


async def wait_for_log(caplog, text: str, count: int) -> None:
    deadline = time.monotonic() + 10
    while sum(text in r.getMessage() for r in caplog.records) < count:
        assert time.monotonic() < deadline, f"no {count} log lines with {text!r}"
        await asyncio.sleep(0.05)


async def test_projects_on_other_databases_do_not_receive_each_others_broadcasts(
    tmp_path, serve, ws, redis_url, caplog
):
    caplog.set_level(logging.WARNING, "gingee.websockets.fanout")
    tag = uuid.uuid4().hex[:8]
    a = serve(write_files(tmp_path / f"alpha-{tag}", files(redis_url)))
    b = serve(write_files(tmp_path / f"beta-{tag}", files(other_db(redis_url))))
    on_a, on_b = await room_member(ws, a), await room_member(ws, b)
    await assert_apart(a, on_a, on_b, 1)
    assert not any(WARNING in r.getMessage() for r in caplog.records)


async def test_two_projects_that_would_share_a_prefix_are_warned_on_both_sides(
    tmp_path, serve, ws, redis_url, caplog
):
    caplog.set_level(logging.WARNING, "gingee.websockets.fanout")
    name = f"shared-{uuid.uuid4().hex[:8]}"  # two folders of one name, in different places
    a = serve(write_files(tmp_path / "one" / name, files(redis_url)))
    b = serve(write_files(tmp_path / "two" / name, files(other_db(redis_url))))
    await room_member(ws, a)
    await room_member(ws, b)
    await wait_for_log(caplog, f"publishes on gingee:ws:{name}:broadcast too", 2)
    warned = [r.getMessage() for r in caplog.records if WARNING in r.getMessage()]
    assert any(str(tmp_path / "one" / name) in m for m in warned)
    assert any(str(tmp_path / "two" / name) in m for m in warned)
    assert all("cluster.name" in m for m in warned)


async def test_cluster_name_separates_two_folders_of_one_name(tmp_path, serve, ws, redis_url, caplog):
    caplog.set_level(logging.WARNING, "gingee.websockets.fanout")
    name = f"same-{uuid.uuid4().hex[:8]}"
    a = serve(write_files(tmp_path / "one" / name, files(redis_url, cluster={"name": f"{name}-a"})))
    b = serve(write_files(tmp_path / "two" / name, files(redis_url, cluster={"name": f"{name}-b"})))
    on_a, on_b = await room_member(ws, a), await room_member(ws, b)
    await assert_apart(a, on_a, on_b, 2)
    assert not any(WARNING in r.getMessage() for r in caplog.records)


async def test_two_servers_of_one_project_share_broadcasts_without_a_warning(
    tmp_path, serve, ws, redis_url, caplog
):
    caplog.set_level(logging.WARNING, "gingee.websockets.fanout")
    project = write_files(tmp_path / f"fleet-{uuid.uuid4().hex[:8]}", files(redis_url))
    a, b = serve(project), serve(project)
    on_a, on_b = await room_member(ws, a), await room_member(ws, b)
    assert await push(a.url("").rstrip("/"), "news", {"n": 3}) == {"sent": 1}
    assert await recv(on_a) == {"n": 3}
    assert await recv(on_b) == {"n": 3}
    assert not any(WARNING in r.getMessage() for r in caplog.records)
