"""mail.send_later through the queue (memory and arq drivers) to a real aiosmtpd: delivered exactly once,
retried while the server says "try again later", and a refused recipient in the dead-letter queue at once."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from gingee_kernel import mail, queue
from gingee_kernel.engine.context import app_context
from tests.fixtures.smtp import PASSWORD, USER, StartSmtp
from tests.jobqueue.conftest import StartProject


def shop(peer: Any) -> dict[str, Any]:
    smtp = {"host": "127.0.0.1", "port": peer.port, "ca_file": peer.ca_file, "username": USER}
    return {
        "web/shop/box/app.json": {
            "name": "shop",
            "mail": {
                "driver": "smtp",
                "from": "shop@example.org",
                "queue": {"attempts": 3, "backoff_ms": 10},
            },
        },
        "web/shop/box/pmft.json": {"permissions": {"mandatory": ["mail", "queue"]}},
        "mail": smtp,
    }


async def start(start_project: StartProject, peer: Any, monkeypatch: pytest.MonkeyPatch) -> Any:
    files = shop(peer)
    smtp = {**files.pop("mail"), "password": "env:GINGEE_TEST_SMTP_PASSWORD"}
    monkeypatch.setenv("GINGEE_TEST_SMTP_PASSWORD", PASSWORD)
    project = await start_project(files, server={"mail": {"smtp": smtp}}, dev=True)
    assert "shop" in project.apps, project.errors
    return project.apps["shop"]


async def test_send_later_delivers_exactly_once(
    start_project: StartProject, smtp_server: StartSmtp, monkeypatch: pytest.MonkeyPatch
) -> None:
    peer = await smtp_server("starttls")
    app = await start(start_project, peer, monkeypatch)
    with app_context(app):
        job = await mail.send_later(to="ada@example.org", subject="Welcome", text="Hello")
        value = await job.result(timeout=15)
    [got] = await peer.wait_for(1)
    assert got.rcpt_tos == ["ada@example.org"] and got.message["Subject"] == "Welcome"
    assert value["message_id"] == got.message["Message-ID"]
    await asyncio.sleep(0.2)
    assert len(peer.messages) == 1  # not twice


async def test_a_provider_failing_twice_then_recovering_delivers_once(
    start_project: StartProject, smtp_server: StartSmtp, monkeypatch: pytest.MonkeyPatch
) -> None:
    peer = await smtp_server("starttls")
    peer.fail_data = 2  # 451 twice
    app = await start(start_project, peer, monkeypatch)
    with app_context(app):
        job = await mail.send(to="ada@example.org", subject="Eventually", text="x", queue=True)
        await job.result(timeout=15)
        info = await job.info()
    assert info.attempt == 3
    assert [m.message["Subject"] for m in await peer.wait_for(1)] == ["Eventually"]


async def test_a_refused_recipient_goes_to_the_dlq_without_retries(
    start_project: StartProject, smtp_server: StartSmtp, monkeypatch: pytest.MonkeyPatch
) -> None:
    peer = await smtp_server("starttls")
    peer.refuse_recipients = {"ghost@example.org"}
    app = await start(start_project, peer, monkeypatch)
    with app_context(app):
        job = await mail.send_later(to="ghost@example.org", subject="x", text="x")
        with pytest.raises(queue.JobFailed, match="RecipientRejected"):
            await job.result(timeout=15)
        [dead] = await queue.dlq.list()
    assert dead["id"] == job.id and dead["attempts_made"] == 1
    assert peer.messages == []


async def test_send_later_checks_the_message_at_once(
    start_project: StartProject, smtp_server: StartSmtp, monkeypatch: pytest.MonkeyPatch
) -> None:
    peer = await smtp_server("starttls")
    app = await start(start_project, peer, monkeypatch)
    with app_context(app):
        with pytest.raises(mail.InvalidMessage, match="to: 'not-an-address'"):
            await mail.send_later(to="not-an-address", subject="x", text="x")
        assert (await queue.stats())["queued"] == 0
