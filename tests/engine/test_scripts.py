"""Server scripts and `g`: body parsing, responses, cookies, redirects, SSE, middleware, reload."""

from __future__ import annotations

import logging
import os
import time

import pytest

REQUEST_ECHO = """
async def handle(g):
    r = g.request
    files = {k: {"filename": f.filename, "type": f.content_type, "size": f.size, "text": f.data.decode()}
             for k, f in r.files.items()}
    body = r.body.decode() if isinstance(r.body, bytes) else r.body
    g.response.send({"method": r.method, "path": r.path, "body": body, "files": files,
                     "cookies": r.cookies, "header": r.headers.get("X-Test")})
"""

RESPONSES = """
import asyncio

async def text(g):
    g.response.send("héllo")

async def raw(g):
    g.response.send(b"\\x00\\x01", content_type="image/png")

async def status(g):
    g.response.headers["X-Custom"] = "yes"
    g.response.send({"created": True}, status=201)

async def cookie(g):
    g.response.set_cookie("sid", "abc", max_age=60, secure=True, samesite="Strict")
    g.response.set_cookie("theme", "dark", httponly=False)
    g.response.send("ok")

async def redirect(g):
    g.response.redirect("/elsewhere", status=303)

async def returned(g):
    return {"returned": True}

async def nothing(g):
    pass

async def twice(g):
    g.response.send("first")
    g.response.send("second")

async def crash(g):
    raise ValueError("secret internal detail")

async def refused(g):
    from gingee_kernel import HttpError
    raise HttpError(409, "TAKEN", "that name is taken", log_message="row 7 held by job 12")

async def caused(g):
    from gingee_kernel import HttpError
    try:
        int("seven")
    except ValueError as exc:
        raise HttpError(422, "NOT_A_NUMBER", "give a number") from exc

async def logged(g):
    g.log.info("order %s placed", g.request.query["id"])
    g.log.warning("stock low for %s", "tea")
    g.response.send("logged")

def blocking(g):
    import time
    time.sleep(0.05)
    g.response.send({"sync": True})

async def sse(g):
    await g.response.stream()
    for i in range(3):
        await g.response.write_sse({"n": i}, event="tick")
        await asyncio.sleep(0.01)
    await g.response.end()
"""


@pytest.fixture
def server(make_project, serve):
    routes = [
        {"path": f"/r/{name}", "method": "ALL", "script": "responses.py", "handler": name}
        for name in (
            "text",
            "raw",
            "status",
            "cookie",
            "redirect",
            "returned",
            "nothing",
            "twice",
            "crash",
            "refused",
            "caused",
            "logged",
            "blocking",
            "sse",
        )
    ]
    project = make_project(
        {
            "web/s/box/app.json": {"name": "s"},
            "web/s/box/routes.json": {"routes": routes},
            "web/s/box/echo.py": REQUEST_ECHO,
            "web/s/box/responses.py": RESPONSES,
        }
    )
    return serve(project)


def test_json_body(server, client):
    reply = client.post(server.url("/s/echo"), json={"a": [1, 2]}, headers={"X-Test": "t"})
    assert reply.json()["body"] == {"a": [1, 2]}
    assert reply.json()["header"] == "t"
    assert reply.json()["path"] == "/s/echo"


def test_json_with_charset_and_vendor_type(server, client):
    reply = client.post(
        server.url("/s/echo"),
        content=b'{"x": 1}',
        headers={"Content-Type": "application/vnd.api+json; charset=utf-8"},
    )
    assert reply.json()["body"] == {"x": 1}


def test_invalid_json_is_400_with_reason(server, client):
    reply = client.post(
        server.url("/s/echo"), content=b'{"x": ', headers={"Content-Type": "application/json"}
    )
    assert reply.status_code == 400
    assert reply.json()["error"] == "INVALID_JSON"
    assert "not valid JSON" in reply.json()["reason"]


def test_form_body(server, client):
    reply = client.post(server.url("/s/echo"), data={"name": "Ada", "tags": ["a", "b"]})
    assert reply.json()["body"] == {"name": "Ada", "tags": ["a", "b"]}


