"""The queue API at {base_url}gingee/api/queue/ on a real Jupyter server: stats and job listings of an on-disk
app after its route enqueued jobs, DLQ retry and discard, Jupyter's auth and XSRF; a live app's jobs,
relayed to its kernel; and an arq project, whose jobs Jupyter only enqueues and `gingee worker` runs."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from gingee_kernel import live
from gingee_kernel.cli import main
from gingee_kernel.notebook import App
from gingee_kernel.notebook.host import LiveHost
from tests.fixtures.jupyter import JupyterServer
from tests.fixtures.queue_scripts import ENQUEUE, WAIT
from tests.fixtures.servers import write_files
from tests.jobqueue.workers import spawn_worker as spawn_worker  # a fixture
from tests.notebook.test_jobs import app_with_runner
from tests.server_extension.conftest import login, start_server

RECEIPT = "async def handle(g):\n    return {'receipt': g.job.payload['order']}\n"
DECLINED = "async def handle(g):\n    raise RuntimeError('card declined')\n"


def shop(gingee: dict[str, Any]) -> dict[str, Any]:
    """A project with app `shop`: GET enqueue?job=..&order=.. adds a job, GET wait?id=.. awaits it."""
    return {
        "gingee.json": gingee,
        "web/shop/box/app.json": {"name": "shop"},
        "web/shop/box/pmft.json": {"permissions": {"mandatory": ["queue"], "optional": []}},
        "web/shop/box/enqueue.py": ENQUEUE,
        "web/shop/box/wait.py": WAIT,
        "web/shop/box/jobs/receipt.py": RECEIPT,
        "web/shop/box/jobs/declined.py": DECLINED,
    }


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[JupyterServer]:
    running = start_server(tmp_path_factory, shop({"queue": {"default_backoff_ms": 0}}))
    yield running
    running.stop()


@pytest.fixture
def http(server: JupyterServer) -> Iterator[httpx.Client]:
    """A client authenticated with the server's token."""
    with httpx.Client(timeout=20, follow_redirects=False, headers=server.auth) as client:
        yield client


def run(server: JupyterServer, http: httpx.Client, job: str, order: str = "") -> tuple[str, dict[str, Any]]:
    """Enqueue `job` through the app's route and wait for it: (id, result or reason it died)."""
    added = http.get(server.url("gingee/shop/enqueue"), params={"job": job, "order": order})
    assert added.status_code == 200, added.text
    job_id = added.json()["id"]
    return job_id, http.get(server.url("gingee/shop/wait"), params={"id": job_id}).json()


def api(server: JupyterServer, path: str = "") -> str:
    return server.url(f"gingee/api/queue/{path}")


def test_stats_and_job_listing(server: JupyterServer, http: httpx.Client) -> None:
    job_id, outcome = run(server, http, "receipt", "A-7")
    assert outcome == {"result": {"receipt": "A-7"}}
    stats = http.get(api(server))
    assert stats.status_code == 200 and stats.headers["cache-control"] == "no-store"
    assert stats.json()["driver"] == "memory"
    assert set(stats.json()["apps"]["shop"]) == {"queued", "delayed", "running", "dead"}
    assert http.get(api(server, "shop")).json()["app"] == "shop"
    listed = {j["id"]: j for j in http.get(api(server, "shop/jobs"), params={"limit": 50}).json()["jobs"]}
    assert listed[job_id]["name"] == "receipt" and listed[job_id]["status"] == "done"
    assert listed[job_id]["payload"] == {"order": "A-7"}
    one = http.get(api(server, f"shop/jobs/{job_id}")).json()
    assert (one["id"], one["status"], one["attempt"], one["max_attempts"]) == (job_id, "done", 1, 1)
    assert http.get(api(server, "nope/jobs")).json()["error"] == "APP_NOT_FOUND"
    assert http.get(api(server, "shop/jobs/unknown")).status_code == 404
    assert http.get(api(server, "shop/jobs"), params={"limit": "0"}).json()["error"] == "BAD_LIMIT"


def test_dlq_retry_and_discard(server: JupyterServer, http: httpx.Client) -> None:
    job_id, outcome = run(server, http, "declined")
    assert outcome == {"dead": "RuntimeError: card declined"}
    dead = http.get(api(server, "shop/dlq")).json()["dead"]
    assert job_id in [d["id"] for d in dead]
    assert http.get(api(server, "shop")).json()["dead"] >= 1

    retried = http.post(api(server, f"shop/dlq/{job_id}/retry"))  # the token: no XSRF needed
    assert retried.status_code == 200 and retried.json() == {"app": "shop", "retried": job_id}
    waited = http.get(server.url("gingee/shop/wait"), params={"id": job_id}).json()
    assert waited == {"dead": "RuntimeError: card declined"}  # ran again, and died again

    with login(server) as browser:  # cookie login: writes need the _xsrf token
        xsrf = {"X-XSRFToken": browser.cookies["_xsrf"]}
        refused = browser.post(api(server, f"shop/dlq/{job_id}/discard"))
        assert refused.status_code == 403 and "_xsrf" in refused.text
        assert browser.get(api(server, "shop/dlq")).status_code == 200  # reads need no token
        discarded = browser.post(api(server, f"shop/dlq/{job_id}/discard"), headers=xsrf)
        assert discarded.status_code == 200 and discarded.json() == {"app": "shop", "discarded": job_id}
        again = browser.delete(api(server, f"shop/dlq/{job_id}"), headers=xsrf)
        assert again.status_code == 404 and again.json()["error"] == "JOB_NOT_FOUND"
    assert job_id not in [d["id"] for d in http.get(api(server, "shop/dlq")).json()["dead"]]


