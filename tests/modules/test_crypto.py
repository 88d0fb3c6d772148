"""The crypto module: passwords, HMAC, authenticated encryption, random strings and digests."""

from __future__ import annotations

import base64
import hashlib
import string

import pytest

from gingee_kernel.modules import crypto

SECRET = "an-app-secret-with-enough-entropy-42"


def _flip(package: str, index: int) -> str:
    raw = bytearray(base64.urlsafe_b64decode(package + "=" * (-len(package) % 4)))
    raw[index] ^= 0x01
    return base64.urlsafe_b64encode(bytes(raw)).rstrip(b"=").decode()


# --- passwords -------------------------------------------------------------------------------------


def test_password_hash_verifies_only_the_right_password() -> None:
    hashed = crypto.hash_password("correct horse")
    assert hashed.startswith("scrypt$")
    assert "correct horse" not in hashed
    assert crypto.verify_password("correct horse", hashed) is True
    assert crypto.verify_password("correct horsE", hashed) is False
    assert crypto.verify_password("", hashed) is False


def test_password_hashes_are_salted() -> None:
    first, second = crypto.hash_password("same"), crypto.hash_password("same")
    assert first != second
    assert crypto.verify_password("same", first) and crypto.verify_password("same", second)


def test_password_hash_is_self_describing() -> None:
    scheme, n, r, p, salt, digest = crypto.hash_password("pw").split("$")
    assert (scheme, n, r, p) == ("scrypt", "16384", "8", "1")
    raw_salt = base64.urlsafe_b64decode(salt + "=" * (-len(salt) % 4))
    expected = hashlib.scrypt(b"pw", salt=raw_salt, n=16384, r=8, p=1, dklen=32)
    assert base64.urlsafe_b64decode(digest + "=" * (-len(digest) % 4)) == expected


def test_password_hash_tampering_is_detected() -> None:
    hashed = crypto.hash_password("pw")
    scheme, n, r, p, salt, digest = hashed.split("$")
    other_salt = crypto.hash_password("pw").split("$")[4]
    assert crypto.verify_password("pw", "$".join([scheme, n, r, p, other_salt, digest])) is False
    assert crypto.verify_password("pw", "$".join([scheme, "8192", r, p, salt, digest])) is False


@pytest.mark.parametrize(
    "bad",
    [
        "",
        "garbage",
        "bcrypt$16384$8$1$c2FsdA$aGFzaA",
        "scrypt$abc$8$1$c2FsdA$aGFzaA",
        "scrypt$1000$8$1$c2FsdGllc3RzYWx0$aGFzaGhhc2hoYXNoaGFzaA",  # n not a power of two
        "scrypt$1073741824$8$1$c2FsdGllc3RzYWx0$aGFzaGhhc2hoYXNoaGFzaA",  # absurd cost
        "scrypt$16384$8$1$!!!$???",
        "scrypt$16384$8$1$$",
    ],
)
def test_verify_password_rejects_malformed_hashes(bad: str) -> None:
    assert crypto.verify_password("pw", bad) is False


def test_verify_password_rejects_non_string_hash() -> None:
    assert crypto.verify_password("pw", None) is False  # type: ignore[arg-type]


# --- HMAC ------------------------------------------------------------------------------------------


def test_hmac_matches_rfc_4231_vector() -> None:
    # RFC 4231 test case 2.
    assert crypto.hmac_sha256("what do ya want for nothing?", "Jefe") == (
        "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843"
    )


def test_hmac_verify_accepts_valid_and_rejects_changes() -> None:
    sig = crypto.hmac_sha256("payload", SECRET)
    assert crypto.hmac_verify("payload", sig, SECRET) is True
    assert crypto.hmac_verify(b"payload", sig.upper(), SECRET.encode()) is True
    assert crypto.hmac_verify("payload!", sig, SECRET) is False
    assert crypto.hmac_verify("payload", sig, SECRET + "x") is False
    flipped = ("0" if sig[0] != "0" else "1") + sig[1:]
    assert crypto.hmac_verify("payload", flipped, SECRET) is False
    assert crypto.hmac_verify("payload", sig[:-2], SECRET) is False
    assert crypto.hmac_verify("payload", "", SECRET) is False
    assert crypto.hmac_verify("payload", "é" * 64, SECRET) is False
    assert crypto.hmac_verify("payload", None, SECRET) is False  # type: ignore[arg-type]


# --- encryption ------------------------------------------------------------------------------------


def test_encrypt_round_trip_including_unicode() -> None:
    text = "card 4242 — ключ 🔑"
    package = crypto.encrypt(text, SECRET)
    assert "4242" not in package
    assert crypto.decrypt(package, SECRET) == text
    assert crypto.decrypt(crypto.encrypt("", SECRET), SECRET) == ""


def test_encrypt_is_randomised() -> None:
    assert crypto.encrypt("same", SECRET) != crypto.encrypt("same", SECRET)


def test_decrypt_with_wrong_secret_returns_none() -> None:
    package = crypto.encrypt("hello", SECRET)
    assert crypto.decrypt(package, SECRET + "!") is None
    assert crypto.decrypt(package, "") is None


@pytest.mark.parametrize(
    ("part", "index"),
    [
        ("version", 0),
        ("salt", 1),
        ("salt", 16),
        ("nonce", 17),
        ("nonce", 28),
        ("ciphertext", 29),
        ("tag", -1),
        ("tag", -16),
    ],
)
def test_decrypt_detects_a_flipped_byte_in_every_part(part: str, index: int) -> None:
    package = crypto.encrypt("attack at dawn", SECRET)
    assert crypto.decrypt(_flip(package, index), SECRET) is None, part


@pytest.mark.parametrize(
    "bad",
    ["", "not base64 at all!", "AAAA", "é", crypto.encrypt("x", SECRET)[:-4], None, 42, b"bytes"],
)
def test_decrypt_never_raises_on_malformed_packages(bad: object) -> None:
    assert crypto.decrypt(bad, SECRET) is None  # type: ignore[arg-type]


def test_encrypt_refuses_an_empty_secret() -> None:
    with pytest.raises(ValueError, match="secret"):
        crypto.encrypt("x", "")


# --- random strings and digests ----------------------------------------------------------------------


def test_random_string_length_alphabet_and_uniqueness() -> None:
    value = crypto.random_string()
    assert len(value) == 32
    assert set(value) <= set(string.ascii_letters + string.digits)
    assert len(crypto.random_string(7)) == 7
    assert crypto.random_string(0) == ""
    letters = crypto.random_string(500, letters_only=True)
    assert set(letters) <= set(string.ascii_letters)
    assert len({crypto.random_string() for _ in range(50)}) == 50
    with pytest.raises(ValueError):
        crypto.random_string(-1)


def test_sha256_known_vectors() -> None:
    assert crypto.sha256("abc") == "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
    assert crypto.sha256(b"abc") == crypto.sha256("abc")
    assert crypto.sha256("é") == hashlib.sha256("é".encode()).hexdigest()
