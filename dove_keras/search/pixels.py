"""Pictures -> the encoders' pixel batches (resized exactly as the preprocessor does)."""

import numpy as np
import tensorflow as tf

from dove_keras.preprocessing.images import resize_images


def model_pixels(pictures, image_size):
    """float32 `(B, S, S, 3)` in [0, 255] from uint8 RGB pictures of any sizes.

    The resize is the `DOVEImageConverter`'s; the encoders then normalise,
    so the features equal the preprocessor's path on the same pictures.
    """
    batch = [resize_images(tf.cast(p, tf.float32)[None], [image_size, image_size])[0] for p in pictures]
    return np.stack([b.numpy() for b in batch]).astype("float32")
