"""The Tornado side of the practice providers: authlib's `AuthorizationServer` bound to Tornado (authlib
ships Flask and Django bindings, not Tornado), in-memory clients, codes and tokens, and `LoopbackServer`,
which serves a provider on 127.0.0.1 on a port the OS picks, in the caller's event loop or its own thread.
"""

from __future__ import annotations

import asyncio
import json
import secrets
import threading
import time
from collections import defaultdict
from contextvars import ContextVar
from dataclasses import dataclass, field
from typing import Any, NamedTuple, TypeVar
from urllib.parse import urlsplit

from authlib.oauth2.rfc6749 import (
    AuthorizationServer,
    ClientMixin,
    InvalidRequestError,
    JsonPayload,
    JsonRequest,
    OAuth2Payload,
    OAuth2Request,
    ResourceProtector,
    TokenMixin,
    list_to_scope,
    scope_to_list,
)
from authlib.oauth2.rfc6749.grants import AuthorizationCodeGrant
from authlib.oauth2.rfc6750 import BearerTokenValidator
from authlib.oauth2.rfc7636 import CodeChallenge
from authlib.oidc.core import AuthorizationCodeMixin
from tornado.httpserver import HTTPServer
from tornado.httputil import HTTPServerRequest
from tornado.netutil import bind_sockets
from tornado.web import Application, RequestHandler

# ----------------------------------------------------------------------------------------------------
# Tornado glue for authlib's AuthorizationServer (authlib ships Flask and Django bindings, not Tornado)
# ----------------------------------------------------------------------------------------------------


def flat_args(arguments: dict[str, list[bytes]]) -> dict[str, str]:
    """Tornado's `{name: [b"value", ...]}` as `{name: "first value"}`."""
    return {name: values[0].decode("utf-8", "replace") for name, values in arguments.items() if values}


class TornadoPayload(OAuth2Payload):
    """The query string and the form body of a Tornado request, as authlib reads parameters."""

    def __init__(self, request: HTTPServerRequest) -> None:
        self.args = flat_args(request.query_arguments)
        self.form = flat_args(request.body_arguments)
        self._data = {**self.args, **self.form}
        self._datalist: defaultdict[str, list[str]] = defaultdict(list)
        for arguments in (request.query_arguments, request.body_arguments):
            for name, values in arguments.items():
                self._datalist[name].extend(v.decode("utf-8", "replace") for v in values)

    @property
    def data(self) -> dict[str, str]:
        return self._data

    @property
    def datalist(self) -> defaultdict[str, list[str]]:
        return self._datalist


class TornadoOAuth2Request(OAuth2Request):
    def __init__(self, request: HTTPServerRequest) -> None:
        super().__init__(method=request.method or "GET", uri=request.full_url(), headers=request.headers)
        self.payload = TornadoPayload(request)

    @property
    def args(self) -> dict[str, str]:
        return self.payload.args

    @property
    def form(self) -> dict[str, str]:
        return self.payload.form


class TornadoJsonPayload(JsonPayload):
    def __init__(self, request: HTTPServerRequest) -> None:
        self._data = json.loads(request.body or b"{}")

    @property
    def data(self) -> Any:
        return self._data


class TornadoJsonRequest(JsonRequest):
    def __init__(self, request: HTTPServerRequest) -> None:
        super().__init__(request.method, request.full_url(), request.headers)
        self.payload = TornadoJsonPayload(request)


class Reply(NamedTuple):
    """What authlib answers; `OAuthHandler.reply` writes it (a dict or list body goes out as JSON)."""

    status: int
    body: Any
    headers: list[tuple[str, str]]


# The request being served. authlib's UserInfoEndpoint asks the protector for the token Flask-style, without
# passing the request, so the server remembers the request it converted last (handlers are synchronous).
_serving: ContextVar[OAuth2Request] = ContextVar("oauth2_request")


