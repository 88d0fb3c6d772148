"""image against hostile input: broken files, headers declaring 100000x100000 pixels in every accepted
format (built by hand, so no test allocates them), resizes and rotations past the pixel limit, animated
frames past it, inputs and outputs past their byte limits, formats with dangerous readers. Each is a
ContentError with its code and a message without a path, a Pillow name or a traceback; and Pillow's own
decompression-bomb check never sees a size over its limit (it would warn, and warnings fail tests here)."""

from __future__ import annotations

import gc
import io
import random
import re
import struct
import zlib
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from PIL import Image as PILImage

from gingee_kernel import image
from gingee_kernel.engine.app import AppRuntime
from gingee_kernel.engine.context import app_context
from gingee_kernel.modules import fs
from gingee_kernel.modules.content.errors import ContentError, ContentTooLarge
from tests.fixtures.apps import MakeApp
from tests.modules.content.test_image import decode, encode, png, quadrants

HUGE = 100_000


# ---------------------------------------------------------------- inputs built by hand


def _chunk(kind: bytes, body: bytes) -> bytes:
    return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))


def png_declaring(width: int, height: int, extra: bytes = b"") -> bytes:
    """A valid PNG header for `width` x `height` RGB, a few bytes of IDAT and IEND: under 100 bytes."""
    ihdr = _chunk(b"IHDR", struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0))
    return (
        b"\x89PNG\r\n\x1a\n"
        + ihdr
        + extra
        + _chunk(b"IDAT", zlib.compress(b"\0" * 64))
        + _chunk(b"IEND", b"")
    )


def jpeg_declaring(width: int, height: int) -> bytes:
    """SOI, a baseline SOF0 for `width` x `height` (3 components), a DQT, SOS and EOI."""
    dqt = b"\xff\xdb" + struct.pack(">H", 67) + b"\x00" + bytes(range(1, 65))
    sof = b"\xff\xc0" + struct.pack(">HBHHB", 17, 8, height, width, 3)
    sof += b"\x01\x22\x00\x02\x11\x00\x03\x11\x00"
    sos = b"\xff\xda" + struct.pack(">HB", 12, 3) + b"\x01\x00\x02\x11\x03\x11\x00\x3f\x00"
    return b"\xff\xd8" + dqt + sof + sos + b"\x00" * 32 + b"\xff\xd9"


def gif_declaring(screen: tuple[int, int], frame: tuple[int, int]) -> bytes:
    """A GIF with a `screen` logical size and one frame of `frame` size (Pillow grows its canvas)."""
    head = b"GIF89a" + struct.pack("<HHBBB", *screen, 0, 0, 0)
    descriptor = b"," + struct.pack("<HHHHB", 0, 0, *frame, 0)
    return head + descriptor + b"\x02\x02\x4c\x01\x00;"


def webp_declaring(width: int, height: int) -> bytes:
    """RIFF/WEBP with a VP8X chunk declaring a `width` x `height` canvas (WebP's limit is 16384)."""
    vp8x = b"VP8X" + struct.pack("<I", 10) + b"\x00\x00\x00\x00"
    vp8x += (width - 1).to_bytes(3, "little") + (height - 1).to_bytes(3, "little")
    body = b"WEBP" + vp8x
    return b"RIFF" + struct.pack("<I", len(body)) + body


def bmp_declaring(width: int, height: int) -> bytes:
    info = struct.pack("<IiiHHIIiiII", 40, width, height, 1, 24, 0, 0, 2835, 2835, 0, 0)
    return b"BM" + struct.pack("<IHHI", 14 + 40 + 16, 0, 0, 54) + info + b"\0" * 16


def tiff_declaring(width: int, height: int) -> bytes:
    """A 1x1 TIFF written by Pillow with its ImageWidth and ImageLength tags rewritten."""
    data = bytearray(encode(PILImage.new("L", (1, 1)), "TIFF"))
    assert data[:2] == b"II"
    (ifd,) = struct.unpack_from("<I", data, 4)
    (count,) = struct.unpack_from("<H", data, ifd)
    for i in range(count):
        entry = ifd + 2 + 12 * i
        tag, kind = struct.unpack_from("<HH", data, entry)
        if tag in (256, 257):
            value = width if tag == 256 else height
            struct.pack_into("<HHII", data, entry, tag, 4, 1, value)  # as a LONG
            assert kind in (3, 4)
    return bytes(data)


