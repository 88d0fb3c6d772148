"""Gingee `httpclient` module: outbound HTTP for apps, through the egress policy (permission "httpclient").

One `httpx.AsyncClient` per app, kept in `app.state["httpclient"]` and closed when the app unloads. Every
request and every redirect hop is checked by `egress.EgressTransport`; a refused URL raises
`EgressDenied`. Timeouts raise `HttpClientTimeout`, other transport failures `HttpClientError`.
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator
from typing import Any

import httpx

from ..engine.app import AppRuntime
from ..engine.context import require
from ..errors import GingeeError
from .egress import EgressDenied, EgressPolicy, EgressTransport, redact_url

__all__ = [
    "EgressDenied",
    "HttpClientError",
    "HttpClientTimeout",
    "delete",
    "get",
    "patch",
    "post",
    "put",
    "request",
    "stream",
]

PERMISSION = "httpclient"
_STATE_KEY = "httpclient"
_USER_AGENT = "Gingee-httpclient/1"


class HttpClientError(GingeeError):
    """An outbound request failed in transport: connection refused, bad response, too many redirects."""


class HttpClientTimeout(HttpClientError):
    """An outbound request did not finish within its timeout."""


def _client(app: AppRuntime) -> httpx.AsyncClient:
    """The app's shared client, created (and registered for closing) on first use."""
    client = app.state.get(_STATE_KEY)
    if isinstance(client, httpx.AsyncClient) and not client.is_closed:
        return client
    policy = EgressPolicy.from_config(app.server_config.get("egress"))
    client = httpx.AsyncClient(
        transport=EgressTransport(policy),
        timeout=policy.timeout_ms / 1000,
        follow_redirects=True,
        max_redirects=policy.max_redirects,
        trust_env=False,
        headers={"User-Agent": _USER_AGENT},
    )
    app.state[_STATE_KEY] = client
    app.on_close(client.aclose)
    return client


#: `httpx.AsyncClient.request` keywords that belong to `send`, not to `build_request`.
_SEND_KEYS = ("auth", "follow_redirects")


async def _send(
    app: AppRuntime, method: str, url: str | httpx.URL, kwargs: dict[str, Any], stream: bool = False
) -> httpx.Response:
    client = _client(app)
    shown = redact_url(url)
    sending = {key: kwargs.pop(key) for key in _SEND_KEYS if key in kwargs}
    try:
        # What client.request does, with `stream` passed on.
        return await client.send(client.build_request(method, url, **kwargs), stream=stream, **sending)
    except EgressDenied:
        raise
    except httpx.TooManyRedirects as exc:
        raise HttpClientError(
            f"{method} {shown}: more than {client.max_redirects} redirects; raise egress.max_redirects in "
            "gingee.json if the site really needs more."
        ) from exc
    except httpx.TimeoutException as exc:
        raise HttpClientTimeout(
            f"{method} {shown}: timed out ({type(exc).__name__}); pass timeout=seconds, or raise "
            f"egress.timeout_ms in gingee.json (now {app.server_config.get('egress', {}).get('timeout_ms')})."
        ) from exc
    except httpx.InvalidURL as exc:
        raise HttpClientError(f"{method} {shown}: invalid URL: {exc}") from exc
    except httpx.HTTPError as exc:
        raise HttpClientError(f"{method} {shown}: {type(exc).__name__}: {exc}") from exc


@contextlib.asynccontextmanager
async def stream(method: str, url: str | httpx.URL, **kwargs: Any) -> AsyncIterator[httpx.Response]:
    """Send a request and hand over the response with its body not yet read, for bodies too large to
    hold or to stop reading early: `async with httpclient.stream("GET", url) as r: async for chunk in
    r.aiter_bytes(): ...`. The response is closed when the block ends. Same policy and errors as
    `request`; a failure while reading the body raises httpx's own error."""
    app = require(PERMISSION)
    response = await _send(app, method.upper(), url, kwargs, stream=True)
    try:
        yield response
    finally:
        await response.aclose()


async def request(method: str, url: str | httpx.URL, **kwargs: Any) -> httpx.Response:
    """Send an HTTP request (httpx keyword arguments: params, headers, json, data, content, timeout ...)."""
    app = require(PERMISSION)
    return await _send(app, method.upper(), url, kwargs)


async def get(url: str | httpx.URL, **kwargs: Any) -> httpx.Response:
    """Send a GET request."""
    app = require(PERMISSION)
    return await _send(app, "GET", url, kwargs)


async def post(url: str | httpx.URL, **kwargs: Any) -> httpx.Response:
    """Send a POST request."""
    app = require(PERMISSION)
    return await _send(app, "POST", url, kwargs)


async def put(url: str | httpx.URL, **kwargs: Any) -> httpx.Response:
    """Send a PUT request."""
    app = require(PERMISSION)
    return await _send(app, "PUT", url, kwargs)


async def patch(url: str | httpx.URL, **kwargs: Any) -> httpx.Response:
    """Send a PATCH request."""
    app = require(PERMISSION)
    return await _send(app, "PATCH", url, kwargs)


async def delete(url: str | httpx.URL, **kwargs: Any) -> httpx.Response:
    """Send a DELETE request."""
    app = require(PERMISSION)
    return await _send(app, "DELETE", url, kwargs)
