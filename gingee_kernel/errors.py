"""The exceptions Gingee raises, in one tree.

    GingeeError
    ├── ManifestError        a gingee.json / app.json / routes.json / pmft.json is broken
    ├── SecretError          an env:/file: reference cannot be resolved
    ├── NoAppContext         a module was called outside any request, job or startup script
    ├── PermissionDenied     the app was not granted the module it called
    ├── ModuleConfigError    a module was used with a name or option the app did not configure
    ├── ServiceUnavailable   a backing service (Redis, a database) cannot be reached
    └── HttpError            ends a request with a status and a JSON body (raised by scripts or the engine)

Every message says what went wrong and what to do next.
"""

from __future__ import annotations

from typing import Any


class GingeeError(Exception):
    """Base class of every error Gingee raises on purpose."""


class ManifestError(GingeeError):
    """A manifest is unreadable or does not match its schema.

    `file` is the path, `pointer` the JSON pointer of the bad value ("" for the whole document),
    `expected` says what would have been accepted.
    """

    def __init__(self, file: str, pointer: str, expected: str) -> None:
        self.file = file
        self.pointer = pointer
        self.expected = expected
        where = f"at {pointer}" if pointer else "at the top level"
        super().__init__(f"{file}: {where}: {expected}")


class SecretError(GingeeError):
    """An `env:NAME` or `file:path` secret reference could not be resolved."""


class NoAppContext(GingeeError):
    """A Gingee module was used outside a request, job, websocket message or startup script."""


class PermissionDenied(GingeeError, PermissionError):
    """The current app has not been granted the module it tried to use."""

    def __init__(self, app: str, module: str) -> None:
        self.app = app
        self.module = module
        super().__init__(
            f"app '{app}' is not granted the '{module}' permission. Declare it in "
            f"web/{app}/box/pmft.json and grant it with `gingee grant PROJECT {app} {module}` "
            f"(or run with --dev, which grants what pmft.json declares)."
        )


class ModuleConfigError(GingeeError):
    """A module was called with a name or option that the app's configuration does not define."""


class ServiceUnavailable(GingeeError):
    """A backing service (Redis, a database server) could not be reached; nothing was done."""


class HttpError(GingeeError):
    """Ends the current request with `status` and the JSON body `{"error": code, "reason": reason}`.

    `log_message` goes to the server log only; `reason` is what the client sees.
    """

    def __init__(
        self,
        status: int,
        code: str,
        reason: str,
        *,
        headers: dict[str, str] | None = None,
        log_message: str | None = None,
        extra: dict[str, Any] | None = None,
    ) -> None:
        self.status = status
        self.code = code
        self.reason = reason
        self.headers = headers or {}
        self.log_message = log_message
        self.extra = extra or {}
        super().__init__(f"{status} {code}: {reason}")

    def body(self) -> dict[str, Any]:
        """The JSON body the client receives."""
        return {"error": self.code, "reason": self.reason, **self.extra}
