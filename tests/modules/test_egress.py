"""The egress policy as pure functions: address classes, host patterns, URL checks, allow/deny order."""

from __future__ import annotations

import socket
from ipaddress import ip_address

import httpx
import pytest

from gingee_kernel.errors import GingeeError, ModuleConfigError
from gingee_kernel.modules import egress
from gingee_kernel.modules.egress import EgressDenied, EgressPolicy

PROTECTED = EgressPolicy.from_config({})


@pytest.mark.parametrize(
    ("address", "code"),
    [
        ("127.0.0.1", "BLOCKED_LOOPBACK"),
        ("127.255.0.9", "BLOCKED_LOOPBACK"),
        ("::1", "BLOCKED_LOOPBACK"),
        ("10.0.0.1", "BLOCKED_PRIVATE"),
        ("172.16.5.4", "BLOCKED_PRIVATE"),
        ("172.31.255.255", "BLOCKED_PRIVATE"),
        ("192.168.1.1", "BLOCKED_PRIVATE"),
        ("100.64.0.1", "BLOCKED_PRIVATE"),
        ("100.127.255.254", "BLOCKED_PRIVATE"),
        ("fd12:3456::1", "BLOCKED_PRIVATE"),
        ("fc00::1", "BLOCKED_PRIVATE"),
        ("169.254.1.1", "BLOCKED_LINK_LOCAL"),
        ("fe80::1", "BLOCKED_LINK_LOCAL"),
        ("fe80::1%eth0", "BLOCKED_LINK_LOCAL"),
        ("169.254.169.254", "BLOCKED_METADATA"),
        ("fd00:ec2::254", "BLOCKED_METADATA"),
        ("100.100.100.200", "BLOCKED_METADATA"),
        ("0.0.0.0", "BLOCKED_UNSPECIFIED"),
        ("0.1.2.3", "BLOCKED_UNSPECIFIED"),
        ("::", "BLOCKED_UNSPECIFIED"),
        ("224.0.0.1", "BLOCKED_MULTICAST"),
        ("239.255.255.250", "BLOCKED_MULTICAST"),
        ("ff02::1", "BLOCKED_MULTICAST"),
        ("255.255.255.255", "BLOCKED_RESERVED"),
        ("240.0.0.1", "BLOCKED_RESERVED"),
        ("192.0.2.10", "BLOCKED_RESERVED"),
        ("2001:db8::1", "BLOCKED_RESERVED"),
        ("100::1", "BLOCKED_RESERVED"),
        # IPv4 hidden inside IPv6 is judged as the IPv4 address it reaches.
        ("::ffff:127.0.0.1", "BLOCKED_LOOPBACK"),
        ("::ffff:7f00:1", "BLOCKED_LOOPBACK"),
        ("::ffff:10.1.2.3", "BLOCKED_PRIVATE"),
        ("::ffff:169.254.169.254", "BLOCKED_METADATA"),
        ("::ffff:0:127.0.0.1", "BLOCKED_LOOPBACK"),
        ("::127.0.0.1", "BLOCKED_LOOPBACK"),
        ("64:ff9b::10.0.0.1", "BLOCKED_PRIVATE"),
        ("2002:7f00:1::1", "BLOCKED_LOOPBACK"),
        ("2002:a9fe:a9fe::", "BLOCKED_METADATA"),
    ],
)
def test_blocked_reason_classifies_non_public_addresses(address: str, code: str) -> None:
    reason = egress.blocked_reason(ip_address(address))
    assert reason is not None and reason[0] == code


@pytest.mark.parametrize(
    "address",
    ["8.8.8.8", "1.1.1.1", "93.184.216.34", "2606:4700:4700::1111", "::ffff:8.8.8.8", "100.128.0.1"],
)
def test_blocked_reason_allows_public_addresses(address: str) -> None:
    assert egress.blocked_reason(ip_address(address)) is None


def test_host_patterns() -> None:
    patterns = ("api.example.com", "*.example.org")
    assert egress.host_matches("api.example.com", patterns)
    assert egress.host_matches("API.Example.COM.", patterns)
    assert not egress.host_matches("evil-api.example.com", patterns)
    assert not egress.host_matches("api.example.com.evil.net", patterns)
    assert egress.host_matches("a.example.org", patterns)
    assert egress.host_matches("a.b.example.org", patterns)
    assert not egress.host_matches("example.org", patterns)
    assert not egress.host_matches("badexample.org", patterns)


