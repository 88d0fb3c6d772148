"""`ScopeHeaders` (asgi/scope.py) reads a scope's header lines lazily but must answer every public
HTTPHeaders call exactly as `request_headers` (a plain HTTPHeaders) does: it relies on how Tornado's
HTTPHeaders keeps its state, and this test is what fails if a Tornado upgrade changes that."""

from __future__ import annotations

import copy
import pickle

import pytest
import tornado.httputil

from gingee_kernel.asgi.scope import ScopeHeaders, request_headers

LINES = [
    (b"host", b"example.org"),
    (b"accept", b"text/html"),
    (b"x-many", b"one"),
    (b"x-many", b"two"),
    (b"content-type", b"application/json"),
    (b"cookie", b"a=1; b=2"),
]


def both(lines=LINES):
    return ScopeHeaders(list(lines)), request_headers({"headers": list(lines)})


@pytest.mark.parametrize(
    "read",
    [
        lambda h: h.get("Host"),
        lambda h: h.get("X-MANY"),
        lambda h: h.get("missing", "default"),
        lambda h: h["Content-Type"],
        lambda h: "accept" in h,
        lambda h: "nope" in h,
        lambda h: h.get_list("X-Many"),
        lambda h: list(h.get_all()),
        lambda h: sorted(h.items()),
        lambda h: sorted(h.keys()),
        lambda h: len(h),
        lambda h: sorted(h),
        lambda h: dict(h.copy()),
        lambda h: dict(copy.deepcopy(h)),
        lambda h: str(h),
        lambda h: dict(pickle.loads(pickle.dumps(h))),
        lambda h: h == tornado.httputil.HTTPHeaders({"Host": "example.org"}),
    ],
)
def test_every_read_answers_as_a_plain_httpheaders(read) -> None:
    lazy, plain = both()
    assert read(lazy) == read(plain)


def test_changes_after_lookups_behave_as_on_httpheaders() -> None:
    lazy, plain = both()
    assert lazy.get("Host") == plain.get("Host")  # answered from the lines
    for headers in (lazy, plain):
        headers.add("X-Many", "three")
        headers["Accept"] = "*/*"
        del headers["Cookie"]
    assert lazy.get_list("X-Many") == plain.get_list("X-Many") == ["one", "two", "three"]
    assert sorted(lazy.get_all()) == sorted(plain.get_all())
    assert "Cookie" not in lazy and lazy["Accept"] == "*/*"
    with pytest.raises(KeyError):
        lazy["Cookie"]


def test_a_line_httpheaders_refuses_raises_the_same_error() -> None:
    bad = [(b"host", b"example.org"), (b"x-bad", b"a\r\nb")]
    with pytest.raises(tornado.httputil.HTTPInputError):
        request_headers({"headers": bad})
    with pytest.raises(tornado.httputil.HTTPInputError):
        ScopeHeaders(bad)
