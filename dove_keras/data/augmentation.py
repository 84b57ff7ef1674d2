"""The training transforms of the protocol (DESIGN section 2), in TensorFlow ops.

Resize to round(image_size * 278 / 256) (once per image, rounded to uint8 as a
PIL resize would be), random rotation by an angle drawn uniformly from
[0, 90] degrees (bilinear, black corners), random crop to image_size. The
preprocessor normalises the crops afterwards.
"""

import math

import tensorflow as tf

from dove_keras.preprocessing.images import resize_images


def train_resize_size(image_size):
    """Side of the resize before the random crop: 278 for 256, 139 for 128."""
    return (image_size * 278 + 128) // 256


def resize_to_uint8(image, size):
    """The deterministic first step: resize to `size` x `size`, rounded to uint8."""
    resized = resize_images(tf.cast(image, tf.float32)[None], [size, size])[0]
    return tf.cast(tf.clip_by_value(tf.round(resized), 0.0, 255.0), tf.uint8)


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
    """The random part of the training augmentation: rotation and crop.

    Args:
        image: `(R, R, 3)` values in [0, 255], already resized to
            R = `train_resize_size(image_size)`.
        seed: int `(2,)` stateless seed.
        image_size: output side.

    Returns:
        float32 `(image_size, image_size, 3)` in [0, 255].
    """
    rotation_seed, crop_seed = tf.unstack(tf.random.experimental.stateless_split(seed, 2))
    image = tf.cast(image, tf.float32)
    angle = tf.random.stateless_uniform([], rotation_seed, 0.0, math.pi / 2)
    image = rotate_image(image, angle)
    return tf.image.stateless_random_crop(image, [image_size, image_size, 3], crop_seed)
