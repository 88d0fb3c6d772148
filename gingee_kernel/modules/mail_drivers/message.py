"""One outgoing message, checked field by field before any driver sees it.

`compose()` turns `mail.send`'s arguments into a `Mail`, or raises InvalidMessage naming the field:
CR/LF in a header value, an address the standard library's RFC 5322 parser does not accept, no recipient,
no body, an attachment too big or outside the app's box. Domains may be international (IDNA, sent as
punycode). A `Mail` renders itself as MIME (`mime()`) and travels through the queue as JSON (`payload()`).
"""

from __future__ import annotations

import base64
import functools
import mimetypes
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from email.headerregistry import Address
from email.message import EmailMessage
from email.policy import SMTP, default
from email.utils import formatdate, make_msgid
from pathlib import Path
from typing import Any

import idna

from .errors import InvalidMessage

#: Headers the message builds itself; `headers=` may not set them.
RESERVED_HEADERS = frozenset(
    {"from", "to", "cc", "bcc", "reply-to", "subject", "date", "message-id", "sender", "return-path"}
    | {"mime-version", "content-type", "content-transfer-encoding", "content-disposition"}
)
_TOKEN = frozenset("!#$%&'*+-.^_`|~0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz")
_FORBIDDEN = ("\r", "\n", "\0")


@dataclass(frozen=True)
class Attachment:
    """A file sent with the message."""

    filename: str
    content: bytes
    content_type: str

    @property
    def maintype(self) -> str:
        return self.content_type.split("/", 1)[0]

    @property
    def subtype(self) -> str:
        return self.content_type.split("/", 1)[1]


@dataclass(frozen=True)
class Mail:
    """A checked message. Addresses are `email.headerregistry.Address` with ASCII (punycode) domains."""

    sender: Address
    to: tuple[Address, ...]
    subject: str
    text: str | None = None
    html: str | None = None
    cc: tuple[Address, ...] = ()
    bcc: tuple[Address, ...] = ()
    reply_to: tuple[Address, ...] = ()
    headers: tuple[tuple[str, str], ...] = ()
    attachments: tuple[Attachment, ...] = ()
    message_id: str = field(default="")

    @property
    def recipients(self) -> list[str]:
        """Every envelope recipient (to, cc, bcc), once each, in order."""
        seen: dict[str, None] = {}
        for address in (*self.to, *self.cc, *self.bcc):
            seen.setdefault(address.addr_spec, None)
        return list(seen)

    def mime(self) -> EmailMessage:
        """The message as MIME (no Bcc header: blind copies are envelope recipients only)."""
        msg = EmailMessage(policy=SMTP)
        msg["From"] = self.sender
        msg["To"] = self.to
        if self.cc:
            msg["Cc"] = self.cc
        if self.reply_to:
            msg["Reply-To"] = self.reply_to
        msg["Subject"] = self.subject
        msg["Date"] = formatdate(localtime=False, usegmt=True)
        msg["Message-ID"] = self.message_id
        for name, value in self.headers:
            msg[name] = value
        if self.text is not None:
            msg.set_content(self.text)
            if self.html is not None:
                msg.add_alternative(self.html, subtype="html")
        else:
            msg.set_content(self.html or "", subtype="html")
        for item in self.attachments:
            msg.add_attachment(
                item.content, maintype=item.maintype, subtype=item.subtype, filename=item.filename
            )
        return msg

    def payload(self) -> dict[str, Any]:
        """The message as JSON, for a queue job (`from_payload` reads it back)."""
        return {
            "from": str(self.sender),
            "to": [str(a) for a in self.to],
            "cc": [str(a) for a in self.cc],
            "bcc": [str(a) for a in self.bcc],
            "reply_to": [str(a) for a in self.reply_to],
            "subject": self.subject,
            "text": self.text,
            "html": self.html,
            "headers": [list(pair) for pair in self.headers],
            "attachments": [
                {
                    "filename": a.filename,
                    "content_type": a.content_type,
                    "content_b64": base64.b64encode(a.content).decode("ascii"),
                }
                for a in self.attachments
            ],
            "message_id": self.message_id,
        }

    @classmethod
    def from_payload(cls, data: Mapping[str, Any]) -> Mail:
        """The message a queue job carries (checked again: a payload is data, not trusted code)."""
        return cls(
            sender=_one(data["from"], "from"),
            to=tuple(addresses(data["to"], "to")),
            cc=tuple(addresses(data.get("cc") or [], "cc")),
            bcc=tuple(addresses(data.get("bcc") or [], "bcc")),
            reply_to=tuple(addresses(data.get("reply_to") or [], "reply_to")),
            subject=_header_text(data["subject"], "subject"),
            text=data.get("text"),
            html=data.get("html"),
            headers=tuple(_headers(dict(data.get("headers") or []))),
            attachments=tuple(
                Attachment(a["filename"], base64.b64decode(a["content_b64"]), a["content_type"])
                for a in data.get("attachments") or []
            ),
            message_id=data.get("message_id") or "",
        )


