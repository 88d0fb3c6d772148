"""The endpoints beside the apps, on both hosts: health and readiness (draining too), the queue API
(counts, jobs, the dead-letter queue, retry and discard, its errors and refusals), the apps API, and the
operator-only OpenAPI document, with and without gingee.json `admin.token`."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from typing import Any

import httpx
import pytest

from gingee_kernel.health import Health
from tests.fixtures.asgi import RunningAsgiServer

from .conftest import Server, json_error, raw

API = "/_gingee/api/queue"
TOKEN = "s3cret-token-for-the-contract-suite"

ENQUEUE = """
from gingee_kernel import queue

async def handle(g):
    q = g.request.query
    job = await queue.add(q["name"], {"n": 1}, job_id=q.get("id"))
    return {"id": job.id}
"""

FILES = {
    "gingee.json": {"queue": {"default_backoff_ms": 10}},
    "settings/permissions.json": {"shop": {"granted": ["queue"]}},
    "web/shop/box/app.json": {"name": "shop"},
    "web/shop/box/enqueue.py": ENQUEUE,
    "web/shop/box/routes.json": {"routes": [{"path": "/items/:id", "method": "GET", "script": "enqueue.py"}]},
    "web/shop/box/jobs/boom.py": "async def handle(g):\n    raise RuntimeError('boom')\n",
    "web/shop/box/jobs/echo.py": "async def handle(g):\n    return g.job.payload\n",
}


@pytest.fixture(scope="module")
def server(served) -> Server:
    return served(FILES, dev=False)


@pytest.fixture(scope="module")
def guarded(served) -> Server:
    """The same project with an admin token: the operator must send it."""
    return served({**FILES, "gingee.json": {"admin": {"token": TOKEN}}}, dev=False)


@pytest.fixture
def client() -> Iterator[httpx.Client]:
    with httpx.Client(timeout=10) as http:
        yield http


def health_of(server: Server) -> Health:
    return server.app.health if isinstance(server, RunningAsgiServer) else server.server.health


def wait_for(client: httpx.Client, url: str, check: Callable[[Any], bool]) -> Any:
    deadline = time.monotonic() + 10
    while True:
        body = client.get(url).json()
        if check(body):
            return body
        assert time.monotonic() < deadline, body
        time.sleep(0.02)


def test_liveness(server, client):
    reply = client.get(server.url("/_gingee/health"))
    assert reply.status_code == 200
    assert reply.headers["content-type"] == "application/json"
    assert reply.headers["cache-control"] == "no-store"
    body = reply.json()
    assert (body["status"], body["draining"], set(body)) == (
        "ok",
        False,
        {"status", "pid", "uptime_s", "draining"},
    )
    head = raw(server.port, "/_gingee/health", "HEAD")
    assert (head.status, head.body, head.header("content-length")) == (200, b"", "0")


def test_readiness_and_draining(server, client):
    ready = client.get(server.url("/_gingee/health/ready"))
    assert (ready.status_code, ready.json()) == (200, {"ready": True, "reasons": []})
    health = health_of(server)
    health.draining = True
    try:
        draining = client.get(server.url("/_gingee/health/ready"))
        assert (draining.status_code, draining.json()) == (503, {"ready": False, "reasons": ["draining"]})
        assert raw(server.port, "/_gingee/health/ready", "HEAD").status == 503
        assert client.get(server.url("/_gingee/health")).json()["draining"] is True
    finally:
        health.draining = False


def test_an_unchanged_health_answer_is_304(server, client):
    first = client.get(server.url("/_gingee/health/ready"))
    again = client.get(server.url("/_gingee/health/ready"), headers={"If-None-Match": first.headers["etag"]})
    assert (again.status_code, again.content) == (304, b"")


@pytest.mark.parametrize("method", ["POST", "PUT", "DELETE"])
def test_health_answers_405_to_other_methods(server, client, method):
    reply = client.request(method, server.url("/_gingee/health"))
    assert reply.status_code == 405
    assert json_error(reply) == "METHOD_NOT_ALLOWED"


def test_queue_counts_jobs_dlq_retry_and_discard(server, client):
    assert client.get(server.url(API)).json() == {
        "driver": "memory",
        "apps": {"shop": {"queued": 0, "delayed": 0, "running": 0, "dead": 0}},
    }
    overview = client.get(server.url(API))
    assert overview.headers["content-type"] == "application/json; charset=utf-8"
    assert overview.headers["cache-control"] == "no-store"
    assert client.get(server.url("/shop/enqueue?name=echo&id=e1")).json() == {"id": "e1"}
    job = wait_for(client, server.url(f"{API}/shop/jobs/e1"), lambda b: b["status"] == "done")
    assert (job["name"], job["payload"], job["attempt"]) == ("echo", {"n": 1}, 1)
    client.get(server.url("/shop/enqueue?name=boom&id=b1"))
    dead = wait_for(client, server.url(f"{API}/shop/dlq"), lambda b: len(b["dead"]) == 1)
    assert dead["dead"][0]["id"] == "b1" and dead["dead"][0]["error"] == "RuntimeError: boom"
    assert client.get(server.url(f"{API}/shop")).json()["dead"] == 1
    cross = client.post(server.url(f"{API}/shop/dlq/b1/retry"), headers={"Sec-Fetch-Site": "cross-site"})
    assert cross.status_code == 403 and json_error(cross) == "ACCESS_DENIED"
    retried = client.post(server.url(f"{API}/shop/dlq/b1/retry"))
    assert (retried.status_code, retried.json()) == (200, {"app": "shop", "retried": "b1"})
    wait_for(client, server.url(f"{API}/shop/dlq"), lambda b: len(b["dead"]) == 1)
    assert client.delete(server.url(f"{API}/shop/dlq/b1")).json() == {"app": "shop", "discarded": "b1"}
    gone = client.delete(server.url(f"{API}/shop/dlq/b1"))
    assert (gone.status_code, json_error(gone)) == (404, "JOB_NOT_FOUND")


@pytest.mark.parametrize(
    ("method", "path", "status", "code"),
    [
        ("GET", f"{API}/nope", 404, "APP_NOT_FOUND"),
        ("GET", f"{API}/shop/jobs/missing", 404, "JOB_NOT_FOUND"),
        ("GET", f"{API}/shop/jobs?limit=0", 400, "BAD_LIMIT"),
        ("GET", f"{API}/shop/dlq/x/retry", 405, "METHOD_NOT_ALLOWED"),
        ("GET", f"{API}/shop/what/ever/else", 404, "NOT_FOUND"),
        ("PUT", API, 405, "METHOD_NOT_ALLOWED"),
        ("PATCH", f"{API}/shop", 405, "METHOD_NOT_ALLOWED"),
    ],
)
def test_queue_api_errors(server, client, method, path, status, code):
    reply = client.request(method, server.url(path))
    assert (reply.status_code, json_error(reply)) == (status, code)


def test_the_apps_api_answers_the_loopback_operator(server, client):
    apps = client.get(server.url("/_gingee/api/apps"))
    assert apps.status_code == 200
    assert [app["name"] for app in apps.json()["apps"]] == ["shop"]


def test_the_openapi_document_is_for_the_operator(server, guarded, client):
    assert client.get(server.url("/shop/_gingee/openapi.json")).json()["openapi"].startswith("3.")
    refused = client.get(guarded.url("/shop/_gingee/openapi.json"))
    assert (refused.status_code, json_error(refused)) == (403, "ACCESS_DENIED")
    bearer = {"Authorization": f"Bearer {TOKEN}"}
    assert client.get(guarded.url("/shop/_gingee/openapi.json"), headers=bearer).status_code == 200


@pytest.mark.parametrize("path", [API, f"{API}/shop", "/_gingee/api/apps"])
def test_an_admin_token_is_required_once_set(guarded, client, path):
    refused = client.get(guarded.url(path))
    assert (refused.status_code, json_error(refused)) == (403, "ACCESS_DENIED")
    wrong = client.get(guarded.url(path), headers={"Authorization": "Bearer wrong"})
    assert wrong.status_code == 403
    assert client.get(guarded.url(path), headers={"Authorization": f"Bearer {TOKEN}"}).status_code == 200
