"""Computes a small DOVE's outputs from saved weights (run in a subprocess).

Usage: KERAS_BACKEND=... python parity_worker.py WEIGHTS INPUTS.npz OUT.npz [DOVE_CLIP_WEIGHTS CLIP_INPUTS.npz]
(with the last two, a small DOVE-CLIP's outputs too, their names prefixed `dove_clip_`).
"""

import sys

import numpy as np
from clip_fixtures import small_dove_clip
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
    results = outputs(model, dict(np.load(inputs)))
    if len(sys.argv) > 4:
        dove_clip = small_dove_clip()
        dove_clip.load_weights(sys.argv[4])
        results.update({f"dove_clip_{k}": v for k, v in outputs(dove_clip, dict(np.load(sys.argv[5]))).items()})
    np.savez(out, **results)
