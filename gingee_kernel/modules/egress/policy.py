"""The egress policy: gingee.json's `egress` section, validated, and the host-name patterns it lists.

In "protected" mode (the default) a request may not reach blocked addresses (see `addresses`) nor
metadata host names. "allowlist" mode only reaches `allow_hosts` / `allow_cidrs`; "off" applies only the
deny lists. `deny_*` always win and `allow_cidrs` is an exception to the blocked ranges.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterable
from dataclasses import dataclass
from ipaddress import ip_network
from typing import Any

from ...errors import ModuleConfigError
from .addresses import IPNetwork

__all__ = ["MODES", "EgressPolicy", "host_matches", "normalize_host"]

MODES = ("protected", "allowlist", "off")


@dataclass(frozen=True)
class EgressPolicy:
    """The parsed `egress` section of gingee.json."""

    mode: str = "protected"
    https_only: bool = False
    max_redirects: int = 3
    timeout_ms: float = 15_000
    allow_hosts: tuple[str, ...] = ()
    allow_cidrs: tuple[IPNetwork, ...] = ()
    deny_hosts: tuple[str, ...] = ()
    deny_cidrs: tuple[IPNetwork, ...] = ()

    @classmethod
    def from_config(cls, config: dict[str, Any] | None) -> EgressPolicy:
        """Validate and parse an `egress` config dict (missing keys take their defaults)."""
        cfg = config or {}
        mode = cfg.get("mode", "protected")
        if mode not in MODES:
            raise ModuleConfigError(
                f'gingee.json egress.mode is {mode!r}; use one of "protected", "allowlist" or "off"'
            )
        max_redirects = cfg.get("max_redirects", 3)
        timeout_ms = cfg.get("timeout_ms", 15_000)
        if not isinstance(max_redirects, int) or isinstance(max_redirects, bool) or max_redirects < 0:
            raise ModuleConfigError("gingee.json egress.max_redirects must be an integer >= 0")
        if not isinstance(timeout_ms, (int, float)) or isinstance(timeout_ms, bool) or timeout_ms <= 0:
            raise ModuleConfigError("gingee.json egress.timeout_ms must be a number of milliseconds > 0")
        return cls(
            mode=mode,
            https_only=bool(cfg.get("https_only", False)),
            max_redirects=max_redirects,
            timeout_ms=timeout_ms,
            allow_hosts=_hosts(cfg.get("allow_hosts"), "allow_hosts"),
            allow_cidrs=_cidrs(cfg.get("allow_cidrs"), "allow_cidrs"),
            deny_hosts=_hosts(cfg.get("deny_hosts"), "deny_hosts"),
            deny_cidrs=_cidrs(cfg.get("deny_cidrs"), "deny_cidrs"),
        )


def _list(value: Any, key: str) -> list[str]:
    if value is None:
        return []
    if not isinstance(value, (list, tuple)) or not all(isinstance(v, str) for v in value):
        raise ModuleConfigError(f"gingee.json egress.{key} must be a list of strings")
    return list(value)


def normalize_host(host: str) -> str:
    """`host` lower-cased, without a trailing dot or IPv6 brackets, IDNA-encoded if it is not ASCII."""
    host = host.strip().lower().rstrip(".")
    if host.startswith("[") and host.endswith("]"):
        host = host[1:-1]
    if not host.isascii():
        with contextlib.suppress(UnicodeError):
            host = host.encode("idna").decode("ascii")
    return host


def _hosts(value: Any, key: str) -> tuple[str, ...]:
    patterns = []
    for raw in _list(value, key):
        wildcard = raw.strip().startswith("*.")
        host = normalize_host(raw.strip()[2:] if wildcard else raw)
        if not host or "*" in host or "/" in host:
            raise ModuleConfigError(
                f"gingee.json egress.{key}: {raw!r} is not a host name; use 'api.example.com' or "
                "'*.example.com'"
            )
        patterns.append(f"*.{host}" if wildcard else host)
    return tuple(patterns)


def _cidrs(value: Any, key: str) -> tuple[IPNetwork, ...]:
    networks = []
    for raw in _list(value, key):
        try:
            networks.append(ip_network(raw.strip(), strict=False))
        except ValueError:
            raise ModuleConfigError(
                f"gingee.json egress.{key}: {raw!r} is not an address range; use e.g. '10.1.2.0/24' or "
                "'2001:db8::/32'"
            ) from None
    return tuple(networks)


def host_matches(host: str, patterns: Iterable[str]) -> bool:
    """True if `host` equals a pattern, or is a subdomain of a `*.example.com` pattern."""
    host = normalize_host(host)
    for pattern in patterns:
        if pattern.startswith("*."):
            if host.endswith(pattern[1:]) and len(host) > len(pattern) - 1:
                return True
        elif host == pattern:
            return True
    return False
