"""A small client of Jupyter's kernels websocket (`{base_url}api/kernels/<id>/channels`), as JupyterLab uses
it: one execute_request per cell on the shell channel, its outputs read from IOPub until the kernel is idle
again. Messages are JSON text frames (the server's legacy protocol, used when no subprotocol is asked for);
binary frames carry only comm buffers (widgets) and are skipped."""

from __future__ import annotations

import asyncio
import json
import uuid
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Any

from tornado.httpclient import HTTPRequest
from tornado.websocket import WebSocketClientConnection, websocket_connect

from tests.modules.ws.conftest import shut

OUTPUTS = ("stream", "execute_result", "display_data", "error")


@dataclass
class CellRun:
    """What one executed cell produced: its IOPub outputs (`{"output_type", ...content}`) and its reply."""

    outputs: list[dict[str, Any]] = field(default_factory=list)
    reply: dict[str, Any] = field(default_factory=dict)

    def errors(self) -> list[dict[str, Any]]:
        return [o for o in self.outputs if o["output_type"] == "error"]

    def text(self) -> str:
        """The plain text of every output, with each rich output's text/html too."""
        parts = []
        for o in self.outputs:
            data = o.get("data") or {}
            parts += [str(o.get("text", "")), str(data.get("text/plain", "")), str(data.get("text/html", ""))]
        return "".join(parts)


class KernelChannel:
    """An open kernels websocket; `await run(code)` executes one cell."""

    def __init__(self, conn: WebSocketClientConnection, session: str) -> None:
        self.conn = conn
        self.session = session

    @classmethod
    async def open(cls, ws_url: str, headers: dict[str, str]) -> KernelChannel:
        session = uuid.uuid4().hex
        request = HTTPRequest(f"{ws_url}?session_id={session}", headers=headers, request_timeout=30)
        return cls(await websocket_connect(request, max_message_size=64 * 1024 * 1024), session)

    async def run(self, code: str, timeout: float = 120) -> CellRun:
        msg_id = uuid.uuid4().hex
        await self.conn.write_message(json.dumps(self._request(msg_id, code)))
        return await asyncio.wait_for(self._collect(msg_id), timeout)

    async def _collect(self, msg_id: str) -> CellRun:
        cell = CellRun()
        idle = False
        while not (idle and cell.reply):
            frame = await self.conn.read_message()
            if frame is None:
                raise ConnectionError(f"the kernels websocket closed: {self.conn.close_reason}")
            if isinstance(frame, bytes):
                continue
            message = json.loads(frame)
            if message.get("parent_header", {}).get("msg_id") != msg_id:
                continue
            kind = message["msg_type"]
            if kind in OUTPUTS:
                cell.outputs.append({"output_type": kind, **message["content"]})
            elif kind == "status" and message["content"]["execution_state"] == "idle":
                idle = True
            elif kind == "execute_reply":
                cell.reply = message["content"]
        return cell

    def _request(self, msg_id: str, code: str) -> dict[str, Any]:
        header = {
            "msg_id": msg_id,
            "msg_type": "execute_request",
            "username": "attendee",
            "session": self.session,
            "date": datetime.now(timezone.utc).isoformat(),
            "version": "5.3",
        }
        content = {
            "code": code,
            "silent": False,
            "store_history": True,
            "user_expressions": {},
            "allow_stdin": False,
            "stop_on_error": True,
        }
        return {
            "header": header,
            "parent_header": {},
            "metadata": {},
            "content": content,
            "channel": "shell",
            "buffers": [],
        }

    async def close(self) -> None:
        """Close the websocket and wait until the server closed it too (else its socket is left open)."""
        await shut(self.conn)
