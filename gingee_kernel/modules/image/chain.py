"""`Image`: loaded bytes and the operations to run on them, nothing decoded until a terminal call."""

from __future__ import annotations

from typing import Any

from ...engine.context import require
from ..content import files
from ..content.offload import run_cpu
from ..content.picture import Picture
from ..content.settings import limits
from . import codec, render
from .steps import (
    BLACK,
    Composite,
    Crop,
    Filter,
    Greyscale,
    Resize,
    Rotate,
    Step,
    Turn,
    bad,
    number,
)

_ALIASES = {"jpg": "jpeg"}


class Image:
    """An input image and a chain of operations on it. Every operation returns a new Image with one
    more step (the original is unchanged, so one loaded image can feed several outputs); arguments are
    checked at once (ContentError INVALID_ARGUMENT); the work happens in one thread-pool job when a
    terminal (`to_bytes`, `to_file`, `to_object`) is awaited."""

    __slots__ = ("_data", "_format", "_quality", "_steps")

    def __init__(
        self,
        data: bytes,
        steps: tuple[Step, ...] = (),
        fmt: str | None = None,
        quality: int | None = None,
    ) -> None:
        self._data = data
        self._steps = steps
        self._format = fmt
        self._quality = quality

    def __repr__(self) -> str:
        names = ", ".join(type(step).__name__.lower() for step in self._steps) or "no steps"
        return f"<image.Image {len(self._data)} bytes: {names}; as {self._format or 'input format'}>"

    def _then(self, step: Step) -> Image:
        return Image(self._data, (*self._steps, step), self._format, self._quality)

    # ------------------------------------------------------------------ operations

    def resize(
        self,
        width: int | None = None,
        height: int | None = None,
        *,
        fit: str = "cover",
        background: Any = BLACK,
    ) -> Image:
        """Scale to `width` x `height` (Lanczos). With one of them None, the other side follows the
        aspect ratio. With both, `fit` says how (sharp's modes): "cover" (default) fills the box and
        crops the overflow around the centre, "contain" fits inside and letterboxes with `background`,
        "fill" stretches, "inside" fits inside (no letterbox: one side may be smaller), "outside" covers
        the box without cropping (one side may be larger). ContentTooLarge when the box alone is over
        max_pixels; other fits are checked against the input's size when the chain runs."""
        require("image")
        step = Resize(width, height, fit, background)
        exact = step.exact()
        if exact is not None:
            codec.check_pixels(exact, codec.pixel_limit(limits("image")["max_pixels"]), "the resize result")
        return self._then(step)

    def crop(self, left: int, top: int, width: int, height: int) -> Image:
        """Keep the `width` x `height` area whose top left corner is at (`left`, `top`). An area reaching
        outside the image is INVALID_ARGUMENT when the chain runs (the image's size is not known before)."""
        require("image")
        return self._then(Crop(left, top, width, height))

    def rotate(self, degrees: float, *, background: Any = None) -> Image:
        """Turn clockwise by `degrees` (as sharp). Multiples of 90 are exact; other angles grow the canvas
        to hold the whole picture, filled with `background` (default transparent when the image has alpha,
        black otherwise)."""
        require("image")
        return self._then(Rotate(degrees, background))

    def flip(self) -> Image:
        """Upside down (mirror about the horizontal axis), as sharp's flip."""
        require("image")
        return self._then(Turn(1))  # Pillow's FLIP_TOP_BOTTOM

    def flop(self) -> Image:
        """Mirror left to right, as sharp's flop."""
        require("image")
        return self._then(Turn(0))  # Pillow's FLIP_LEFT_RIGHT

    def greyscale(self) -> Image:
        """Grey levels only (alpha kept)."""
        require("image")
        return self._then(Greyscale())

    grayscale = greyscale

    def blur(self, radius: float = 2) -> Image:
        """Gaussian blur of `radius` pixels (0.1 to 1000)."""
        require("image")
        return self._then(Filter("GaussianBlur", radius=number("radius", radius, 0.1, 1000)))

    def sharpen(self, radius: float = 2, percent: int = 150, threshold: int = 3) -> Image:
        """Unsharp mask: `radius` (0.1 to 1000), strength in `percent` (1 to 1000), and the smallest
        brightness change (`threshold`, 0 to 255) that is sharpened."""
        require("image")
        return self._then(
            Filter(
                "UnsharpMask",
                radius=number("radius", radius, 0.1, 1000),
                percent=int(number("percent", percent, 1, 1000)),
                threshold=int(number("threshold", threshold, 0, 255)),
            )
        )

    def composite(
        self,
        overlay: Image | bytes,
        left: int = 0,
        top: int = 0,
        *,
        gravity: str | None = None,
        opacity: float = 1.0,
    ) -> Image:
        """Lay `overlay` (an Image, with its own chain, or encoded bytes) over this image, its top left
        corner at (`left`, `top`) or placed by `gravity` ("north", "southeast", "centre"...), its alpha
        respected and scaled by `opacity` (0 to 1). What falls outside the image is cut off; the result
        keeps this image's size."""
        require("image")
        if not isinstance(overlay, Image):
            overlay = load(overlay)
        return self._then(Composite(overlay, left, top, gravity, opacity))

    def format(self, fmt: str, quality: int | None = None) -> Image:
        """Encode as "png", "jpeg" ("jpg"), "webp" or "gif" (default: the input's format, or png when it
        is one of the others). `quality` (1-100, default 80) is for jpeg and webp only."""
        require("image")
        name = _ALIASES.get(fmt, fmt) if isinstance(fmt, str) else None
        if name not in codec.OUTPUTS:
            raise bad(f"format must be one of png, jpeg, webp, gif, not {fmt!r}")
        if quality is not None:
            if name not in ("jpeg", "webp"):
                raise bad(f"quality applies to jpeg and webp, not {name}")
            quality = int(number("quality", quality, 1, 100))
        return Image(self._data, self._steps, name, quality)

    # ------------------------------------------------------------------ terminals

    async def to_bytes(self) -> Picture:
        """Run the chain: the encoded image as a Picture (bytes with `.content_type`). INVALID_IMAGE for
        input that is not a readable image, IMAGE_TOO_LARGE past max_pixels (input, any step, output) or
        max_output_size (the encoded bytes)."""
        data, media, _ = await self._render()
        return Picture(data, media)

    async def to_file(self, scope: str, path: str) -> dict[str, Any]:
        """Run the chain and write the result to a confined file (needs the `fs` grant). Returns
        {"format", "width", "height", "size"} as sharp's toFile does."""
        data, media, (width, height) = await self._render()
        files.write_file(scope, path, data)
        return {"format": media.split("/")[1], "width": width, "height": height, "size": len(data)}

    async def to_object(self, key: str, store: str | None = None) -> Any:
        """Run the chain and store the result under `key` (needs the `storage` grant); the storage
        module's ObjectInfo, its content type the image's."""
        data, media, _ = await self._render()
        return await files.write_object(key, data, store, media)

    async def metadata(self) -> dict[str, Any]:
        """What the loaded input's header says, without decoding it and whatever the chain: width and
        height (upright, after EXIF orientation), format, Pillow mode, orientation (1-8), animated,
        has_alpha and size in bytes."""
        require("image")
        return await run_cpu("image", render.header, self, limits("image"))

    async def _render(self) -> tuple[bytes, str, tuple[int, int]]:
        require("image")
        return await run_cpu("image", render.render, self, limits("image"))


def load(data: bytes) -> Image:
    """An Image of encoded bytes (JPEG, PNG, GIF, WebP, TIFF or BMP). Only the size is checked now
    (max_input_size: ContentTooLarge INPUT_TOO_LARGE); whether it is an image shows when it runs."""
    require("image")
    codec.pil()
    return Image(files.as_bytes("image", data, limits("image")["max_input_size"]))
