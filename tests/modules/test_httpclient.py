"""httpclient against a real Tornado server on 127.0.0.1: grants, egress policy, redirects, timeouts."""

from __future__ import annotations

import asyncio
import contextlib
import json
import socket
import ssl
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest
import tornado.httpserver
import tornado.netutil
import tornado.web

from gingee_kernel.engine.app import AppRuntime
from gingee_kernel.engine.context import app_context
from gingee_kernel.errors import PermissionDenied
from gingee_kernel.modules import httpclient
from gingee_kernel.modules.egress import EgressDenied, EgressPolicy, EgressTransport
from gingee_kernel.modules.httpclient import HttpClientError, HttpClientTimeout
from tests.fixtures.apps import MakeApp
from tests.fixtures.tls import tls_files

LOOPBACK_ALLOWED = {"allow_cidrs": ["127.0.0.1/32"]}


@dataclass
class Server:
    port: int
    hits: list[str] = field(default_factory=list)
    release: asyncio.Event = field(default_factory=asyncio.Event)

    def url(self, path: str = "/") -> str:
        return f"http://127.0.0.1:{self.port}{path}"


class _Base(tornado.web.RequestHandler):
    def prepare(self) -> None:
        self.settings["server"].hits.append(self.request.uri)


class Echo(_Base):
    def _echo(self) -> None:
        self.write(
            {
                "method": self.request.method,
                "host": self.request.headers.get("Host"),
                "path": self.request.path,
                "query": self.request.query,
                "body": self.request.body.decode(),
                "user_agent": self.request.headers.get("User-Agent"),
            }
        )

    get = post = put = patch = delete = _echo


class Redirect(_Base):
    def get(self) -> None:
        self.redirect(self.get_argument("to"))


class Chain(_Base):
    """Redirects /chain?n=0 -> ?n=1 -> ... and answers 200 once n reaches `stop` (never, by default)."""

    def get(self) -> None:
        n = int(self.get_argument("n", "0"))
        stop = int(self.get_argument("stop", "1000000"))
        if n >= stop:
            self.write({"n": n})
        else:
            self.redirect(f"/chain?n={n + 1}&stop={stop}")


class Slow(_Base):
    async def get(self) -> None:
        with contextlib.suppress(asyncio.TimeoutError):
            await asyncio.wait_for(self.settings["server"].release.wait(), timeout=10)
        if self.request.connection and not self.request.connection.stream.closed():
            self.write("late")


@pytest.fixture
async def server() -> AsyncIterator[Server]:
    sockets = tornado.netutil.bind_sockets(0, "127.0.0.1")
    state = Server(port=sockets[0].getsockname()[1])
    web_app = tornado.web.Application(
        [(r"/echo.*", Echo), (r"/redirect", Redirect), (r"/chain", Chain), (r"/slow", Slow)],
        server=state,
    )
    http_server = tornado.httpserver.HTTPServer(web_app)
    http_server.add_sockets(sockets)
    try:
        yield state
    finally:
        state.release.set()
        await asyncio.sleep(0)
        http_server.stop()
        await http_server.close_all_connections()


@pytest.fixture
async def net_app(make_app: MakeApp) -> AsyncIterator[Callable[..., AppRuntime]]:
    """Factory for apps granted httpclient with a given `egress` config; all are closed at teardown."""
    created: list[AppRuntime] = []

    def factory(egress: dict[str, Any] | None = None, grants: frozenset[str] = frozenset({"httpclient"})):
        app = make_app(f"net{len(created)}", server={"egress": egress or {}}, grants=grants)
        created.append(app)
        return app

    yield factory
    for app in created:
        await app.close()


async def _denied(app: AppRuntime, url: str) -> EgressDenied:
    with app_context(app), pytest.raises(EgressDenied) as info:
        await httpclient.get(url)
    return info.value


# --- permission -------------------------------------------------------------------------------------


async def test_every_call_needs_the_httpclient_grant(
    net_app: Callable[..., AppRuntime], server: Server
) -> None:
    app = net_app(LOOPBACK_ALLOWED, grants=frozenset({"db"}))
    url = server.url("/echo")
    with app_context(app):
        for call in (httpclient.get, httpclient.post, httpclient.put, httpclient.patch, httpclient.delete):
            with pytest.raises(PermissionDenied, match="httpclient"):
                await call(url)
        with pytest.raises(PermissionDenied):
            await httpclient.request("GET", url)
    assert server.hits == []
    assert "httpclient" not in app.state


# --- allowed requests ---------------------------------------------------------------------------------


