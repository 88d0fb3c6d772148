"""The content modules' errors. Each is an HttpError too, so one a script does not catch ends the
request with a JSON answer (422 for input the module cannot use, 413 for a limit) and never a traceback.

GingeeError
├── MissingExtra        the module's optional dependency is not installed; says the pip install to run
└── HttpError
    └── ContentError    (422) the input is malformed or unusable: a truncated image, a broken archive
        └── ContentTooLarge  (413) the input or the output is over a limit (pixels, entries, bytes, pages)
"""

from __future__ import annotations

from ...errors import GingeeError, HttpError


class MissingExtra(GingeeError, ImportError):
    """A content module was used without its optional dependency."""

    def __init__(self, module: str, package: str, extra: str, detail: str = "") -> None:
        self.module = module
        self.package = package
        self.extra = extra
        why = f" ({detail})" if detail else ""
        super().__init__(
            f"the {module} module needs {package}, which is not installed{why}: pip install 'gingee[{extra}]'"
        )


class ContentError(HttpError, ValueError):
    """Input a content module cannot use. `module` names it; the message says what was wrong and never
    shows a server path. Uncaught, the request ends with 422 and `code` (e.g. INVALID_IMAGE)."""

    status_code = 422

    def __init__(self, module: str, code: str, reason: str) -> None:
        self.module = module
        super().__init__(self.status_code, code, f"{module}: {reason}")

    def __str__(self) -> str:
        return self.reason


class ContentTooLarge(ContentError):
    """An input or output over one of the module's limits (app.json `<module>` keys, docs/modules.md).
    Uncaught, the request ends with 413."""

    status_code = 413
