"""Who may read /metrics: loopback peers by default, the socket peer only (never X-Forwarded-For), an
optional bearer token; metrics off leaves the path to the apps."""

from __future__ import annotations

import httpx
import pytest

from gingee_kernel.errors import ManifestError
from gingee_kernel.metrics.hooks import observe
from gingee_kernel.metrics.http import MetricsAccess

from .helpers import Scrape

TOKEN = "t0k-" + "x" * 28
APP = {"web/a/box/app.json": {"name": "a"}, "web/a/box/ok.py": "def handle(g):\n    g.response.send('ok')\n"}


def project(make_project, metrics: dict | None = None):
    files = dict(APP)
    if metrics is not None:
        files["gingee.json"] = {"metrics": metrics}
    return make_project(files)


@pytest.mark.parametrize("peer", ["127.0.0.1", "::1", "::ffff:127.0.0.1", "::1%lo"])
def test_default_policy_allows_loopback(peer):
    assert MetricsAccess(["127.0.0.1", "::1"], None).allows(peer, None)


@pytest.mark.parametrize(
    "peer", ["10.0.0.5", "192.168.1.20", "8.8.8.8", "::2", "2001:db8::1", "127.0.0.2", ""]
)
def test_default_policy_refuses_other_peers(peer):
    assert not MetricsAccess(["127.0.0.1", "::1"], None).allows(peer, None)


def test_networks_and_empty_list():
    access = MetricsAccess(["10.0.0.0/8", "fd00::/8"], None)
    assert access.allows("10.20.30.40", None)
    assert access.allows("fd12::1", None)
    assert not access.allows("11.0.0.1", None)
    assert MetricsAccess([], None).allows("203.0.113.9", None)


def test_token_policy():
    access = MetricsAccess(["127.0.0.1"], TOKEN)
    assert access.allows("127.0.0.1", f"Bearer {TOKEN}")
    assert access.allows("127.0.0.1", f"bearer {TOKEN}")
    assert not access.allows("127.0.0.1", None)
    assert not access.allows("127.0.0.1", f"Bearer {TOKEN}x")
    assert not access.allows("127.0.0.1", f"Basic {TOKEN}")
    assert not access.allows("10.0.0.1", f"Bearer {TOKEN}")  # the address check still applies


def test_bad_settings_name_the_key():
    with pytest.raises(ManifestError) as info:
        MetricsAccess(["127.0.0.1", "localhost"], None)
    assert "/metrics/allow_from/1" in str(info.value)
    with pytest.raises(ManifestError, match="/metrics/bearer_token"):
        MetricsAccess([], "short")


def test_loopback_scrape_is_allowed(make_project, serve, client):
    server = serve(project(make_project))
    reply = client.get(server.url("/metrics"))
    assert reply.status_code == 200
    assert reply.headers["Content-Type"] == "text/plain; version=0.0.4; charset=utf-8"
    assert Scrape.parse(reply.text).value("gingee_build_info", version="0.1.0") == 1


def test_openmetrics_when_asked(make_project, serve, client):
    server = serve(project(make_project))
    reply = client.get(
        server.url("/metrics"), headers={"Accept": "application/openmetrics-text; version=1.0.0"}
    )
    assert reply.headers["Content-Type"].startswith("application/openmetrics-text")
    assert reply.text.endswith("# EOF\n")


def test_forwarded_headers_are_never_trusted(make_project, serve, client):
    server = serve(project(make_project, {"allow_from": ["203.0.113.7"]}))
    spoofed = {"X-Forwarded-For": "203.0.113.7", "X-Real-Ip": "203.0.113.7", "Forwarded": "for=203.0.113.7"}
    reply = client.get(server.url("/metrics"), headers=spoofed)
    assert reply.status_code == 403
    assert reply.json()["error"] == "FORBIDDEN"
    assert "gingee_" not in reply.text


def test_bearer_token_required_when_configured(make_project, serve, client):
    server = serve(project(make_project, {"bearer_token": TOKEN}))
    assert client.get(server.url("/metrics")).status_code == 403
    wrong = client.get(server.url("/metrics"), headers={"Authorization": "Bearer wrong-token-000000000"})
    assert wrong.status_code == 403 and wrong.json()["error"] == "FORBIDDEN"
    right = client.get(server.url("/metrics"), headers={"Authorization": f"Bearer {TOKEN}"})
    assert right.status_code == 200 and "gingee_build_info" in right.text


def test_token_from_env_secret(make_project, serve, client, monkeypatch):
    monkeypatch.setenv("GINGEE_TEST_METRICS_TOKEN", TOKEN)
    server = serve(project(make_project, {"bearer_token": "env:GINGEE_TEST_METRICS_TOKEN"}))
    assert client.get(server.url("/metrics"), headers={"Authorization": f"Bearer {TOKEN}"}).status_code == 200


def test_metrics_off_leaves_the_path_to_the_apps(make_project, serve, client):
    server = serve(project(make_project, {"enabled": False}))
    reply = client.get(server.url("/metrics"))
    assert reply.status_code == 404
    assert reply.json()["error"] == "APP_NOT_FOUND"
    assert observe not in server.server.engine.observers  # and nothing is recorded


def test_custom_path(make_project, serve, client):
    server = serve(project(make_project, {"path": "/_ops/metrics"}))
    assert "gingee_build_info" in client.get(server.url("/_ops/metrics")).text
    assert client.get(server.url("/metrics")).json()["error"] == "APP_NOT_FOUND"


def test_only_get(make_project, serve, client):
    server = serve(project(make_project))
    assert client.post(server.url("/metrics")).status_code == 405


def test_the_socket_peer_decides(make_project, serve, client):
    # Linux answers from any 127/8 address: 127.0.0.2 is a peer other than 127.0.0.1 on a real socket.
    server = serve(project(make_project, {"allow_from": ["127.0.0.2"]}))
    assert client.get(server.url("/metrics")).status_code == 403
    transport = httpx.HTTPTransport(local_address="127.0.0.2")
    with httpx.Client(transport=transport, timeout=30) as other:
        assert other.get(server.url("/metrics")).status_code == 200


def test_gingee_serve_refuses_a_bad_allow_from(make_project, capsys):
    from gingee_kernel.cli import main

    assert main(["serve", str(project(make_project, {"allow_from": ["10.0.0.0/33"]})), "--port", "0"]) == 2
    assert "gingee.json: at /metrics/allow_from/0: an IP address or network" in capsys.readouterr().err
