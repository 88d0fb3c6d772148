"""Replies built from dicts, lists and other values are encoded exactly as `json.dumps(value, default=str)`
would (the engine drives the same C encoder directly)."""

from __future__ import annotations

import datetime
import decimal
import json
import uuid

import pytest

from gingee_kernel.engine.response import Response, _json, encode_body

VALUES = [
    {"message": "Hello, world!"},
    {"a": 1, "b": [1.5, None, True, "é\u2028\x00"], "d": datetime.datetime(2020, 1, 1)},
    {"u": uuid.UUID(int=5)},
    [1, {"x": decimal.Decimal("1.1")}, {1, 2}],
    {1: 2, None: 3, 2.5: 1, False: 0},
    [float("nan"), float("inf"), -0.0, 10**30],
    {"nested": [[[{"a": []}]]], "empty": {}},
    (1, 2),
    3,
    2.5,
    None,
    False,
    "a str",
]


@pytest.mark.parametrize("value", VALUES)
def test_same_bytes_as_json_dumps(value):
    assert _json(value) == json.dumps(value, default=str)
    if not isinstance(value, str):
        assert encode_body(value, None) == (json.dumps(value, default=str).encode(), "application/json")
        response = Response()
        response.send(value)
        assert response.body == json.dumps(value, default=str).encode()
        assert response.headers["Content-Type"] == "application/json"


def test_same_errors_as_json_dumps_and_usable_after_one():
    looped: list = []
    looped.append(looped)
    for encode in (_json, lambda v: json.dumps(v, default=str)):
        with pytest.raises(ValueError, match="Circular reference"):
            encode(looped)
        with pytest.raises(TypeError, match="keys must be"):
            encode({(1, 2): 1})

    class Unprintable:
        def __str__(self) -> str:
            raise RuntimeError("no")

    with pytest.raises(RuntimeError):
        _json({"a": [Unprintable()]})
    assert _json({"a": [1]}) == '{"a": [1]}'


def test_content_type_given_is_kept():
    response = Response()
    response.send([1], content_type="application/vnd.x+json", status=201)
    assert (response.body, response.headers["Content-Type"], response.status) == (
        b"[1]",
        "application/vnd.x+json",
        201,
    )
