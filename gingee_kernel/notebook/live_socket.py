"""`app.connect("/ws")`: a websocket to a notebook app, in-process, to try its handler from a cell.

The upgrade goes through the same checks (`upgrade.admit`) and the connection through the same `Session`
as over the network; only the transport is a queue. Messages the app sends wait in the client until
`receive()` takes them, so a cell can send, then read what came back, or what a route pushed to a room.
"""

from __future__ import annotations

import json
import queue
from typing import TYPE_CHECKING, Any
from urllib.parse import urlencode

from ..modules.ws.session import Session
from ..modules.ws.socket import encode
from ..modules.ws.upgrade import UpgradeRequest, admit

if TYPE_CHECKING:
    from .host import LiveHost

_CLOSED = object()


class _Connection:
    """The server's end: what the Session writes goes into the client's queue."""

    def __init__(self) -> None:
        self.inbox: queue.Queue[Any] = queue.Queue()
        self.session: Session | None = None
        self.code: int | None = None
        self.reason: str | None = None

    def write_message(self, message: bytes | str, binary: bool = False) -> None:
        """Queue one message for the client (text decoded, binary as bytes)."""
        if isinstance(message, bytes) and not binary:
            message = message.decode("utf-8")
        self.inbox.put(message)

    def close(self, code: int | None = None, reason: str | None = None) -> None:
        """Either end closed (on the host loop): the Session cleans up, the client reads the end last."""
        if self.code is None:
            self.code, self.reason = code or 1000, reason or ""
            self.inbox.put(_CLOSED)
            if self.session is not None:
                self.session.closed(self.code, self.reason)


class LiveSocket:
    """A client of a notebook app's websocket: `send(data)`, `receive()`, `close()`, as a browser would."""

    def __init__(self, host: LiveHost, session: Session, connection: _Connection) -> None:
        self._host = host
        self._session = session
        self._connection = connection

    @property
    def id(self) -> str:
        """The socket's id, as the app's handler sees it (`socket.id`)."""
        return self._session.socket.id

    @property
    def closed(self) -> bool:
        """True once either end closed the connection."""
        return self._connection.code is not None

    @property
    def close_code(self) -> int | None:
        """The close code, once closed."""
        return self._connection.code

    def send(self, data: Any) -> None:
        """Send `data` to the app (dicts and lists as JSON text, str as text, bytes as binary)."""
        if self.closed:
            raise ConnectionError(f"the websocket is closed ({self.close_code} {self._connection.reason})")
        payload, binary = encode(data)
        message = payload if binary else payload.decode("utf-8")
        self._host.call(_deliver(self._session, message))

    def receive(self, timeout: float = 5.0) -> Any:
        """The next message from the app (JSON text decoded, other text as str, binary as bytes).

        Waits up to `timeout` seconds (TimeoutError); ConnectionError once the app closed the socket."""
        try:
            message = self._connection.inbox.get(timeout=timeout)
        except queue.Empty:
            raise TimeoutError(f"no websocket message from the app within {timeout:g} s") from None
        if message is _CLOSED:
            self._connection.inbox.put(_CLOSED)  # every later receive() says so too
            raise ConnectionError(
                f"the app closed the websocket ({self.close_code} {self._connection.reason})"
            )
        if isinstance(message, str):
            try:
                return json.loads(message)
            except ValueError:
                return message
        return message

    def close(self, code: int = 1000, reason: str = "") -> None:
        """Close the connection (the app's on_close callbacks run)."""
        if not self.closed:
            self._host.call(_close(self._connection, code, reason))

    def __repr__(self) -> str:
        state = f"closed ({self.close_code})" if self.closed else "open"
        return f"<gingee websocket {self.id} of app {self._session.app.name!r}: {state}>"


async def _deliver(session: Session, message: str | bytes) -> None:
    pending = session.receive(message)
    if pending is not None:
        await pending


async def _close(connection: _Connection, code: int, reason: str) -> None:
    connection.close(code, reason)


async def _open(host: LiveHost, request: UpgradeRequest) -> tuple[Session, _Connection]:
    admission = await admit(host.project, request)
    connection = _Connection()
    try:
        session = connection.session = Session(admission, connection)
    except BaseException:
        admission.release()
        raise
    await session.open()
    return session, connection


def connect(
    host: LiveHost, app: str, path: str, query: dict[str, str], headers: dict[str, str]
) -> LiveSocket:
    """Open a websocket to `/<app><path>` on the host; HttpError (status, code, reason) if it is refused."""
    request = UpgradeRequest(f"/{app}/{path.lstrip('/')}", urlencode(query), headers, "127.0.0.1")
    session, connection = host.call(_open(host, request))
    return LiveSocket(host, session, connection)
