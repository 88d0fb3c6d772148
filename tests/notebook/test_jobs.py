"""`@app.job` in a notebook: jobs run on the project's queue in the kernel (memory and arq on a real
Redis), re-running a cell replaces a job, a removed job is refused at add, bad options are reported, and
`gingee serve` runs the jobs of the exported app."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from pathlib import Path
from types import ModuleType
from typing import Any

import httpx
import pytest

from gingee_kernel import queue
from gingee_kernel.engine.context import app_context
from gingee_kernel.engine.project import Project
from gingee_kernel.jobqueue.handlers import registered
from gingee_kernel.jobqueue.service import close_service, start_project_queue
from gingee_kernel.notebook import App, AppConfigError
from gingee_kernel.notebook.host import LiveHost
from tests.fixtures.servers import write_files

LiveHostFactory = Callable[..., LiveHost]


@pytest.fixture
def live_host(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[LiveHostFactory]:
    """Factory: a kernel host of its own (the one `App` uses) over a folder with gingee.json `queue`."""
    hosts: list[LiveHost] = []

    def factory(**queue_config: Any) -> LiveHost:
        folder = write_files(
            tmp_path / f"kernel{len(hosts)}",
            {"gingee.json": {"queue": {"default_backoff_ms": 0, **queue_config}}},
        )
        host = LiveHost(folder)
        monkeypatch.setattr(LiveHost, "_instance", host)
        hosts.append(host)
        return host

    yield factory
    for host in hosts:
        for app in [a for a in App.registry.values() if a.name in host.project.apps]:
            with monkeypatch.context() as patch:
                patch.setattr(LiveHost, "_instance", host)
                app.stop()
        host.close()


@pytest.fixture
def arq_queue(redis_url: str, arq_keys: str) -> dict[str, Any]:
    """gingee.json `queue` for arq on the test Redis under a prefix of this test's (its keys and arq's
    own keys for those job ids are deleted afterwards)."""
    return {"driver": "arq", "prefix": arq_keys, "redis": {"url": redis_url}, "poll_delay_ms": 5}


def app_with_runner(name: str, root: Path) -> App:
    """An app whose POST /run/:job adds that job with the JSON body as payload and returns its result, and
    POST /wait/:id waits for a known job's."""
    app = App(name, root=root / "web" / name)

    @app.route("/run/:job", methods=["POST"])
    async def run(g: Any) -> Any:
        try:
            job = await queue.add(g.request.params["job"], g.request.body)
        except queue.HandlerNotFound as exc:
            return {"refused": str(exc)}
        return await outcome(job)

    @app.route("/wait/:id", methods=["POST"])
    async def wait(g: Any) -> Any:
        job = await queue.get(g.request.params["id"])
        return {"unknown": True} if job is None else await outcome(job)

    return app


async def outcome(job: queue.JobHandle) -> dict[str, Any]:
    """The job's result, or why it died."""
    try:
        return {"result": await job.result(timeout=10)}
    except queue.JobFailed as exc:
        return {"dead": exc.error}


def test_job_runs_on_the_queue_with_its_options(live_host: LiveHostFactory, tmp_path: Path) -> None:
    host = live_host()
    app = app_with_runner("nbjobs-memory", tmp_path)

    @app.job("double", attempts=2, backoff=0)
    async def double(g: Any) -> Any:
        if g.job.attempt == 1:
            raise RuntimeError("first attempt fails")
        return {"twice": g.job.payload["n"] * 2, "attempt": g.job.attempt, "of": g.job.max_attempts}

    reply = app.request("POST", "/run/double", json={"n": 21})
    assert reply.json() == {"result": {"twice": 42, "attempt": 2, "of": 2}}
    service = host.project.shared["queue"]
    assert service.driver.name == "memory" and service.running_jobs and not service.autostart
    assert "queue" in host.project.apps["nbjobs-memory"].grants


def test_rerunning_a_job_cell_replaces_the_job(live_host: LiveHostFactory, tmp_path: Path) -> None:
    host = live_host()
    app = app_with_runner("nbjobs-rerun", tmp_path)

    @app.job("greet")
    def greet(g: Any) -> str:
        return "v1"

    assert app.request("POST", "/run/greet").json() == {"result": "v1"}

    @app.job("greet")
    def greet_again(g: Any) -> str:  # the cell, edited and run again
        return "v2"

    assert app.request("POST", "/run/greet").json() == {"result": "v2"}
    handlers = registered(host.project.apps["nbjobs-rerun"])
    assert list(handlers) == ["greet"] and handlers["greet"].func is greet_again


def test_a_removed_job_is_refused_at_add(live_host: LiveHostFactory, tmp_path: Path) -> None:
    host = live_host()
    app = app_with_runner("nbjobs-removed", tmp_path)

    @app.job("keep")
    def keep(g: Any) -> str:
        return "kept"

    @app.job("gone")
    def gone(g: Any) -> str:
        return "still here"

    assert app.request("POST", "/run/gone").json() == {"result": "still here"}
    del app.jobs["gone"]
    assert list(registered(host.project.apps["nbjobs-removed"])) == ["keep"]
    refused = app.request("POST", "/run/gone").json()["refused"]
    assert "app 'nbjobs-removed' has no handler for job 'gone'" in refused
    assert app.request("POST", "/run/keep").json() == {"result": "kept"}


