"""What mail.send refuses, and the gate, the manifests and the outbox: each refusal names the field and
sends nothing; a served app's client gets JSON, never a traceback; a broken `mail` section names its key."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
import pytest

from gingee_kernel import mail
from gingee_kernel.engine.context import app_context
from gingee_kernel.errors import PermissionDenied
from tests.fixtures.apps import MakeApp

OK = {"to": "ada@example.org", "subject": "Hi", "text": "hello"}


@pytest.mark.parametrize(
    ("change", "field", "words"),
    [
        ({"subject": "Hi\r\nBcc: evil@example.org"}, "subject", "line break"),
        ({"to": "Ada <ada@example.org>\nBcc: evil@example.org"}, "to", "line break"),
        ({"from_": "Shop\r\n <shop@example.org>"}, "from_", "line break"),
        ({"headers": {"X-Tag": "a\r\nBcc: evil@example.org"}}, "headers['X-Tag']", "line break"),
        ({"headers": {"Bcc": "evil@example.org"}}, "headers['Bcc']", "set by mail.send itself"),
        ({"headers": {"X Bad": "v"}}, "headers['X Bad']", "header name"),
        ({"to": "ada@"}, "to", "not a valid email address"),
        ({"to": ["ada@example.org", "two@@example.org"]}, "to[1]", "not a valid email address"),
        ({"to": "ada@-bad-.example"}, "to", "domain is not valid"),
        ({"to": None}, "to", "no recipient"),
        ({"text": None}, "text", "no body"),
        ({"subject": None}, "subject", "is required"),
        ({"attachments": [{"filename": "b", "content": b"x" * 2049}]}, "attachments[0]", "2048-byte limit"),
        ({"attachments": [{"path": "../../../etc/passwd"}]}, "attachments[0].path", "outside the app's box"),
        ({"attachments": [{"path": "/etc/passwd"}]}, "attachments[0].path", "outside the app's box"),
        ({"attachments": [{"filename": "a"}]}, "attachments[0]", "exactly one of"),
        ({"password": "env:HOME"}, "password", "driver option"),
        ({"smtp": {"host": "evil.example"}}, "smtp", "driver option"),
        ({"colour": "red"}, "colour", "unknown option"),
    ],
)  # fmt: skip
async def test_bad_input_names_the_field_and_sends_nothing(
    make_app: MakeApp, change: dict[str, Any], field: str, words: str
) -> None:
    app = make_app(
        "shop", config={"mail": {"from": "shop@example.org", "max_attachment_bytes": 2048}}, grants={"mail"}
    )
    with app_context(app):
        with pytest.raises(mail.InvalidMessage) as info:
            await mail.send(**{**OK, **change})
        assert info.value.field == field
        assert words in str(info.value) and "nothing was sent" in str(info.value)
        assert mail.outbox() == []


async def test_idna_domains_are_sent_as_punycode(make_app: MakeApp) -> None:
    app = make_app("shop", config={"mail": {"from": "Shop <shop@bücher.example>"}}, grants={"mail"})
    with app_context(app):
        result = await mail.send(to="Zoë <zoe@münchen.example>", subject="Grüße", text="hallo")
        [sent] = mail.outbox()
    assert result.recipients == ["zoe@xn--mnchen-3ya.example"]
    assert b"shop@xn--bcher-kva.example" in sent["raw"] and b"\r\nSubject: =?utf-8?" in sent["raw"]


async def test_a_secret_reference_in_a_call_is_only_text(
    make_app: MakeApp, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("GINGEE_TEST_SECRET", "hunter2")
    app = make_app("shop", config={"mail": {"from": "shop@example.org"}}, grants={"mail"})
    with app_context(app):
        await mail.send(to="ada@example.org", subject="env:GINGEE_TEST_SECRET", text="file:/etc/passwd")
        [sent] = mail.outbox()
    assert sent["subject"] == "env:GINGEE_TEST_SECRET" and sent["text"] == "file:/etc/passwd"
    assert b"hunter2" not in sent["raw"]


async def test_console_outbox_keeps_the_last_messages(make_app: MakeApp) -> None:
    app = make_app("shop", config={"mail": {"from": "shop@example.org", "outbox_size": 3}}, grants={"mail"})
    other = make_app("blog", config={"mail": {"from": "b@example.org"}}, grants={"mail"}, shared=app.shared)
    with app_context(app):
        for n in range(5):
            await mail.send(to="ada@example.org", subject=f"n{n}", text="x", html="<i>x</i>")
        box = mail.outbox()
    assert [m["subject"] for m in box] == ["n4", "n3", "n2"]
    assert box[0]["html"] == "<i>x</i>" and box[0]["to"] == ["ada@example.org"]
    with app_context(other):
        assert mail.outbox() == []  # apps never see each other's mail


async def test_mail_needs_its_grant(make_app: MakeApp) -> None:
    app = make_app("shop", config={"mail": {"from": "shop@example.org"}})
    with app_context(app), pytest.raises(PermissionDenied, match="'mail' permission"):
        await mail.send(**OK)
    queued = make_app("q", config={"mail": {"from": "q@example.org"}}, grants={"mail"})
    with app_context(queued), pytest.raises(PermissionDenied, match="'queue' permission"):
        await mail.send_later(**OK)


SEND_ROUTE = """
from gingee_kernel import mail

async def handle(g):
    result = await mail.send(to=g.request.query.get("to", "ada@example.org"), subject="Hi", text="x")
    return {"id": result.message_id, "driver": result.driver}
"""


def test_served_app_sends_and_a_client_never_sees_a_traceback(
    make_project: Callable[..., Path], serve: Callable[..., Any]
) -> None:
    project = make_project(
        {
            "gingee.json": {"mail": {"driver": "console", "from": "shop@example.org"}},
            "web/shop/box/app.json": {"name": "shop"},
            "web/shop/box/pmft.json": {"permissions": {"mandatory": ["mail"]}},
            "web/shop/box/send.py": SEND_ROUTE,
            "web/broken/box/app.json": {
                "name": "broken",
                "mail": {"driver": "smtp", "smtp": {"password": "x"}},
            },
        }
    )
    server = serve(project)
    ok = httpx.get(server.url("/shop/send"))
    assert ok.status_code == 200 and ok.json()["driver"] == "console"
    bad = httpx.get(server.url("/shop/send"), params={"to": "nobody"})
    assert bad.status_code == 500
    assert "Traceback" not in bad.text and "InvalidMessage" not in bad.text
    assert (
        "web/broken/box/app.json: at /mail/smtp/password: expected a secret reference"
        in (server.project.errors["broken"])
    )
