"""The TFRecord shard layout written by `dove-data prepare` and read by the pipelines.

A prepared folder holds `manifest.json` and, per split, shards named
`{split}-{k:05d}-of-{n:05d}.tfrecord`. One record per image (protocol order):

- `image`: PNG bytes of the RGB image as Pillow decoded it (lossless).
- `height`, `width`: int64.
- `image_id`: int64, the image's position in its split.
- `filename`: bytes, the path relative to the image folder.
- `captions`: bytes list, the captions as written in the source.
"""

import json
import os

import tensorflow as tf

MANIFEST = "manifest.json"
FORMAT_VERSION = 1

FEATURES = {
    "image": tf.io.FixedLenFeature([], tf.string),
    "height": tf.io.FixedLenFeature([], tf.int64),
    "width": tf.io.FixedLenFeature([], tf.int64),
    "image_id": tf.io.FixedLenFeature([], tf.int64),
    "filename": tf.io.FixedLenFeature([], tf.string),
    "captions": tf.io.VarLenFeature(tf.string),
}


def shard_name(split, index, count):
    """File name of shard `index` of `count` of a split."""
    return f"{split}-{index:05d}-of-{count:05d}.tfrecord"


def encode_example(png, height, width, image_id, filename, captions):
    """Serialises one image record (deterministically) as a `tf.train.Example`.

    Args:
        png: PNG bytes.
        height: image height.
        width: image width.
        image_id: position of the image in its split.
        filename: the image path relative to the image folder.
        captions: sequence of caption strings.

    Returns:
        The serialised bytes.
    """

    def _bytes(values):
        return tf.train.Feature(bytes_list=tf.train.BytesList(value=values))

    def _int(value):
        return tf.train.Feature(int64_list=tf.train.Int64List(value=[int(value)]))

    example = tf.train.Example(
        features=tf.train.Features(
            feature={
                "image": _bytes([png]),
                "height": _int(height),
                "width": _int(width),
                "image_id": _int(image_id),
                "filename": _bytes([filename.encode("utf-8")]),
                "captions": _bytes([c.encode("utf-8") for c in captions]),
            }
        )
    )
    return example.SerializeToString(deterministic=True)


def parse_example(serialized):
    """Parses one serialised record into a dict of tensors (image still PNG bytes).

    Args:
        serialized: a scalar string tensor.

    Returns:
        A dict with the keys of `FEATURES`; `captions` is a dense 1-D string tensor.
    """
    features = tf.io.parse_single_example(serialized, FEATURES)
    features["captions"] = tf.sparse.to_dense(features["captions"], default_value="")
    return features


def load_manifest(folder):
    """Reads `manifest.json` of a prepared folder.

    Args:
        folder: the prepared folder.

    Returns:
        The manifest dict.

    Raises:
        ValueError: the folder has no readable manifest of this format version.
    """
    path = os.path.join(os.fspath(folder), MANIFEST)
    if not os.path.isfile(path):
        raise ValueError(
            f"{path}: not found; is {folder} a folder written by `dove-data prepare`?"
        )
    with open(path, encoding="utf-8") as f:
        manifest = json.load(f)
    if manifest.get("format_version") != FORMAT_VERSION:
        raise ValueError(
            f"{path}: format_version {manifest.get('format_version')!r}, "
            f"expected {FORMAT_VERSION}"
        )
    return manifest


def split_shards(folder, split):
    """The shard paths and manifest entry of one split.

    Args:
        folder: the prepared folder.
        split: the split name.

    Returns:
        (list of shard paths in order, the split's manifest dict).

    Raises:
        ValueError: the split is not in the manifest or a shard is missing.
    """
    manifest = load_manifest(folder)
    if split not in manifest["splits"]:
        raise ValueError(
            f"{folder}: no {split!r} split; prepared splits: {sorted(manifest['splits'])}"
        )
    entry = manifest["splits"][split]
    paths = [os.path.join(os.fspath(folder), s["file"]) for s in entry["shards"]]
    missing = [p for p in paths if not os.path.isfile(p)]
    if missing:
        raise ValueError(f"{folder}: missing shard(s) of {split!r}: {missing}")
    return paths, entry