async def test_loopback_is_denied_by_default(net_app: Callable[..., AppRuntime], server: Server) -> None:
    error = await _denied(net_app(), server.url("/echo"))
    assert error.reason == "BLOCKED_LOOPBACK"
    message = str(error)
    assert f"127.0.0.1:{server.port}/echo" in message
    assert "egress.allow_cidrs" in message and "127.0.0.1/32" in message
    error = await _denied(net_app(), f"http://localhost:{server.port}/echo")
    assert error.reason == "BLOCKED_LOOPBACK"
    assert server.hits == []


async def test_allow_cidrs_reaches_the_loopback_server(
    net_app: Callable[..., AppRuntime], server: Server
) -> None:
    app = net_app(LOOPBACK_ALLOWED)
    with app_context(app):
        response = await httpclient.get(server.url("/echo/a"), params={"q": "1"})
        assert response.status_code == 200
        data = response.json()
        assert data["method"] == "GET" and data["path"] == "/echo/a" and data["query"] == "q=1"
        assert data["host"] == f"127.0.0.1:{server.port}"
        assert data["user_agent"].startswith("Gingee-httpclient")

        posted = (await httpclient.post(server.url("/echo"), json={"x": 1})).json()
        assert posted["method"] == "POST" and json.loads(posted["body"]) == {"x": 1}
        for call, method in [
            (httpclient.put, "PUT"),
            (httpclient.patch, "PATCH"),
            (httpclient.delete, "DELETE"),
        ]:
            assert (await call(server.url("/echo"))).json()["method"] == method
        assert (await httpclient.request("post", server.url("/echo"), content=b"raw")).json()["body"] == "raw"
    assert len(server.hits) == 6


async def test_one_client_per_app_closed_with_the_app(
    net_app: Callable[..., AppRuntime], server: Server
) -> None:
    app = net_app(LOOPBACK_ALLOWED)
    with app_context(app):
        await httpclient.get(server.url("/echo"))
        client = app.state["httpclient"]
        await httpclient.get(server.url("/echo"))
        assert app.state["httpclient"] is client
    await app.close()
    assert client.is_closed
    assert "httpclient" not in app.state


async def test_connection_is_pinned_to_the_checked_address(
    net_app: Callable[..., AppRuntime], server: Server, monkeypatch: pytest.MonkeyPatch
) -> None:
    """DNS rebinding: the name answers 127.0.0.1 when checked, then 10.0.0.1; the request still goes to
    127.0.0.1 (the only lookup is the checked one) and the next request sees and refuses 10.0.0.1."""
    real_getaddrinfo = socket.getaddrinfo
    answers = iter(["127.0.0.1", "10.0.0.1", "10.0.0.1", "10.0.0.1"])
    lookups: list[str] = []

    def fake_getaddrinfo(host: Any, port: Any, *args: Any, **kwargs: Any) -> Any:
        if host != "rebind.test":
            return real_getaddrinfo(host, port, *args, **kwargs)
        lookups.append(host)
        return [(socket.AF_INET, socket.SOCK_STREAM, 6, "", (next(answers), port))]

    monkeypatch.setattr(socket, "getaddrinfo", fake_getaddrinfo)
    app = net_app(LOOPBACK_ALLOWED)
    with app_context(app):
        response = await httpclient.get(f"http://rebind.test:{server.port}/echo")
        assert response.json()["host"] == f"rebind.test:{server.port}"  # Host header kept
        assert lookups == ["rebind.test"]
        with pytest.raises(EgressDenied) as info:
            await httpclient.get(f"http://rebind.test:{server.port}/echo")
    assert info.value.reason == "BLOCKED_PRIVATE"
    assert len(server.hits) == 1


# --- redirects --------------------------------------------------------------------------------------


async def test_redirects_within_allowed_hosts_are_followed(
    net_app: Callable[..., AppRuntime], server: Server
) -> None:
    app = net_app(LOOPBACK_ALLOWED)
    with app_context(app):
        response = await httpclient.get(server.url("/redirect?to=/echo/landed"))
    assert response.json()["path"] == "/echo/landed"
    assert len(response.history) == 1


