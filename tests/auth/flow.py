"""Helpers for the login tests: a project whose app logs in with loopback providers, and a browser-less
login (a cookie jar that follows the redirects one by one, so each hop can be checked or tampered with)."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import httpx

CLIENT_ID = "gingee-test-client"
CLIENT_SECRET = "s3cret-for-the-loopback-provider"
ENV = {"OIDC_ID": CLIENT_ID, "OIDC_SECRET": CLIENT_SECRET}

WHOAMI = """
from gingee_kernel.modules import auth

def handle(g):
    return {"user": g.user.to_dict() if g.user else None}
"""
PRIVATE = """
def handle(g):
    return {"secret": "for " + g.user.email}
"""
REQUIRE = """
from gingee_kernel.modules import auth

def handle(g):
    user = auth.require_login(g)
    return {"hello": user.name}
"""


def project_files(
    providers: dict[str, Any], *, server: dict[str, Any] | None = None, egress: bool = True
) -> dict[str, Any]:
    """A project with app `club`: `/whoami` (anyone), `/private` (routes.json login), `/require` (calls
    auth.require_login). Loopback providers pass egress because gingee.json allows 127.0.0.0/8 (unless
    `egress=False`)."""
    gingee = {**({"egress": {"allow_cidrs": ["127.0.0.0/8"]}} if egress else {}), **(server or {})}
    return {
        "gingee.json": gingee,
        "web/club/box/app.json": {"name": "club", "auth": {"providers": providers}},
        "web/club/box/routes.json": {
            "routes": [
                {"path": "/whoami", "script": "whoami.py"},
                {"path": "/private", "script": "private.py", "login": True},
                {"path": "/require", "script": "require.py"},
            ]
        },
        "web/club/box/whoami.py": WHOAMI,
        "web/club/box/private.py": PRIVATE,
        "web/club/box/require.py": REQUIRE,
    }


def oidc_entry(discovery_url: str, **extra: Any) -> dict[str, Any]:
    return {
        "type": "oidc",
        "discovery_url": discovery_url,
        "client_id": "env:OIDC_ID",
        "client_secret": "env:OIDC_SECRET",
        **extra,
    }


def query(url: str) -> dict[str, str]:
    return {k: v[-1] for k, v in parse_qs(urlsplit(url).query).items()}


class Browser:
    """An httpx client with a cookie jar that never follows redirects on its own."""

    def __init__(self) -> None:
        self.http = httpx.AsyncClient(follow_redirects=False, timeout=30, headers={"Accept": "text/html"})

    async def __aenter__(self) -> Browser:
        return self

    async def __aexit__(self, *exc: Any) -> None:
        await self.http.aclose()

    async def get(self, url: str, **kwargs: Any) -> httpx.Response:
        return await self.http.get(url, **kwargs)

    async def start(self, app_url: str, provider: str, next_path: str = "/whoami") -> httpx.Response:
        """Ask the app to log in with `provider`: the provider's authorize redirect."""
        response = await self.get(f"{app_url}/_auth/login/{provider}", params={"next": next_path})
        assert response.status_code == 302, response.text
        return response

    async def authorize(self, authorize_url: str) -> httpx.Response:
        """Visit the provider's authorize URL: its redirect back to the app's callback."""
        response = await self.get(authorize_url)
        assert response.status_code == 302, response.text
        return response

    async def login(
        self,
        app_url: str,
        provider: str,
        next_path: str = "/whoami",
        tamper: Callable[[str], str] | None = None,
    ) -> httpx.Response:
        """The whole login: start, authorize, callback (optionally rewritten by `tamper`); returns the
        callback's answer."""
        start = await self.start(app_url, provider, next_path)
        back = await self.authorize(start.headers["location"])
        callback = back.headers["location"]
        if tamper is not None:
            callback = tamper(callback)
        return await self.get(callback)

    async def whoami(self, app_url: str) -> Any:
        response = await self.get(app_url + "/whoami", headers={"Accept": "application/json"})
        assert response.status_code == 200, response.text
        return response.json()["user"]


def write_env(monkeypatch: Any) -> None:
    for name, value in ENV.items():
        monkeypatch.setenv(name, value)


def dump(path: Path, data: Any) -> None:
    path.write_text(json.dumps(data))
