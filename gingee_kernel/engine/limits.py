"""Request limits: body size, time budget and concurrency, with app overrides that only tighten."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any

from ..errors import HttpError
from .sizes import parse_size

log = logging.getLogger("gingee.limits")


@dataclass(frozen=True)
class Limits:
    """The effective limits of one app."""

    max_body_size: int
    request_timeout: float
    max_concurrent: int
    #: The limit on a body streamed to the script (see `max_upload_size` in gingee.json).
    max_upload_size: int = 10**9


def app_limits(app_name: str, server: dict[str, Any], app: dict[str, Any]) -> Limits:
    """Server limits tightened by the app's `limits`; a looser app value is ignored with a warning."""
    limits = server["limits"]
    own = app.get("limits", {})
    body = parse_size(server["max_body_size"])
    timeout_ms = int(limits["request_timeout_ms"])
    cap = int(limits["max_concurrent_requests_per_app"])
    body = _tighten(
        app_name, "max_body_size", body, parse_size(own["max_body_size"]) if "max_body_size" in own else None
    )
    timeout_ms = _tighten(app_name, "request_timeout_ms", timeout_ms, own.get("request_timeout_ms"))
    cap = _tighten(app_name, "max_concurrent_requests", cap, own.get("max_concurrent_requests"))
    upload = parse_size(server.get("max_upload_size", "1gb"))
    upload = _tighten(
        app_name, "max_upload_size", upload,
        parse_size(own["max_upload_size"]) if "max_upload_size" in own else None,
    )  # fmt: skip
    return Limits(body, timeout_ms / 1000, cap, upload)


def _tighten(app: str, key: str, server_value: int, app_value: int | None) -> int:
    if app_value is None:
        return server_value
    if app_value > server_value:
        log.warning(
            "app '%s': limits.%s=%s is looser than the server's %s and was ignored (apps may only "
            "tighten limits)",
            app,
            key,
            app_value,
            server_value,
        )
        return server_value
    return app_value


class Gate:
    """A counter of in-flight requests with a cap; `enter` refuses with 503 when full."""

    __slots__ = ("cap", "inflight", "scope")

    def __init__(self, cap: int, scope: str) -> None:
        self.cap = cap
        self.scope = scope
        self.inflight = 0

    def enter(self) -> None:
        """Take a slot or raise 503 TOO_MANY_REQUESTS with Retry-After."""
        if self.inflight >= self.cap:
            raise HttpError(
                503,
                "TOO_MANY_REQUESTS",
                f"too many concurrent requests ({self.scope} limit {self.cap}); retry shortly",
                headers={"Retry-After": "1"},
                extra={"scope": self.scope},
            )
        self.inflight += 1

    def leave(self) -> None:
        """Give the slot back."""
        self.inflight -= 1
