"""`app.outbox()` without a browser: a notebook route sends through the console driver, and the widget
lists it with headers, text, the HTML part in a sandboxed frame (escaped) and the attachments."""

from __future__ import annotations

import html
from pathlib import Path
from typing import Any

from gingee_kernel import mail
from gingee_kernel.notebook import App

from .test_jobs import LiveHostFactory
from .test_jobs import live_host as live_host  # a fixture


async def test_outbox_lists_what_a_route_sent(live_host: LiveHostFactory, tmp_path: Path) -> None:
    live_host()
    app = App("welcome", root=tmp_path / "web" / "welcome")
    app.use("mail", driver="console", **{"from": "Workshop <hello@example.org>"})

    @app.route("/signup", methods="POST")
    async def signup(g: Any) -> Any:
        result = await mail.send(
            to=g.request.json()["email"],
            subject="Welcome aboard",
            text="Hi!",
            html="<h1>Hi!</h1><script>alert(1)</script>",
            attachments=[{"filename": "notes.txt", "content": "bring a laptop"}],
        )
        return {"id": result.message_id}

    view = app.outbox()
    assert "nothing sent yet" in view.body.value
    sent = app.request("POST", "/signup", json={"email": "ada@example.org"}).json()
    [entry] = await view.refresh()
    assert entry["message_id"] == sent["id"]
    body = view.body.value
    assert "Welcome aboard" in body and "ada@example.org" in body and "Hi!" in body
    assert "notes.txt (text/plain, 14 bytes)" in body
    assert "<iframe class='gingee-mail-html' sandbox srcdoc=" in body
    assert "<script>" not in body  # the HTML part is only inside the escaped srcdoc
    assert html.escape("<script>alert(1)</script>", quote=True) in body
    assert "1 message" in view.title.value
    view.stop()
