"""On-disk apps through a real Jupyter server at /user/test/: the routing and status contract of `gingee
serve`, Jupyter's auth and XSRF, public apps, the sandbox policy, the admin API, gingee.js, activity."""

from __future__ import annotations

import httpx

from tests.server_extension.conftest import ECHO, login

SANDBOX = "sandbox allow-scripts allow-forms allow-popups allow-modals allow-downloads"
HTML = "<!doctype html><title>t</title><h1>hello</h1>"
SSE = """
async def handle(g):
    await g.response.stream()
    await g.response.write_sse({"n": 1})
    await g.response.end()
"""

FILES = {
    "web/private/box/app.json": {"name": "private"},
    "web/private/box/routes.json": {"routes": [{"path": "/items/:id", "method": "GET", "script": "item.py"}]},
    "web/private/box/item.py": "async def handle(g):\n    g.response.send({'id': g.request.params['id']})\n",
    "web/private/box/echo.py": ECHO,
    "web/private/box/events.py": SSE,
    "web/private/index.html": HTML,
    "web/private/data.json": {"x": 1},
    "web/private/logo.svg": "<svg xmlns='http://www.w3.org/2000/svg'/>",
    "web/pub/box/app.json": {"name": "pub", "public": True},
    "web/pub/box/echo.py": ECHO,
    "web/pub/index.html": HTML,
    "web/trusted/box/app.json": {"name": "trusted", "jupyter": {"sandbox": False}},
    "web/trusted/index.html": HTML,
    "web/pubopt/box/app.json": {"name": "pubopt", "public": True, "jupyter": {"sandbox": False}},
    "web/pubopt/index.html": HTML,
    "web/broken/box/app.json": {"name": 5},
}

# The same requests against `gingee serve` and the extension must get the same answers.
CONTRACT = [
    ("GET", "/private/items/7"),  # manifest route
    ("POST", "/private/items/7"),  # 405 with Allow
    ("GET", "/private/box/app.json"),  # 403 box
    ("GET", "/private/%2e%2e/pub/index.html"),  # 403 traversal
    ("GET", "/private/missing.txt"),  # 404 file
    ("GET", "/private/nothing"),  # 404 script
    ("GET", "/private"),  # 301 to the slash
    ("GET", "/private/index.html"),  # static file
    ("GET", "/private/data.json"),
    ("GET", "/broken/x"),  # 503: failed to load
]


def sandboxes(reply: httpx.Response) -> bool:
    return SANDBOX in reply.headers.get_list("content-security-policy")


def test_same_statuses_as_gingee_serve(server, http, serve):
    standalone = serve(server.root, dev=True)
    for method, path in CONTRACT:
        ours = http.request(method, server.url("gingee" + path), headers=server.auth)
        theirs = http.request(method, standalone.url(path))
        assert ours.status_code == theirs.status_code, (method, path, ours.text)
        assert ours.content == theirs.content, (method, path)
        assert ours.headers["content-type"] == theirs.headers["content-type"], (method, path)
        for name in ("allow", "location"):
            assert ours.headers.get(name) == theirs.headers.get(name), (method, path, name)
    assert http.get(server.url("gingee/private/items/7"), headers=server.auth).json() == {"id": "7"}


def test_without_login_pages_redirect_and_the_rest_is_403(server, http):
    page = http.get(server.url("gingee/private/index.html"))
    assert page.status_code == 302
    assert page.headers["location"].startswith("/user/test/login?next=")
    assert "gingee%2Fprivate%2Findex.html" in page.headers["location"]
    post = http.post(server.url("gingee/private/echo"), json={})
    assert post.status_code == 403
    assert post.json()["error"] == "ACCESS_DENIED"
    assert "Authorization: token" in post.json()["reason"]
    assert http.get(server.url("gingee/api/apps")).status_code == 403
    assert http.get(server.url("gingee/metrics")).status_code == 403
    # An unknown app is not revealed as such before login.
    assert http.get(server.url("gingee/nope/x")).status_code == 302
    wrong = http.get(server.url("gingee/private/echo"), headers={"Authorization": "token wrong"})
    assert wrong.status_code == 302


def test_token_reaches_the_app_with_its_prefix(server, http):
    reply = http.get(server.url("gingee/private/echo?x=1"), headers=server.auth)
    assert reply.status_code == 200
    body = reply.json()
    assert body["prefix"] == "/user/test/gingee/private/"
    assert body["auth"] == f"token {server.token}"  # a private app is the user's own: it may see it
    assert body["query"] == {"x": "1"}
    forged = http.get(
        server.url("gingee/private/echo"),
        headers={**server.auth, "X-Gingee-Live-Secret": "forged", "X-Gingee-Prefix": "/evil/"},
    )
    assert forged.json()["secret"] is None and forged.json()["prefix"] == "/user/test/gingee/private/"
    missing = http.get(server.url("gingee/nope/x"), headers=server.auth)
    assert missing.status_code == 404
    assert missing.json()["error"] == "APP_NOT_FOUND" and "app.serve()" in missing.json()["reason"]


