"""Synthetic scenes: determinism, object lists, and objects that can be seen."""

import numpy as np
import pytest

from dove_keras.datasets.synthetic import generate_example
from dove_keras.datasets.synthetic import generate_scene

pytestmark = pytest.mark.backend_independent

SIZE = 128
# Rough prototypes of the colour names, to read an object's colour off the image.
PROTOTYPES = {
    "white": (235, 235, 230), "gray": (140, 140, 140), "red": (200, 50, 45),
    "blue": (50, 90, 190), "yellow": (230, 200, 50), "green": (60, 145, 60),
    "orange": (230, 130, 40), "brown": (125, 80, 50),
}
PAINTED = ("plane", "ship", "storage_tank", "building")


@pytest.fixture(scope="module")
def scenes():
    return [generate_example(seed=7, index=i, image_size=SIZE)[0] for i in range(60)]


def test_same_seed_same_bytes_and_other_seed_differs():
    a, caps_a = generate_example(seed=3, index=5, image_size=SIZE)
    b, caps_b = generate_example(seed=3, index=5, image_size=SIZE)
    assert a.image.tobytes() == b.image.tobytes()
    assert a.description() == b.description() and caps_a == caps_b
    for other in (generate_example(4, 5, SIZE)[0], generate_example(3, 6, SIZE)[0]):
        assert other.image.tobytes() != a.image.tobytes()
    assert generate_scene(11, SIZE).image.tobytes() == generate_scene(11, SIZE).image.tobytes()


@pytest.mark.parametrize("size", [32, 97, 128])
def test_any_size(size):
    scene = generate_scene(np.random.default_rng(1), size)
    assert scene.image.dtype == np.uint8 and scene.image.shape == (size, size, 3)
    assert scene.background.shape == (size, size, 3)
    for group in scene.objects:
        for x0, y0, x1, y1 in group["boxes"]:
            assert 0 <= x0 < x1 <= size and 0 <= y0 < y1 <= size


@pytest.mark.parametrize("size", [16, 64.5, "64"])
def test_bad_size_is_a_clear_error(size):
    with pytest.raises((ValueError, TypeError), match="image_size"):
        generate_scene(0, size)


def test_object_list_is_consistent(scenes):
    for scene in scenes:
        types = [g["type"] for g in scene.objects]
        assert len(types) == len(set(types)), "one group per object type"
        assert any(g["role"] == "key" for g in scene.objects)
        for group in scene.objects:
            assert group["count"] >= 1
            if group["type"] not in ("river", "lake", "sea"):
                assert len(group["boxes"]) == group["count"]
            for relation in group["relations"]:
                assert relation["target"] in types
            if group["type"] == "ship":
                assert {"relation": "on", "target": types[0]} in group["relations"]
                assert types[0] in ("river", "lake", "sea")


def _changed(scene, box):
    x0, y0, x1, y1 = box
    diff = np.abs(scene.image[y0:y1, x0:x1].astype(int) - scene.background[y0:y1, x0:x1]).sum(-1)
    return (diff > 40).mean()


def test_objects_are_visible(scenes):
    checked = 0
    for scene in scenes:
        for group in scene.objects:
            if group["type"] in ("river", "lake", "sea"):
                continue
            minimum = 0.02 if group["type"] == "road" else 0.25
            for box in group["boxes"]:
                assert _changed(scene, box) >= minimum, (group, box)
                checked += 1
    assert checked > 300


def test_painted_objects_have_their_colour(scenes):
    """The object's most changed pixels (not shadow) are nearest to its colour name.

    Tiny objects blend with their surroundings when downsampled, so a few
    per cent may read as a neighbouring colour.
    """
    names = list(PROTOTYPES)
    prototypes = np.asarray([PROTOTYPES[n] for n in names], np.float64)
    checked, wrong = 0, []
    for scene in scenes:
        image = scene.image.astype(np.float64)
        background = scene.background.astype(np.float64)
        for group in (g for g in scene.objects if g["type"] in PAINTED):
            for box in group["boxes"]:
                x0, y0, x1, y1 = box
                img, bg = image[y0:y1, x0:x1], background[y0:y1, x0:x1]
                diff = np.abs(img - bg).sum(-1)
                shadow = (np.abs(img - 0.55 * bg) < 14).all(-1)
                candidates = (diff > 60) & ~shadow
                if candidates.sum() < 4:
                    continue
                pixels = img[candidates & (diff >= np.median(diff[candidates]))]
                distance = np.linalg.norm(prototypes - np.median(pixels, 0), axis=1)
                if names[int(np.argmin(distance))] != group["colour"]:
                    wrong.append((group["type"], group["colour"], box))
                checked += 1
    assert checked > 200
    assert len(wrong) <= 0.03 * checked, wrong


def test_scene_classes_share_ground_and_clutter():
    """Key objects are not predictable from the ground: each key type occurs on many grounds."""
    grounds, clutter = {}, {}
    for i in range(150):
        scene = generate_example(seed=0, index=i, image_size=32)[0]
        for group in scene.objects:
            if group["role"] == "key" and group["type"] in ("plane", "storage_tank", "building"):
                grounds.setdefault(group["type"], set()).add(scene.ground["kind"])
                others = {g["type"] for g in scene.objects if g["role"] == "context"}
                clutter.setdefault(group["type"], set()).update(others)
    assert set(grounds) == {"plane", "storage_tank", "building"}
    for kind in grounds:
        assert len(grounds[kind]) >= 4, (kind, grounds[kind])
        assert {"tree", "road"} <= clutter[kind], (kind, clutter[kind])
