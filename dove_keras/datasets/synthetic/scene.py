"""One synthetic aerial scene: composition, rendering and its object list.

A scene is textured ground with shared clutter (water, roads, trees) and one or
two key object groups (planes, ships, storage tanks, buildings, a playground or
a bridge). The clutter is drawn independently of the key objects, so scenes
that look alike at a glance differ mainly in their small objects.

Each entry of `Scene.objects` is a dict:

- "type": "plane", "ship", "storage_tank", "building", "playground", "bridge",
  "tree", "road", "river", "lake" or "sea".
- "role": "key" (what the scene is about) or "context" (shared clutter).
- "count": number of objects (1 for a water body).
- "colour": colour name (see `colours.COLOURS`; water and ground use their own).
- "size": "small", "medium", "large", or None for types without size classes.
- "arrangement": "row", "scattered" or None.
- "position": "top left", "top", ..., "center", or None when spread out.
- "boxes": one [x0, y0, x1, y1] pixel box per object (inclusive-exclusive).
- "relations": list of {"relation", "target"} with relation "next_to", "on",
  "across", "surrounded_by" or "on_both_sides_of" and target an object type.
- playgrounds also have "field_colour" (the football field inside the track);
  ships have "moving" (sailing with a wake, or lying still).
"""

import dataclasses

import numpy as np
from PIL import Image

from dove_keras.datasets.synthetic import colours
from dove_keras.datasets.synthetic import objects
from dove_keras.datasets.synthetic import relations
from dove_keras.datasets.synthetic import render
from dove_keras.datasets.synthetic import textures
from dove_keras.datasets.synthetic.layout import Layout

KEY_TYPES = ("plane", "ship", "storage_tank", "building", "playground", "bridge")
_KEY_WEIGHTS = {"plane": 1.0, "ship": 2.0, "storage_tank": 1.0, "building": 1.0,
                "playground": 0.6, "bridge": 1.2}
COUNT_RANGES = {"plane": (1, 5), "ship": (1, 5), "storage_tank": (1, 7), "building": (1, 8)}
SIZE_CLASSES = ("small", "medium", "large")
MIN_IMAGE_SIZE = 32
TREE_RGB = (40, 80, 34)
FIELD_RGB = (70, 140, 62)


@dataclasses.dataclass
class Scene:
    """A generated scene.

    Attributes:
        image: uint8 (H, W, 3) RGB image.
        background: uint8 (H, W, 3) terrain (ground and water) under the roads,
            bridges and objects.
        ground: dict with "kind" (see `textures.GROUND_KINDS`) and "colours".
        objects: list of object-group dicts (see the module docstring).
    """

    image: np.ndarray
    background: np.ndarray
    ground: dict
    objects: list

    def description(self):
        """The JSON-serialisable part: {"ground": ..., "objects": ...}."""
        return {"ground": self.ground, "objects": self.objects}


def _group(kind, role, shapes_, colour, **fields):
    group = {"type": kind, "role": role, "count": len(shapes_), "colour": colour,
             "size": None, "arrangement": None, "shapes": shapes_, "relations": []}
    group.update(fields)
    return group


def _choose_keys(rng, water_kind):
    allowed = [k for k in KEY_TYPES
               if (k != "ship" or water_kind) and (k != "bridge" or water_kind == "river")]
    weights = np.array([_KEY_WEIGHTS[k] for k in allowed])
    order = [str(k) for k in rng.choice(allowed, size=len(allowed), replace=False,
                                        p=weights / weights.sum())]
    count = 2 if rng.random() < 0.4 else 1
    keys = [order[0]]
    keys += [k for k in order[1:] if k != "bridge"][: count - 1]
    return keys, order


