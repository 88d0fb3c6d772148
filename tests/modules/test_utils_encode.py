"""utils.encode (base64, base64url, hex, base58, URI and HTML escapes) and utils.uuid (v4, v7, validate):
known vectors, round trips, hostile inputs refused with a clear EncodingError, v7's bit layout and order,
and a script over real HTTP whose bad input is a JSON 422."""

from __future__ import annotations

import base64 as stdlib_base64
import os
import threading
import time
import uuid as stdlib_uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
import pytest

from gingee_kernel.errors import GingeeError, HttpError
from gingee_kernel.modules import utils
from gingee_kernel.modules.content.errors import ContentTooLarge
from gingee_kernel.modules.utils import encode
from gingee_kernel.modules.utils.encode import EncodingError

SAMPLES = [b"", b"\0", b"\0\0\x01", b"hello world", bytes(range(256)), os.urandom(1000), b"\xff" * 7]


def test_utils_uuid_is_gingees_and_uuid4_still_works() -> None:
    assert utils.uuid is not stdlib_uuid
    assert {"encode", "uuid", "uuid4", "slugify"} <= set(utils.__all__)
    assert stdlib_uuid.UUID(utils.uuid4()).version == 4
    assert utils.encode is encode


# --- known vectors ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("data", "encoded"),
    [
        (b"hello world", "StV1DL6CwTryKyV"),
        (b"", ""),
        (b"\0", "1"),
        (b"\0\0\x00\x01", "1112"),
        (bytes.fromhex("00000000000000000000"), "1111111111"),
        (bytes.fromhex("0000287fb4cd"), "11233QC4"),
        (b"\x61", "2g"),
        (b"\x62\x62\x62", "a3gV"),
        (b"\x63\x63\x63", "aPEr"),
        (b"simply a long string", "2cFupjhnEsSn59qHXstmK2ffpLv2"),
        (
            bytes.fromhex("00eb15231dfceb60925886b67d065299925915aeb172c06647"),
            "1NS17iag9jJgTHD1VXjvLCEnZuQ3rJDE9L",
        ),
        (bytes.fromhex("516b6fcd0f"), "ABnLTmg"),
        (bytes.fromhex("bf4f89001e670274dd"), "3SEo3LWLoPntC"),
        (bytes.fromhex("572e4794"), "3EFU7m"),
        (bytes.fromhex("ecac89cad93923c02321"), "EJDM8drfXA6uyA"),
    ],
)
def test_base58_matches_the_bitcoin_vectors(data: bytes, encoded: str) -> None:
    assert encode.base58(data) == encoded
    assert encode.base58_decode(encoded) == data


@pytest.mark.parametrize(
    ("data", "standard", "urlsafe"),
    [
        (b"", "", ""),
        (b"f", "Zg==", "Zg"),
        (b"fo", "Zm8=", "Zm8"),
        (b"foo", "Zm9v", "Zm9v"),
        (b"foobar", "Zm9vYmFy", "Zm9vYmFy"),
        (b"\xfb\xff\xfe", "+//+", "-__-"),
    ],
)
def test_base64_rfc4648_vectors(data: bytes, standard: str, urlsafe: str) -> None:
    assert encode.base64(data) == standard
    assert encode.base64url(data) == urlsafe
    assert encode.base64_decode(standard) == data
    assert encode.base64url_decode(urlsafe) == data
    assert encode.base64url_decode(standard.replace("+", "-").replace("/", "_")) == data  # padded too


def test_base64_decoders_take_missing_padding_whitespace_and_bytes() -> None:
    assert encode.base64_decode("Zm8") == b"fo"
    assert encode.base64_decode("Zm9v\r\nYmFy\n") == b"foobar"
    assert encode.base64_decode(b"Zm9vYmFy") == b"foobar"
    assert encode.base64url_decode("Zg=") == b"f"


def test_str_input_is_utf8_and_text_true_decodes_utf8() -> None:
    assert encode.base64("é") == "w6k="
    assert encode.hex("é€") == "c3a9e282ac"
    assert encode.base64_decode("w6k=", text=True) == "é"
    assert encode.base64url_decode(encode.base64url("日本"), text=True) == "日本"
    assert encode.hex_decode("C3A9", text=True) == "é"
    assert encode.base58_decode(encode.base58("ünï"), text=True) == "ünï"


