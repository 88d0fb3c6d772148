"""auth.jwt: HS256 tokens, secret and issuer resolution, and rejection of every kind of bad token."""

from __future__ import annotations

import asyncio
import base64
import json
import time

import pytest
from joserfc import jws
from joserfc import jwt as jose_jwt
from joserfc.jwk import OctKey, RSAKey

from gingee_kernel.engine.context import app_context
from gingee_kernel.errors import ModuleConfigError
from gingee_kernel.modules.auth import jwt
from tests.fixtures.apps import MakeApp

SECRET = "server-wide-secret-0123456789abcdef"
APP_SECRET = "app-specific-secret-0123456789abcdef"


def _b64(obj: dict) -> str:
    return base64.urlsafe_b64encode(json.dumps(obj).encode()).rstrip(b"=").decode()


def _claims(token: str) -> dict:
    part = token.split(".")[1]
    return json.loads(base64.urlsafe_b64decode(part + "=" * (-len(part) % 4)))


def test_create_and_verify_round_trip() -> None:
    token = jwt.create({"sub": "u1", "role": "admin"}, secret=SECRET)
    claims = jwt.verify(token, secret=SECRET)
    assert claims is not None
    assert claims["sub"] == "u1" and claims["role"] == "admin"
    now = int(time.time())
    assert abs(claims["iat"] - now) <= 2
    assert claims["exp"] - claims["iat"] == 3600
    header = json.loads(base64.urlsafe_b64decode(token.split(".")[0] + "=="))
    assert header["alg"] == "HS256"


def test_create_does_not_mutate_the_payload() -> None:
    payload = {"sub": "u1"}
    jwt.create(payload, secret=SECRET)
    assert payload == {"sub": "u1"}


def test_wrong_secret_is_rejected() -> None:
    token = jwt.create({"sub": "u1"}, secret=SECRET)
    assert jwt.verify(token, secret=SECRET + "-other") is None


@pytest.mark.parametrize("part", [0, 1, 2])
def test_tampering_with_any_part_is_rejected(part: int) -> None:
    token = jwt.create({"sub": "u1", "admin": False}, secret=SECRET)
    pieces = token.split(".")
    if part == 1:
        forged = dict(_claims(token), admin=True)
        pieces[1] = _b64(forged)
    else:
        segment = pieces[part]
        middle = len(segment) // 2
        pieces[part] = segment[:middle] + ("A" if segment[middle] != "A" else "B") + segment[middle + 1 :]
    assert jwt.verify(".".join(pieces), secret=SECRET) is None


def test_expired_token_is_rejected() -> None:
    token = jwt.create({"sub": "u1"}, expires_in=-10, secret=SECRET)
    assert jwt.verify(token, secret=SECRET) is None


async def test_token_expires_after_expires_in() -> None:
    token = jwt.create({"sub": "u1"}, expires_in=1, secret=SECRET)
    assert jwt.verify(token, secret=SECRET) is not None
    await asyncio.sleep(2.1)
    assert jwt.verify(token, secret=SECRET) is None


def test_token_without_exp_is_rejected() -> None:
    token = jose_jwt.encode({"alg": "HS256"}, {"sub": "u1"}, OctKey.import_key(SECRET))
    assert jwt.verify(token, secret=SECRET) is None


def test_alg_none_token_forged_by_hand_is_rejected() -> None:
    claims = {"sub": "admin", "exp": int(time.time()) + 3600, "iat": int(time.time())}
    for alg in ("none", "None", "NONE"):
        forged = f"{_b64({'alg': alg, 'typ': 'JWT'})}.{_b64(claims)}."
        assert jwt.verify(forged, secret=SECRET) is None
    # The same claims signed correctly would be accepted, so the rejection is about the algorithm.
    good = jose_jwt.encode({"alg": "HS256"}, claims, OctKey.import_key(SECRET))
    assert jwt.verify(good, secret=SECRET) is not None


