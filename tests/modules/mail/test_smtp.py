"""The smtp driver against a real aiosmtpd on 127.0.0.1: STARTTLS, implicit TLS, AUTH, reuse, and the
documented error for a refused login, a refused recipient, a dropped DATA and a server that never answers."""

from __future__ import annotations

import asyncio

import pytest

from gingee_kernel import mail
from gingee_kernel.engine.app import AppRuntime
from gingee_kernel.engine.context import app_context
from gingee_kernel.errors import ServiceUnavailable
from gingee_kernel.modules.egress import EgressDenied
from tests.fixtures.apps import MakeApp
from tests.fixtures.smtp import PASSWORD, USER, StartSmtp

AUTH = {"username": USER, "password": PASSWORD}


def smtp_app(make_app: MakeApp, config: dict, **app_mail: object) -> AppRuntime:
    return make_app("shop", config={"mail": app_mail}, server={"mail": config}, grants={"mail"})


async def test_starttls_auth_message_arrives_as_sent(make_app: MakeApp, smtp_server: StartSmtp) -> None:
    peer = await smtp_server("starttls")
    app = smtp_app(make_app, peer.config(smtp=AUTH))
    (app.box / "files").mkdir()
    (app.box / "files" / "terms.pdf").write_bytes(b"%PDF-1.4 \x00\xff binary")
    with app_context(app):
        result = await mail.send(
            to=["Ada Lovelace <ada@example.org>", "bob@example.org"],
            cc="Carol <carol@example.org>",
            bcc="audit@example.org",
            reply_to="help@example.org",
            subject="Welcome, Ada ✓",
            text="Hello Ada\n",
            html="<p>Hello <b>Ada</b></p>\n",
            headers={"X-Campaign": "welcome-1"},
            attachments=[
                {"filename": "report.csv", "content": "a,b\n1,2\n"},
                {"path": "files/terms.pdf"},
            ],
        )
    [got] = await peer.wait_for(1)
    assert peer.logins == [USER]
    assert result.driver == "smtp" and result.message_id
    assert got.mail_from == "shop@example.org"
    assert got.rcpt_tos == ["ada@example.org", "bob@example.org", "carol@example.org", "audit@example.org"]
    msg = got.message
    assert msg["Message-ID"] == result.message_id
    assert msg["From"] == "Shop <shop@example.org>"
    assert msg["To"] == "Ada Lovelace <ada@example.org>, bob@example.org"
    assert msg["Cc"] == "Carol <carol@example.org>"
    assert msg["Bcc"] is None  # blind copies travel in the envelope only
    assert msg["Reply-To"] == "help@example.org"
    assert msg["Subject"] == "Welcome, Ada ✓"
    assert msg["X-Campaign"] == "welcome-1"
    assert msg.get_body(("plain",)).get_content() == "Hello Ada\n"
    assert msg.get_body(("html",)).get_content() == "<p>Hello <b>Ada</b></p>\n"
    files = {part.get_filename(): part for part in msg.iter_attachments()}
    assert files["report.csv"].get_content_type() == "text/csv"
    assert files["report.csv"].get_payload(decode=True) == b"a,b\n1,2\n"
    assert files["terms.pdf"].get_content_type() == "application/pdf"
    assert files["terms.pdf"].get_payload(decode=True) == b"%PDF-1.4 \x00\xff binary"


async def test_implicit_tls(make_app: MakeApp, smtp_server: StartSmtp) -> None:
    peer = await smtp_server("tls")
    app = smtp_app(make_app, peer.config(smtp={**AUTH, "security": "tls"}))
    with app_context(app):
        await mail.send(to="ada@example.org", subject="hi", text="over TLS")
    [got] = await peer.wait_for(1)
    assert got.message.get_content() == "over TLS\n"


async def test_certificate_is_checked(make_app: MakeApp, smtp_server: StartSmtp) -> None:
    peer = await smtp_server("starttls")
    config = peer.config(smtp=AUTH)
    del config["smtp"]["ca_file"]  # the system's CAs do not know the throwaway one
    app = smtp_app(make_app, config)
    with app_context(app), pytest.raises(mail.MailUnavailable, match="CERTIFICATE_VERIFY_FAILED"):
        await mail.send(to="ada@example.org", subject="hi", text="x")
    assert peer.messages == []


async def test_a_burst_reuses_one_connection(make_app: MakeApp, smtp_server: StartSmtp) -> None:
    peer = await smtp_server("starttls")
    app = smtp_app(make_app, peer.config(smtp={**AUTH, "pool_size": 1}))
    with app_context(app):
        for n in range(20):
            await mail.send(to="ada@example.org", subject=f"n{n}", text="x")
    await peer.wait_for(20)
    assert [m.message["Subject"] for m in peer.messages] == [f"n{n}" for n in range(20)]
    assert peer.connections == 1
    assert peer.logins == [USER]
    await app.close()


