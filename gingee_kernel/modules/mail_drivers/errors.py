"""The mail module's errors, in Gingee's tree. Each says what to do next.

    GingeeError
    └── MailError                 a message could not be sent; nothing was sent
        ├── InvalidMessage        a field of the call is wrong (`field` names it); ValueError too
        ├── RecipientRejected     the provider refused one or more recipients (`recipients`)
        ├── MessageRejected       the provider refused the message (unverified sender, content, size)
        ├── MailAuthError         the provider refused the configured credentials
        ├── RateLimited           the provider asked us to slow down (`retry_after` seconds, if it said)
        └── MailUnavailable       the provider could not be reached or timed out; also ServiceUnavailable

`retryable` tells the queue what a retry can fix: only RateLimited and MailUnavailable are retried by
`mail.send_later`; the rest go straight to the dead-letter queue, since sending again would fail again.
"""

from __future__ import annotations

from ...errors import GingeeError, ServiceUnavailable


class MailError(GingeeError):
    """A message could not be sent; nothing was sent. `driver` names the driver that refused it."""

    retryable = False

    def __init__(self, message: str, *, driver: str = "") -> None:
        self.driver = driver
        super().__init__(message)


class InvalidMessage(MailError, ValueError):
    """A field of `mail.send` is wrong; `field` names it (e.g. "to", "headers.X-Tag", "attachments[0]")."""

    def __init__(self, field: str, problem: str) -> None:
        self.field = field
        super().__init__(f"mail.send: {field}: {problem}; nothing was sent")


class RecipientRejected(MailError):
    """The provider refused these recipients (address -> the provider's reason); nothing was sent."""

    def __init__(self, recipients: dict[str, str], *, driver: str) -> None:
        self.recipients = recipients
        listed = "; ".join(f"{a}: {why}" for a, why in recipients.items())
        super().__init__(
            f"mail ({driver}): recipient refused ({listed}); nothing was sent. Check the address, or "
            "remove it and send again.",
            driver=driver,
        )


class MessageRejected(MailError):
    """The provider refused the message itself (sender not verified, content, size)."""


class MailAuthError(MailError):
    """The provider refused the configured credentials."""


class RateLimited(MailError):
    """The provider asked us to slow down; `retry_after` is its hint in seconds (None if it gave none)."""

    retryable = True

    def __init__(self, message: str, *, driver: str, retry_after: float | None = None) -> None:
        self.retry_after = retry_after
        super().__init__(message, driver=driver)


class MailUnavailable(MailError, ServiceUnavailable):
    """The provider could not be reached, dropped the connection or did not answer in time."""

    retryable = True
