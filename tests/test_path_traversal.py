"""Path-traversal corpus: raw request targets that must all answer 403/404 and leak nothing.

Every variant is sent over a raw socket (HTTP clients would normalise dot segments) to a real
`gingee serve` of a project holding two apps whose names share a prefix (`app1`, `app10`), secrets
outside `web/`, inside `web/app1/box/` and inside `web/app10/`, and symlinks in `web/app1/` that point
out of the app. Each variant runs against a production and a dev-mode server.
"""

from __future__ import annotations

import json
import os
import re
import socket
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.fixtures.servers import RunningServer, write_files

OUTSIDE_MARKER = "OUTSIDE-SECRET-7f3a9c1e"
BOX_MARKER = "BOX-SECRET-4b8d2e6a"
MANIFEST_MARKER = "MANIFEST-SECRET-91c0d5f2"
SCRIPT_SOURCE_MARKER = "SCRIPT-SOURCE-SECRET-2a7e4c90"
APP10_MARKER = "APP10-SECRET-c3e81b57"
ESCAPED_SCRIPT_MARKER = "ESCAPED-SCRIPT-RAN-5d09f7b3"
PASSWD_MARKER = "root:x:0:0:"

MARKERS = (
    OUTSIDE_MARKER,
    BOX_MARKER,
    MANIFEST_MARKER,
    SCRIPT_SOURCE_MARKER,
    APP10_MARKER,
    ESCAPED_SCRIPT_MARKER,
    PASSWD_MARKER,
)

INDEX_HTML = "<!doctype html><title>app1</title><p>app1 public index</p>\n"
PUBLIC_TXT = "app1 public text\n"
PAGE_TXT = "app1 nested page\n"

LONG_CHAIN = "../" * 64
LONG_ENCODED_CHAIN = "%2e%2e%2f" * 64

