"""The hostile corpus (test_corpus.py) against the Jupyter extension's handlers on a real Jupyter server
behind a base URL: the admin API, the queue API, metrics, the static files, an app behind the login and a
public app. Each request gets a clear answer (4xx JSON `{error, reason}` from Gingee's handlers, Jupyter's
own JSON or login redirect from Jupyter's gate), never a 5xx or a traceback, and the server keeps serving."""

from __future__ import annotations

import httpx
import pytest

from tests.fixtures.jupyter import start_jupyter
from tests.hostile.test_corpus import BODIES, FILES, METHODS

APP_FILES = {
    **{k: v for k, v in FILES.items() if k != "gingee.json"},
    "web/pub/box/app.json": {"name": "pub", "public": True},
    "web/pub/box/echo.py": "async def handle(g):\n    return {'body': repr(g.request.body)[:50]}\n",
}
TARGETS = [
    "gingee/api/apps",
    "gingee/api/apps/shop/reload",
    "gingee/api/apps/%F0%9F%92%A5/reload",
    "gingee/api/apps/..%2F..%2Fetc",
    "gingee/api/nothing",
    "gingee/api/queue",
    "gingee/api/queue/shop/jobs",
    "gingee/api/queue/shop/jobs/%00",
    "gingee/metrics",
    "gingee/static/gingee.js",
    "gingee/static/..%2F..%2Fsetup.py",
    "gingee/shop/_gingee/openapi.json",
    "gingee/shop/_gingee/docs",
    "gingee/shop/items",
    "gingee/shop/items/%E2%82%AC",
    "gingee/shop/%ZZ",
    "gingee/pub/echo",
    "gingee/pub/caf%C3%A9/%00",
    "gingee/nope/x",
]


@pytest.fixture(scope="module")
def jupyter_server(tmp_path_factory):
    from tests.fixtures.servers import write_files

    base = tmp_path_factory.mktemp("hostile-jupyter")
    root = write_files(base / "project", APP_FILES)
    server = start_jupyter(root, base / "home", base_url="/user/attendee/")
    yield server
    server.stop()


def _clear(reply: httpx.Response, what: str) -> None:
    assert reply.status_code < 500, f"{what}: {reply.status_code} {reply.text[:300]}"
    assert "Traceback" not in reply.text and 'File "/' not in reply.text, (what, reply.text[:300])
    if reply.status_code >= 400 and reply.content:
        kind = reply.headers.get("Content-Type", "")
        assert kind.startswith("application/json"), (what, reply.status_code, kind, reply.text[:200])
        body = reply.json()
        if isinstance(body.get("error"), str):  # Gingee's own answer
            assert body.get("reason"), (what, body)
        else:  # Jupyter's gate (APIHandler): {"message": ..., "reason": ...}
            assert body.get("message"), (what, body)


@pytest.mark.parametrize("signed_in", [True, False], ids=["token", "anonymous"])
def test_the_jupyter_handlers_answer_every_method_and_body_clearly(jupyter_server, signed_in) -> None:
    headers = jupyter_server.auth if signed_in else {}  # keep-alive: see test_corpus.py
    with httpx.Client(timeout=15, headers=headers) as client:
        for target in TARGETS:
            url = jupyter_server.url(target)
            for method in METHODS:
                _clear(client.request(method, url), f"{method} {target}")
            for content_type, body in BODIES:
                reply = client.post(url, content=body, headers={"Content-Type": content_type})
                _clear(reply, f"POST {target} {content_type} {body[:20]!r}")
        odd = {"X-Name": "café".encode(), "Cookie": b"a=\x7f; b\xff"}
        _clear(client.get(jupyter_server.url("gingee/pub/echo"), headers=odd), "unicode headers")
        still = client.get(jupyter_server.url("gingee/pub/echo"))
        assert still.status_code == 200 and "body" in still.json()
        if not signed_in:  # and nothing behind the login answered an anonymous client
            assert client.get(jupyter_server.url("gingee/api/apps")).status_code == 403
            page = client.get(jupyter_server.url("gingee/shop/items/1"))
            assert page.status_code == 302 and "/login" in page.headers["Location"]