class TornadoAuthorizationServer(AuthorizationServer):
    """authlib's AuthorizationServer for Tornado handlers, with in-memory clients, codes and tokens.

    The framework hooks take the `RequestHandler` as "the request" and `handle_response` returns a `Reply`.
    """

    def __init__(self, scopes_supported: list[str]) -> None:
        super().__init__(scopes_supported=scopes_supported)
        self.clients: dict[str, Client] = {}
        self.codes: dict[str, AuthCode] = {}
        self.tokens: dict[str, Token] = {}
        self.spent_codes: dict[str, list[str]] = {}  # a redeemed code -> the access tokens it bought

    # -- the framework hooks -------------------------------------------------------------------------------
    def create_oauth2_request(self, request: RequestHandler) -> OAuth2Request:
        oauth_request = TornadoOAuth2Request(request.request)
        _serving.set(oauth_request)
        return oauth_request

    def create_json_request(self, request: RequestHandler) -> JsonRequest:
        return TornadoJsonRequest(request.request)

    def handle_response(self, status: int, body: Any, headers: list[tuple[str, str]]) -> Reply:
        return Reply(status, body, list(headers))

    def send_signal(self, name: str, *args: Any, **kwargs: Any) -> None:
        """authlib signals (after_authenticate_client, ...): nobody listens here."""

    # -- storage ------------------------------------------------------------------------------------------
    def query_client(self, client_id: str) -> Client | None:
        return self.clients.get(client_id)

    def save_token(self, token: dict[str, Any], request: OAuth2Request) -> None:
        code: AuthCode = request.authorization_code
        expires_in = token.get("expires_in")
        self.tokens[token["access_token"]] = Token(
            client=request.client,
            user=request.user,
            scope=code.get_scope(),
            expires_at=time.time() + expires_in if expires_in else None,
        )
        self.spent_codes.setdefault(code.code, []).append(token["access_token"])

    def find_code(self, code: str, client: Client) -> AuthCode | None:
        """A live code issued to `client`. Presenting a spent code revokes its tokens (RFC 6749 §4.1.2)."""
        if code in self.spent_codes:
            for access_token in self.spent_codes[code]:
                self.tokens[access_token].revoked = True
            return None
        item = self.codes.get(code)
        if item is None or item.client_id != client.client_id or item.expires_at < time.time():
            return None
        return item


def loopback_redirect_uri(uri: str) -> bool:
    """What the registered entry "*" admits: any http://127.0.0.1 or http://localhost URI."""
    try:
        parts = urlsplit(uri)
        host = parts.hostname
    except ValueError:
        return False
    return parts.scheme == "http" and host in ("127.0.0.1", "localhost") and "@" not in parts.netloc


@dataclass
class Client(ClientMixin):
    """A confidential client: client_secret_basic or client_secret_post, the code grant only."""

    client_id: str
    client_secret: str
    redirect_uris: list[str]
    client_metadata: dict[str, Any] = field(default_factory=dict)

    def get_client_id(self) -> str:
        return self.client_id

    def get_default_redirect_uri(self) -> str | None:
        return next((uri for uri in self.redirect_uris if uri != "*"), None)

    def get_allowed_scope(self, scope: str | None) -> str:
        return list_to_scope(scope_to_list(scope) or [])

    def check_redirect_uri(self, redirect_uri: str) -> bool:
        if redirect_uri in self.redirect_uris:
            return True
        return "*" in self.redirect_uris and loopback_redirect_uri(redirect_uri)

    def check_client_secret(self, client_secret: str) -> bool:
        return secrets.compare_digest(self.client_secret.encode(), client_secret.encode())

    def check_endpoint_auth_method(self, method: str, endpoint: str) -> bool:
        return endpoint != "token" or method in ("client_secret_basic", "client_secret_post")

    def check_response_type(self, response_type: str) -> bool:
        return response_type == "code"

    def check_grant_type(self, grant_type: str) -> bool:
        return grant_type == "authorization_code"


@dataclass
class AuthCode(AuthorizationCodeMixin):
    code: str
    client_id: str
    redirect_uri: str | None
    scope: str
    user: Any
    nonce: str | None
    code_challenge: str | None
    code_challenge_method: str | None
    auth_time: int = field(default_factory=lambda: int(time.time()))
    expires_at: float = 0.0

    def get_redirect_uri(self) -> str | None:
        return self.redirect_uri

    def get_scope(self) -> str:
        return self.scope

    def get_nonce(self) -> str | None:
        return self.nonce

    def get_auth_time(self) -> int:
        return self.auth_time


