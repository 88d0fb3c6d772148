"""Running a chain, in the content pool: plan every step from the headers (input and overlays) so each
size is checked before anything is decoded, then decode, run the steps with a budget check between them,
and encode. One call of `render` or `header` is one run_cpu job."""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from ..content.offload import Budget
from . import codec
from .steps import Op, Resize, Size

if TYPE_CHECKING:
    from .chain import Image

_WRITES = {"JPEG": "jpeg", "PNG": "png", "WEBP": "webp", "GIF": "gif"}


@dataclass
class Plan:
    """A chain ready to run: its input opened (header only), its steps' work and sizes."""

    opened: Any
    turn: int
    draft: Size | None
    ops: list[tuple[Op, Size]]
    size: Size


class Pipeline:
    """Plans and renders chains (the main one and its overlays) within one budget and pixel limit."""

    def __init__(self, budget: Budget, max_pixels: int) -> None:
        self.budget = budget
        self.max_pixels = codec.pixel_limit(max_pixels)

    def plan(self, image: Image) -> Plan:
        opened = codec.open_header(image._data, self.max_pixels)
        turn = codec.orientation(opened)
        size = start = codec.oriented(opened.size, turn)
        ops: list[tuple[Op, Size]] = []
        for step in image._steps:
            size, op = step.plan(size, self)
            codec.check_pixels(size, self.max_pixels, f"the {type(step).__name__.lower()} result")
            ops.append((op, size))
        draft = None
        first = image._steps[0] if image._steps else None
        if isinstance(first, Resize) and opened.format == "JPEG":
            draft = _draft(first, start, turn)
        return Plan(opened, turn, draft, ops, size)

    def size(self, plan: Plan) -> Size:
        return plan.size

    def render(self, plan: Plan) -> Any:
        self.budget.check()
        picture, region = codec.decode(plan.opened, plan.turn, plan.draft)
        for op, _ in plan.ops:
            self.budget.check()
            picture = op(picture, region)
            region = (0.0, 0.0, float(picture.width), float(picture.height))
            codec.check_pixels(picture.size, self.max_pixels)  # as planned; a guard, never expected to fire
        return picture


def render(budget: Budget, image: Image, limits: dict[str, int]) -> tuple[bytes, str, Size]:
    """`image` run and encoded: (bytes, media type, size)."""
    pipeline = Pipeline(budget, limits["max_pixels"])
    plan = pipeline.plan(image)
    fmt = image._format or _WRITES.get(plan.opened.format, "png")
    _, media, most = codec.OUTPUTS[fmt]
    if max(plan.size) > most:
        raise codec.too_large(f"{fmt} holds at most {most} pixels a side; the image would be "
                              f"{plan.size[0]}x{plan.size[1]}: resize it or choose png")  # fmt: skip
    icc = codec.icc_of(plan.opened)
    picture = pipeline.render(plan)
    budget.check()
    data = codec.encode(picture, fmt, image._quality, icc)
    if len(data) > limits["max_output_size"]:
        raise codec.too_large(
            f"the encoded {fmt} is {len(data)} bytes, over the limit of {limits['max_output_size']} "
            '(app.json "image": {"max_output_size": ...})'
        )
    return data, media, plan.size


def header(budget: Budget, image: Image, limits: dict[str, int]) -> dict[str, Any]:
    """What the input's header says, nothing decoded."""
    opened = codec.open_header(image._data, codec.pixel_limit(limits["max_pixels"]))
    turn = codec.orientation(opened)
    width, height = codec.oriented(opened.size, turn)
    return {
        "width": width,
        "height": height,
        "format": opened.format.lower(),
        "mode": opened.mode,
        "orientation": turn,
        "animated": bool(getattr(opened, "is_animated", False)),
        "has_alpha": codec.plain_mode(opened.mode, opened.info) in ("LA", "RGBA"),
        "size": len(image._data),
    }


def _draft(first: Resize, start: Size, turn: int) -> Size | None:
    """The size to ask a JPEG decoder for when the chain starts by shrinking it: twice what the resize
    reads per output pixel (Pillow's thumbnail uses the same margin), in the file's own orientation."""
    _, box, scaled = first.geometry(start)
    fx, fy = scaled[0] / (box[2] - box[0]), scaled[1] / (box[3] - box[1])
    if fx > 0.5 or fy > 0.5:
        return None  # the decoder could not shrink by 2 without losing detail the resize needs
    want = (math.ceil(start[0] * fx * 2), math.ceil(start[1] * fy * 2))
    return codec.oriented(want, turn)