@pytest.mark.parametrize("data", SAMPLES)
def test_every_byte_encoding_round_trips(data: bytes) -> None:
    assert encode.base64_decode(encode.base64(data)) == data
    assert encode.base64url_decode(encode.base64url(data)) == data
    assert encode.hex_decode(encode.hex(data)) == data
    assert encode.base58_decode(encode.base58(data)) == data
    assert encode.base64(data) == stdlib_base64.b64encode(data).decode()
    assert encode.hex(data) == data.hex()
    assert "=" not in encode.base64url(data)


def test_base58_keeps_leading_zero_bytes() -> None:
    for zeros in range(5):
        data = b"\0" * zeros + b"\x01\x02"
        text = encode.base58(data)
        assert text.startswith("1" * zeros) and not text.startswith("1" * (zeros + 1))
        assert encode.base58_decode(text) == data


def test_uri_has_encode_uri_component_semantics() -> None:
    # The reserved characters are all encoded; only A-Z a-z 0-9 - _ . ! ~ * ' ( ) stay.
    assert encode.uri("a b&c=d/e?f#g+h") == "a%20b%26c%3Dd%2Fe%3Ff%23g%2Bh"
    assert encode.uri("-_.!~*'()") == "-_.!~*'()"
    assert encode.uri("é€😀") == "%C3%A9%E2%82%AC%F0%9F%98%80"
    assert encode.uri_decode("%C3%A9+%e2%82%ac") == "é+€"  # '+' is not a space, either case of hex
    text = "".join(chr(c) for c in range(1, 0x250)) + "😀 /?#[]@!$&'()*+,;=%"
    assert encode.uri_decode(encode.uri(text)) == text


def test_html_escapes_and_decodes_all_entities() -> None:
    assert encode.html("""<a href="x" title='y'>&</a>""") == (
        "&lt;a href=&quot;x&quot; title=&#x27;y&#x27;&gt;&amp;&lt;/a&gt;"
    )
    assert encode.html_decode("&lt;&amp;&gt;&quot;&#39;&#x27;&eacute;&hellip;&#8364;&#x1F600;&nbsp;") == (
        "<&>\"''é…€😀\xa0"
    )
    assert encode.html_decode("&#0;") == "\ufffd"  # as a browser does
    assert encode.html_decode(encode.html("<&>\"'é")) == "<&>\"'é"
    assert encode.html_decode("&amp;lt;") == "&lt;"  # decoded once only


# --- hostile input ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("decoder", "value", "says"),
    [
        (encode.base64_decode, "Zm9v!YmFy", "'!' at index 4"),
        (encode.base64_decode, "Zm9v_-", "use base64url_decode"),
        (encode.base64_decode, "Zm=9v", "padding"),
        (encode.base64_decode, "Zm9vY", "5 characters"),
        (encode.base64_decode, "Zg===", "padding"),
        (encode.base64_decode, "Zm9vé", "'é' at index 4"),
        (encode.base64_decode, "Zm9v\nYm\u00a0Fy", "'\\xa0' at index 7"),  # only ASCII whitespace is skipped
        (encode.base64_decode, b"Zm9v\xff", "not ASCII"),
        (encode.base64url_decode, "Zm9v+/", "use base64_decode"),
        (encode.base64url_decode, "Zm9v\0", "index 4"),
        (encode.hex_decode, "abc", "odd"),
        (encode.hex_decode, "zz", "'z' at index 0"),
        (encode.hex_decode, "ab cd", "' ' at index 2"),
        (encode.hex_decode, "0x00", "'x' at index 1"),
        (encode.hex_decode, "١٢", "index 0"),  # Arabic-Indic digits are not hex
        (encode.base58_decode, "StV1DL0", "'0' at index 6"),
        (encode.base58_decode, "abcIl", "'I' at index 3"),
        (encode.base58_decode, "ab c", "' ' at index 2"),
        (encode.base58_decode, "٣", "not in the base58 alphabet"),
        (encode.uri_decode, "100%", "index 3"),
        (encode.uri_decode, "%zz", "index 0"),
        (encode.uri_decode, "%C3", "UTF-8"),
        (encode.uri_decode, "%ED%A0%80", "UTF-8"),  # an encoded surrogate
    ],
)
def test_bad_input_raises_encoding_error_saying_where(decoder: object, value: object, says: str) -> None:
    with pytest.raises(EncodingError) as info:
        decoder(value)  # type: ignore[operator]
    assert says in str(info.value)
    assert isinstance(info.value, ValueError) and isinstance(info.value, GingeeError)
    assert isinstance(info.value, HttpError) and info.value.status == 422
    assert info.value.code == "INVALID_ENCODING"