@dataclass
class Token(TokenMixin):
    client: Client
    user: Any
    scope: str
    expires_at: float | None
    revoked: bool = False

    def check_client(self, client: Client) -> bool:
        return client.client_id == self.client.client_id

    def get_scope(self) -> str:
        return self.scope

    def get_expires_in(self) -> int:
        return int(self.expires_at - time.time()) if self.expires_at else 0

    def is_expired(self) -> bool:
        return self.expires_at is not None and time.time() >= self.expires_at

    def is_revoked(self) -> bool:
        return self.revoked

    def get_user(self) -> Any:
        return self.user

    def get_client(self) -> Client:
        return self.client


class CodeGrant(AuthorizationCodeGrant):
    """authlib's authorization code grant over the server's dicts: codes live 60 s and are single-use."""

    CODE_LIFETIME = 60

    def save_authorization_code(self, code: str, request: OAuth2Request) -> None:
        data = request.payload.data
        self.server.codes[code] = AuthCode(
            code=code,
            client_id=request.client.client_id,
            redirect_uri=request.payload.redirect_uri,
            scope=request.scope,
            user=request.user,
            nonce=data.get("nonce"),
            code_challenge=data.get("code_challenge"),
            code_challenge_method=data.get("code_challenge_method"),
            expires_at=time.time() + self.CODE_LIFETIME,
        )

    def query_authorization_code(self, code: str, client: Client) -> AuthCode | None:
        return self.server.find_code(code, client)

    def delete_authorization_code(self, authorization_code: AuthCode) -> None:
        self.server.codes.pop(authorization_code.code, None)

    def authenticate_user(self, authorization_code: AuthCode) -> Any:
        return authorization_code.user


class S256CodeChallenge(CodeChallenge):
    """authlib's PKCE (RFC 7636) check, S256 only: `plain`, or no method (which means plain), is refused.

    With `required=True` every authorization request must carry a challenge, confidential clients too; the
    token request must then present the matching verifier (authlib's check, answering invalid_grant).
    """

    SUPPORTED_CODE_CHALLENGE_METHOD = ["S256"]
    DEFAULT_CODE_CHALLENGE_METHOD = "S256"

    def validate_code_challenge(self, grant: AuthorizationCodeGrant, redirect_uri: str | None) -> None:
        data = grant.request.payload.data
        if self.required and not data.get("code_challenge"):
            raise InvalidRequestError("Missing 'code_challenge': PKCE is required")
        super().validate_code_challenge(grant, redirect_uri)
        if data.get("code_challenge") and data.get("code_challenge_method") != "S256":
            raise InvalidRequestError("Unsupported 'code_challenge_method': only S256 is accepted")


class BearerValidator(BearerTokenValidator):
    """authlib's Bearer token check (expiry, revocation, scope) against the server's token dict."""

    def __init__(self, tokens: dict[str, Token], token_type: str = "bearer") -> None:
        super().__init__()
        self.tokens = tokens
        self.TOKEN_TYPE = token_type

    def authenticate_token(self, token_string: str) -> Token | None:
        return self.tokens.get(token_string)


class Protector(ResourceProtector):
    """authlib's ResourceProtector, plus the Flask-style `acquire_token(scopes)` UserInfoEndpoint calls."""

    def acquire_token(self, scopes: str | list[str] | None = None) -> Token:
        required = [scopes] if isinstance(scopes, str) else scopes
        return self.validate_request(required, _serving.get())


class OAuthHandler(RequestHandler):
    """Base handler: `self.provider` is the provider serving; `reply` writes one of authlib's answers."""

    def initialize(self, provider: Any) -> None:
        self.provider = provider

    def reply(self, reply: Reply) -> None:
        self.set_status(reply.status)
        for name, value in reply.headers:
            self.set_header(name, value)
        body = reply.body
        if isinstance(body, dict | list):
            if not any(name.lower() == "content-type" for name, _ in reply.headers):
                self.set_header("Content-Type", "application/json")
            body = json.dumps(body)
        self.finish(body or b"")

    def reply_json(self, body: Any, status: int = 200) -> None:
        self.reply(Reply(status, body, [("Content-Type", "application/json")]))


