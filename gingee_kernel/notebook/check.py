"""`gk.check(app)`: the check cell after a workshop exercise. It calls the attendee's app in-process, as
`app.request` does, compares the reply with what the exercise asked for, and says in plain words what
is wrong: it never raises, so a failed check leaves the kernel and the rest of the notebook running.

    gk.check(app).route("GET", "/todos/1", status=200, json_has={"id": 1})
    gk.check(app).route("POST", "/todos", json={"title": "x"}, status=201, json_has={"title": "x"})

Each call returns a `Check` (`ok`, `problems`), shown as a green line or a red list in the notebook;
checks chain, and the last result is what the cell shows (`.ok` is True only if every check passed).
"""

from __future__ import annotations

import html
import json
from dataclasses import dataclass, field
from typing import Any

from .reply import Reply

_MISSING = object()


@dataclass
class Check:
    """The outcome of the checks made so far: `passed` (what went right) and `problems` (what did not)."""

    app: Any
    passed: list[str] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        """True if every check passed (and at least one was made)."""
        return bool(self.passed) and not self.problems

    def route(
        self,
        method: str,
        path: str,
        *,
        status: int | None = 200,
        json_has: dict[str, Any] | None = None,
        json_equals: Any = _MISSING,
        text_has: str | None = None,
        header: dict[str, str] | None = None,
        **request: Any,
    ) -> Check:
        """Call `method path` (with `request`'s keywords: json=, data=, body=, headers=, query=, user=, as
        `app.request` takes them) and check the reply: its `status`, keys and values in its JSON object
        (`json_has`, compared with ==), its whole JSON (`json_equals`), text in its body (`text_has`),
        and header values (`header`)."""
        what = f"{method.upper()} {path}"
        try:
            reply = self.app.request(method, path, **request)
        except Exception as exc:  # the check must report, not crash: a config error, a bad argument...
            self.problems.append(f"{what} could not be called: {type(exc).__name__}: {exc}")
            return self
        found = _judge(reply, status, json_has, json_equals, text_has, header)
        if found:
            self.problems.extend(f"{what}: {problem}" for problem in found)
        else:
            self.passed.append(f"{what} answered {reply.status} as expected")
        return self

    def _repr_pretty_(self, printer: Any, cycle: bool) -> None:
        printer.text(self.summary())

    def summary(self) -> str:
        """The outcome as plain text: one line per check."""
        if self.ok:
            return "\n".join(f"✓ {line}" for line in self.passed) + "\nWell done: this exercise is solved."
        lines = [f"✓ {line}" for line in self.passed] + [f"✗ {line}" for line in self.problems]
        if not self.passed and not self.problems:
            lines.append("✗ nothing was checked")
        return "\n".join(lines) + "\nNot yet: fix what is marked ✗, run your cell again, then this one."

    def _repr_html_(self) -> str:
        good = "".join(f"<li style='color:#1a7f37'>✓ {html.escape(line)}</li>" for line in self.passed)
        bad = "".join(f"<li style='color:#cf222e'>✗ {html.escape(line)}</li>" for line in self.problems)
        verdict = (
            "<strong style='color:#1a7f37'>Well done: this exercise is solved.</strong>"
            if self.ok
            else "<strong style='color:#cf222e'>Not yet:</strong> fix what is marked ✗, run your cell "
            "again, then this one."
        )
        return f"<div><ul style='list-style:none;padding-left:0'>{good}{bad}</ul>{verdict}</div>"

    def __repr__(self) -> str:
        return (
            f"<Check {'ok' if self.ok else 'not yet'}: {len(self.passed)} passed, {len(self.problems)} not>"
        )


def _judge(
    reply: Reply,
    status: int | None,
    json_has: dict[str, Any] | None,
    json_equals: Any,
    text_has: str | None,
    header: dict[str, str] | None,
) -> list[str]:
    problems = []
    if status is not None and reply.status != status:
        problems.append(f"expected status {status}, got {reply.status}{_why(reply)}")
        return problems  # the body of the wrong answer would only add noise
    if json_has is not None or json_equals is not _MISSING:
        try:
            body = reply.json()
        except ValueError:
            problems.append(f"expected a JSON body, got {reply.content_type or 'no Content-Type'}: "
                            f"{_short(reply.text)!r}")  # fmt: skip
            return problems
        if json_equals is not _MISSING and body != json_equals:
            problems.append(f"expected the JSON {_show(json_equals)}, got {_show(body)}")
        if json_has is not None:
            problems.extend(_missing_keys(body, json_has))
    if text_has is not None and text_has not in reply.text:
        problems.append(f"expected the body to contain {text_has!r}, got {_short(reply.text)!r}")
    for name, value in (header or {}).items():
        got = reply.headers.get(name) or next(
            (v for k, v in reply.headers.items() if k.lower() == name.lower()), None
        )
        if got != value:
            problems.append(f"expected the header {name}: {value}, got {'none' if got is None else got}")
    return problems


def _missing_keys(body: Any, wanted: dict[str, Any]) -> list[str]:
    if not isinstance(body, dict):
        return [f"expected a JSON object with {_show(wanted)}, got {_show(body)}"]
    problems = []
    for key, value in wanted.items():
        if key not in body:
            problems.append(f"the JSON has no key {key!r} (its keys: {', '.join(map(repr, body)) or 'none'})")
        elif body[key] != value:
            problems.append(f"expected {key!r} to be {_show(value)}, got {_show(body[key])}")
    return problems


def _why(reply: Reply) -> str:
    """What a Gingee error reply says, for the status line: `(ROUTE_NOT_FOUND: no route ...)`."""
    try:
        body = reply.json()
    except ValueError:
        return ""
    if isinstance(body, dict) and "error" in body:
        hint = _HINTS.get(str(body["error"]), "")
        return f" ({body['error']}: {body.get('reason', '')}){hint}"
    return ""


#: What an attendee most often has to do about an error.
_HINTS = {
    "FILE_NOT_FOUND": ". No route answers this path: is it spelled as asked, and did you run its cell?",
    "METHOD_NOT_ALLOWED": ". Check the route's methods=[...].",
    "INTERNAL_SERVER_ERROR": ". Your route raised an error: its traceback is printed under this cell.",
}


def _show(value: Any) -> str:
    try:
        return _short(json.dumps(value, ensure_ascii=False, default=str))
    except ValueError:
        return _short(repr(value))


def _short(text: str, limit: int = 200) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


def check(app: Any) -> Check:
    """Start checking `app` (a `gk.App`): chain `.route(...)` calls on what this returns."""
    return Check(app)
