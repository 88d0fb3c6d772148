"""`g.request`: the incoming request, with its body parsed by content type."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Mapping
from dataclasses import dataclass
from http.cookies import CookieError, SimpleCookie
from typing import Any
from urllib.parse import parse_qs

from tornado.httputil import HTTPFile, HTTPInputError, parse_body_arguments

from ..errors import HttpError
from .body import BodyStream


@dataclass(frozen=True)
class UploadedFile:
    """One file from a multipart body."""

    filename: str
    content_type: str
    data: bytes

    @property
    def size(self) -> int:
        """The file's size in bytes."""
        return len(self.data)


class Request:
    """Method, path, headers, cookies, query, route params and the parsed body of one request.

    `body` is a dict for JSON objects and forms, any JSON value for JSON, `bytes` for other types,
    and None when there is no body. Multipart fields land in `body` and files in `files`.
    Invalid JSON is refused with 400 before any script runs. On a route with `"body": "stream"` the
    body is not read ahead (`body` is None, `raw_body` empty): read it with `stream()` as it arrives.
    """

    __slots__ = (
        "_body_stream",
        "_cookies",
        "body",
        "files",
        "headers",
        "method",
        "operator",
        "params",
        "path",
        "public_root",
        "query",
        "query_all",
        "raw_body",
        "remote_ip",
        "url",
    )

    def __init__(
        self,
        method: str,
        url: str,
        path: str,
        query_string: str,
        headers: Mapping[str, str],
        raw_body: bytes,
        remote_ip: str = "",
        params: dict[str, str] | None = None,
        body_stream: BodyStream | None = None,
        public_root: str = "",
        operator: bool = False,
    ) -> None:
        self.method = method
        self.url = url
        self.path = path
        self.headers = headers
        self.raw_body = raw_body
        self.remote_ip = remote_ip
        #: What precedes `/<app>` in the URL the client sees (scheme, host, prefix); "" if unknown.
        self.public_root = public_root
        #: The host vouches that the operator sends it (loopback or the admin token under `gingee serve`,
        #: a logged-in Jupyter user): it may see the app's OpenAPI document.
        self.operator = operator
        self.params: dict[str, str] = params or {}
        if query_string:
            self.query_all = parse_qs(query_string, keep_blank_values=True)
            self.query = {k: v[-1] for k, v in self.query_all.items()}
        else:
            self.query_all = {}
            self.query = {}
        self._cookies: dict[str, str] | None = None
        self.files: dict[str, UploadedFile] = {}
        self._body_stream = body_stream
        self.body: Any = self._parse_body()

    def stream(self) -> AsyncIterator[bytes]:
        """The body as an async iterator of chunks, read once. On a `"body": "stream"` route the chunks
        come as the client sends them (the body limit is `limits.max_upload_size`); elsewhere the one
        chunk is the body that was read ahead. Pass it, or `g.request` itself, to `storage.put`."""
        if self._body_stream is not None:
            return aiter(self._body_stream)
        return _once(self.raw_body)

    @property
    def app_url(self) -> str:
        """The app's own URL as the client sees it, without a trailing slash (`https://host/prefix/<app>`):
        where links and redirects back to the app point. Falls back to the request's own URL."""
        name = self.path[1:].split("/", 1)[0]
        root = self.public_root
        if not root:
            full = self.url.split("?", 1)[0]
            root = full[: len(full) - len(self.path)] if full.endswith(self.path) else ""
        return f"{root}/{name}"

    @property
    def cookies(self) -> dict[str, str]:
        """Cookies sent by the client, by name."""
        if self._cookies is None:
            jar: dict[str, str] = {}
            header = self.headers.get("Cookie")
            if header:
                try:
                    parsed = SimpleCookie(header)
                    jar = {k: m.value for k, m in parsed.items()}
                except CookieError:
                    jar = {}
            self._cookies = jar
        return self._cookies

    @property
    def content_type(self) -> str:
        """The media type of the body, lower-cased, without parameters."""
        return self.headers.get("Content-Type", "").split(";", 1)[0].strip().lower()

    def json(self) -> Any:
        """The body parsed as JSON (same as `body` for JSON requests)."""
        return self.body if self.content_type.endswith("json") else json.loads(self.raw_body or b"null")

    def _parse_body(self) -> Any:
        if not self.raw_body:
            return None
        kind = self.content_type
        if kind == "application/json" or kind.endswith("+json"):
            try:
                return json.loads(self.raw_body)
            except RecursionError:
                raise HttpError(400, "INVALID_JSON", "the request body is JSON nested too deeply") from None
            except (UnicodeDecodeError, json.JSONDecodeError) as exc:
                detail = exc.msg if isinstance(exc, json.JSONDecodeError) else "not UTF-8"
                raise HttpError(
                    400, "INVALID_JSON", f"the request body is not valid JSON: {detail}"
                ) from None
        if kind == "application/x-www-form-urlencoded":
            try:
                fields = parse_qs(self.raw_body.decode("utf-8"), keep_blank_values=True)
            except UnicodeDecodeError:
                raise HttpError(400, "INVALID_FORM", "the form body is not valid UTF-8") from None
            return {k: v[0] if len(v) == 1 else v for k, v in fields.items()}
        if kind == "multipart/form-data":
            return self._parse_multipart()
        return self.raw_body

    def _parse_multipart(self) -> dict[str, Any]:
        arguments: dict[str, list[bytes]] = {}
        files: dict[str, list[HTTPFile]] = {}
        if "boundary=" not in self.headers.get("Content-Type", ""):
            raise HttpError(400, "INVALID_MULTIPART", "multipart body without a boundary")
        try:
            parse_body_arguments(self.headers.get("Content-Type", ""), self.raw_body, arguments, files)
        except HTTPInputError as exc:
            raise HttpError(400, "INVALID_MULTIPART", f"the multipart body is broken: {exc}") from None
        fields: dict[str, Any] = {}
        for name, values in arguments.items():
            decoded = [v.decode("utf-8", errors="replace") for v in values]
            fields[name] = decoded[0] if len(decoded) == 1 else decoded
        for name, items in files.items():
            first = items[0]
            self.files[name] = UploadedFile(first.filename, first.content_type, bytes(first.body))
        return fields


async def _once(body: bytes) -> AsyncIterator[bytes]:
    if body:
        yield body
