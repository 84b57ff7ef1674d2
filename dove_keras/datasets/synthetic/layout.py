"""The canvas plan of one scene: water and road masks, occupancy, placement tests."""

import numpy as np
from PIL import Image
from PIL import ImageDraw


def _mask(size, draw_fn):
    image = Image.new("L", (size, size), 0)
    draw_fn(ImageDraw.Draw(image))
    return np.asarray(image) > 0


def grow(mask, radius):
    """Binary dilation of a boolean mask by a (2 * radius + 1) square."""
    out = mask.copy()
    for axis in (0, 1):
        source = out.copy()
        for shift in range(1, radius + 1):
            if axis == 0:
                out[shift:] |= source[:-shift]
                out[:-shift] |= source[shift:]
            else:
                out[:, shift:] |= source[:, :-shift]
                out[:, :-shift] |= source[:, shift:]
    return out


class Layout:
    """Masks and free space of a square canvas.

    Sizes given in "units" are pixels of a 128-pixel image; `scale` converts them
    to canvas pixels.

    Args:
        size: canvas side in pixels.
    """

    def __init__(self, size):
        self.size = size
        self.scale = size / 128.0
        self.water = np.zeros((size, size), bool)
        self.water_core = self.water
        self.bank = self.water
        self.road = np.zeros((size, size), bool)
        self.occupied = np.zeros((size, size), bool)
        self.blocked = np.zeros((size, size), bool)  # not free land: water, bank, road, objects
        self.water_kind = None
        self.river_line = None
        self.river_width = 0.0
        self.roads = []
        self.road_masks = []

    def units(self, value):
        """`value` units in canvas pixels."""
        return value * self.scale

    def _set_water(self, kind, mask):
        self.water_kind = kind
        self.water = mask
        radius = max(1, int(round(self.units(1.5))))
        self.water_core = ~grow(~mask, radius)
        self.bank = grow(mask, radius) & ~mask
        self.blocked |= mask | self.bank

    def add_river(self, rng):
        """A winding river across the canvas (centre line kept in `river_line`)."""
        size = self.size
        angle = rng.uniform(0, np.pi)
        direction = np.array([np.cos(angle), np.sin(angle)])
        normal = np.array([-direction[1], direction[0]])
        center = size / 2 + rng.uniform(-0.15, 0.15, size=2) * size
        t = np.linspace(-0.8 * size, 0.8 * size, 65)
        amplitude = rng.uniform(0.03, 0.09) * size
        wavelength = rng.uniform(0.9, 1.6) * size
        offset = amplitude * np.sin(2 * np.pi * t / wavelength + rng.uniform(0, 2 * np.pi))
        points = center + t[:, None] * direction + offset[:, None] * normal
        width = self.units(rng.uniform(14, 22))
        self.river_line, self.river_width = points, width
        tangent = np.gradient(points, axis=0)
        normal = np.stack([-tangent[:, 1], tangent[:, 0]], 1) / np.hypot(*tangent.T)[:, None]
        banks = np.concatenate([points + normal * width / 2, (points - normal * width / 2)[::-1]])
        polygon = [tuple(p) for p in banks.tolist()]
        self._set_water("river", _mask(size, lambda d: d.polygon(polygon, fill=255)))

    def add_lake(self, rng):
        """An irregular lake away from the canvas edges."""
        size = self.size
        center = rng.uniform(0.3, 0.7, size=2) * size
        radius = rng.uniform(0.17, 0.26) * size
        theta = np.linspace(0, 2 * np.pi, 48, endpoint=False)
        phase = rng.uniform(0, 2 * np.pi, size=2)
        wobble = 1 + 0.18 * np.sin(2 * theta + phase[0]) + 0.1 * np.sin(3 * theta + phase[1])
        aspect = rng.uniform(0.75, 1.25)
        ellipse = np.stack([np.cos(theta) * aspect, np.sin(theta) / aspect], axis=1)
        points = center + radius * wobble[:, None] * ellipse
        polygon = [tuple(p) for p in points]
        self._set_water("lake", _mask(size, lambda d: d.polygon(polygon, fill=255)))

    def add_sea(self, rng):
        """Sea covering one side of the canvas behind a wavy coast line."""
        size = self.size
        angle = rng.integers(4) * np.pi / 2 + rng.uniform(-0.3, 0.3)
        inland = np.array([np.cos(angle), np.sin(angle)])
        along = np.array([-inland[1], inland[0]])
        start = size / 2 - inland * rng.uniform(0.06, 0.2) * size
        t = np.linspace(-size, size, 48)
        wave = self.units(3) * np.sin(t / self.units(rng.uniform(10, 20)) + rng.uniform(0, 6.3))
        coast = start + t[:, None] * along + wave[:, None] * inland
        far = coast[::-1] - 2 * size * inland
        polygon = [tuple(p) for p in np.concatenate([coast, far])]
        self._set_water("sea", _mask(size, lambda d: d.polygon(polygon, fill=255)))

    def add_road(self, rng, through, angle, allow_crossing=False):
        """Adds a straight road unless it meets water it may not cross.

        Args:
            rng: numpy Generator.
            through: a point the road passes through.
            angle: road direction in radians.
            allow_crossing: whether it may cross water (over a bridge).

        Returns:
            The road's (end points, width), or None when it was rejected.
        """
        direction = np.array([np.cos(angle), np.sin(angle)]) * 1.5 * self.size
        ends = (tuple(np.asarray(through) - direction), tuple(np.asarray(through) + direction))
        width = self.units(rng.uniform(6, 9))
        mask = _mask(self.size, lambda d: d.line(ends, fill=255, width=int(width + 2)))
        if not allow_crossing and (mask & (self.water | self.bank)).any():
            return None
        self.road |= mask
        self.blocked |= mask
        self.road_masks.append(mask)
        self.roads.append((ends, width))
        return self.roads[-1]

    def crossing(self, road):
        """The stretch of `road` over water as deck end points, or None."""
        (start, end), width = road
        start, end = np.asarray(start), np.asarray(end)
        t = np.linspace(0, 1, int(np.hypot(*(end - start))))
        points = start + t[:, None] * (end - start)
        inside = (points >= 0).all(1) & (points < self.size - 0.5).all(1)
        cells = np.round(points[inside]).astype(int)
        wet = np.flatnonzero(self.water[cells[:, 1], cells[:, 0]])
        if not wet.size:
            return None
        unit = (end - start) / np.hypot(*(end - start))
        pad = self.units(3)
        first, last = cells[wet[0]] - unit * pad, cells[wet[-1]] + unit * pad
        return tuple(first), tuple(last)

    def _window(self, box, margin):
        x0, y0, x1, y1 = box
        border = self.units(1)
        if x0 < border or y0 < border or x1 > self.size - border or y1 > self.size - border:
            return None
        return (
            slice(max(0, int(y0 - margin)), int(np.ceil(y1 + margin)) + 1),
            slice(max(0, int(x0 - margin)), int(np.ceil(x1 + margin)) + 1),
        )

    def fits_land(self, box, margin):
        """Whether a box lies on free land, `margin` pixels from anything else."""
        window = self._window(box, margin)
        if window is None:
            return False
        return not self.blocked[window].any()

    def fits_water(self, outline, box, margin):
        """Whether an outline lies inside the water, away from other objects."""
        window = self._window(box, margin)
        if window is None or self.occupied[window].any():
            return False
        cells = np.round(outline).astype(int)
        return bool(self.water_core[cells[:, 1], cells[:, 0]].all())

    def occupy(self, box, margin=0.0):
        """Marks a box (grown by `margin` pixels) as taken."""
        x0, y0, x1, y1 = box
        rows = slice(max(0, int(y0 - margin)), int(np.ceil(y1 + margin)) + 1)
        cols = slice(max(0, int(x0 - margin)), int(np.ceil(x1 + margin)) + 1)
        self.occupied[rows, cols] = True
        self.blocked[rows, cols] = True

    def river_tangent(self, point):
        """Direction (radians) of the river at its centre-line point nearest `point`."""
        line = self.river_line
        i = int(np.argmin(np.sum((line - point) ** 2, axis=1)))
        a, b = line[max(0, i - 1)], line[min(len(line) - 1, i + 1)]
        return float(np.arctan2(b[1] - a[1], b[0] - a[0]))
