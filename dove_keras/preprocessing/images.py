"""The image side of the model-input contract: the size rule, resize and normalisation.

Images are square, their side a multiple of the image tower's stride; they are
resized bilinearly with antialiasing and no crop (the evaluation protocol's
resize) and normalised per channel as `pixels * scale + offset` (by default
the ImageNet mean/std of keras-hub's `resnet_50_imagenet` converter).
"""

import tensorflow as tf

STRIDE = 32  # of the ResNet's last pyramid level, P5
IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)


def check_image_size(image_size):
    """Raises ValueError unless `image_size` is a positive multiple of the backbone's stride."""
    if isinstance(image_size, bool) or not isinstance(image_size, int) or image_size < STRIDE or image_size % STRIDE:
        raise ValueError(f"image_size must be a positive multiple of {STRIDE}, got {image_size!r}.")


def resize_images(pixels, image_size, method="bilinear"):
    """Antialiased resize of float pixels to `image_size` (no crop), bilinear by default."""
    return tf.image.resize(pixels, image_size, method=method, antialias=True)


def imagenet_normalization():
    """`(scale, offset)` per channel mapping [0, 255] pixels to ImageNet mean/std-normalised values."""
    scale = [1.0 / (255.0 * s) for s in IMAGENET_STD]
    offset = [-m / s for m, s in zip(IMAGENET_MEAN, IMAGENET_STD)]
    return scale, offset


def normalize_pixels(pixels, scale, offset):
    """`pixels * scale + offset` per channel for float32 pixels in [0, 255]."""
    return pixels * tf.constant(scale, tf.float32) + tf.constant(offset, tf.float32)
