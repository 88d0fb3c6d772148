"""`gingee serve` hands requests that no extra rule can match straight to the apps' catch-all handler:
for every kind of request, the handler (and its arguments) must be the one Tornado's routing picks."""

from __future__ import annotations

import pytest
import tornado.routing
import tornado.web
from tornado.httputil import HTTPHeaders, HTTPServerRequest, RequestStartLine

from gingee_kernel.engine.tornado_handler import BodylessGingeeHandler, GingeeHandler
from gingee_kernel.metrics.http import MetricsHandler
from gingee_kernel.modules.ws.tornado_host import WebSocketHandler
from gingee_kernel.standalone import Server

REQUESTS = [
    ("GET", "/hello/hello", {}),
    ("GET", "/hello/", {}),
    ("GET", "/", {}),
    ("POST", "/todo/items", {"Content-Length": "2", "Content-Type": "application/json"}),
    ("GET", "/metrics", {}),
    ("GET", "/metrics/", {}),
    ("GET", "/metricsx", {}),
    ("GET", "/_gingee/api/queue", {}),
    ("GET", "/_gingee/api/queue/jobs/1", {}),
    ("GET", "/_gingee/api/queuex", {}),
    ("GET", "/chat/ws", {"Upgrade": "websocket", "Connection": "Upgrade"}),
    ("GET", "/chat/ws", {"Upgrade": "h2c"}),
    ("GET", "/chat/ws", {"Upgrade": "websocket"}),
    ("OPTIONS", "*", {}),
    ("GET", "http://x/metrics", {}),
    ("GET", "/metrics#x", {}),
    ("PROPFIND", "/hello/x", {}),
]


def request(method: str, uri: str, headers: dict[str, str]) -> HTTPServerRequest:
    start = RequestStartLine(method, uri, "HTTP/1.1")
    return HTTPServerRequest(headers=HTTPHeaders({"Host": "x", **headers}), start_line=start)


async def routed(app: tornado.web.Application, method: str, uri: str, headers: dict[str, str]) -> tuple:
    delegate = app.find_handler(request(method, uri, headers))
    return delegate.handler_class, delegate.handler_kwargs, delegate.path_args, delegate.path_kwargs


@pytest.fixture
async def app(tmp_path):
    (tmp_path / "web" / "hello" / "box").mkdir(parents=True)
    (tmp_path / "web" / "hello" / "box" / "app.json").write_text('{"name": "hello"}')
    server = Server(tmp_path, host="127.0.0.1", port=0)
    await server.start()
    yield server.http.request_callback  # type: ignore[union-attr]
    await server.stop()


@pytest.mark.parametrize(("method", "uri", "headers"), REQUESTS)
async def test_the_fast_route_picks_what_tornado_would(app, method, uri, headers):
    assert app._fast is not None
    fast = await routed(app, method, uri, headers)
    fast_route, app._fast = app._fast, None
    try:
        assert await routed(app, method, uri, headers) == fast
    finally:
        app._fast = fast_route


async def test_kinds_of_requests_reach_their_handlers(app):
    assert (await routed(app, "GET", "/hello/hello", {}))[0] is BodylessGingeeHandler
    assert (await routed(app, "POST", "/hello/x", {"Content-Length": "1"}))[0] is GingeeHandler
    upgrade = {"Upgrade": "websocket", "Connection": "keep-alive, Upgrade"}
    assert (await routed(app, "GET", "/chat/ws", upgrade))[0] is WebSocketHandler
    assert (await routed(app, "GET", "/chat/ws", {"Upgrade": "websocket"}))[0] is BodylessGingeeHandler
    assert (await routed(app, "OPTIONS", "*", {}))[0] is BodylessGingeeHandler
    assert (await routed(app, "GET", "http://x/metrics?a=1#b", {}))[0] is MetricsHandler


async def test_rules_added_later_are_routed_by_tornado(app):
    class Late(tornado.web.RequestHandler):
        pass

    app.wildcard_router.rules.insert(0, tornado.routing.Rule(tornado.routing.PathMatches("/late"), Late))
    assert (await routed(app, "GET", "/late", {}))[0] is Late
    assert (await routed(app, "GET", "/hello/hello", {}))[0] is BodylessGingeeHandler


async def test_a_rule_it_cannot_reason_about_turns_the_fast_route_off(tmp_path):
    class Hosted(tornado.web.RequestHandler):
        pass

    server = Server(tmp_path, host="127.0.0.1", port=0)
    server.extra_handlers.append(tornado.routing.Rule(tornado.routing.HostMatches("other.example"), Hosted))
    await server.start()
    try:
        app = server.http.request_callback  # type: ignore[union-attr]
        assert app._fast is None
        delegate = app.find_handler(request("GET", "/anything", {"Host": "other.example"}))
        assert delegate.handler_class is Hosted
        delegate = app.find_handler(request("GET", "/anything", {}))
        assert delegate.handler_class is BodylessGingeeHandler
    finally:
        await server.stop()


async def test_patterns_with_group_references_are_routed_by_tornado(tmp_path):
    class Echo(tornado.web.RequestHandler):
        pass

    server = Server(tmp_path, host="127.0.0.1", port=0)
    server.extra_handlers.append((r"/twice/(\w+)/\1", Echo))
    await server.start()
    try:
        app = server.http.request_callback  # type: ignore[union-attr]
        assert app._fast is None
        assert app.find_handler(request("GET", "/twice/a/a", {})).handler_class is Echo
        assert app.find_handler(request("GET", "/twice/a/b", {})).handler_class is BodylessGingeeHandler
    finally:
        await server.stop()
