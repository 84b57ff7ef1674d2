"""Computes a small DOVE's outputs from saved weights (run in a subprocess).

Usage: KERAS_BACKEND=... python parity_worker.py WEIGHTS INPUTS.npz OUT.npz
"""

import sys

import numpy as np
from keras import ops
from model_fixtures import small_model


def outputs(model, inputs):
    images = model.encode_image(inputs["images"])
    texts = model.encode_text(inputs["token_ids"])
    return {
        "image_global": ops.convert_to_numpy(images["global"]),
        "image_fused": ops.convert_to_numpy(images["fused"]),
        "text_global": ops.convert_to_numpy(texts["global"]),
        "score": model.score(images, texts),
        "global_score": model.global_score(images, texts),
    }


if __name__ == "__main__":
    weights, inputs, out = sys.argv[1:4]
    model = small_model()
    model.load_weights(weights)
    np.savez(out, **outputs(model, dict(np.load(inputs))))
