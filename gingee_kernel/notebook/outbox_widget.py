"""`app.outbox()`: the mail an app 'sent' through the console driver, as a live ipywidgets list.

Each message shows its headers, its text part, its HTML part rendered in a sandboxed iframe (no scripts,
no network: `srcdoc` with a CSP), and its attachments listed by name, type and size. The outbox lives on
the host loop's project (`shared`); the view copies it there and redraws on the kernel's loop every
REFRESH_SECONDS until `.stop()`, `app.stop()` or the widget is closed (as the jobs view does).
"""

from __future__ import annotations

import asyncio
import html
import time
from typing import TYPE_CHECKING, Any

from ..modules.mail_drivers.console import OUTBOXES
from .host import LiveHost
from .runtime import install

if TYPE_CHECKING:
    from .app import App

REFRESH_SECONDS = 0.5
LIMIT = 20
_CSP = "default-src 'none'; style-src 'unsafe-inline'; img-src data:"


def render_message(entry: dict[str, Any]) -> str:
    """One message as HTML (every value escaped; the HTML part only inside a sandboxed iframe)."""
    sent = time.strftime("%H:%M:%S", time.localtime(entry["sent_at"]))
    rows = [("From", entry["from"]), ("To", ", ".join(entry["to"]))]
    rows += [
        (k, ", ".join(entry[key])) for k, key in (("Cc", "cc"), ("Bcc", "bcc"), ("Reply-To", "reply_to"))
    ]
    rows += list(entry["headers"].items())
    head = "".join(
        f"<tr><th style='text-align:left'>{html.escape(k)}</th><td>{html.escape(v)}</td></tr>"
        for k, v in rows
        if v
    )
    parts = []
    if entry["text"] is not None:
        parts.append(f"<pre style='white-space:pre-wrap;margin:4px 0'>{html.escape(entry['text'])}</pre>")
    if entry["html"] is not None:
        doc = f"<meta http-equiv='Content-Security-Policy' content=\"{_CSP}\">{entry['html']}"
        parts.append(
            f"<iframe class='gingee-mail-html' sandbox srcdoc=\"{html.escape(doc, quote=True)}\" "
            "style='width:100%;height:12em;border:1px solid #ddd'></iframe>"
        )
    files = "".join(
        f"<li>{html.escape(a['filename'])} ({html.escape(a['content_type'])}, {a['size']} bytes)</li>"
        for a in entry["attachments"]
    )
    attached = f"<div><b>Attachments</b><ul>{files}</ul></div>" if files else ""
    return (
        f"<div class='gingee-mail' style='border-top:1px solid #ccc;padding:4px 0'>"
        f"<div><b>{html.escape(entry['subject'])}</b> <span style='color:#666'>{sent}</span></div>"
        f"<table>{head}</table>{''.join(parts)}{attached}</div>"
    )


class OutboxView:
    """The widget and the task that keeps it current."""

    def __init__(self, app: App, limit: int = LIMIT) -> None:
        import ipywidgets as widgets

        self.app = app
        self.limit = limit
        self.host = LiveHost.get()
        self.host.call(install(self.host, app))
        self.title = widgets.HTML()
        self.body = widgets.HTML()
        self.widget = widgets.VBox([self.title, self.body])
        self.widget.add_class("gingee-outbox")
        self.messages: list[dict[str, Any]] = []
        self.stopped = False
        self._task: asyncio.Task[None] | None = None
        self.render(self.host.call(self._read()))

    async def _read(self) -> list[dict[str, Any]]:
        """Runs on the host loop: the newest messages first, as plain data."""
        box = (self.host.project.shared.get(OUTBOXES) or {}).get(self.app.name) or ()
        return [entry.summary() for entry in list(box)[::-1][: self.limit]]

    async def refresh(self) -> list[dict[str, Any]]:
        future = asyncio.run_coroutine_threadsafe(self._read(), self.host.loop)
        messages = await asyncio.wrap_future(future)
        self.render(messages)
        return messages

    def render(self, messages: list[dict[str, Any]]) -> None:
        if [m["message_id"] for m in messages] == [
            m["message_id"] for m in self.messages
        ] and self.title.value:
            return
        self.messages = messages
        name = html.escape(self.app.name)
        state = " (stopped)" if self.stopped else ""
        self.title.value = (
            f"<h4 style='margin:0'>Outbox of Gingee app <code>{name}</code>: "
            f"{len(messages)} message{'s' if len(messages) != 1 else ''}{state}</h4>"
        )
        self.body.value = "".join(render_message(m) for m in messages) or (
            "<span style='color:#666'>nothing sent yet: call mail.send(...) in a route or job "
            "(the console driver keeps messages here; nothing leaves the machine)</span>"
        )

    def start(self) -> None:
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:
            return
        self._task = loop.create_task(self._run())

    async def _run(self) -> None:
        while not self.stopped and self.widget.comm is not None:
            await self.refresh()
            await asyncio.sleep(REFRESH_SECONDS)

    def stop(self) -> None:
        self.stopped = True
        if self.stop in self.app._stop_hooks:
            self.app._stop_hooks.remove(self.stop)
        if self._task is not None:
            self._task.cancel()

    def _ipython_display_(self) -> None:
        from IPython.display import display

        display(self.widget)


def outbox_view(app: App, limit: int = LIMIT) -> OutboxView:
    """Create, start and return the outbox view of `app` (display it by leaving it last in a cell)."""
    view = OutboxView(app, limit)
    view.start()
    app._stop_hooks.append(view.stop)
    return view
