"""`%gingee [APP] METHOD PATH [JSON]`: call a notebook app in-process from a cell and show the reply.

%load_ext gingee_kernel
%gingee GET /todos/1
%gingee todo POST /todos {"title": "write the docs"}
"""

from __future__ import annotations

import json
from typing import Any

from .app import App
from .model import METHODS
from .reply import Reply

USAGE = 'usage: %gingee [APP] METHOD PATH [JSON body]   e.g. %gingee POST /todos {"title": "x"}'


class MagicUsageError(ValueError):
    """The magic's line could not be read; shown in the cell as one line."""

    def _render_traceback_(self) -> list[str]:
        return [f"%gingee: {self}"]


def parse(line: str) -> tuple[str | None, str, str, Any]:
    """(app name or None, method, path, JSON body or None) from the magic's line."""
    words = line.strip().split(None, 1)
    app = None
    if words and words[0].upper() not in METHODS:
        app, words = words[0], words[1].split(None, 1) if len(words) > 1 else []
    if not words or words[0].upper() not in METHODS:
        raise MagicUsageError(USAGE)
    method, rest = words[0].upper(), (words[1] if len(words) > 1 else "").strip()
    path, _, body = rest.partition(" ")
    if not path:
        raise MagicUsageError(USAGE)
    payload = None
    if body.strip():
        try:
            payload = json.loads(body)
        except ValueError as exc:
            raise MagicUsageError(f"the body is not valid JSON ({exc}); {USAGE}") from None
    return app, method, path, payload


def gingee(line: str) -> Reply:
    """Run `%gingee [APP] METHOD PATH [JSON]` against the named app, or the latest one defined."""
    name, method, path, payload = parse(line)
    if name is None:
        app = App.latest
        if app is None:
            raise MagicUsageError('no app yet: define one with `app = gk.App("name")` first')
    else:
        app = App.registry.get(name)
        if app is None:
            known = ", ".join(sorted(App.registry)) or "none yet"
            raise MagicUsageError(f"no app named {name!r} in this kernel (apps: {known})")
    return app.request(method, path, json=payload)


def load_ipython_extension(ipython: Any) -> None:
    """Register `%gingee` in the shell (what `%load_ext gingee_kernel` and the Gingee kernel call)."""
    ipython.register_magic_function(gingee, magic_kind="line", magic_name="gingee")
