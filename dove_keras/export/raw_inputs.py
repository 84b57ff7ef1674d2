"""In-graph checks and preprocessing of the raw inputs of the exported endpoints.

Images: encoded bytes are decoded (JPEG, PNG, GIF, BMP: what `tf.io` reads),
resized and normalised exactly as the evaluation pipeline does
(`dove_keras.data.pipelines`). JPEG is decoded with the accurate integer DCT,
which gives the same pixels as Pillow, the decoder of `dove-data prepare`.
Captions are tokenised by the training pipeline's `CaptionTokenizer`
(tensorflow-text). Bad inputs fail with an
`InvalidArgumentError` whose message names the endpoint and the problem.
"""

import tensorflow as tf

from dove_keras.data.pipelines import normalize_image
from dove_keras.data.pipelines import resize_image

_JPEG = b"\xff\xd8\xff"
# Leading bytes of the formats `tf.io.decode_image` reads.
_SIGNATURES = (b"\x89PNG\r\n\x1a\n", _JPEG, b"GIF87a", b"GIF89a", b"BM")


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


def decode_images(encoded, image_size, endpoint="encode_image"):
    """Decodes, resizes and normalises a batch of encoded images.

    Args:
        encoded: string `(batch,)` of JPEG/PNG/GIF/BMP bytes (any sizes).
        image_size: output side.
        endpoint: the endpoint name used in messages.

    Returns:
        float32 `(batch, image_size, image_size, 3)`, ImageNet-normalised.
    """
    known = tf.zeros(tf.shape(encoded), tf.bool)
    for signature in _SIGNATURES:
        head = tf.strings.substr(encoded, 0, len(signature))
        known = tf.logical_or(known, tf.equal(head, signature))
    check = tf.debugging.Assert(
        tf.reduce_all(known),
        [
            f"{endpoint}: the inputs at these batch indices are not JPEG, PNG, GIF or "
            "BMP bytes (TIFF and raw pixels are not accepted: convert to PNG, or use "
            "encode_image_tensor on normalised float images):",
            tf.reshape(tf.where(tf.logical_not(known)), [-1]),
        ],
        summarize=16,
    )

    def decode_one(data):
        image = tf.cond(
            tf.equal(tf.strings.substr(data, 0, len(_JPEG)), _JPEG),
            lambda: tf.io.decode_jpeg(data, channels=3, dct_method="INTEGER_ACCURATE"),
            lambda: tf.io.decode_image(data, channels=3, expand_animations=False),
        )
        image.set_shape([None, None, 3])
        return normalize_image(resize_image(image, image_size))

    with tf.control_dependencies([check]):
        encoded = tf.identity(encoded)
    images = tf.map_fn(
        decode_one,
        encoded,
        fn_output_signature=tf.TensorSpec([image_size, image_size, 3], tf.float32),
    )
    return images

