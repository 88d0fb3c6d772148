"""`gk.fleet_view(server, token=...)`: a live widget of a fleet, from any node's `/_gingee/api/cluster`.

One row per node: its id and role, host and pid, the version of each app it serves, how long ago it beat,
and whether it is stale, still catching up, or reports errors; above them, the registry's entries. A task
on the kernel's loop asks again every `refresh` seconds until the widget is closed or `stop()` is called.
"""

from __future__ import annotations

import asyncio
import html
import os
from typing import Any

import httpx

from ..lifecycle.client import TOKEN_ENV

PATH = "/_gingee/api/cluster"


class FleetView:
    """The widgets and the task that keeps them current."""

    def __init__(self, server: str, *, token: str | None = None, refresh: float = 2.0) -> None:
        import ipywidgets as widgets

        self.url = server.rstrip("/") + PATH
        self.token = token or os.environ.get(TOKEN_ENV)
        self.refresh_seconds = refresh
        self.title = widgets.HTML(f"<h4 style='margin:0'>Gingee fleet at {html.escape(server)}</h4>")
        self.table = widgets.HTML("asking…")
        self.widget = widgets.VBox([self.title, self.table])
        self.widget.add_class("gingee-fleet")
        self.data: dict[str, Any] | None = None
        self._task: asyncio.Task[None] | None = None

    async def refresh(self) -> dict[str, Any] | None:
        """Ask the node once and redraw; the cluster view, or None (the widget then says why)."""
        headers = {"Authorization": f"Bearer {self.token}"} if self.token else {}
        try:
            async with httpx.AsyncClient(timeout=10) as client:
                answer = await client.get(self.url, headers=headers)
        except httpx.HTTPError as exc:
            self.table.value = f"<b>cannot reach {html.escape(self.url)}</b>: {html.escape(str(exc))}"
            return None
        if answer.status_code != 200:
            try:
                reason = answer.json().get("reason", answer.text)
            except ValueError:
                reason = answer.text
            self.table.value = f"<b>{answer.status_code}</b>: {html.escape(str(reason))}"
            return None
        self.data = answer.json()
        self.table.value = render(self.data)
        return self.data

    def start(self) -> None:
        """Begin refreshing on the kernel's loop (call from a cell)."""
        self._task = asyncio.get_event_loop().create_task(self._run())
        self.widget.observe(self._closed, names="comm")

    def _closed(self, change: dict[str, Any]) -> None:
        if change.get("new") is None:  # the widget was closed
            self.stop()

    def stop(self) -> None:
        """Stop refreshing."""
        if self._task is not None:
            self._task.cancel()

    async def _run(self) -> None:
        while True:
            await self.refresh()
            await asyncio.sleep(self.refresh_seconds)

    def _ipython_display_(self) -> None:
        from IPython.display import display

        display(self.widget)


def _text(value: Any) -> str:
    return html.escape(str(value))


def _versions(node: dict[str, Any]) -> str:
    apps = sorted((node.get("apps") or {}).items())
    return ", ".join(f"{app} {about.get('version')}" for app, about in apps)


def _state(node: dict[str, Any]) -> str:
    if node.get("stale"):
        return "<b style='color:#b00'>stale</b>"
    if node.get("errors"):
        errors = "; ".join(f"{app}: {why}" for app, why in sorted(node["errors"].items()))
        return f"<b style='color:#b60'>errors</b> {_text(errors)}"
    return "serving" if node.get("synced") else "catching up"


def _app_row(name: str, entry: dict[str, Any]) -> str:
    grants = "removed" if entry.get("removed") else ", ".join(entry.get("granted") or []) or "-"
    cells = [f"<code>{_text(name)}</code>", _text(entry.get("version")), _text(entry.get("rev")),
             f"{_text(entry.get('op'))} on {_text(entry.get('node'))}", _text(grants)]  # fmt: skip
    return "<tr>" + "".join(f"<td>{cell}</td>" for cell in cells) + "</tr>"


def _node_row(node: dict[str, Any]) -> str:
    cells = [f"<code>{_text(node.get('id'))}</code>", _text(node.get("role")),
             f"{_text(node.get('host'))}:{_text(node.get('pid'))}", _text(_versions(node)),
             f"{_text(node.get('age_s'))} s", _state(node)]  # fmt: skip
    return "<tr>" + "".join(f"<td>{cell}</td>" for cell in cells) + "</tr>"


def render(data: dict[str, Any]) -> str:
    """The cluster view as HTML: the registry's apps, then one row per node."""
    entries = sorted((data.get("apps") or {}).items())
    apps = "".join(_app_row(name, entry) for name, entry in entries)
    nodes = "".join(_node_row(node) for node in data.get("nodes") or [])
    apps = apps or "<tr><td colspan=5>nothing published yet</td></tr>"
    nodes = nodes or "<tr><td colspan=6>no heartbeat yet</td></tr>"
    return (
        f"<div>fleet <code>{_text(data.get('cluster'))}</code>, registry revision {_text(data.get('rev'))}, "
        f"asked node <code>{_text(data.get('node'))}</code></div>"
        "<table class='gingee-fleet-apps'><tr><th>app</th><th>version</th><th>rev</th><th>published</th>"
        f"<th>grants</th></tr>{apps}</table>"
        "<table class='gingee-fleet-nodes'><tr><th>node</th><th>role</th><th>host:pid</th><th>apps</th>"
        f"<th>last beat</th><th>state</th></tr>{nodes}</table>"
    )


def fleet_view(server: str, *, token: str | None = None, refresh: float = 2.0) -> FleetView:
    """A live view of the fleet the `gingee serve` at `server` belongs to (its admin token, default
    $GINGEE_ADMIN_TOKEN); leave it last in a cell to display it."""
    view = FleetView(server, token=token, refresh=refresh)
    view.start()
    return view
