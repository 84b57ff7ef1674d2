"""Small DOVE retrievers and inputs shared by the model tests."""

import inspect

import numpy as np

from dove_keras.models import DOVEBackbone
from dove_keras.models import DOVERetriever

VOCABULARY_SIZE = 40
IMAGE_SIDE = 64
SMALL_MODEL = dict(
    vocabulary_size=VOCABULARY_SIZE,
    image_backbone="tiny",
    embedding_dim=16,
    word_dim=8,
    multiscale_grid=2,
    iga_key_dim=4,
)
_BACKBONE_ARGUMENTS = set(inspect.signature(DOVEBackbone.__init__).parameters)


def small_model(regions=None, preprocessor=None, **overrides):
    """A small `DOVERetriever` (no preprocessor unless given: it takes model inputs).

    Args:
        regions: `(N_r, D_r)` of precomputed regions, or None for grid regions.
        preprocessor: an optional `DOVEPreprocessor`.
        **overrides: `DOVEBackbone` and `DOVERetriever` arguments.
    """
    backbone = {key: value for key, value in overrides.items() if key in _BACKBONE_ARGUMENTS}
    task = {key: value for key, value in overrides.items() if key not in _BACKBONE_ARGUMENTS}
    if regions is not None:
        backbone.update(region_source="precomputed", region_dim=regions[1])
    return DOVERetriever(DOVEBackbone(**{**SMALL_MODEL, **backbone}), preprocessor, **task)


def batch(size=4, length=12, seed=0):
    """A training batch: images, padded captions of varied length, image ids."""
    rng = np.random.default_rng(seed)
    token_ids = rng.integers(2, VOCABULARY_SIZE, (size, length)).astype("int32")
    for row in range(size):
        token_ids[row, 3 + row % (length - 3) :] = 0
    return {
        "images": rng.standard_normal((size, IMAGE_SIDE, IMAGE_SIDE, 3)).astype("float32"),
        "token_ids": token_ids,
        "image_ids": np.arange(size, dtype="int32"),
    }
