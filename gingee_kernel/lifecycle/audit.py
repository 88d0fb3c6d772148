"""The audit log: one JSON line per lifecycle operation, permission change and DLQ action.

`logs/audit.jsonl` under the project: `{"time", "who", "action", "app", ...details, "result"}`, where
`who` is "cli", "token:<id>" (the first 12 hex digits of the token's SHA-256, never the token) or
"loopback:<address>". Each line is written with one `write` to a file opened for appending, so lines from
several processes never interleave.
"""

from __future__ import annotations

import hashlib
import json
import os
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

FILE = Path("logs") / "audit.jsonl"


def token_id(token: str) -> str:
    """How the audit log names a bearer token: `token:` and 12 hex digits of its SHA-256."""
    return "token:" + hashlib.sha256(token.encode()).hexdigest()[:12]


class AuditLog:
    """Append to, and read back, a project's `logs/audit.jsonl`."""

    def __init__(self, project_dir: Path) -> None:
        self.path = project_dir / FILE

    def record(
        self, who: str, action: str, app: str | None, result: str = "ok", **details: Any
    ) -> dict[str, Any]:
        """Append one entry and return it."""
        entry = {
            "time": datetime.now(timezone.utc).isoformat(timespec="milliseconds"),
            "who": who,
            "action": action,
            "app": app,
            **{k: v for k, v in details.items() if v is not None},
            "result": result,
        }
        line = (json.dumps(entry, sort_keys=False, default=str) + "\n").encode()
        self.path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o640)
        try:
            os.write(fd, line)
        finally:
            os.close(fd)
        return entry

    def read(self, app: str | None = None, limit: int = 100) -> list[dict[str, Any]]:
        """The newest `limit` entries (about `app` if given), oldest first; a torn last line is skipped."""
        if not self.path.is_file():
            return []
        entries = []
        with self.path.open("rb") as source:
            for raw in source:
                try:
                    entry = json.loads(raw)
                except ValueError:
                    continue
                if app is None or entry.get("app") == app:
                    entries.append(entry)
        return entries[-limit:] if limit > 0 else entries
