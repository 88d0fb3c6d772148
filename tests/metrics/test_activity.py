"""Real activity moves /metrics: jobs run by `gingee serve`'s memory queue (one succeeds, one fails once
and is retried, one dies), messages over a real websocket, and requests whose duration histogram is split
by status class. Every value is read back from a scrape of `/metrics`, parsed by prometheus-client."""

from __future__ import annotations

import json

import httpx
import pytest

from tests.fixtures.queue_scripts import ENQUEUE, WAIT
from tests.modules.ws.conftest import Connect, recv, shut, ws_url
from tests.modules.ws.conftest import ws as ws  # a fixture

from .helpers import Scrape, scrape

APP = "activity"

OK_JOB = "async def handle(g):\n    return {'done': g.job.payload['n']}\n"
FLAKY_JOB = """
async def handle(g):
    if g.job.attempt == 1:
        raise RuntimeError("the first attempt fails on purpose")
    return {"attempt": g.job.attempt}
"""
DOOMED_JOB = "async def handle(g):\n    raise RuntimeError('this job always fails')\n"

ECHO = """
from gingee_kernel import cache

async def handle(socket, ctx):
    socket.send({"hello": socket.id})
    socket.on_message(lambda text: socket.send({"echo": text}))

    @socket.on_close
    async def closed():
        await cache.set("closed:" + socket.id, True)
"""
CLOSED = """
from gingee_kernel import cache

async def handle(g):
    return {"closed": bool(await cache.get("closed:" + g.request.query["id"]))}
"""
ITEM = """
from gingee_kernel import HttpError

async def handle(g):
    if g.request.params["id"] == "0":
        raise HttpError(404, "NO_ITEM", "there is no item 0")
    return {"id": g.request.params["id"]}
"""

FILES = {
    "gingee.json": {"queue": {"driver": "memory", "default_backoff_ms": 0}},
    f"web/{APP}/box/app.json": {"name": APP, "websockets": {"path": "/ws", "handler": "echo.py"}},
    f"web/{APP}/box/pmft.json": {"permissions": {"mandatory": ["queue", "websockets", "cache"]}},
    f"web/{APP}/box/routes.json": {"routes": [{"path": "/items/:id", "method": "GET", "script": "item.py"}]},
    f"web/{APP}/box/enqueue.py": ENQUEUE,
    f"web/{APP}/box/wait.py": WAIT,
    f"web/{APP}/box/jobs/ok.py": OK_JOB,
    f"web/{APP}/box/jobs/flaky.py": FLAKY_JOB,
    f"web/{APP}/box/jobs/doomed.py": DOOMED_JOB,
    f"web/{APP}/box/echo.py": ECHO,
    f"web/{APP}/box/closed.py": CLOSED,
    f"web/{APP}/box/item.py": ITEM,
}
EVENTS = ("enqueued", "started", "succeeded", "failed", "retried", "dead")
#: What each job's run adds to gingee_jobs_total (and how many attempts it observes in the histogram).
EXPECTED = {
    "ok": ({"enqueued": 1, "started": 1, "succeeded": 1}, 1),
    "flaky": ({"enqueued": 1, "started": 2, "failed": 1, "retried": 1, "succeeded": 1}, 2),
    "doomed": ({"enqueued": 1, "started": 1, "failed": 1, "dead": 1}, 1),
}


@pytest.fixture
def server(make_project, serve):
    return serve(make_project(FILES))


def metrics(client: httpx.Client, server) -> Scrape:
    return scrape(client, server.url("/metrics"))


def run_job(client: httpx.Client, server, job: str, attempts: int) -> dict:
    """Enqueue `job` through the app's route, then wait for it through another: its result or death."""
    added = client.get(server.url(f"/{APP}/enqueue"), params={"job": job, "attempts": attempts, "n": 1})
    assert added.status_code == 200, added.text
    waited = client.get(server.url(f"/{APP}/wait"), params={"id": added.json()["id"]})
    assert waited.status_code == 200, waited.text
    return waited.json()


