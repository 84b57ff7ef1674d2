"""Image files -> model inputs, as the evaluation pipeline prepares them.

Files are decoded with Pillow (JPEG, PNG, TIFF, ... as `dove-data prepare`
does), then resized (bilinear, antialiased) and ImageNet-normalised by the
evaluation pipeline's own functions.
"""

import os

import numpy as np
import tensorflow as tf

from dove_keras.data.pipelines import normalize_image
from dove_keras.data.pipelines import resize_image


def model_inputs(pictures, image_size):
    """Normalised float32 `(B, image_size, image_size, 3)` from uint8 RGB arrays."""
    batch = [normalize_image(resize_image(tf.constant(p), image_size)) for p in pictures]
    return np.stack([b.numpy() for b in batch]).astype("float32")


def file_metadata(path, picture):
    """Table columns of one indexed file: size on disk, pixel size, modification time."""
    stat = os.stat(path)
    return {
        "height": int(picture.shape[0]),
        "width": int(picture.shape[1]),
        "file_bytes": int(stat.st_size),
        "modified": float(stat.st_mtime),
    }
