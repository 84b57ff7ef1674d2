"""Words the captions use: nouns, numbers, colours, verbs and place phrases."""

NUMBER_WORDS = (
    "zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine",
    "ten", "eleven", "twelve", "thirteen", "fourteen", "fifteen", "sixteen",
    "seventeen", "eighteen", "nineteen", "twenty",
)

# Object type -> (singular synonyms, plural synonyms), same order in both.
NOUNS = {
    "plane": (("plane", "airplane"), ("planes", "airplanes")),
    "ship": (("ship", "boat"), ("ships", "boats")),
    "storage_tank": (("storage tank", "oil tank", "tank"), ("storage tanks", "oil tanks", "tanks")),
    "building": (("building", "house"), ("buildings", "houses")),
    "playground": (("playground", "running track"), ("playgrounds", "running tracks")),
    "bridge": (("bridge",), ("bridges",)),
    "tree": (("tree",), ("trees",)),
    "road": (("road", "street"), ("roads", "streets")),
    "river": (("river",), ("rivers",)),
    "lake": (("lake", "pond"), ("lakes", "ponds")),
    "sea": (("sea",), ("seas",)),
}

# Ground kind -> noun phrases, "{c}" marks where a colour may go.
GROUND_PHRASES = {
    "grass": ("the {c} grass", "a {c} lawn", "the {c} meadow", "a piece of {c} grassland"),
    "sand": ("the {c} sand", "a piece of {c} sand", "the {c} sandy land", "the {c} desert"),
    "bare_land": ("the {c} bare land", "a piece of {c} bare land", "the {c} bareland"),
    "farmland": ("the {c} farmland", "a piece of {c} farmland", "the {c} cropland"),
    "concrete": ("the {c} concrete ground", "a piece of {c} cement ground", "the {c} paved ground"),
}

# Object type -> participles used after "is" / "are" ("moving_ship": ships under way).
PARTICIPLES = {
    "plane": ("parked", "lying", "standing"),
    "ship": ("moored", "anchored", "docked", "floating"),
    "moving_ship": ("sailing", "moving", "cruising", "floating"),
    "storage_tank": ("located", "standing", "built"),
    "building": ("located", "standing", "built"),
    "playground": ("located", "built"),
    "bridge": ("built", "located"),
}

ROW_PHRASES = ("in a row", "side by side", "in a line", "neatly in a row")
NEXT_TO_PHRASES = ("next to", "beside", "near", "close to", "by")
SIZE_WORDS = {"small": ("small",), "large": ("large", "big")}

# Position label -> phrases.
POSITION_PHRASES = {
    "center": ("in the center of the image", "in the middle of the picture"),
    "top": ("at the top of the image", "in the upper part of the picture"),
    "bottom": ("at the bottom of the image", "in the lower part of the picture"),
    "left": ("on the left side of the image", "on the left of the picture"),
    "right": ("on the right side of the image", "on the right of the picture"),
    "top left": ("in the top left corner of the image", "in the upper left of the picture"),
    "top right": ("in the top right corner of the image", "in the upper right of the picture"),
    "bottom left": ("in the bottom left corner of the image", "in the lower left of the picture"),
    "bottom right": (
        "in the bottom right corner of the image", "in the lower right of the picture"),
}