def test_jobs_move_their_events_and_durations(server, client):
    before = metrics(client, server)
    assert run_job(client, server, "ok", 1) == {"result": {"done": "1"}}
    assert run_job(client, server, "flaky", 2) == {"result": {"attempt": 2}}
    assert run_job(client, server, "doomed", 1) == {"dead": "RuntimeError: this job always fails"}
    after = metrics(client, server)

    for job, (events, attempts) in EXPECTED.items():
        moved = {e: after.moved(before, "gingee_jobs_total", app=APP, job_name=job, event=e) for e in EVENTS}
        assert moved == {e: events.get(e, 0) for e in EVENTS}, job
        count = after.moved(before, "gingee_job_duration_seconds_count", app=APP, job_name=job)
        assert count == attempts, job
        inf = after.moved(before, "gingee_job_duration_seconds_bucket", app=APP, job_name=job, le="+Inf")
        assert inf == attempts, job
    assert after.value("gingee_queue_depth", app=APP) == 0  # nothing left waiting


def closed(client: httpx.Client, server, socket_id: str) -> None:
    """Return once the server ran the socket's on_close callback (after it counted the close), bounded."""
    for _ in range(500):
        if client.get(server.url(f"/{APP}/closed"), params={"id": socket_id}).json()["closed"]:
            return
    raise AssertionError(f"the server never ran on_close of socket {socket_id}")


async def test_websocket_connections_and_messages(server, client, ws: Connect):
    before = metrics(client, server)
    first = await ws(ws_url(server, f"/{APP}/ws"))
    second = await ws(ws_url(server, f"/{APP}/ws"))
    first_id, second_id = (await recv(first))["hello"], (await recv(second))["hello"]
    for text in ("one", "two", "three"):
        first.write_message(text)
        assert await recv(first) == {"echo": text}
    second.write_message(json.dumps({"n": 4}))
    assert await recv(second) == {"echo": '{"n": 4}'}
    open_both = metrics(client, server)

    await shut(first)
    closed(client, server, first_id)
    open_one = metrics(client, server)
    await shut(second)
    closed(client, server, second_id)
    after = metrics(client, server)

    connections = "gingee_websocket_connections"
    assert open_both.moved(before, connections, app=APP) == 2
    assert open_one.moved(before, connections, app=APP) == 1
    assert after.moved(before, connections, app=APP) == 0
    messages = "gingee_websocket_messages_total"
    assert open_both.moved(before, messages, app=APP, direction="in") == 4
    assert open_both.moved(before, messages, app=APP, direction="out") == 6  # 2 hellos, 4 echoes
    assert after.moved(open_both, messages, app=APP, direction="in") == 0
    assert after.moved(open_both, messages, app=APP, direction="out") == 0


def test_durations_are_split_by_status_class(server, client):
    before = metrics(client, server)
    assert client.get(server.url(f"/{APP}/items/7")).json() == {"id": "7"}
    assert client.get(server.url(f"/{APP}/items/0")).status_code == 404
    after = metrics(client, server)

    route = {"app": APP, "route": "/items/:id", "method": "GET"}
    count, inf = "gingee_http_request_duration_seconds_count", "gingee_http_request_duration_seconds_bucket"
    for status_class in ("2xx", "4xx"):
        labels = {**route, "status_class": status_class}
        assert after.moved(before, "gingee_http_requests_total", **labels) == 1, status_class
        assert after.moved(before, count, **labels) == 1, status_class
        assert after.moved(before, inf, le="+Inf", **labels) == 1, status_class
        assert after.value("gingee_http_request_duration_seconds_sum", **labels) > 0, status_class
    histograms = [labels for labels in after.labelsets(count) if labels.items() >= route.items()]
    assert sorted(labels["status_class"] for labels in histograms) == ["2xx", "4xx"]
    assert "items/7" not in after.text and "items/0" not in after.text  # the pattern, never the URL