# (test id, raw request target). Every one must answer 403 or 404 without a marker in the response.
VARIANTS: list[tuple[str, str]] = [
    # Plain dot segments.
    ("dotdot-outside", "/app1/../secret.txt"),
    ("dotdot2-outside", "/app1/../../secret.txt"),
    ("dotdot-as-app-name", "/../secret.txt"),
    ("dotdot-deep", "/app1/sub/../../../secret.txt"),
    ("dotdot-trailing", "/app1/sub/.."),
    ("dot-box", "/app1/./box/app.json"),
    ("double-slash-box", "/app1//box/app.json"),
    ("x-dotdot-box", "/app1/x/../box/app.json"),
    ("file-dotdot-box", "/app1/index.html/../box/app.json"),
    ("dot-as-app-name", "/./app1/box/app.json"),
    ("lone-dot", "/app1/."),
    ("lone-pct2e", "/app1/%2e"),
    ("lone-dotdot-slash", "/app1/../"),
    # Percent-encoded dots.
    ("pct2e2e-lower", "/app1/%2e%2e/%2e%2e/secret.txt"),
    ("pct2E2e-mixed", "/app1/%2E%2e/%2e%2E/secret.txt"),
    ("dot-pct2e", "/app1/.%2e/.%2e/secret.txt"),
    ("pct2e-dot", "/app1/%2e./%2e./secret.txt"),
    ("pct2e2e-app-name", "/%2e%2e/secret.txt"),
    # Encoded slashes.
    ("dotdot-pct2f", "/app1/..%2f..%2fsecret.txt"),
    ("dotdot-pct2F", "/app1/..%2F..%2Fsecret.txt"),
    ("pct2e2e2f", "/app1/%2e%2e%2f%2e%2e%2fsecret.txt"),
    ("pct2f-in-app-name", "/app1%2fbox%2fapp.json"),
    ("pct2f-into-box", "/app1/x%2f..%2fbox%2fapp.json"),
    ("pct2f-box-prefix", "/app1/box%2fapp.json"),
    # Double encoding (decoded once only, so these are literal, missing names).
    ("double-encoded", "/app1/%252e%252e%252f%252e%252e%252fsecret.txt"),
    ("double-encoded-segments", "/app1/%252e%252e/%252e%252e/secret.txt"),
    ("double-encoded-box", "/app1/%2562ox/app.json"),
    ("nested-percent", "/app1/%%32%65%%32%65/%%32%65%%32%65/secret.txt"),
    # Backslashes.
    ("backslash-raw", "/app1/..\\..\\secret.txt"),
    ("backslash-raw-box", "/app1/box\\app.json"),
    ("backslash-dotdot-app", "/app1\\..\\app10\\secret.txt"),
    ("pct5c", "/app1/..%5c..%5csecret.txt"),
    ("pct5C", "/app1/..%5C..%5Csecret.txt"),
    ("pct5c-box", "/app1/x%5c..%5cbox%5capp.json"),
    ("double-encoded-backslash", "/app1/..%255c..%255csecret.txt"),
    ("unc-path", "/app1/\\\\127.0.0.1\\c$\\secret.txt"),
    # NUL bytes.
    ("nul-box", "/app1/box%00/app.json"),
    ("nul-ext-symlink", "/app1/outside.txt%00.html"),
    ("nul-ext-box", "/app1/box/secret.txt%00.html"),
    ("nul-ext-public", "/app1/index.html%00.txt"),
    ("nul-dotdot", "/app1/..%00/secret.txt"),
    # Overlong and alternative UTF-8 encodings.
    ("overlong-dot-2byte", "/app1/%c0%ae%c0%ae/%c0%ae%c0%ae/secret.txt"),
    ("overlong-slash", "/app1/..%c0%af..%c0%afsecret.txt"),
    ("overlong-dot-3byte", "/app1/%e0%80%ae%e0%80%ae/%e0%80%ae%e0%80%ae/secret.txt"),
    ("overlong-backslash", "/app1/..%c1%9c..%c1%9csecret.txt"),
    ("overlong-box-b", "/app1/%c1%a2ox/app.json"),
    ("fullwidth-dots", "/app1/%ef%bc%8e%ef%bc%8e/%ef%bc%8e%ef%bc%8e/secret.txt"),
    ("fullwidth-dots-solidus", "/app1/%ef%bc%8e%ef%bc%8e%ef%bc%8f%ef%bc%8e%ef%bc%8e%ef%bc%8fsecret.txt"),
    ("fullwidth-dots-raw-utf8", "/app1/\uff0e\uff0e/\uff0e\uff0e/secret.txt"),
    ("two-dot-leader", "/app1/%e2%80%a5/%e2%80%a5/secret.txt"),
    ("iis-u-encoding", "/app1/%u002e%u002e/%u002e%u002e/secret.txt"),
    ("division-slash", "/app1/..%e2%88%95..%e2%88%95secret.txt"),
    # The box itself.
    ("box-manifest", "/app1/box/app.json"),
    ("box-secret", "/app1/box/secret.txt"),
    ("box-script-source", "/app1/box/hello.py"),
    ("box-dir", "/app1/box/"),
    ("box-dir-no-slash", "/app1/box"),
    ("box-upper", "/app1/BOX/app.json"),
    ("box-capitalised", "/app1/Box/secret.txt"),
    ("box-encoded-b", "/app1/%62ox/app.json"),
    ("box-fully-encoded", "/app1/%62%6f%78/%61%70%70.json"),
    ("box-trailing-dot", "/app1/box./app.json"),
    ("box-trailing-space", "/app1/box%20/app.json"),
    ("app10-box-manifest", "/app10/box/app.json"),
    # Symlinks in web/app1/ that point out of the app (or into its box).
    ("symlink-outside-file", "/app1/outside.txt"),
    ("symlink-box-file", "/app1/boxfile.txt"),
    ("symlink-box-dir-manifest", "/app1/boxlink/app.json"),
    ("symlink-box-dir-secret", "/app1/boxlink/secret.txt"),
    ("symlink-box-dir-script", "/app1/boxlink/hello"),
    ("symlink-app10-dir", "/app1/app10link/secret.txt"),
    ("symlink-web-root", "/app1/weblink/app10/secret.txt"),
    ("symlink-web-root-box", "/app1/weblink/app1/box/app.json"),
    ("symlink-project", "/app1/projectlink/secret.txt"),
    ("symlink-etc-dir", "/app1/etclink/passwd"),
    ("symlink-etc-passwd", "/app1/passwd.txt"),
    ("symlink-box-script-escapes", "/app1/run"),
    # Crossing between the sibling-prefix apps.
    ("app1-to-app10", "/app1/../app10/secret.txt"),
    ("app1-to-app10-encoded", "/app1/%2e%2e/app10/secret.txt"),
    ("app1-to-app10-pct2f", "/app1/..%2fapp10%2fsecret.txt"),
    ("app10-to-app1-box", "/app10/../app1/box/app.json"),
    ("app10-to-app1-box-encoded", "/app10/%2e%2e/app1/box/secret.txt"),
    ("sibling-prefix-symlink", "/app1/app10link/index.html"),
    ("sibling-prefix-symlink-dir-index", "/app1/app10link/"),
    ("sibling-prefix-symlink-dir", "/app1/app10link"),
    ("symlink-trailing-slash", "/app1/outside.txt/"),
    # Absolute-ish targets.
    ("double-slash-etc", "//etc/passwd"),
    ("triple-slash-etc", "///etc/passwd"),
    ("app-double-slash-etc", "/app1//etc/passwd"),
    ("absolute-uri-form", "http://127.0.0.1/app1/../../secret.txt"),
    ("windows-drive", "/app1/C:/Windows/win.ini"),
    ("windows-drive-dotdot", "/app1/C:/../../secret.txt"),
    ("windows-drive-encoded", "/app1/C%3a/secret.txt"),
    ("windows-drive-backslash", "/app1/C:\\secret.txt"),
    # Query strings and parameters.
    ("query-dotdot-missing", "/app1/missing.txt?file=../../secret.txt"),
    ("query-box", "/app1/box/app.json?x=../../"),
    ("query-after-dotdot", "/app1/%2e%2e?/../secret.txt"),
    ("encoded-question", "/app1/..%3f/../secret.txt"),
    ("semicolon-dotdot", "/app1/..;/..;/secret.txt"),
    ("semicolon-box", "/app1/..;/box/app.json"),
    ("semicolon-param-box", "/app1/box;x=1/app.json"),
    ("semicolon-then-dotdot", "/app1/;/../secret.txt"),
    ("fragment-box", "/app1/box/app.json#x"),
    ("fragment-ext-symlink", "/app1/outside.txt#.html"),
    ("encoded-app-name", "/%61pp1/box/app.json"),
    # Long chains.
    ("long-chain", f"/app1/{LONG_CHAIN}secret.txt"),
    ("long-chain-etc", f"/app1/{LONG_CHAIN}etc/passwd"),
    ("long-encoded-chain-etc", f"/app1/{LONG_ENCODED_CHAIN}etc/passwd"),
    ("long-chain-mixed", "/app1/" + "..%2f.%2e/%2e./" * 20 + "secret.txt"),
    # Windows-isms that are just missing names on POSIX.
    ("dotdot-space", "/app1/..%20/secret.txt"),
    ("triple-dot", "/app1/.../secret.txt"),
]