def test_text_true_refuses_bytes_that_are_not_utf8() -> None:
    with pytest.raises(EncodingError, match="not UTF-8"):
        encode.base64_decode(encode.base64(b"\xff\xfe"), text=True)
    assert encode.base64_decode(encode.base64(b"\xff\xfe")) == b"\xff\xfe"


def test_a_lone_surrogate_cannot_be_encoded() -> None:
    for encoder in (encode.base64, encode.hex, encode.uri, encode.base58):
        with pytest.raises(EncodingError, match="lone surrogate at index 1"):
            encoder("a\ud800")


def test_wrong_types_are_type_errors() -> None:
    with pytest.raises(TypeError):
        encode.base64(123)  # type: ignore[arg-type]
    with pytest.raises(TypeError):
        encode.hex_decode(None)  # type: ignore[arg-type]
    with pytest.raises(TypeError):
        encode.html(b"<b>")  # type: ignore[arg-type]


def test_base58_refuses_long_input_before_converting() -> None:
    with pytest.raises(ContentTooLarge):
        encode.base58(b"\1" * (encode.MAX_BASE58_SIZE + 1))
    with pytest.raises(ContentTooLarge):
        encode.base58_decode("2" * (encode.MAX_BASE58_SIZE * 2 + 1))
    data = os.urandom(encode.MAX_BASE58_SIZE)
    assert encode.base58_decode(encode.base58(data)) == data


# --- uuid ------------------------------------------------------------------------------------------


def test_v4_is_random_version_4() -> None:
    values = {utils.uuid.v4() for _ in range(100)}
    assert len(values) == 100
    for value in values:
        parsed = stdlib_uuid.UUID(value)
        assert parsed.version == 4 and parsed.variant == stdlib_uuid.RFC_4122 and str(parsed) == value


def test_v7_carries_the_unix_millisecond_version_and_variant() -> None:
    before = time.time_ns() // 1_000_000
    value = utils.uuid.v7()
    after = time.time_ns() // 1_000_000
    parsed = stdlib_uuid.UUID(value)
    assert str(parsed) == value
    assert parsed.version == 7 and parsed.variant == stdlib_uuid.RFC_4122
    assert before <= parsed.int >> 80 <= after + 1
    assert value[14] == "7" and value[19] in "89ab"


