"""The TFRecord shard layout written by `dove-data prepare` and read by the pipelines.

A prepared folder holds `manifest.json` and, per split, shards named
`{split}-{k:05d}-of-{n:05d}.tfrecord`. One record per image (protocol order):

- `image`: PNG bytes of the RGB image as Pillow decoded it (lossless).
- `height`, `width`: int64.
- `image_id`: int64, the image's position in its split.
- `filename`: bytes, the path relative to the image folder.
- `captions`: bytes list, the captions as written in the source.
- `source_stat`: int64 `[size in bytes, modification time in ns]` of the image file
  the record was written from (a re-run of prepare and `dove-data check`
  compare it with the file).
- `regions`, `region_count` (optional): precomputed region vectors, row-major
  `(region_count, D_r)` floats; the manifest's `regions` entry gives D_r and
  the largest count (the pipelines pad every image to it, with a mask).
"""

import json
import os

import tensorflow as tf

from dove_keras.utils.versions import check_format_version

MANIFEST = "manifest.json"
FORMAT_VERSION = 2

FEATURES = {
    "image": tf.io.FixedLenFeature([], tf.string),
    "height": tf.io.FixedLenFeature([], tf.int64),
    "width": tf.io.FixedLenFeature([], tf.int64),
    "image_id": tf.io.FixedLenFeature([], tf.int64),
    "filename": tf.io.FixedLenFeature([], tf.string),
    "captions": tf.io.VarLenFeature(tf.string),
    "source_stat": tf.io.FixedLenFeature([2], tf.int64, default_value=[-1, -1]),
    "regions": tf.io.VarLenFeature(tf.float32),
    "region_count": tf.io.FixedLenFeature([], tf.int64, default_value=0),
}


def shard_name(split, index, count):
    """File name of shard `index` of `count` of a split."""
    return f"{split}-{index:05d}-of-{count:05d}.tfrecord"


def encode_example(png, height, width, image_id, filename, captions, source_stat=(-1, -1), regions=None):
    """Serialises one image record (deterministically) as a `tf.train.Example`.

    Args:
        png: PNG bytes.
        height: image height.
        width: image width.
        image_id: position of the image in its split.
        filename: the image path relative to the image folder.
        captions: sequence of caption strings.
        source_stat: `(size, mtime_ns)` of the image file.
        regions: optional float `(N_r, D_r)` precomputed region vectors.

    Returns:
        The serialised bytes.
    """

    def _bytes(values):
        return tf.train.Feature(bytes_list=tf.train.BytesList(value=values))

    def _int(value):
        return tf.train.Feature(int64_list=tf.train.Int64List(value=[int(value)]))

    feature = {
        "image": _bytes([png]),
        "height": _int(height),
        "width": _int(width),
        "image_id": _int(image_id),
        "filename": _bytes([filename.encode("utf-8")]),
        "captions": _bytes([c.encode("utf-8") for c in captions]),
        "source_stat": tf.train.Feature(int64_list=tf.train.Int64List(value=[int(v) for v in source_stat])),
    }
    if regions is not None:
        feature["regions"] = tf.train.Feature(float_list=tf.train.FloatList(value=regions.reshape(-1)))
        feature["region_count"] = _int(len(regions))
    example = tf.train.Example(features=tf.train.Features(feature=feature))
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
    features["regions"] = tf.sparse.to_dense(features["regions"])
    return features


def load_manifest(prepared_dir):
    """Reads `manifest.json` of a prepared folder.

    Args:
        prepared_dir: the prepared folder.

    Returns:
        The manifest dict.

    Raises:
        ValueError: the folder has no readable manifest of this format version.
    """
    path = os.path.join(os.fspath(prepared_dir), MANIFEST)
    if not os.path.isfile(path):
        raise ValueError(
            f"{path}: not found; is {prepared_dir} a folder written by `dove-data prepare`?"
        )
    try:
        with open(path, encoding="utf-8") as f:
            manifest = json.load(f)
    except (json.JSONDecodeError, UnicodeDecodeError) as error:
        raise ValueError(f"{path}: damaged, not a JSON manifest ({error}); run prepare again") from None
    if not isinstance(manifest, dict):
        raise ValueError(f"{path}: damaged, not a JSON manifest object; run prepare again")
    check_format_version(manifest.get("format_version"), FORMAT_VERSION, path, "prepared folder")
    return manifest


def split_shards(prepared_dir, split):
    """The shard paths and manifest entry of one split.

    Args:
        prepared_dir: the prepared folder.
        split: the split name.

    Returns:
        (list of shard paths in order, the split's manifest dict).

    Raises:
        ValueError: the split is not in the manifest or a shard is missing.
    """
    manifest = load_manifest(prepared_dir)
    if split not in manifest["splits"]:
        raise ValueError(
            f"{prepared_dir}: no {split!r} split; prepared splits: {sorted(manifest['splits'])}"
        )
    entry = manifest["splits"][split]
    paths = [os.path.join(os.fspath(prepared_dir), s["file"]) for s in entry["shards"]]
    missing = [p for p in paths if not os.path.isfile(p)]
    if missing:
        raise ValueError(f"{prepared_dir}: missing shard(s) of {split!r}: {missing}")
    return paths, entry