def test_public_app_is_anonymous(server, http):
    assert http.get(server.url("gingee/pub/echo")).status_code == 200
    assert http.post(server.url("gingee/pub/echo"), json={"a": 1}).json()["method"] == "POST"  # no XSRF
    cookies = f"_xsrf=2|abc; theme=dark; username-127-0-0-1-{server.port}=secret; jupyterhub-session-id=x"
    reply = http.get(
        server.url(f"gingee/pub/echo?token={server.token}&x=1"),
        headers={**server.auth, "Cookie": cookies},
    )
    body = reply.json()
    assert body["auth"] is None
    assert body["cookie"] == "theme=dark"
    assert body["query"] == {"x": "1"}
    assert reply.headers["access-control-allow-origin"] == "*"
    assert "access-control-allow-credentials" not in reply.headers
    preflight = http.options(
        server.url("gingee/pub/echo"),
        headers={
            "Origin": "null",
            "Access-Control-Request-Method": "POST",
            "Access-Control-Request-Headers": "content-type, x-thing",
        },
    )
    assert preflight.status_code == 204
    assert preflight.headers["access-control-allow-origin"] == "*"
    assert preflight.headers["access-control-allow-headers"] == "content-type, x-thing"


def test_cookie_login_needs_xsrf_header_for_writes(server):
    with login(server) as browser:
        assert browser.get(server.url("gingee/private/echo")).status_code == 200
        refused = browser.post(server.url("gingee/private/echo"), json={})
        assert refused.status_code == 403
        assert "_xsrf" in refused.json()["reason"]
        xsrf = {"X-XSRFToken": browser.cookies["_xsrf"]}
        allowed = browser.post(server.url("gingee/private/echo"), json={}, headers=xsrf)
        assert allowed.status_code == 200 and allowed.json()["method"] == "POST"
        # The app sees the browser's cookies (it is the user's own app) ...
        assert "_xsrf" in allowed.json()["cookie"]
        # ... a public one does not.
        public = browser.post(server.url("gingee/pub/echo"), json={}, headers=xsrf).json()
        assert public["cookie"] is None


def test_sandbox_on_every_apps_html(server, http):
    for app in ("private", "pub", "pubopt"):
        page = http.get(server.url(f"gingee/{app}/index.html"), headers=server.auth)
        assert page.status_code == 200 and sandboxes(page), app
    assert sandboxes(http.get(server.url("gingee/private/logo.svg"), headers=server.auth))
    data = http.get(server.url("gingee/private/data.json"), headers=server.auth)
    assert data.status_code == 200 and not sandboxes(data)
    trusted = http.get(server.url("gingee/trusted/index.html"), headers=server.auth)
    assert trusted.status_code == 200 and not sandboxes(trusted)
    # Jupyter's own CSP is still there.
    assert any("frame-ancestors" in v for v in trusted.headers.get_list("content-security-policy"))


def test_server_sent_events_from_a_disk_app(server, http):
    reply = http.get(server.url("gingee/private/events"), headers=server.auth)
    assert reply.status_code == 200
    assert reply.headers["content-type"].startswith("text/event-stream")
    assert reply.text == 'data: {"n":1}\n\n'


def test_admin_api_lists_apps(server, http):
    apps = {a["name"]: a for a in http.get(server.url("gingee/api/apps"), headers=server.auth).json()}
    assert set(apps) == {"private", "pub", "trusted", "pubopt", "broken"}
    assert apps["private"] == {
        "name": "private",
        "source": "disk",
        "status": "serving",
        "error": None,
        "public": False,
        "sandbox": True,
        "warning": None,
        "shadows_disk": False,
        "url": "/user/test/gingee/private/",
    }
    assert apps["broken"]["status"] == "error" and "app.json" in apps["broken"]["error"]
    assert apps["pub"]["public"] is True and apps["trusted"]["sandbox"] is False
    assert apps["pubopt"]["sandbox"] is True and "public" in apps["pubopt"]["warning"]


def test_admin_api_reload(server, http):
    (server.root / "web/later/box").mkdir(parents=True)
    (server.root / "web/later/box/app.json").write_text('{"name": "later"}')
    (server.root / "web/later/box/hi.py").write_text("async def handle(g):\n    g.response.send('hi')\n")
    reloaded = http.post(server.url("gingee/api/apps/later/reload"), headers=server.auth)
    assert reloaded.status_code == 200
    assert reloaded.json()["status"] == "serving"
    assert http.get(server.url("gingee/later/hi"), headers=server.auth).text == "hi"
    missing = http.post(server.url("gingee/api/apps/nope/reload"), headers=server.auth)
    assert missing.status_code == 404 and missing.json()["error"] == "APP_NOT_FOUND"
    assert http.post(server.url("gingee/api/apps/later/reload")).status_code == 403
    with login(server) as browser:
        assert browser.post(server.url("gingee/api/apps/later/reload")).status_code == 403
        xsrf = {"X-XSRFToken": browser.cookies["_xsrf"]}
        assert browser.post(server.url("gingee/api/apps/later/reload"), headers=xsrf).status_code == 200


def test_gingee_js_is_served_to_anyone(server, http):
    script = http.get(server.url("gingee/static/gingee.js"))
    assert script.status_code == 200
    assert "javascript" in script.headers["content-type"]
    assert script.headers["access-control-allow-origin"] == "*"
    for name in ("url", "fetch", "websocket", "X-XSRFToken"):
        assert name in script.text
    assert http.get(server.url("gingee/static/nope.js")).status_code == 404


def test_metrics_behind_login(server, http):
    http.get(server.url("gingee/private/items/1"), headers=server.auth)
    scrape = http.get(server.url("gingee/metrics"), headers=server.auth)
    assert scrape.status_code == 200
    assert 'gingee_http_requests_total{app="private"' in scrape.text


def test_app_traffic_is_activity(server, http):
    def last_activity() -> str:
        return str(http.get(server.url("api/status"), headers=server.auth).json()["last_activity"])

    before = last_activity()
    assert httpx.get(server.url("gingee/pub/echo")).status_code == 200  # anonymous: not the user's activity
    assert last_activity() == before
    http.get(server.url("gingee/private/echo"), headers=server.auth)
    assert last_activity() > before
