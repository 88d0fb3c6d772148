"""The interface every mail driver implements: take a checked `Mail`, hand it to the provider, say its id."""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass, field

from .message import Mail


@dataclass(frozen=True)
class SendResult:
    """What `mail.send` returns: the provider's message id, the driver, and who the message went to."""

    message_id: str
    driver: str
    recipients: list[str] = field(default_factory=list)


class MailDriver(ABC):
    """Sends for one app. `timeout` is the seconds a send may take (the request's budget may lower it)."""

    name: str

    @abstractmethod
    async def send(self, mail: Mail, timeout: float) -> str:
        """Deliver `mail` to the provider; the provider's message id. Raises a MailError, nothing sent."""

    @abstractmethod
    async def close(self) -> None:
        """Release connections; the driver is not used afterwards."""
