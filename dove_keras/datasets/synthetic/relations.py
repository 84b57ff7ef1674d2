"""Spatial relations and positions measured on the placed objects.

Relations are computed from geometry, never assumed from how objects were
placed, so a caption built from them describes what the image shows.
"""

import numpy as np

NEXT_TO_UNITS = 8.0  # gap (in 128-pixel units) under which two things are "next to"
RING_UNITS = 16.0  # how far around a group trees count as surrounding it
SIDE_UNITS = 16.0  # how far beside a road or river objects count as lining it
SUBJECTS = ("plane", "ship", "storage_tank", "building", "playground")


def union_box(boxes):
    """The box around a list of (x0, y0, x1, y1) boxes."""
    boxes = np.asarray(boxes, np.float64)
    return (*boxes[:, :2].min(axis=0), *boxes[:, 2:].max(axis=0))


def box_mask(boxes, size):
    """Boolean (size, size) mask covering the given boxes."""
    mask = np.zeros((size, size), bool)
    for x0, y0, x1, y1 in boxes:
        mask[max(0, int(y0)):int(np.ceil(y1)) + 1, max(0, int(x0)):int(np.ceil(x1)) + 1] = True
    return mask


def position_label(boxes, size):
    """Where a group lies ("top left", "center", ...), or None when spread out."""
    x0, y0, x1, y1 = union_box(boxes)
    if max(x1 - x0, y1 - y0) > 0.55 * size:
        return None
    cx, cy = (x0 + x1) / 2 / size, (y0 + y1) / 2 / size
    row = "top" if cy < 0.36 else "bottom" if cy > 0.64 else ""
    col = "left" if cx < 0.36 else "right" if cx > 0.64 else ""
    return f"{row} {col}".strip() or "center"


def next_to(boxes, target_mask, gap):
    """Whether at least half of the boxes come within `gap` pixels of the target."""
    size = target_mask.shape[0]
    near = 0
    for x0, y0, x1, y1 in boxes:
        rows = slice(max(0, int(y0 - gap)), min(size, int(np.ceil(y1 + gap)) + 1))
        cols = slice(max(0, int(x0 - gap)), min(size, int(np.ceil(x1 + gap)) + 1))
        near += bool(target_mask[rows, cols].any())
    return 2 * near >= len(boxes)


def surrounded(box, tree_boxes, reach, sectors=8, needed=7):
    """Whether trees close around `box` cover most directions around it."""
    x0, y0, x1, y1 = box
    center = np.array([(x0 + x1) / 2, (y0 + y1) / 2])
    covered = set()
    for tx0, ty0, tx1, ty1 in tree_boxes:
        tree = np.array([(tx0 + tx1) / 2, (ty0 + ty1) / 2])
        dx = max(x0 - tree[0], 0.0, tree[0] - x1)
        dy = max(y0 - tree[1], 0.0, tree[1] - y1)
        if 0 < np.hypot(dx, dy) <= reach:
            angle = np.arctan2(*(tree - center)[::-1]) % (2 * np.pi)
            covered.add(int(angle / (2 * np.pi) * sectors) % sectors)
    return len(covered) >= needed


def signed_offsets(centres, line):
    """Signed distance of points from a polyline (positive on its left)."""
    line = np.asarray(line, np.float64)
    offsets = []
    for point in np.asarray(centres, np.float64):
        i = int(np.argmin(np.sum((line - point) ** 2, axis=1)))
        a, b = line[max(0, i - 1)], line[min(len(line) - 1, i + 1)]
        tangent = (b - a) / max(np.hypot(*(b - a)), 1e-9)
        rel = point - line[i]
        offsets.append(tangent[0] * rel[1] - tangent[1] * rel[0])
    return np.asarray(offsets)


def both_sides(boxes, line, half_width, reach, minimum=2):
    """Whether at least `minimum` boxes line each side of a road or river."""
    centres = [((x0 + x1) / 2, (y0 + y1) / 2) for x0, y0, x1, y1 in boxes]
    offsets = signed_offsets(centres, line)
    close = np.abs(offsets) <= half_width + reach
    return (close & (offsets > 0)).sum() >= minimum and (close & (offsets < 0)).sum() >= minimum


def road_polyline(road, points=64):
    """A straight road's centre line as points."""
    (start, end), _ = road
    t = np.linspace(0, 1, points)[:, None]
    return np.asarray(start) + t * (np.asarray(end) - np.asarray(start))


def add_relations(groups, layout):
    """Fills each group's "relations" list from the geometry of the scene.

    Args:
        groups: internal group dicts with "type", "boxes" (canvas pixels) and
            "relations" (relations set at construction, e.g. ships on water).
        layout: the scene `Layout` (water and road masks, centre lines).
    """
    size = layout.size
    gap = layout.units(NEXT_TO_UNITS)
    by_type = {g["type"]: g for g in groups}
    masks = {}
    for group in groups:
        if group["type"] in ("river", "lake", "sea"):
            masks[group["type"]] = layout.water
        elif group["type"] == "road":
            masks["road"] = layout.road
        else:
            masks[group["type"]] = box_mask(group["boxes"], size)
    for group in groups:
        relations = group["relations"]
        if group["type"] in SUBJECTS:
            for target in groups:
                if target is group or {"relation": "on", "target": target["type"]} in relations:
                    continue
                if next_to(group["boxes"], masks[target["type"]], gap):
                    relations.append({"relation": "next_to", "target": target["type"]})
            if "tree" in by_type and surrounded(
                union_box(group["boxes"]), by_type["tree"]["boxes"], layout.units(RING_UNITS)
            ):
                relations.append({"relation": "surrounded_by", "target": "tree"})
        if group["type"] in ("tree", "building"):
            lines = []
            if "river" in by_type:
                lines.append(("river", layout.river_line, layout.river_width / 2))
            if "road" in by_type and len(layout.roads) == 1:
                lines.append(("road", road_polyline(layout.roads[0]), layout.roads[0][1] / 2))
            for target, line, half_width in lines:
                if both_sides(group["boxes"], line, half_width, layout.units(SIDE_UNITS)):
                    relations.append({"relation": "on_both_sides_of", "target": target})
