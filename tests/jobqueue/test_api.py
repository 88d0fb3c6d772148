"""The operator API on `gingee serve` (memory driver, jobs run in the server), and schedules in serve."""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.fixtures.servers import RunningServer

API = "/_gingee/api/queue"
TOKEN = "s3cret-token-for-the-queue-api"

ENQUEUE = """
from gingee_kernel import queue

async def handle(g):
    q = g.request.query
    job = await queue.add(q["name"], {"n": 1}, attempts=int(q.get("attempts", 1)), job_id=q.get("id"))
    return {"id": job.id}
"""


def project_files(**gingee: Any) -> dict[str, Any]:
    return {
        "gingee.json": {"queue": {"default_backoff_ms": 10}, **gingee},
        "settings/permissions.json": {"shop": {"granted": ["queue", "scheduler"]}},
        "web/shop/box/app.json": {"name": "shop"},
        "web/shop/box/enqueue.py": ENQUEUE,
        "web/shop/box/jobs/boom.py": "async def handle(g):\n    raise RuntimeError('boom')\n",
        "web/shop/box/jobs/echo.py": "async def handle(g):\n    return g.job.payload\n",
    }


def wait_for(client: httpx.Client, url: str, check: Callable[[Any], bool], **kwargs: Any) -> Any:
    deadline = time.monotonic() + 10
    while True:
        body = client.get(url, **kwargs).json()
        if check(body):
            return body
        assert time.monotonic() < deadline, body
        time.sleep(0.02)


@pytest.fixture
def server(make_project: Callable[..., Path], serve: Callable[..., RunningServer]) -> RunningServer:
    return serve(make_project(project_files()), dev=False)


def test_stats_jobs_and_dlq_retry_discard(server: RunningServer, client: httpx.Client) -> None:
    assert client.get(server.url(f"{API}")).json() == {
        "driver": "memory",
        "apps": {"shop": {"queued": 0, "delayed": 0, "running": 0, "dead": 0}},
    }
    assert client.get(server.url("/shop/enqueue?name=echo&id=e1")).json() == {"id": "e1"}
    job = wait_for(client, server.url(f"{API}/shop/jobs/e1"), lambda b: b["status"] == "done")
    assert (job["name"], job["payload"], job["attempt"]) == ("echo", {"n": 1}, 1)

    client.get(server.url("/shop/enqueue?name=boom&id=b1"))
    dead = wait_for(client, server.url(f"{API}/shop/dlq"), lambda b: len(b["dead"]) == 1)
    assert dead["dead"][0]["id"] == "b1" and dead["dead"][0]["error"] == "RuntimeError: boom"
    assert client.get(server.url(f"{API}/shop")).json()["dead"] == 1
    listed = client.get(server.url(f"{API}/shop/jobs?limit=10")).json()["jobs"]
    assert {(j["id"], j["status"]) for j in listed} == {("e1", "done"), ("b1", "dead")}

    answer = client.post(server.url(f"{API}/shop/dlq/b1/retry"))
    assert answer.status_code == 200 and answer.json() == {"app": "shop", "retried": "b1"}
    wait_for(client, server.url(f"{API}/shop/dlq"), lambda b: len(b["dead"]) == 1)
    assert client.delete(server.url(f"{API}/shop/dlq/b1")).json() == {"app": "shop", "discarded": "b1"}
    gone = client.delete(server.url(f"{API}/shop/dlq/b1"))
    assert gone.status_code == 404 and gone.json()["error"] == "JOB_NOT_FOUND"
    assert client.post(server.url(f"{API}/shop/dlq/b1/discard")).status_code == 404