# --- checks ---------------------------------------------------------------------------------------------


def compose(
    *,
    sender: Any,
    to: Any,
    subject: Any,
    text: Any = None,
    html: Any = None,
    cc: Any = None,
    bcc: Any = None,
    reply_to: Any = None,
    headers: Any = None,
    attachments: Any = None,
    box: Path,
    max_attachment_bytes: int,
) -> Mail:
    """A checked `Mail`; InvalidMessage naming the first bad field. Reads attachment files from `box`."""
    if sender is None:
        raise InvalidMessage(
            "from_", 'no sender: pass from_="Name <you@example.org>" or set "from" in app.json "mail"'
        )
    sender_address = _one(sender, "from_")
    recipients = {key: addresses(value, key) for key, value in (("to", to), ("cc", cc), ("bcc", bcc))}
    if not any(recipients.values()):
        raise InvalidMessage("to", "no recipient: give at least one address in to, cc or bcc")
    for key, value in (("text", text), ("html", html)):
        if value is not None and not isinstance(value, str):
            raise InvalidMessage(key, f"expected a str, got {type(value).__name__}")
    if text is None and html is None:
        raise InvalidMessage("text", "no body: pass text=, html=, or both")
    domain = sender_address.domain
    return Mail(
        sender=sender_address,
        to=tuple(recipients["to"]),
        cc=tuple(recipients["cc"]),
        bcc=tuple(recipients["bcc"]),
        reply_to=tuple(addresses(reply_to, "reply_to")),
        subject=_header_text(subject, "subject"),
        text=text,
        html=html,
        headers=tuple(_headers(headers)),
        attachments=tuple(_attachments(attachments, box, max_attachment_bytes)),
        message_id=make_msgid(domain=domain if domain.isascii() else None),
    )


def addresses(value: Any, key: str) -> list[Address]:
    """The addresses in `value` (None, a str, or a list of str; a str may hold several, comma-separated)."""
    if value is None:
        return []
    items = [value] if isinstance(value, str) else value
    if not isinstance(items, list | tuple):
        raise InvalidMessage(key, f"expected an address or a list of addresses, got {type(value).__name__}")
    found: list[Address] = []
    for index, item in enumerate(items):
        where = key if isinstance(value, str) else f"{key}[{index}]"
        found.extend(_parse(item, where))
    return found


def _one(value: Any, key: str) -> Address:
    found = addresses(value, key)
    if len(found) != 1:
        raise InvalidMessage(key, f"expected exactly one address, got {len(found)}")
    return found[0]


def _parse(item: Any, where: str) -> list[Address]:
    if isinstance(item, Address):
        item = str(item)
    if not isinstance(item, str):
        raise InvalidMessage(where, f"expected an address string, got {type(item).__name__}")
    return list(_parsed(item, where))


@functools.lru_cache(maxsize=4096)
def _parsed(item: str, where: str) -> tuple[Address, ...]:
    """The checked addresses in `item` (cached: the sender and frequent recipients repeat; the parser is
    the costliest step of a send)."""
    _no_breaks(item, where)
    try:
        header = default.header_factory("to", item)
        parsed = list(header.addresses)
        defects = list(header.defects)
        groups = [g for g in header.groups if g.display_name is not None]
    except Exception:  # the parser raises IndexError and friends on some malformed input
        parsed, defects, groups = [], ["unparseable"], []
    if groups:
        raise InvalidMessage(where, f"{item!r} is a group; list the addresses themselves")
    if defects or not parsed or any(not a.username or not a.domain for a in parsed):
        raise InvalidMessage(where, f"{item!r} is not a valid email address (RFC 5322: name@domain)")
    return tuple(_ascii_domain(a, where) for a in parsed)


def _ascii_domain(address: Address, where: str) -> Address:
    """`address` with its domain in IDNA (punycode) form; a bad domain or a non-ASCII local part refused."""
    if not address.username.isascii():
        raise InvalidMessage(
            where, f"{address.addr_spec!r}: a non-ASCII local part needs SMTPUTF8, which Gingee does not send"
        )
    domain = address.domain
    if domain.startswith("["):
        raise InvalidMessage(where, f"{address.addr_spec!r}: use a domain name, not an address literal")
    try:
        ascii_domain = idna.encode(domain, uts46=True).decode("ascii")
    except idna.IDNAError as exc:
        raise InvalidMessage(where, f"{address.addr_spec!r}: the domain is not valid ({exc})") from None
    return Address(display_name=address.display_name, username=address.username, domain=ascii_domain)


