"""Gingee's image module against Pillow called directly: a 12-megapixel JPEG resized to 800 px wide and
encoded as JPEG, side by side in one run.

    python bench/image_resize.py [--rounds 15] [--size 4000x3000] [--width 800] [--quality 80] [--json]

Input: one JPEG made in memory before timing (quality 90, `--size`, 4000x3000 by default): a colour
gradient with Gaussian noise over it, so it compresses like a photo rather than a flat test card.

gingee: inside an app context with the `image` grant, one asyncio loop; each round awaits
`image.load(data).resize(width=W).format("jpeg", quality=Q).to_bytes()`, which runs in the content
thread pool (one run_cpu job): read the header, check the limits, plan the sizes, decode with JPEG draft
(the decoder shrinks by 2, 4 or 8 while it decodes, to no less than twice the output, as Pillow's
thumbnail does; sharp's shrink-on-load is the same idea), apply the EXIF orientation, resize (Lanczos),
encode with the metadata stripped.

direct: the same work written by hand with Pillow, as a developer would in a script: Image.open,
draft to the same size, ImageOps.exif_transpose (in place), resize with Lanczos to the same size over the
area draft reports, save as JPEG at the same quality. Called synchronously on the main thread (the
goal's baseline); the "thread" side is the same call in asyncio.to_thread, what an async server would
have to pay at least.

The sides alternate round by round (their order rotating); each prints its median and best time per
image and megapixels of input per second. Ratio: direct time / gingee time, that is gingee's speed as a
fraction of Pillow's (the goal is >= 0.95). The outputs are compared: the same size, and the same bytes
(both encode the same pixels with the same settings; gingee strips metadata the direct side never
copies), so the two sides provably do the same work.
"""

from __future__ import annotations

import argparse
import asyncio
import io
import json
import statistics
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from PIL import Image, ImageChops, ImageOps

from gingee_kernel import image
from gingee_kernel.engine.app import AppRuntime
from gingee_kernel.engine.config import server_config
from gingee_kernel.engine.context import app_context

GOAL = 0.95


def photo(width: int, height: int) -> bytes:
    """A JPEG of a colour gradient with noise over it (quality 90)."""
    across = Image.linear_gradient("L").rotate(90).resize((width, height))
    down = Image.linear_gradient("L").resize((width, height))
    noise = Image.effect_noise((width, height), 40)
    bands = [ImageChops.add(band, noise, 2.0) for band in (across, down, ImageChops.invert(across))]
    out = io.BytesIO()
    Image.merge("RGB", bands).save(out, "JPEG", quality=90)
    return out.getvalue()


def direct(data: bytes, width: int, quality: int) -> bytes:
    """The same resize with Pillow by hand."""
    picture = Image.open(io.BytesIO(data))
    height = max(1, round(picture.height * width / picture.width))
    drafted = picture.draft(picture.mode, (width * 2, height * 2))  # as Image.thumbnail does
    box = drafted[1] if drafted else (0, 0, picture.width, picture.height)
    ImageOps.exif_transpose(picture, in_place=True)
    small = picture.resize((width, height), Image.Resampling.LANCZOS, box=box)
    out = io.BytesIO()
    small.save(out, "JPEG", quality=quality)
    return out.getvalue()


async def gingee(data: bytes, width: int, quality: int) -> bytes:
    return await image.load(data).resize(width=width).format("jpeg", quality=quality).to_bytes()


async def timed(call: Callable[[], Awaitable[bytes]]) -> tuple[float, bytes]:
    started = time.perf_counter()
    result = await call()
    return time.perf_counter() - started, result


async def run(args: argparse.Namespace) -> dict[str, Any]:
    width, height = (int(side) for side in args.size.lower().split("x"))
    data = photo(width, height)
    megapixels = width * height / 1e6
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp) / "web" / "bench"
        (root / "box").mkdir(parents=True)
        app = AppRuntime("bench", root, {"name": "bench"}, server_config(None), frozenset({"image"}),
                         project_dir=Path(tmp))  # fmt: skip

        async def plain() -> bytes:
            return direct(data, args.width, args.quality)

        async def thread() -> bytes:
            return await asyncio.to_thread(direct, data, args.width, args.quality)

        sides: dict[str, Callable[[], Awaitable[bytes]]] = {
            "gingee": lambda: gingee(data, args.width, args.quality),
            "direct": plain,
            "thread": thread,
        }
        times: dict[str, list[float]] = {name: [] for name in sides}
        outputs: dict[str, bytes] = {}
        with app_context(app):
            for name, call in sides.items():  # warm up: imports, the pool's threads, Pillow's codecs
                outputs[name] = (await timed(call))[1]
            names = list(sides)
            for r in range(args.rounds):
                for name in names[r % len(names) :] + names[: r % len(names)]:
                    seconds, _ = await timed(sides[name])
                    times[name].append(seconds)
    sizes = {name: Image.open(io.BytesIO(out)).size for name, out in outputs.items()}
    median = {name: statistics.median(values) for name, values in times.items()}
    return {
        "input": {"size": [width, height], "bytes": len(data), "megapixels": megapixels},
        "output": {"size": list(sizes["gingee"]), "bytes": len(outputs["gingee"])},
        "same_size": len(set(sizes.values())) == 1,
        "same_bytes": outputs["gingee"] == outputs["direct"],
        "median_ms": {name: value * 1000 for name, value in median.items()},
        "best_ms": {name: min(values) * 1000 for name, values in times.items()},
        "mp_per_s": {name: megapixels / value for name, value in median.items()},
        "ratio": median["direct"] / median["gingee"],
        "ratio_thread": median["thread"] / median["gingee"],
    }


def report(args: argparse.Namespace, figures: dict[str, Any]) -> None:
    size = figures["input"]["size"]
    print(f"{size[0]}x{size[1]} JPEG ({figures['input']['bytes'] / 1e6:.1f} MB) -> "
          f"{figures['output']['size'][0]}x{figures['output']['size'][1]} JPEG q{args.quality}, "
          f"{args.rounds} rounds, the order of the sides rotating")  # fmt: skip
    print(f"{'':8} {'median ms':>10} {'best ms':>10} {'MP/s':>8}")
    for name in ("gingee", "direct", "thread"):
        print(f"{name:8} {figures['median_ms'][name]:10.1f} {figures['best_ms'][name]:10.1f} "
              f"{figures['mp_per_s'][name]:8.1f}")  # fmt: skip
    verdict = "ok" if figures["ratio"] >= GOAL else "BELOW GOAL"
    print(f"ratio gingee/direct speed: {figures['ratio']:.3f} (goal >= {GOAL}: {verdict}); "
          f"gingee/thread: {figures['ratio_thread']:.3f}")  # fmt: skip
    print(f"same output size: {figures['same_size']}; byte-identical JPEG: {figures['same_bytes']}")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rounds", type=int, default=15)
    parser.add_argument("--size", default="4000x3000", help="input WIDTHxHEIGHT")
    parser.add_argument("--width", type=int, default=800, help="output width")
    parser.add_argument("--quality", type=int, default=80, help="output JPEG quality (gingee's default)")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    figures = asyncio.run(run(args))
    report(args, figures)
    if args.json:
        print(json.dumps({"args": vars(args), "figures": figures}))
    return 0 if figures["same_size"] else 1


if __name__ == "__main__":
    sys.exit(main())
