"""In-graph checks of the raw inputs of the exported endpoints.

Bad inputs fail with an `InvalidArgumentError` whose message names the
endpoint and the problem; decoding and tokenisation are the retriever's
`DOVEPreprocessor`'s.
"""

import tensorflow as tf

from dove_keras.models.dove_image_converter import STRETCH_ADVICE

PIXEL_ROUNDING = 0.5  # accepted overshoot of [0, 255] (e.g. 255.00003 after a resize)


def check_string_batch(values, endpoint, what):
    """Asserts a non-empty 1-D string batch; returns it with the checks attached.

    Args:
        values: a string tensor of any rank.
        endpoint: the endpoint name used in messages.
        what: what one element is (e.g. "encoded image"), used in messages.

    Returns:
        `values` reshaped to `(batch,)`.
    """
    rank = tf.debugging.assert_rank(
        values, 1,
        message=f"{endpoint}: expected a 1-D batch of {what}s (tf.string, shape [batch])",
    )
    with tf.control_dependencies([rank]):
        size = tf.debugging.assert_positive(
            tf.size(values), message=f"{endpoint}: got an empty batch (0 {what}s)"
        )
    with tf.control_dependencies([size]):
        return tf.reshape(values, [-1])


def check_token_ids(token_ids, vocabulary_size, endpoint):
    """Asserts ids in `[0, vocabulary_size)` and no all-padding row; returns the ids with the checks attached."""
    outside = tf.logical_or(token_ids < 0, token_ids >= vocabulary_size)
    check = tf.debugging.Assert(
        tf.logical_not(tf.reduce_any(outside)),
        [
            f"{endpoint}: token ids must be in [0, {vocabulary_size}) (0 padding, 1 unknown word); "
            "ids outside at these [row, position]s:",
            tf.where(outside),
        ],
        summarize=16,
    )
    empty = tf.reduce_all(tf.equal(token_ids, 0), axis=1)
    padding = tf.debugging.Assert(
        tf.logical_not(tf.reduce_any(empty)),
        [f"{endpoint}: empty caption (every id is padding) at these batch indices:",
         tf.reshape(tf.where(empty), [-1])],
        summarize=16,
    )
    with tf.control_dependencies([check, padding]):
        return tf.identity(token_ids)


def check_utf8(strings, endpoint):
    """Asserts every string of a 1-D batch is valid UTF-8; returns it with the check attached."""
    valid = tf.equal(tf.strings.unicode_transcode(strings, "UTF-8", "UTF-8", errors="replace"), strings)
    check = tf.debugging.Assert(
        tf.reduce_all(valid),
        [f"{endpoint}: captions must be UTF-8 text; invalid bytes at these batch indices:",
         tf.reshape(tf.where(tf.logical_not(valid)), [-1])],
        summarize=16,
    )
    with tf.control_dependencies([check]):
        return tf.identity(strings)


def check_pixels(pixels, endpoint):
    """Asserts finite 8-bit pixel values, in [0, 255] up to `PIXEL_ROUNDING`; returns them with the check attached.

    Args:
        pixels: float32 `(B, H, W, 3)`.
        endpoint: the endpoint name used in messages.

    Returns:
        `pixels`.
    """
    outside = tf.logical_or(pixels < -PIXEL_ROUNDING, pixels > 255 + PIXEL_ROUNDING)
    bad = tf.reduce_any(tf.logical_or(outside, tf.logical_not(tf.math.is_finite(pixels))), axis=[1, 2, 3])
    check = tf.debugging.Assert(
        tf.logical_not(tf.reduce_any(bad)),
        [
            f"{endpoint}: pixel values must be finite and in [0, 255] (8-bit); {STRETCH_ADVICE}. "
            "Images outside at these batch indices, their min and max:",
            tf.reshape(tf.where(bad), [-1]),
            tf.boolean_mask(tf.reduce_min(pixels, axis=[1, 2, 3]), bad),
            tf.boolean_mask(tf.reduce_max(pixels, axis=[1, 2, 3]), bad),
        ],
        summarize=16,
    )
    with tf.control_dependencies([check]):
        return tf.identity(pixels)