_S = TypeVar("_S", bound="LoopbackServer")


class LoopbackServer:
    """A Tornado application on 127.0.0.1, on a port the OS picks.

    `async with` (or `await start()` / `await stop()`) serves it in the caller's event loop, as the tests
    do; `start_in_thread()` / `stop_in_thread()` serve it from an event loop of its own, in a daemon thread,
    as a notebook must (see `start_in_thread`).
    """

    def __init__(self) -> None:
        self.base_url = ""
        self._http: HTTPServer | None = None
        self._loop: asyncio.AbstractEventLoop | None = None  # start_in_thread's loop
        self._thread: threading.Thread | None = None

    def routes(self) -> list[tuple[str, type[RequestHandler]]]:
        raise NotImplementedError

    async def start(self: _S) -> _S:
        if self._http is not None:
            raise RuntimeError(f"{type(self).__name__} is already serving at {self.base_url}")
        sockets = bind_sockets(0, "127.0.0.1")
        app = Application([(path, handler, {"provider": self}) for path, handler in self.routes()])
        self._http = HTTPServer(app)
        self._http.add_sockets(sockets)
        self.base_url = f"http://127.0.0.1:{sockets[0].getsockname()[1]}"
        return self

    async def stop(self) -> None:
        """Stop serving; a server `start_in_thread()` started is stopped on its own loop, thread and all."""
        if self._thread is not None:
            await asyncio.to_thread(self.stop_in_thread)
            return
        await self._close()

    async def _close(self) -> None:
        if self._http is not None:
            self._http.stop()
            await self._http.close_all_connections()
            self._http = None

    def start_in_thread(self: _S, timeout: float = 10) -> _S:
        """Serve from a new event loop in a daemon thread; return once the port is listening.

        For notebooks. A kernel's Gingee host (notebook/host.py) runs the apps on a thread and loop of its
        own, and a cell waits for it synchronously (`host.call`, behind `app.request` and the login
        endpoints). A provider started with `await start()` in a cell would serve from the kernel's own
        loop, which that waiting cell blocks: the app's discovery and token requests would go unanswered
        until the call timed out. A provider on its own loop answers whoever is waiting. The daemon thread
        ends with the process; `stop_in_thread()` (or `await stop()`) ends it sooner.
        """
        if self._thread is not None or self._http is not None:
            raise RuntimeError(f"{type(self).__name__} is already serving at {self.base_url}")
        loop = asyncio.new_event_loop()
        thread = threading.Thread(
            target=_run_loop, args=(loop,), name=f"gingee-practice-{type(self).__name__}", daemon=True
        )
        thread.start()
        try:
            asyncio.run_coroutine_threadsafe(self.start(), loop).result(timeout)
        except BaseException:
            loop.call_soon_threadsafe(loop.stop)
            thread.join(timeout)
            raise
        self._loop, self._thread = loop, thread
        return self

    def stop_in_thread(self, timeout: float = 10) -> None:
        """Stop a server `start_in_thread()` started: close it on its loop, then end the loop and thread."""
        loop, thread = self._loop, self._thread
        if loop is None or thread is None:
            return
        try:
            if thread.is_alive():
                asyncio.run_coroutine_threadsafe(self._close(), loop).result(timeout)
        finally:
            loop.call_soon_threadsafe(loop.stop)
            thread.join(timeout)
            self._loop = self._thread = None

    async def __aenter__(self: _S) -> _S:
        return await self.start()

    async def __aexit__(self, *exc_info: object) -> None:
        await self.stop()


def _run_loop(loop: asyncio.AbstractEventLoop) -> None:
    """A `start_in_thread` thread: run `loop` until stopped, then close it."""
    asyncio.set_event_loop(loop)
    try:
        loop.run_forever()
    finally:
        loop.close()
