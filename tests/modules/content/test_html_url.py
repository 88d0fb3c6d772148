"""html.from_url against a real Tornado server on 127.0.0.1: it goes through httpclient, so the
httpclient grant and the egress policy apply (loopback is allowed here by `allow_cidrs`, as in
tests/modules/test_httpclient.py); non-HTML answers, failed fetches and oversize pages are refused."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from typing import Any

import pytest
import tornado.httpserver
import tornado.iostream
import tornado.netutil
import tornado.web

from gingee_kernel.engine.app import AppRuntime
from gingee_kernel.engine.context import app_context
from gingee_kernel.errors import PermissionDenied
from gingee_kernel.modules import html
from gingee_kernel.modules.content.errors import ContentError, ContentTooLarge
from gingee_kernel.modules.egress import EgressDenied
from tests.fixtures.apps import MakeApp

LOOPBACK_ALLOWED = {"allow_cidrs": ["127.0.0.1/32"]}
SHOP = '<html><head><title>Shop</title></head><body><h1>Чай</h1><a href="tea.html">tea</a></body></html>'


@dataclass
class Server:
    port: int
    hits: list[str] = field(default_factory=list)
    sent: int = 0

    def url(self, path: str) -> str:
        return f"http://127.0.0.1:{self.port}{path}"


class Page(tornado.web.RequestHandler):
    """/page/<kind>: the shop page in one of several shapes."""

    async def get(self, kind: str) -> None:
        if kind == "endless":  # chunked, no Content-Length, up to 50 MB: a client must stop reading itself
            self.set_header("Content-Type", "text/html")
            state = self.settings["server"]
            with contextlib.suppress(tornado.iostream.StreamClosedError):
                while state.sent < 50 * 10**6:
                    self.write(b"<p>" + b"x" * 65_000 + b"</p>")
                    await self.flush()
                    state.sent += 65_007
            return
        self.page(kind)

    def page(self, kind: str) -> None:
        self.settings["server"].hits.append(self.request.uri)
        if kind == "cp1251":  # the charset only in the header: the page itself says nothing
            self.set_header("Content-Type", "text/html; charset=windows-1251")
            self.write(SHOP.encode("cp1251"))
        elif kind == "xhtml":
            self.set_header("Content-Type", "application/xhtml+xml")
            self.write(SHOP.encode())
        elif kind == "json":
            self.write({"not": "html"})
        elif kind == "untyped":
            self.clear_header("Content-Type")
            self.write(b"<p>no type</p>")
        elif kind == "big":
            self.set_header("Content-Type", "text/html")
            self.write(b"<p>" + b"x" * 5000 + b"</p>")
        elif kind == "redirect":
            self.redirect("/shop/page/cp1251")
        else:
            self.set_status(404)
            self.set_header("Content-Type", "text/html")
            self.write("<h1>not found</h1>")


@pytest.fixture
async def server() -> AsyncIterator[Server]:
    sockets = tornado.netutil.bind_sockets(0, "127.0.0.1")
    state = Server(port=sockets[0].getsockname()[1])
    http_server = tornado.httpserver.HTTPServer(
        tornado.web.Application([(r"/(?:shop/)?page/(\w+)", Page)], server=state)
    )
    http_server.add_sockets(sockets)
    try:
        yield state
    finally:
        http_server.stop()
        await http_server.close_all_connections()


@pytest.fixture
async def net_app(make_app: MakeApp) -> AsyncIterator[Callable[..., AppRuntime]]:
    created: list[AppRuntime] = []

    def factory(
        egress: dict[str, Any] | None = LOOPBACK_ALLOWED,
        grants: frozenset[str] = frozenset({"httpclient"}),
        config: dict[str, Any] | None = None,
    ) -> AppRuntime:
        app = make_app(f"net{len(created)}", server={"egress": egress or {}}, grants=grants, config=config)
        created.append(app)
        return app

    yield factory
    for app in created:
        await app.close()


async def test_a_page_is_fetched_decoded_and_parsed(
    net_app: Callable[..., AppRuntime], server: Server
) -> None:
    with app_context(net_app()):
        doc = await html.from_url(server.url("/page/cp1251"), timeout=5)
        assert doc.title == "Shop" and doc.select_one("h1").text() == "Чай"  # type: ignore[union-attr]
        assert doc.url == server.url("/page/cp1251")
        assert doc.links() == [server.url("/page/tea.html")]
        moved = await html.from_url(server.url("/page/redirect"))
        assert moved.url == server.url("/shop/page/cp1251") and moved.links() == [
            server.url("/shop/page/tea.html")
        ]
        assert (await html.from_url(server.url("/page/xhtml"))).title == "Shop"


async def test_without_the_httpclient_grant_nothing_is_fetched(
    net_app: Callable[..., AppRuntime], server: Server
) -> None:
    with app_context(net_app(grants=frozenset({"fs"}))), pytest.raises(PermissionDenied, match="httpclient"):
        await html.from_url(server.url("/page/cp1251"))
    assert server.hits == []


async def test_the_egress_policy_applies(net_app: Callable[..., AppRuntime], server: Server) -> None:
    with app_context(net_app(egress={})), pytest.raises(EgressDenied):  # loopback is blocked by default
        await html.from_url(server.url("/page/cp1251"))
    assert server.hits == []


@pytest.mark.parametrize("kind", ["json", "untyped"])
async def test_a_non_html_answer_is_not_html(
    net_app: Callable[..., AppRuntime], server: Server, kind: str
) -> None:
    with app_context(net_app()), pytest.raises(ContentError) as info:
        await html.from_url(server.url(f"/page/{kind}"))
    assert info.value.code == "NOT_HTML" and info.value.status_code == 422


async def test_a_failed_fetch_names_the_status(net_app: Callable[..., AppRuntime], server: Server) -> None:
    with app_context(net_app()), pytest.raises(ContentError, match="404") as info:
        await html.from_url(server.url("/page/missing"))
    assert info.value.code == "FETCH_FAILED"


async def test_an_oversize_page_is_refused(net_app: Callable[..., AppRuntime], server: Server) -> None:
    app = net_app(config={"html": {"max_input_size": "4kb"}})
    with app_context(app), pytest.raises(ContentTooLarge) as info:
        await html.from_url(server.url("/page/big"))
    assert info.value.code == "INPUT_TOO_LARGE" and info.value.status_code == 413


async def test_a_page_without_a_length_is_read_only_up_to_the_limit(
    net_app: Callable[..., AppRuntime], server: Server
) -> None:
    app = net_app(config={"html": {"max_input_size": "1mb"}})
    with app_context(app), pytest.raises(ContentTooLarge) as info:
        await html.from_url(server.url("/page/endless"))
    assert info.value.code == "INPUT_TOO_LARGE"
    await asyncio.sleep(0.2)  # the server notices the closed connection
    assert server.sent < 20 * 10**6  # the client stopped reading: 50 MB were never sent
