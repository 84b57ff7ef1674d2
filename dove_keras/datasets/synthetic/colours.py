"""Named colours of the synthetic scenes and small RGB helpers."""

import numpy as np

# Name -> base RGB. Every name here is a word the captions may use.
COLOURS = {
    "white": (234, 234, 228),
    "gray": (142, 144, 146),
    "red": (198, 52, 44),
    "blue": (46, 92, 190),
    "yellow": (230, 198, 52),
    "green": (58, 146, 62),
    "orange": (232, 128, 36),
    "brown": (124, 80, 48),
}

# The colours an object type may take (its roof, hull, paint or track colour).
OBJECT_COLOURS = {
    "plane": ("white", "gray", "red", "blue", "yellow"),
    "ship": ("white", "red", "blue", "yellow", "green", "orange", "gray"),
    "storage_tank": ("white", "gray", "blue", "red", "yellow"),
    "building": ("red", "white", "gray", "blue", "orange", "brown"),
    "playground": ("red", "blue"),
    "bridge": ("gray", "white"),
}

# Below this RGB distance to its surroundings an object colour is not used.
MIN_CONTRAST = 105.0


def pick_colour(rng, kind, background_rgb):
    """Draws a colour name for an object type that stands out from its background.

    Args:
        rng: numpy Generator.
        kind: object type, a key of `OBJECT_COLOURS`.
        background_rgb: mean RGB of what the object lies on.

    Returns:
        A colour name, a key of `COLOURS`.
    """
    background = np.asarray(background_rgb, dtype=np.float32)
    names = [
        name
        for name in OBJECT_COLOURS[kind]
        if np.linalg.norm(np.asarray(COLOURS[name]) - background) >= MIN_CONTRAST
    ]
    return names[rng.integers(len(names))] if names else OBJECT_COLOURS[kind][0]


def jitter(rng, rgb, amount=10):
    """`rgb` with each channel moved by up to `amount`, as an int tuple."""
    offsets = rng.integers(-amount, amount + 1, size=3).tolist()
    return tuple(min(255, max(0, int(c + o))) for c, o in zip(rgb, offsets))


def shade(rgb, factor):
    """`rgb` scaled by `factor` (darker below 1, lighter above), as an int tuple."""
    return tuple(min(255, int(c * factor)) for c in rgb)
