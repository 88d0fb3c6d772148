"""image: every operation checked on decoded output (sizes, pixel colours of synthetic images), EXIF
orientation and stripping, formats and quality, the grant gates, files and storage round trips, and the
missing-Pillow message. Hostile inputs are in test_image_hostile.py, the served script in
test_image_served.py."""

from __future__ import annotations

import io
import subprocess
import sys
import time
from collections.abc import Iterator
from typing import Any

import pytest
from PIL import Image as PILImage
from PIL import ImageCms

from gingee_kernel import image
from gingee_kernel.engine.app import AppRuntime
from gingee_kernel.engine.context import app_context, set_deadline
from gingee_kernel.errors import PermissionDenied
from gingee_kernel.modules import fs
from gingee_kernel.modules.content.errors import ContentError, ContentTooLarge, MissingExtra
from gingee_kernel.modules.content.offload import ContentTimeout
from gingee_kernel.modules.content.picture import Picture
from tests.fixtures.apps import MakeApp

RED, GREEN, BLUE, WHITE, BLACK = (255, 0, 0), (0, 255, 0), (0, 0, 255), (255, 255, 255), (0, 0, 0)


# ---------------------------------------------------------------- helpers


def encode(picture: PILImage.Image, fmt: str = "PNG", **params: Any) -> bytes:
    out = io.BytesIO()
    picture.save(out, format=fmt, **params)
    return out.getvalue()


def decode(data: bytes) -> PILImage.Image:
    picture = PILImage.open(io.BytesIO(data))
    picture.load()
    return picture


def quadrants(width: int = 40, height: int = 20, mode: str = "RGB") -> PILImage.Image:
    """Top left red, top right green, bottom left blue, bottom right white."""
    picture = PILImage.new(mode, (width, height))
    w, h = width // 2, height // 2
    for box, rgb in (((0, 0, w, h), RED), ((w, 0, width, h), GREEN), ((0, h, w, height), BLUE),
                     ((w, h, width, height), WHITE)):  # fmt: skip
        picture.paste(rgb if mode == "RGB" else (*rgb, 255), box)
    return picture


def near(pixel: Any, rgb: tuple[int, ...], tolerance: int = 12) -> bool:
    return all(abs(a - b) <= tolerance for a, b in zip(pixel, rgb, strict=False))


def png(picture: PILImage.Image | None = None) -> bytes:
    return encode(picture or quadrants())


async def out(img: image.Image) -> PILImage.Image:
    return decode(await img.to_bytes())


@pytest.fixture
def app(make_app: MakeApp) -> Iterator[AppRuntime]:
    with app_context(make_app("pics", grants={"image", "fs"})) as running:
        yield running


# ---------------------------------------------------------------- loading and the output


async def test_load_runs_nothing_and_to_bytes_gives_a_picture_in_the_input_format(app: AppRuntime) -> None:
    loaded = image.load(png())
    assert isinstance(loaded, image.Image)
    result = await loaded.to_bytes()
    assert isinstance(result, Picture) and result.content_type == "image/png"
    decoded = decode(result)
    assert decoded.format == "PNG" and decoded.size == (40, 20)
    assert decoded.convert("RGB").getpixel((0, 0)) == RED
    jpeg = await image.load(encode(quadrants(), "JPEG")).to_bytes()
    assert jpeg.content_type == "image/jpeg" and decode(jpeg).format == "JPEG"


@pytest.mark.parametrize("fmt", ["BMP", "TIFF"])
async def test_formats_pillow_reads_but_we_do_not_write_come_out_as_png(app: AppRuntime, fmt: str) -> None:
    result = await image.load(encode(quadrants(), fmt)).to_bytes()
    assert result.content_type == "image/png"
    assert decode(result).convert("RGB").getpixel((39, 19)) == WHITE


async def test_a_chain_is_immutable_so_one_load_feeds_several_outputs(app: AppRuntime) -> None:
    photo = image.load(png())
    small, tall = photo.resize(10, 5), photo.rotate(90)
    assert (await out(photo)).size == (40, 20)
    assert (await out(small)).size == (10, 5)
    assert (await out(tall)).size == (20, 40)


# ---------------------------------------------------------------- resize


@pytest.mark.parametrize(
    ("fit", "size"),
    [("cover", (100, 100)), ("contain", (100, 100)), ("fill", (100, 100)), ("inside", (100, 75)),
     ("outside", (133, 100))],
)  # fmt: skip
async def test_fit_modes_give_sharps_dimensions(app: AppRuntime, fit: str, size: tuple[int, int]) -> None:
    photo = image.load(png(quadrants(400, 300)))
    assert (await out(photo.resize(100, 100, fit=fit))).size == size


