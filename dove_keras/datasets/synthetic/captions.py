"""Captions written from a scene's object list, in the style of RSITMD / RSICD.

Every caption names the scene's main key objects (with their count, colour or
size), so that telling scenes apart needs the small objects; everything a
caption says (objects, colours, counts, sizes, positions, relations) is read
from the object list, so a caption never mentions what is not in the image.
"""

import re

from dove_keras.datasets.synthetic import lexicon
from dove_keras.preprocessing.captions import CAPTIONS_PER_IMAGE

WATER_TYPES = ("river", "lake", "sea")
_MAX_TRIES = 200


def _number(n, rng, vague=0.0):
    """Words for a count: exact, or with probability `vague` a vague quantifier that fits."""
    if n == 1:
        return ("a", "one", "a single")[rng.integers(3)]
    options = ["some"]
    options += ["a few"] if n <= 4 else []
    options += ["several"] if 3 <= n <= 9 else []
    options += ["many", "lots of"] if n >= 6 else []
    if n < len(lexicon.NUMBER_WORDS) and rng.random() >= vague:
        return lexicon.NUMBER_WORDS[n]
    return options[rng.integers(len(options))]


def _pick(rng, options):
    return options[rng.integers(len(options))]


class _Captioner:
    """Phrase and sentence builders over one scene description."""

    def __init__(self, description, rng):
        self.rng = rng
        self.ground = description["ground"]
        self.groups = {g["type"]: g for g in description["objects"]}
        self.keys = [g for g in description["objects"] if g["role"] == "key"]
        self.water = next((self.groups[t] for t in WATER_TYPES if t in self.groups), None)

    # Phrases.

    def colour(self, name):
        if name == "gray" and self.rng.random() < 0.3:
            return "grey"
        return name

    def noun(self, group, plural):
        singular, plurals = lexicon.NOUNS[group["type"]]
        return _pick(self.rng, plurals if plural else singular)

    def np(self, group):
        """A noun phrase for a group, e.g. "three large white planes".

        Key groups keep their count or their colour (usually both); context
        groups keep exact counts, trees mostly get vague ones.
        """
        rng, n = self.rng, group["count"]
        words = []
        if group["type"] == "tree":
            words.append(_number(n, rng, vague=0.3 if n <= 4 else 0.9))
            if rng.random() < 0.7:
                words.append(_pick(rng, ["green", "dark green"]))
        else:
            key = group["role"] == "key"
            drop = _pick(rng, ["count", "colour"]) if key and rng.random() < 0.2 else None
            if n == 1 or drop != "count":
                words.append(_number(n, rng, vague=0.1 if key else 0.0))
            if group.get("size") in lexicon.SIZE_WORDS and rng.random() < 0.5:
                words.append(_pick(rng, lexicon.SIZE_WORDS[group["size"]]))
            if group.get("colour") and drop != "colour":
                words.append(self.colour(group["colour"]))
        words.append(self.noun(group, n > 1))
        return " ".join(words)

    def definite(self, group):
        """"the river", "the road", "the two roads", "some trees"..."""
        if group["type"] == "tree":
            return self.np(group)
        if group["count"] == 1:
            colour = f"{self.colour(group['colour'])} " if self.rng.random() < 0.4 else ""
            return f"the {colour}{self.noun(group, False)}"
        return f"the {lexicon.NUMBER_WORDS[group['count']]} {self.noun(group, True)}"

    def ground_np(self):
        phrase = _pick(self.rng, lexicon.GROUND_PHRASES[self.ground["kind"]])
        colour = ""
        if self.rng.random() < 0.6:
            colour = " and ".join(self.colour(c) for c in self.ground["colours"])
        return phrase.replace("{c}", colour)

    def location(self, group):
        """Where a group lies: on the ground, or on the water for ships."""
        if group["type"] == "ship":
            return f"{_pick(self.rng, ['on', 'in'])} {self.definite(self.water)}"
        if group["type"] == "bridge":
            return f"{_pick(self.rng, ['over', 'across'])} {self.definite(self.water)}"
        return f"on {self.ground_np()}"

    def relation(self, group, relation):
        target = self.groups.get(relation["target"])
        kind = relation["relation"]
        if kind == "next_to":
            other = self.definite(target) if target["role"] == "context" else self.np(target)
            return f"{_pick(self.rng, lexicon.NEXT_TO_PHRASES)} {other}"
        if kind == "surrounded_by":
            return f"surrounded by {self.np(target)}"
        if kind == "on_both_sides_of":
            return f"on both sides of {self.definite(target)}"
        return None

    def phrases(self, group):
        """Candidate place phrases for a group, each true of the scene."""
        out = [self.location(group)]
        out += [p for p in (self.relation(group, r) for r in group["relations"]) if p]
        if group.get("position"):
            out.append(_pick(self.rng, lexicon.POSITION_PHRASES[group["position"]]))
        if group.get("arrangement") == "row":
            out.append(_pick(self.rng, lexicon.ROW_PHRASES))
        return out

    def verb(self, group, scattered=False):
        """"is parked", "are sailing"...; "are scattered" only when `scattered` is allowed."""
        be = "is" if group["count"] == 1 else "are"
        if scattered and group.get("arrangement") == "scattered" and self.rng.random() < 0.3:
            return f"{be} scattered"
        kind = "moving_ship" if group.get("moving") else group["type"]
        return f"{be} {_pick(self.rng, lexicon.PARTICIPLES[kind])}"

    def context_clause(self):
        """A sentence about the shared clutter (trees, roads, water), or None."""
        options = []
        for group in self.groups.values():
            if group["role"] != "context":
                continue
            for relation in group["relations"]:
                target = self.groups[relation["target"]]
                if relation["relation"] == "on_both_sides_of":
                    be = "is" if group["count"] == 1 else "are"
                    sides = f"on both sides of {self.definite(target)}"
                    options.append(f"{self.np(group)} {be} {sides}")
                elif relation["relation"] == "across" and target["type"] == "road":
                    options.append(f"{self.np(group)} cross each other")
                elif relation["relation"] == "across" and group["type"] == "road":
                    options.append(f"{self.np(group)} crosses {self.definite(target)}")
            if group["type"] == "tree":
                be = "is" if group["count"] == 1 else "are"
                options.append(f"{self.np(group)} {be} on {self.ground_np()}")
            on_water = self.keys[0]["type"] in ("ship", "bridge")
            if group["type"] in WATER_TYPES and not on_water:
                water = f"a {self.colour(group['colour'])} {self.noun(group, False)}"
                options.append(_pick(self.rng, [f"there is {water} in the image",
                                                f"{water} can be seen nearby"]))
        return _pick(self.rng, options) if options else None

    # Sentences about a key group.

    def there(self, group):
        be = "is" if group["count"] == 1 else "are"
        return f"there {be} {self.np(group)} {_pick(self.rng, self.phrases(group))}"

    def subject(self, group):
        phrases = self.phrases(group)
        first = self.rng.integers(len(phrases))
        text = f"{self.np(group)} {self.verb(group, scattered=first == 0)} {phrases[first]}"
        rest = [p for i, p in enumerate(phrases) if i != first]
        if rest and self.rng.random() < 0.5:
            text += f" {_pick(self.rng, ['and', ','])} {_pick(self.rng, rest)}"
        return text

    def with_ground(self, group):
        """"a green lawn with three white planes and some trees" (the water, for ships)."""
        if group["type"] in ("ship", "bridge"):
            colour = f"{self.colour(self.water['colour'])} " if self.rng.random() < 0.6 else ""
            return f"the {colour}{self.noun(self.water, False)} with {self.np(group)}"
        text = f"{self.ground_np()} with {self.np(group)}"
        extra = [g for g in self.groups.values() if g["type"] in ("tree", "road")]
        if extra and self.rng.random() < 0.6:
            text += f" and {self.np(_pick(self.rng, extra))}"
        return text

    def we_see(self, group):
        opener = _pick(self.rng, ["we can see", "this image shows", "the picture shows",
                                  "this is an aerial image of"])
        return f"{opener} {self.np(group)} {_pick(self.rng, self.phrases(group))}"

    def position_first(self, group):
        if not group.get("position"):
            return None
        place = _pick(self.rng, lexicon.POSITION_PHRASES[group["position"]])
        be = "is" if group["count"] == 1 else "are"
        return f"{place} {be} {self.np(group)}"

    def special(self, group):
        """Sentences only a bridge or a playground gets."""
        rng = self.rng
        if group["type"] == "bridge":
            verb = _pick(rng, ["spans", "crosses", "goes across"])
            options = [
                f"{self.np(group)} {verb} {self.definite(self.water)}",
                f"a road crosses {self.definite(self.water)} over {self.np(group)}",
            ]
            return _pick(rng, options)
        if group["type"] == "playground":
            track = self.colour(group["colour"])
            size = " ".join(lexicon.SIZE_WORDS.get(group["size"], ())[:1])
            options = [
                f"a {size} playground with a {track} running track and a green football field",
                f"a {track} running track surrounds a green football field",
                f"{self.np(group)} with a {_pick(rng, ['green', 'football'])} field inside",
            ]
            return _pick(rng, options)
        return None

    def pair(self, group, other):
        """Both key groups in one sentence."""
        if not {group["type"], other["type"]} & {"ship", "bridge"}:
            return f"{self.np(group)} and {self.np(other)} are on {self.ground_np()}"
        return f"{self.subject(group)} , and {self.subject(other)}"

    def sentence(self):
        """One caption about the first key group (and the second one, if any)."""
        rng = self.rng
        main = self.keys[0]
        builders = [self.there, self.subject, self.subject, self.with_ground, self.we_see,
                    self.position_first, self.special]
        text = _pick(rng, builders)(main)
        if text is None:
            text = self.subject(main)
        if len(self.keys) > 1 and rng.random() < 0.5:
            other = self.keys[1]
            if rng.random() < 0.5:
                text = self.pair(main, other)
            else:
                text = f"{text} , and {self.there(other)}"
        elif rng.random() < 0.3:
            clause = self.context_clause()
            if clause:
                text = f"{text} . {clause}"
        return text