def test_rs256_and_other_hmac_algorithms_are_rejected() -> None:
    claims = {"sub": "u1", "exp": int(time.time()) + 3600}
    rsa = RSAKey.generate_key(2048)
    rs256 = jose_jwt.encode({"alg": "RS256"}, claims, rsa)
    assert jwt.verify(rs256, secret=SECRET) is None
    hs512 = jose_jwt.encode({"alg": "HS512"}, claims, OctKey.import_key(SECRET), algorithms=["HS512"])
    assert jwt.verify(hs512, secret=SECRET) is None


@pytest.mark.parametrize(
    "garbage",
    ["", "abc", "a.b.c", "a.b", "....", "é.é.é", "eyJhbGciOiJIUzI1NiJ9.bm90IGpzb24.sig", None, 123],
)
def test_garbage_never_raises(garbage: object) -> None:
    assert jwt.verify(garbage, secret=SECRET) is None  # type: ignore[arg-type]


def test_non_object_claims_are_rejected() -> None:
    key = OctKey.import_key(SECRET)
    token = jws.serialize_compact({"alg": "HS256"}, b"[1, 2, 3]", key)
    assert jwt.verify(token, secret=SECRET) is None


def test_iss_is_set_and_must_match() -> None:
    token = jwt.create({"sub": "u1"}, secret=SECRET, iss="https://shop.example")
    assert _claims(token)["iss"] == "https://shop.example"
    assert jwt.verify(token, secret=SECRET, iss="https://shop.example") is not None
    assert jwt.verify(token, secret=SECRET, iss="https://other.example") is None
    no_iss = jwt.create({"sub": "u1"}, secret=SECRET)
    assert "iss" not in _claims(no_iss)
    assert jwt.verify(no_iss, secret=SECRET, iss="https://shop.example") is None


def test_secret_falls_back_app_then_server(make_app: MakeApp) -> None:
    both = make_app("both", config={"jwt": {"secret": APP_SECRET}}, server={"jwt": {"secret": SECRET}})
    server_only = make_app("server_only", server={"jwt": {"secret": SECRET}})
    with app_context(both):
        token = jwt.create({"sub": "u1"})
        assert jwt.verify(token) is not None
    assert jwt.verify(token, secret=APP_SECRET) is not None
    assert jwt.verify(token, secret=SECRET) is None
    with app_context(server_only):
        token = jwt.create({"sub": "u1"})
        # An explicit secret wins over configuration.
        assert jwt.verify(token, secret=APP_SECRET) is None
    assert jwt.verify(token, secret=SECRET) is not None


def test_iss_falls_back_app_then_server(make_app: MakeApp) -> None:
    app = make_app(
        "issuer",
        config={"jwt": {"iss": "app-iss"}},
        server={"jwt": {"secret": SECRET, "iss": "server-iss"}},
    )
    server_iss = make_app("server_iss", server={"jwt": {"secret": SECRET, "iss": "server-iss"}})
    with app_context(app):
        token = jwt.create({"sub": "u1"})
        assert _claims(token)["iss"] == "app-iss"
        assert jwt.verify(token) is not None
        assert jwt.verify(token, iss="someone-else") is None
    with app_context(server_iss):
        assert jwt.verify(token) is None  # configured iss "server-iss" does not match "app-iss"
        assert _claims(jwt.create({}))["iss"] == "server-iss"


def test_missing_secret_says_where_to_set_it(make_app: MakeApp) -> None:
    with app_context(make_app("nosecret")), pytest.raises(ModuleConfigError) as info:
        jwt.create({"sub": "u1"})
    message = str(info.value)
    assert "app.json" in message and "gingee.json" in message and "secret" in message
    with pytest.raises(ModuleConfigError):
        jwt.verify("a.b.c")


def test_short_secret_is_a_config_error() -> None:
    with pytest.raises(ModuleConfigError, match="at least"):
        jwt.create({"sub": "u1"}, secret="short")
