"""Gingee's Jupyter server extension: the project's apps under `{base_url}gingee/<app>/`, live apps from
kernels, and the admin API. Enabled on install through `jupyter_server_config.d/gingee_server.json`."""

from __future__ import annotations

from typing import Any


def _jupyter_server_extension_points() -> list[dict[str, Any]]:
    """Where Jupyter finds the extension: the `GingeeExtension` app."""
    from .application import GingeeExtension

    return [{"module": "gingee_server.application", "app": GingeeExtension}]