@pytest.mark.parametrize(
    ("target", "reason"),
    [
        ("http://10.0.0.1/internal", "BLOCKED_PRIVATE"),
        ("http://169.254.169.254/latest/meta-data/", "BLOCKED_METADATA"),
        ("http://metadata.google.internal/computeMetadata/v1/", "BLOCKED_METADATA"),
        ("http://[::1]:{port}/echo", "BLOCKED_LOOPBACK"),
        ("http://127.0.0.2:{port}/echo", "BLOCKED_LOOPBACK"),
        ("http://[::ffff:127.0.0.2]:{port}/echo", "BLOCKED_LOOPBACK"),
        ("ftp://127.0.0.1/file", "SCHEME"),
        ("http://user:pw@127.0.0.1:{port}/echo", "USERINFO"),
    ],
)
async def test_redirect_to_a_blocked_target_is_refused(
    net_app: Callable[..., AppRuntime], server: Server, target: str, reason: str
) -> None:
    app = net_app(LOOPBACK_ALLOWED)
    location = target.format(port=server.port)
    with app_context(app), pytest.raises(EgressDenied) as info:
        await httpclient.get(server.url("/redirect"), params={"to": location})
    assert info.value.reason == reason
    assert len(server.hits) == 1  # only the redirecting request reached the server


async def test_max_redirects_is_enforced(net_app: Callable[..., AppRuntime], server: Server) -> None:
    app = net_app({**LOOPBACK_ALLOWED, "max_redirects": 2})
    with app_context(app):
        ok = await httpclient.get(server.url("/chain?n=0&stop=2"))
        assert ok.json() == {"n": 2} and len(ok.history) == 2
        server.hits.clear()
        with pytest.raises(HttpClientError, match=r"egress\.max_redirects") as info:
            await httpclient.get(server.url("/chain?n=0"))
    assert isinstance(info.value.__cause__, httpx.TooManyRedirects)
    assert len(server.hits) == 3  # the first request and two redirects, no more


async def test_follow_redirects_can_be_turned_off_per_call(
    net_app: Callable[..., AppRuntime], server: Server
) -> None:
    app = net_app(LOOPBACK_ALLOWED)
    with app_context(app):
        response = await httpclient.get(server.url("/redirect?to=http://10.0.0.1/"), follow_redirects=False)
    assert response.status_code == 302
    assert response.headers["Location"] == "http://10.0.0.1/"


# --- blocked destinations -----------------------------------------------------------------------------


async def test_metadata_destinations_are_blocked(net_app: Callable[..., AppRuntime]) -> None:
    app = net_app()
    for url in [
        "http://metadata.google.internal/computeMetadata/v1/",
        "http://metadata/computeMetadata/v1/",
        "http://instance-data/latest/",
        "http://169.254.169.254/latest/meta-data/iam/",
        "http://[::ffff:169.254.169.254]/latest/",
    ]:
        assert (await _denied(app, url)).reason == "BLOCKED_METADATA", url


async def test_userinfo_and_other_schemes_are_blocked(
    net_app: Callable[..., AppRuntime], server: Server
) -> None:
    app = net_app(LOOPBACK_ALLOWED)
    error = await _denied(app, f"http://admin:s3cret@127.0.0.1:{server.port}/echo")
    assert error.reason == "USERINFO" and "s3cret" not in str(error)
    assert (await _denied(app, f"ftp://127.0.0.1:{server.port}/")).reason == "SCHEME"
    https_only = net_app({**LOOPBACK_ALLOWED, "https_only": True})
    assert (await _denied(https_only, server.url("/echo"))).reason == "SCHEME"
    assert server.hits == []


async def test_ipv4_mapped_ipv6_loopback_is_blocked(
    net_app: Callable[..., AppRuntime], server: Server
) -> None:
    app = net_app()
    for host in ["[::ffff:127.0.0.1]", "[::ffff:7f00:1]", "[::1]"]:
        error = await _denied(app, f"http://{host}:{server.port}/echo")
        assert error.reason == "BLOCKED_LOOPBACK", host
    assert server.hits == []


async def test_numeric_ip_forms_never_reach_loopback(
    net_app: Callable[..., AppRuntime], server: Server
) -> None:
    app = net_app()
    for host in ["2130706433", "017700000001", "0x7f000001", "127.1", "0x7f.0.0.1"]:
        error = await _denied(app, f"http://{host}:{server.port}/echo")
        assert error.reason == "BLOCKED_LOOPBACK", host
    # A dotted form with octal parts is not even a valid URL host.
    with app_context(app), pytest.raises(HttpClientError, match="invalid URL"):
        await httpclient.get(f"http://0177.0.0.1:{server.port}/echo")
    assert server.hits == []


