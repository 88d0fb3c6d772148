"""`GingeeExtension`: the project's apps on Jupyter's own server, configured with traitlets.

c.GingeeExtension.project_dir = "my-project"   # default: Jupyter's root_dir
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

from jupyter_server.extension.application import ExtensionApp
from traitlets import Bool, Float, Unicode

from gingee_kernel.metrics.hooks import install as install_metrics

from .handlers import default_handlers
from .host import GingeeHost
from .policy import DEFAULT_SANDBOX, SafetyPolicy
from .proxy import LiveProxy
from .queue_handlers import queue_handlers
from .socket_handler import socket_rule


class GingeeExtension(ExtensionApp):
    """Serves `{base_url}gingee/<app>/...`: on-disk apps in-process, live apps proxied to their kernel."""

    name = "gingee"
    description = "Gingee apps under {base_url}gingee/, behind Jupyter's auth"
    load_other_extensions = True

    project_dir = Unicode(
        "",
        help="The Gingee project folder (gingee.json and web/), relative to Jupyter's root_dir. "
        "Default: Jupyter's root_dir.",
    ).tag(config=True)
    dev = Bool(
        True,
        help="Development mode, as DESIGN says for Jupyter: grant what each app's pmft.json declares "
        "and reload an app whose manifests changed.",
    ).tag(config=True)
    sandbox_csp = Unicode(
        DEFAULT_SANDBOX,
        help="The Content-Security-Policy sandbox directive put on app pages; allow-same-origin is refused.",
    ).tag(config=True)
    live_connect_timeout = Float(3.0, help="Seconds to connect to a live app's kernel.").tag(config=True)
    live_response_timeout = Float(
        120.0,
        help="Seconds a live app's kernel may take to start its answer (0: no limit); a streamed answer "
        "(server-sent events) may then run as long as it likes.",
    ).tag(config=True)

    host: GingeeHost

    def initialize_settings(self) -> None:
        """Build the host (project, live index, proxy) and share it with the handlers."""
        assert self.serverapp is not None
        _adopt_logging(self.log)
        root = Path(self.serverapp.root_dir).expanduser()
        project_dir = (root / Path(self.project_dir).expanduser()) if self.project_dir else root
        self.host = GingeeHost(
            project_dir.resolve(),
            Path(self.serverapp.runtime_dir),
            self.serverapp.base_url,
            dev=self.dev,
            safety=SafetyPolicy(self.sandbox_csp),
            proxy=LiveProxy(self.live_connect_timeout, self.live_response_timeout or None),
        )
        if self.host.engine is not None:
            install_metrics(self.host.engine)
        self.settings["gingee_host"] = self.host

    def initialize_handlers(self) -> None:
        """Add the admin and queue APIs, metrics, gingee.js and the apps (patterns get the base_url prefix),
        and the apps' websockets, routed by the Upgrade header ahead of them."""
        assert self.serverapp is not None
        self.serverapp.web_app.add_handlers(".*$", [socket_rule(self.host)])
        self.handlers.extend([*queue_handlers, *default_handlers])

    async def _start_jupyter_server_extension(self, serverapp: Any) -> None:
        """Load the project's apps once the server's event loop runs."""
        await self.host.start()
        project = self.host.project
        if project is not None:
            self.log.info(
                "gingee: serving %d app(s) from %s under %s/",
                len(project.apps),
                project.web_root,
                self.host.prefix,
            )

    async def stop_extension(self) -> None:
        """Close the apps and the proxy's connections."""
        await self.host.stop()


def _adopt_logging(server_log: logging.Logger) -> None:
    """Send Gingee's log records (`gingee.*`) through Jupyter's log handlers."""
    gingee = logging.getLogger("gingee")
    if gingee.handlers or not server_log.handlers:
        return
    for handler in server_log.handlers:
        gingee.addHandler(handler)
    gingee.setLevel(logging.INFO)
    gingee.propagate = False
