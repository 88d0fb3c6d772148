"""Presence: who else publishes on this process's fan-out channels, to warn when two projects share them.

Redis pub/sub channels belong to the whole server, not to a database: two projects on one Redis whose
channel prefix is the same deliver each other's broadcasts, whatever `/db` their URLs name. Each process
announces itself on `<channel_prefix>hello` when it subscribes, and answers the hellos of newcomers, so
both sides learn of the other. What counts as another project:

- a process on another Redis database (it certainly is one: the same deployment shares its URL);
- a process on this host serving another project folder.

Processes of one project on other hosts (a fleet) are expected and say nothing. Two different projects on
two hosts with one folder name and one database cannot be told from a fleet: name them apart with
gingee.json `cluster.name`.
"""

from __future__ import annotations

import json
import socket
from dataclasses import asdict, dataclass


@dataclass(frozen=True)
class Presence:
    """One fan-out process: its node id, host, project folder and Redis database."""

    node: str
    host: str
    project: str
    db: int

    @classmethod
    def here(cls, node: str, project: str, db: int) -> Presence:
        """This process."""
        return cls(node, socket.gethostname(), project, db)

    def dumps(self, reply: bool) -> bytes:
        """The hello message (`reply`: an answer to another's hello, which is not answered again)."""
        return json.dumps({"hello": 1, "reply": reply, **asdict(self)}).encode()

    @staticmethod
    def loads(raw: bytes | str) -> tuple[Presence, bool]:
        """(presence, reply) from a hello message; ValueError if it is not one."""
        data = json.loads(raw)
        if not isinstance(data, dict) or data.get("hello") != 1:
            raise ValueError("not a Gingee fan-out hello")
        presence = Presence(str(data["node"]), str(data["host"]), str(data["project"]), int(data["db"]))
        return presence, bool(data.get("reply"))

    def conflict(self, other: Presence, channel: str) -> str | None:
        """Why `other` is another project sharing `channel` with this one, or None if it is not."""
        if other.db != self.db:
            where = f"Redis database {other.db}; this one uses database {self.db}"
        elif other.host == self.host and other.project != self.project:
            where = f"the same Redis database, on this host (this one serves {self.project})"
        else:
            return None
        return (
            f"websocket fan-out: the project at {other.project} on {other.host} publishes on {channel} too, "
            f"from {where}. Pub/sub channels are shared by every database of a Redis server, so these "
            "projects receive each other's broadcasts for apps of the same name. Give each project its own "
            "gingee.json cluster.name (or websockets.fanout.channel_prefix)."
        )
