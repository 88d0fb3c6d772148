"""utils: slugs, truncation, HTML stripping, validators, clamp, group_by and uuid4."""

from __future__ import annotations

import uuid
from dataclasses import dataclass

import pytest

from gingee_kernel.modules import utils


@pytest.mark.parametrize(
    ("text", "slug"),
    [
        ("Hello, World!", "hello-world"),
        ("  Crème brûlée à la carte  ", "creme-brulee-a-la-carte"),
        ("already-a-slug", "already-a-slug"),
        ("multiple   spaces---and__underscores", "multiple-spaces-and-underscores"),
        ("日本語", ""),
        ("", ""),
    ],
)
def test_slugify(text: str, slug: str) -> None:
    assert utils.slugify(text) == slug


def test_slugify_separator_and_max_length() -> None:
    assert utils.slugify("Hello big World", separator="_") == "hello_big_world"
    assert utils.slugify("hello big world", max_length=9) == "hello-big"
    assert utils.slugify("hello big world", max_length=6) == "hello"


def test_truncate() -> None:
    assert utils.truncate("short", 10) == "short"
    assert utils.truncate("exactly10!", 10) == "exactly10!"
    cut = utils.truncate("the quick brown fox jumps", 15)
    assert cut == "the quick…"
    assert len(cut) <= 15
    assert utils.truncate("abcdefghijklmnop", 8) == "abcdefg…"
    assert utils.truncate("abcdef", 5, suffix="...") == "ab..."
    assert utils.truncate("abcdef", 2, suffix="...") == "ab"
    with pytest.raises(ValueError):
        utils.truncate("x", -1)


def test_strip_html() -> None:
    html = (
        "<p>Hello <b>world</b> &amp; friends</p><script>alert('x')</script>"
        "<style>p{}</style><!-- hidden --><div>line&nbsp;two&lt;3</div>"
    )
    assert utils.strip_html(html) == "Hello world & friends line two<3"
    assert utils.strip_html("a<br>b") == "a b"
    assert utils.strip_html("no tags") == "no tags"
    assert utils.strip_html("&amp;lt;") == "&lt;"


@pytest.mark.parametrize(
    ("value", "ok"),
    [
        ("user@example.com", True),
        ("first.last+tag@sub.example.co.uk", True),
        ("user@localhost", False),
        ("user@@example.com", False),
        ("user example@example.com", False),
        ("user@example..com", False),
        (".user@example.com", False),
        ("user@-example.com", False),
        ("", False),
        (None, False),
        ("a@b.c" + "o" * 300, False),
    ],
)
def test_is_email(value: object, ok: bool) -> None:
    assert utils.is_email(value) is ok  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("value", "ok"),
    [
        ("https://example.com", True),
        ("http://example.com:8080/path?q=1#f", True),
        ("http://localhost", True),
        ("http://[::1]:80/", True),
        ("ftp://example.com", False),
        ("javascript:alert(1)", False),
        ("//example.com", False),
        ("example.com", False),
        ("http://", False),
        ("http://exa mple.com", False),
        ("http://-bad-.com", False),
        ("http://example.com:99999/", False),
        (None, False),
    ],
)
def test_is_url(value: object, ok: bool) -> None:
    assert utils.is_url(value) is ok  # type: ignore[arg-type]


def test_is_url_custom_schemes() -> None:
    assert utils.is_url("ftp://files.example.com/x", schemes=("ftp",)) is True
    assert utils.is_url("https://example.com", schemes=("ftp",)) is False


def test_clamp() -> None:
    assert utils.clamp(5, 0, 10) == 5
    assert utils.clamp(-3, 0, 10) == 0
    assert utils.clamp(42, 0, 10) == 10
    assert utils.clamp(0.5, 0.0, 0.25) == 0.25
    with pytest.raises(ValueError):
        utils.clamp(1, 10, 0)


@dataclass
class _Order:
    status: str
    total: int


def test_group_by_key_attribute_and_function() -> None:
    rows = [{"kind": "a", "n": 1}, {"kind": "b", "n": 2}, {"kind": "a", "n": 3}, {"n": 4}]
    grouped = utils.group_by(rows, "kind")
    assert grouped == {"a": [rows[0], rows[2]], "b": [rows[1]], None: [rows[3]]}
    assert list(grouped) == ["a", "b", None]  # first-seen order

    orders = [_Order("paid", 5), _Order("open", 7), _Order("paid", 9)]
    assert utils.group_by(orders, "status") == {"paid": [orders[0], orders[2]], "open": [orders[1]]}
    assert utils.group_by(range(6), lambda n: n % 2) == {0: [0, 2, 4], 1: [1, 3, 5]}
    assert utils.group_by([], "x") == {}


def test_uuid4() -> None:
    values = {utils.uuid4() for _ in range(20)}
    assert len(values) == 20
    for value in values:
        parsed = uuid.UUID(value)
        assert parsed.version == 4 and str(parsed) == value
