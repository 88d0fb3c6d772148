"""`g`: what a script's `handle(g)` receives."""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from typing import Any

from .request import Request
from .response import Response


@dataclass(frozen=True)
class AppInfo:
    """`g.app`: the app's name, version, description, env and (resolved) config."""

    name: str
    version: str
    description: str
    env: dict[str, Any] = field(default_factory=dict)
    config: dict[str, Any] = field(default_factory=dict, repr=False)


class G:
    """The context of one request, job or startup script."""

    __slots__ = ("app", "job", "log", "request", "response", "user")

    def __init__(
        self,
        app: AppInfo,
        log: logging.Logger,
        request: Request | None = None,
        response: Response | None = None,
        job: Any = None,
    ) -> None:
        self.app = app
        self.log = log
        self.request = request
        self.response = response
        self.job = job
        #: The logged-in user (`modules.login.User`: provider, subject, email, name, ...), or None: set
        #: from the session cookie of an app with an app.json `auth` section.
        self.user: Any = None
