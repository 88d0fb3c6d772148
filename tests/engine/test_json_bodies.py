"""Replies built from dicts, lists and other values: compact JSON (orjson where installed, else the
standard library) holding the value `json.dumps(value, default=str)` holds; what orjson refuses is encoded
by the standard library, with its errors."""

from __future__ import annotations

import dataclasses
import datetime
import decimal
import json
import math
import uuid

import orjson
import pytest

from gingee_kernel.engine import json_text as module
from gingee_kernel.engine.json_text import json_bytes, json_text
from gingee_kernel.engine.response import Response, encode_body


@dataclasses.dataclass
class Point:
    x: int


VALUES = [
    {"message": "Hello, world!"},
    {"a": 1, "b": [1.5, None, True, "é\u2028\x00"], "d": datetime.datetime(2020, 1, 1)},
    {"date": datetime.date(2020, 1, 2), "t": datetime.time(3, 4), "p": Point(1)},
    {"u": uuid.UUID(int=5)},
    [1, {"x": decimal.Decimal("1.1")}, {1, 2}],
    {1: 2, None: 3, 2.5: 1, False: 0},
    [-0.0, 10**30, 2**64, -(2**63)],
    {"nested": [[[{"a": []}]]], "empty": {}},
    {"lone": "\ud800"},
    (1, 2),
    3,
    2.5,
    None,
    False,
]


def same_value(value):
    return json.loads(json.dumps(value, default=str))


@pytest.mark.parametrize("value", VALUES)
def test_the_value_json_dumps_holds(value):
    assert json.loads(json_bytes(value)) == same_value(value)
    assert json.loads(module._stdlib_bytes(value)) == same_value(value)  # without orjson
    assert encode_body(value, None)[1] == "application/json"
    response = Response()
    response.send(value)
    assert json.loads(response.body) == same_value(value)


def test_compact_utf8_from_orjson_and_ascii_escapes_from_the_fallback():
    assert module.orjson is orjson  # the test extras install it: the fast path is the one tested
    assert json_bytes({"message": "Hello, world!"}) == b'{"message":"Hello, world!"}'
    assert json_bytes({"é": [1, 2]}) == '{"é":[1,2]}'.encode()
    assert module._stdlib_bytes({"é": [1, 2]}) == b'{"\\u00e9":[1,2]}'
    assert json_text({"a": None}) == '{"a":null}'
    assert json_bytes({"d": datetime.datetime(2020, 1, 1)}) == b'{"d":"2020-01-01 00:00:00"}'  # str()


def test_nan_and_infinities_are_null_as_json_stringify_writes_them():
    assert json.loads(json_bytes([math.nan, math.inf, -math.inf])) == [None, None, None]


def test_same_errors_as_json_dumps_and_usable_after_one():
    looped: list = []
    looped.append(looped)
    for encode in (json_bytes, lambda v: json.dumps(v, default=str)):
        with pytest.raises(ValueError, match="Circular reference"):
            encode(looped)
        with pytest.raises(TypeError, match="keys must be"):
            encode({(1, 2): 1})

    class Unprintable:
        def __str__(self) -> str:
            raise RuntimeError("no")

    with pytest.raises(RuntimeError):
        json_bytes({"a": [Unprintable()]})
    assert json_bytes({"a": [1]}) == b'{"a":[1]}'


def test_content_type_given_is_kept():
    response = Response()
    response.send([1], content_type="application/vnd.x+json", status=201)
    assert (response.body, response.headers["Content-Type"], response.status) == (
        b"[1]",
        "application/vnd.x+json",
        201,
    )
