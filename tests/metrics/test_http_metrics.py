"""HTTP metrics over a real `gingee serve`: the values on /metrics move as requests, errors, 404s, limit
refusals, permission denials and cache reads happen; labels hold route patterns, never raw URLs."""

from __future__ import annotations

import socket

import httpx
import pytest

from tests.fixtures.gate import GATE, held_request

from .helpers import Scrape, scrape

CACHED = """
from gingee_kernel import cache

async def handle(g):
    first = await cache.get("k")
    await cache.set("k", 1)
    g.response.send({"first": first, "second": await cache.get("k")})
"""

USES_CACHE = "from gingee_kernel import cache\nasync def handle(g):\n    await cache.get('k')\n"

FILES = {
    "gingee.json": {"max_body_size": "1kb"},
    "web/a/box/app.json": {"name": "a", "limits": {"max_concurrent_requests": 1}},
    "web/a/box/pmft.json": {"permissions": {"mandatory": ["cache"]}},
    "web/a/box/routes.json": {"routes": [{"path": "/users/:id", "method": "GET", "script": "user.py"}]},
    "web/a/box/user.py": "async def handle(g):\n    g.response.send({'id': g.request.params['id']})\n",
    "web/a/box/ok.py": "async def handle(g):\n    g.response.send('ok')\n",
    "web/a/box/boom.py": "async def handle(g):\n    raise RuntimeError('boom')\n",
    "web/a/box/gate.py": GATE,
    "web/a/box/cached.py": CACHED,
    "web/a/index.html": "<p>hi</p>",
    # The short budget has an app of its own: a request held in app "a" must not run out of time.
    "web/t/box/app.json": {"name": "t", "limits": {"request_timeout_ms": 300}},
    "web/t/box/slow.py": "import asyncio\nasync def handle(g):\n    await asyncio.sleep(5)\n",
    "web/nocache/box/app.json": {"name": "nocache"},
    "web/nocache/box/use.py": USES_CACHE,
    "web/closed/box/app.json": {"name": "closed", "maintenance": True},
    "web/broken/box/app.json": {"name": 42},
}


@pytest.fixture
def server(make_project, serve):
    return serve(make_project(FILES))


def metrics(client: httpx.Client, server) -> Scrape:
    return scrape(client, server.url("/metrics"))


def requests(s: Scrape, app: str, route: str, status_class: str, method: str = "GET") -> float:
    return s.value(
        "gingee_http_requests_total", app=app, route=route, method=method, status_class=status_class
    )


def test_requests_and_durations_move_by_route_pattern(server, client):
    before = metrics(client, server)
    for _ in range(3):
        assert client.get(server.url("/a/ok")).text == "ok"
    assert client.post(server.url("/a/ok")).status_code == 200
    after = metrics(client, server)
    assert requests(after, "a", "/ok", "2xx") - requests(before, "a", "/ok", "2xx") == 3
    assert requests(after, "a", "/ok", "2xx", "POST") - requests(before, "a", "/ok", "2xx", "POST") == 1
    count = "gingee_http_request_duration_seconds_count"
    ok = {"app": "a", "route": "/ok", "method": "GET", "status_class": "2xx"}
    assert after.moved(before, count, **ok) == 3
    inf = after.value("gingee_http_request_duration_seconds_bucket", le="+Inf", **ok)
    assert inf == after.value(count, **ok)
    assert after.value("gingee_http_request_duration_seconds_sum", **ok) > 0


def test_labels_hold_the_pattern_never_the_raw_url(server, client):
    # The id is not all digits: a digit run could turn up inside a sample's float value by chance.
    assert client.get(server.url("/a/users/u123987x?x=s3cr3tvalue")).json() == {"id": "u123987x"}
    after = metrics(client, server)
    assert requests(after, "a", "/users/:id", "2xx") >= 1
    assert "u123987x" not in after.text
    assert "s3cr3tvalue" not in after.text


def test_errors_and_404s_are_counted_by_status_class(server, client):
    before = metrics(client, server)
    assert client.get(server.url("/a/boom")).status_code == 500
    assert client.get(server.url("/a/nothing-here.txt")).status_code == 404
    assert client.get(server.url("/no-such-app-xyz/page")).status_code == 404
    after = metrics(client, server)
    assert requests(after, "a", "/boom", "5xx") - requests(before, "a", "/boom", "5xx") == 1
    count = "gingee_http_request_duration_seconds_count"
    assert after.moved(before, count, app="a", route="/boom", method="GET", status_class="5xx") == 1
    assert after.value(count, app="a", route="/boom", method="GET", status_class="2xx") == 0
    assert requests(after, "a", "static", "4xx") - requests(before, "a", "static", "4xx") == 1
    # An unknown app is user data: it is counted under app "-" and its name appears nowhere.
    assert requests(after, "-", "-", "4xx") - requests(before, "-", "-", "4xx") == 1
    assert "no-such-app-xyz" not in after.text


