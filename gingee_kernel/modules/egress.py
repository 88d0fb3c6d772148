"""Outbound HTTP policy for the `httpclient` module: which URLs and addresses an app may reach.

The policy is `gingee.json`'s `egress` section. In "protected" mode (the default) a request may not reach
loopback, private, shared (CGNAT), link-local, cloud-metadata, multicast, unspecified or reserved
addresses, nor well-known metadata host names, nor use a URL with credentials in it. "allowlist" mode
only reaches `allow_hosts` / `allow_cidrs`; "off" applies only the deny lists. `deny_*` always win and
`allow_cidrs` is an exception to the blocked ranges.

`EgressTransport` applies the policy to every request it sends, so each redirect hop is checked too. It
resolves the host itself, checks every address the name resolves to, and then connects to the address
it checked (a network backend pins the TCP connection), so a DNS answer that changes between the check
and the connection (rebinding) cannot redirect it. TLS still verifies the certificate for the host name.
"""

from __future__ import annotations

import asyncio
import contextlib
import contextvars
import socket
import ssl
from collections.abc import AsyncIterator, Iterable, Iterator
from dataclasses import dataclass
from ipaddress import IPv4Address, IPv4Network, IPv6Address, IPv6Network, ip_address, ip_network
from typing import Any, TypeVar
from urllib.parse import unquote

import httpcore
import httpx

from ..errors import GingeeError, ModuleConfigError

__all__ = [
    "METADATA_HOSTS",
    "EgressDenied",
    "EgressPolicy",
    "EgressTransport",
    "Target",
    "blocked_reason",
    "check_address",
    "check_url",
    "host_matches",
    "redact_url",
    "resolve",
    "vet",
]

IPAddress = IPv4Address | IPv6Address
IPNetwork = IPv4Network | IPv6Network

MODES = ("protected", "allowlist", "off")

_Net = TypeVar("_Net", IPv4Network, IPv6Network)

#: Host names of cloud / cluster metadata services, blocked by name in protected and allowlist modes.
METADATA_HOSTS = frozenset(
    {
        "metadata",
        "metadata.google.internal",
        "metadata.goog",
        "metadata.azure.internal",
        "instance-data",
        "instance-data.ec2.internal",
        "kubernetes.default",
        "kubernetes.default.svc",
        "kubernetes.default.svc.cluster.local",
    }
)

_METADATA_IPS = frozenset(
    ip_address(a)
    for a in (
        "169.254.169.254",  # AWS, GCP, Azure, OpenStack, DigitalOcean, Oracle ...
        "169.254.170.2",  # AWS ECS task metadata
        "168.63.129.16",  # Azure wire server
        "100.100.100.200",  # Alibaba Cloud
        "fd00:ec2::254",  # AWS IMDS over IPv6
    )
)


def _ranges(network: type[_Net], rows: Iterable[tuple[str, str, str]]) -> tuple[tuple[_Net, str, str], ...]:
    """(network, code, description) rows parsed from (CIDR, code, description) rows."""
    return tuple((network(net), code, what) for net, code, what in rows)


def _in_ranges(ip: IPAddress, ranges: Iterable[tuple[IPNetwork, str, str]]) -> tuple[str, str] | None:
    """(code, "<ip> is <description>") for the first range holding `ip`, else None."""
    for net, code, what in ranges:
        if ip in net:
            return code, f"{ip} is {what}"
    return None