class _Builder:
    """Places everything of one scene on a 2x canvas, then renders it."""

    def __init__(self, rng, image_size):
        self.rng = rng
        self.image_size = image_size
        self.layout = Layout(2 * image_size)
        self.groups = []
        self.flat = []
        self.wakes = []
        self.bridge_deck = None

    def ground(self):
        kind = textures.GROUND_KINDS[self.rng.integers(len(textures.GROUND_KINDS))]
        self.ground_kind = kind
        self.ground_image, self.ground_colours = textures.ground_texture(
            self.rng, kind, self.image_size)
        self.ground_rgb = self.ground_image.mean(axis=(0, 1))

    def water(self):
        rng, layout = self.rng, self.layout
        if rng.random() >= 0.5:
            return
        kind = ("river", "river", "lake", "sea")[rng.integers(4)]
        {"river": layout.add_river, "lake": layout.add_lake, "sea": layout.add_sea}[kind](rng)
        self.water_image, self.water_colour = textures.water_texture(rng, self.image_size)
        self.water_rgb = self.water_image.mean(axis=(0, 1))
        self.groups.append(_group(kind, "context", [], self.water_colour, count=1,
                                  boxes=[_mask_box(layout.water)]))

    def roads(self, need_bridge):
        rng, layout = self.rng, self.layout
        size = layout.size
        if layout.water_kind == "river":
            if need_bridge or rng.random() < 0.4:
                line = layout.river_line
                point = line[rng.integers(len(line) // 3, 2 * len(line) // 3)]
                angle = layout.river_tangent(point) + np.pi / 2 + rng.uniform(-0.35, 0.35)
                road = layout.add_road(rng, point, angle, allow_crossing=True)
                deck = layout.crossing(road)
                if deck is not None:
                    self.bridge_deck = (deck, road[1])
        elif rng.random() < 0.55:
            wanted = 2 if rng.random() < 0.35 else 1
            for _ in range(objects.TRIES):
                if len(layout.roads) == wanted:
                    break
                angle = rng.uniform(0, np.pi)
                if layout.roads:
                    angle += np.pi / 2 + rng.uniform(-0.4, 0.4)
                layout.add_road(rng, rng.uniform(0.2, 0.8, size=2) * size, angle)
        if not layout.roads:
            return
        boxes = [_mask_box(mask) for mask in layout.road_masks]
        road = _group("road", "context", [], "gray", count=len(layout.roads), boxes=boxes)
        if len(layout.roads) == 2 and (layout.road_masks[0] & layout.road_masks[1]).any():
            road["relations"].append({"relation": "across", "target": "road"})
        self.groups.append(road)

    def bridge(self, role):
        deck, width = self.bridge_deck
        rng = self.rng
        colour = colours.pick_colour(rng, "bridge", self.water_rgb)
        self.bridge_rgb = colours.jitter(rng, colours.COLOURS[colour], 6)
        self.bridge_deck = (deck, width * 1.25)
        (x0, y0), (x1, y1) = deck
        pad = width * 0.7
        box = (min(x0, x1) - pad, min(y0, y1) - pad, max(x0, x1) + pad, max(y0, y1) + pad)
        across = [{"relation": "across", "target": "river"}]
        self.groups.append(_group("bridge", role, [], colour, count=1, boxes=[box],
                                  relations=list(across)))
        next(g for g in self.groups if g["type"] == "road")["relations"].extend(across)

    def key_group(self, kind):
        rng, layout = self.rng, self.layout
        size_class = SIZE_CLASSES[rng.integers(3)]
        if kind == "playground":
            colour = colours.pick_colour(rng, kind, self.ground_rgb)
            placed = objects.place_playground(rng, layout, size_class, colours.jitter(
                rng, colours.COLOURS[colour]), colours.jitter(rng, FIELD_RGB, 6))
            self.flat.extend(placed)
            return placed and _group(kind, "key", placed, colour, size=size_class,
                                     field_colour="green")
        background = self.water_rgb if kind == "ship" else self.ground_rgb
        colour = colours.pick_colour(rng, kind, background)
        rgb = colours.jitter(rng, colours.COLOURS[colour])
        count = int(rng.integers(COUNT_RANGES[kind][0], COUNT_RANGES[kind][1] + 1))
        place = {"plane": objects.place_planes, "ship": objects.place_ships,
                 "storage_tank": objects.place_tanks, "building": objects.place_buildings}[kind]
        placed, arrangement = place(rng, layout, count, size_class, rgb)
        if not placed:
            return None
        group = _group(kind, "key", placed, colour, size=size_class,
                       arrangement=arrangement if len(placed) > 1 else None)
        if kind == "ship":
            group["relations"].append({"relation": "on", "target": layout.water_kind})
            # Ships moored in a row lie still; others sail, with a wake.
            group["moving"] = bool(arrangement != "row" or (layout.water_kind == "river"
                                                            and rng.random() < 0.5))
            if group["moving"]:
                self.wakes = objects.place_wakes(placed)
        return group

    def trees(self):
        rng, layout = self.rng, self.layout
        spots = []
        keys = [g for g in self.groups if g["role"] == "key" and g["shapes"]]
        if keys and rng.random() < 0.3:
            box = relations.union_box([s.box() for s in keys[0]["shapes"]])
            spots += objects.ring_spots(layout, box)
        lines = []
        if layout.river_line is not None:
            lines.append((layout.river_line, layout.river_width / 2))
        if len(layout.roads) == 1:
            lines.append((relations.road_polyline(layout.roads[0]), layout.roads[0][1] / 2))
        if lines and rng.random() < 0.35:
            line, half_width = lines[rng.integers(len(lines))]
            spots += objects.line_spots(layout, line, half_width)
        if rng.random() < 0.75:
            clusters, per_cluster = int(rng.integers(1, 5)), int(rng.integers(3, 9))
            spots += objects.cluster_spots(rng, layout, clusters, per_cluster)
        darkest = 0.6 * float(np.mean(self.ground_rgb)) / float(np.mean(TREE_RGB))
        rgb = colours.shade(colours.jitter(rng, TREE_RGB, 6), min(1.0, darkest))
        placed = objects.place_trees(rng, layout, spots, rgb)
        if placed:
            self.groups.append(_group("tree", "context", placed, "green"))

    def build(self):
        rng = self.rng
        self.ground()
        self.water()
        keys, order = _choose_keys(rng, self.layout.water_kind)
        self.roads(need_bridge="bridge" in keys)
        if self.bridge_deck is not None:
            self.bridge("key" if "bridge" in keys else "context")
        done = ["bridge"] if "bridge" in keys else []
        for kind in keys + order:  # a key that does not fit is replaced by the next type
            if len(done) == len(keys):
                break
            if kind not in done and kind != "bridge":
                group = self.key_group(kind)
                if group:
                    self.groups.append(group)
                    done.append(kind)
        self.trees()
        for group in self.groups:
            if group["shapes"]:
                group["boxes"] = [s.box() for s in group["shapes"]]
        relations.add_relations(self.groups, self.layout)
        return self.render()

    def render(self):
        layout = self.layout
        image = _upsample(self.ground_image.astype(np.uint8))
        if layout.water_kind:
            image = render.darken(image, layout.bank, 0.72)
            water = _upsample(self.water_image.astype(np.uint8))
            mask = Image.fromarray(layout.water.astype(np.uint8) * 255)
            image = Image.composite(water, image, mask)
        background = np.asarray(image.reduce(2))
        render.draw_shapes(image, self.wakes)
        for road in layout.roads:
            render.draw_road(image, road[0], road[1])
        sun_angle = self.rng.uniform(0, 2 * np.pi)
        sun = (np.cos(sun_angle), np.sin(sun_angle))
        if self.bridge_deck is not None:
            deck, width = self.bridge_deck
            render.draw_bridge(image, deck, width, self.bridge_rgb, sun)
        render.draw_shapes(image, self.flat)
        trees = self._trees()
        solid = [s for g in self.groups if g["type"] != "tree" for s in g["shapes"] if s.height > 0]
        image = render.cast_shadows(image, trees + solid, sun)
        render.draw_shapes(image, trees + solid)
        return Scene(
            image=np.asarray(image.reduce(2)),
            background=background,
            ground={"kind": self.ground_kind, "colours": list(self.ground_colours)},
            objects=[self._public(g) for g in self.groups],
        )

    def _trees(self):
        return next((g["shapes"] for g in self.groups if g["type"] == "tree"), [])

    def _public(self, group):
        size = self.image_size
        boxes = [[int(np.clip(np.floor(x0 / 2), 0, size)), int(np.clip(np.floor(y0 / 2), 0, size)),
                  int(np.clip(np.ceil(x1 / 2), 0, size)), int(np.clip(np.ceil(y1 / 2), 0, size))]
                 for x0, y0, x1, y1 in group["boxes"]]
        public = {k: v for k, v in group.items() if k not in ("shapes", "boxes")}
        if group["shapes"]:
            public["position"] = relations.position_label(group["boxes"], self.layout.size)
        else:
            public["position"] = None
        public["boxes"] = boxes
        return public


def _mask_box(mask):
    ys, xs = np.nonzero(mask)
    return (xs.min(), ys.min(), xs.max() + 1, ys.max() + 1)


def _upsample(texture):
    image = Image.fromarray(texture)
    return image.resize((2 * image.width, 2 * image.height), Image.NEAREST)


def generate_scene(rng, image_size=128):
    """Generates one scene.

    Args:
        rng: numpy Generator, or an int seed.
        image_size: side of the square image in pixels (at least 32).

    Returns:
        A `Scene`.
    """
    if int(image_size) != image_size or image_size < MIN_IMAGE_SIZE:
        raise ValueError(f"image_size must be an integer >= {MIN_IMAGE_SIZE}, got {image_size!r}")
    return _Builder(np.random.default_rng(rng), int(image_size)).build()