async def test_one_side_keeps_the_aspect_ratio(app: AppRuntime) -> None:
    photo = image.load(png(quadrants(400, 300)))
    assert (await out(photo.resize(width=200))).size == (200, 150)
    assert (await out(photo.resize(height=30))).size == (40, 30)
    assert (await out(photo.resize(width=1000))).size == (1000, 750)  # enlarging is allowed


async def test_cover_keeps_the_middle_and_contain_letterboxes_with_the_background(app: AppRuntime) -> None:
    bands = PILImage.new("RGB", (300, 100), RED)
    bands.paste(GREEN, (100, 0, 200, 100))
    bands.paste(BLUE, (200, 0, 300, 100))
    photo = image.load(png(bands))
    cover = (await out(photo.resize(50, 50))).convert("RGB")
    assert all(near(cover.getpixel((x, y)), GREEN) for x in (1, 25, 48) for y in (0, 49))
    contain = (await out(photo.resize(60, 60, fit="contain", background="#ffff00"))).convert("RGB")
    assert contain.size == (60, 60)
    assert contain.getpixel((30, 5)) == (255, 255, 0) and contain.getpixel((30, 55)) == (255, 255, 0)
    assert near(contain.getpixel((2, 30)), RED) and near(contain.getpixel((30, 30)), GREEN)
    fill = (await out(photo.resize(30, 90, fit="fill"))).convert("RGB")
    assert near(fill.getpixel((2, 45)), RED) and near(fill.getpixel((27, 45)), BLUE)


async def test_contain_on_transparent_background_keeps_alpha(app: AppRuntime) -> None:
    photo = image.load(png(quadrants(40, 20)))
    padded = await out(photo.resize(40, 40, fit="contain", background=(0, 0, 0, 0)))
    assert padded.mode == "RGBA" and padded.getpixel((20, 2))[3] == 0 and padded.getpixel((5, 15))[3] == 255


# ---------------------------------------------------------------- geometry and filters


async def test_crop_keeps_the_area_asked_for(app: AppRuntime) -> None:
    cropped = (await out(image.load(png()).crop(20, 0, 20, 10))).convert("RGB")
    assert cropped.size == (20, 10)
    assert {cropped.getpixel((x, y)) for x in range(20) for y in range(10)} == {GREEN}


async def test_rotate_is_clockwise_and_flip_flop_mirror_as_sharp(app: AppRuntime) -> None:
    photo = image.load(png())
    turned = (await out(photo.rotate(90))).convert("RGB")
    assert turned.size == (20, 40)
    assert turned.getpixel((19, 0)) == RED and turned.getpixel((0, 0)) == BLUE  # top left went right
    assert (await out(photo.rotate(-90))).convert("RGB").getpixel((0, 39)) == RED
    upside = (await out(photo.rotate(180))).convert("RGB")
    assert upside.getpixel((39, 19)) == RED
    flipped = (await out(photo.flip())).convert("RGB")
    assert flipped.getpixel((0, 19)) == RED and flipped.getpixel((0, 0)) == BLUE
    flopped = (await out(photo.flop())).convert("RGB")
    assert flopped.getpixel((39, 0)) == RED and flopped.getpixel((0, 0)) == GREEN


async def test_rotate_by_an_angle_grows_the_canvas_and_fills_it(app: AppRuntime) -> None:
    square = PILImage.new("RGB", (100, 100), WHITE)
    turned = (await out(image.load(png(square)).rotate(45, background="red"))).convert("RGB")
    assert turned.size == square.rotate(-45, expand=True).size == (142, 142)
    assert turned.getpixel((2, 2)) == RED and turned.getpixel((71, 71)) == WHITE
    clear = await out(image.load(png(square.convert("RGBA"))).rotate(30))
    assert clear.mode == "RGBA" and clear.getpixel((1, 1))[3] == 0  # transparent corners by default
    black = (await out(image.load(png(square)).rotate(30))).convert("RGB")
    assert black.getpixel((1, 1)) == BLACK


async def test_greyscale_keeps_alpha(app: AppRuntime) -> None:
    grey = await out(image.load(png()).greyscale())
    assert grey.mode == "L"
    assert grey.getpixel((0, 0)) == round(255 * 0.299) and grey.getpixel((39, 19)) == 255
    with_alpha = await out(image.load(png(quadrants(mode="RGBA"))).grayscale())
    assert with_alpha.mode == "LA"