_V4_RANGES = _ranges(
    IPv4Network,
    (
        ("0.0.0.0/8", "BLOCKED_UNSPECIFIED", "an unspecified ('this network') address"),
        ("127.0.0.0/8", "BLOCKED_LOOPBACK", "a loopback address"),
        ("10.0.0.0/8", "BLOCKED_PRIVATE", "a private (RFC 1918) address"),
        ("172.16.0.0/12", "BLOCKED_PRIVATE", "a private (RFC 1918) address"),
        ("192.168.0.0/16", "BLOCKED_PRIVATE", "a private (RFC 1918) address"),
        ("100.64.0.0/10", "BLOCKED_PRIVATE", "a shared (carrier-grade NAT) address"),
        ("169.254.0.0/16", "BLOCKED_LINK_LOCAL", "a link-local address"),
        ("224.0.0.0/4", "BLOCKED_MULTICAST", "a multicast address"),
        ("240.0.0.0/4", "BLOCKED_RESERVED", "a reserved or broadcast address"),
        ("192.0.0.0/24", "BLOCKED_RESERVED", "an IETF protocol-assignment address"),
        ("192.0.2.0/24", "BLOCKED_RESERVED", "a documentation address"),
        ("198.51.100.0/24", "BLOCKED_RESERVED", "a documentation address"),
        ("203.0.113.0/24", "BLOCKED_RESERVED", "a documentation address"),
        ("198.18.0.0/15", "BLOCKED_RESERVED", "a benchmarking address"),
        ("192.88.99.0/24", "BLOCKED_RESERVED", "a deprecated 6to4 relay address"),
    ),
)

_V6_RANGES = _ranges(
    IPv6Network,
    (
        ("::/128", "BLOCKED_UNSPECIFIED", "the unspecified address"),
        ("::1/128", "BLOCKED_LOOPBACK", "the loopback address"),
        ("fc00::/7", "BLOCKED_PRIVATE", "a unique-local (private) address"),
        ("fec0::/10", "BLOCKED_PRIVATE", "a site-local (private) address"),
        ("fe80::/10", "BLOCKED_LINK_LOCAL", "a link-local address"),
        ("ff00::/8", "BLOCKED_MULTICAST", "a multicast address"),
        ("100::/64", "BLOCKED_RESERVED", "a discard-only address"),
        ("2001::/23", "BLOCKED_RESERVED", "an IETF protocol-assignment address"),
        ("2001:db8::/32", "BLOCKED_RESERVED", "a documentation address"),
        ("3fff::/20", "BLOCKED_RESERVED", "a documentation address"),
    ),
)
_V6_GLOBAL_UNICAST = IPv6Network("2000::/3")
_V6_SIIT = IPv6Network("::ffff:0:0:0/96")
_V6_COMPAT = IPv6Network("::/96")
_V6_NAT64 = (IPv6Network("64:ff9b::/96"), IPv6Network("64:ff9b:1::/48"))


class EgressDenied(GingeeError):
    """The egress policy refused an outbound request; `reason` is a code such as BLOCKED_LOOPBACK."""

    def __init__(self, url: str, reason: str, detail: str, hint: str) -> None:
        self.url = url
        self.reason = reason
        self.detail = detail
        self.hint = hint
        super().__init__(f"egress denied for {url}: {reason}: {detail}. {hint}")


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


def _normalize_host(host: str) -> str:
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
        host = _normalize_host(raw.strip()[2:] if wildcard else raw)
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
    host = _normalize_host(host)
    for pattern in patterns:
        if pattern.startswith("*."):
            if host.endswith(pattern[1:]) and len(host) > len(pattern) - 1:
                return True
        elif host == pattern:
            return True
    return False


def _embedded_ipv4(ip: IPv6Address) -> IPv4Address | None:
    """The IPv4 address an IPv6 address stands for (mapped, translated, compatible, NAT64, 6to4)."""
    if ip.ipv4_mapped is not None:
        return ip.ipv4_mapped
    if ip.sixtofour is not None:
        return ip.sixtofour
    if ip in _V6_SIIT or ip in _V6_COMPAT or any(ip in net for net in _V6_NAT64):
        return IPv4Address(int(ip) & 0xFFFFFFFF)
    return None