def test_dlq_actions_are_audited_and_cross_site_ones_refused(
    server: RunningServer, client: httpx.Client
) -> None:
    client.get(server.url("/shop/enqueue?name=boom&id=b2"))
    wait_for(client, server.url(f"{API}/shop/dlq"), lambda b: len(b["dead"]) == 1)
    evil = client.post(server.url(f"{API}/shop/dlq/b2/retry"), headers={"Origin": "http://evil.example"})
    assert evil.status_code == 403 and "cross-site" in evil.json()["reason"]
    assert len(client.get(server.url(f"{API}/shop/dlq")).json()["dead"]) == 1  # not retried
    assert client.delete(server.url(f"{API}/shop/dlq/b2")).status_code == 200
    log = server.project.dir / "logs" / "audit.jsonl"
    entries = [json.loads(line) for line in log.read_text().splitlines()]
    assert [(e["who"], e["action"], e["app"], e["result"]) for e in entries] == [
        ("loopback:127.0.0.1", "queue DELETE dlq/b2", "shop", "ok")
    ]


def test_api_errors(server: RunningServer, client: httpx.Client) -> None:
    answers = {
        f"{API}/nope": (404, "APP_NOT_FOUND"),
        f"{API}/shop/jobs/missing": (404, "JOB_NOT_FOUND"),
        f"{API}/shop/jobs?limit=0": (400, "BAD_LIMIT"),
        f"{API}/shop/dlq/x/retry": (405, "METHOD_NOT_ALLOWED"),
        f"{API}/shop/what/ever/else": (404, "NOT_FOUND"),
    }
    for path, (status, code) in answers.items():
        answer = client.get(server.url(path))
        assert (answer.status_code, answer.json()["error"]) == (status, code), path
        assert "Traceback" not in answer.text


def test_job_scripts_are_not_reachable_by_url(server: RunningServer, client: httpx.Client) -> None:
    assert client.get(server.url("/shop/jobs/echo")).status_code == 404
    assert client.get(server.url("/shop/enqueue?name=echo")).status_code == 200


def test_admin_token_is_required_when_set(
    make_project: Callable[..., Path], serve: Callable[..., RunningServer], client: httpx.Client
) -> None:
    server = serve(make_project(project_files(admin={"token": TOKEN})), dev=False)
    refused = client.get(server.url(API))
    assert refused.status_code == 403 and refused.json()["error"] == "ACCESS_DENIED"
    assert client.get(server.url(API), headers={"Authorization": "Bearer wrong"}).status_code == 403
    ok = client.get(server.url(API), headers={"Authorization": f"Bearer {TOKEN}"})
    assert ok.status_code == 200 and ok.json()["driver"] == "memory"


def test_schedules_fire_in_serve_with_the_memory_driver(
    make_project: Callable[..., Path], serve: Callable[..., RunningServer]
) -> None:
    tick = (
        "from pathlib import Path\n"
        "async def handle(g):\n"
        "    with (Path(__file__).parent / 'ticks').open('a') as out:\n"
        "        out.write(g.job.id + '\\n')\n"
    )
    files = project_files()
    files["web/shop/box/app.json"] = {"name": "shop", "schedules": [
        {"name": "beat", "cron": "* * * * * *", "target": {"script": "tasks/tick.py"}},
        {"name": "off", "cron": "* * * * * *", "enabled": False, "target": {"script": "tasks/tick.py"}},
    ]}  # fmt: skip
    files["web/blog/box/app.json"] = {"name": "blog", "schedules": [
        {"name": "ungranted", "cron": "* * * * * *", "target": {"script": "tick.py"}}]}  # fmt: skip
    files["web/shop/box/tasks/tick.py"] = tick
    files["web/blog/box/tick.py"] = tick
    root = make_project(files)
    serve(root, dev=False)
    ticks = root / "web/shop/box/tasks/ticks"
    deadline = time.monotonic() + 10
    while not ticks.exists() or len(ticks.read_text().split()) < 2:
        assert time.monotonic() < deadline
        time.sleep(0.05)
    ids = ticks.read_text().split()
    assert all(i.startswith("schedule:beat:") for i in ids)
    assert len(set(ids)) == len(ids)
    assert not (root / "web/blog/box/ticks").exists()