def test_multipart_with_files(server, client):
    reply = client.post(
        server.url("/s/echo"),
        data={"title": "doc"},
        files={"upload": ("notes.txt", b"hello file", "text/plain")},
    )
    data = reply.json()
    assert data["body"] == {"title": "doc"}
    assert data["files"] == {
        "upload": {"filename": "notes.txt", "type": "text/plain", "size": 10, "text": "hello file"}
    }


def test_raw_body_and_no_body(server, client):
    assert (
        client.post(server.url("/s/echo"), content=b"plain", headers={"Content-Type": "text/plain"}).json()[
            "body"
        ]
        == "plain"
    )
    assert client.get(server.url("/s/echo")).json()["body"] is None


def test_cookies_in(server, client):
    reply = client.get(server.url("/s/echo"), headers={"Cookie": "a=1; b=two"})
    assert reply.json()["cookies"] == {"a": "1", "b": "two"}


def test_text_bytes_status_headers(server, client):
    text = client.get(server.url("/s/r/text"))
    assert text.text == "héllo" and text.headers["content-type"] == "text/plain; charset=utf-8"
    raw = client.get(server.url("/s/r/raw"))
    assert raw.content == b"\x00\x01" and raw.headers["content-type"] == "image/png"
    status = client.get(server.url("/s/r/status"))
    assert status.status_code == 201 and status.headers["X-Custom"] == "yes"


def test_cookies_out_with_attributes(server, client):
    cookies = client.get(server.url("/s/r/cookie")).headers.get_list("set-cookie")
    sid = next(c for c in cookies if c.startswith("sid="))
    theme = next(c for c in cookies if c.startswith("theme="))
    for part in ("Max-Age=60", "Secure", "HttpOnly", "SameSite=Strict", "Path=/"):
        assert part in sid
    assert "HttpOnly" not in theme


def test_redirect(server, client):
    reply = client.get(server.url("/s/r/redirect"))
    assert reply.status_code == 303 and reply.headers["Location"] == "/elsewhere"


def test_returned_value_is_sent_and_nothing_is_204(server, client):
    assert client.get(server.url("/s/r/returned")).json() == {"returned": True}
    assert client.get(server.url("/s/r/nothing")).status_code == 204


def test_second_send_is_logged_not_crashing(server, client, caplog):
    reply = client.get(server.url("/s/r/twice"))
    assert reply.text == "first"
    assert any("second send() was ignored" in r.getMessage() for r in caplog.records)


def test_script_error_is_json_500_without_traceback(server, client, caplog):
    reply = client.get(server.url("/s/r/crash"))
    assert reply.status_code == 500
    assert reply.json()["error"] == "INTERNAL_SERVER_ERROR"
    assert "secret internal detail" not in reply.text and "Traceback" not in reply.text
    assert any("secret internal detail" in (r.exc_text or "") for r in caplog.records)


def test_an_http_errors_log_message_goes_to_the_log_and_never_to_the_client(server, client, caplog):
    reply = client.get(server.url("/s/r/refused"))
    assert (reply.status_code, reply.json()) == (409, {"error": "TAKEN", "reason": "that name is taken"})
    assert "row 7" not in reply.text
    assert any(
        "409 TAKEN: row 7 held by job 12" in r.getMessage() and "/s/r/refused" in r.getMessage()
        for r in caplog.records
    )


def test_the_error_behind_an_http_error_is_logged_for_the_operator(server, client, caplog):
    caplog.set_level(logging.INFO, logger="gingee.engine")
    reply = client.get(server.url("/s/r/caused"))
    assert reply.json() == {"error": "NOT_A_NUMBER", "reason": "give a number"} and "seven" not in reply.text
    assert any("422 NOT_A_NUMBER, from ValueError" in r.getMessage() and "seven" in r.getMessage()
               for r in caplog.records)  # fmt: skip


