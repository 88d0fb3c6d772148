"""What a load balancer asks a node: liveness, readiness that fails while the node drains after SIGTERM
or while its queue's Redis is down, and that the answers name no hosts."""

from __future__ import annotations

import json
import signal
from pathlib import Path

import pytest

from tests.fixtures.servers import write_files

from .nodes import Node, PrivateRedis

APP = {
    "web/a/box/app.json": {"name": "a"},
    "web/a/box/hi.py": "async def handle(g):\n    g.response.send('hi')\n",
}


def project(tmp_path: Path, config: dict) -> Path:
    return write_files(tmp_path / "node", {"gingee.json": config, **APP})


@pytest.fixture
def nodes():
    started: list[Node] = []
    yield started
    for node in started:
        node.stop()


def test_liveness_and_readiness_answer_json_that_is_never_cached(tmp_path, nodes) -> None:
    node = Node(project(tmp_path, {})).start()
    nodes.append(node)
    live = node.get("/_gingee/health")
    assert live.status_code == 200
    assert live.headers["Cache-Control"] == "no-store"
    assert live.json()["status"] == "ok" and live.json()["draining"] is False
    ready = node.get("/_gingee/health/ready")
    assert (ready.status_code, ready.json()) == (200, {"ready": True, "reasons": []})


def test_readiness_fails_while_the_queue_redis_is_down_and_recovers(tmp_path, nodes) -> None:
    redis = PrivateRedis(tmp_path / "redis").start()
    try:
        node = Node(project(tmp_path, {"queue": {"driver": "arq", "redis": {"url": redis.url}}})).start()
        nodes.append(node)
        assert node.get("/_gingee/health/ready").status_code == 200
        redis.stop()
        node.wait_until(lambda: node.get("/_gingee/health/ready").status_code == 503, "turn unready")
        answer = node.get("/_gingee/health/ready")
        assert answer.json() == {"ready": False, "reasons": ["queue redis unreachable"]}
        assert str(redis.port) not in answer.text  # components are named, never hosts
        assert node.get("/_gingee/health").status_code == 200  # alive all the same
        assert node.get("/a/hi").text == "hi"  # and the apps still answer what needs no queue
        redis.start()
        node.wait_until(lambda: node.get("/_gingee/health/ready").status_code == 200, "turn ready again")
    finally:
        redis.stop()


@pytest.mark.parametrize("server", ["tornado", "asgi"])
def test_sigterm_drains_readiness_fails_while_the_apps_still_serve(tmp_path, nodes, server) -> None:
    node = Node(project(tmp_path, {"server": {"drain_ms": 60_000}}), server=server).start()
    nodes.append(node)
    node.signal(signal.SIGTERM)
    node.wait_until(lambda: node.get("/_gingee/health/ready").status_code == 503, "start draining")
    assert node.get("/_gingee/health/ready").json() == {"ready": False, "reasons": ["draining"]}
    assert node.get("/_gingee/health").json()["draining"] is True
    assert node.get("/a/hi").text == "hi"  # a balancer still sending traffic is answered
    node.signal(signal.SIGTERM)  # a second SIGTERM stops at once
    assert node.proc is not None and node.proc.wait(20) == 0
    assert "draining for 60 s" in node.log()


def test_health_paths_are_not_an_app(tmp_path, nodes) -> None:
    node = Node(project(tmp_path, {})).start()
    nodes.append(node)
    assert node.get("/_gingee/health/other").status_code == 404
    assert json.loads(node.get("/_gingee/health").text)["pid"] == node.proc.pid


def test_a_fleet_node_booted_without_its_redis_serves_but_is_not_ready_until_it_caught_up(tmp_path, nodes):
    redis = PrivateRedis(tmp_path / "redis")  # not started yet
    config = {"cluster": {"name": "solo", "redis": {"url": redis.url}, "sync_interval_ms": 200}}
    node = Node(project(tmp_path, config)).start()
    nodes.append(node)
    try:
        answer = node.get("/_gingee/health/ready")
        assert (answer.status_code, answer.json()["reasons"]) == (503, ["fleet redis unreachable"])
        assert node.get("/a/hi").text == "hi"  # what it has on disk still answers
        redis.start()
        node.wait_until(lambda: node.get("/_gingee/health/ready").status_code == 200, "catch up and be ready")
        assert node.get("/_gingee/health").json()["node"].endswith(f":{node.proc.pid}")  # hostname:pid
    finally:
        redis.stop()
