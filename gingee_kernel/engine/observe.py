"""What the engine tells observers (metrics, notebook dashboards) about each finished request.

Labels are bounded: `app` is a loaded app's name or "-", `route` the route pattern (never the raw URL).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass


@dataclass(slots=True)
class Exchange:
    """One finished request, as observers see it (the engine makes one per request, its fields by
    position: keep their order)."""

    app: str = "-"
    route: str = "-"
    kind: str = "other"  # "script", "static" or "other" (redirects, app-level errors)
    method: str = "GET"
    status: int = 0
    error: str = ""  # the error code of an error answer ("TOO_MANY_REQUESTS", ...), else ""
    duration: float = 0.0
    started: float = 0.0


Observer = Callable[[Exchange], None]