DECLARING: dict[str, Callable[[int, int], bytes]] = {
    "png": png_declaring,
    "jpeg": lambda w, h: jpeg_declaring(min(w, 65_535), min(h, 65_535)),
    "gif": lambda w, h: gif_declaring((min(w, 65_535), min(h, 65_535)), (1, 1)),
    "gif-frame": lambda w, h: gif_declaring((1, 1), (min(w, 65_535), min(h, 65_535))),
    "webp": lambda w, h: webp_declaring(min(w, 16_384), min(h, 16_384)),
    "bmp": bmp_declaring,
    "tiff": tiff_declaring,
}


# ---------------------------------------------------------------- fixtures


@pytest.fixture
def bomb_checks(monkeypatch: pytest.MonkeyPatch) -> list[tuple[int, int]]:
    """Every size Pillow's own decompression-bomb check is asked about."""
    seen: list[tuple[int, int]] = []
    original = PILImage._decompression_bomb_check

    def spy(size: tuple[int, int], **kwargs: Any) -> None:
        seen.append(tuple(size))  # type: ignore[arg-type]
        original(size, **kwargs)

    monkeypatch.setattr(PILImage, "_decompression_bomb_check", spy)
    return seen


@pytest.fixture
def app(make_app: MakeApp) -> Iterator[AppRuntime]:
    with app_context(make_app("pics", grants={"image", "fs"})) as running:
        yield running


def limited(make_app: MakeApp, **limits: Any) -> Any:
    return app_context(make_app("tight", config={"image": limits}, grants={"image", "fs", "storage"}))


def clean(error: ContentError) -> None:
    text = str(error)
    for leak in ("/", "\\", "Traceback", "BytesIO", "PIL"):
        assert leak not in text, text
    assert not re.search(r"\b0x[0-9a-f]{6,}", text), text  # no object address


# ---------------------------------------------------------------- broken and foreign input


@pytest.mark.parametrize(
    "data",
    [
        random.Random(7).randbytes(5000),
        b"",
        b"\xff\xd8\xff" + random.Random(8).randbytes(500),  # JPEG magic, garbage after
        b"\x89PNG\r\n\x1a\n" + b"\0" * 40,
        b"GIF89a\x01",
        b"RIFF\x10\x00\x00\x00WEBPVP8 ",
        b"%!PS-Adobe-3.0 EPSF-3.0\n%%BoundingBox: 0 0 10 10\n",  # EPS would run Ghostscript
        b"\x00\x00\x01\x00\x01\x00\x10\x10\x00\x00\x01\x00 \x00",  # ICO: not accepted
        b"8BPS\x00\x01",  # PSD: not accepted
        b"<svg xmlns='http://www.w3.org/2000/svg' width='10' height='10'/>",
    ],
)
async def test_non_images_and_foreign_formats_are_invalid_image(app: AppRuntime, data: bytes) -> None:
    loaded = image.load(data)  # loading only holds the bytes
    for call in (loaded.to_bytes, loaded.metadata):
        with pytest.raises(ContentError) as caught:
            await call()
        assert caught.value.code == "INVALID_IMAGE" and caught.value.status == 422
        clean(caught.value)