def test_policy_from_defaults_and_config() -> None:
    assert PROTECTED.mode == "protected" and PROTECTED.max_redirects == 3
    policy = EgressPolicy.from_config(
        {
            "mode": "allowlist",
            "allow_hosts": ["API.Example.com.", "*.Example.org", "[::1]"],
            "allow_cidrs": ["10.1.2.3", "10.9.0.0/16"],
            "deny_cidrs": ["10.9.9.0/24"],
        }
    )
    assert policy.allow_hosts == ("api.example.com", "*.example.org", "::1")
    assert [str(n) for n in policy.allow_cidrs] == ["10.1.2.3/32", "10.9.0.0/16"]


@pytest.mark.parametrize(
    "config",
    [
        {"mode": "open"},
        {"allow_cidrs": ["not-a-cidr"]},
        {"deny_cidrs": "10.0.0.0/8"},
        {"allow_hosts": ["*"]},
        {"allow_hosts": ["a.*.com"]},
        {"max_redirects": -1},
        {"timeout_ms": 0},
    ],
)
def test_policy_rejects_bad_config(config: dict) -> None:
    with pytest.raises(ModuleConfigError, match="egress"):
        EgressPolicy.from_config(config)


def _denied(url: str, policy: EgressPolicy = PROTECTED) -> EgressDenied:
    with pytest.raises(EgressDenied) as info:
        egress.check_url(httpx.URL(url), policy)
    return info.value


def test_check_url_rejects_schemes_userinfo_and_metadata_names() -> None:
    assert _denied("ftp://files.example.com/x").reason == "SCHEME"
    assert _denied("file:///etc/passwd").reason == "SCHEME"
    error = _denied("http://admin:hunter2@example.com/path?token=abc")
    assert error.reason == "USERINFO"
    assert "hunter2" not in str(error) and "token=abc" not in str(error)
    assert "http://example.com/path" in str(error)
    for host in ["metadata", "metadata.google.internal", "METADATA.GOOGLE.INTERNAL.", "metadata.goog",
                 "instance-data", "kubernetes.default", "kubernetes.default.svc"]:  # fmt: skip
        assert _denied(f"http://{host}/computeMetadata/v1/").reason == "BLOCKED_METADATA", host


def test_check_url_https_only_and_deny_hosts() -> None:
    https_only = EgressPolicy.from_config({"https_only": True})
    error = _denied("http://example.com/", https_only)
    assert error.reason == "SCHEME" and "egress.https_only" in str(error)
    assert egress.check_url(httpx.URL("https://example.com/"), https_only) == ("example.com", 443, False)

    deny = EgressPolicy.from_config({"deny_hosts": ["*.tracker.net"], "allow_hosts": ["x.tracker.net"]})
    error = _denied("https://x.tracker.net/", deny)
    assert error.reason == "DENY_HOST" and "egress.deny_hosts" in str(error)
    assert egress.check_url(httpx.URL("https://tracker.net:8443/"), deny) == ("tracker.net", 8443, False)


def test_metadata_name_can_be_allowed_explicitly_and_mode_off_skips_name_checks() -> None:
    allowed = EgressPolicy.from_config({"allow_hosts": ["metadata.google.internal"]})
    assert egress.check_url(httpx.URL("http://metadata.google.internal/"), allowed)[2] is True
    off = EgressPolicy.from_config({"mode": "off"})
    assert egress.check_url(httpx.URL("http://u:p@metadata/"), off)[0] == "metadata"
    assert _denied("ftp://metadata/", off).reason == "SCHEME"


def _check(address: str, policy: EgressPolicy, host: str = "svc.example.com", allowed: bool = False) -> None:
    egress.check_address(httpx.URL(f"http://{host}/"), host, ip_address(address), policy, allowed)


def test_allow_cidrs_are_an_exception_to_blocked_ranges() -> None:
    with pytest.raises(EgressDenied) as info:
        _check("127.0.0.1", PROTECTED)
    assert info.value.reason == "BLOCKED_LOOPBACK"
    assert '"127.0.0.1/32" to egress.allow_cidrs' in str(info.value)
    policy = EgressPolicy.from_config({"allow_cidrs": ["127.0.0.1/32"]})
    _check("127.0.0.1", policy)
    _check("::ffff:127.0.0.1", policy)
    with pytest.raises(EgressDenied):
        _check("127.0.0.2", policy)
    _check("8.8.8.8", PROTECTED)


