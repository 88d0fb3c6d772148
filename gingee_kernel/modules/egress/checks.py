"""A request's URL and the addresses its host resolves to, checked against the egress policy.

`check_url` judges what is known before DNS (scheme, credentials, host names); `check_address` judges
one address; `vet` resolves the host, checks every address and returns the one to connect to.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any
from urllib.parse import unquote

import httpx

from ...errors import GingeeError
from .addresses import METADATA_HOSTS, IPAddress, blocked_reason, resolve, with_embedded
from .policy import EgressPolicy, host_matches, normalize_host

__all__ = ["EgressDenied", "Target", "check_address", "check_url", "redact_url", "vet", "vet_app_endpoint"]


class EgressDenied(GingeeError):
    """The egress policy refused an outbound request; `reason` is a code such as BLOCKED_LOOPBACK."""

    def __init__(self, url: str, reason: str, detail: str, hint: str) -> None:
        self.url = url
        self.reason = reason
        self.detail = detail
        self.hint = hint
        super().__init__(f"egress denied for {url}: {reason}: {detail}. {hint}")


def redact_url(url: httpx.URL | str) -> str:
    """`url` for messages and logs: no credentials, query string or fragment."""
    try:
        parsed = url if isinstance(url, httpx.URL) else httpx.URL(url)
        host = parsed.host
    except (httpx.InvalidURL, TypeError):
        return "<invalid URL>"
    if ":" in host:
        host = f"[{host}]"
    port = f":{parsed.port}" if parsed.port is not None else ""
    return f"{parsed.scheme}://{host}{port}{parsed.path}"


@dataclass(frozen=True)
class Target:
    """Where a checked request may connect: `host` and `port` as the connection sees them, `ip` to use."""

    host: str
    port: int
    ip: str
    host_allowed: bool = False


def check_url(url: httpx.URL, policy: EgressPolicy) -> tuple[str, int, bool]:
    """Check the parts of `url` known before DNS; returns (host, port, host is in allow_hosts)."""
    shown = redact_url(url)
    if url.scheme not in ("http", "https"):
        raise EgressDenied(
            shown,
            "SCHEME",
            f"the scheme {url.scheme or '(none)'!r} is not allowed",
            "Only http:// and https:// URLs can be fetched.",
        )
    if policy.https_only and url.scheme != "https":
        raise EgressDenied(
            shown,
            "SCHEME",
            "plain http is not allowed (egress.https_only is true)",
            "Use https://, or set egress.https_only to false in gingee.json.",
        )
    if not url.host:
        raise EgressDenied(shown, "INVALID_URL", "the URL has no host", "Use an absolute http(s) URL.")
    if url.userinfo and policy.mode != "off":
        raise EgressDenied(
            shown,
            "USERINFO",
            "the URL contains credentials (user:password@)",
            "Pass credentials with auth=(user, password) or an Authorization header instead; "
            'only egress.mode "off" in gingee.json allows them in the URL.',
        )
    host = normalize_host(unquote(url.raw_host.decode("ascii")))
    port = url.port or (443 if url.scheme == "https" else 80)
    if host_matches(host, policy.deny_hosts):
        raise EgressDenied(
            shown,
            "DENY_HOST",
            f"{host} matches egress.deny_hosts",
            "Remove the matching entry from egress.deny_hosts in gingee.json to allow it.",
        )
    host_allowed = host_matches(host, policy.allow_hosts)
    if policy.mode != "off" and not host_allowed and host in METADATA_HOSTS:
        raise EgressDenied(
            shown,
            "BLOCKED_METADATA",
            f"{host} is a cloud/cluster metadata host name",
            f'Add "{host}" to egress.allow_hosts (and its address to egress.allow_cidrs) in gingee.json '
            "if the app really must reach it.",
        )
    return host, port, host_allowed


def check_address(url: httpx.URL, host: str, ip: IPAddress, policy: EgressPolicy, host_allowed: bool) -> None:
    """Raise EgressDenied unless the policy lets a request for `host` connect to `ip`."""
    shown = redact_url(url)
    forms = with_embedded(ip)
    cidr = f"{forms[0]}/{forms[0].max_prefixlen}"
    if any(form in net for form in forms for net in policy.deny_cidrs):
        raise EgressDenied(
            shown,
            "DENY_CIDR",
            f"{host} resolves to {ip}, inside egress.deny_cidrs",
            "Remove the matching range from egress.deny_cidrs in gingee.json to allow it.",
        )
    if policy.mode == "off":
        return
    explicitly_allowed = any(form in net for form in forms for net in policy.allow_cidrs)
    if policy.mode == "allowlist" and not (host_allowed or explicitly_allowed):
        raise EgressDenied(
            shown,
            "ALLOWLIST",
            f"{host} ({ip}) is not in egress.allow_hosts or egress.allow_cidrs",
            f'Add "{host}" to egress.allow_hosts or "{cidr}" to egress.allow_cidrs in gingee.json.',
        )
    if explicitly_allowed:
        return
    reason = blocked_reason(ip)
    if reason is not None:
        where = reason[1] if host == str(forms[0]) else f"{host} resolves to {reason[1]}"
        raise EgressDenied(
            shown,
            reason[0],
            where,
            f'To allow this address add "{cidr}" to egress.allow_cidrs in gingee.json.',
        )


async def vet(url: httpx.URL, policy: EgressPolicy, timeout: float | None = None) -> Target:
    """Check `url` and every address its host resolves to; returns the address to connect to."""
    host, port, host_allowed = check_url(url, policy)
    try:
        addresses = await resolve(host, port, timeout)
    except (OSError, UnicodeError) as exc:
        raise EgressDenied(
            redact_url(url),
            "DNS_FAIL",
            f"{host} could not be resolved ({exc})",
            "Check the host name; no egress setting changes DNS.",
        ) from exc
    if not addresses:
        raise EgressDenied(redact_url(url), "DNS_FAIL", f"{host} has no IP address", "Check the host name.")
    for address in addresses:
        check_address(url, host, address, policy, host_allowed)
    connect_host = url.raw_host.decode("ascii")
    return Target(connect_host, port, str(addresses[0]), host_allowed)


async def vet_app_endpoint(server_config: dict[str, Any], url: str, key: str, section: str) -> EgressPolicy:
    """The egress policy, after checking that it lets an app reach `url`, an endpoint the app's own app.json
    set at `key` (a module's SMTP host, API base or S3 endpoint). EgressDenied names `key`, and says that
    the operator may set it in gingee.json `section` instead (operator endpoints are trusted)."""
    policy = EgressPolicy.from_config(server_config.get("egress"))
    try:
        await vet(httpx.URL(url), policy)
    except EgressDenied as exc:
        raise EgressDenied(
            exc.url,
            exc.reason,
            f"app.json {key}: {exc.detail}",
            f"{exc.hint} Or set the endpoint in gingee.json {section} instead (operator endpoints are "
            "trusted).",
        ) from None
    return policy
