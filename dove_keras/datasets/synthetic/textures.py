"""Ground and water textures: seeded value noise tinted with named palettes."""

import numpy as np
from PIL import Image

GROUND_KINDS = ("grass", "sand", "bare_land", "farmland", "concrete")

# Ground kind -> ((colour name, base RGB), ...), one entry drawn per scene.
GROUND_PALETTES = {
    "grass": (("green", (84, 122, 58)), ("green", (70, 106, 50)), ("green", (96, 128, 68))),
    "sand": (("yellow", (214, 190, 138)), ("khaki", (190, 170, 128))),
    "bare_land": (("khaki", (170, 150, 112)), ("brown", (142, 114, 80))),
    "concrete": (("gray", (152, 152, 148)), ("gray", (130, 132, 132))),
}
FARM_COLOURS = {"green": (90, 128, 60), "yellow": (198, 178, 108), "brown": (138, 106, 76)}
WATER_PALETTES = (("blue", (40, 76, 114)), ("blue", (52, 94, 134)), ("green", (48, 86, 78)))


def value_noise(rng, size, cells, octaves=3):
    """Fractal value noise, about zero-mean, shape (size, size), float32.

    Args:
        rng: numpy Generator.
        size: side in pixels.
        cells: grid cells across the image at the coarsest octave.
        octaves: number of octaves, each with twice the cells and half the weight.
    """
    total = np.zeros((size, size), np.float32)
    weight, norm = 1.0, 0.0
    for octave in range(octaves):
        n = cells * 2**octave + 1
        grid = Image.fromarray(rng.random((n, n), dtype=np.float32))
        total += weight * np.asarray(grid.resize((size, size), Image.BICUBIC))
        norm += weight
        weight *= 0.5
    return total / norm * 2.0 - 1.0


def _coordinates(size):
    y, x = np.mgrid[0:size, 0:size].astype(np.float32)
    return x, y


def _tint(base, brightness):
    return np.asarray(base, np.float32)[None, None, :] * brightness[..., None]


def _grass(rng, size, base):
    low = value_noise(rng, size, 3)
    patches = np.clip(value_noise(rng, size, 5, 2) * 2.0, 0.0, 1.0)[..., None]
    grain = rng.standard_normal((size, size), dtype=np.float32)
    image = _tint(base, 1.0 + 0.25 * low + 0.07 * grain)
    dry = np.asarray(base, np.float32) + np.float32([34, 26, 6])
    return image * (1 - 0.5 * patches) + 0.5 * patches * dry[None, None, :]


def _sand(rng, size, base):
    x, y = _coordinates(size)
    angle = rng.uniform(0, np.pi)
    low = value_noise(rng, size, 3)
    ripples = np.sin((x * np.cos(angle) + y * np.sin(angle)) * 0.35 + 8.0 * low)
    grain = rng.standard_normal((size, size), dtype=np.float32)
    return _tint(base, 1.0 + 0.12 * low + 0.03 * ripples + 0.03 * grain)


def _bare_land(rng, size, base):
    low = value_noise(rng, size, 4)
    mid = value_noise(rng, size, 16, 2)
    grain = rng.standard_normal((size, size), dtype=np.float32)
    return _tint(base, 1.0 + 0.3 * low + 0.25 * mid + 0.06 * grain)


def _concrete(rng, size, base):
    x, y = _coordinates(size)
    slab = max(8, size // 8)
    joints = ((x % slab) < 1) | ((y % slab) < 1)
    low = value_noise(rng, size, 3)
    grain = rng.standard_normal((size, size), dtype=np.float32)
    return _tint(base, 1.0 + 0.12 * low + 0.04 * grain - 0.08 * joints)


def _farmland(rng, size):
    names = [str(n) for n in rng.choice(sorted(FARM_COLOURS), size=2, replace=False)]
    x, y = _coordinates(size)
    angle = rng.uniform(0, np.pi)
    u = x * np.cos(angle) + y * np.sin(angle) + 2 * size
    v = -x * np.sin(angle) + y * np.cos(angle) + 2 * size
    width = size * rng.uniform(0.07, 0.13)
    length = size * rng.uniform(0.3, 0.6)
    stripe = (u // width).astype(np.int64)
    block = ((v + 97.0 * stripe) // length).astype(np.int64)
    table = (np.indices((stripe.max() + 1, block.max() + 1)).sum(axis=0) % 2) ^ (
        rng.random((stripe.max() + 1, block.max() + 1)) < 0.3
    )
    palette = np.asarray([FARM_COLOURS[name] for name in names], np.float32)
    image = palette[table[stripe, block].astype(np.int64)]
    rows = np.sin(v * 1.6) * 0.04
    border = ((u % width) < 1.2).astype(np.float32) * 0.18
    grain = rng.standard_normal((size, size), dtype=np.float32)
    low = value_noise(rng, size, 4)
    image = image * (1.0 + 0.15 * low + rows - border + 0.04 * grain)[..., None]
    return image, tuple(names)


def ground_texture(rng, kind, size):
    """A ground texture of one kind.

    Args:
        rng: numpy Generator.
        kind: one of `GROUND_KINDS`.
        size: side in pixels (of the final image: textures are not supersampled).

    Returns:
        (image, colours): float32 (size, size, 3) RGB in [0, 255] and the
        tuple of colour names that describe it.
    """
    if kind == "farmland":
        image, colours = _farmland(rng, size)
    else:
        palette = GROUND_PALETTES[kind]
        name, base = palette[rng.integers(len(palette))]
        base = np.asarray(base) + rng.normal(0.0, 5.0, size=3)
        texture = {"grass": _grass, "sand": _sand, "bare_land": _bare_land}
        image = texture.get(kind, _concrete)(rng, size, base)
        colours = (name,)
    return np.clip(image, 0, 255), colours


def water_texture(rng, size):
    """A water texture: (float32 (size, size, 3) RGB, colour name)."""
    name, base = WATER_PALETTES[rng.integers(len(WATER_PALETTES))]
    low = value_noise(rng, size, 3)
    mid = value_noise(rng, size, 12, 2)
    grain = rng.standard_normal((size, size), dtype=np.float32)
    return np.clip(_tint(base, 1.0 + 0.12 * low + 0.05 * mid + 0.025 * grain), 0, 255), name
