"""A small, independent QR code reader for the qrcode tests (no zbar here), and its own test: it reads a
clean rendered symbol (PNG pixels sampled at module centres), versions 1 to 9, and returns its bytes.

It follows ISO/IEC 18004 as Nayuki's reference generator lays it out: the format bits give the error
level and mask, the data modules are read in the zig-zag order outside the function patterns, the
blocks are de-interleaved, each block's Reed-Solomon bytes are checked, and the numeric, alphanumeric
and byte segments of the data are decoded. Any mistake in what the module drew fails one of the steps.
"""

from __future__ import annotations

import io

import pytest
import segno
from PIL import Image

# Error-correction codewords per block and number of blocks, by level then version (index 0 unused).
_ECC_PER_BLOCK = {
    "L": (0, 7, 10, 15, 20, 26, 18, 20, 24, 30),
    "M": (0, 10, 16, 26, 18, 24, 16, 18, 22, 22),
    "Q": (0, 13, 22, 18, 26, 18, 24, 18, 22, 20),
    "H": (0, 17, 28, 22, 16, 22, 28, 26, 26, 24),
}
_BLOCKS = {
    "L": (0, 1, 1, 1, 1, 1, 2, 2, 2, 2),
    "M": (0, 1, 1, 1, 2, 2, 4, 4, 4, 5),
    "Q": (0, 1, 1, 2, 2, 4, 4, 6, 6, 8),
    "H": (0, 1, 1, 2, 4, 4, 4, 5, 6, 8),
}
_LEVEL_BITS = {1: "L", 0: "M", 3: "Q", 2: "H"}
_ALPHANUMERIC = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ $%*+-./:"
_MASKS = (
    lambda x, y: (x + y) % 2 == 0,
    lambda x, y: y % 2 == 0,
    lambda x, y: x % 3 == 0,
    lambda x, y: (x + y) % 3 == 0,
    lambda x, y: (x // 3 + y // 2) % 2 == 0,
    lambda x, y: x * y % 2 + x * y % 3 == 0,
    lambda x, y: (x * y % 2 + x * y % 3) % 2 == 0,
    lambda x, y: ((x + y) % 2 + x * y % 3) % 2 == 0,
)


class NotAQrCode(AssertionError):
    """What was drawn is not a readable QR code."""


def sample(png: bytes) -> list[list[bool]]:
    """The module matrix (True = dark, border dropped) of a rendered QR code, found from its top-left
    finder, whose first row of 7 dark modules gives the scale."""
    image = Image.open(io.BytesIO(png))
    image.load()
    canvas = Image.new("RGBA", image.size, "white")
    canvas.alpha_composite(image.convert("RGBA"))
    grey = canvas.convert("L")
    width, height = grey.size
    pixels = grey.load()
    dark = [[pixels[x, y] < 128 for x in range(width)] for y in range(height)]
    top = next((y for y in range(height) if any(dark[y])), None)
    if top is None:
        raise NotAQrCode("the image has no dark pixel")
    left = dark[top].index(True)
    run = 0
    while left + run < width and dark[top][left + run]:
        run += 1
    if run % 7:
        raise NotAQrCode(f"the finder's top edge is {run} px, not a multiple of 7 modules")
    scale = run // 7
    size = (width - 2 * left) // scale
    if (size - 17) % 4 or width != height:
        raise NotAQrCode(f"{size} modules is not a QR size")
    return [
        [dark[top + y * scale + scale // 2][left + x * scale + scale // 2] for x in range(size)]
        for y in range(size)
    ]


def _alignment_positions(version: int) -> list[int]:
    if version == 1:
        return []
    count = version // 7 + 2
    step = (version * 8 + count * 3 + 5) // (count * 4 - 4) * 2
    size = version * 4 + 17
    return sorted([size - 7 - i * step for i in range(count - 1)] + [6])


def _function_modules(version: int) -> list[list[bool]]:
    size = version * 4 + 17
    grid = [[False] * size for _ in range(size)]

    def mark(x0: int, y0: int, x1: int, y1: int) -> None:
        for y in range(max(0, y0), min(size, y1)):
            for x in range(max(0, x0), min(size, x1)):
                grid[y][x] = True

    mark(0, 6, size, 7)  # timing row
    mark(6, 0, 7, size)  # timing column
    for cx, cy in ((3, 3), (size - 4, 3), (3, size - 4)):  # finders with separators
        mark(cx - 4, cy - 4, cx + 5, cy + 5)
    positions = _alignment_positions(version)
    last = len(positions) - 1
    for i, cx in enumerate(positions):
        for j, cy in enumerate(positions):
            if (i, j) not in ((0, 0), (0, last), (last, 0)):
                mark(cx - 2, cy - 2, cx + 3, cy + 3)
    mark(0, 8, 9, 9)  # format bits, first copy (and the timing crossing)
    mark(8, 0, 9, 9)
    mark(size - 8, 8, size, 9)  # second copy, with the dark module
    mark(8, size - 8, 9, size)
    if version >= 7:
        mark(size - 11, 0, size - 8, 6)
        mark(0, size - 11, 6, size - 8)
    return grid


def _format(matrix: list[list[bool]]) -> tuple[str, int]:
    """(error level, mask) from the first copy of the format bits, matched against all 32 codes."""

    def bit(x: int, y: int) -> int:
        return int(matrix[y][x])

    read = 0
    places = [(8, i) for i in range(6)] + [(8, 7), (8, 8), (7, 8)] + [(14 - i, 8) for i in range(9, 15)]
    for index, (x, y) in enumerate(places):
        read |= bit(x, y) << index
    for level_bits in range(4):
        for mask in range(8):
            data = level_bits << 3 | mask
            rem = data
            for _ in range(10):
                rem = (rem << 1) ^ ((rem >> 9) * 0x537)
            if (data << 10 | rem) ^ 0x5412 == read:
                return _LEVEL_BITS[level_bits], mask
    raise NotAQrCode(f"format bits {read:015b} are no valid format")


def _gf_multiply(x: int, y: int) -> int:
    z = 0
    for i in reversed(range(8)):
        z = (z << 1) ^ ((z >> 7) * 0x11D)
        z ^= ((y >> i) & 1) * x
    return z


def _reed_solomon(data: list[int], degree: int) -> list[int]:
    divisor = [0] * (degree - 1) + [1]
    root = 1
    for _ in range(degree):
        for j in range(degree):
            divisor[j] = _gf_multiply(divisor[j], root)
            if j + 1 < degree:
                divisor[j] ^= divisor[j + 1]
        root = _gf_multiply(root, 0x02)
    result = [0] * degree
    for byte in data:
        factor = byte ^ result.pop(0)
        result.append(0)
        for i, coefficient in enumerate(divisor):
            result[i] ^= _gf_multiply(coefficient, factor)
    return result


def _codewords(matrix: list[list[bool]], version: int, mask: int) -> list[int]:
    size = len(matrix)
    function = _function_modules(version)
    bits: list[int] = []
    right = size - 1
    while right >= 1:
        if right == 6:
            right = 5
        for vert in range(size):
            for j in range(2):
                x = right - j
                upward = ((right + 1) & 2) == 0
                y = size - 1 - vert if upward else vert
                if not function[y][x]:
                    bits.append(int(matrix[y][x] ^ _MASKS[mask](x, y)))
        right -= 2
    return [int("".join(map(str, bits[i : i + 8])), 2) for i in range(0, len(bits) - 7, 8)]


def _data(codewords: list[int], version: int, level: str) -> list[int]:
    blocks, ecc = _BLOCKS[level][version], _ECC_PER_BLOCK[level][version]
    total = len(codewords)
    short = blocks - total % blocks
    short_length = total // blocks
    lengths = [short_length + (0 if i < short else 1) for i in range(blocks)]
    # Interleaving: data bytes column by column (long blocks have one more), then ECC column by column.
    order = [(j, i) for i in range(short_length - ecc + 1) for j in range(blocks) if i < lengths[j] - ecc]
    order += [(j, lengths[j] - ecc + i) for i in range(ecc) for j in range(blocks)]
    placed = [[0] * length for length in lengths]
    for (j, i), value in zip(order, codewords, strict=False):
        placed[j][i] = value
    data: list[int] = []
    for block, length in zip(placed, lengths, strict=True):
        body, check = block[: length - ecc], block[length - ecc :]
        if _reed_solomon(body, ecc) != check:
            raise NotAQrCode("a block's Reed-Solomon bytes do not match its data")
        data.extend(body)
    return data


def _segments(data: list[int]) -> bytes:
    bits = "".join(f"{byte:08b}" for byte in data)
    at = 0

    def take(count: int) -> int:
        nonlocal at
        value = int(bits[at : at + count] or "0", 2)
        at += count
        return value

    out = bytearray()
    while at + 4 <= len(bits):
        mode = take(4)
        if mode == 0:
            break
        if mode == 0b0100:
            out += bytes(take(8) for _ in range(take(8)))
        elif mode == 0b0010:
            count = take(9)
            for _ in range(count // 2):
                pair = take(11)
                out += (_ALPHANUMERIC[pair // 45] + _ALPHANUMERIC[pair % 45]).encode()
            if count % 2:
                out += _ALPHANUMERIC[take(6)].encode()
        elif mode == 0b0001:
            count = take(10)
            for _ in range(count // 3):
                out += f"{take(10):03d}".encode()
            if count % 3 == 2:
                out += f"{take(7):02d}".encode()
            elif count % 3 == 1:
                out += f"{take(4):d}".encode()
        else:
            raise NotAQrCode(f"segment mode {mode:04b} is not read by this decoder")
    return bytes(out)


def decode(png: bytes) -> tuple[bytes, int, str]:
    """(the encoded bytes, the version, the error level) of a rendered QR code."""
    return decode_matrix(sample(png))


def decode_matrix(matrix: list[list[bool]]) -> tuple[bytes, int, str]:
    """(the encoded bytes, the version, the error level) of a module matrix, without its border."""
    version = (len(matrix) - 17) // 4
    if not 1 <= version <= 9:
        raise NotAQrCode(f"version {version} is past what this decoder reads")
    level, mask = _format(matrix)
    codewords = _codewords(matrix, version, mask)
    return _segments(_data(codewords, version, level)), version, level


@pytest.mark.parametrize("version", range(1, 10))
@pytest.mark.parametrize("level", "lmqh")
def test_the_decoder_reads_every_version_and_level_it_claims(version: int, level: str) -> None:
    """The decoder itself, on symbols segno makes at a fixed version and level (boost off): one block or
    several, with and without version bits, in byte, alphanumeric and numeric mode."""
    for text in ("hi", "HELLO 123", "0123456789", "mixed Text 123 é"):
        try:
            symbol = segno.make(text, version=version, error=level, boost_error=False, micro=False,
                                encoding="utf-8")  # fmt: skip
        except segno.DataOverflowError:
            continue
        buffer = io.BytesIO()
        symbol.save(buffer, kind="png", scale=2, border=4)
        assert decode(buffer.getvalue()) == (text.encode(), version, level.upper())
