"""Placement of each object type on a `Layout`: where, how many, which way.

Every `place_*` function returns the `Shape`s it managed to place (possibly
fewer than asked, never overlapping) and, trees excepted, marks them as
occupied. The `*_spots` functions propose tree positions.
"""

import numpy as np

from dove_keras.datasets.synthetic import shapes

# Object sizes in units (pixels of a 128-pixel image) per size class: plane
# length, ship length, tank diameter, building length, playground length.
SIZE_RANGES = {
    "plane": {"small": (10, 12), "medium": (13, 16), "large": (17, 21)},
    "ship": {"small": (8, 10), "medium": (11, 14), "large": (15, 18)},
    "storage_tank": {"small": (6, 8), "medium": (9, 12), "large": (13, 16)},
    "building": {"small": (8, 11), "medium": (12, 16), "large": (17, 23)},
    "playground": {"small": (38, 46), "medium": (47, 56), "large": (57, 66)},
}
TRIES = 40


def object_size(rng, layout, kind, size_class):
    """A size in canvas pixels drawn from the class range of an object type."""
    low, high = SIZE_RANGES[kind][size_class]
    return layout.units(rng.uniform(low, high))


def _fits(layout, shape, on_water, margin):
    if on_water:
        return layout.fits_water(shape.outline, shape.box(), margin)
    return layout.fits_land(shape.box(), margin)


def _commit(layout, placed):
    for shape in placed:
        layout.occupy(shape.box())
    return placed


def place_row(rng, layout, make, count, spacing, direction, heading, on_water=False):
    """`count` objects at equal spacing along a line, all facing `heading`.

    Args:
        rng: numpy Generator.
        layout: the `Layout`.
        make: (center, angle) -> `Shape`.
        count: number of objects.
        spacing: distance between neighbouring centres (canvas pixels).
        direction: direction of the row (radians).
        heading: angle passed to `make`.
        on_water: place on water instead of free land.

    Returns:
        The placed shapes: all `count`, or [] when no free row was found.
    """
    step = spacing * np.array([np.cos(direction), np.sin(direction)])
    margin = layout.units(1.5)
    for _ in range(TRIES):
        start = rng.uniform(0.05, 0.95, size=2) * layout.size
        group = [make(start + i * step, heading) for i in range(count)]
        if all(_fits(layout, shape, on_water, margin) for shape in group):
            return _commit(layout, group)
    return []


def place_scattered(rng, layout, make, count, heading=None, on_water=False, spread=0.3):
    """Up to `count` objects around a random anchor, each placed independently.

    Args:
        rng: numpy Generator.
        layout: the `Layout`.
        make: (center, angle) -> `Shape`.
        count: number of objects wanted.
        heading: shared angle, or None for a random angle per object.
        on_water: place on water instead of free land.
        spread: cluster radius as a fraction of the canvas.

    Returns:
        The placed shapes.
    """
    anchor = rng.uniform(0.25, 0.75, size=2) * layout.size
    placed = []
    margin = layout.units(1.5)
    for _ in range(count):
        for _ in range(TRIES):
            center = anchor + rng.uniform(-spread, spread, size=2) * layout.size
            angle = rng.uniform(0, 2 * np.pi) if heading is None else heading
            shape = make(center, angle)
            if _fits(layout, shape, on_water, margin):
                placed.append(shape)
                layout.occupy(shape.box())
                break
    return placed


def place_planes(rng, layout, count, size_class, rgb):
    """Planes parked side by side in a row, or scattered with their own headings."""
    length = object_size(rng, layout, "plane", size_class)

    def make(center, angle):
        return shapes.plane(center, length, angle, rgb)

    heading = rng.uniform(0, 2 * np.pi)
    if count > 1 and rng.random() < 0.6:
        placed = place_row(rng, layout, make, count, length * 1.15, heading + np.pi / 2, heading)
        if placed:
            return placed, "row"
    shared = heading if rng.random() < 0.5 else None
    return place_scattered(rng, layout, make, count, shared), "scattered"


