"""The embedded default: nothing leaves the machine. Each message is logged and kept in the app's outbox
(the last `outbox_size`), which `mail.outbox()` returns and a notebook's `app.outbox()` shows."""

from __future__ import annotations

import logging
import time
from collections import deque
from dataclasses import dataclass
from typing import Any

from .base import MailDriver
from .message import Mail

log = logging.getLogger("gingee.mail")

OUTBOXES = "mail.outbox"  # `shared` key: {app name: deque[OutboxEntry]}


@dataclass(frozen=True)
class OutboxEntry:
    """One message the console driver 'sent': when, the message, and its exact bytes."""

    sent_at: float
    mail: Mail
    raw: bytes

    def summary(self) -> dict[str, Any]:
        """Plain data for views: addresses, subject, parts, headers and attachments (name, type, size)."""
        mail = self.mail
        return {
            "message_id": mail.message_id,
            "sent_at": self.sent_at,
            "from": str(mail.sender),
            "to": [str(a) for a in mail.to],
            "cc": [str(a) for a in mail.cc],
            "bcc": [str(a) for a in mail.bcc],
            "reply_to": [str(a) for a in mail.reply_to],
            "subject": mail.subject,
            "text": mail.text,
            "html": mail.html,
            "headers": dict(mail.headers),
            "attachments": [
                {"filename": a.filename, "content_type": a.content_type, "size": len(a.content)}
                for a in mail.attachments
            ],
        }


def outbox(shared: dict[str, Any], app: str, size: int) -> deque[OutboxEntry]:
    """The app's outbox (created empty, keeping the last `size` messages)."""
    boxes: dict[str, deque[OutboxEntry]] = shared.setdefault(OUTBOXES, {})
    box = boxes.get(app)
    if box is None or box.maxlen != size:
        box = boxes[app] = deque(box or (), maxlen=size)
    return box


class ConsoleDriver(MailDriver):
    """Logs each message and keeps it in the outbox."""

    name = "console"

    def __init__(self, app: str, box: deque[OutboxEntry]) -> None:
        self.app = app
        self.box = box

    async def send(self, mail: Mail, timeout: float) -> str:
        raw = mail.mime().as_bytes()
        self.box.append(OutboxEntry(time.time(), mail, raw))
        log.info(
            "mail (console, app %s): %s -> %s: %r (%d bytes, not sent: the console driver keeps it in the "
            "outbox)",
            self.app,
            mail.sender.addr_spec,
            ", ".join(mail.recipients),
            mail.subject,
            len(raw),
        )
        return mail.message_id

    async def close(self) -> None:
        """Nothing to release (the outbox outlives the driver, so a reloaded app keeps its messages)."""
