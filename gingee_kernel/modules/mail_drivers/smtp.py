"""SMTP through aiosmtplib (extra `mail`): STARTTLS or implicit TLS, AUTH, and connections reused across
sends (a small pool), so a burst of messages pays for one handshake.

Every recipient is offered (RCPT) before any content (DATA): if the server refuses one, the transaction is
reset and RecipientRejected names it, so a message is never delivered to only some of its recipients.
"""

from __future__ import annotations

import asyncio
import ssl
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

from .base import MailDriver
from .errors import MailAuthError, MailError, MailUnavailable, MessageRejected, RateLimited, RecipientRejected
from .message import Mail

try:
    import aiosmtplib
except ImportError as exc:  # pragma: no cover - depends on the install
    raise ImportError("the smtp mail driver needs aiosmtplib: pip install 'gingee[mail]'") from exc

_PORTS = {"starttls": 587, "tls": 465, "none": 25}
_RATE_CODES = {421, 450, 451, 452}  # "try again later" replies (421 also means closing)


@dataclass(frozen=True)
class SmtpSettings:
    """The resolved `mail.smtp` section."""

    host: str
    port: int
    security: str
    username: str | None
    password: str | None
    tls_context: ssl.SSLContext | None
    pool_size: int
    local_hostname: str | None

    @classmethod
    def from_config(cls, section: dict[str, Any]) -> SmtpSettings:
        security = section.get("security", "starttls")
        context: ssl.SSLContext | None = None
        if security != "none":
            context = ssl.create_default_context(cafile=section.get("ca_file"))
            if section.get("verify") is False:
                context.check_hostname = False
                context.verify_mode = ssl.CERT_NONE
        return cls(
            host=section.get("host", "127.0.0.1"),
            port=int(section.get("port") or _PORTS[security]),
            security=security,
            username=section.get("username"),
            password=section.get("password"),
            tls_context=context,
            pool_size=int(section.get("pool_size") or 2),
            local_hostname=section.get("local_hostname"),
        )


class SmtpDriver(MailDriver):
    """Up to `pool_size` open connections; a send takes an idle one (or opens one) and gives it back."""

    name = "smtp"

    def __init__(self, settings: SmtpSettings) -> None:
        self.settings = settings
        self._idle: list[aiosmtplib.SMTP] = []
        self._slots = asyncio.Semaphore(settings.pool_size)
        self._closed = False

    @property
    def where(self) -> str:
        return f"{self.settings.host}:{self.settings.port}"

    async def send(self, mail: Mail, timeout: float) -> str:
        if self._closed:
            raise MailUnavailable(
                "mail (smtp): the driver was closed (its app is unloading)", driver=self.name
            )
        data = mail.mime().as_bytes()
        async with self._slots:
            with self._mapped(timeout):
                delivery = self._deliver(mail.sender.addr_spec, mail.recipients, data, timeout)
                await asyncio.wait_for(delivery, timeout)
        return mail.message_id

    async def _deliver(self, sender: str, recipients: list[str], data: bytes, timeout: float) -> None:
        """One transaction on a pooled connection. An idle connection the server has meanwhile closed fails
        at MAIL FROM, before anything was sent; then one fresh connection is tried."""
        client = self._idle.pop() if self._idle else None
        fresh = client is None
        if client is not None:
            try:
                await client.mail(sender, timeout=timeout)
            except (aiosmtplib.SMTPServerDisconnected, ConnectionError):
                await _discard(client)
                fresh = True
            except BaseException:
                await _discard(client)
                raise
        if fresh:
            client = await self._connect(timeout)
        assert client is not None
        try:
            if fresh:
                await client.mail(sender, timeout=timeout)
            await self._rest(client, recipients, data, timeout)
        except BaseException:
            await _discard(client)
            raise
        self._idle.append(client)

    async def _connect(self, timeout: float) -> aiosmtplib.SMTP:
        s = self.settings
        client = aiosmtplib.SMTP(
            hostname=s.host,
            port=s.port,
            use_tls=s.security == "tls",
            start_tls=s.security == "starttls",
            tls_context=s.tls_context,
            timeout=timeout,
            local_hostname=s.local_hostname,
        )
        await client.connect()
        if s.username:
            try:
                await client.login(s.username, s.password or "")
            except BaseException:
                await _discard(client)
                raise
        return client

    async def _rest(
        self, client: aiosmtplib.SMTP, recipients: list[str], data: bytes, timeout: float
    ) -> None:
        """RCPT for every recipient, then DATA only if all were accepted (else RSET, RecipientRejected)."""
        refused: dict[str, str] = {}
        for rcpt in recipients:
            try:
                await client.rcpt(rcpt, timeout=timeout)
            except aiosmtplib.SMTPRecipientRefused as exc:
                if exc.code in _RATE_CODES:
                    raise
                refused[rcpt] = f"{exc.code} {exc.message}"
        if refused:
            await client.rset(timeout=timeout)
            raise RecipientRejected(refused, driver=self.name)
        await client.data(data, timeout=timeout)

    @contextmanager
    def _mapped(self, timeout: float) -> Iterator[None]:
        """aiosmtplib's exceptions as the mail module's (one place, so every path says the same)."""
        where = self.where
        try:
            yield
        except MailError:
            raise
        except (TimeoutError, asyncio.TimeoutError, aiosmtplib.SMTPTimeoutError) as exc:
            raise MailUnavailable(
                f"mail (smtp): {where} did not answer within {timeout:g} s; nothing was sent. Check the "
                "server, or raise app.json mail.timeout_ms",
                driver=self.name,
            ) from exc
        except aiosmtplib.SMTPAuthenticationError as exc:
            raise MailAuthError(
                f"mail (smtp): {where} refused the login for {self.settings.username!r} ({exc.code} "
                f"{exc.message}); check app.json mail.smtp.username and the password secret",
                driver=self.name,
            ) from exc
        except aiosmtplib.SMTPNotSupported as exc:
            raise MailUnavailable(
                f"mail (smtp): {where}: {exc}; set mail.smtp.security to match the server "
                "(starttls on 587, tls on 465)",
                driver=self.name,
            ) from exc
        except aiosmtplib.SMTPResponseException as exc:
            text = f"mail (smtp): {where} answered {exc.code} {exc.message}; nothing was sent"
            if exc.code in _RATE_CODES:
                raise RateLimited(f"{text}. The server asked to try again later", driver=self.name) from exc
            if exc.code >= 500:
                raise MessageRejected(f"{text}. The server refused the message", driver=self.name) from exc
            raise MailUnavailable(text, driver=self.name) from exc
        except (aiosmtplib.SMTPException, OSError, ssl.SSLError) as exc:
            raise MailUnavailable(
                f"mail (smtp): could not talk to {where} ({type(exc).__name__}: {exc}); nothing was sent",
                driver=self.name,
            ) from exc

    async def close(self) -> None:
        self._closed = True
        idle, self._idle = self._idle, []
        for client in idle:
            try:
                await asyncio.wait_for(client.quit(), 2)
            except Exception:
                client.close()


async def _discard(client: aiosmtplib.SMTP) -> None:
    """Drop a connection whose state is unknown (never reused)."""
    if client.is_connected:
        client.close()
