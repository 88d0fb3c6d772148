"""Who the client is behind a proxy: X-Forwarded-For is believed only from gingee.json
`server.trusted_proxies`, read right to left past the trusted hops."""

from __future__ import annotations

import pytest
from tornado.httputil import HTTPHeaders

from gingee_kernel.engine.forwarded import TrustedProxies, client_ip

LB = TrustedProxies(["10.0.0.0/8", "127.0.0.1"])


def headers(*lines: str) -> HTTPHeaders:
    result = HTTPHeaders()
    for line in lines:
        result.add("X-Forwarded-For", line)
    return result


@pytest.mark.parametrize(
    ("peer", "lines", "expected"),
    [
        ("10.1.2.3", ["203.0.113.9"], "203.0.113.9"),  # one trusted hop
        ("10.1.2.3", ["203.0.113.9, 10.4.4.4"], "203.0.113.9"),  # two trusted hops
        ("10.1.2.3", ["1.1.1.1, 203.0.113.9"], "203.0.113.9"),  # the client's own claim is not believed
        ("10.1.2.3", ["1.1.1.1", "203.0.113.9"], "203.0.113.9"),  # several header lines are one list
        ("10.1.2.3", ["10.9.9.9, 10.4.4.4"], "10.9.9.9"),  # every hop trusted: the leftmost
        ("10.1.2.3", ["not-an-ip"], "10.1.2.3"),  # garbled: only the socket is believed
        ("10.1.2.3", [], "10.1.2.3"),
        ("198.51.100.7", ["203.0.113.9"], "198.51.100.7"),  # an untrusted peer's header is ignored
    ],
)
def test_client_ip(peer: str, lines: list[str], expected: str) -> None:
    assert client_ip(peer, headers(*lines), LB) == expected


def test_no_trusted_proxies_means_the_socket_peer() -> None:
    assert client_ip("127.0.0.1", headers("203.0.113.9"), TrustedProxies()) == "127.0.0.1"


WHO = "async def handle(g):\n    g.response.send({'ip': g.request.remote_ip})\n"


@pytest.mark.parametrize(("trusted", "expected"), [(["127.0.0.1"], "203.0.113.9"), ([], "127.0.0.1")])
def test_scripts_see_the_client_behind_a_trusted_proxy(make_project, serve, client, trusted, expected):
    files = {
        "gingee.json": {"server": {"trusted_proxies": trusted}},
        "web/a/box/app.json": {"name": "a"},
        "web/a/box/who.py": WHO,
    }
    server = serve(make_project(files))
    answer = client.get(server.url("/a/who"), headers={"X-Forwarded-For": "203.0.113.9"})
    assert answer.json() == {"ip": expected}
