"""The fan-out interface (how a broadcast reaches the other processes) and the local default.

A broadcast is delivered to this process's sockets first, then handed to the fan-out as an Envelope;
the fan-out carries it to every other process, which delivers it to its own sockets.
"""

from __future__ import annotations

import base64
import json
from abc import ABC, abstractmethod
from collections.abc import Callable
from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class Envelope:
    """One broadcast: to a `room` of `app` (scope "room") or to the whole app (scope "app")."""

    app: str
    scope: str
    room: str
    payload: bytes
    binary: bool
    exclude: str | None = None

    def dumps(self, origin: str) -> bytes:
        """The wire form, tagged with the publishing process `origin`."""
        body = base64.b64encode(self.payload).decode() if self.binary else self.payload.decode("utf-8")
        return json.dumps(
            {
                "v": 1,
                "o": origin,
                "a": self.app,
                "s": self.scope,
                "r": self.room,
                "x": self.exclude,
                "e": "b64" if self.binary else "text",
                "b": body,
            },
            separators=(",", ":"),
            ensure_ascii=False,
        ).encode("utf-8")

    @staticmethod
    def loads(raw: bytes | str) -> tuple[str, Envelope]:
        """(origin, envelope) from the wire form; ValueError if it is not one."""
        data = json.loads(raw)
        if not isinstance(data, dict) or data.get("v") != 1 or data.get("s") not in ("room", "app"):
            raise ValueError("not a Gingee websocket envelope")
        binary = data.get("e") == "b64"
        body = str(data["b"])
        payload = base64.b64decode(body) if binary else body.encode("utf-8")
        envelope = Envelope(
            str(data["a"]), data["s"], str(data.get("r") or ""), payload, binary, data.get("x")
        )
        return str(data.get("o", "")), envelope


Deliver = Callable[[Envelope], None]


class Fanout(ABC):
    """Carries broadcasts between the processes that serve a project."""

    #: False for the local driver: nothing leaves the process.
    remote: bool = True

    @abstractmethod
    async def start(self, deliver: Deliver) -> None:
        """Start receiving other processes' broadcasts, calling `deliver(envelope)` for each."""

    @abstractmethod
    def publish(self, envelope: Envelope) -> None:
        """Send a broadcast to the other processes; never blocks, failures are logged and counted."""

    @abstractmethod
    async def close(self) -> None:
        """Stop receiving and publishing; pending messages are reported, not silently lost."""


class LocalFanout(Fanout):
    """One process: broadcasts never leave it."""

    remote = False

    async def start(self, deliver: Deliver) -> None:
        """Nothing to receive."""

    def publish(self, envelope: Envelope) -> None:
        """Nothing to send."""

    async def close(self) -> None:
        """Nothing to close."""