@pytest.mark.parametrize(
    ("options", "pointer", "expected"),
    [
        ({"attempts": 0}, "/attempts", "an integer >= 1"),
        ({"attempts": 2.5}, "/attempts", "an integer >= 1"),
        ({"backoff": -1}, "/backoff", "a number of seconds >= 0"),
        ({"backoff": "2s"}, "/backoff", "a number of seconds >= 0"),
        ({"retries": 3}, "/retries", "no such option"),
        ({"backoff": 1, "backoff_ms": 1000}, "/backoff", "not both"),
    ],
)
def test_bad_job_options_are_reported_in_the_cell(
    live_host: LiveHostFactory, tmp_path: Path, options: dict[str, Any], pointer: str, expected: str
) -> None:
    live_host()
    app = app_with_runner("nbjobs-bad", tmp_path)

    with pytest.raises(AppConfigError) as raised:  # in the defining cell, before the app ever ran

        @app.job("bad", **options)
        def bad(g: Any) -> None: ...

    assert raised.value.file == "@app.job('bad')" and raised.value.pointer == pointer
    assert expected in raised.value.expected
    assert "bad" not in app.jobs  # the app keeps serving what it had
    assert "refused" in app.request("POST", "/run/bad").json()  # no such job: refused at add


def test_bad_job_name_is_reported(live_host: LiveHostFactory, tmp_path: Path) -> None:
    live_host()
    app = app_with_runner("nbjobs-badname", tmp_path)

    with pytest.raises(AppConfigError, match="a job name of 1-100 letters"):

        @app.job("no spaces")
        def spaced(g: Any) -> None: ...


@pytest.mark.redis
def test_arq_driver_runs_notebook_jobs_in_the_kernel(
    live_host: LiveHostFactory, arq_queue: dict[str, Any], tmp_path: Path
) -> None:
    host = live_host(**arq_queue)
    app = app_with_runner("nbjobs-arq", tmp_path)

    @app.job("square", attempts=2)
    async def square(g: Any) -> int:
        await g.job.progress(0.5)
        return int(g.job.payload["n"]) ** 2

    @app.job("broken", attempts=1)
    def broken(g: Any) -> None:
        raise ValueError("no luck")

    assert app.request("POST", "/run/square", json={"n": 12}).json() == {"result": 144}
    assert app.request("POST", "/run/broken").json() == {"dead": "ValueError: no luck"}
    service = host.project.shared["queue"]
    assert service.driver.name == "arq" and service.running_jobs
    dead = host.call(service.driver.dlq_list("nbjobs-arq", 10))
    assert [(d["name"], d["error"]) for d in dead] == [("broken", "ValueError: no luck")]


@pytest.mark.redis
def test_a_kernels_jobs_stay_apart_from_the_disk_app_of_its_name(
    live_host: LiveHostFactory, arq_queue: dict[str, Any], tmp_path: Path
) -> None:
    """A notebook app and its exported twin on disk, on one Redis with one queue prefix: each one's jobs
    run only in its own workers (the kernel's, and `gingee worker`'s, here in one process)."""
    host = live_host(**arq_queue)
    app = app_with_runner("twin", tmp_path)

    @app.job("who")
    async def who(g: Any) -> dict[str, str]:
        return {"from": "notebook"}

    disk = write_files(
        tmp_path / "disk",
        {
            "gingee.json": {"queue": arq_queue},
            "settings/permissions.json": {"twin": {"granted": ["queue"]}},
            "web/twin/box/app.json": {"name": "twin"},
            "web/twin/box/jobs/who.py": "async def handle(g):\n    return {'from': 'disk'}\n",
        },
    )
    project = Project(disk)

    async def start() -> None:
        await project.load()
        await start_project_queue(project, run_jobs=True, run_schedules=False)

    async def run_on_disk(count: int) -> list[Any]:
        with app_context(project.apps["twin"]):
            handles = [await queue.add("who") for _ in range(count)]
            return [await handle.result(timeout=10) for handle in handles]

    host.call(start())
    try:
        from_kernel = [app.request("POST", "/run/who").json() for _ in range(12)]
        assert from_kernel == [{"result": {"from": "notebook"}}] * 12
        assert host.call(run_on_disk(12)) == [{"from": "disk"}] * 12
    finally:
        host.call(close_service(project.shared))
        host.call(project.close())


NOTEBOOK = """
# %%
import gingee_kernel as gk
from gingee_kernel import queue

app = gk.App("mailer")

# %%
@app.job("welcome", attempts=2, backoff=0)
async def welcome(g):
    if g.job.attempt == 1:
        raise RuntimeError("the mail server hiccuped")
    return {"sent_to": g.job.payload["user"], "attempt": g.job.attempt}

# %%
@app.route("/signup", methods=["POST"])
async def signup(g):
    job = await queue.add("welcome", {"user": g.request.body["user"]})
    return {"job": job.id, "result": await job.result(timeout=10)}
"""


def test_exported_jobs_run_under_gingee_serve(
    live_host: LiveHostFactory,
    run_notebook: Callable[..., ModuleType],
    serve: Callable[..., Any],
    tmp_path: Path,
) -> None:
    live_host()
    source = tmp_path / "nb_mailer.py"
    source.write_text(NOTEBOOK)
    app = run_notebook(source).app
    live = app.request("POST", "/signup", json={"user": "ada"}).json()["result"]
    assert live == {"sent_to": "ada", "attempt": 2}
    project = tmp_path / "project"
    folder = app.export(project / "web")
    box = folder / "box"
    jobs = json.loads((box / "app.json").read_text()).get("queue", {}).get("jobs", {})
    assert (box / "jobs" / "welcome.py").is_file()
    assert jobs == {"welcome": {"script": "jobs/welcome.py", "function": "welcome", "attempts": 2,
                                "backoff_ms": 0}}  # fmt: skip
    assert "queue" in json.loads((box / "pmft.json").read_text())["permissions"]["mandatory"]
    server = serve(project, dev=True)
    answer = httpx.post(server.url("/mailer/signup"), json={"user": "grace"}, timeout=30)
    assert answer.status_code == 200, answer.text
    assert answer.json()["result"] == {"sent_to": "grace", "attempt": 2}