@pytest.mark.parametrize("fmt", ["JPEG", "PNG", "GIF", "TIFF"])
async def test_truncated_files_are_invalid_image_though_their_header_reads(app: AppRuntime, fmt: str) -> None:
    noise = PILImage.effect_noise((300, 200), 80).convert("RGB")
    whole = encode(noise, fmt)
    cut = image.load(whole[: len(whole) // 2])
    assert (await cut.metadata())["width"] == 300  # the header is intact
    with pytest.raises(ContentError) as caught:
        await cut.resize(50).to_bytes()
    assert caught.value.code == "INVALID_IMAGE" and f"{fmt} data is truncated or corrupt" in str(caught.value)
    clean(caught.value)


async def test_a_truncated_webp_is_invalid_image_from_its_header_on(app: AppRuntime) -> None:
    whole = encode(PILImage.effect_noise((300, 200), 80).convert("RGB"), "WEBP")
    cut = image.load(whole[: len(whole) // 2])  # Pillow's WebP reader decodes as it opens
    for call in (cut.metadata, cut.to_bytes):
        with pytest.raises(ContentError, match="WEBP header is broken") as caught:
            await call()
        assert caught.value.code == "INVALID_IMAGE"


async def test_a_compressed_text_chunk_bomb_is_invalid_image(app: AppRuntime) -> None:
    ztxt = _chunk(b"zTXt", b"Comment\0\0" + zlib.compress(b"a" * 32 * 2**20))  # 32 MB of text in 32 KB
    with pytest.raises(ContentError) as caught:
        await image.load(png_declaring(10, 10, ztxt)).to_bytes()
    assert caught.value.code == "INVALID_IMAGE"


async def test_a_file_that_is_not_an_image_names_no_server_path(app: AppRuntime) -> None:
    fs.write_bytes(fs.BOX, "notes/readme.png", b"just text, named .png")
    with pytest.raises(ContentError) as caught:
        await image.load_file(fs.BOX, "notes/readme.png").to_bytes()
    assert caught.value.code == "INVALID_IMAGE"
    clean(caught.value)


# ---------------------------------------------------------------- the pixel limit


@pytest.mark.parametrize("fmt", sorted(DECLARING))
async def test_headers_declaring_huge_images_are_refused_before_decoding(
    app: AppRuntime, bomb_checks: list[tuple[int, int]], fmt: str
) -> None:
    data = DECLARING[fmt](HUGE, HUGE)
    assert len(data) < 1000
    for call in (image.load(data).to_bytes, image.load(data).resize(10).to_bytes, image.load(data).metadata):
        with pytest.raises(ContentTooLarge) as caught:
            await call()
        assert caught.value.code == "IMAGE_TOO_LARGE" and caught.value.status == 413
        assert "over the limit of 50000000" in str(caught.value)
        clean(caught.value)
    ceiling = PILImage.MAX_IMAGE_PIXELS or 0
    assert all(w * h <= ceiling for w, h in bomb_checks), bomb_checks


async def test_max_pixels_above_pillows_limit_is_capped_so_pillow_never_warns(
    make_app: MakeApp, bomb_checks: list[tuple[int, int]]
) -> None:
    over_pillow = 10_000 * 10_000  # 100 MP: over MAX_IMAGE_PIXELS (89.5 MP), under twice it
    with limited(make_app, max_pixels=10**9):
        for data in (png_declaring(10_000, 10_000), gif_declaring((1, 1), (10_000, 10_000))):
            with pytest.raises(ContentTooLarge) as caught:
                await image.load(data).to_bytes()
            assert f"({over_pillow})" in str(caught.value)
        await image.load(png()).crop(0, 0, 10, 5).to_bytes()
    assert (10, 5) in bomb_checks  # the spy does see Pillow's checks (Image.crop runs one)
    assert all(w * h <= (PILImage.MAX_IMAGE_PIXELS or 0) for w, h in bomb_checks)


async def test_the_configured_pixel_limit_applies_to_input_and_every_step(make_app: MakeApp) -> None:
    with limited(make_app, max_pixels=10_000):
        small = image.load(png(quadrants(100, 100)))  # exactly 10,000 pixels
        assert decode(await small.to_bytes()).size == (100, 100)
        too_big = image.load(png(quadrants(101, 100)))
        with pytest.raises(ContentTooLarge, match="101x100"):
            await too_big.to_bytes()
        with pytest.raises(ContentTooLarge, match="rotate result would be 142x142"):
            await small.rotate(45).to_bytes()  # the rotated canvas grows past the limit
        with pytest.raises(ContentTooLarge, match="resize result"):
            small.resize(200, 100)  # an exact box is refused when the chain is built
        with pytest.raises(ContentTooLarge, match="resize result would be 2000x20"):
            await image.load(png(quadrants(100, 1))).resize(height=20).to_bytes()
        overlay = png_declaring(HUGE, HUGE)
        with pytest.raises(ContentTooLarge):
            await small.composite(overlay).to_bytes()


async def test_resizing_to_huge_dimensions_is_refused_before_allocating(app: AppRuntime) -> None:
    photo = image.load(png(quadrants(400, 300)))
    with pytest.raises(ContentTooLarge) as caught:
        photo.resize(HUGE, HUGE)
    assert caught.value.code == "IMAGE_TOO_LARGE" and "100000x100000" in str(caught.value)
    for chain in (photo.resize(width=HUGE), photo.resize(HUGE, 10, fit="outside"),
                  image.load(png(quadrants(2, 400))).resize(HUGE // 10, 20, fit="outside")):  # fmt: skip
        with pytest.raises(ContentTooLarge):
            await chain.to_bytes()


async def test_format_side_limits(app: AppRuntime) -> None:
    wide = image.load(png(quadrants(40, 20))).resize(20_000, 2, fit="fill")
    with pytest.raises(ContentTooLarge, match="webp holds at most 16383"):
        await wide.format("webp").to_bytes()
    assert decode(await wide.format("png").to_bytes()).size == (20_000, 2)


async def test_animated_input_decodes_only_its_first_frame(
    app: AppRuntime, bomb_checks: list[tuple[int, int]]
) -> None:
    """A multi-frame bomb (a small first frame, then frames declaring 60000x60000) costs one frame: the
    later frames are never decoded, so frames x pixels never adds up."""
    first = encode(PILImage.new("RGB", (16, 16), (255, 0, 0)), "GIF")
    bomb = b"," + struct.pack("<HHHHB", 0, 0, 60_000, 60_000, 0) + b"\x02\x02\x4c\x01\x00"
    animated = first[:-1] + bomb * 50 + b";"
    photo = image.load(animated)
    assert (await photo.metadata())["animated"] is True
    picture = decode(await photo.resize(8).to_bytes())
    assert picture.size == (8, 8) and picture.convert("RGB").getpixel((4, 4)) == (255, 0, 0)
    assert all(w * h <= (PILImage.MAX_IMAGE_PIXELS or 0) for w, h in bomb_checks)


# ---------------------------------------------------------------- byte limits


async def test_an_input_over_max_input_size_is_refused_before_it_is_read(make_app: MakeApp) -> None:
    data = png(PILImage.effect_noise((60, 60), 80))
    assert len(data) > 1000
    with limited(make_app, max_input_size=1000):
        for load in (
            lambda: image.load(data),
            lambda: (fs.write_bytes(fs.BOX, "big.png", data), image.load_file(fs.BOX, "big.png")),
        ):
            with pytest.raises(ContentTooLarge) as caught:
                load()
            assert caught.value.code == "INPUT_TOO_LARGE" and caught.value.status == 413
            clean(caught.value)
        assert (await image.load(png(PILImage.new("L", (5, 5)))).metadata())["width"] == 5


async def test_an_input_object_over_max_input_size_is_refused(make_app: MakeApp) -> None:
    from gingee_kernel.modules import storage

    data = png(PILImage.effect_noise((60, 60), 80))
    config = {"image": {"max_input_size": 1000}, "storage": [{"name": "pics", "driver": "local"}]}
    with app_context(make_app("objects", config=config, grants={"image", "storage"})):
        await storage.put("big.png", data, content_type="image/png")
        with pytest.raises(ContentTooLarge) as caught:
            await image.load_object("big.png")
        assert caught.value.code == "INPUT_TOO_LARGE"
    # The refused object was opened and closed unread: its file is closed all the same.
    readers = [o for o in gc.get_objects() if isinstance(o, io.BufferedReader) and not o.closed]
    still_open = [o for o in readers if str(getattr(o, "name", "")).endswith("big.png")]
    assert still_open == []


async def test_an_output_over_max_output_size_is_refused(make_app: MakeApp) -> None:
    noise = PILImage.effect_noise((100, 100), 80)
    with limited(make_app, max_output_size=2000):
        photo = image.load(png(noise))
        with pytest.raises(ContentTooLarge) as caught:
            await photo.to_bytes()
        assert caught.value.code == "IMAGE_TOO_LARGE" and "over the limit of 2000" in str(caught.value)
        with pytest.raises(ContentTooLarge):
            await photo.to_file(fs.BOX, "never.png")
        assert not fs.exists(fs.BOX, "never.png")
        assert len(await photo.resize(20).to_bytes()) <= 2000  # smaller output fits


async def test_pillows_own_message_stays_out_of_the_answer(app: AppRuntime) -> None:
    with pytest.raises(ContentError) as caught:
        await image.load(b"\xff\xd8\xff\xe0" + b"\x00" * 100).to_bytes()
    assert caught.value.__cause__ is not None  # kept for the server log, not shown to the client
    body = caught.value.body()
    assert body == {"error": "INVALID_IMAGE", "reason": "image: the JPEG header is broken"}
