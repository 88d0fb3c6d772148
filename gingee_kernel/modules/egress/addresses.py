"""Which addresses protected mode blocks (loopback, private, link-local, metadata ...), and DNS resolution.

An IPv6 address that stands for an IPv4 one (mapped, translated, compatible, NAT64, 6to4) is judged as
that IPv4 address, so `::ffff:127.0.0.1` is loopback.
"""

from __future__ import annotations

import asyncio
import socket
from collections.abc import Iterable
from ipaddress import IPv4Address, IPv4Network, IPv6Address, IPv6Network, ip_address
from typing import TypeVar

import httpx

__all__ = ["METADATA_HOSTS", "IPAddress", "IPNetwork", "blocked_reason", "resolve", "with_embedded"]

IPAddress = IPv4Address | IPv6Address
IPNetwork = IPv4Network | IPv6Network

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


def with_embedded(ip: IPAddress) -> list[IPAddress]:
    """`ip` without any %scope, followed by the IPv4 address it embeds if it has one."""
    if isinstance(ip, IPv6Address):
        plain = IPv6Address(int(ip))
        embedded = _embedded_ipv4(plain)
        return [plain, embedded] if embedded is not None else [plain]
    return [ip]


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
