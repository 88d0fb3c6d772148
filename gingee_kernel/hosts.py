"""The hosts `gingee serve --server NAME` runs a project on: "tornado" (standalone.py, the default) and
"asgi" (asgi/serving.py: uvicorn, the `gingee[fast]` extra). Both take the same arguments and signals."""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Coroutine
from typing import Any, NamedTuple

#: The names `--server` accepts, the default first.
NAMES = ("tornado", "asgi")


class Host(NamedTuple):
    """`serve(project_dir, dev=, host=, port=, sockets=, worker=)` is the coroutine serving until a stop
    signal; `run(coroutine)` runs it on the event loop that host wants."""

    serve: Callable[..., Coroutine[Any, Any, None]]
    run: Callable[[Coroutine[Any, Any, None]], None]


def load(name: str) -> Host:
    """The host called `name` (one of NAMES), imported now."""
    if name == "tornado":
        from .standalone import serve

        return Host(serve, asyncio.run)
    if name == "asgi":
        from .asgi.serving import run, serve

        return Host(serve, run)
    raise ValueError(f"--server is one of {', '.join(NAMES)}, not {name!r}")