def place_ships(rng, layout, count, size_class, rgb):
    """Ships on the water: along the river, or moored in a row or scattered."""
    length = object_size(rng, layout, "ship", size_class)

    def make(center, angle):
        return shapes.ship(center, length, angle, rgb)

    if layout.water_kind == "river":
        line = layout.river_line
        step = max(1, int(np.ceil(length * 1.3 / np.hypot(*(line[1] - line[0])))))
        count = min(count, (len(line) - 1) // step + 1)
        best = []
        for _ in range(TRIES):
            start = rng.integers(len(line) - step * (count - 1))
            lateral = rng.uniform(-0.22, 0.22) * layout.river_width
            group = []
            for i in range(count):
                point = line[start + i * step]
                angle = layout.river_tangent(point) + np.pi * (rng.random() < 0.5)
                normal = np.array([-np.sin(angle), np.cos(angle)])
                group.append(make(point + lateral * normal, angle))
            placed = [s for s in group if _fits(layout, s, True, layout.units(1))]
            best = placed if len(placed) > len(best) else best
            if len(best) == count:
                break
        return _commit(layout, best), "row"
    heading = rng.uniform(0, 2 * np.pi)
    if count > 1 and rng.random() < 0.5:
        placed = place_row(rng, layout, make, count, length * 0.42, heading + np.pi / 2,
                           heading, on_water=True)
        if placed:
            return placed, "row"
    return place_scattered(rng, layout, make, count, None, on_water=True, spread=0.4), "scattered"


def place_wakes(ships_placed):
    """A wake behind each ship (drawn on the water below them)."""
    wakes = []
    for ship in ships_placed:
        bow, stern = ship.outline[0], ship.outline[shapes.SHIP_STERN]
        angle = np.arctan2(bow[1] - stern[1], bow[0] - stern[0])
        wakes.append(shapes.wake((bow + stern) / 2, np.hypot(*(bow - stern)), angle))
    return wakes


def place_tanks(rng, layout, count, size_class, rgb):
    """Storage tanks in a tight row or a loose cluster."""
    diameter = object_size(rng, layout, "storage_tank", size_class)

    def make(center, angle):
        return shapes.storage_tank(center, diameter, rgb)

    if count > 1 and rng.random() < 0.5:
        placed = place_row(rng, layout, make, count, diameter * 1.3,
                           rng.uniform(0, np.pi), 0.0)
        if placed:
            return placed, "row"
    return place_scattered(rng, layout, make, count, 0.0, spread=0.2), "scattered"


def place_buildings(rng, layout, count, size_class, rgb):
    """Buildings sharing one orientation (the road's, when there is a road)."""
    length = object_size(rng, layout, "building", size_class)
    width = length * rng.uniform(0.5, 0.8)
    if layout.roads:
        (start, end), _ = layout.roads[0]
        heading = float(np.arctan2(end[1] - start[1], end[0] - start[0]))
    else:
        heading = rng.uniform(0, np.pi)

    def make(center, angle):
        return shapes.building(center, length, width, angle, rgb)

    if count > 1 and rng.random() < 0.5:
        placed = place_row(rng, layout, make, count, length * 1.5, heading, heading)
        if placed:
            return placed, "row"
    return place_scattered(rng, layout, make, count, heading, spread=0.25), "scattered"


def place_playground(rng, layout, size_class, track_rgb, field_rgb):
    """One running track with its football field, or [] when it does not fit."""
    length = object_size(rng, layout, "playground", size_class)
    width = length * rng.uniform(0.55, 0.62)
    for _ in range(TRIES):
        center = rng.uniform(0.2, 0.8, size=2) * layout.size
        angle = rng.uniform(0, np.pi)
        outline = shapes.playground_outline(center, length, width, angle)
        box = (*outline.min(axis=0), *outline.max(axis=0))
        if layout.fits_land(box, layout.units(2)):
            shape = shapes.playground(center, length, width, angle, track_rgb, field_rgb)
            return _commit(layout, [shape])
    return []


def _tree_fits(layout, shape, centres, radius):
    if not layout.fits_land(shape.box(), layout.units(0.5)):
        return False
    center = shape.outline.mean(axis=0)
    return all(np.hypot(*(center - c)) >= 1.5 * radius for c in centres)


def place_trees(rng, layout, spots, rgb):
    """Trees at candidate spots (each jittered a little), not too close together.

    Args:
        rng: numpy Generator.
        layout: the `Layout`.
        spots: candidate centres (canvas pixels).
        rgb: crown colour.

    Returns:
        The placed tree shapes (trees are placed last and not marked as occupied).
    """
    centres, placed = [], []
    for spot in spots:
        radius = layout.units(rng.uniform(2.8, 4.4))
        center = np.asarray(spot) + rng.normal(0, layout.units(0.8), size=2)
        shape = shapes.tree(center, radius, rgb)
        if _tree_fits(layout, shape, centres, radius):
            placed.append(shape)
            centres.append(center)
    return placed


def cluster_spots(rng, layout, clusters, per_cluster):
    """Candidate tree centres in a few random clumps."""
    spots = []
    for _ in range(clusters):
        anchor = rng.uniform(0.05, 0.95, size=2) * layout.size
        spread = layout.units(rng.uniform(5, 14))
        spots.extend(anchor + rng.normal(0, spread, size=(per_cluster, 2)))
    return spots


def ring_spots(layout, box):
    """Candidate tree centres on a ring around a box."""
    x0, y0, x1, y1 = box
    gap = layout.units(5)
    cx, cy = (x0 + x1) / 2, (y0 + y1) / 2
    rx, ry = (x1 - x0) / 2 + gap, (y1 - y0) / 2 + gap
    count = int(2 * np.pi * max(rx, ry) / layout.units(6))
    theta = np.linspace(0, 2 * np.pi, max(count, 10), endpoint=False)
    return list(np.stack([cx + rx * np.cos(theta), cy + ry * np.sin(theta)], axis=1))


def line_spots(layout, points, half_width):
    """Candidate tree centres along both sides of a centre line."""
    points = np.asarray(points)
    gap = half_width + layout.units(5)
    spots = []
    spacing = layout.units(7)
    total = np.concatenate([[0], np.cumsum(np.hypot(*np.diff(points, axis=0).T))])
    for distance in np.arange(0, total[-1], spacing):
        i = min(int(np.searchsorted(total, distance)), len(points) - 1)
        a, b = points[max(0, i - 1)], points[min(len(points) - 1, i + 1)]
        tangent = (b - a) / max(np.hypot(*(b - a)), 1e-6)
        normal = np.array([-tangent[1], tangent[0]])
        spots.append(points[i] + gap * normal)
        spots.append(points[i] - gap * normal)
    return spots