@dataclass(frozen=True)
class RawResponse:
    """Status line code and the whole raw response (headers and body)."""

    status: int
    raw: bytes

    @property
    def body(self) -> bytes:
        return self.raw.partition(b"\r\n\r\n")[2]


def raw_get(
    port: int, target: str, method: str = "GET", headers: str = "Connection: close\r\n"
) -> RawResponse:
    """Send `<method> <target>` byte for byte (UTF-8 for non-ASCII); read the head and its Content-Length."""
    length = "Content-Length: 0\r\n" if method in ("POST", "PUT", "PATCH") else ""
    request = f"{method} {target} HTTP/1.1\r\nHost: 127.0.0.1\r\n{length}{headers}\r\n".encode()
    raw = b""
    with socket.create_connection(("127.0.0.1", port), timeout=30) as sock:
        sock.sendall(request)
        while True:
            chunk = sock.recv(65536)
            if not chunk:
                break
            raw += chunk
            head, sep, body = raw.partition(b"\r\n\r\n")
            declared = re.search(rb"(?im)^content-length:\s*(\d+)\s*$", head)
            if sep and (method == "HEAD" or (declared and len(body) >= int(declared.group(1)))):
                break
    status_line = raw.split(b"\r\n", 1)[0].decode("latin-1")
    parts = status_line.split(" ")
    assert len(parts) >= 2 and parts[0].startswith("HTTP/1."), f"no HTTP status line: {raw[:200]!r}"
    return RawResponse(int(parts[1]), raw)


def leaked(raw: bytes) -> list[str]:
    """The markers that appear anywhere in a raw response."""
    return [marker for marker in MARKERS if marker.encode() in raw]


def build_project(root: Path) -> Path:
    """Two sibling-prefix apps, secrets in and around them, and escaping symlinks in `web/app1/`."""
    write_files(
        root,
        {
            "gingee.json": {"server": {"host": "127.0.0.1", "port": 0}},
            "secret.txt": f"{OUTSIDE_MARKER}\n",
            "outside.py": f"def handle(g):\n    g.response.send({ESCAPED_SCRIPT_MARKER!r})\n",
            "web/app1/box/app.json": {"name": "app1", "description": MANIFEST_MARKER},
            "web/app1/box/secret.txt": f"{BOX_MARKER}\n",
            "web/app1/box/hello.py": (
                f"# {SCRIPT_SOURCE_MARKER}\n\n\n"
                "async def handle(g):\n    g.response.send({'app': 'app1'})\n"
            ),
            "web/app1/index.html": INDEX_HTML,
            "web/app1/public.txt": PUBLIC_TXT,
            "web/app1/sub/page.txt": PAGE_TXT,
            "web/app10/box/app.json": {"name": "app10"},
            "web/app10/secret.txt": f"{APP10_MARKER}\n",
            "web/app10/index.html": f"<p>{APP10_MARKER}</p>\n",
        },
    )
    app1 = root / "web" / "app1"
    links = {
        "outside.txt": "../../secret.txt",
        "boxfile.txt": "box/secret.txt",
        "boxlink": "box",
        "app10link": "../app10",
        "weblink": "..",
        "projectlink": "../..",
        "etclink": "/etc",
        "passwd.txt": "/etc/passwd",
        "alias.txt": "public.txt",  # stays inside the app: a positive control
    }
    for name, target in links.items():
        os.symlink(target, app1 / name)
    os.symlink("../../../outside.py", app1 / "box" / "run.py")
    return root


