"""SendGrid's v3 Mail Send API (POST /v3/mail/send) over httpx, through the egress policy when the
endpoint came from the app's own config. Answers: 202 with X-Message-Id; 400/413 with `errors[]`;
401/403 for a bad key; 429 (Retry-After); 5xx while SendGrid is down."""

from __future__ import annotations

import base64
from email.headerregistry import Address
from typing import Any

import httpx

from .base import MailDriver
from .errors import MailAuthError, MailUnavailable, MessageRejected, RateLimited
from .message import Mail

DEFAULT_API_BASE = "https://api.sendgrid.com"


def _who(address: Address) -> dict[str, str]:
    entry = {"email": address.addr_spec}
    if address.display_name:
        entry["name"] = address.display_name
    return entry


def request_body(mail: Mail) -> dict[str, Any]:
    """The JSON SendGrid expects for `mail` (one personalization: every recipient gets the same message)."""
    personalization: dict[str, Any] = {"to": [_who(a) for a in mail.to]}
    if mail.cc:
        personalization["cc"] = [_who(a) for a in mail.cc]
    if mail.bcc:
        personalization["bcc"] = [_who(a) for a in mail.bcc]
    content = []
    if mail.text is not None:
        content.append({"type": "text/plain", "value": mail.text})
    if mail.html is not None:
        content.append({"type": "text/html", "value": mail.html})
    body: dict[str, Any] = {
        "personalizations": [personalization],
        "from": _who(mail.sender),
        "subject": mail.subject,
        "content": content,
        "headers": {"Message-ID": mail.message_id, **dict(mail.headers)},
    }
    if mail.reply_to:
        body["reply_to_list"] = [_who(a) for a in mail.reply_to]
    if mail.attachments:
        body["attachments"] = [
            {
                "content": base64.b64encode(a.content).decode("ascii"),
                "type": a.content_type,
                "filename": a.filename,
                "disposition": "attachment",
            }
            for a in mail.attachments
        ]
    return body


class SendGridDriver(MailDriver):
    """One httpx client per app; `transport` is the egress transport (or None for an operator's endpoint)."""

    name = "sendgrid"

    def __init__(self, api_key: str, api_base: str, transport: httpx.AsyncBaseTransport | None) -> None:
        self.url = api_base.rstrip("/") + "/v3/mail/send"
        self.client = httpx.AsyncClient(
            transport=transport,
            trust_env=False,
            headers={"Authorization": f"Bearer {api_key}", "User-Agent": "Gingee-mail/1"},
        )

    async def send(self, mail: Mail, timeout: float) -> str:
        try:
            response = await self.client.post(self.url, json=request_body(mail), timeout=timeout)
        except httpx.TimeoutException as exc:
            raise MailUnavailable(
                f"mail (sendgrid): no answer from {self.url} within {timeout:g} s; nothing was sent",
                driver=self.name,
            ) from exc
        except httpx.HTTPError as exc:
            raise MailUnavailable(
                f"mail (sendgrid): could not reach {self.url} ({type(exc).__name__}: {exc}); "
                "nothing was sent",
                driver=self.name,
            ) from exc
        if response.status_code in (200, 202):
            return response.headers.get("X-Message-Id") or mail.message_id
        raise self._error(response)

    def _error(self, response: httpx.Response) -> Exception:
        status = response.status_code
        detail = _errors_text(response)
        text = f"mail (sendgrid): {status} from SendGrid{': ' + detail if detail else ''}; nothing was sent"
        if status in (401, 403):
            return MailAuthError(
                f"{text}. Check the API key (app.json mail.sendgrid.api_key) and its Mail Send scope",
                driver=self.name,
            )
        if status == 429:
            return RateLimited(
                f"{text}. SendGrid asked to slow down", driver=self.name, retry_after=_retry_after(response)
            )
        if status >= 500:
            return MailUnavailable(text, driver=self.name)
        return MessageRejected(f"{text}. Fix the message and send again", driver=self.name)

    async def close(self) -> None:
        await self.client.aclose()


def _errors_text(response: httpx.Response) -> str:
    """SendGrid's `errors[]` as one line: `message (field)` joined."""
    try:
        errors = response.json().get("errors") or []
    except (ValueError, AttributeError):
        return ""
    parts = []
    for error in errors if isinstance(errors, list) else []:
        if isinstance(error, dict) and error.get("message"):
            field = f" ({error['field']})" if error.get("field") else ""
            parts.append(f"{error['message']}{field}")
    return "; ".join(parts)


def _retry_after(response: httpx.Response) -> float | None:
    value = response.headers.get("Retry-After")
    try:
        return max(0.0, float(value)) if value is not None else None
    except ValueError:
        return None
