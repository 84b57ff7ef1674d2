"""Synthetic captions mention only what is in their scene.

The check reads captions with its own small lexicon of object, ground, colour,
number and size words (not the generator's templates): every object or ground
word must name something present, every colour word must attach to a noun whose
object has that colour, every count must equal the object count.
"""

import re

import pytest

from dove_keras.datasets.synthetic import generate_captions
from dove_keras.datasets.synthetic import generate_example

pytestmark = pytest.mark.backend_independent

OBJECTS = {
    "plane": "plane", "airplane": "plane", "aircraft": "plane", "jet": "plane",
    "ship": "ship", "boat": "ship", "vessel": "ship",
    "tank": "storage_tank",
    "building": "building", "house": "building", "roof": "building",
    "tree": "tree",
    "road": "road", "street": "road", "highway": "road",
    "river": "river", "lake": "lake", "pond": "lake", "sea": "sea", "ocean": "sea",
    "bridge": "bridge",
    "playground": "playground", "track": "playground", "field": "playground",
    "stadium": "playground",
    "airport": "plane", "harbor": "ship", "port": "ship",
}
UNCOUNTED = {"water": ("river", "lake", "sea")}
GROUNDS = {
    "grass": "grass", "lawn": "grass", "meadow": "grass", "grassland": "grass",
    "sand": "sand", "sandy": "sand", "desert": "sand", "beach": "sand",
    "bare": "bare_land", "bareland": "bare_land", "soil": "bare_land",
    "farmland": "farmland", "cropland": "farmland",
    "concrete": "concrete", "cement": "concrete", "paved": "concrete",
}
COLOURS = {"white", "gray", "grey", "red", "blue", "yellow", "green", "orange", "brown",
           "khaki", "black", "purple", "pink", "silver", "cyan"}
SIZES = {"small": "small", "little": "small", "tiny": "small",
         "large": "large", "big": "large", "huge": "large"}
NUMBERS = {w: i for i, w in enumerate(
    "zero one two three four five six seven eight nine ten eleven twelve thirteen "
    "fourteen fifteen sixteen seventeen eighteen nineteen twenty".split())}
NUMBERS.update({"a": 1, "an": 1, "single": 1})
VAGUE = {"few": (2, 4), "several": (3, 9), "many": (5, 10**6), "some": (2, 10**6),
         "lots": (5, 10**6)}
MODIFIERS = COLOURS | set(SIZES) | {"dark", "light", "storage", "oil", "running", "football",
                                   "soccer", "oval", "round", "circular", "rectangular", "land"}
POSITIONS = {"left": "left", "right": "right", "top": "top", "upper": "top", "bottom": "bottom",
             "lower": "bottom", "middle": "center", "center": "center"}
RELATIONS = {"surrounded": "surrounded_by", "sides": "on_both_sides_of", "beside": "next_to",
             "next": "next_to", "near": "next_to", "close": "next_to", "across": "across",
             "crosses": "across", "cross": "across", "spans": "across", "over": "across"}


def _singular(word):
    if word.endswith("s") and word[:-1] in OBJECTS:
        return word[:-1], True
    return word, False


def _look_back(tokens, i):
    """Modifier words before a noun and the quantifier (if any) before them."""
    j, modifiers = i - 1, []
    while j >= 0:
        if tokens[j] in MODIFIERS:
            modifiers.append(j)
        elif tokens[j] == "and" and 0 < j < len(tokens) - 1 and tokens[j - 1] in COLOURS \
                and tokens[j + 1] in COLOURS:
            pass
        else:
            break
        j -= 1
    quantifier = None
    if j >= 0 and tokens[j] in NUMBERS:
        quantifier = (NUMBERS[tokens[j]],) * 2
    elif j >= 0 and tokens[j] in VAGUE:
        quantifier = VAGUE[tokens[j]]
    elif j >= 1 and tokens[j] == "of" and tokens[j - 1] == "lots":
        quantifier = VAGUE["lots"]
    return modifiers, quantifier