async def test_concurrent_sends_share_a_bounded_pool(make_app: MakeApp, smtp_server: StartSmtp) -> None:
    peer = await smtp_server("starttls")
    app = smtp_app(make_app, peer.config(smtp={**AUTH, "pool_size": 3}))
    with app_context(app):
        await asyncio.gather(*(mail.send(to="a@example.org", subject=str(n), text="x") for n in range(30)))
    await peer.wait_for(30)
    assert sorted(int(m.message["Subject"]) for m in peer.messages) == list(range(30))
    assert peer.connections <= 3
    await app.close()


async def test_refused_login_is_an_auth_error(make_app: MakeApp, smtp_server: StartSmtp) -> None:
    peer = await smtp_server("starttls")
    app = smtp_app(make_app, peer.config(smtp={"username": USER, "password": "wrong"}))
    with app_context(app), pytest.raises(mail.MailAuthError) as info:
        await mail.send(to="ada@example.org", subject="hi", text="x")
    assert "refused the login for 'mailer'" in str(info.value)
    assert "wrong" not in str(info.value)
    assert peer.messages == []


async def test_a_refused_recipient_sends_to_nobody(make_app: MakeApp, smtp_server: StartSmtp) -> None:
    peer = await smtp_server("starttls")
    peer.refuse_recipients = {"ghost@example.org"}
    app = smtp_app(make_app, peer.config(smtp=AUTH))
    with app_context(app):
        with pytest.raises(mail.RecipientRejected) as info:
            await mail.send(to=["ada@example.org", "ghost@example.org"], subject="hi", text="x")
        assert list(info.value.recipients) == ["ghost@example.org"]
        assert "550" in info.value.recipients["ghost@example.org"]
        assert peer.messages == []  # not delivered to Ada alone
        await mail.send(to="ada@example.org", subject="after", text="x")  # the connection still works
    [got] = await peer.wait_for(1)
    assert got.message["Subject"] == "after"


async def test_a_server_closing_mid_data_is_unavailable(make_app: MakeApp, smtp_server: StartSmtp) -> None:
    peer = await smtp_server("starttls")
    peer.drop_in_data = 1
    app = smtp_app(make_app, peer.config(smtp=AUTH))
    with app_context(app):
        with pytest.raises(mail.MailUnavailable) as info:
            await mail.send(to="ada@example.org", subject="lost", text="x")
        assert isinstance(info.value, ServiceUnavailable)  # the project's documented error, too
        assert info.value.retryable
        await mail.send(to="ada@example.org", subject="next", text="x")  # a fresh connection
    [got] = await peer.wait_for(1)
    assert got.message["Subject"] == "next"


async def test_try_again_later_is_rate_limited(make_app: MakeApp, smtp_server: StartSmtp) -> None:
    peer = await smtp_server("starttls")
    peer.fail_data = 1
    app = smtp_app(make_app, peer.config(smtp=AUTH))
    with app_context(app), pytest.raises(mail.RateLimited, match="451"):
        await mail.send(to="ada@example.org", subject="x", text="x")


async def test_a_server_that_never_answers_times_out(make_app: MakeApp, silent_server: int) -> None:
    config = {"driver": "smtp", "from": "s@example.org", "timeout_ms": 300}
    config["smtp"] = {"host": "127.0.0.1", "port": silent_server, "security": "none"}
    app = smtp_app(make_app, config)
    with app_context(app), pytest.raises(mail.MailUnavailable, match=r"did not answer within 0.3 s"):
        await mail.send(to="ada@example.org", subject="x", text="x")  # timeout_ms, not aiosmtplib's 60 s


async def test_a_server_that_is_down(make_app: MakeApp, silent_server: int) -> None:
    config = {"driver": "smtp", "from": "s@example.org"}
    config["smtp"] = {"host": "127.0.0.1", "port": 1, "security": "none"}
    app = smtp_app(make_app, config)
    with app_context(app), pytest.raises(mail.MailUnavailable, match=r"could not talk to 127\.0\.0\.1:1 "):
        await mail.send(to="ada@example.org", subject="x", text="x")


async def test_an_app_supplied_host_passes_egress(make_app: MakeApp, smtp_server: StartSmtp) -> None:
    peer = await smtp_server("none", auth=False)
    smtp = {"host": "127.0.0.1", "port": peer.port, "security": "none"}
    denied = make_app("a", config={"mail": {"driver": "smtp", "smtp": smtp}}, grants={"mail"})
    with app_context(denied), pytest.raises(EgressDenied) as info:
        await mail.send(to="x@example.org", from_="a@example.org", subject="x", text="x")
    assert "BLOCKED_LOOPBACK" in str(info.value) and "mail.smtp.host" in str(info.value)
    allowed = make_app(
        "b",
        config={"mail": {"driver": "smtp", "smtp": smtp}},
        server={"egress": {"allow_cidrs": ["127.0.0.1/32"]}},
        grants={"mail"},
    )
    with app_context(allowed):
        await mail.send(to="x@example.org", from_="b@example.org", subject="x", text="x")
    assert len(await peer.wait_for(1)) == 1
