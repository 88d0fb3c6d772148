"""`app.jobs()`: a live ipywidgets table of the app's recent jobs, with Retry and Discard on dead ones.

Job data lives on the host loop (the queue driver's connections and timers belong to it), widgets on the
kernel's own loop (research §5, as dashboard.py). So `refresh()` runs on the kernel's loop: it asks the
host loop for a `Snapshot` (plain data) and only then redraws, batched with hold_sync. Button clicks
arrive on the kernel's thread too; they call the DLQ on the host loop and redraw at once. A task on the
kernel's loop refreshes every REFRESH_SECONDS until `.stop()`, `app.stop()` or the widget is closed.
"""

from __future__ import annotations

import asyncio
import html
import json
import time
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from ..jobqueue.job import JobInfo, JobStatus
from ..jobqueue.service import SHARED_KEY, QueueService
from .host import LiveHost
from .runtime import install

if TYPE_CHECKING:
    from .app import App

REFRESH_SECONDS = 0.5
LIMIT = 50
HEADERS = ("added", "job", "name", "status", "attempts", "progress", "error", "")
COUNTERS = ("queued", "delayed", "running", "dead")
_COLOURS = {"done": "#2e7d32", "dead": "#c62828", "retrying": "#ef6c00", "running": "#1565c0"}


@dataclass(frozen=True)
class Snapshot:
    """What the view shows, read on the host loop: whether the app is loaded, the driver, the app's
    counters (queue stats) and its recent jobs."""

    loaded: bool
    driver: str | None = None
    counts: dict[str, int] = field(default_factory=dict)
    jobs: list[JobInfo] = field(default_factory=list)


class JobRow:
    """The widgets of one listed job: its cells, and Retry / Discard buttons shown while it is dead."""

    def __init__(self, view: JobsView, job_id: str) -> None:
        import ipywidgets as widgets

        self.id = job_id
        self.cells = [widgets.HTML() for _ in HEADERS[:-1]]
        self.retry = widgets.Button(description="Retry", icon="redo", button_style="warning")
        self.discard = widgets.Button(description="Discard", icon="trash", button_style="danger")
        for button in (self.retry, self.discard):
            button.layout.width = "auto"
        self.retry.on_click(lambda _: view.retry(job_id))
        self.discard.on_click(lambda _: view.discard(job_id))
        self.actions = widgets.HBox()
        self.status = JobStatus.queued

    @property
    def widgets(self) -> list[Any]:
        """The row's grid cells, left to right."""
        return [*self.cells, self.actions]

    def update(self, info: JobInfo) -> None:
        """Show `info`; buttons only on a dead job."""
        self.status = info.status
        added = time.strftime("%H:%M:%S", time.localtime(info.enqueued_at)) if info.enqueued_at else ""
        colour = _COLOURS.get(info.status.value, "inherit")
        values = [
            added,
            f"<code title='{html.escape(info.id)}'>{html.escape(info.id[:12])}</code>",
            html.escape(info.name),
            f"<b style='color:{colour}'>{info.status.value}</b>",
            f"{info.attempt}/{info.max_attempts}",
            _progress(info.progress),
            _error(info.error),
        ]
        for cell, value in zip(self.cells, values, strict=True):
            if cell.value != value:
                cell.value = value
        buttons = (self.retry, self.discard) if info.status is JobStatus.dead else ()
        if self.actions.children != buttons:
            self.actions.children = buttons

    def close(self) -> None:
        """Close the row's widgets (their comms)."""
        for widget in [*self.widgets, self.retry, self.discard]:
            widget.close()


