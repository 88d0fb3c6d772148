"""The operations of a chain. Each checks its arguments when it is added (INVALID_ARGUMENT at chain time)
and, when the chain runs, first plans: from the size it receives it says the size it makes, before any
pixel exists, so every intermediate size is checked against the limit, then does the work on the pixels.

Sizes follow sharp: resize's fit modes, rotate clockwise, flip vertical and flop horizontal.
"""

from __future__ import annotations

import importlib
import math
from collections.abc import Callable
from typing import Any, Protocol

from ..content.errors import ContentError
from .codec import Box, has_alpha, pil

Size = tuple[int, int]
Op = Callable[[Any, Box], Any]  # (pixels, the area of them standing for the planned input) -> pixels
RGBA = tuple[int, int, int, int]

FITS = ("cover", "contain", "fill", "inside", "outside")
GRAVITIES = {
    "north": (0.5, 0.0), "northeast": (1.0, 0.0), "east": (1.0, 0.5), "southeast": (1.0, 1.0),
    "south": (0.5, 1.0), "southwest": (0.0, 1.0), "west": (0.0, 0.5), "northwest": (0.0, 0.0),
    "center": (0.5, 0.5), "centre": (0.5, 0.5),
}  # fmt: skip
MAX_SIDE = 1_000_000  # no format holds more; the pixel limit refuses far less anyway
BLACK: RGBA = (0, 0, 0, 255)


class Planner(Protocol):
    """What composite needs from the pipeline to plan and render its overlay."""

    def plan(self, image: Any) -> Any: ...
    def size(self, plan: Any) -> Size: ...
    def render(self, plan: Any) -> Any: ...


class Step:
    """One operation: `plan(size, planner)` returns the size it makes and the work to do."""

    def plan(self, size: Size, planner: Planner) -> tuple[Size, Op]:
        raise NotImplementedError


def bad(reason: str) -> ContentError:
    return ContentError("image", "INVALID_ARGUMENT", reason)


def side(name: str, value: Any) -> int:
    """A width or height: an int from 1 to MAX_SIDE."""
    if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= MAX_SIDE:
        raise bad(f"{name} must be a whole number of pixels from 1 to {MAX_SIDE}, not {value!r}")
    return value


def offset(name: str, value: Any) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or abs(value) > MAX_SIDE:
        raise bad(f"{name} must be a whole number of pixels, not {value!r}")
    return value


def number(name: str, value: Any, low: float, high: float) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float) or not low <= value <= high:
        raise bad(f"{name} must be a number from {low:g} to {high:g}, not {value!r}")
    return float(value)


def colour(value: Any) -> RGBA:
    """A colour: "#rrggbb", "#rrggbbaa", a CSS name, or an (r, g, b[, a]) tuple of 0-255."""
    if isinstance(value, str):
        pil()
        try:
            rgb = importlib.import_module("PIL.ImageColor").getrgb(value)
        except ValueError:
            raise bad(
                f"{value!r} is not a colour (use '#rrggbb', a CSS name or an (r, g, b) tuple)"
            ) from None
        return (*rgb, 255) if len(rgb) == 3 else rgb  # type: ignore[return-value]
    if (
        isinstance(value, tuple | list)
        and len(value) in (3, 4)
        and all(isinstance(c, int) and not isinstance(c, bool) and 0 <= c <= 255 for c in value)
    ):
        return (value[0], value[1], value[2], value[3] if len(value) == 4 else 255)
    raise bad(f"{value!r} is not a colour (use '#rrggbb', a CSS name or an (r, g, b) tuple of 0-255)")


def holding(picture: Any, fill: RGBA) -> tuple[Any, Any]:
    """`picture` in a mode that can show `fill`, and `fill` in that mode."""
    grey = fill[0] == fill[1] == fill[2]
    alpha = fill[3] < 255 or has_alpha(picture)
    mode = "RGB" if not (grey and picture.mode in ("L", "LA")) else "L"
    mode += "A" if alpha else ""
    if picture.mode != mode:
        picture = picture.convert(mode)
    values = {"L": fill[0], "LA": (fill[0], fill[3]), "RGB": fill[:3], "RGBA": fill}
    return picture, values[mode]