def blocked_reason(ip: IPAddress) -> tuple[str, str] | None:
    """(code, description) if protected mode blocks `ip`, else None; IPv4 inside IPv6 is judged as IPv4."""
    if isinstance(ip, IPv6Address):
        ip = IPv6Address(int(ip))  # drop any %scope
    if ip in _METADATA_IPS:
        return "BLOCKED_METADATA", f"{ip} is a cloud metadata service address"
    if isinstance(ip, IPv4Address):
        return _in_ranges(ip, _V4_RANGES)
    reason = _in_ranges(ip, _V6_RANGES[:2])  # unspecified and loopback: judged before any embedded IPv4
    if reason is not None:
        return reason
    embedded = _embedded_ipv4(ip)
    if embedded is not None:
        reason = blocked_reason(embedded)
        return (reason[0], f"{ip} embeds {reason[1]}") if reason else None
    reason = _in_ranges(ip, _V6_RANGES[2:])
    if reason is not None:
        return reason
    if ip not in _V6_GLOBAL_UNICAST:
        return "BLOCKED_RESERVED", f"{ip} is not a global unicast address"
    return None


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
    host = _normalize_host(unquote(url.raw_host.decode("ascii")))
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


def _with_embedded(ip: IPAddress) -> list[IPAddress]:
    if isinstance(ip, IPv6Address):
        plain = IPv6Address(int(ip))
        embedded = _embedded_ipv4(plain)
        return [plain, embedded] if embedded is not None else [plain]
    return [ip]


def check_address(url: httpx.URL, host: str, ip: IPAddress, policy: EgressPolicy, host_allowed: bool) -> None:
    """Raise EgressDenied unless the policy lets a request for `host` connect to `ip`."""
    shown = redact_url(url)
    forms = _with_embedded(ip)
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


async def resolve(host: str, port: int, timeout: float | None = None) -> list[IPAddress]:
    """Every address `host` resolves to (an IP literal resolves to itself), via the loop's executor."""
    try:
        return [ip_address(host)]
    except ValueError:
        pass
    loop = asyncio.get_running_loop()
    try:
        infos = await asyncio.wait_for(
            loop.getaddrinfo(host, port, type=socket.SOCK_STREAM, proto=socket.IPPROTO_TCP), timeout
        )
    except asyncio.TimeoutError:
        raise httpx.ConnectTimeout(f"resolving {host} timed out") from None
    addresses: list[IPAddress] = []
    for family, _type, _proto, _name, sockaddr in infos:
        if family not in (socket.AF_INET, socket.AF_INET6):
            continue
        address = ip_address(sockaddr[0])
        if address not in addresses:
            addresses.append(address)
    return addresses


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


# --- the transport ----------------------------------------------------------------------------------

#: (host, port) -> checked IP, for the connection the current request may open.
_PINS: contextvars.ContextVar[dict[tuple[str, int], str] | None] = contextvars.ContextVar(
    "gingee_egress_pins", default=None
)


class _PinnedBackend(httpcore.AsyncNetworkBackend):
    """Opens TCP connections only to the address `vet` checked for the request being sent."""

    def __init__(self) -> None:
        self._inner = httpcore.AnyIOBackend()

    async def connect_tcp(
        self,
        host: str,
        port: int,
        timeout: float | None = None,
        local_address: str | None = None,
        socket_options: Iterable[httpcore.SOCKET_OPTION] | None = None,
    ) -> httpcore.AsyncNetworkStream:
        ip = (_PINS.get() or {}).get((host, port))
        if ip is None:
            raise EgressDenied(
                f"{host}:{port}",
                "UNCHECKED",
                "a connection was attempted to an address that was not checked",
                "This is a bug in Gingee's httpclient; please report it.",
            )
        return await self._inner.connect_tcp(ip, port, timeout, local_address, socket_options)

    async def connect_unix_socket(
        self,
        path: str,
        timeout: float | None = None,
        socket_options: Iterable[httpcore.SOCKET_OPTION] | None = None,
    ) -> httpcore.AsyncNetworkStream:
        raise EgressDenied(path, "SCHEME", "unix sockets are not allowed", "Use an http(s) URL.")

    async def sleep(self, seconds: float) -> None:
        await self._inner.sleep(seconds)


