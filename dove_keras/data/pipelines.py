"""tf.data pipelines from prepared shards (they feed `fit` on every Keras backend).

Training (one example per caption): resize to round(image_size * 278 / 256)
(once per image, rounded to uint8 as a PIL resize would be), random rotation by
an angle drawn uniformly from [0, 90] degrees (bilinear, black corners), random
crop to image_size, ImageNet mean/std normalisation.
Evaluation: resize to image_size, normalise; images and captions in protocol
order (caption j belongs to image j // captions_per_image).

Batches are dicts (the data contract): training `{"images": float32 (B, H, W, 3),
"token_ids": int32 (B, L), "image_ids": int32 (B,)}`; evaluation image batches
`{"images", "image_ids"}` and caption batches `{"token_ids", "image_ids"}`.
"""

import math
import random

import tensorflow as tf

from dove_keras.data import shards
from dove_keras.data.tokenizer import CaptionTokenizer

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)


def train_resize_size(image_size):
    """Side of the resize before the random crop: 278 for 256, 139 for 128."""
    return (image_size * 278 + 128) // 256


def normalize_image(image):
    """ImageNet mean/std normalisation of an image with values in [0, 255]."""
    image = tf.cast(image, tf.float32) / 255.0
    return (image - tf.constant(IMAGENET_MEAN)) / tf.constant(IMAGENET_STD)


def decode_image(png):
    """Decodes PNG bytes of a shard record to uint8 `(H, W, 3)`."""
    image = tf.io.decode_png(png, channels=3)
    image.set_shape([None, None, 3])
    return image


def resize_image(image, size):
    """Bilinear (antialiased) resize to `size` x `size`, float32 in [0, 255]."""
    return tf.image.resize(image, [size, size], method="bilinear", antialias=True)


def rotate_image(image, angle):
    """Rotates an image about its centre, counter-clockwise as displayed.

    A quarter turn of a square image equals `np.rot90(image)`.

    Args:
        image: float32 `(H, W, C)`.
        angle: rotation in radians.

    Returns:
        The rotated image, same shape; pixels from outside are 0.
    """
    shape = tf.shape(image)
    height, width = tf.cast(shape[0], tf.float32), tf.cast(shape[1], tf.float32)
    cx, cy = (width - 1.0) / 2.0, (height - 1.0) / 2.0
    cos, sin = tf.cos(angle), tf.sin(angle)
    # Maps each output pixel (x, y) to the input pixel it samples.
    transform = tf.stack(
        [cos, -sin, cx - cos * cx + sin * cy, sin, cos, cy - sin * cx - cos * cy, 0.0, 0.0]
    )
    rotated = tf.raw_ops.ImageProjectiveTransformV3(
        images=image[None],
        transforms=transform[None],
        output_shape=shape[:2],
        fill_value=0.0,
        interpolation="BILINEAR",
        fill_mode="CONSTANT",
    )
    return rotated[0]


def augment_image(image, seed, image_size):
    """The random part of the training augmentation: rotation, crop, normalisation.

    Args:
        image: `(R, R, 3)` values in [0, 255], already resized to
            R = `train_resize_size(image_size)`.
        seed: int `(2,)` stateless seed.
        image_size: output side.

    Returns:
        float32 `(image_size, image_size, 3)`, ImageNet-normalised.
    """
    rotation_seed, crop_seed = tf.unstack(tf.random.experimental.stateless_split(seed, 2))
    image = tf.cast(image, tf.float32)
    angle = tf.random.stateless_uniform([], rotation_seed, 0.0, math.pi / 2)
    image = rotate_image(image, angle)
    image = tf.image.stateless_random_crop(image, [image_size, image_size, 3], crop_seed)
    return normalize_image(image)


def _tokenizer(tokenizer, sequence_length):
    if isinstance(tokenizer, CaptionTokenizer):
        return tokenizer
    return CaptionTokenizer(tokenizer, sequence_length)


def _records(paths, tokenizer, captions_per_image=None):
    """Parses records and tokenises their captions (checked at reading time)."""

    def parse(serialized):
        features = shards.parse_example(serialized)
        captions = features["captions"]
        if captions_per_image is not None:
            check = tf.debugging.Assert(
                tf.equal(tf.size(captions), captions_per_image),
                ["image", features["filename"], "has", tf.size(captions),
                 f"captions; evaluation needs {captions_per_image}"],
            )
            with tf.control_dependencies([check]):
                captions = tf.identity(captions)
        return {
            "png": features["image"],
            "token_ids": tokenizer(captions, source=features["filename"]),
            "image_ids": tf.cast(features["image_id"], tf.int32),
        }

    return paths.map(parse, num_parallel_calls=tf.data.AUTOTUNE)