async def test_deny_lists_win_over_allow_cidrs(net_app: Callable[..., AppRuntime], server: Server) -> None:
    deny_cidr = net_app({**LOOPBACK_ALLOWED, "deny_cidrs": ["127.0.0.0/8"]})
    assert (await _denied(deny_cidr, server.url("/echo"))).reason == "DENY_CIDR"
    deny_host = net_app({**LOOPBACK_ALLOWED, "deny_hosts": ["127.0.0.1"]})
    assert (await _denied(deny_host, server.url("/echo"))).reason == "DENY_HOST"
    assert server.hits == []


async def test_allowlist_mode(net_app: Callable[..., AppRuntime], server: Server) -> None:
    app = net_app({"mode": "allowlist", "allow_cidrs": ["127.0.0.1/32"]})
    with app_context(app):
        assert (await httpclient.get(server.url("/echo"))).status_code == 200
    other = net_app({"mode": "allowlist", "allow_hosts": ["api.example.com"]})
    assert (await _denied(other, "http://8.8.8.8/")).reason == "ALLOWLIST"


# --- failures ---------------------------------------------------------------------------------------


async def test_timeout_raises_http_client_timeout(net_app: Callable[..., AppRuntime], server: Server) -> None:
    app = net_app({**LOOPBACK_ALLOWED, "timeout_ms": 200})
    with app_context(app):
        with pytest.raises(HttpClientTimeout, match="timed out") as info:
            await httpclient.get(server.url("/slow"))
        assert isinstance(info.value.__cause__, httpx.TimeoutException)
        assert isinstance(info.value, HttpClientError)
        with pytest.raises(HttpClientTimeout):
            await httpclient.get(server.url("/slow"), timeout=0.1)
    assert server.hits == ["/slow", "/slow"]


async def test_connection_refused_raises_http_client_error(net_app: Callable[..., AppRuntime]) -> None:
    probe = socket.socket()
    probe.bind(("127.0.0.1", 0))
    port = probe.getsockname()[1]
    probe.close()  # nothing listens on this port now
    app = net_app(LOOPBACK_ALLOWED)
    with app_context(app), pytest.raises(HttpClientError) as info:
        await httpclient.get(f"http://127.0.0.1:{port}/")
    assert not isinstance(info.value, HttpClientTimeout)
    assert isinstance(info.value.__cause__, httpx.ConnectError)


# --- TLS through the pinned transport -------------------------------------------------------------------


async def test_https_keeps_sni_and_certificate_checks_for_the_host_name(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Pinning connects to the checked IP, but TLS still sends and verifies the host name, and two names
    on the same IP never share a connection (each handshake carries its own SNI)."""
    ca, cert, key = tls_files(tmp_path, ["a.test", "b.test"])
    server_ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    server_ctx.load_cert_chain(cert, key)
    sni_seen: list[str | None] = []
    server_ctx.sni_callback = lambda _sock, name, _ctx: sni_seen.append(name)  # type: ignore[assignment]

    real_getaddrinfo = socket.getaddrinfo

    def fake_getaddrinfo(host: Any, port: Any, *args: Any, **kwargs: Any) -> Any:
        if isinstance(host, str) and host.endswith(".test"):
            return [(socket.AF_INET, socket.SOCK_STREAM, 6, "", ("127.0.0.1", port))]
        return real_getaddrinfo(host, port, *args, **kwargs)

    monkeypatch.setattr(socket, "getaddrinfo", fake_getaddrinfo)
    sockets = tornado.netutil.bind_sockets(0, "127.0.0.1")
    port = sockets[0].getsockname()[1]
    state = Server(port=port)
    http_server = tornado.httpserver.HTTPServer(
        tornado.web.Application([(r"/echo.*", Echo)], server=state), ssl_options=server_ctx
    )
    http_server.add_sockets(sockets)
    client_ctx = ssl.create_default_context(cafile=str(ca))
    transport = EgressTransport(EgressPolicy.from_config(LOOPBACK_ALLOWED), verify=client_ctx)
    try:
        async with httpx.AsyncClient(transport=transport, trust_env=False) as client:
            first = await client.get(f"https://a.test:{port}/echo")
            second = await client.get(f"https://b.test:{port}/echo")
            assert first.json()["host"] == f"a.test:{port}"
            assert second.json()["host"] == f"b.test:{port}"
            assert sni_seen == ["a.test", "b.test"]
            with pytest.raises(httpx.ConnectError, match="certificate"):
                await client.get(f"https://evil.test:{port}/echo")
            with pytest.raises(EgressDenied, match="BLOCKED_LOOPBACK"):
                await client.get(f"https://[::1]:{port}/echo")
    finally:
        http_server.stop()
        await http_server.close_all_connections()
    assert state.hits == ["/echo", "/echo"]