def raw_request(port: int, data: bytes) -> bytes:
    with socket.create_connection(("127.0.0.1", port), timeout=10) as sock:
        sock.sendall(data)
        chunks = []
        while chunk := sock.recv(65536):
            chunks.append(chunk)
        return b"".join(chunks)


def rejections(s: Scrape, app: str, limit: str) -> float:
    return s.value("gingee_limit_rejections_total", app=app, limit=limit)


def test_413_refused_before_dispatch_is_counted(server, client):
    before = metrics(client, server)
    head = b"POST /a/ok HTTP/1.1\r\nHost: x\r\nContent-Length: 50000000\r\n\r\n"
    assert raw_request(server.port, head).startswith(b"HTTP/1.1 413")
    chunk = b"x" * 800
    body = b"".join(b"%x\r\n%s\r\n" % (len(chunk), chunk) for _ in range(3)) + b"0\r\n\r\n"
    head = b"POST /a/ok HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n"
    assert raw_request(server.port, head + body).startswith(b"HTTP/1.1 413")
    after = metrics(client, server)
    assert rejections(after, "a", "body_size") - rejections(before, "a", "body_size") == 2
    assert requests(after, "a", "-", "4xx", "POST") - requests(before, "a", "-", "4xx", "POST") == 2


def test_504_is_a_timeout_rejection(server, client):
    before = metrics(client, server)
    assert client.get(server.url("/t/slow")).status_code == 504
    after = metrics(client, server)
    assert rejections(after, "t", "timeout") - rejections(before, "t", "timeout") == 1
    assert requests(after, "t", "/slow", "5xx") - requests(before, "t", "/slow", "5xx") == 1


def test_concurrency_503_is_a_rejection_and_in_flight_shows_the_waiting_request(server, client):
    before = metrics(client, server)
    with held_request(server, "a", "/a/gate") as results:
        assert client.get(server.url("/a/gate")).json()["error"] == "TOO_MANY_REQUESTS"
        during = metrics(client, server)
    assert results[0].text == "done"
    assert during.value("gingee_http_requests_in_flight", app="a") == 1
    assert rejections(during, "a", "concurrency") - rejections(before, "a", "concurrency") == 1
    assert metrics(client, server).value("gingee_http_requests_in_flight", app="a") == 0


def test_maintenance_and_unloadable_apps_are_not_limit_rejections(server, client):
    before = metrics(client, server)
    assert client.get(server.url("/closed/x")).json()["error"] == "MAINTENANCE"
    assert client.get(server.url("/broken/x")).json()["error"] == "APP_UNAVAILABLE"
    after = metrics(client, server)
    name = "gingee_limit_rejections_total"
    assert after.labelsets(name) == before.labelsets(name)
    assert all(after.moved(before, name, **labels) == 0 for labels in after.labelsets(name))
    assert requests(after, "closed", "-", "5xx") - requests(before, "closed", "-", "5xx") == 1


def test_app_load_errors_are_counted(make_project, serve, client):
    project = make_project(FILES)
    first = serve(project)
    loaded = metrics(client, first).value("gingee_app_load_errors_total", app="broken")
    assert loaded >= 1
    first.call(first.project.reload("broken"))
    assert metrics(client, first).value("gingee_app_load_errors_total", app="broken") == loaded + 1


def test_cache_hits_and_misses(server, client):
    before = metrics(client, server)
    assert client.get(server.url("/a/cached")).json() == {"first": None, "second": 1}
    after = metrics(client, server)
    lookups = "gingee_cache_lookups_total"
    assert after.moved(before, lookups, app="a", result="miss") == 1
    assert after.moved(before, lookups, app="a", result="hit") == 1


def test_permission_denials(server, client):
    before = metrics(client, server)
    assert client.get(server.url("/nocache/use")).status_code == 500
    after = metrics(client, server)
    denials = "gingee_permission_denials_total"
    assert after.moved(before, denials, app="nocache", module="cache") == 1


def test_build_info(server, client):
    from gingee_kernel import __version__

    assert metrics(client, server).value("gingee_build_info", version=__version__) == 1