def test_v7_strictly_increases_within_a_millisecond_and_across_threads() -> None:
    made: list[str] = []
    lock = threading.Lock()

    def burst() -> None:
        mine = [utils.uuid.v7() for _ in range(2000)]
        assert mine == sorted(mine) and len(set(mine)) == len(mine)
        with lock:
            made.extend(mine)

    threads = [threading.Thread(target=burst) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(set(made)) == 8000


def test_v7_counts_up_within_one_millisecond(monkeypatch: pytest.MonkeyPatch) -> None:
    frozen = (time.time_ns() // 1_000_000 + 10_000) * 1_000_000  # a millisecond no id has used yet
    monkeypatch.setattr(time, "time_ns", lambda: frozen)
    same = [utils.uuid.v7() for _ in range(1000)]
    assert same == sorted(same) and len(set(same)) == 1000
    assert {stdlib_uuid.UUID(value).int >> 80 for value in same} == {frozen // 1_000_000}
    assert all(utils.uuid.validate(value, version=7) for value in same)


def test_v7_keeps_increasing_when_the_clock_steps_back(monkeypatch: pytest.MonkeyPatch) -> None:
    first = utils.uuid.v7()
    monkeypatch.setattr(time, "time_ns", lambda: 1_000_000_000)  # 1970: far behind
    later = [utils.uuid.v7() for _ in range(3)]
    assert [first, *later] == sorted([first, *later])


def test_v7_sorts_by_creation_time() -> None:
    earlier = utils.uuid.v7()
    time.sleep(0.003)
    assert utils.uuid.v7() > earlier


@pytest.mark.parametrize(
    ("text", "version", "ok"),
    [
        ("9b2f0c7e-1d2a-4c3b-8e4f-5a6b7c8d9e0f", None, True),
        ("9B2F0C7E-1D2A-4C3B-8E4F-5A6B7C8D9E0F", 4, True),
        ("9b2f0c7e-1d2a-4c3b-8e4f-5a6b7c8d9e0f", 7, False),
        ("0190f3a1-0000-7000-bfff-000000000000", 7, True),
        ("00000000-0000-0000-0000-000000000000", None, True),
        ("FFFFFFFF-FFFF-FFFF-FFFF-FFFFFFFFFFFF", None, True),
        ("00000000-0000-0000-0000-000000000000", 4, False),
        ("9b2f0c7e-1d2a-0c3b-8e4f-5a6b7c8d9e0f", None, False),  # version 0
        ("9b2f0c7e-1d2a-9c3b-8e4f-5a6b7c8d9e0f", None, False),  # version 9
        ("9b2f0c7e-1d2a-4c3b-ce4f-5a6b7c8d9e0f", None, False),  # Microsoft variant
        ("9b2f0c7e1d2a4c3b8e4f5a6b7c8d9e0f", None, False),  # no hyphens
        ("{9b2f0c7e-1d2a-4c3b-8e4f-5a6b7c8d9e0f}", None, False),
        ("urn:uuid:9b2f0c7e-1d2a-4c3b-8e4f-5a6b7c8d9e0f", None, False),
        ("9b2f0c7e-1d2a-4c3b-8e4f-5a6b7c8d9e0f\n", None, False),
        (" 9b2f0c7e-1d2a-4c3b-8e4f-5a6b7c8d9e0f", None, False),
        ("9b2f0c7e-1d2a-4c3b-8e4f-5a6b7c8d9e0g", None, False),
        ("9b2f0c7e-1d2a-4c3b-8e4f-5a6b7c8d9e0\uff10", None, False),  # fullwidth digit
        ("", None, False),
        (None, None, False),
        (12345, None, False),
    ],
)
def test_validate(text: object, version: int | None, ok: bool) -> None:
    assert utils.uuid.validate(text, version) is ok


def test_what_v4_and_v7_make_validates_with_their_version() -> None:
    assert utils.uuid.validate(utils.uuid.v4(), version=4)
    assert utils.uuid.validate(utils.uuid.v7(), version=7)
    assert not utils.uuid.validate(utils.uuid.v7(), version=4)


# --- over HTTP ---------------------------------------------------------------------------------------

DECODE = """
from gingee_kernel import utils

async def handle(g):
    token = utils.encode.base64url_decode(g.request.query["token"], text=True)
    return {"token": token, "id": utils.uuid.v7(), "safe": utils.encode.html(token)}
"""


def test_a_script_decoding_a_bad_token_answers_422_not_a_traceback(
    make_project: Callable[..., Path], serve: Callable[..., Any]
) -> None:
    root = make_project(
        {
            "web/tokens/box/app.json": {"name": "tokens"},
            "web/tokens/box/routes.json": {
                "routes": [{"path": "/decode", "method": "GET", "script": "decode"}]
            },
            "web/tokens/box/decode.py": DECODE,
        }
    )
    server = serve(root)
    with httpx.Client(timeout=30) as client:
        good = client.get(server.url("/tokens/decode"), params={"token": encode.base64url("<a&b>")})
        assert good.status_code == 200, good.text
        body = good.json()
        assert body["token"] == "<a&b>" and body["safe"] == "&lt;a&amp;b&gt;"
        assert utils.uuid.validate(body["id"], version=7)
        bad = client.get(server.url("/tokens/decode"), params={"token": "not+base64url"})
        assert bad.status_code == 422 and bad.json()["error"] == "INVALID_ENCODING"
        assert "use base64_decode" in bad.json()["reason"] and "Traceback" not in bad.text
