"""`app.jobs()` without a browser: its rows and counters after jobs ran and while one runs (its progress),
Retry and Discard through the buttons' click handlers, and the refresh task ending with `.stop()` and with
`app.stop()`."""

from __future__ import annotations

import asyncio
import threading
from pathlib import Path
from typing import Any

from gingee_kernel import queue
from gingee_kernel.notebook import App
from gingee_kernel.notebook.jobs_widget import JobsView

from .test_jobs import LiveHostFactory, app_with_runner
from .test_jobs import live_host as live_host  # a fixture


def flaky_app(name: str, root: Path, state: dict[str, bool]) -> App:
    """An app with a job that works, and one that fails (dies after 2 attempts) while state["fail"]."""
    app = app_with_runner(name, root)

    @app.job("fine")
    async def fine(g: Any) -> Any:
        await g.job.progress(1.0)
        return g.job.payload

    @app.job("flaky", attempts=2, backoff=0)
    def flaky(g: Any) -> str:
        if state["fail"]:
            raise RuntimeError("the printer is on fire")
        return "printed"

    return app


def cell(view: JobsView, job_id: str, column: str) -> str:
    """The HTML of one cell of the table."""
    from gingee_kernel.notebook.jobs_widget import HEADERS

    return str(view.rows[job_id].cells[HEADERS.index(column)].value)


async def test_rows_counters_and_retry_button(live_host: LiveHostFactory, tmp_path: Path) -> None:
    live_host()
    state = {"fail": True}
    app = flaky_app("jobsview", tmp_path, state)
    view = app.jobs()
    assert view.snapshot.loaded and view.snapshot.jobs == []
    assert "queued <b>0</b>" in view.counters.value

    assert app.request("POST", "/run/fine", json={"n": 1}).json() == {"result": {"n": 1}}
    dead = app.request("POST", "/run/flaky").json()
    assert dead == {"dead": "RuntimeError: the printer is on fire"}
    snapshot = await view.refresh()

    statuses = {info.name: info for info in snapshot.jobs}
    assert statuses["fine"].status.value == "done" and statuses["flaky"].status.value == "dead"
    fine_id, flaky_id = statuses["fine"].id, statuses["flaky"].id
    assert "dead <b>1</b>" in view.counters.value
    assert "dead" in cell(view, flaky_id, "status") and cell(view, flaky_id, "attempts") == "2/2"
    assert "the printer is on fire" in cell(view, flaky_id, "error")
    assert "done" in cell(view, fine_id, "status") and cell(view, fine_id, "attempts") == "1/3"
    row = view.rows[flaky_id]
    assert row.actions.children == (row.retry, row.discard)  # buttons on the dead job only
    assert view.rows[fine_id].actions.children == ()
    assert len(view.grid.children) == 8 * 3  # header and two rows

    state["fail"] = False
    row.retry.click()  # what pressing the button does
    assert f"job {flaky_id} queued again" in view.message.value
    assert app.request("POST", f"/wait/{flaky_id}").json() == {"result": "printed"}
    await view.refresh()
    assert "done" in cell(view, flaky_id, "status") and row.actions.children == ()
    assert "dead <b>0</b>" in view.counters.value
    assert view.rows[flaky_id] is row  # the same widgets, updated in place
    view.stop()


async def test_a_running_job_shows_its_progress(live_host: LiveHostFactory, tmp_path: Path) -> None:
    live_host()
    reported, release = threading.Event(), threading.Event()
    app = app_with_runner("jobsview-running", tmp_path)

    @app.job("report")
    async def report(g: Any) -> str:
        await g.job.progress(0.75)
        reported.set()
        await asyncio.to_thread(release.wait, 10)  # running until the test lets it finish
        return "printed"

    @app.route("/start/:job", methods=["POST"])
    async def start(g: Any) -> Any:
        return {"id": (await queue.add(g.request.params["job"])).id}

    view = app.jobs()
    job_id = app.request("POST", "/start/report").json()["id"]
    try:
        assert await asyncio.to_thread(reported.wait, 10)
        await view.refresh()
        assert "running" in cell(view, job_id, "status") and cell(view, job_id, "progress") == "75%"
        assert cell(view, job_id, "attempts") == "1/3"
        assert "running <b>1</b>" in view.counters.value
        assert view.rows[job_id].actions.children == ()
    finally:
        release.set()
    assert app.request("POST", f"/wait/{job_id}").json() == {"result": "printed"}
    await view.refresh()
    assert "done" in cell(view, job_id, "status") and "running <b>0</b>" in view.counters.value
    view.stop()


async def test_discard_button_deletes_the_dead_job(live_host: LiveHostFactory, tmp_path: Path) -> None:
    live_host()
    app = flaky_app("jobsview-discard", tmp_path, {"fail": True})
    view = app.jobs()
    app.request("POST", "/run/flaky")
    await view.refresh()
    (dead,) = view.snapshot.jobs
    view.rows[dead.id].discard.click()
    assert f"job {dead.id} discarded" in view.message.value
    assert dead.id not in view.rows and view.snapshot.jobs == []
    assert "dead <b>0</b>" in view.counters.value
    assert view.retry(dead.id) is False  # no longer dead: nothing to do, and the view says so
    assert "is not dead" in view.message.value
    view.stop()


async def test_refresh_task_stops_with_the_view_and_with_the_app(
    live_host: LiveHostFactory, tmp_path: Path
) -> None:
    live_host()
    app = flaky_app("jobsview-stop", tmp_path, {"fail": False})
    first, second = app.jobs(), app.jobs()
    assert first._task is not None and second._task is not None  # started on this (the kernel's) loop
    first.stop()
    await asyncio.gather(first._task, return_exceptions=True)
    assert first._task.cancelled() and first.stopped and "(stopped)" in first.title.value
    assert not second._task.done()
    app.stop()
    await asyncio.gather(second._task, return_exceptions=True)
    assert second._task.done() and second.stopped
    snapshot = await second.refresh()
    assert not snapshot.loaded and "not loaded" in second.counters.value
