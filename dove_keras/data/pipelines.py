"""tf.data pipelines from prepared shards (they feed `fit` on every Keras backend).

The pipelines yield *raw* batches; the model's `DOVEPreprocessor` turns them
into model inputs (`DOVERetriever.fit` maps it, `evaluate_model` too), so
tokenisation and normalisation live in one layer:

- training, one example per caption, shuffled and augmented
  (`dove_keras.data.augmentation`): `{"images": float32 (B, S, S, 3) in
  [0, 255], "captions": string (B,), "image_ids": int32 (B,)}`;
- evaluation, in protocol order (caption j belongs to image j //
  captions_per_image): image batches `{"images": string (B,) PNG bytes,
  "image_ids"}` and caption batches `{"captions", "image_ids"}`.

With precomputed regions in the shards, image batches also hold `regions`
float32 `(B, N_max, D_r)` and `region_mask` bool `(B, N_max)`.
"""

import random

import tensorflow as tf

from dove_keras.data import shards
from dove_keras.data.augmentation import augment_image
from dove_keras.data.augmentation import resize_to_uint8
from dove_keras.data.augmentation import train_resize_size
from dove_keras.preprocessing.captions import normalize_captions
from dove_keras.utils.datasets import without_autotuning


def _records(dataset, manifest, captions_per_image=None):
    """Parses records; checks their captions when they are read."""
    regions = manifest.get("regions")

    def parse(serialized):
        features = shards.parse_example(serialized)
        captions = _checked_captions(features["captions"], features["filename"], captions_per_image)
        record = {
            "png": features["image"],
            "captions": captions,
            "image_ids": tf.cast(features["image_id"], tf.int32),
        }
        if regions:
            record.update(_padded_regions(features, regions["count"], regions["dim"]))
        return record

    return dataset.map(parse, num_parallel_calls=tf.data.AUTOTUNE)


def _checked_captions(captions, filename, captions_per_image):
    checks = [
        tf.debugging.Assert(
            tf.reduce_all(tf.strings.length(normalize_captions(captions)) > 0),
            ["image", filename, "has a caption that is empty after normalisation:", captions],
            summarize=8,
        )
    ]
    if captions_per_image is not None:
        checks.append(tf.debugging.Assert(
            tf.equal(tf.size(captions), captions_per_image),
            ["image", filename, "has", tf.size(captions), f"captions; evaluation needs {captions_per_image}"],
        ))
    with tf.control_dependencies(checks):
        return tf.identity(captions)


def _padded_regions(features, count, dim):
    """`regions` `(count, dim)` zero-padded and their `region_mask`."""
    real = tf.cast(features["region_count"], tf.int32)
    values = tf.reshape(features["regions"], [real, dim])
    padding = count - real
    return {
        "regions": tf.ensure_shape(tf.pad(values, [[0, padding], [0, 0]]), [count, dim]),
        "region_mask": tf.ensure_shape(tf.range(count) < real, [count]),
    }


