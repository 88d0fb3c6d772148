"""The extension's small parts on their own: the safety policy, header filtering, the live index."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest
from gingee_server import _jupyter_server_extension_points
from gingee_server.application import GingeeExtension
from gingee_server.policy import (
    DEFAULT_SANDBOX,
    AppPolicy,
    SafetyPolicy,
    is_document,
    preflight_headers,
    strip_credentials,
)
from gingee_server.proxy import LiveProxy, forward_headers, response_headers
from gingee_server.registry import LiveIndex
from tornado.httputil import HTTPHeaders

from gingee_kernel import live


def test_extension_point_and_config_file():
    assert _jupyter_server_extension_points() == [
        {"module": "gingee_server.application", "app": GingeeExtension}
    ]
    assert GingeeExtension.name == "gingee"
    config = os.path.join(os.path.dirname(__file__), "../../jupyter-config/jupyter_server_config.d")
    with open(os.path.join(config, "gingee_server.json")) as handle:
        assert json.load(handle) == {"ServerApp": {"jpserver_extensions": {"gingee_server": True}}}


def test_sandbox_policy_is_validated():
    assert SafetyPolicy().csp == DEFAULT_SANDBOX
    assert SafetyPolicy("sandbox  allow-scripts").csp == "sandbox allow-scripts"
    with pytest.raises(ValueError, match="allow-same-origin"):
        SafetyPolicy("sandbox allow-scripts allow-same-origin")
    with pytest.raises(ValueError, match="sandbox"):
        SafetyPolicy("default-src 'self'")
    with pytest.raises(ValueError, match="always sandboxed"):
        AppPolicy(public=True, sandbox=False)
    with pytest.raises(ValueError):
        LiveProxy(connect_timeout=0)


def test_opt_out_only_for_apps_behind_login():
    policy = SafetyPolicy()
    assert policy.for_app("a", False, {"sandbox": False}) == AppPolicy(public=False, sandbox=False)
    assert policy.for_app("a", False, None) == AppPolicy(public=False, sandbox=True)
    refused = policy.for_app("a", True, {"sandbox": False})
    assert refused.public and refused.sandbox and "public" in (refused.warning or "")
    public = AppPolicy(public=True)
    assert policy.response_headers(public, "text/html; charset=utf-8") == [
        ("Content-Security-Policy", DEFAULT_SANDBOX),
        ("Access-Control-Allow-Origin", "*"),
    ]
    assert policy.response_headers(AppPolicy(public=False, sandbox=False), "text/html") == []
    assert policy.response_headers(AppPolicy(public=False), "application/json") == []


@pytest.mark.parametrize(
    ("content_type", "document"),
    [
        ("text/html; charset=utf-8", True),
        ("TEXT/HTML", True),
        ("application/xhtml+xml", True),
        ("image/svg+xml", True),
        ("application/atom+xml", True),
        ("text/xml", True),
        (None, True),
        ("application/json", False),
        ("text/plain", False),
        ("application/pdf", False),
        ("text/event-stream", False),
    ],
)
def test_documents_are_what_a_browser_may_render_with_script(content_type, document):
    assert is_document(content_type) is document


def test_strip_credentials():
    headers = HTTPHeaders()
    headers.add("Authorization", "token abc")
    headers.add("Cookie", "_xsrf=1; theme=dark; username-host=x")
    headers.add("Cookie", "jupyterhub-user-ada=y; lang=en")
    headers.add("Accept", "*/*")
    strip_credentials(headers, "username-host")
    assert "Authorization" not in headers
    assert headers.get_list("Cookie") == ["theme=dark; lang=en"]
    assert headers["Accept"] == "*/*"
    only_jupyter = HTTPHeaders({"Cookie": "_xsrf=1"})
    strip_credentials(only_jupyter, "username-host")
    assert "Cookie" not in only_jupyter


def test_preflight_answers_any_origin_without_credentials():
    lines = dict(preflight_headers({"Access-Control-Request-Headers": "Content-Type, X-Ok, bad header;x"}))
    assert lines["Access-Control-Allow-Origin"] == "*"
    assert lines["Access-Control-Allow-Headers"] == "Content-Type, X-Ok"
    assert "Access-Control-Allow-Credentials" not in lines


def test_hop_by_hop_headers_are_not_forwarded():
    sent = forward_headers(
        [
            ("Host", "h"),
            ("Connection", "keep-alive, X-Private"),
            ("X-Private", "1"),
            ("Keep-Alive", "timeout=5"),
            ("Transfer-Encoding", "chunked"),
            ("Content-Length", "3"),
            ("X-Gingee-Live-Secret", "forged"),
            ("X-Gingee-Prefix", "/evil/"),
            ("Cookie", "a=b"),
        ]
    )
    assert sent == [("Host", "h"), ("Cookie", "a=b")]
    reply = [("Connection", "close"), ("Upgrade", "h2"), ("Set-Cookie", "a=1"), ("Set-Cookie", "b=2")]
    assert response_headers(reply) == [("Set-Cookie", "a=1"), ("Set-Cookie", "b=2")]


def test_live_index_reads_registrations_and_drops_stale_ones(tmp_path, monkeypatch):
    index = LiveIndex(tmp_path / "runtime")
    assert index.all() == {}  # no runtime dir yet
    registration = live.Registration(app="todo", port=1234, pid=os.getpid(), secret="s")
    live.write(registration, index.directory)
    assert index.get("todo") == live.Registration(
        **{**registration.__dict__, "created": index.get("todo").created}
    )
    finished = subprocess.Popen([sys.executable, "-c", "pass"])
    finished.wait()
    dead = live.write(live.Registration(app="gone", port=1, pid=finished.pid, secret="s"), index.directory)
    assert index.get("gone") is None
    assert not dead.exists()
    index.drop(index.get("todo"))
    assert index.get("todo") is None and not (index.directory / registration.filename).exists()


def test_live_index_rereads_only_when_the_directory_changes(tmp_path, monkeypatch):
    index = LiveIndex(tmp_path)
    path = live.write(live.Registration(app="a", port=1, pid=os.getpid(), secret="s"), tmp_path)
    monkeypatch.setattr("gingee_server.registry.time.time", lambda: os.stat(tmp_path).st_mtime + 10)
    assert index.get("a").port == 1
    # Rewriting the file in place leaves the directory untouched: the cached registration stands.
    path.write_text(path.read_text().replace('"port": 1,', '"port": 2,'))
    assert index.get("a").port == 1
    # A new registration changes the directory: everything is read again.
    live.write(live.Registration(app="b", port=3, pid=os.getpid(), secret="s"), tmp_path)
    monkeypatch.setattr("gingee_server.registry.time.time", lambda: os.stat(tmp_path).st_mtime + 10)
    assert index.get("a").port == 2 and index.get("b").port == 3
