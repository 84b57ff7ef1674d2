"""Object shapes as drawing primitives, in canvas pixel coordinates.

Each function returns a `Shape`: coloured primitives (drawn in order), the
outline used for placement and bounding boxes, and the height that sets the
length of its cast shadow.
"""

import dataclasses

import numpy as np

from dove_keras.datasets.synthetic.colours import shade

# Half outlines (y >= 0, nose towards +x, unit length) that start and end on the
# x axis; mirrored to close them.
_PLANE_HALF = (
    (0.50, 0.0), (0.46, 0.04), (0.38, 0.065), (0.12, 0.07), (-0.06, 0.48),
    (-0.18, 0.48), (-0.1, 0.07), (-0.36, 0.06), (-0.45, 0.2), (-0.52, 0.2),
    (-0.5, 0.0),
)
_SHIP_HULL_HALF = ((0.5, 0.0), (0.34, 0.1), (0.18, 0.13), (-0.5, 0.12), (-0.5, 0.0))


@dataclasses.dataclass
class Shape:
    """One drawn object.

    Attributes:
        primitives: list of (kind, geometry, fill) with kind "polygon" (list of
            points), "ellipse" ([x0, y0, x1, y1]), "ring" (([x0, y0, x1, y1],
            width)) or "line" ((points, width)).
        outline: float array (N, 2) of points covering the object.
        height: shadow length in canvas pixels (0 for flat objects).
    """

    primitives: list
    outline: np.ndarray
    height: float = 0.0

    def __post_init__(self):
        x0, y0 = self.outline.min(axis=0).tolist()
        x1, y1 = self.outline.max(axis=0).tolist()
        self._box = (x0, y0, x1, y1)

    def box(self):
        """Bounding box (x0, y0, x1, y1) of the outline, floats."""
        return self._box


def transform(points, center, scale, angle):
    """Scales, rotates by `angle` (radians) and moves unit-space points."""
    points = np.asarray(points, np.float64) * scale
    c, s = np.cos(angle), np.sin(angle)
    rotated = points @ np.array([[c, s], [-s, c]])
    return rotated + np.asarray(center, np.float64)


def _mirror(half):
    half = np.asarray(half, np.float64)
    other = half[::-1] * np.array([1.0, -1.0])
    return np.concatenate([half, other[1:-1]])


_PLANE = _mirror(_PLANE_HALF)
_SHIP_HULL = _mirror(_SHIP_HULL_HALF)
SHIP_STERN = len(_SHIP_HULL_HALF) - 1  # index of the stern's centre in a ship outline
_UNIT_CIRCLE = np.stack(
    [np.cos(np.linspace(0, 2 * np.pi, 16, endpoint=False)),
     np.sin(np.linspace(0, 2 * np.pi, 16, endpoint=False))], axis=1)


def _points(array):
    return [tuple(p) for p in array.tolist()]


def _circle(center, radius):
    x, y = center
    return [x - radius, y - radius, x + radius, y + radius]


def plane(center, length, angle, rgb):
    """An airplane seen from above, nose along `angle`."""
    body = transform(_PLANE, center, length, angle)
    stripe = transform([(0.42, 0.0), (-0.4, 0.0)], center, length, angle)
    return Shape(
        [
            ("polygon", _points(body), rgb),
            ("line", (_points(stripe), max(1, round(length * 0.05))), shade(rgb, 0.85)),
        ],
        body,
        height=length * 0.18,
    )


def ship(center, length, angle, rgb):
    """A ship: a pointed hull with a lighter or darker superstructure at the stern."""
    hull = transform(_SHIP_HULL, center, length, angle)
    cabin = transform(
        [(-0.15, 0.06), (-0.42, 0.06), (-0.42, -0.06), (-0.15, -0.06)],
        center,
        length,
        angle,
    )
    deck = shade(rgb, 0.7) if sum(rgb) > 500 else shade(rgb, 1.45)
    return Shape(
        [("polygon", _points(hull), rgb), ("polygon", _points(cabin), deck)],
        hull,
        height=length * 0.1,
    )


