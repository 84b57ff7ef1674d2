"""Raw images -> DOVE's image input: decode, resize, normalise (TensorFlow ops)."""

import keras
import keras_hub
import tensorflow as tf

from dove_keras.models.dove_backbone import DOVEBackbone
from dove_keras.models.preset_checks import CheckedPreset
from dove_keras.models.tf_preprocessing import tf_preprocessing
from dove_keras.preprocessing.images import check_image_size
from dove_keras.preprocessing.images import imagenet_normalization
from dove_keras.preprocessing.images import normalize_pixels
from dove_keras.preprocessing.images import resize_images

_JPEG = b"\xff\xd8\xff"
# Leading bytes of the formats `tf.io.decode_image` reads.
ENCODED_SIGNATURES = (b"\x89PNG\r\n\x1a\n", _JPEG, b"GIF87a", b"GIF89a", b"BM")
_PNG_BIT_DEPTH = 24  # offset of the bit depth byte in a PNG (in its IHDR chunk)
STRETCH_ADVICE = (
    "stretch 16-bit data to 8 bits first, e.g. with the per-band percentile stretch of "
    "dove_keras.preprocessing.stretch (band_limits, apply_stretch), which `dove search index --scenes` "
    "and dove_keras.data.images.load_image (single-band images) apply"
)


@keras.saving.register_keras_serializable(package="dove_keras")
class DOVEImageConverter(CheckedPreset, keras_hub.layers.ImageConverter):
    """Turns raw images into normalised `(B, S, S, 3)` float32 model inputs.

    Inputs are 8-bit pixel arrays (uint8 or float in [0, 255], `(H, W, 3)`
    or `(B, H, W, 3)`, any H and W) or encoded JPEG/PNG/GIF/BMP bytes (a
    string scalar or `(B,)`). 16-bit data is refused (uint16 arrays, 16-bit
    PNGs): the converter applies no stretch, see `STRETCH_ADVICE`; float
    arrays are not range-checked here (the export's `embed_pixels`
    checks them). JPEG is decoded with the accurate integer DCT,
    which gives Pillow's pixels (the decoder of `dove-data prepare`). Images
    are resized to `image_size` (bilinear, antialiased, no crop: the
    evaluation protocol's resize) and mapped by `x * scale + offset` per
    channel; the default is the ImageNet mean/std normalisation of
    keras-hub's `resnet_50_imagenet` converter.

    Args:
        image_size: output side `S`, or `(S, S)`.
        scale: per-channel scale (default `1 / (255 * ImageNet std)`).
        offset: per-channel offset (default `-ImageNet mean / std`).
    """

    backbone_cls = DOVEBackbone

    def __init__(self, image_size=256, scale=None, offset=None, **kwargs):
        if isinstance(image_size, int):
            image_size = (image_size, image_size)
        if image_size[0] != image_size[1]:
            raise ValueError(f"DOVE images are square, got image_size {tuple(image_size)}.")
        self.check_side(int(image_size[0]))
        default_scale, default_offset = imagenet_normalization()
        kwargs.setdefault("interpolation", "bilinear")
        kwargs.setdefault("antialias", True)
        kwargs.setdefault("crop_to_aspect_ratio", False)
        super().__init__(
            image_size=tuple(image_size),
            scale=default_scale if scale is None else list(scale),
            offset=default_offset if offset is None else list(offset),
            **kwargs,
        )

    @staticmethod
    def check_side(side):
        """Raises ValueError for a side the model cannot take (DOVE: a multiple of the ResNet stride)."""
        check_image_size(side)

    @property
    def side(self):
        """The output side S (images are square)."""
        return int(self.image_size[0])

    @tf_preprocessing
    def call(self, images):
        return self.convert(images)

    def convert(self, images):
        """The conversion on TensorFlow tensors (what `call` runs)."""
        images = tf.convert_to_tensor(images)
        if images.dtype == tf.uint16:
            raise ValueError(f"DOVEImageConverter: got uint16 pixels; {STRETCH_ADVICE}")
        if images.dtype == tf.string:
            return self.normalize(decode_images(images, self.image_size, self.interpolation))
        unbatched = images.shape.rank == 3
        batch = images[None] if unbatched else images
        tf.debugging.assert_equal(
            tf.shape(batch)[-1], 3, message="DOVEImageConverter: images need 3 (RGB) channels"
        )
        resized = resize_images(tf.cast(batch, tf.float32), self.image_size, self.interpolation)
        normalized = self.normalize(resized)
        return normalized[0] if unbatched else normalized

    def normalize(self, pixels):
        """`pixels * scale + offset` for float32 pixels in [0, 255]."""
        return normalize_pixels(pixels, self.scale, self.offset)