async def test_blur_softens_an_edge_and_sharpen_steepens_it(app: AppRuntime) -> None:
    edge = PILImage.new("L", (60, 20), 60)
    edge.paste(180, (30, 0, 60, 20))
    photo = image.load(png(edge))
    blurred = await out(photo.blur(3))
    assert 60 < blurred.getpixel((29, 10)) < 180 and 60 < blurred.getpixel((30, 10)) < 180
    assert blurred.getpixel((2, 10)) == 60
    sharp = await out(photo.sharpen(radius=2, percent=200, threshold=0))
    assert sharp.getpixel((29, 10)) < 60 and sharp.getpixel((30, 10)) > 180  # overshoot both sides


async def test_composite_puts_the_overlay_where_asked(app: AppRuntime) -> None:
    base = image.load(png(PILImage.new("RGB", (100, 80), WHITE)))
    dot = png(PILImage.new("RGB", (10, 10), BLUE))
    placed = (await out(base.composite(dot, 30, 20))).convert("RGB")
    assert placed.size == (100, 80)
    assert placed.getpixel((30, 20)) == BLUE and placed.getpixel((39, 29)) == BLUE
    assert placed.getpixel((29, 20)) == WHITE and placed.getpixel((40, 30)) == WHITE
    corner = (await out(base.composite(dot, gravity="southeast"))).convert("RGB")
    assert corner.getpixel((99, 79)) == BLUE and corner.getpixel((89, 69)) == WHITE
    middle = (await out(base.composite(dot, gravity="centre"))).convert("RGB")
    assert middle.getpixel((50, 40)) == BLUE and middle.getpixel((44, 34)) == WHITE


async def test_composite_respects_alpha_opacity_and_clips_at_the_edges(app: AppRuntime) -> None:
    base = image.load(png(PILImage.new("RGB", (50, 50), WHITE)))
    ring = PILImage.new("RGBA", (20, 20), (*RED, 255))
    ring.paste((0, 0, 0, 0), (5, 5, 15, 15))  # a transparent hole
    layered = (await out(base.composite(png(ring), 10, 10))).convert("RGB")
    assert layered.getpixel((11, 11)) == RED and layered.getpixel((20, 20)) == WHITE
    faint = (await out(base.composite(png(ring), 10, 10, opacity=0.5))).convert("RGB")
    assert near(faint.getpixel((11, 11)), (255, 128, 128), 2)
    clipped = (await out(base.composite(png(ring), 40, -10))).convert("RGB")
    assert clipped.size == (50, 50) and clipped.getpixel((40, 0)) == RED and clipped.getpixel((49, 9)) == RED
    assert clipped.getpixel((39, 0)) == WHITE and clipped.getpixel((40, 10)) == WHITE  # outside the overlay
    assert clipped.getpixel((45, 2)) == WHITE  # the hole, 10 rows down in the overlay
    # the overlay may be an Image with its own chain
    shrunk = image.load(png(ring)).resize(4, 4, fit="fill")
    small = (await out(base.composite(shrunk, 0, 0))).convert("RGB")
    assert near(small.getpixel((0, 0)), RED, 30) and small.getpixel((5, 5)) == WHITE


# ---------------------------------------------------------------- formats, quality, metadata


async def test_format_quality_changes_the_size(app: AppRuntime) -> None:
    noisy = PILImage.effect_noise((200, 200), 64).convert("RGB")
    photo = image.load(png(noisy))
    low = await photo.format("jpeg", quality=10).to_bytes()
    high = await photo.format("jpg", quality=95).to_bytes()
    default = await photo.format("jpeg").to_bytes()
    assert low.content_type == high.content_type == "image/jpeg"
    assert len(low) < len(default) < len(high)
    assert decode(low).size == (200, 200)
    webp = await photo.format("webp", quality=30).to_bytes()
    assert webp.content_type == "image/webp" and decode(webp).format == "WEBP"
    gif = await photo.resize(50).format("gif").to_bytes()
    assert gif.content_type == "image/gif" and decode(gif).size == (50, 50)


async def test_jpeg_from_transparent_png_is_flattened_on_white(app: AppRuntime) -> None:
    clear = PILImage.new("RGBA", (20, 20), (0, 0, 0, 0))
    flat = decode(await image.load(png(clear)).format("jpeg").to_bytes())
    assert flat.mode == "RGB" and near(flat.getpixel((10, 10)), WHITE, 2)


def _exif(orientation: int, gps: bool = False) -> bytes:
    exif = PILImage.Exif()
    exif[0x0112] = orientation
    exif[0x010F] = "Gingee Cam"  # Make
    if gps:
        exif[0x8825] = {1: "N", 2: (51.0, 30.0, 0.0), 3: "W", 4: (0.0, 7.0, 0.0)}
    return exif.tobytes()


