"""Gingee on ASGI: a project served by any ASGI server (uvicorn, hypercorn, granian, gunicorn with uvicorn
workers), with the same answers as the Tornado host.

    from gingee_kernel.asgi import create_app
    app = create_app("myproject")                       # uvicorn mymodule:app

    GINGEE_PROJECT=myproject uvicorn 'gingee_kernel.asgi:app' --factory

- application.py  GingeeASGI: lifespan, and which part answers a request
- http.py         one HTTP request through the engine (limits, streaming, HEAD, 405)
- websocket.py    one websocket through the host-neutral Session (modules/ws)
- scope.py        the headers and raw path of a scope, as the Tornado host reads them
- tornado_bridge.py  the operator API, health, metrics and queue API handlers (Tornado's), run for ASGI
- serving.py      `gingee serve --server asgi`: uvicorn, signals, draining, `--workers N`
"""

from __future__ import annotations

import os

from .application import GingeeASGI, create_app

__all__ = ["GingeeASGI", "app", "create_app"]


def app() -> GingeeASGI:
    """The factory for `uvicorn 'gingee_kernel.asgi:app' --factory`: the project in $GINGEE_PROJECT
    (default: the current folder); $GINGEE_DEV=1 serves it in dev mode."""
    return create_app(os.environ.get("GINGEE_PROJECT", "."), dev=os.environ.get("GINGEE_DEV") == "1")