def _finish(text, rng):
    """Tidies spacing and articles, then applies one of the two corpus styles."""
    text = re.sub(r"\s+", " ", text).strip()
    text = re.sub(r"\ba ([aeiou])", r"an \1", text)
    if rng.random() < 0.5:  # RSICD style: lower case, spaced punctuation
        return text.lower() + " ."
    text = text.replace(" ,", ",").replace(" .", ".")
    sentences = [s.strip() for s in text.split(".") if s.strip()]
    return ". ".join(s[0].upper() + s[1:] for s in sentences) + "."


def generate_captions(scene, rng, num_captions=CAPTIONS_PER_IMAGE):
    """Different captions describing a scene.

    Args:
        scene: a `Scene`, or its `description()` dict.
        rng: numpy Generator.
        num_captions: how many captions.

    Returns:
        A list of `num_captions` strings, pairwise different even after
        lower-casing and removing punctuation.
    """
    description = scene if isinstance(scene, dict) else scene.description()
    captioner = _Captioner(description, rng)
    captions, seen = [], set()
    for _ in range(_MAX_TRIES):
        text = _finish(captioner.sentence(), rng)
        key = re.sub(r"[^a-z0-9]+", " ", text.lower()).strip()
        if key not in seen:
            captions.append(text)
            seen.add(key)
        if len(captions) == num_captions:
            return captions
    raise RuntimeError(f"could not write {num_captions} different captions for {description}")