class Resize(Step):
    def __init__(self, width: Any, height: Any, fit: Any, background: Any) -> None:
        self.width = None if width is None else side("width", width)
        self.height = None if height is None else side("height", height)
        if self.width is None and self.height is None:
            raise bad("resize needs a width, a height or both")
        if fit not in FITS:
            raise bad(f"fit must be one of {', '.join(FITS)}, not {fit!r}")
        self.fit = fit
        self.background = colour(background)

    def exact(self) -> Size | None:
        """The output size when it does not depend on the input's."""
        if self.width and self.height and self.fit in ("cover", "contain", "fill"):
            return self.width, self.height
        return None

    def geometry(self, size: Size) -> tuple[Size, Box, Size]:
        """(output size, area of the input to use, size that area is scaled to) for an input of `size`."""
        w, h = size
        full: Box = (0.0, 0.0, float(w), float(h))
        if self.width is None or self.height is None:
            if self.width is not None:
                out = (self.width, max(1, round(h * self.width / w)))
            else:
                assert self.height is not None
                out = (max(1, round(w * self.height / h)), self.height)
            return out, full, out
        want = (self.width, self.height)
        if self.fit == "fill":
            return want, full, want
        if self.fit == "cover":
            if w * self.height > h * self.width:  # wider than wanted: keep the middle columns
                cut = h * self.width / self.height
                return want, ((w - cut) / 2, 0.0, (w + cut) / 2, float(h)), want
            cut = w * self.height / self.width
            return want, (0.0, (h - cut) / 2, float(w), (h + cut) / 2), want
        wider = w * self.height > h * self.width
        if (self.fit in ("inside", "contain")) == wider:
            scaled = (self.width, max(1, round(h * self.width / w)))
        else:
            scaled = (max(1, round(w * self.height / h)), self.height)
        return (want if self.fit == "contain" else scaled), full, scaled

    def plan(self, size: Size, planner: Planner) -> tuple[Size, Op]:
        out, box, scaled = self.geometry(size)
        letterbox = out != scaled

        def op(picture: Any, region: Box) -> Any:
            fx = (region[2] - region[0]) / size[0]
            fy = (region[3] - region[1]) / size[1]
            area = (region[0] + box[0] * fx, region[1] + box[1] * fy,
                    region[0] + box[2] * fx, region[1] + box[3] * fy)  # fmt: skip
            resized = picture.resize(scaled, pil().Resampling.LANCZOS, box=area)
            if not letterbox:
                return resized
            resized, fill = holding(resized, self.background)
            canvas = pil().new(resized.mode, out, fill)
            canvas.paste(resized, ((out[0] - scaled[0]) // 2, (out[1] - scaled[1]) // 2))
            return canvas

        return out, op


class Crop(Step):
    def __init__(self, left: Any, top: Any, width: Any, height: Any) -> None:
        self.left = offset("left", left)
        self.top = offset("top", top)
        if self.left < 0 or self.top < 0:
            raise bad(f"crop's left and top must be 0 or more, not {left}, {top}")
        self.width = side("width", width)
        self.height = side("height", height)

    def plan(self, size: Size, planner: Planner) -> tuple[Size, Op]:
        right, bottom = self.left + self.width, self.top + self.height
        if right > size[0] or bottom > size[1]:
            raise bad(
                f"the crop area ({self.left}, {self.top}, {self.width}x{self.height}) is outside the "
                f"{size[0]}x{size[1]} image"
            )
        area = (self.left, self.top, right, bottom)
        return (self.width, self.height), lambda picture, _: picture.crop(area)


class Rotate(Step):
    def __init__(self, degrees: Any, background: Any) -> None:
        self.degrees = number("degrees", degrees, -360_000, 360_000) % 360
        self.background = None if background is None else colour(background)

    def plan(self, size: Size, planner: Planner) -> tuple[Size, Op]:
        turns = {0.0: None, 90.0: 4, 180.0: 3, 270.0: 2}  # clockwise -> Pillow ROTATE_270/180/90
        if self.degrees in turns:
            method = turns[self.degrees]
            out = size if self.degrees in (0.0, 180.0) else (size[1], size[0])
            return out, (lambda p, _: p) if method is None else (lambda p, _: p.transpose(method))
        out = self.expanded(size)

        def op(picture: Any, region: Box) -> Any:
            fill = self.background or ((0, 0, 0, 0) if has_alpha(picture) else BLACK)
            picture, value = holding(picture, fill)
            return picture.rotate(
                -self.degrees, resample=pil().Resampling.BICUBIC, expand=True, fillcolor=value
            )

        return out, op

    def expanded(self, size: Size) -> Size:
        """The size Image.rotate(-degrees, expand=True) makes (its own arithmetic, done here first)."""
        w, h = size
        angle = -math.radians((-self.degrees) % 360.0)
        cos, sin = round(math.cos(angle), 15), round(math.sin(angle), 15)
        cx, cy = w / 2, h / 2
        tx, ty = cos * -cx + sin * -cy + cx, -sin * -cx + cos * -cy + cy
        xs = [cos * x + sin * y + tx for x, y in ((0, 0), (w, 0), (w, h), (0, h))]
        ys = [-sin * x + cos * y + ty for x, y in ((0, 0), (w, 0), (w, h), (0, h))]
        return math.ceil(max(xs)) - math.floor(min(xs)), math.ceil(max(ys)) - math.floor(min(ys))


class Turn(Step):
    """flip (upside down) and flop (mirror)."""

    def __init__(self, method: int) -> None:
        self.method = method

    def plan(self, size: Size, planner: Planner) -> tuple[Size, Op]:
        return size, lambda picture, _: picture.transpose(self.method)


class Greyscale(Step):
    def plan(self, size: Size, planner: Planner) -> tuple[Size, Op]:
        return size, lambda p, _: p.convert("LA" if has_alpha(p) else "L")


class Filter(Step):
    """blur (Gaussian) and sharpen (unsharp mask)."""

    def __init__(self, name: str, **args: float) -> None:
        self.name = name
        self.args = args

    def plan(self, size: Size, planner: Planner) -> tuple[Size, Op]:
        def op(picture: Any, region: Box) -> Any:
            pil()
            filters = importlib.import_module("PIL.ImageFilter")
            return picture.filter(getattr(filters, self.name)(**self.args))

        return size, op


class Composite(Step):
    def __init__(self, overlay: Any, left: Any, top: Any, gravity: Any, opacity: Any) -> None:
        self.overlay = overlay
        self.left = offset("left", left)
        self.top = offset("top", top)
        if gravity is not None and gravity not in GRAVITIES:
            raise bad(f"gravity must be one of {', '.join(GRAVITIES)}, not {gravity!r}")
        if gravity is not None and (self.left or self.top):
            raise bad("composite takes a gravity or a left/top offset, not both")
        self.gravity = gravity
        self.opacity = number("opacity", opacity, 0, 1)

    def plan(self, size: Size, planner: Planner) -> tuple[Size, Op]:
        overlay = planner.plan(self.overlay)
        ow, oh = planner.size(overlay)
        if self.gravity is None:
            x, y = self.left, self.top
        else:
            fx, fy = GRAVITIES[self.gravity]
            x, y = round((size[0] - ow) * fx), round((size[1] - oh) * fy)

        def op(picture: Any, region: Box) -> Any:
            box = (max(0, x), max(0, y), min(size[0], x + ow), min(size[1], y + oh))
            if box[0] >= box[2] or box[1] >= box[3] or self.opacity == 0:
                return picture  # entirely off the image, or invisible
            top = planner.render(overlay).convert("RGBA")
            top = top.crop((box[0] - x, box[1] - y, box[2] - x, box[3] - y))
            if self.opacity < 1:
                top.putalpha(top.getchannel("A").point(lambda a: a * self.opacity))
            keep = has_alpha(picture)
            base = picture.convert("RGBA") if picture.mode != "RGBA" else picture.copy()
            base.alpha_composite(top, dest=(box[0], box[1]))
            return base if keep else base.convert("RGB")  # the base was opaque, so it still is

        return size, op
