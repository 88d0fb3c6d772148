"""`mail`: transactional email from a route, a job or a notebook cell (permission "mail").

    result = await mail.send(to="ada@example.org", subject="Welcome", text="Hi Ada", html="<p>Hi Ada</p>")
    job = await mail.send_later(to=user.email, subject="Receipt", text=body)   # queued, retried

The driver and its credentials come from app.json `mail` over gingee.json `mail` (default: console, which
sends nothing and keeps the message in the outbox). A call sets message fields only: a driver option or a
credential can never come from a call. Everything is checked before a driver sees it; a bad field raises
InvalidMessage naming it, and nothing is sent. See docs/mail.md.
"""

from __future__ import annotations

import asyncio
import time
from typing import Any

from ..engine.app import AppRuntime
from ..engine.context import require, time_left
from ..jobqueue.errors import Retry
from ..jobqueue.job import JobHandle
from ..jobqueue.service import service_for
from ..metrics.series import record_mail
from .mail_drivers.base import MailDriver, SendResult
from .mail_drivers.console import OUTBOXES
from .mail_drivers.errors import (
    InvalidMessage,
    MailAuthError,
    MailError,
    MailUnavailable,
    MessageRejected,
    RateLimited,
    RecipientRejected,
)
from .mail_drivers.message import Mail, compose
from .mail_drivers.settings import MailSettings, create_driver, settings_for

__all__ = [
    "InvalidMessage",
    "MailAuthError",
    "MailError",
    "MailUnavailable",
    "MessageRejected",
    "RateLimited",
    "RecipientRejected",
    "SendResult",
    "outbox",
    "send",
    "send_later",
]

JOB = "gingee.mail"  # the queue job send_later adds (jobqueue/handlers.py BUILTIN_JOBS)
_STATE_KEY = "mail.driver"
_OUTCOMES = {
    InvalidMessage: "invalid",
    RecipientRejected: "recipient_rejected",
    MessageRejected: "rejected",
    MailAuthError: "auth",
    RateLimited: "rate_limited",
    MailUnavailable: "unavailable",
}
#: Keyword arguments that are driver options or credentials: named in the error, never honoured per call.
_DRIVER_OPTIONS = {
    "driver", "smtp", "sendgrid", "ses", "host", "port", "username", "password", "api_key", "api_base",
    "access_key_id", "secret_access_key", "session_token", "endpoint_url", "region", "security",
}  # fmt: skip


async def send(
    to: Any = None,
    subject: str | None = None,
    text: str | None = None,
    html: str | None = None,
    *,
    cc: Any = None,
    bcc: Any = None,
    reply_to: Any = None,
    from_: Any = None,
    headers: dict[str, str] | None = None,
    attachments: list[dict[str, Any]] | None = None,
    queue: bool = False,
    **unknown: Any,
) -> SendResult | JobHandle:
    """Send one message now and return its SendResult (the provider's id); with `queue=True`, hand it to
    the queue instead and return the JobHandle (as `send_later`). Raises InvalidMessage for a bad field,
    PermissionDenied without the `mail` grant, and the MailError subclasses of docs/mail.md."""
    app = require("mail")
    settings = settings_for(app)
    mail = _compose(app, settings, locals(), unknown)
    if queue:
        return await _enqueue(app, settings, mail)
    return await _deliver(app, settings, mail)


async def send_later(
    to: Any = None,
    subject: str | None = None,
    text: str | None = None,
    html: str | None = None,
    *,
    cc: Any = None,
    bcc: Any = None,
    reply_to: Any = None,
    from_: Any = None,
    headers: dict[str, str] | None = None,
    attachments: list[dict[str, Any]] | None = None,
    **unknown: Any,
) -> JobHandle:
    """Check the message now, then queue job `gingee.mail` to send it with retries (app.json
    `mail.queue.attempts`, `backoff_ms`) and the dead-letter queue. Needs the `queue` grant too."""
    handle = await send(
        to, subject, text, html, cc=cc, bcc=bcc, reply_to=reply_to, from_=from_, headers=headers,
        attachments=attachments, queue=True, **unknown,
    )  # fmt: skip
    assert isinstance(handle, JobHandle)
    return handle


