"""CSS colours as Chart.js configs write them (`"#36a2eb"`, `"rgba(255, 99, 132, 0.5)"`, `"hsl(210 50% 40%)"`,
`"tomato"`, `"transparent"`), parsed without any library: the chart and qrcode modules share it, so an
unparseable colour is refused before it reaches matplotlib, an SVG attribute or Pillow."""

from __future__ import annotations

import colorsys
import math
import re

__all__ = ["RGBA", "parse_color", "to_hex"]

RGBA = tuple[float, float, float, float]

#: The CSS named colours (CSS Color 4), name:rrggbb.
_NAME_TABLE = (
    "aliceblue:f0f8ff antiquewhite:faebd7 aqua:00ffff aquamarine:7fffd4 azure:f0ffff beige:f5f5dc "
    "bisque:ffe4c4 black:000000 blanchedalmond:ffebcd blue:0000ff blueviolet:8a2be2 brown:a52a2a "
    "burlywood:deb887 cadetblue:5f9ea0 chartreuse:7fff00 chocolate:d2691e coral:ff7f50 "
    "cornflowerblue:6495ed cornsilk:fff8dc crimson:dc143c cyan:00ffff darkblue:00008b "
    "darkcyan:008b8b darkgoldenrod:b8860b darkgray:a9a9a9 darkgreen:006400 darkgrey:a9a9a9 "
    "darkkhaki:bdb76b darkmagenta:8b008b darkolivegreen:556b2f darkorange:ff8c00 darkorchid:9932cc "
    "darkred:8b0000 darksalmon:e9967a darkseagreen:8fbc8f darkslateblue:483d8b darkslategray:2f4f4f "
    "darkslategrey:2f4f4f darkturquoise:00ced1 darkviolet:9400d3 deeppink:ff1493 deepskyblue:00bfff "
    "dimgray:696969 dimgrey:696969 dodgerblue:1e90ff firebrick:b22222 floralwhite:fffaf0 "
    "forestgreen:228b22 fuchsia:ff00ff gainsboro:dcdcdc ghostwhite:f8f8ff gold:ffd700 "
    "goldenrod:daa520 gray:808080 green:008000 greenyellow:adff2f grey:808080 honeydew:f0fff0 "
    "hotpink:ff69b4 indianred:cd5c5c indigo:4b0082 ivory:fffff0 khaki:f0e68c lavender:e6e6fa "
    "lavenderblush:fff0f5 lawngreen:7cfc00 lemonchiffon:fffacd lightblue:add8e6 lightcoral:f08080 "
    "lightcyan:e0ffff lightgoldenrodyellow:fafad2 lightgray:d3d3d3 lightgreen:90ee90 "
    "lightgrey:d3d3d3 lightpink:ffb6c1 lightsalmon:ffa07a lightseagreen:20b2aa lightskyblue:87cefa "
    "lightslategray:778899 lightslategrey:778899 lightsteelblue:b0c4de lightyellow:ffffe0 "
    "lime:00ff00 limegreen:32cd32 linen:faf0e6 magenta:ff00ff maroon:800000 mediumaquamarine:66cdaa "
    "mediumblue:0000cd mediumorchid:ba55d3 mediumpurple:9370db mediumseagreen:3cb371 "
    "mediumslateblue:7b68ee mediumspringgreen:00fa9a mediumturquoise:48d1cc mediumvioletred:c71585 "
    "midnightblue:191970 mintcream:f5fffa mistyrose:ffe4e1 moccasin:ffe4b5 navajowhite:ffdead "
    "navy:000080 oldlace:fdf5e6 olive:808000 olivedrab:6b8e23 orange:ffa500 orangered:ff4500 "
    "orchid:da70d6 palegoldenrod:eee8aa palegreen:98fb98 paleturquoise:afeeee palevioletred:db7093 "
    "papayawhip:ffefd5 peachpuff:ffdab9 peru:cd853f pink:ffc0cb plum:dda0dd powderblue:b0e0e6 "
    "purple:800080 rebeccapurple:663399 red:ff0000 rosybrown:bc8f8f royalblue:4169e1 "
    "saddlebrown:8b4513 salmon:fa8072 sandybrown:f4a460 seagreen:2e8b57 seashell:fff5ee "
    "sienna:a0522d silver:c0c0c0 skyblue:87ceeb slateblue:6a5acd slategray:708090 slategrey:708090 "
    "snow:fffafa springgreen:00ff7f steelblue:4682b4 tan:d2b48c teal:008080 thistle:d8bfd8 "
    "tomato:ff6347 turquoise:40e0d0 violet:ee82ee wheat:f5deb3 white:ffffff whitesmoke:f5f5f5 "
    "yellow:ffff00 yellowgreen:9acd32"
)
_NAMES: dict[str, str] = dict(item.split(":") for item in _NAME_TABLE.split())
_HEX = re.compile(r"#([0-9a-fA-F]{3,4}|[0-9a-fA-F]{6}|[0-9a-fA-F]{8})")
_FUNCTION = re.compile(r"(rgba?|hsla?)\(([^()]*)\)", re.IGNORECASE)
_NUMBER = r"[+-]?(?:\d+\.?\d*|\.\d+)(?:e[+-]?\d+)?"
_PART = re.compile(rf"({_NUMBER})(%|deg)?", re.IGNORECASE)


