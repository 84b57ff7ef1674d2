"""Runs an exported DOVE SavedModel without dove_keras (run in a subprocess).

Usage: python export_loader.py EXPORT_DIR INPUTS.npz OUT.npz

INPUTS.npz holds `encoded` (uint8 bytes of the image files, concatenated),
`encoded_sizes`, `captions` (strings), `images` (normalised float32) and
`token_ids`. OUT.npz receives every endpoint's outputs (`<endpoint>/<key>`),
`errors` (one "case|type|message" line per bad input) and `modules` (the
imported dove_keras modules: the loader must need none).
"""

import sys

import numpy as np
import tensorflow as tf
import tensorflow_text  # noqa: F401  registers the tokenizer ops


def bad_inputs(dove, png):
    """Endpoint calls that must fail with a clear error."""
    png16 = tf.io.encode_png(tf.fill([4, 4, 3], tf.constant(4000, tf.uint16)))
    return {
        "image_float": lambda: dove.embed_images(tf.constant([1.0, 2.0])),
        "image_rank2": lambda: dove.embed_images(tf.constant([[png]])),
        "image_scalar": lambda: dove.embed_images(tf.constant(png)),
        "image_empty": lambda: dove.embed_images(tf.constant([], tf.string)),
        "image_garbage": lambda: dove.embed_images(tf.constant([png, b"not an image at all"])),
        "image_truncated": lambda: dove.embed_images(tf.constant([png[:40]])),
        "image_16_bit": lambda: dove.embed_images(png16[None]),
        "pixels_16_bit": lambda: dove.embed_pixels(tf.fill([1, 8, 8, 3], 4000.0)),
        "text_int": lambda: dove.embed_texts(tf.constant([1, 2])),
        "text_empty_batch": lambda: dove.embed_texts(tf.constant([], tf.string)),
        "text_empty_caption": lambda: dove.embed_texts(tf.constant(["a plane", " ?! "])),
        "ids_float": lambda: dove.encode_text(tf.zeros((1, 4), tf.float32)),
        "ids_negative": lambda: dove.encode_text(tf.constant([[2, -3] + [0] * 10], tf.int32)),
    }


def pixel_outputs(dove, encoded):
    """`embed_pixels` of each image's decoded pixels (any size), concatenated."""
    parts = []
    for data in encoded:
        if data[:3] == b"\xff\xd8\xff":
            pixels = tf.io.decode_jpeg(data, channels=3, dct_method="INTEGER_ACCURATE")
        else:
            pixels = tf.io.decode_image(data, channels=3)
        parts.append(dove.embed_pixels(tf.cast(pixels, tf.float32)[None]))
    return {key: tf.concat([part[key] for part in parts], 0) for key in parts[0]}


def main(export_dir, inputs_path, out_path):
    inputs = np.load(inputs_path)
    blob, sizes = inputs["encoded"].tobytes(), inputs["encoded_sizes"]
    offsets = np.concatenate([[0], np.cumsum(sizes)])
    encoded = [blob[offsets[i] : offsets[i + 1]] for i in range(len(sizes))]
    dove = tf.saved_model.load(export_dir)
    results = {}
    calls = {
        "embed_images": dove.embed_images(tf.constant(encoded)),
        "embed_pixels": pixel_outputs(dove, encoded),
        "encode_image": dove.encode_image(tf.constant(inputs["images"])),
        "embed_texts": dove.embed_texts(tf.constant([str(c) for c in inputs["captions"]])),
        "encode_text": dove.encode_text(tf.constant(inputs["token_ids"])),
    }
    for endpoint, outputs in calls.items():
        for key, value in outputs.items():
            results[f"{endpoint}/{key}"] = value.numpy()
    images, texts = calls["encode_image"], calls["encode_text"]
    results["score"] = dove.score(
        images["fused"], images["regions"], images["region_mask"], texts["genes"], texts["gene_mask"]
    ).numpy()
    errors = []
    for case, call in bad_inputs(dove, encoded[0]).items():
        try:
            call()
            errors.append(f"{case}|none|no error")
        except Exception as error:  # the type and message are what is tested
            message = " ".join(str(error).split())
            errors.append(f"{case}|{type(error).__name__}|{message}")
    results["errors"] = np.array(errors)
    results["modules"] = np.array(
        sorted(m for m in sys.modules if m.split(".")[0] == "dove_keras") or [""]
    )
    np.savez(out_path, **results)


if __name__ == "__main__":
    main(*sys.argv[1:4])
