"""`gingee serve --server asgi`: the project's ASGI application under uvicorn (uvloop and httptools when
installed: the `gingee[fast]` extra), with the Tornado host's start line, signals and drain.

uvicorn's own signal handling is turned off (`_Uvicorn.capture_signals`) so that the signals mean what they
mean for `gingee serve` on Tornado: SIGTERM drains (readiness fails for gingee.json `server.drain_ms` while
requests are still served, then uvicorn stops gracefully), a second SIGTERM or a SIGINT stops at once, and
SIGHUP reloads every app. Under `--workers N` each worker runs `serve` on its own SO_REUSEPORT sockets
(cluster.py), exactly as the Tornado host does.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import socket
from collections.abc import Callable, Coroutine, Iterator
from pathlib import Path
from typing import Any

import tornado.netutil

from ..errors import GingeeError
from ..host_run import announce, in_flight_publisher, stop_signals
from ..modules.ws.tornado_host import FRAME_HEADROOM, PING_INTERVAL
from .application import GingeeASGI

log = logging.getLogger("gingee.serve")
#: How long stopping waits for open requests and websockets (the Tornado host's figure too).
GRACEFUL_S = 5


def _uvicorn() -> Any:
    try:
        import uvicorn
    except ImportError:
        raise GingeeError(
            "--server asgi runs the project under uvicorn, which is not installed: "
            "pip install 'gingee[fast]' (or serve with the default --server tornado)"
        ) from None
    return uvicorn


def uvicorn_config(app: GingeeASGI, **options: Any) -> Any:
    """uvicorn's `Config` for a Gingee project: the settings under which uvicorn answers as the Tornado host
    does (`options` override them; tests/fixtures/asgi.py runs the contract suite under these):

    - no X-Forwarded-* rewriting of the peer: Gingee reads those headers itself, from gingee.json
      `server.trusted_proxies` only (engine/forwarded.py); no Server header; Gingee's own request log;
    - websockets: pings every 30 s, no permessage-deflate (Tornado's defaults), and frames read up to
      twice the largest `max_message_bytes` of the loaded apps plus 64 KiB, so an app's limit is
      answered with its own 1009 close (modules/ws/tornado_host.py reads frames the same way);
    - 5 s for open requests and websockets to finish when stopping.
    """
    uvicorn = _uvicorn()
    settings: dict[str, Any] = {
        "lifespan": "on",
        "http": "auto",  # httptools when installed, else h11
        "ws": "auto",  # websockets' sans-I/O protocol when installed, else wsproto
        "proxy_headers": False,
        "server_header": False,
        "access_log": False,
        "log_config": None,
        "log_level": "warning",
        "ws_ping_interval": PING_INTERVAL,
        "ws_per_message_deflate": False,
        "timeout_graceful_shutdown": GRACEFUL_S,
    }
    largest = _largest_message(app)
    if largest is not None:
        settings["ws_max_size"] = FRAME_HEADROOM * largest + 65_536
    settings.update(options)
    return uvicorn.Config(app, **settings)


def _largest_message(app: GingeeASGI) -> int | None:
    from ..modules.ws.settings import app_settings

    limits = []
    for runtime in app.project.apps.values():
        try:
            ws = app_settings(runtime)
        except Exception:  # reported when the app's websocket is first used
            continue
        if ws is not None:
            limits.append(ws.max_message_bytes)
    return max(limits, default=None) if app.project.apps else None


def run(main: Coroutine[Any, Any, None]) -> None:
    """Run `main` on uvloop when it is installed (what uvicorn itself would pick), else on asyncio's loop."""
    factory: Callable[[], asyncio.AbstractEventLoop] | None
    try:
        import uvloop

        factory = uvloop.new_event_loop
    except ImportError:
        factory = None
    with asyncio.Runner(loop_factory=factory) as runner:
        runner.run(main)


async def serve(
    project_dir: Path,
    *,
    dev: bool,
    host: str | None,
    port: int | None,
    sockets: list[socket.socket] | None = None,
    worker: int | None = None,
) -> None:
    """Serve the project under uvicorn until SIGINT/SIGTERM, as `standalone.serve` does on Tornado (same
    arguments, start line, drain and reload)."""
    uvicorn = _uvicorn()
    app = GingeeASGI(project_dir, dev=dev, worker=worker)
    server_cfg = app.project.config["server"]
    host = host or server_cfg["host"]
    port = server_cfg["port"] if port is None else port
    if sockets is None:
        sockets = tornado.netutil.bind_sockets(port, host)
    await app.startup()  # before uvicorn, so a project that cannot start raises here as on Tornado
    config = uvicorn_config(app)
    server = _server(uvicorn, config)

    def stop(first: bool) -> None:
        if not first:  # a second stop signal: at once
            server.force_exit = server.should_exit = True
            return
        # Websockets close with 1001 "app unloaded" as on Tornado (uvicorn's own close would be 1012).
        closing = asyncio.ensure_future(app.close_websockets())
        closing.add_done_callback(lambda _: setattr(server, "should_exit", True))

    try:
        with stop_signals(app.project, app.health, stop, worker), in_flight_publisher():
            running = asyncio.ensure_future(server.serve(sockets=sockets))
            while not server.started and not running.done():
                await asyncio.sleep(0.01)
            if not running.done():
                announce(app.project, host, sockets[0].getsockname()[1], worker, " under uvicorn")
            await running
        if not server.started:
            raise GingeeError(f"uvicorn did not start serving {app.project.dir} (see the log above)")
    finally:
        await app.shutdown()  # a no-op after uvicorn's lifespan shutdown


def _server(uvicorn: Any, config: Any) -> Any:
    class Server(uvicorn.Server):  # type: ignore[misc, name-defined]
        """uvicorn's server, leaving the process's signals to `serve` (its public override point)."""

        @contextlib.contextmanager
        def capture_signals(self) -> Iterator[None]:
            yield

    return Server(config)