def check_caption(caption, scene):
    """Problems of a caption against its scene description (empty when none)."""
    groups = {g["type"]: g for g in scene["objects"]}
    tokens = re.findall(r"[a-z]+", caption.lower())
    problems, used_colours, mentioned = [], set(), set()
    for i, token in enumerate(tokens):
        word, plural = _singular(token)
        if word in OBJECTS or token in UNCOUNTED:
            kinds = UNCOUNTED.get(token, (OBJECTS.get(word),))
            present = [groups[k] for k in kinds if k in groups]
            if not present:
                problems.append(f"'{token}' but no {kinds} in the scene")
                continue
            group = present[0]
            mentioned.add(group["type"])
            modifiers, quantifier = _look_back(tokens, i)
            allowed = {group["colour"], group.get("field_colour")}
            if token not in UNCOUNTED:
                if plural and group["count"] < 2 or not plural and group["count"] != 1:
                    problems.append(f"'{token}' but {group['count']} {group['type']}")
                if quantifier and not quantifier[0] <= group["count"] <= quantifier[1]:
                    problems.append(f"count {quantifier} for {group['count']} {group['type']}")
        elif token in GROUNDS:
            if GROUNDS[token] != scene["ground"]["kind"]:
                problems.append(f"'{token}' on {scene['ground']['kind']} ground")
                continue
            modifiers, _ = _look_back(tokens, i)
            allowed, group = set(scene["ground"]["colours"]), None
        else:
            continue
        for j in modifiers:
            if tokens[j] in COLOURS:
                used_colours.add(j)
                colour = "gray" if tokens[j] == "grey" else tokens[j]
                if colour not in allowed:
                    problems.append(f"'{tokens[j]} {token}' but colour is {allowed}")
            if tokens[j] in SIZES and group is not None and SIZES[tokens[j]] != group["size"]:
                problems.append(f"'{tokens[j]} {token}' but size is {group['size']}")
    for j, token in enumerate(tokens):
        if token in COLOURS and j not in used_colours:
            problems.append(f"colour '{token}' attached to no object")
        if token in POSITIONS and not any(
                POSITIONS[token] in (g.get("position") or "") for g in scene["objects"]):
            problems.append(f"position '{token}' but no group there")
        relations = {r["relation"] for g in scene["objects"] for r in g["relations"]}
        if token in RELATIONS and RELATIONS[token] not in relations:
            problems.append(f"relation '{token}' not in the scene")
    keys = {g["type"] for g in scene["objects"] if g["role"] == "key"}
    if not keys & mentioned:
        problems.append(f"no key object {keys} named")
    return problems


@pytest.fixture(scope="module")
def examples():
    return [generate_example(seed=5, index=i, image_size=32) for i in range(150)]


def test_captions_mention_only_what_is_in_the_scene(examples):
    failures = []
    for scene, captions in examples:
        for caption in captions:
            problems = check_caption(caption, scene.description())
            if problems:
                failures.append((caption, problems, scene.description()))
    assert not failures, failures[:3]


def test_checker_catches_wrong_captions(examples):
    scene = examples[0][0].description()
    key = next(g for g in scene["objects"] if g["role"] == "key")
    absent = next(t for t in ("plane", "ship", "tank", "bridge") if
                  {"tank": "storage_tank"}.get(t, t) not in {g["type"] for g in scene["objects"]})
    wrong_count = "twenty" if key["count"] != 20 else "two"
    assert check_caption(f"there is a {absent} here", scene)
    assert check_caption(f"{wrong_count} {key['type'].split('_')[-1]}s", scene)
    assert check_caption(f"a purple {key['type'].split('_')[-1]}", scene)


def test_five_different_captions_per_image(examples):
    for _, captions in examples:
        assert len(captions) == 5
        normalised = {re.sub(r"[^a-z0-9]+", " ", c.lower()).strip() for c in captions}
        assert len(normalised) == 5, captions
        assert all(c and "\n" not in c for c in captions)


def test_captions_vary_across_the_dataset(examples):
    captions = [c for _, caps in examples for c in caps]
    first_words = {c.split()[0].lower() for c in captions}
    assert len(set(captions)) > 0.95 * len(captions)
    assert len(first_words) >= 8
    assert {"one", "two", "three"} <= set(" ".join(captions).lower().split())


def test_captions_depend_only_on_rng_and_description(examples):
    import numpy as np

    scene = examples[3][0]
    a = generate_captions(scene.description(), np.random.default_rng(9))
    b = generate_captions(scene, np.random.default_rng(9))
    assert a == b