def make_train_dataset(
    data_dir,
    tokenizer,
    split="train",
    batch_size=100,
    image_size=256,
    sequence_length=32,
    seed=None,
    shuffle_buffer=1024,
    reshuffle_each_iteration=True,
):
    """The training dataset: one example per caption, shuffled and augmented.

    Args:
        data_dir: a folder written by `dove-data prepare`.
        tokenizer: a `CaptionTokenizer` or a vocabulary file path.
        split: the split to read.
        batch_size: examples per batch (the last partial batch is dropped).
        image_size: side of the output images (multiple of 32 for the model).
        sequence_length: token ids per caption when `tokenizer` is a path.
        seed: with a seed the dataset is deterministic (shard order, shuffles,
            augmentation and element order); without one each run differs.
        shuffle_buffer: size of the image-level shuffle (PNG records) and of
            the caption-level shuffle (resized uint8 images, ~230 KB each at
            image_size 256).

    Returns:
        A `tf.data.Dataset` of training batches (a new order each epoch).
    """
    paths, entry = shards.split_shards(data_dir, split)
    steps = entry["captions"] // batch_size
    if steps == 0:
        raise ValueError(
            f"{data_dir}: {split} has {entry['captions']} captions, fewer than one "
            f"batch of {batch_size} (batches drop the remainder)"
        )
    tokenizer = _tokenizer(tokenizer, sequence_length)
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
        image = resize_image(decode_image(record["png"]), resize)
        image = tf.cast(tf.clip_by_value(tf.round(image), 0.0, 255.0), tf.uint8)
        count = tf.shape(record["token_ids"])[0]
        return {
            "image": tf.repeat(image[None], count, axis=0),
            "token_ids": record["token_ids"],
            "image_ids": tf.fill([count], record["image_ids"]),
        }

    examples = _records(records, tokenizer).map(
        resize_and_repeat, num_parallel_calls=tf.data.AUTOTUNE, deterministic=deterministic
    ).unbatch()
    examples = examples.shuffle(shuffle_buffer, seed=seed + 2, reshuffle_each_iteration=reshuffle)
    seeds = tf.data.Dataset.random(seed=seed + 3, rerandomize_each_iteration=reshuffle).batch(2)

    def augment(example, example_seed):
        return {
            "images": augment_image(example["image"], example_seed, image_size),
            "token_ids": example["token_ids"],
            "image_ids": example["image_ids"],
        }

    dataset = tf.data.Dataset.zip(examples, seeds).map(
        augment, num_parallel_calls=tf.data.AUTOTUNE, deterministic=deterministic
    )
    dataset = dataset.batch(batch_size, drop_remainder=True)
    dataset = dataset.apply(tf.data.experimental.assert_cardinality(steps))
    options = tf.data.Options()
    options.deterministic = deterministic
    return dataset.with_options(options).prefetch(tf.data.AUTOTUNE)


def make_eval_datasets(
    data_dir,
    tokenizer,
    split="test",
    batch_size=100,
    image_size=256,
    sequence_length=32,
    captions_per_image=5,
):
    """The evaluation datasets, in protocol order.

    Args:
        data_dir: a folder written by `dove-data prepare`.
        tokenizer: a `CaptionTokenizer` or a vocabulary file path.
        split: the split to read.
        batch_size: images (resp. captions) per batch; the last batch may be
            smaller.
        image_size: side of the resized images.
        sequence_length: token ids per caption when `tokenizer` is a path.
        captions_per_image: captions every image must have.

    Returns:
        (image_ds, caption_ds): `{"images", "image_ids"}` batches of the I
        images and `{"token_ids", "image_ids"}` batches of the
        captions_per_image * I captions (caption j belongs to image
        j // captions_per_image).

    Raises:
        ValueError: the split does not have captions_per_image captions per image.
    """
    paths, entry = shards.split_shards(data_dir, split)
    if entry["captions"] != captions_per_image * entry["images"]:
        raise ValueError(
            f"{data_dir}: {split} has {entry['captions']} captions for "
            f"{entry['images']} images; evaluation needs {captions_per_image} per image"
        )
    tokenizer = _tokenizer(tokenizer, sequence_length)
    options = tf.data.Options()
    options.deterministic = True
    records = _records(tf.data.TFRecordDataset(paths), tokenizer, captions_per_image)

    def image_batch(record):
        image = resize_image(decode_image(record["png"]), image_size)
        return {"images": normalize_image(image), "image_ids": record["image_ids"]}

    def caption_batch(record):
        return {
            "token_ids": record["token_ids"],
            "image_ids": tf.fill([captions_per_image], record["image_ids"]),
        }

    image_ds = records.map(image_batch, num_parallel_calls=tf.data.AUTOTUNE)
    image_ds = image_ds.batch(batch_size).apply(
        tf.data.experimental.assert_cardinality(-(-entry["images"] // batch_size))
    )
    caption_ds = records.map(caption_batch).unbatch().batch(batch_size).apply(
        tf.data.experimental.assert_cardinality(-(-entry["captions"] // batch_size))
    )
    return (
        image_ds.with_options(options).prefetch(tf.data.AUTOTUNE),
        caption_ds.with_options(options).prefetch(tf.data.AUTOTUNE),
    )