TAIL = 512  # bytes searched for the end-of-image marker (files may carry trailing padding)


def _looks_complete(encoded):
    """Whether each encoded image ends as its format says (JPEG EOI, PNG IEND, GIF trailer, BMP size)."""
    length = tf.strings.length(encoded)
    start = tf.maximum(length - TAIL, 0)
    tail = tf.strings.substr(encoded, start, tf.fill(tf.shape(start), TAIL))
    padded = tf.strings.join([tail, tf.fill(tf.shape(tail), "\0" * TAIL)])
    tail_bytes = tf.ensure_shape(tf.io.decode_raw(tf.strings.substr(padded, 0, TAIL), tf.uint8), [None, TAIL])
    jpeg = _contains(tail_bytes, b"\xff\xd9")
    png = _contains(tail_bytes, b"IEND")
    gif = tf.equal(tf.strings.substr(encoded, tf.maximum(length - 1, 0), tf.ones_like(length)), ";")
    size_field = tf.strings.substr(tf.strings.join([encoded, tf.fill(tf.shape(encoded), "\0" * 6)]), 2, 4)
    bmp = tf.io.decode_raw(size_field, tf.int32, little_endian=True)[:, 0] <= length
    head = tf.strings.substr(encoded, 0, 3)
    return tf.where(
        tf.equal(head, _JPEG), jpeg,
        tf.where(tf.equal(head, ENCODED_SIGNATURES[0][:3]), png, tf.where(tf.equal(head, b"GIF"), gif, bmp)),
    )


def _contains(rows, pattern):
    """Whether each row of uint8 `(B, N)` holds the byte string `pattern`."""
    n = rows.shape[1] - len(pattern) + 1
    found = tf.ones([tf.shape(rows)[0], n], tf.bool)
    for offset, byte in enumerate(pattern):
        found = tf.logical_and(found, tf.equal(rows[:, offset : offset + n], byte))
    return tf.reduce_any(found, axis=1)


def decode_images(encoded, image_size, method="bilinear"):
    """Decodes a string scalar or `(B,)` batch of encoded images, each resized.

    Returns:
        float32 pixels in [0, 255], `(S, S, 3)` for a scalar, else `(B, S, S, 3)`.

    Raises:
        tf.errors.InvalidArgumentError: listing the batch indices of inputs
            that are not JPEG, PNG, GIF or BMP bytes, are truncated or are
            16-bit PNGs.
    """
    scalar = encoded.shape.rank == 0
    batch = tf.reshape(encoded, [-1])
    known = tf.zeros(tf.shape(batch), tf.bool)
    for signature in ENCODED_SIGNATURES:
        known = tf.logical_or(known, tf.equal(tf.strings.substr(batch, 0, len(signature)), signature))
    check = tf.debugging.Assert(
        tf.reduce_all(known),
        [
            "images at these batch indices are not JPEG, PNG, GIF or BMP bytes (TIFF is not "
            "decoded in the graph: decode it yourself and pass the pixels, e.g. to the export's "
            "embed_pixels):",
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
        return resize_images(tf.cast(image, tf.float32)[None], image_size, method)[0]

    complete = _looks_complete(batch)
    truncated = tf.debugging.Assert(
        tf.reduce_all(tf.logical_or(complete, tf.logical_not(known))),
        ["images at these batch indices are truncated (no end-of-image marker):",
         tf.reshape(tf.where(tf.logical_not(complete)), [-1])],
        summarize=16,
    )
    with tf.control_dependencies([check, truncated, _check_8_bit_png(batch)]):
        batch = tf.identity(batch)
    pixels = tf.map_fn(
        decode_one, batch, fn_output_signature=tf.TensorSpec([*image_size, 3], tf.float32)
    )
    return pixels[0] if scalar else pixels


def _check_8_bit_png(encoded):
    """The assertion that no PNG of the batch has 16-bit samples (the graph would not stretch them)."""
    padded = tf.strings.join([encoded, tf.fill(tf.shape(encoded), "\0" * (_PNG_BIT_DEPTH + 1))])
    png = tf.equal(tf.strings.substr(encoded, 0, len(ENCODED_SIGNATURES[0])), ENCODED_SIGNATURES[0])
    deep = tf.logical_and(png, tf.equal(tf.strings.substr(padded, _PNG_BIT_DEPTH, 1), b"\x10"))
    return tf.debugging.Assert(
        tf.logical_not(tf.reduce_any(deep)),
        [f"images at these batch indices are 16-bit PNGs, which the graph does not stretch: "
         f"{STRETCH_ADVICE}, and pass the pixels (e.g. to the export's embed_pixels):",
         tf.reshape(tf.where(deep), [-1])],
        summarize=16,
    )