class JobsView:
    """The widgets, the rows by job id, and the task that keeps them current."""

    def __init__(self, app: App, limit: int = LIMIT) -> None:
        import ipywidgets as widgets

        self.app = app
        self.limit = limit
        self.host = LiveHost.get()
        self.host.call(install(self.host, app))  # loaded (and its queue started), as app.request does
        self.title = widgets.HTML()
        self.counters = widgets.HTML()
        self.message = widgets.HTML()
        self.grid = widgets.GridBox(
            layout=widgets.Layout(
                grid_template_columns=f"repeat({len(HEADERS) - 2}, max-content) minmax(8em, 1fr) max-content",
                grid_gap="2px 12px",
            )
        )
        self._headers = [widgets.HTML(f"<b>{name}</b>") for name in HEADERS]
        self.widget = widgets.VBox([self.title, self.counters, self.grid, self.message])
        self.widget.add_class("gingee-jobs")
        self.rows: dict[str, JobRow] = {}
        self.snapshot = Snapshot(loaded=False)
        self.stopped = False
        self._task: asyncio.Task[None] | None = None
        self.render(self.host.call(self._snapshot()))

    # -- running ------------------------------------------------------------------------------------
    def start(self) -> None:
        """Refresh on the kernel's loop while displayed (call from a cell; outside a kernel's loop,
        call `await view.refresh()` yourself)."""
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:
            return
        self._task = loop.create_task(self._run())

    def stop(self) -> None:
        """Stop refreshing (the table keeps its last state)."""
        self.stopped = True
        if self.stop in self.app._stop_hooks:
            self.app._stop_hooks.remove(self.stop)
        if self._task is not None:
            self._task.cancel()
        self.title.value = self._title(stopped=True)

    async def _run(self) -> None:
        while not self.stopped and self.widget.comm is not None:
            try:
                await self.refresh()
            except Exception as exc:  # Redis down, say: show it, keep trying
                self.message.value = _note(f"could not read the queue: {exc}", error=True)
            await asyncio.sleep(REFRESH_SECONDS)

    async def refresh(self) -> Snapshot:
        """Read the queue on the host loop, then redraw (on the caller's loop: the kernel's)."""
        future = asyncio.run_coroutine_threadsafe(self._snapshot(), self.host.loop)
        snapshot = await asyncio.wrap_future(future)
        self.render(snapshot)
        return snapshot

    def _service(self) -> QueueService | None:
        return self.host.project.shared.get(SHARED_KEY)

    async def _snapshot(self) -> Snapshot:
        """Runs on the host loop."""
        service = self._service()
        if self.app.name not in self.host.project.apps:
            return Snapshot(loaded=False)
        if service is None:
            return Snapshot(loaded=True)
        driver = service.driver
        counts = await driver.stats(self.app.name)
        return Snapshot(True, driver.name, counts, await driver.jobs(self.app.name, self.limit))

    # -- actions (button clicks, on the kernel's thread) ----------------------------------------------
    def retry(self, job_id: str) -> bool:
        """Queue a dead job again with a fresh attempt budget; True if it was dead."""
        return self._act("retry", job_id)

    def discard(self, job_id: str) -> bool:
        """Delete a dead job for good; True if it was dead."""
        return self._act("discard", job_id)

    def _act(self, action: str, job_id: str) -> bool:
        try:
            done = self.host.call(self._dead_letter(action, job_id))
        except Exception as exc:
            self.message.value = _note(f"{action} {job_id}: {exc}", error=True)
            return False
        past = "queued again" if action == "retry" else "discarded"
        text = f"job {job_id} {past}" if done else f"job {job_id} is not dead (any more): nothing done"
        self.message.value = _note(text, error=not done)
        self.render(self.host.call(self._snapshot()))
        return done

    async def _dead_letter(self, action: str, job_id: str) -> bool:
        service = self._service()
        if service is None:
            return False
        if action == "retry":
            return await service.driver.dlq_retry(self.app.name, job_id)
        return await service.driver.dlq_discard(self.app.name, job_id)

    # -- drawing (kernel's thread only) ---------------------------------------------------------------
    def render(self, snapshot: Snapshot) -> None:
        """Redraw from `snapshot`: rows kept by job id, so buttons stay the same widgets."""
        self.snapshot = snapshot
        listed = {info.id: info for info in snapshot.jobs}
        with self.widget.hold_sync():
            for job_id in [i for i in self.rows if i not in listed]:
                self.rows.pop(job_id).close()
            cells = list(self._headers)
            for job_id, info in listed.items():
                row = self.rows.get(job_id)
                if row is None:
                    row = self.rows[job_id] = JobRow(self, job_id)
                row.update(info)
                cells += row.widgets
            if tuple(cells) != self.grid.children:
                self.grid.children = tuple(cells)
            self.title.value = self._title()
            self.counters.value = self._counters(snapshot)

    def _title(self, stopped: bool = False) -> str:
        state = " (stopped)" if stopped or self.stopped else ""
        driver = f", driver {self.snapshot.driver}" if self.snapshot.driver else ""
        return (
            f"<h4 style='margin:0'>Jobs of Gingee app <code>{html.escape(self.app.name)}</code>"
            f"{driver}{state}</h4>"
        )

    def _counters(self, snapshot: Snapshot) -> str:
        if not snapshot.loaded:
            return _note("the app is not loaded: run app.request(...) or app.serve()")
        if snapshot.driver is None:
            return _note("no jobs: define one with @app.job and add it with queue.add")
        counts = " &middot; ".join(f"{name} <b>{snapshot.counts.get(name, 0)}</b>" for name in COUNTERS)
        shown = f"; the latest {self.limit} jobs below" if len(snapshot.jobs) >= self.limit else ""
        return f"<span class='gingee-job-counts'>{counts}{shown}</span>"

    def _ipython_display_(self) -> None:
        from IPython.display import display

        display(self.widget)


def _progress(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, (int, float)) and not isinstance(value, bool) and 0 <= value <= 1:
        return f"{100 * value:.0f}%"
    return html.escape(json.dumps(value)[:80])


def _error(error: str | None) -> str:
    if not error:
        return ""
    short = error if len(error) <= 120 else error[:117] + "..."
    return f"<span title='{html.escape(error)}'>{html.escape(short)}</span>"


def _note(text: str, error: bool = False) -> str:
    colour = "#c62828" if error else "#666"
    return f"<span style='color:{colour}'>{html.escape(text)}</span>"


def jobs_view(app: App, limit: int = LIMIT) -> JobsView:
    """Create, start and return the jobs view of `app` (display it by leaving it last in a cell)."""
    view = JobsView(app, limit)
    view.start()
    app._stop_hooks.append(view.stop)
    return view
