"""Drawing of shapes, shadows, roads and bridges onto a canvas."""

import numpy as np
from PIL import Image
from PIL import ImageDraw

SHADOW_DARKNESS = 0.45


def draw_primitive(draw, primitive, offset=(0.0, 0.0), fill=None):
    """Draws one (kind, geometry, fill) primitive, optionally moved and recoloured."""
    kind, geometry, colour = primitive
    colour = colour if fill is None else fill
    dx, dy = offset
    if kind == "polygon":
        draw.polygon([(x + dx, y + dy) for x, y in geometry], fill=colour)
    elif kind == "ellipse":
        x0, y0, x1, y1 = geometry
        draw.ellipse([x0 + dx, y0 + dy, x1 + dx, y1 + dy], fill=colour)
    elif kind == "ring":
        (x0, y0, x1, y1), width = geometry
        draw.ellipse([x0 + dx, y0 + dy, x1 + dx, y1 + dy], outline=colour, width=width)
    else:
        points, width = geometry
        draw.line([(x + dx, y + dy) for x, y in points], fill=colour, width=width)


def darken(image, mask, factor):
    """`image` (PIL RGB) darkened by `factor` where the boolean `mask` is set."""
    dark = image.point(lambda v: int(v * factor))
    return Image.composite(dark, image, Image.fromarray(mask.astype(np.uint8) * 255))


def cast_shadows(image, shapes, sun):
    """`image` (PIL RGB) darkened under the shadows of `shapes`.

    Args:
        image: the image so far.
        shapes: `Shape`s; each shadow is its silhouette moved by `height` along `sun`.
        sun: unit vector (dx, dy) pointing from objects to their shadows.
    """
    mask = Image.new("L", image.size, 0)
    draw = ImageDraw.Draw(mask)
    for shape in shapes:
        for step in (0.5, 1.0):
            offset = (sun[0] * shape.height * step, sun[1] * shape.height * step)
            for primitive in shape.primitives:
                draw_primitive(draw, primitive, offset, fill=255)
    dark = image.point(lambda v: int(v * (1.0 - SHADOW_DARKNESS)))
    return Image.composite(dark, image, mask)


def draw_shapes(image, shapes):
    """Draws `shapes` in order onto a PIL image (RGBA fills are blended)."""
    draw = ImageDraw.Draw(image, "RGBA")
    for shape in shapes:
        for primitive in shape.primitives:
            draw_primitive(draw, primitive)


def draw_road(image, line, width):
    """An asphalt road with light edges and a dashed centre line.

    Args:
        image: PIL RGB image.
        line: ((x0, y0), (x1, y1)) end points, beyond the canvas.
        width: road width in pixels.
    """
    draw = ImageDraw.Draw(image)
    (x0, y0), (x1, y1) = line
    draw.line(line, fill=(170, 170, 166), width=int(width + 2))
    draw.line(line, fill=(96, 98, 100), width=int(width))
    length = np.hypot(x1 - x0, y1 - y0)
    dash = max(4.0, width * 0.8)
    for start in np.arange(0.0, length, 2 * dash):
        a, b = start / length, min(start + dash, length) / length
        draw.line(
            [(x0 + a * (x1 - x0), y0 + a * (y1 - y0)), (x0 + b * (x1 - x0), y0 + b * (y1 - y0))],
            fill=(220, 220, 214),
            width=max(1, int(width * 0.12)),
        )


def draw_bridge(image, deck, width, rgb, sun):
    """A bridge deck with railings and its shadow on the water.

    Args:
        image: PIL RGB image.
        deck: ((x0, y0), (x1, y1)) deck end points.
        width: deck width in pixels.
        rgb: deck colour.
        sun: unit shadow direction.
    """
    draw = ImageDraw.Draw(image, "RGBA")
    shift = width * 0.6
    shadow = [(x + sun[0] * shift, y + sun[1] * shift) for x, y in deck]
    draw.line(shadow, fill=(0, 0, 0, 110), width=int(width))
    draw.line(deck, fill=tuple(int(c * 0.6) for c in rgb) + (255,), width=int(width))
    draw.line(deck, fill=tuple(rgb) + (255,), width=max(1, int(width * 0.7)))