def _no_breaks(value: str, where: str) -> None:
    if any(ch in value for ch in _FORBIDDEN):
        raise InvalidMessage(where, "contains a line break (CR/LF) or NUL, which could inject headers")


def _header_text(value: Any, where: str) -> str:
    if not isinstance(value, str):
        raise InvalidMessage(where, f"expected a str, got {type(value).__name__}")
    _no_breaks(value, where)
    return value


def _headers(value: Any) -> Iterable[tuple[str, str]]:
    if value is None:
        return []
    if not isinstance(value, Mapping):
        raise InvalidMessage("headers", f"expected a dict of name -> value, got {type(value).__name__}")
    result: list[tuple[str, str]] = []
    for name, text in value.items():
        if not isinstance(name, str) or not name or not set(name) <= _TOKEN:
            raise InvalidMessage(f"headers[{name!r}]", "a header name is letters, digits and -_. only")
        if name.lower() in RESERVED_HEADERS:
            raise InvalidMessage(
                f"headers[{name!r}]", "is set by mail.send itself; use its own argument (to=, subject=...)"
            )
        result.append((name, _header_text(text, f"headers[{name!r}]")))
    return result


def _attachments(value: Any, box: Path, limit: int) -> list[Attachment]:
    if value is None:
        return []
    if not isinstance(value, list | tuple):
        raise InvalidMessage("attachments", f"expected a list, got {type(value).__name__}")
    return [_attachment(item, f"attachments[{i}]", box, limit) for i, item in enumerate(value)]


def _attachment(item: Any, where: str, box: Path, limit: int) -> Attachment:
    if not isinstance(item, Mapping):
        raise InvalidMessage(where, 'expected {"filename": ..., "content": ...} or {"path": ...}')
    unknown = set(item) - {"filename", "content", "path", "content_type"}
    if unknown:
        first = sorted(unknown)[0]
        raise InvalidMessage(where, f"unknown key {first!r}; use filename, content, path, content_type")
    if ("content" in item) == ("path" in item):
        raise InvalidMessage(where, "give exactly one of content= (bytes or str) and path= (in the box)")
    if "path" in item:
        content, default_name = _read_box_file(item["path"], f"{where}.path", box, limit)
    else:
        content = item["content"]
        if isinstance(content, str):
            content = content.encode("utf-8")
        if not isinstance(content, bytes | bytearray):
            raise InvalidMessage(f"{where}.content", f"expected bytes or str, got {type(content).__name__}")
        content = bytes(content)
        default_name = None
    filename = item.get("filename", default_name)
    if not isinstance(filename, str) or not filename:
        raise InvalidMessage(f"{where}.filename", "expected a non-empty file name")
    _no_breaks(filename, f"{where}.filename")
    if len(content) > limit:
        raise InvalidMessage(
            where,
            f"{filename!r} is {len(content)} bytes, over the {limit}-byte limit "
            "(app.json mail.max_attachment_bytes)",
        )
    content_type = item.get("content_type") or mimetypes.guess_type(filename)[0] or "application/octet-stream"
    if not _mime_type(content_type):
        raise InvalidMessage(
            f"{where}.content_type", f"expected a MIME type such as text/csv, got {content_type!r}"
        )
    return Attachment(filename, content, content_type.lower())


def _read_box_file(path: Any, where: str, box: Path, limit: int) -> tuple[bytes, str]:
    if not isinstance(path, str) or not path or "\0" in path:
        raise InvalidMessage(where, "expected a file path relative to the app's box")
    candidate = Path(path)
    resolved = (box / candidate).resolve()
    if candidate.is_absolute() or not resolved.is_relative_to(box) or resolved == box:
        raise InvalidMessage(where, f"{path!r} is outside the app's box; attach files from inside box/")
    if not resolved.is_file():
        raise InvalidMessage(where, f"box/{path} does not exist")
    size = resolved.stat().st_size
    if size > limit:
        raise InvalidMessage(
            where,
            f"box/{path} is {size} bytes, over the {limit}-byte limit (app.json mail.max_attachment_bytes)",
        )
    return resolved.read_bytes(), resolved.name


def _mime_type(value: Any) -> bool:
    """True for `type/subtype` made of token characters."""
    if not isinstance(value, str) or value.count("/") != 1:
        return False
    major, minor = value.split("/")
    return bool(major) and bool(minor) and set(value) <= _TOKEN | {"/"}