def make_train_dataset(
    prepared_dir,
    split="train",
    batch_size=100,
    image_size=256,
    seed=None,
    shuffle_buffer=1024,
    reshuffle_each_iteration=True,
):
    """The training dataset: one example per caption, shuffled and augmented.

    Args:
        prepared_dir: a folder written by `dove-data prepare`.
        split: the split to read.
        batch_size: examples per batch (the last partial batch is dropped).
        image_size: side of the output images (multiple of 32 for the model).
        seed: with a seed the dataset is deterministic (shard order, shuffles,
            augmentation and element order); without one each run differs.
        shuffle_buffer: size of the image-level shuffle (PNG records) and of
            the caption-level shuffle (resized uint8 images, ~230 KB each at
            image_size 256).
        reshuffle_each_iteration: a new order every time the dataset is
            iterated (False: every iteration repeats the seed's order).

    Returns:
        A `tf.data.Dataset` of raw training batches.
    """
    paths, entry, manifest = _split(prepared_dir, split)
    steps = entry["captions"] // batch_size
    if steps == 0:
        raise ValueError(
            f"{prepared_dir}: {split} has {entry['captions']} captions, fewer than one "
            f"batch of {batch_size} (batches drop the remainder)"
        )
    deterministic = seed is not None
    seed = random.SystemRandom().randrange(2**31) if seed is None else int(seed)
    reshuffle = reshuffle_each_iteration
    files = tf.data.Dataset.from_tensor_slices(paths).shuffle(
        len(paths), seed=seed, reshuffle_each_iteration=reshuffle
    )
    records = files.interleave(
        tf.data.TFRecordDataset,
        cycle_length=min(4, len(paths)),
        num_parallel_calls=tf.data.AUTOTUNE,
        deterministic=deterministic,
    ).shuffle(shuffle_buffer, seed=seed + 1, reshuffle_each_iteration=reshuffle)
    resize = train_resize_size(image_size)

    def resize_and_repeat(record):
        # Decoding and the (deterministic) resize run once per image, not per caption.
        image = resize_to_uint8(tf.io.decode_png(record.pop("png"), channels=3), resize)
        count = tf.shape(record["captions"])[0]
        repeated = {key: tf.repeat(value[None], count, axis=0) for key, value in record.items() if key != "captions"}
        return {"image": tf.repeat(image[None], count, axis=0), "captions": record["captions"], **repeated}

    examples = _records(records, manifest).map(
        resize_and_repeat, num_parallel_calls=tf.data.AUTOTUNE, deterministic=deterministic
    ).unbatch()
    examples = examples.shuffle(shuffle_buffer, seed=seed + 2, reshuffle_each_iteration=reshuffle)
    seeds = tf.data.Dataset.random(seed=seed + 3, rerandomize_each_iteration=reshuffle).batch(2)

    def augment(example, example_seed):
        image = example.pop("image")
        return {"images": augment_image(image, example_seed, image_size), **example}

    dataset = tf.data.Dataset.zip(examples, seeds).map(
        augment, num_parallel_calls=tf.data.AUTOTUNE, deterministic=deterministic
    )
    dataset = dataset.batch(batch_size, drop_remainder=True)
    dataset = dataset.apply(tf.data.experimental.assert_cardinality(steps))
    options = tf.data.Options()
    options.deterministic = deterministic
    return without_autotuning(dataset.with_options(options)).prefetch(tf.data.AUTOTUNE)


def make_eval_datasets(prepared_dir, split="test", batch_size=100, captions_per_image=5):
    """The evaluation datasets, in protocol order.

    Args:
        prepared_dir: a folder written by `dove-data prepare`.
        split: the split to read.
        batch_size: images (resp. captions) per batch; the last batch may be
            smaller.
        captions_per_image: captions every image must have.

    Returns:
        (image_ds, caption_ds): raw `{"images", "image_ids"}` batches of the I
        images and `{"captions", "image_ids"}` batches of the
        captions_per_image * I captions.

    Raises:
        ValueError: the split does not have captions_per_image captions per image.
    """
    paths, entry, manifest = _split(prepared_dir, split)
    if entry["captions"] != captions_per_image * entry["images"]:
        raise ValueError(
            f"{prepared_dir}: {split} has {entry['captions']} captions for "
            f"{entry['images']} images; evaluation needs {captions_per_image} per image"
        )
    options = tf.data.Options()
    options.deterministic = True
    records = _records(tf.data.TFRecordDataset(paths), manifest, captions_per_image)

    def image_batch(record):
        image = {"images": record["png"], "image_ids": record["image_ids"]}
        return {**image, **{key: record[key] for key in ("regions", "region_mask") if key in record}}

    def caption_batch(record):
        return {"captions": record["captions"], "image_ids": tf.fill([captions_per_image], record["image_ids"])}

    image_ds = records.map(image_batch).batch(batch_size).apply(
        tf.data.experimental.assert_cardinality(-(-entry["images"] // batch_size))
    )
    caption_ds = records.map(caption_batch).unbatch().batch(batch_size).apply(
        tf.data.experimental.assert_cardinality(-(-entry["captions"] // batch_size))
    )
    return (
        without_autotuning(image_ds.with_options(options)).prefetch(tf.data.AUTOTUNE),
        without_autotuning(caption_ds.with_options(options)).prefetch(tf.data.AUTOTUNE),
    )


def _split(prepared_dir, split):
    paths, entry = shards.split_shards(prepared_dir, split)
    return paths, entry, shards.load_manifest(prepared_dir)