def test_deny_cidrs_always_win() -> None:
    policy = EgressPolicy.from_config(
        {"allow_cidrs": ["127.0.0.0/8"], "deny_cidrs": ["127.0.0.1/32", "8.8.8.0/24"]}
    )
    for address in ["127.0.0.1", "::ffff:127.0.0.1", "8.8.8.8"]:
        with pytest.raises(EgressDenied) as info:
            _check(address, policy)
        assert info.value.reason == "DENY_CIDR"
    _check("127.0.0.2", policy)
    off = EgressPolicy.from_config({"mode": "off", "deny_cidrs": ["10.0.0.0/8"]})
    _check("127.0.0.1", off)
    with pytest.raises(EgressDenied, match="DENY_CIDR"):
        _check("10.1.1.1", off)


def test_allowlist_mode() -> None:
    policy = EgressPolicy.from_config(
        {"mode": "allowlist", "allow_hosts": ["api.partner.com"], "allow_cidrs": ["127.0.0.1/32"]}
    )
    _check("8.8.8.8", policy, host="api.partner.com", allowed=True)
    _check("127.0.0.1", policy, host="anything.local")
    with pytest.raises(EgressDenied) as info:
        _check("8.8.8.8", policy, host="other.com")
    assert info.value.reason == "ALLOWLIST" and "egress.allow_hosts" in str(info.value)
    # An allowed *name* does not unlock a blocked address: that needs allow_cidrs.
    with pytest.raises(EgressDenied) as info:
        _check("10.0.0.7", policy, host="api.partner.com", allowed=True)
    assert info.value.reason == "BLOCKED_PRIVATE"


async def test_vet_checks_ip_literals_and_numeric_host_forms() -> None:
    for url in [
        "http://127.0.0.1/",
        "http://[::1]/",
        "http://[::ffff:127.0.0.1]/",
        "http://2130706433/",
        "http://017700000001/",
        "http://0x7f000001/",
        "http://127.1/",
    ]:
        with pytest.raises(EgressDenied) as info:
            await egress.vet(httpx.URL(url), PROTECTED)
        assert info.value.reason == "BLOCKED_LOOPBACK", url
    with pytest.raises(EgressDenied, match="BLOCKED_METADATA"):
        await egress.vet(httpx.URL("http://169.254.169.254/latest/meta-data/"), PROTECTED)
    target = await egress.vet(httpx.URL("https://8.8.8.8/"), PROTECTED)
    assert (target.host, target.port, target.ip) == ("8.8.8.8", 443, "8.8.8.8")


async def test_vet_checks_every_resolved_address(monkeypatch: pytest.MonkeyPatch) -> None:
    answers = {
        "mixed.test": ["8.8.8.8", "10.0.0.5"],
        "public.test": ["8.8.4.4", "2001:4860:4860::8888"],
    }

    def fake_getaddrinfo(host, port, family=0, type=0, proto=0, flags=0):
        if host not in answers:
            raise socket.gaierror(socket.EAI_NONAME, "Name or service not known")
        return [
            (socket.AF_INET6 if ":" in a else socket.AF_INET, socket.SOCK_STREAM, 6, "", (a, port))
            for a in answers[host]
        ]

    monkeypatch.setattr(socket, "getaddrinfo", fake_getaddrinfo)
    with pytest.raises(EgressDenied) as info:
        await egress.vet(httpx.URL("http://mixed.test/"), PROTECTED)
    assert info.value.reason == "BLOCKED_PRIVATE" and "mixed.test resolves to 10.0.0.5" in str(info.value)
    target = await egress.vet(httpx.URL("http://public.test:8080/"), PROTECTED)
    assert (target.host, target.port, target.ip) == ("public.test", 8080, "8.8.4.4")
    with pytest.raises(EgressDenied) as info:
        await egress.vet(httpx.URL("http://nowhere.test/"), PROTECTED)
    assert info.value.reason == "DNS_FAIL"


def test_egress_denied_is_a_gingee_error() -> None:
    error = EgressDenied("http://x/", "BLOCKED_PRIVATE", "10.0.0.1 is private", "Add it.")
    assert isinstance(error, GingeeError)
    assert error.reason == "BLOCKED_PRIVATE" and "http://x/" in str(error)
