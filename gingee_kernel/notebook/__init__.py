"""The notebook API: `App`, `@app.route`, `@app.job`, `@app.websocket`, `app.use`, `app.request`,
`app.connect`, `app.serve`, `app.export`."""

from __future__ import annotations

from .app import App
from .model import AppConfigError
from .reply import Reply
from .serving import ServeInfo
from .source import ExportError

__all__ = ["App", "AppConfigError", "ExportError", "Reply", "ServeInfo"]
