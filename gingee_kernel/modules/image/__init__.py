"""`image`: resize, crop, rotate, filter and convert images (permission "image"), on Pillow.

    from gingee_kernel import image

    async def handle(g):
        photo = image.load(g.request.files["photo"].data)          # or image.load_file(fs.BOX, "a.jpg")
        thumb = photo.resize(400, 300, fit="cover").format("webp", quality=75)
        await thumb.to_object(f"thumbs/{g.request.params['id']}.webp")   # or .to_file(fs.BOX, "t.webp")
        return await photo.resize(width=800).greyscale().to_bytes()      # a Picture: sent as image/jpeg

Loading only holds the bytes (checked against max_input_size); an Image is a chain of steps, each call
returning a new Image. The work happens when a terminal is awaited, in one job of the content thread pool
(never on the event loop), within the request's time budget: the input's header is read, every size the
chain will make is checked against max_pixels before a pixel is decoded, then the first frame is decoded
with its EXIF orientation applied, the steps run and the result is encoded without EXIF or other metadata
(the ICC profile is kept). Limits come from app.json "image" (docs/modules.md).

Errors (ContentError, an HttpError: uncaught, the request ends with its JSON): INVALID_IMAGE (422) for
input that is not a readable image, INVALID_ARGUMENT (422) for a bad argument (raised by the chain call),
IMAGE_TOO_LARGE (413) past max_pixels or max_output_size, INPUT_TOO_LARGE (413) past max_input_size.
Without Pillow, the first call raises MissingExtra: pip install 'gingee[image]'.
"""

from __future__ import annotations

from typing import Any

from ...engine.context import require
from ..content import files
from ..content.errors import ContentError, ContentTooLarge, MissingExtra
from ..content.picture import Picture
from ..content.settings import limits
from .chain import Image, load

__all__ = [
    "ContentError",
    "ContentTooLarge",
    "Image",
    "MissingExtra",
    "Picture",
    "load",
    "load_file",
    "load_object",
]


def load_file(scope: str, path: str) -> Image:
    """An Image of a confined file (`fs.BOX` or `fs.WEB`; needs the `fs` grant too), refused past
    max_input_size before it is read."""
    require("image")
    return load(files.read_file("image", scope, path, limits("image")["max_input_size"]))


async def load_object(key: str, store: str | None = None) -> Image:
    """An Image of a storage object (needs the `storage` grant too), refused past max_input_size before
    it is read."""
    require("image")
    data: Any = await files.read_object("image", key, store, limits("image")["max_input_size"])
    return load(data)