def test_anonymous_requests_are_refused(server: JupyterServer) -> None:
    with httpx.Client(timeout=20, follow_redirects=False) as anonymous:
        for method, path in [("GET", ""), ("GET", "shop/jobs"), ("POST", "shop/dlq/x/retry"),
                             ("DELETE", "shop/dlq/x")]:  # fmt: skip
            reply = anonymous.request(method, api(server, path))
            assert reply.status_code == 403, (method, path, reply.status_code)
            assert "location" not in reply.headers  # never a login redirect


@pytest.mark.redis
def test_arq_project_only_enqueues_and_gingee_worker_runs_the_jobs(
    tmp_path_factory: pytest.TempPathFactory,
    redis_url: str,
    arq_keys: str,
    spawn_worker: Any,
) -> None:
    gingee = {"queue": {"driver": "arq", "prefix": arq_keys, "redis": {"url": redis_url},
                        "poll_delay_ms": 5}}  # fmt: skip
    jupyter = start_server(tmp_path_factory, shop(gingee))
    try:
        with httpx.Client(timeout=20, follow_redirects=False, headers=jupyter.auth) as http:
            added = http.get(jupyter.url("gingee/shop/enqueue"), params={"job": "receipt", "order": "B-2"})
            job_id = added.json()["id"]
            stats = http.get(api(jupyter, "shop")).json()
            assert stats["queued"] == 1  # nothing in Jupyter runs it
            assert http.get(api(jupyter, f"shop/jobs/{job_id}")).json()["status"] == "queued"
            assert main(["grant", str(jupyter.root), "shop", "queue"]) == 0  # the worker is not --dev
            worker = spawn_worker(Path(jupyter.root))
            assert http.get(jupyter.url("gingee/shop/wait"), params={"id": job_id}).json() == {
                "result": {"receipt": "B-2"}
            }
            assert http.get(api(jupyter)).json()["driver"] == "arq"
            worker.stop()
    finally:
        jupyter.stop()


@pytest.fixture
def kernel(
    server: JupyterServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> Iterator[tuple[LiveHost, App]]:
    """A kernel's host in this process (memory queue) serving notebook app `tally` live to the server:
    POST /run/:job adds a job and waits for it; jobs `count` (returns its payload) and `boom` (dies)."""
    host = LiveHost(write_files(tmp_path / "kernel", {"gingee.json": {"queue": {"default_backoff_ms": 0}}}))
    monkeypatch.setattr(LiveHost, "_instance", host)
    app = app_with_runner("tally", tmp_path)

    @app.job("count")
    async def count(g: Any) -> Any:
        return g.job.payload

    @app.job("boom", attempts=1)
    async def boom(g: Any) -> Any:
        raise RuntimeError("out of ink")

    registration = live.Registration(
        app="tally", port=host.listen(), pid=os.getpid(), secret=host.secret, kernel_id="k-q"
    )
    live.write(registration, server.runtime_dir)
    yield host, app
    live.remove(registration, server.runtime_dir)
    app.stop()
    host.close()


def test_a_live_apps_jobs_are_relayed_to_its_kernel(
    server: JupyterServer, http: httpx.Client, kernel: tuple[LiveHost, App]
) -> None:
    host, app = kernel
    assert app.request("POST", "/run/count", json={"n": 3}).json() == {"result": {"n": 3}}
    assert app.request("POST", "/run/boom", json={}).json() == {"dead": "RuntimeError: out of ink"}

    overview = http.get(api(server)).json()
    assert overview["driver"] == "memory" and overview["live"] == {"tally": "memory"}
    assert {"shop", "tally"} <= set(overview["apps"])  # the disk app and the kernel's, side by side
    assert overview["apps"]["tally"]["dead"] == 1
    listed = http.get(api(server, "tally/jobs")).json()["jobs"]
    assert {(j["name"], j["status"]) for j in listed} == {("count", "done"), ("boom", "dead")}
    (dead,) = http.get(api(server, "tally/dlq")).json()["dead"]

    with login(server) as browser:  # the kernel's answers pass Jupyter's XSRF rules first
        refused = browser.post(api(server, f"tally/dlq/{dead['id']}/retry"))
        assert refused.status_code == 403 and "_xsrf" in refused.text
    retried = http.post(api(server, f"tally/dlq/{dead['id']}/retry"))
    assert retried.json() == {"app": "tally", "retried": dead["id"]}
    waited = app.request("POST", f"/wait/{dead['id']}").json()
    assert waited == {"dead": "RuntimeError: out of ink"}  # ran again in the kernel, and died again
    unknown = http.get(api(server, "tally/jobs/nope"))
    assert unknown.status_code == 404 and unknown.json()["error"] == "JOB_NOT_FOUND"

    host.close()  # the kernel stops (its registration file is still there): a clear 502, never a hang
    gone = http.get(api(server, "tally/jobs"))
    assert gone.status_code == 502 and gone.json()["error"] == "KERNEL_APP_UNAVAILABLE"
    assert "tally" not in http.get(api(server)).json()["apps"]