async def test_exif_orientation_is_applied_and_metadata_reports_it(app: AppRuntime) -> None:
    stored = quadrants(40, 20)  # as the sensor stored it; orientation 6 = display turned 90 clockwise
    photo = image.load(encode(stored, "JPEG", quality=95, exif=_exif(6)))
    meta = await photo.metadata()
    assert meta == {"width": 20, "height": 40, "format": "jpeg", "mode": "RGB", "orientation": 6,
                    "animated": False, "has_alpha": False, "size": meta["size"]}  # fmt: skip
    upright = (await out(photo)).convert("RGB")
    assert upright.size == (20, 40)
    assert near(upright.getpixel((18, 2)), RED) and near(upright.getpixel((1, 2)), BLUE)
    # draft decoding (a JPEG shrunk at decode) stays aligned with the orientation
    big = quadrants(800, 400)
    small = (await out(image.load(encode(big, "JPEG", exif=_exif(3))).resize(width=100))).convert("RGB")
    assert (
        small.size == (100, 50)
        and near(small.getpixel((99, 49)), RED)
        and near(small.getpixel((0, 0)), WHITE)
    )


async def test_exif_and_other_metadata_are_stripped_but_the_icc_profile_is_kept(app: AppRuntime) -> None:
    srgb = ImageCms.ImageCmsProfile(ImageCms.createProfile("sRGB")).tobytes()
    source = encode(quadrants(), "JPEG", exif=_exif(1, gps=True), icc_profile=srgb, comment=b"secret")
    assert decode(source).info.get("exif")  # the input does carry EXIF with GPS
    for fmt in ("jpeg", "png", "webp"):
        result = decode(await image.load(source).format(fmt).to_bytes())
        assert "exif" not in result.info and not result.getexif(), fmt
        assert "comment" not in result.info and "xmp" not in result.info, fmt
        assert result.info.get("icc_profile") == srgb, fmt
    texts = PILImage.new("RGB", (8, 8))
    from PIL.PngImagePlugin import PngInfo

    info = PngInfo()
    info.add_text("Author", "Ada at 51.5N 0.1W")
    result = decode(await image.load(encode(texts, pnginfo=info)).to_bytes())
    assert "Author" not in result.info
    grey = decode(await image.load(source).greyscale().format("png").to_bytes())
    assert "icc_profile" not in grey.info  # an RGB profile on grey pixels would be wrong


async def test_palette_cmyk_and_16_bit_inputs_become_plain_modes(app: AppRuntime) -> None:
    palette = quadrants().convert("P")
    assert (await out(image.load(png(palette)).resize(20))).convert("RGB").getpixel((0, 0)) == RED
    cmyk = encode(PILImage.new("CMYK", (10, 10), (0, 255, 255, 0)), "JPEG")
    as_png = await image.load(cmyk).format("png").to_bytes()
    assert decode(as_png).mode == "RGB" and near(decode(as_png).getpixel((5, 5)), RED, 20)
    deep = PILImage.new("I;16", (10, 10), 40000)
    assert (await out(image.load(png(deep)).blur(1))).getpixel((5, 5)) == round(40000 / 257)


async def test_animated_gif_gives_its_first_frame(app: AppRuntime) -> None:
    frames = [PILImage.new("RGB", (16, 16), rgb) for rgb in (RED, GREEN, BLUE)]
    data = encode(frames[0], "GIF", save_all=True, append_images=frames[1:], duration=50, loop=0)
    photo = image.load(data)
    assert (await photo.metadata())["animated"] is True
    first = decode(await photo.to_bytes())
    assert first.format == "GIF" and not getattr(first, "is_animated", False)
    assert first.convert("RGB").getpixel((8, 8)) == RED


# ---------------------------------------------------------------- arguments


@pytest.mark.parametrize(
    "call",
    [
        lambda i: i.resize(-5, 10),
        lambda i: i.resize(0),
        lambda i: i.resize(True),
        lambda i: i.resize(10.5),
        lambda i: i.resize(),
        lambda i: i.resize(10, 10, fit="stretch"),
        lambda i: i.resize(10, 10, fit="contain", background="not-a-colour"),
        lambda i: i.resize(10, 10, fit="contain", background=(300, 0, 0)),
        lambda i: i.crop(-1, 0, 5, 5),
        lambda i: i.crop(0, 0, 0, 5),
        lambda i: i.rotate("90"),
        lambda i: i.blur(0),
        lambda i: i.sharpen(percent=0),
        lambda i: i.composite(i, gravity="up"),
        lambda i: i.composite(i, 5, 5, gravity="north"),
        lambda i: i.composite(i, opacity=2),
        lambda i: i.format("bmp"),
        lambda i: i.format(["png"]),
        lambda i: i.format("png", quality=50),
        lambda i: i.format("jpeg", quality=0),
    ],
)
def test_bad_arguments_are_refused_when_the_chain_is_built(app: AppRuntime, call: Any) -> None:
    with pytest.raises(ContentError) as caught:
        call(image.load(png()))
    assert caught.value.code == "INVALID_ARGUMENT" and caught.value.status == 422


