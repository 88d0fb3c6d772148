"""`/_gingee/health` and `/_gingee/health/ready` on `gingee serve`: what a load balancer asks a node.

Liveness (`/_gingee/health`) answers 200 while the process serves at all. Readiness
(`/_gingee/health/ready`) answers 200 only when the node should get traffic, and 503 with the reasons
while it drains (after SIGTERM, for gingee.json `server.drain_ms`, so the balancer takes it out before it
stops listening) or while a Redis it needs does not answer (the queue's, with the arq driver, and the
fleet registry's). Both are open to any caller, as balancers' probes are: the answers name components,
never hosts, apps or errors (those go to the server log).
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
import time
from collections.abc import Awaitable, Callable
from typing import Any

from .json_errors import JsonErrors

log = logging.getLogger("gingee.health")

PATH = "/_gingee/health"
#: How long one dependency may take to answer a readiness check.
CHECK_TIMEOUT = 1.0

Check = Callable[[], Awaitable[Any]]


class NotReady(Exception):
    """Raised by a check that answers but is not ready yet; its message is the reason reported."""


class Health:
    """The node's health: `draining` is set by the host when it starts to stop; `checks` are the
    dependencies readiness pings, by the name a failing one is reported under."""

    def __init__(self, shared: dict[str, Any]) -> None:
        self.shared = shared
        self.draining = False
        self.started = time.time()

    def checks(self) -> dict[str, Check]:
        """The dependencies the node cannot serve without, found in the project's shared services."""
        found: dict[str, Check] = {}
        queue = self.shared.get("queue")
        if queue is not None and getattr(queue.driver, "name", "") == "arq":
            found["queue redis"] = queue.driver.check
        fleet = self.shared.get("fleet")
        if fleet is not None:
            found["fleet redis"] = fleet.check
        return found

    async def reasons(self) -> list[str]:
        """Why the node is not ready (empty: ready)."""
        reasons = ["draining"] if self.draining else []
        checks = self.checks()
        results = await asyncio.gather(
            *(asyncio.wait_for(check(), CHECK_TIMEOUT) for check in checks.values()), return_exceptions=True
        )
        for name, result in zip(checks, results, strict=True):
            if isinstance(result, NotReady):
                reasons.append(str(result))
            elif isinstance(result, BaseException):
                detail = str(result) or f"no answer within {CHECK_TIMEOUT:g} s"
                log.warning("not ready: %s does not answer (%s)", name, detail)
                reasons.append(f"{name} unreachable")
        return reasons


class HealthHandler(JsonErrors):
    """GET/HEAD `/_gingee/health` (liveness) and `/_gingee/health/ready` (readiness)."""

    def initialize(self, health: Health) -> None:
        self.health = health

    def set_default_headers(self) -> None:
        self.set_header("Content-Type", "application/json")
        self.set_header("Cache-Control", "no-store")

    async def get(self, which: str) -> None:
        if which == "/ready":
            reasons = await self.health.reasons()
            self.set_status(503 if reasons else 200)
            body: dict[str, Any] = {"ready": not reasons, "reasons": reasons}
        else:
            uptime = round(time.time() - self.health.started, 1)
            body = {"status": "ok", "pid": os.getpid(), "uptime_s": uptime, "draining": self.health.draining}
        fleet = self.health.shared.get("fleet")
        if fleet is not None:
            body["node"] = fleet.node_id
        self.finish(json.dumps(body))

    async def head(self, which: str) -> None:
        if which == "/ready" and await self.health.reasons():
            self.set_status(503)
        self.finish()


def health_handlers(health: Health) -> list[Any]:
    """The URL table of the health endpoints, for `Server.extra_handlers`."""
    return [(rf"{PATH}(|/ready)", HealthHandler, {"health": health})]
