"""Server configuration (`gingee.json`): defaults in one place, deep-merged under the user's file."""

from __future__ import annotations

import copy
import re
from pathlib import Path
from typing import Any

#: Every server setting and its default. `gingee.json` is merged over this, section by section.
DEFAULT_SERVER_CONFIG: dict[str, Any] = {
    "server": {"host": "127.0.0.1", "port": 7070, "trusted_proxies": [], "drain_ms": 0},
    "web_root": "web",
    "default_app": None,
    "max_body_size": "10mb",
    # A body a script reads as it arrives ("body": "stream" routes, signed storage PUTs) is never held
    # whole, so it may be far larger.
    "max_upload_size": "1gb",
    "limits": {
        "request_timeout_ms": 30_000,
        "max_concurrent_requests": 100,
        "max_concurrent_requests_per_app": 25,
        "script_threads": 16,
    },
    "permissions_file": "settings/permissions.json",
    "secrets": {"file_roots": ["settings/secrets", "/run/secrets"]},
    "logging": {"level": "info"},
    "cache": {
        "driver": "memory",
        "prefix": "",
        "ttl": 3600,
        "max_entries": 10_000,
        "redis": {"url": "redis://127.0.0.1:6379/0"},
    },
    "jwt": {"secret": None, "iss": None},
    "websockets": {
        "max_connections": 10_000,
        "max_connections_per_app": 2_000,
        "fanout": {
            "driver": "local",
            "redis": {"url": "redis://127.0.0.1:6379/0"},
            "channel_prefix": None,  # None: gingee:ws:<cluster.name>:
            "retry_ms": 10_000,
            "max_pending": 10_000,
        },
    },
    "cluster": {"name": None},  # None: the project folder's name (see settle_cluster)
    "egress": {
        "mode": "protected",
        "https_only": False,
        "max_redirects": 3,
        "timeout_ms": 15_000,
        "allow_hosts": [],
        "allow_cidrs": [],
        "deny_hosts": [],
        "deny_cidrs": [],
    },
    "queue": {
        "driver": "memory",
        "concurrency": 50,
        "default_attempts": 3,
        "default_backoff_ms": 1000,
        "job_timeout_ms": 300_000,
        "lease_grace_ms": 10_000,
        "keep_result_ms": 3_600_000,
        "poll_delay_ms": 20,
        "drain_timeout_ms": 30_000,
        "fail_closed": True,
        "dlq_max": 1000,
        "dlq_ttl_ms": 14 * 86_400_000,
        "prefix": "gingee:queue:",
        "redis": {"url": "redis://127.0.0.1:6379/0"},
    },
    "admin": {"token": None},
    "metrics": {
        "enabled": True,
        "path": "/metrics",
        "allow_from": ["127.0.0.1", "::1"],
        "bearer_token": None,
    },
}


def merge_config(base: dict[str, Any], override: dict[str, Any]) -> dict[str, Any]:
    """A deep copy of `base` with `override` merged in: dicts merge key by key, anything else replaces."""
    merged = copy.deepcopy(base)
    for key, value in override.items():
        if isinstance(value, dict) and isinstance(merged.get(key), dict):
            merged[key] = merge_config(merged[key], value)
        else:
            merged[key] = copy.deepcopy(value)
    return merged


def server_config(user: dict[str, Any] | None = None) -> dict[str, Any]:
    """The effective server config: defaults with `user` (a parsed gingee.json) merged over them."""
    return merge_config(DEFAULT_SERVER_CONFIG, user or {})


def settle_cluster(config: dict[str, Any], project_dir: Path) -> dict[str, Any]:
    """Fill in `config["cluster"]`: `name` defaults to the project folder's name (what separates projects
    sharing one Redis, e.g. in the websocket fan-out channels), and `project_dir` is where it lives."""
    cluster = config.setdefault("cluster", {})
    if not cluster.get("name"):
        cluster["name"] = re.sub(r"[^A-Za-z0-9._-]+", "-", project_dir.name).strip("-.") or "project"
    cluster["project_dir"] = str(project_dir)
    return cluster