def test_g_log_writes_to_the_apps_own_logger(server, client, caplog):
    caplog.set_level(logging.INFO, logger="gingee.app.s")
    assert client.get(server.url("/s/r/logged?id=42")).text == "logged"
    app_records = [r for r in caplog.records if r.name.startswith("gingee.app")]
    assert [(r.name, r.levelname, r.getMessage()) for r in app_records] == [
        ("gingee.app.s", "INFO", "order 42 placed"),
        ("gingee.app.s", "WARNING", "stock low for tea"),
    ]


def test_sync_handler_runs_in_thread_pool(server, client):
    assert client.get(server.url("/s/r/blocking")).json() == {"sync": True}


def test_server_sent_events(server, client):
    with client.stream("GET", server.url("/s/r/sse")) as reply:
        assert reply.headers["content-type"].startswith("text/event-stream")
        body = b"".join(reply.iter_bytes()).decode()
    events = [block for block in body.split("\n\n") if block]
    assert events == [f'event: tick\ndata: {{"n":{i}}}' for i in range(3)]


MIDDLEWARE = {
    "web/m/box/app.json": {"name": "m", "default_include": ["auth.py"]},
    "web/m/box/auth.py": (
        "async def handle(g):\n"
        "    if g.request.headers.get('Authorization') != 'Bearer ok':\n"
        "        g.response.send({'error': 'login first'}, status=401)\n"
        "    else:\n"
        "        g.request.params['user'] = 'ada'\n"
    ),
    "web/m/box/me.py": "async def handle(g):\n    g.response.send({'user': g.request.params.get('user')})\n",
    "web/m/page.html": "static is not behind middleware",
}


def test_default_include_can_end_the_request(make_project, serve, client):
    server = serve(make_project(MIDDLEWARE))
    assert client.get(server.url("/m/me")).status_code == 401
    reply = client.get(server.url("/m/me"), headers={"Authorization": "Bearer ok"})
    assert reply.status_code == 200 and reply.json() == {"user": "ada"}
    assert client.get(server.url("/m/page.html")).status_code == 200
    assert client.get(server.url("/m/auth")).status_code == 404  # middleware is not a URL route


def test_relative_imports_between_box_scripts(make_project, serve, client):
    project = make_project(
        {
            "web/a/box/app.json": {"name": "a"},
            "web/a/box/lib/helpers.py": "def double(x):\n    return 2 * x\n",
            "web/a/box/api/calc.py": "from ..lib.helpers import double\n\n"
            "async def handle(g):\n    g.response.send(double(21))\n",
        }
    )
    server = serve(project)
    assert client.get(server.url("/a/api/calc")).json() == 42


@pytest.mark.parametrize("dev", [False, True], ids=["production_caches_until_reload", "dev_reloads_changed"])
def test_changed_scripts(make_project, serve, client, dev):
    """An edited script runs at once in dev mode; in production only once the app is reloaded."""
    project = make_project(
        {
            "web/a/box/app.json": {"name": "a"},
            "web/a/box/v.py": "async def handle(g):\n    g.response.send(1)\n",
        }
    )
    server = serve(project, dev=dev)
    assert client.get(server.url("/a/v")).json() == 1
    script = project / "web/a/box/v.py"
    script.write_text("async def handle(g):\n    g.response.send(2)\n")
    stat = script.stat()
    os.utime(script, (stat.st_atime, time.time() + 5))  # visibly newer
    if not dev:
        assert client.get(server.url("/a/v")).json() == 1  # production: cached, newer file or not
        server.call(server.project.reload("a"))
    assert client.get(server.url("/a/v")).json() == 2


def test_two_apps_same_script_names_are_separate(make_project, serve, client):
    project = make_project(
        {
            "web/a/box/app.json": {"name": "a"},
            "web/a/box/who.py": "async def handle(g):\n    g.response.send('a')\n",
            "web/b/box/app.json": {"name": "b"},
            "web/b/box/who.py": "async def handle(g):\n    g.response.send('b')\n",
        }
    )
    server = serve(project)
    assert client.get(server.url("/a/who")).text == "a"
    assert client.get(server.url("/b/who")).text == "b"