_EXCEPTIONS: tuple[tuple[type[Exception], type[httpx.HTTPError]], ...] = (
    (httpcore.PoolTimeout, httpx.PoolTimeout),
    (httpcore.ConnectTimeout, httpx.ConnectTimeout),
    (httpcore.ReadTimeout, httpx.ReadTimeout),
    (httpcore.WriteTimeout, httpx.WriteTimeout),
    (httpcore.TimeoutException, httpx.TimeoutException),
    (httpcore.ConnectError, httpx.ConnectError),
    (httpcore.ReadError, httpx.ReadError),
    (httpcore.WriteError, httpx.WriteError),
    (httpcore.NetworkError, httpx.NetworkError),
    (httpcore.UnsupportedProtocol, httpx.UnsupportedProtocol),
    (httpcore.LocalProtocolError, httpx.LocalProtocolError),
    (httpcore.RemoteProtocolError, httpx.RemoteProtocolError),
    (httpcore.ProtocolError, httpx.ProtocolError),
)


@contextlib.contextmanager
def _httpx_errors() -> Iterator[None]:
    """Re-raise httpcore's exceptions as the matching httpx ones."""
    try:
        yield
    except httpcore.TimeoutException as exc:
        raise _mapped(exc) from exc
    except (httpcore.NetworkError, httpcore.ProtocolError, httpcore.UnsupportedProtocol) as exc:
        raise _mapped(exc) from exc


def _mapped(exc: Exception) -> httpx.HTTPError:
    for source, target in _EXCEPTIONS:
        if isinstance(exc, source):
            return target(str(exc))  # type: ignore[call-arg]
    return httpx.TransportError(str(exc))  # pragma: no cover


class _ResponseStream(httpx.AsyncByteStream):
    def __init__(self, stream: Any) -> None:
        self._stream = stream

    async def __aiter__(self) -> AsyncIterator[bytes]:
        with _httpx_errors():
            async for part in self._stream:
                yield part

    async def aclose(self) -> None:
        if hasattr(self._stream, "aclose"):
            with _httpx_errors():
                await self._stream.aclose()


class EgressTransport(httpx.AsyncBaseTransport):
    """An httpx transport that checks every request (so every redirect hop) against `policy`."""

    def __init__(
        self,
        policy: EgressPolicy,
        *,
        verify: bool | ssl.SSLContext = True,
        limits: httpx.Limits | None = None,
    ) -> None:
        limits = limits or httpx.Limits(max_connections=100, max_keepalive_connections=20, keepalive_expiry=5)
        self.policy = policy
        context = verify if isinstance(verify, ssl.SSLContext) else httpx.create_ssl_context(verify=verify)
        self._pool = httpcore.AsyncConnectionPool(
            ssl_context=context,
            max_connections=limits.max_connections,
            max_keepalive_connections=limits.max_keepalive_connections,
            keepalive_expiry=limits.keepalive_expiry,
            network_backend=_PinnedBackend(),
        )

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        """Check the request's URL and addresses, then send it over a connection to the checked address."""
        timeouts = request.extensions.get("timeout", {})
        target = await vet(request.url, self.policy, timeouts.get("connect"))
        core_request = httpcore.Request(
            method=request.method,
            url=httpcore.URL(
                scheme=request.url.raw_scheme,
                host=request.url.raw_host,
                port=request.url.port,
                target=request.url.raw_path,
            ),
            headers=request.headers.raw,
            content=request.stream,  # type: ignore[arg-type]
            extensions=request.extensions,
        )
        token = _PINS.set({(target.host, target.port): target.ip})
        try:
            with _httpx_errors():
                response = await self._pool.handle_async_request(core_request)
        finally:
            _PINS.reset(token)
        return httpx.Response(
            status_code=response.status,
            headers=response.headers,
            stream=_ResponseStream(response.stream),
            extensions=response.extensions,
        )

    async def aclose(self) -> None:
        """Close every pooled connection."""
        await self._pool.aclose()
