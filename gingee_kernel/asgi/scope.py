"""What hosts read from an ASGI scope, as the Tornado host reads it from a request."""

from __future__ import annotations

import re
from typing import Any

import tornado.httputil

#: A Host header as Tornado accepts it (tornado.httputil's ABNF: an RFC 3986 host, then an optional port).
_HOST = re.compile(r"(?:[\[\]:A-Za-z0-9\-._~!$&'()*+,;=]|%[0-9A-Fa-f]{2})*(?::[0-9]*)?")


def request_headers(scope: dict[str, Any]) -> tornado.httputil.HTTPHeaders:
    """The request headers as Tornado's HTTPHeaders (case-insensitive, repeated names kept), the type the
    engine and the Tornado handlers get on the Tornado host."""
    headers = tornado.httputil.HTTPHeaders()
    for name, value in scope["headers"]:
        headers.add(name.decode("latin-1"), value.decode("latin-1"))
    return headers


#: A header line HTTPHeaders.add takes as it is (tornado.httputil's field-name and field-value rules, on the
#: latin-1 bytes), its name already lower-cased as ASGI servers pass it.
_LOWER_NAME = re.compile(rb"[!#$%&'*+\-.^_`|~0-9a-z]+")
_FIELD_VALUE = re.compile(rb"(?:[\x21-\x7e\x80-\xff](?:[\x21-\x7e\x80-\xff \t]*[\x21-\x7e\x80-\xff])?)?")
#: Header lines (name, value) that passed both, and Host values `unreadable` found valid: most requests
#: repeat the lines of the ones before. Bounded in number and length, so varying or long values
#: (cookies, lengths) cannot grow them for ever; other lines are checked every time.
_CHECKED: set[tuple[bytes, bytes]] = set()
_VALID_HOSTS: set[bytes] = set()
_CHECKED_MAX = 1024
_CHECKED_LENGTH = 256
#: The names looked up (`headers.get("Content-Length")`), as the lines spell them: b"content-length".
_KEYS: dict[str, bytes] = {}


class ScopeHeaders(tornado.httputil.HTTPHeaders):
    """The request headers as `request_headers` builds them, built only once something but a lookup by
    name needs them: `get`, `[]` and `in` with an ASCII name read the scope's header lines (what the engine
    does on most requests); anything else (iteration, `get_list`, a change) builds the HTTPHeaders first.

    Lines HTTPHeaders would refuse (HTTPInputError) or whose names have capitals are added at once, as
    `request_headers` adds them: the same error, the same mapping."""

    def __init__(self, lines: list[tuple[bytes, bytes]]) -> None:
        #: The lines not built into the HTTPHeaders yet (None once built).
        self._lines: list[tuple[bytes, bytes]] | None = lines
        if not _lines_checked(lines):
            self._build()

    def _build(self) -> None:
        lines, self._lines = self._lines or [], None
        tornado.httputil.HTTPHeaders.__init__(self)
        for name, value in lines:
            self.add(name.decode("latin-1"), value.decode("latin-1"))

    def _value(self, name: str) -> str | None:
        """The value of the lines named `name` (ASCII, any case), joined with commas as HTTPHeaders joins
        them; None if there is none. Only while the lines are pending."""
        key = _KEYS.get(name)
        if key is None:
            key = name.lower().encode("ascii")
            if len(_KEYS) < _CHECKED_MAX:
                _KEYS[name] = key
        found = None
        for line, value in self._lines or ():
            if line == key:
                text = value.decode("latin-1")
                found = text if found is None else f"{found},{text}"
        return found

    def get(self, name: str, default: Any = None) -> Any:  # type: ignore[override]
        if self._lines is not None and type(name) is str and name.isascii():
            found = self._value(name)
            return default if found is None else found
        return super().get(name, default)

    def __getitem__(self, name: str) -> str:
        if self._lines is not None and type(name) is str and name.isascii():
            found = self._value(name)
            if found is not None:
                return found
        return super().__getitem__(name)

    def __contains__(self, name: object) -> bool:
        if self._lines is not None and type(name) is str and name.isascii():
            return self._value(name) is not None
        return super().__contains__(name)


class _BuiltOnUse:
    """One of the attributes HTTPHeaders.__init__ sets (its own state), on ScopeHeaders: the headers are
    built from the pending lines when something first reads it. (A `__getattr__` would do the same, but
    would slow every attribute lookup on the class.)"""

    __slots__ = ("name",)

    def __init__(self, name: str) -> None:
        self.name = name

    def __get__(self, headers: ScopeHeaders | None, owner: type | None = None) -> Any:
        if headers is None:
            return self
        if headers._lines is not None:
            headers._build()
        return headers.__dict__[self.name]

    def __set__(self, headers: ScopeHeaders, value: Any) -> None:
        headers.__dict__[self.name] = value


for _name in vars(tornado.httputil.HTTPHeaders()):  # ("_as_list", "_combined_cache") in Tornado 6.6
    setattr(ScopeHeaders, _name, _BuiltOnUse(_name))


def _lines_checked(lines: list[tuple[bytes, bytes]]) -> bool:
    """Whether HTTPHeaders.add takes every line as it is, with a lower-case name."""
    checked = _CHECKED
    for line in lines:
        try:
            if line in checked:
                continue
        except TypeError:  # a line the server did not make a tuple of bytes (a list, a bytearray)
            pass
        name, value = line
        if _LOWER_NAME.fullmatch(name) is None or _FIELD_VALUE.fullmatch(value) is None:
            return False
        if (
            len(checked) < _CHECKED_MAX
            and type(line) is tuple
            and type(name) is bytes
            and type(value) is bytes
            and len(value) <= _CHECKED_LENGTH
        ):
            checked.add(line)
    return True


def raw_path(scope: dict[str, Any]) -> str:
    """The path as the client sent it (percent-encoded), as the engine routes it."""
    raw = scope.get("raw_path")
    return raw.decode("latin-1") if raw else scope["path"]


def unreadable(scope: dict[str, Any]) -> str | None:
    """Why the Tornado host would refuse to read this request (its HTTP/1 parser answers a bare 400), or
    None. What one server reads and another does not is how requests are smuggled past a proxy, so the
    ASGI host refuses the same: an HTTP/1.1 request without exactly one valid Host header (RFC 9112 3.2),
    and any Transfer-Encoding but `chunked` (uvicorn would read `gzip, chunked` as chunked)."""
    hosts: list[bytes] = []
    encodings: list[bytes] = []
    for name, value in scope["headers"]:
        if name == b"host":
            hosts.append(value)
        elif name == b"transfer-encoding":
            encodings.append(value)
    if encodings and (len(encodings) > 1 or encodings[0].lower() != b"chunked"):
        return f"unsupported Transfer-Encoding {b', '.join(encodings).decode('latin-1')!r}"
    if not hosts:
        # HTTP/1.0 needs none; nor does HTTP/2, whose :authority the server may not pass on as Host.
        return "missing Host header" if scope.get("http_version", "1.1") == "1.1" else None
    if len(hosts) > 1:
        return "more than one Host header"
    value = hosts[0]
    if type(value) is bytes and value in _VALID_HOSTS:
        return None
    host = value.decode("latin-1")
    if "," in host:
        return "more than one Host header"
    if _HOST.fullmatch(host) is None:
        return f"invalid Host header {host!r}"
    if len(_VALID_HOSTS) < _CHECKED_MAX and type(value) is bytes and len(value) <= _CHECKED_LENGTH:
        _VALID_HOSTS.add(value)
    return None
