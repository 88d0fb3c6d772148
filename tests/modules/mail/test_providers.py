"""The ses driver against moto's server mode on loopback (a real SES v2 HTTP API stand-in, read back from
/moto-api/data.json), and the sendgrid driver against a loopback stand-in.

SendGrid: no real peer can run here. The stand-in below is a CONTRACT test, not SendGrid: it checks the
exact request we send (URL, headers, JSON body) and answers SendGrid's documented success and error shapes.
"""

from __future__ import annotations

import base64
import json
import re
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass, field
from email import message_from_string, policy
from typing import Any

import boto3
import httpx
import pytest
import tornado.httpserver
import tornado.netutil
import tornado.web
from moto.server import ThreadedMotoServer

from gingee_kernel import mail
from gingee_kernel.engine.context import app_context
from tests.fixtures.apps import MakeApp

SENDER = "Shop <shop@example.org>"


# --- Amazon SES v2 on moto ----------------------------------------------------------------------------


@pytest.fixture(scope="module")
def moto_url() -> Iterator[str]:
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    url = f"http://{host}:{port}"
    ses = boto3.client(
        "sesv2", region_name="eu-west-1", endpoint_url=url, aws_access_key_id="k", aws_secret_access_key="s"
    )
    ses.create_email_identity(EmailIdentity="shop@example.org")  # a verified sender
    yield url
    server.stop()


def ses_app(make_app: MakeApp, url: str, name: str = "shop") -> Any:
    section = {"region": "eu-west-1", "endpoint_url": url, "access_key_id": "k", "secret_access_key": "s"}
    return make_app(name, server={"mail": {"driver": "ses", "from": SENDER, "ses": section}}, grants={"mail"})


def sent_by_moto(url: str) -> dict[str, dict[str, Any]]:
    data = httpx.get(f"{url}/moto-api/data.json").json()
    return {m["id"]: m for m in data["ses"]["RawMessage"]}


async def test_ses_sends_raw_mime_with_attachments(make_app: MakeApp, moto_url: str) -> None:
    app = ses_app(make_app, moto_url)
    with app_context(app):
        result = await mail.send(
            to="ada@example.org",
            bcc="audit@example.org",
            subject="Your receipt",
            text="Thanks!",
            html="<p>Thanks!</p>",
            attachments=[{"filename": "receipt.txt", "content": b"total: 42\n"}],
            headers={"X-Order": "1001"},
        )
    assert result.driver == "ses"
    stored = sent_by_moto(moto_url)[result.message_id]  # SES's own id is what we return
    assert {"ada@example.org", "audit@example.org"} <= set(stored["destinations"])
    msg = message_from_string(stored["raw_data"], policy=policy.default)
    assert msg["Subject"] == "Your receipt" and msg["X-Order"] == "1001" and msg["Bcc"] is None
    [part] = list(msg.iter_attachments())
    assert part.get_filename() == "receipt.txt" and part.get_payload(decode=True) == b"total: 42\n"
    await app.close()


async def test_ses_unverified_sender_is_rejected(make_app: MakeApp, moto_url: str) -> None:
    app = ses_app(make_app, moto_url, "other")
    with app_context(app), pytest.raises(mail.MessageRejected) as info:
        await mail.send(to="ada@example.org", from_="nobody@unverified.example", subject="x", text="x")
    assert "verified SES identity" in str(info.value)
    assert not info.value.retryable
    await app.close()


async def test_ses_unreachable_is_unavailable(make_app: MakeApp) -> None:
    app = ses_app(make_app, "http://127.0.0.1:1")
    with app_context(app), pytest.raises(mail.MailUnavailable, match="could not reach Amazon SES"):
        await mail.send(to="ada@example.org", subject="x", text="x")
    await app.close()


# --- SendGrid v3: a contract stand-in ---------------------------------------------------------------------


@dataclass
class Stand:
    port: int
    requests: list[dict[str, Any]] = field(default_factory=list)
    answers: list[tuple[int, dict[str, str], Any]] = field(default_factory=list)


