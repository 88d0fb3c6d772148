"""Sealed cookie values: only our keys open them, unchanged, for their purpose and app, until they expire
(also when a value was opened before and is remembered), and rotation keeps old values open."""

from __future__ import annotations

import pytest

from gingee_kernel.modules.login import sealing
from gingee_kernel.modules.login.sealing import Sealer

OLD, NEW = b"o" * 32, b"n" * 32


def test_a_value_opens_only_unchanged_for_its_purpose_and_app() -> None:
    sealer = Sealer([OLD], "session")
    value = sealer.seal({"sub": "ada"}, audience="club", max_age=60)
    assert sealer.open(value, audience="club") == {"sub": "ada"}
    assert "ada" not in value  # encrypted, not only signed
    assert sealer.open(value, audience="other") is None
    assert Sealer([OLD], "login-state").open(value, audience="club") is None
    assert Sealer([NEW], "session").open(value, audience="club") is None
    head, key, iv, body, tag = value.split(".")
    flipped = body[:-2] + ("AA" if not body.endswith("AA") else "BB")
    assert Sealer([OLD], "session").open(".".join([head, key, iv, flipped, tag]), audience="club") is None
    assert sealer.open("", audience="club") is None and sealer.open("x" * 9000, audience="club") is None
    assert sealer.open("not.a.jwe", audience="club") is None


def test_rotation_opens_old_values_and_seals_with_the_new_key() -> None:
    old = Sealer([OLD], "session").seal({"n": 1}, audience="club", max_age=60)
    rotated = Sealer([NEW, OLD], "session")
    assert rotated.open(old, audience="club") == {"n": 1}
    fresh = rotated.seal({"n": 2}, audience="club", max_age=60)
    assert Sealer([NEW], "session").open(fresh, audience="club") == {"n": 2}
    assert Sealer([OLD], "session").open(fresh, audience="club") is None


def test_an_expired_value_is_refused_even_when_remembered(monkeypatch: pytest.MonkeyPatch) -> None:
    sealer = Sealer([OLD], "session")
    value = sealer.seal({"sub": "ada"}, audience="club", max_age=60)
    assert sealer.open(value, audience="club") == {"sub": "ada"}  # opened, and remembered
    now = sealing.time.time()
    monkeypatch.setattr(sealing.time, "time", lambda: now + 61)
    assert sealer.open(value, audience="club") is None
    assert Sealer([OLD], "session").open(value, audience="club") is None  # and when not remembered
