"""Small DOVE models and inputs shared by the model tests."""

import numpy as np

from dove_keras.models import DOVE

VOCABULARY_SIZE = 40
IMAGE_SIDE = 64
SMALL_MODEL = dict(
    vocabulary_size=VOCABULARY_SIZE,
    backbone="tiny",
    embedding_dim=16,
    word_dim=8,
    multiscale_grid=2,
    iga_key_dim=4,
)


def small_model(length=12, regions=None, **overrides):
    """A built small DOVE (built from shapes: no eager forward pass)."""
    model = DOVE(**{**SMALL_MODEL, **overrides})
    shapes = {"images": (None, IMAGE_SIDE, IMAGE_SIDE, 3), "token_ids": (None, length)}
    if regions is not None:
        shapes.update(regions=(None,) + tuple(regions), region_mask=(None, regions[0]))
    model.build(shapes)
    return model


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