class MailSend(tornado.web.RequestHandler):
    def post(self) -> None:
        stand: Stand = self.settings["stand"]
        stand.requests.append(
            {
                "path": self.request.path,
                "headers": dict(self.request.headers),
                "body": json.loads(self.request.body),
            }
        )
        status, headers, body = (
            stand.answers.pop(0) if stand.answers else (202, {"X-Message-Id": "sg-1"}, None)
        )
        self.set_status(status)
        for name, value in headers.items():
            self.set_header(name, value)
        if body is not None:
            self.write(body)


@pytest.fixture
async def sendgrid() -> AsyncIterator[Stand]:
    sockets = tornado.netutil.bind_sockets(0, "127.0.0.1")
    stand = Stand(port=sockets[0].getsockname()[1])
    server = tornado.httpserver.HTTPServer(
        tornado.web.Application([("/v3/mail/send", MailSend)], stand=stand)
    )
    server.add_sockets(sockets)
    yield stand
    server.stop()


def sendgrid_app(make_app: MakeApp, stand: Stand) -> Any:
    section = {"api_key": "SG.test-key", "api_base": f"http://127.0.0.1:{stand.port}"}
    return make_app(
        "shop", server={"mail": {"driver": "sendgrid", "from": SENDER, "sendgrid": section}}, grants={"mail"}
    )


async def test_sendgrid_request_is_exactly_the_v3_shape(make_app: MakeApp, sendgrid: Stand) -> None:
    app = sendgrid_app(make_app, sendgrid)
    with app_context(app):
        result = await mail.send(
            to="Ada <ada@example.org>",
            cc="carol@example.org",
            bcc="audit@example.org",
            reply_to="help@example.org",
            subject="Hi",
            text="plain",
            html="<b>html</b>",
            headers={"X-Tag": "t"},
            attachments=[{"filename": "a.csv", "content": "x,y\n"}],
        )
    assert result.message_id == "sg-1" and result.driver == "sendgrid"
    [req] = sendgrid.requests
    assert req["path"] == "/v3/mail/send"
    assert req["headers"]["Authorization"] == "Bearer SG.test-key"
    assert req["headers"]["Content-Type"] == "application/json"
    body = req["body"]
    assert body["personalizations"] == [
        {
            "to": [{"email": "ada@example.org", "name": "Ada"}],
            "cc": [{"email": "carol@example.org"}],
            "bcc": [{"email": "audit@example.org"}],
        }
    ]
    assert body["from"] == {"email": "shop@example.org", "name": "Shop"}
    assert body["reply_to_list"] == [{"email": "help@example.org"}]
    assert body["subject"] == "Hi"
    assert body["content"] == [
        {"type": "text/plain", "value": "plain"},
        {"type": "text/html", "value": "<b>html</b>"},
    ]
    assert body["headers"]["X-Tag"] == "t"
    assert body["attachments"] == [
        {
            "content": base64.b64encode(b"x,y\n").decode(),
            "type": "text/csv",
            "filename": "a.csv",
            "disposition": "attachment",
        }
    ]
    await app.close()


@pytest.mark.parametrize(
    ("status", "headers", "body", "error", "text"),
    [
        (400, {}, {"errors": [{"message": "Invalid email", "field": "from.email"}]}, mail.MessageRejected,
         "Invalid email (from.email)"),
        (401, {}, {"errors": [{"message": "authorization grant is invalid"}]}, mail.MailAuthError, "API key"),
        (429, {"Retry-After": "7"}, {"errors": [{"message": "too many"}]}, mail.RateLimited, "slow down"),
        (503, {}, None, mail.MailUnavailable, "503 from SendGrid"),
    ],
)  # fmt: skip
async def test_sendgrid_errors(
    make_app: MakeApp, sendgrid: Stand, status: int, headers: dict, body: Any, error: type, text: str
) -> None:
    sendgrid.answers.append((status, headers, body))
    app = sendgrid_app(make_app, sendgrid)
    with app_context(app), pytest.raises(error, match=re.escape(text)) as info:
        await mail.send(to="ada@example.org", subject="x", text="x")
    if status == 429:
        assert info.value.retry_after == 7
    assert "SG.test-key" not in str(info.value)
    await app.close()
