"""Websocket settings: the server's (`gingee.json` `websockets`) and one app's (`app.json` `websockets`).

App values can only tighten the server's: an app's `max_connections` above the server's
`max_connections_per_app` is ignored with a warning, as for `limits`.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ...engine.app import AppRuntime
from ...engine.paths import box_script
from ...engine.sizes import parse_size
from ...errors import ModuleConfigError

log = logging.getLogger("gingee.websockets")

DEFAULT_PATH = "/ws"
DEFAULT_MAX_MESSAGE_BYTES = 65_536
DEFAULT_IDLE_TIMEOUT = 300.0
DEFAULT_MAX_SEND_BUFFER = "1mb"
DEFAULT_MAX_MESSAGES_PER_SECOND = 100.0
_STATE_KEY = "websockets.settings"


@dataclass(frozen=True)
class ServerSettings:
    """`gingee.json` `websockets`: process-wide caps and the fan-out driver."""

    max_connections: int = 10_000
    max_connections_per_app: int = 2_000
    driver: str = "local"
    redis_url: str = "redis://127.0.0.1:6379/0"
    channel_prefix: str = "gingee:ws:project:"
    retry_seconds: float = 10.0
    max_pending: int = 10_000
    project_dir: str = ""

    @classmethod
    def from_config(cls, server_config: dict[str, Any]) -> ServerSettings:
        """Read the `websockets` section of a resolved server config (defaults where absent)."""
        section = server_config.get("websockets") or {}
        fanout = section.get("fanout") or {}
        cluster = server_config.get("cluster") or {}
        driver = fanout.get("driver", cls.driver)
        if driver not in ("local", "redis"):
            raise ModuleConfigError(
                f"gingee.json websockets.fanout.driver is {driver!r}; use 'local' or 'redis'"
            )
        return cls(
            max_connections=int(section.get("max_connections", cls.max_connections)),
            max_connections_per_app=int(section.get("max_connections_per_app", cls.max_connections_per_app)),
            driver=driver,
            redis_url=str((fanout.get("redis") or {}).get("url") or cls.redis_url),
            channel_prefix=str(
                fanout.get("channel_prefix") or f"gingee:ws:{cluster.get('name') or 'project'}:"
            ),
            retry_seconds=int(fanout.get("retry_ms", cls.retry_seconds * 1000)) / 1000,
            max_pending=int(fanout.get("max_pending", cls.max_pending)),
            project_dir=str(cluster.get("project_dir") or ""),
        )


@dataclass(frozen=True)
class AppSettings:
    """`app.json` `websockets` of one app, validated, with box scripts resolved."""

    path: str
    handler: Path
    auth: Path | None
    allowed_origins: tuple[str, ...]
    max_message_bytes: int
    idle_timeout: float
    max_connections: int
    max_send_buffer_bytes: int = 1 << 20
    max_messages_per_second: float = DEFAULT_MAX_MESSAGES_PER_SECOND

    def matches(self, rest: str) -> bool:
        """True if the app-relative raw path `rest` is this endpoint (a trailing slash is accepted)."""
        return rest == self.path or rest.rstrip("/") == self.path.rstrip("/")


def app_settings(app: AppRuntime) -> AppSettings | None:
    """The app's websocket settings (cached per loaded app), or None if app.json has no `websockets`."""
    cached = app.state.get(_STATE_KEY)
    if cached is not None or _STATE_KEY in app.state:
        return cached
    section = app.config.get("websockets")
    settings = _parse(app, section) if section else None
    app.state[_STATE_KEY] = settings
    return settings


def _parse(app: AppRuntime, section: dict[str, Any]) -> AppSettings:
    server = ServerSettings.from_config(app.server_config)
    cap = server.max_connections_per_app
    own = section.get("max_connections")
    if own is not None and own > cap:
        log.warning(
            "app '%s': websockets.max_connections=%s is looser than the server's max_connections_per_app "
            "%s and was ignored (apps may only tighten limits)",
            app.name,
            own,
            cap,
        )
    elif own is not None:
        cap = int(own)
    auth = section.get("auth")
    return AppSettings(
        path="/" + str(section.get("path", DEFAULT_PATH)).lstrip("/"),
        handler=_script(app, section["handler"], "handler"),
        auth=_script(app, auth, "auth") if auth else None,
        allowed_origins=tuple(o.rstrip("/").lower() for o in section.get("allowed_origins", [])),
        max_message_bytes=parse_size(section.get("max_message_bytes", DEFAULT_MAX_MESSAGE_BYTES)),
        idle_timeout=float(section.get("idle_timeout", DEFAULT_IDLE_TIMEOUT)),
        max_connections=cap,
        max_send_buffer_bytes=parse_size(section.get("max_send_buffer_bytes", DEFAULT_MAX_SEND_BUFFER)),
        max_messages_per_second=float(
            section.get("max_messages_per_second", DEFAULT_MAX_MESSAGES_PER_SECOND)
        ),
    )


def in_memory(app: AppRuntime, path: Path) -> Callable[..., Any] | None:
    """The function a host keeps for the box script at `path` in place of the file (a notebook app's
    `@app.websocket` handler, keyed `websockets/handler.py` in the pipeline's handlers), if any."""
    return app.pipeline.handlers.get(path.relative_to(app.box).as_posix())


def _script(app: AppRuntime, name: str, key: str) -> Path:
    path = box_script(app.box, name)
    if not path.is_file() and in_memory(app, path) is None:
        raise ModuleConfigError(
            f"app '{app.name}': app.json websockets.{key} names box/{name}, which does not exist"
        )
    return path