def _channel(text: str, scale: float) -> float:
    """One component (`"255"`, `"50%"`) as 0..1, clipped like CSS."""
    match = _PART.fullmatch(text)
    if not match or match.group(2) == "deg" or not math.isfinite(float(match.group(1))):
        raise ValueError(text)
    value = float(match.group(1)) / (100 if match.group(2) else scale)
    return min(1.0, max(0.0, value))


def _function(kind: str, body: str) -> RGBA:
    if "," in body:
        parts = [part.strip() for part in body.split(",")]
    else:  # CSS Color 4: "255 99 132 / 50%"
        colour, _, alpha = body.partition("/")
        parts = colour.split() + ([alpha.strip()] if alpha.strip() else [])
    if len(parts) not in (3, 4):
        raise ValueError(body)
    alpha = _channel(parts[3], 1) if len(parts) == 4 else 1.0
    if kind.startswith("rgb"):
        red, green, blue = (_channel(part, 255) for part in parts[:3])
        return (red, green, blue, alpha)
    hue = _PART.fullmatch(parts[0])
    if not hue or hue.group(2) == "%" or not math.isfinite(float(hue.group(1))):
        raise ValueError(parts[0])
    saturation, lightness = _channel(parts[1], 100), _channel(parts[2], 100)
    red, green, blue = colorsys.hls_to_rgb(float(hue.group(1)) % 360 / 360, lightness, saturation)
    return (red, green, blue, alpha)


def parse_color(value: object) -> RGBA:
    """`value` as (red, green, blue, alpha), each 0..1; ValueError saying what is accepted otherwise.
    A 3- or 4-item sequence of 0..255 channels (alpha 0..1) is accepted too."""
    if isinstance(value, list | tuple) and len(value) in (3, 4):
        numbers = all(isinstance(part, int | float) and not isinstance(part, bool) for part in value)
        if numbers and all(math.isfinite(part) for part in value):
            alpha = float(value[3]) if len(value) == 4 else 1.0
            red, green, blue = (min(1.0, max(0.0, float(part) / 255)) for part in value[:3])
            return (red, green, blue, min(1.0, max(0.0, alpha)))
    if isinstance(value, str):
        text = value.strip()
        lower = text.lower()
        if lower == "transparent":
            return (0.0, 0.0, 0.0, 0.0)
        if lower in _NAMES:
            text = "#" + _NAMES[lower]
        if _HEX.fullmatch(text):
            digits = text[1:]
            if len(digits) <= 4:
                digits = "".join(digit * 2 for digit in digits)
            if len(digits) == 6:
                digits += "ff"
            red, green, blue, alpha = (int(digits[i : i + 2], 16) / 255 for i in range(0, 8, 2))
            return (red, green, blue, alpha)
        function = _FUNCTION.fullmatch(text)
        if function:
            try:
                return _function(function.group(1).lower(), function.group(2))
            except ValueError:
                pass
    raise ValueError(
        f"{value!r} is not a colour: use a CSS colour such as '#36a2eb', 'rgba(54, 162, 235, 0.5)', "
        "'hsl(204, 82%, 57%)' or a name such as 'steelblue'"
    )


def to_hex(rgba: RGBA, alpha: bool = False) -> str:
    """`#rrggbb` (or `#rrggbbaa` with `alpha`) for a parsed colour."""
    channels = rgba if alpha else rgba[:3]
    return "#" + "".join(f"{round(part * 255):02x}" for part in channels)
