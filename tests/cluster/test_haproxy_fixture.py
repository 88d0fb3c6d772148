"""The `haproxy` fixture in front of two real `gingee serve` nodes: round robin over both, a node that
fails its health check (or stops) is taken out while traffic keeps flowing to the other, and
X-Forwarded-For reaches the node."""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable
from pathlib import Path

import httpx

from tests.fixtures.haproxy import HAProxy
from tests.fixtures.servers import RunningServer

# A health check the test controls, an app route of the node's own: 200 unless its "sick" file exists.
HEALTH = "/n/health"


def node_files(name: str, sick: Path) -> dict[str, object]:
    """A one-app project whose /n/who names the node and echoes X-Forwarded-For; /n/health as above."""
    who = (
        "async def handle(g):\n"
        f"    g.response.send({{'node': {name!r}, 'xff': g.request.headers.get('X-Forwarded-For')}})\n"
    )
    health = (
        "import os\n\n\n"
        "async def handle(g):\n"
        f"    if os.path.exists({str(sick)!r}):\n"
        "        g.response.status(503)\n"
        "        g.response.send({'ready': False})\n"
        "    else:\n"
        "        g.response.send({'ready': True})\n"
    )
    return {
        "gingee.json": {},
        "web/n/box/app.json": {"name": "n"},
        "web/n/box/who.py": who,
        "web/n/box/health.py": health,
    }


def two_nodes(
    tmp_path: Path, make_project: Callable[..., Path], serve: Callable[..., RunningServer]
) -> dict[str, RunningServer]:
    """Nodes "a" and "b", each serving its own project; "sick" files at tmp_path/sick-<name>."""
    return {
        name: serve(make_project(node_files(name, tmp_path / f"sick-{name}"), name=name), dev=False)
        for name in ("a", "b")
    }


def proxy_for(
    haproxy: Callable[..., HAProxy], nodes: dict[str, RunningServer], health_path: str | None = HEALTH
) -> HAProxy:
    """An HAProxy over `nodes` (health check: `health_path`, None for the default), all of them UP."""
    options = {} if health_path is None else {"health_path": health_path}
    proxy = haproxy([(name, "127.0.0.1", node.port) for name, node in nodes.items()], **options)
    proxy.wait_until(set(nodes))
    return proxy


def who(http: httpx.Client, proxy: HAProxy, count: int) -> Counter[str]:
    """`count` requests through the proxy (all must be 200): how many each node answered."""
    seen: Counter[str] = Counter()
    for _ in range(count):
        reply = http.get(proxy.url("/n/who"))
        assert reply.status_code == 200, reply.text
        seen[reply.json()["node"]] += 1
    return seen


def test_requests_are_spread_over_both_nodes_with_x_forwarded_for(
    tmp_path: Path, make_project, serve, haproxy, client: httpx.Client
) -> None:
    nodes = two_nodes(tmp_path, make_project, serve)
    # The default health check: gingee's own readiness endpoint.
    proxy = proxy_for(haproxy, nodes, health_path=None)
    assert proxy.health_path == "/_gingee/health/ready"
    assert proxy.servers_up() == {"a", "b"}
    # One keep-alive client connection: roundrobin still balances request by request.
    assert who(client, proxy, 20) == {"a": 10, "b": 10}
    reply = client.get(proxy.url("/n/who"))
    assert reply.json()["xff"] == "127.0.0.1"
    # Straight to a node, nobody adds the header.
    assert client.get(nodes["a"].url("/n/who")).json()["xff"] is None


def test_a_node_failing_its_health_check_is_taken_out_and_comes_back(
    tmp_path: Path, make_project, serve, haproxy, client: httpx.Client
) -> None:
    nodes = two_nodes(tmp_path, make_project, serve)
    proxy = proxy_for(haproxy, nodes)
    (tmp_path / "sick-b").touch()
    # fall 2 at inter 200 ms: DOWN after about 0.4 s.
    assert proxy.wait_until({"a"}, timeout=5) < 3
    assert who(client, proxy, 10) == {"a": 10}
    rows = {row["svname"]: row for row in proxy.stats()}
    assert rows["b"]["status"] == "DOWN" and rows["b"]["check_status"] == "L7STS"
    (tmp_path / "sick-b").unlink()
    proxy.wait_until({"a", "b"}, timeout=5)
    assert set(who(client, proxy, 4)) == {"a", "b"}


def test_a_stopped_node_is_taken_out_and_traffic_keeps_flowing(
    tmp_path: Path, make_project, serve, haproxy, client: httpx.Client
) -> None:
    nodes = two_nodes(tmp_path, make_project, serve)
    proxy = proxy_for(haproxy, nodes)
    nodes["b"].stop()
    proxy.wait_until({"a"}, timeout=5)
    assert {row["svname"]: row["check_status"] for row in proxy.stats()}["b"] == "L4CON"
    assert who(client, proxy, 10) == {"a": 10}


def test_the_config_carries_the_options() -> None:
    proxy = HAProxy([("x", "127.0.0.1", 1)], inter_ms=500, fall=3, rise=2, retries=2, redispatch=True)
    try:
        text = proxy.config()
    finally:
        proxy.close()
    for line in (
        "balance roundrobin",
        "option httpchk GET /_gingee/health/ready",
        "http-check expect status 200",
        "default-server check inter 500ms fall 3 rise 2",
        "server x 127.0.0.1:1",
        "retries 2",
        "option redispatch",
        "option forwardfor",
        "timeout tunnel 3600000ms",
        "level admin",
    ):
        assert line in text, line