def outbox(limit: int | None = None) -> list[dict[str, Any]]:
    """The messages the console driver kept for this app, newest first (subject, parts, headers,
    attachments, `raw` bytes): what a workshop 'sent'."""
    app = require("mail")
    box = (app.shared.get(OUTBOXES) or {}).get(app.name) or ()
    entries = list(box)[::-1][: limit if limit is not None else None]
    return [{**entry.summary(), "raw": entry.raw} for entry in entries]


# --- inside ---------------------------------------------------------------------------------------------


def _compose(app: AppRuntime, settings: MailSettings, call: dict[str, Any], unknown: dict[str, Any]) -> Mail:
    if unknown:
        name = sorted(unknown)[0]
        if name in _DRIVER_OPTIONS:
            raise InvalidMessage(
                name,
                'is a driver option; drivers and credentials are set in app.json "mail" (or gingee.json), '
                "never per call",
            )
        raise InvalidMessage(
            name, "unknown option; mail.send takes to, subject, text, html, cc, bcc, reply_to, from_, "
            "headers, attachments and queue"
        )  # fmt: skip
    values = settings.values
    try:
        return compose(
            sender=call["from_"] if call["from_"] is not None else values.get("from"),
            to=call["to"],
            subject=call["subject"] if call["subject"] is not None else _missing("subject"),
            text=call["text"],
            html=call["html"],
            cc=call["cc"],
            bcc=call["bcc"],
            reply_to=call["reply_to"] if call["reply_to"] is not None else values.get("reply_to"),
            headers=call["headers"],
            attachments=call["attachments"],
            box=app.box,
            max_attachment_bytes=values["max_attachment_bytes"],
        )
    except InvalidMessage:
        record_mail(app.name, settings.driver, "invalid")
        raise


def _missing(field: str) -> str:
    raise InvalidMessage(field, f"{field}= is required")


async def _driver(app: AppRuntime, settings: MailSettings) -> MailDriver:
    """The app's driver, created once (concurrent first sends share one creation); closed at unload."""
    pending: asyncio.Future[MailDriver] | None = app.state.get(_STATE_KEY)
    if pending is None:
        pending = app.state[_STATE_KEY] = asyncio.ensure_future(_create(app, settings))
    return await asyncio.shield(pending)


async def _create(app: AppRuntime, settings: MailSettings) -> MailDriver:
    try:
        driver = await create_driver(app, settings)
    except BaseException:
        app.state.pop(_STATE_KEY, None)  # a config error is reported again on the next send, not cached
        raise
    app.on_close(driver.close)
    return driver


async def _deliver(app: AppRuntime, settings: MailSettings, mail: Mail) -> SendResult:
    driver = await _driver(app, settings)
    started = time.perf_counter()
    try:
        message_id = await driver.send(mail, time_left(settings.timeout))
    except MailError as exc:
        outcome = next((v for k, v in _OUTCOMES.items() if isinstance(exc, k)), "unavailable")
        record_mail(app.name, driver.name, outcome, time.perf_counter() - started)
        raise
    record_mail(app.name, driver.name, "sent", time.perf_counter() - started)
    return SendResult(message_id, driver.name, mail.recipients)


async def _enqueue(app: AppRuntime, settings: MailSettings, mail: Mail) -> JobHandle:
    require("queue")
    policy = settings.section("queue")
    handle = await service_for(app).add(
        app,
        JOB,
        mail.payload(),
        attempts=policy["attempts"],
        backoff=policy["backoff_ms"] / 1000,
    )
    record_mail(app.name, settings.driver, "queued")
    return handle


async def deliver_job(g: Any) -> dict[str, Any]:
    """The `gingee.mail` job: send the queued message. A refused message goes straight to the dead-letter
    queue (retrying cannot fix it); a provider that is down or rate-limits is tried again."""
    app = require("mail")
    settings = settings_for(app)
    try:
        mail = Mail.from_payload(g.job.payload)
    except (KeyError, TypeError, ValueError) as exc:
        raise InvalidMessage("payload", f"job {JOB} does not carry a queued message ({exc})") from None
    try:
        result = await _deliver(app, settings, mail)
    except RateLimited as exc:
        if exc.retry_after is not None and g.job.attempt < g.job.max_attempts:
            raise Retry(defer=exc.retry_after) from exc
        raise
    return {"message_id": result.message_id, "driver": result.driver, "recipients": result.recipients}