def wake(center, length, angle):
    """A faint white trail behind a moving ship."""
    trail = transform(
        [(-0.48, 0.05), (-1.15, 0.16), (-1.15, -0.16), (-0.48, -0.05)], center, length, angle
    )
    return Shape([("polygon", _points(trail), (225, 235, 240, 64))], trail)


def storage_tank(center, diameter, rgb):
    """A round storage tank with a shaded rim and a roof ring."""
    r = diameter / 2
    outline = _UNIT_CIRCLE * r + np.asarray(center, np.float64)
    return Shape(
        [
            ("ellipse", _circle(center, r), shade(rgb, 0.72)),
            ("ellipse", _circle(center, r * 0.86), rgb),
            ("ellipse", _circle(center, r * 0.5), shade(rgb, 0.9)),
            ("ellipse", _circle(center, r * 0.4), rgb),
        ],
        outline,
        height=diameter * 0.35,
    )


def building(center, length, width, angle, rgb):
    """A building with a gable roof: two halves of different brightness."""
    half_l, half_w = 0.5, 0.5 * width / length
    corners = [(half_l, half_w), (-half_l, half_w), (-half_l, -half_w), (half_l, -half_w)]
    roof = transform(corners, center, length, angle)
    lit = transform([(half_l, 0), (-half_l, 0), (-half_l, -half_w), (half_l, -half_w)],
                    center, length, angle)
    return Shape(
        [
            ("polygon", _points(roof), shade(rgb, 0.88)),
            ("polygon", _points(lit), shade(rgb, 1.06)),
        ],
        roof,
        height=width * 0.45,
    )


def tree(center, radius, rgb):
    """A tree crown: a dark disc with a lit upper-left part."""
    x, y = center
    outline = np.array([[x - radius, y - radius], [x + radius, y + radius]])
    return Shape(
        [
            ("ellipse", _circle(center, radius), shade(rgb, 0.7)),
            ("ellipse", _circle((x - radius * 0.2, y - radius * 0.2), radius * 0.65), rgb),
        ],
        outline,
        height=radius * 0.9,
    )


def _stadium(length, width, points=20):
    """Unit-space outline of a running track (rectangle with round ends)."""
    r = width / 2
    straight = length / 2 - r
    angles = np.linspace(-np.pi / 2, np.pi / 2, points)
    right = np.stack([straight + r * np.cos(angles), r * np.sin(angles)], axis=1)
    return np.concatenate([right, -right])


def playground_outline(center, length, width, angle):
    """The outer edge of a running track, as (N, 2) points."""
    return transform(_stadium(1.0, width / length), center, length, angle)


def playground(center, length, width, angle, track_rgb, field_rgb):
    """An oval running track around a football field with white markings."""
    ratio = width / length
    outer = playground_outline(center, length, width, angle)
    lanes = [transform(_stadium(1.0 - t, ratio - t), center, length, angle)
             for t in (0.05, 0.1)]
    inner = transform(_stadium(0.84, ratio - 0.16), center, length, angle)
    field_l, field_w = 0.3, (ratio - 0.2) / 2
    pitch = transform([(field_l, field_w), (-field_l, field_w), (-field_l, -field_w),
                       (field_l, -field_w), (field_l, field_w)], center, length, angle)
    halfway = transform([(0, field_w), (0, -field_w)], center, length, angle)
    line = max(1, round(length * 0.012))
    white = (236, 236, 232)
    primitives = [("polygon", _points(outer), track_rgb)]
    primitives += [("line", (_points(np.vstack([lane, lane[:1]])), line), shade(track_rgb, 1.25))
                   for lane in lanes]
    primitives += [
        ("polygon", _points(inner), field_rgb),
        ("line", (_points(pitch), line), white),
        ("line", (_points(halfway), line), white),
        ("ring", (_circle(center, length * 0.06), line), white),
    ]
    return Shape(primitives, outer)
