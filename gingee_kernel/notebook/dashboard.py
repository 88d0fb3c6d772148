"""`app.dashboard()`: live ipywidgets of requests per route, latency, errors and the last requests.

The engine's observer runs on the host thread and only appends to a deque; one task on the kernel's
own loop applies the changes to the widgets a few times a second (research §5: widgets change on the
main loop only, batched with hold_sync). The task ends when the app stops serving or the widget closes.
"""

from __future__ import annotations

import asyncio
import collections
import html
import threading
import time
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from ..engine.observe import Exchange
from .host import LiveHost

if TYPE_CHECKING:
    from .app import App

REFRESH_SECONDS = 0.25
RECENT = 12


@dataclass
class RouteStats:
    """Counters and recent latencies of one route."""

    requests: int = 0
    client_errors: int = 0
    server_errors: int = 0
    latencies: collections.deque[float] = field(default_factory=lambda: collections.deque(maxlen=500))

    def add(self, exchange: Exchange) -> None:
        self.requests += 1
        self.client_errors += 400 <= exchange.status < 500
        self.server_errors += exchange.status >= 500
        self.latencies.append(exchange.duration)

    def percentile(self, q: float) -> float:
        ordered = sorted(self.latencies)
        return ordered[min(len(ordered) - 1, int(q * len(ordered)))] if ordered else 0.0


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
        self.routes: dict[str, RouteStats] = collections.defaultdict(RouteStats)
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
            while self.app.serving is not None or self.collector.pending:
                items = self.collector.drain()
                if items:
                    for stamp, exchange in items:
                        self.routes[f"{exchange.method} {exchange.route}"].add(exchange)
                        self.recent.append((stamp, exchange))
                    with self.widget.hold_sync():
                        self.render()
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
        """Redraw every widget from the current stats."""
        self.title.value = self._title()
        rows = (
            "".join(
                f"<tr><td><code>{html.escape(route)}</code></td><td>{s.requests}</td><td>{s.client_errors}</td>"
                f"<td>{s.server_errors}</td><td>{1000 * s.percentile(0.5):.1f}</td>"
                f"<td>{1000 * s.percentile(0.99):.1f}</td></tr>"
                for route, s in sorted(self.routes.items())
            )
            or "<tr><td colspan='6'>no requests yet</td></tr>"
        )
        self.table.value = (
            "<table class='gingee-routes'><tr><th>route</th><th>requests</th><th>4xx</th><th>5xx</th>"
            f"<th>p50 ms</th><th>p99 ms</th></tr>{rows}</table>"
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


def dashboard(app: App) -> Any:
    """Create, start and return the live dashboard of `app` (display it by leaving it last in a cell)."""
    board = Dashboard(app)
    board.start()
    return board
