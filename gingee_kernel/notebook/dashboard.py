"""`app.dashboard()`: live ipywidgets of requests per route, latency, errors and the last requests.

The numbers are the app's Prometheus series (`metrics.read.snapshot`), the same ones `/metrics` and
`{base_url}gingee/metrics` expose, so the dashboard and Grafana agree (a route's p50 and p99 cover every
status class: `snapshot` sums its histogram's buckets over them). The last requests come from the engine's
observer, which runs on the host thread and only appends to a deque. One task on the kernel's own loop
redraws the widgets a few times a second (research §5: widgets change on the main loop only, batched with
hold_sync). The task ends when the app stops serving or the widget closes.
"""

from __future__ import annotations

import asyncio
import collections
import html
import threading
import time
from typing import TYPE_CHECKING, Any

from ..engine.observe import Exchange
from ..metrics.read import AppStats, snapshot
from .host import LiveHost

if TYPE_CHECKING:
    from .app import App

REFRESH_SECONDS = 0.25
SNAPSHOT_EVERY = 4  # ticks between redraws when no request came in
RECENT = 12


class Collector:
    """Receives Exchanges for one app on the host thread; the widget side drains it."""

    def __init__(self, app: str) -> None:
        self.app = app
        self.pending: collections.deque[tuple[float, Exchange]] = collections.deque(maxlen=10_000)
        self.lock = threading.Lock()

    def __call__(self, exchange: Exchange) -> None:
        if exchange.app == self.app:
            self.pending.append((time.time(), exchange))

    def drain(self) -> list[tuple[float, Exchange]]:
        items: list[tuple[float, Exchange]] = []
        while self.pending:
            items.append(self.pending.popleft())
        return items


class Dashboard:
    """The widgets and the task that keeps them current."""

    def __init__(self, app: App) -> None:
        import ipywidgets as widgets

        self.app = app
        self.stats = snapshot(app.name)
        self.recent: collections.deque[tuple[float, Exchange]] = collections.deque(maxlen=RECENT)
        self.collector = Collector(app.name)
        self.host = LiveHost.get()
        self.host.engine.observers.append(self.collector)
        self.title = widgets.HTML()
        self.table = widgets.HTML()
        self.last = widgets.HTML()
        self.widget = widgets.VBox([self.title, self.table, self.last])
        self.widget.add_class("gingee-dashboard")
        self._task: asyncio.Task[None] | None = None
        self.render()

    def start(self) -> None:
        """Begin refreshing on the kernel's loop (call from a cell)."""
        loop = asyncio.get_event_loop()
        self._task = loop.create_task(self._run())

    def stop(self) -> None:
        """Stop refreshing and detach from the engine."""
        if self.collector in self.host.engine.observers:
            self.host.engine.observers.remove(self.collector)
        if self._task is not None:
            self._task.cancel()

    async def _run(self) -> None:
        try:
            tick = 0
            while self.app.serving is not None or self.collector.pending:
                items = self.collector.drain()
                self.recent.extend(items)
                if items or tick % SNAPSHOT_EVERY == 0:  # websocket, job and cache series move too
                    self.stats = snapshot(self.app.name)
                    with self.widget.hold_sync():
                        self.render()
                tick += 1
                await asyncio.sleep(REFRESH_SECONDS)
            self.title.value = self._title(stopped=True)
        finally:
            if self.collector in self.host.engine.observers:
                self.host.engine.observers.remove(self.collector)

    def _title(self, stopped: bool = False) -> str:
        serving = self.app.serving
        where = (
            f"live at <a href='{serving.path}' target='_blank'>{html.escape(serving.url or serving.path)}</a>"
            if serving and not stopped
            else "not serving"
        )
        return f"<h4 style='margin:0'>Gingee app <code>{html.escape(self.app.name)}</code>: {where}</h4>"

    def render(self) -> None:
        """Redraw every widget from the latest snapshot and the last requests."""
        self.title.value = self._title()
        rows = (
            "".join(
                f"<tr><td>{method}</td><td><code>{html.escape(route)}</code></td><td>{s.requests:.0f}</td>"
                f"<td>{s.by_class.get('4xx', 0):.0f}</td><td>{s.errors:.0f}</td>"
                f"<td>{_ms(s.latency(0.5))}</td><td>{_ms(s.latency(0.99))}</td></tr>"
                for (route, method), s in sorted(self.stats.routes.items())
            )
            or "<tr><td colspan='7'>no requests yet</td></tr>"
        )
        self.table.value = (
            "<table class='gingee-routes'><tr><th>method</th><th>route</th><th>requests</th><th>4xx</th>"
            f"<th>5xx</th><th>p50 ms</th><th>p99 ms</th></tr>{rows}</table>"
            f"<div class='gingee-totals'>{_totals(self.stats)}</div>"
        )
        last = "".join(
            f"<tr><td>{time.strftime('%H:%M:%S', time.localtime(stamp))}</td><td>{e.method}</td>"
            f"<td><code>{html.escape(e.route)}</code></td><td>{e.status}</td>"
            f"<td>{1000 * e.duration:.1f}</td></tr>"
            for stamp, e in reversed(self.recent)
        )
        self.last.value = (
            "<details open><summary>last requests</summary><table><tr><th>time</th><th>method</th>"
            f"<th>route</th><th>status</th><th>ms</th></tr>{last}</table></details>"
        )

    def _ipython_display_(self) -> None:
        from IPython.display import display

        display(self.widget)


def _ms(seconds: float | None) -> str:
    return "-" if seconds is None else f"{1000 * seconds:.1f}"


def _totals(stats: AppStats) -> str:
    """One line of the app's other series: in flight, refusals, jobs, websockets, cache."""
    parts = [f"in flight {stats.in_flight:.0f}"]
    events: collections.Counter[str] = collections.Counter()
    for counts in stats.jobs.values():
        events.update(counts)
    for label, counts in (
        ("limits", stats.limit_rejections),
        ("denied", stats.permission_denials),
        ("jobs", events),
        ("cache", stats.cache),
    ):
        if counts:
            parts.append(label + " " + ", ".join(f"{k} {v:.0f}" for k, v in sorted(counts.items())))
    if stats.websocket_connections or stats.websocket_messages:
        parts.append(f"websockets {stats.websocket_connections:.0f} open")
    return html.escape(" · ".join(parts))


def dashboard(app: App) -> Any:
    """Create, start and return the live dashboard of `app` (display it by leaving it last in a cell)."""
    board = Dashboard(app)
    board.start()
    return board
