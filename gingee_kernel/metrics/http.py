"""`/metrics` on `gingee serve`: who may scrape (`MetricsAccess`), the Tornado handler, and its URL table.

A scrape is allowed when the TCP peer address is in `metrics.allow_from` (an empty list: any address) and,
if `metrics.bearer_token` is set, the request carries `Authorization: Bearer <token>`. The peer is the
socket's address: `X-Forwarded-For` and `X-Real-Ip` are never read. A refused scrape gets 403 JSON.
"""

from __future__ import annotations

import hmac
import ipaddress
import json
import logging
import re
import socket
from collections.abc import Mapping, Sequence
from typing import Any

from ..engine.config import DEFAULT_SERVER_CONFIG
from ..errors import ManifestError
from ..json_errors import JsonErrors
from .export import exposition
from .hooks import install

log = logging.getLogger("gingee.metrics")

MIN_TOKEN_LENGTH = 16
Network = ipaddress.IPv4Network | ipaddress.IPv6Network


def parse_peer(address: str) -> ipaddress.IPv4Address | ipaddress.IPv6Address | None:
    """The IP of a peer address string (IPv4-mapped IPv6 as IPv4, zone dropped), or None if not an IP."""
    try:
        ip = ipaddress.ip_address(address.split("%", 1)[0])
    except ValueError:
        return None
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        return ip.ipv4_mapped
    return ip


class MetricsAccess:
    """Who may scrape: peers in `allow_from` (addresses or networks; empty: any) and, if set, a bearer
    token compared in constant time."""

    def __init__(self, allow_from: Sequence[str], bearer_token: str | None) -> None:
        self.networks: list[Network] = []
        for index, entry in enumerate(allow_from):
            try:
                self.networks.append(ipaddress.ip_network(str(entry).strip(), strict=False))
            except ValueError:
                raise ManifestError(
                    "gingee.json",
                    f"/metrics/allow_from/{index}",
                    f"an IP address or network such as 127.0.0.1 or 10.0.0.0/8, not {entry!r}",
                ) from None
        if bearer_token is not None and len(bearer_token) < MIN_TOKEN_LENGTH:
            raise ManifestError(
                "gingee.json",
                "/metrics/bearer_token",
                f"a token of at least {MIN_TOKEN_LENGTH} characters (or null for none), e.g. from "
                '`python -c "import secrets; print(secrets.token_urlsafe(32))"`',
            )
        self.token = bearer_token.encode() if bearer_token is not None else None

    def peer_allowed(self, address: str) -> bool:
        """Whether the TCP peer `address` may scrape (ignoring the token)."""
        if not self.networks:
            return True
        ip = parse_peer(address)
        return ip is not None and any(ip in network for network in self.networks)

    def token_ok(self, authorization: str | None) -> bool:
        """Whether the `Authorization` header carries the configured token (True when none is set)."""
        if self.token is None:
            return True
        scheme, _, value = (authorization or "").strip().partition(" ")
        return scheme.lower() == "bearer" and hmac.compare_digest(value.strip().encode(), self.token)

    def allows(self, address: str, authorization: str | None) -> bool:
        """Whether a scrape from peer `address` with this `Authorization` header is allowed."""
        # Both checks always run, so the answer takes as long whichever one fails.
        peer_ok = self.peer_allowed(address)
        token_ok = self.token_ok(authorization)
        return peer_ok and token_ok


def socket_peer(request: Any) -> str:
    """The TCP peer IP of a Tornado request, from the socket itself (never from proxy headers)."""
    context = request.connection.context
    address = getattr(context, "address", None)
    if getattr(context, "address_family", None) in (socket.AF_INET, socket.AF_INET6) and address:
        return str(address[0])
    return ""


class MetricsHandler(JsonErrors):
    """GET the Prometheus exposition, if `access` allows the scraper."""

    def initialize(self, access: MetricsAccess) -> None:
        self.access = access

    async def get(self) -> None:
        if not self.access.allows(socket_peer(self.request), self.request.headers.get("Authorization")):
            self.set_status(403)
            self.set_header("Content-Type", "application/json; charset=utf-8")
            reason = "this address or token may not read the metrics; see metrics in gingee.json"
            self.finish(json.dumps({"error": "FORBIDDEN", "reason": reason}))
            return
        body, content_type = await exposition(self.request.headers.get("Accept"))
        self.set_header("Content-Type", content_type)
        self.set_header("Cache-Control", "no-store")
        self.finish(body)

    def compute_etag(self) -> None:
        return None


def metrics_settings(config: Mapping[str, Any]) -> dict[str, Any]:
    """The `metrics` section of a server config, with defaults for missing keys."""
    return {**DEFAULT_SERVER_CONFIG["metrics"], **(config.get("metrics") or {})}


def setup(engine: Any) -> list[Any]:
    """Record the metrics of `engine` and return the URL table serving them, per gingee.json `metrics`
    (nothing at all when `enabled` is false, so the path is left to the apps)."""
    settings = metrics_settings(engine.project.config)
    if not settings["enabled"]:
        return []
    access = MetricsAccess(settings["allow_from"], settings["bearer_token"])
    path = settings["path"]
    if not access.networks and access.token is None:
        log.warning("metrics: allow_from is empty and no bearer_token is set: anyone can read %s", path)
    install(engine)
    return [(re.escape(path), MetricsHandler, {"access": access})]