async def test_a_crop_outside_the_image_is_refused_before_decoding(app: AppRuntime) -> None:
    chain = image.load(png()).crop(30, 0, 20, 10)  # the size is only known from the header
    with pytest.raises(ContentError) as caught:
        await chain.to_bytes()
    assert caught.value.code == "INVALID_ARGUMENT" and "40x20" in str(caught.value)


# ---------------------------------------------------------------- grants, files, storage, budget


async def test_every_call_needs_the_image_grant(make_app: MakeApp, app: AppRuntime) -> None:
    photo = image.load(png())
    with app_context(make_app("plain", grants={"fs", "storage"})):
        with pytest.raises(PermissionDenied, match="image"):
            image.load(png())
        with pytest.raises(PermissionDenied, match="image"):
            image.load_file(fs.BOX, "a.png")
        with pytest.raises(PermissionDenied, match="image"):
            await image.load_object("a.png")
        with pytest.raises(PermissionDenied, match="image"):
            photo.resize(10)
        with pytest.raises(PermissionDenied, match="image"):
            await photo.to_bytes()
        with pytest.raises(PermissionDenied, match="image"):
            await photo.metadata()


async def test_files_go_through_fs_and_its_grant(make_app: MakeApp, app: AppRuntime) -> None:
    fs.write_bytes(fs.BOX, "in/photo.png", png())
    info = await image.load_file(fs.BOX, "in/photo.png").resize(20).format("webp").to_file(fs.BOX, "t.webp")
    assert info == {"format": "webp", "width": 20, "height": 10, "size": info["size"]}
    written = fs.read_bytes(fs.BOX, "t.webp")
    assert len(written) == info["size"] and decode(written).size == (20, 10)
    with pytest.raises(FileNotFoundError):
        image.load_file(fs.BOX, "missing.png")
    with app_context(make_app("nofs", grants={"image"})):
        with pytest.raises(PermissionDenied, match="fs"):
            image.load_file(fs.BOX, "in/photo.png")
        with pytest.raises(PermissionDenied, match="fs"):
            await image.load(png()).to_file(fs.BOX, "out.png")


async def test_storage_round_trip(make_app: MakeApp) -> None:
    config = {"storage": [{"name": "pics", "driver": "local"}]}
    with app_context(make_app("shop", config=config, grants={"image", "storage"})):
        stored = await image.load(png(quadrants(400, 200))).resize(100).format("webp").to_object("t/a.webp")
        assert stored.content_type == "image/webp" and stored.size > 0
        again = await image.load_object("t/a.webp", store="pics")
        assert (await again.metadata())["width"] == 100
        assert (await out(again.rotate(90))).size == (50, 100)


async def test_a_spent_budget_stops_the_work(app: AppRuntime) -> None:
    with set_deadline(time.monotonic() - 1), pytest.raises(ContentTimeout):
        await image.load(png()).resize(10).to_bytes()


# ---------------------------------------------------------------- without Pillow


async def test_without_pillow_the_first_call_says_what_to_install(
    app: AppRuntime, monkeypatch: pytest.MonkeyPatch
) -> None:
    for name in [n for n in sys.modules if n == "PIL" or n.startswith("PIL.")]:
        monkeypatch.setitem(sys.modules, name, None)
    with pytest.raises(MissingExtra, match=r"pip install 'gingee\[image\]'") as caught:
        image.load(b"\x89PNG\r\n\x1a\n")
    assert caught.value.package == "Pillow" and caught.value.module == "image"


def test_the_module_imports_without_pillow() -> None:
    code = (
        "import sys; sys.modules['PIL'] = None; sys.modules['PIL.Image'] = None\n"
        "from gingee_kernel import image\n"
        "assert callable(image.load) and image.Image\n"
        "print('ok')"
    )
    run = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert run.returncode == 0 and run.stdout.strip() == "ok", run.stderr


def test_public_surface() -> None:
    assert sorted(image.__all__) == sorted(
        ["ContentError", "ContentTooLarge", "Image", "MissingExtra", "Picture", "load", "load_file",
         "load_object"]
    )  # fmt: skip
    assert image.ContentTooLarge is ContentTooLarge