@pytest.fixture(scope="module", params=["prod", "dev"])
def server(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[RunningServer]:
    """A real server over the traversal project, once without and once with dev mode."""
    project = build_project(tmp_path_factory.mktemp(f"traversal-{request.param}") / "project")
    running = RunningServer(project, dev=request.param == "dev").start()
    assert sorted(running.project.apps) == ["app1", "app10"], running.project.errors
    try:
        yield running
    finally:
        running.stop()


def test_corpus_is_large_and_unique() -> None:
    ids = [name for name, _ in VARIANTS]
    assert len(ids) >= 40
    assert len(set(ids)) == len(ids)
    assert len({target for _, target in VARIANTS}) == len(VARIANTS)


@pytest.mark.parametrize("target", [t for _, t in VARIANTS], ids=[n for n, _ in VARIANTS])
def test_traversal_is_refused(server: RunningServer, target: str) -> None:
    response = raw_get(server.port, target)
    assert response.status in (403, 404), f"{target!r} answered {response.status}: {response.raw[:300]!r}"
    assert leaked(response.raw) == [], f"{target!r} leaked {leaked(response.raw)}"


@pytest.mark.parametrize("method", ["HEAD", "POST", "PUT", "DELETE", "OPTIONS"])
@pytest.mark.parametrize(
    "target",
    ["/app1/box/app.json", "/app1/%2e%2e/secret.txt", "/app1/outside.txt", "/app1/app10link/secret.txt"],
    ids=["box", "encoded-dotdot", "symlink-outside", "sibling-symlink"],
)
def test_other_methods_are_refused(server: RunningServer, target: str, method: str) -> None:
    response = raw_get(server.port, target, method)
    assert response.status in (403, 404), f"{method} {target!r} answered {response.status}"
    assert leaked(response.raw) == []


WEBSOCKET_HEADERS = (
    "Connection: Upgrade\r\nUpgrade: websocket\r\nSec-WebSocket-Version: 13\r\n"
    "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
)


@pytest.mark.parametrize(
    "target",
    ["/app1/../secret.txt", "/app1/%2e%2e/app10/secret.txt", "/app1/box/app.json", "/app1/outside.txt"],
    ids=["dotdot", "encoded-sibling", "box", "symlink-outside"],
)
def test_websocket_upgrades_are_refused(server: RunningServer, target: str) -> None:
    """Upgrade requests take another route (by header); they must not reach files either."""
    response = raw_get(server.port, target, headers=WEBSOCKET_HEADERS)
    assert response.status in (403, 404), f"upgrade {target!r} answered {response.status}"
    assert leaked(response.raw) == []


@pytest.mark.parametrize(
    ("target", "body"),
    [
        ("/app1/index.html", INDEX_HTML),
        ("/app1/", INDEX_HTML),
        ("/app1/public.txt", PUBLIC_TXT),
        ("/app1/%70ublic.txt", PUBLIC_TXT),
        ("/app1/sub/page.txt", PAGE_TXT),
        ("/app1/alias.txt", PUBLIC_TXT),
        ("/app1/index.html?file=../../secret.txt", INDEX_HTML),
    ],
    ids=["index", "dir-index", "public", "encoded-p", "nested", "inner-symlink", "query-ignored"],
)
def test_public_files_are_served(server: RunningServer, target: str, body: str) -> None:
    response = raw_get(server.port, target)
    assert response.status == 200, response.raw[:300]
    assert response.body == body.encode()
    assert leaked(response.raw) == []


def test_box_script_runs_by_file_routing(server: RunningServer) -> None:
    response = raw_get(server.port, "/app1/hello")
    assert response.status == 200, response.raw[:300]
    assert json.loads(response.body) == {"app": "app1"}
    assert leaked(response.raw) == []


def test_markers_would_be_detected(server: RunningServer) -> None:
    """app10's own public file carries its marker, so a leak through app1 could not go unnoticed."""
    response = raw_get(server.port, "/app10/secret.txt")
    assert response.status == 200
    assert leaked(response.raw) == [APP10_MARKER]


def test_passwd_marker_is_meaningful() -> None:
    """The /etc symlink variants only prove something if /etc/passwd holds the marker."""
    passwd = Path("/etc/passwd")
    if not passwd.is_file() or PASSWD_MARKER not in passwd.read_text(errors="replace"):
        pytest.skip("/etc/passwd has no root entry to look for")
    assert leaked(passwd.read_bytes()) == [PASSWD_MARKER]
