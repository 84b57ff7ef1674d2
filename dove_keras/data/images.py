"""Image decoding shared by the tools (Pillow: JPEG, PNG, TIFF, ...)."""

import io
import os

import numpy as np
from PIL import Image

IMAGE_EXTENSIONS = (".jpg", ".jpeg", ".png", ".tif", ".tiff", ".bmp")
# 8-bit modes (Pillow converts them to RGB without clipping or rescaling).
_RGB_CONVERTIBLE = {"1", "L", "LA", "P", "PA", "RGB", "RGBA", "RGBX", "CMYK", "YCbCr"}


class ImageError(ValueError):
    """An image file is missing, unreadable or not convertible to 8-bit RGB."""


def load_image(path):
    """Decodes an image file to an 8-bit RGB array.

    Args:
        path: the image file.

    Returns:
        uint8 array `(height, width, 3)` (alpha dropped, grey and palette
        images expanded to RGB).

    Raises:
        ImageError: the file is missing, corrupt, truncated or has a pixel
            mode without an exact 8-bit RGB conversion (e.g. 16-bit TIFF).
    """
    if not os.path.isfile(path):
        raise ImageError(f"{path}: image file not found")
    if os.path.getsize(path) == 0:
        raise ImageError(f"{path}: empty file (0 bytes)")
    try:
        with Image.open(path) as image:
            image.load()
            if image.mode not in _RGB_CONVERTIBLE:
                raise ImageError(
                    f"{path}: pixel mode {image.mode!r} has no exact 8-bit RGB "
                    "conversion; convert the image first"
                )
            return np.asarray(image.convert("RGB"))
    except ImageError:
        raise
    except (OSError, ValueError, SyntaxError, Image.DecompressionBombError) as error:
        raise ImageError(f"{path}: unreadable image ({error})") from error


def encode_png(array, compress_level=6):
    """Encodes an RGB array as PNG bytes (deterministic, no metadata).

    Args:
        array: uint8 `(height, width, 3)`.
        compress_level: zlib level 0-9.

    Returns:
        The PNG bytes.
    """
    buffer = io.BytesIO()
    image = Image.fromarray(np.ascontiguousarray(array, np.uint8))
    image.save(buffer, format="PNG", compress_level=compress_level)
    return buffer.getvalue()


def list_images(folder):
    """Image files under a folder (recursive), as sorted relative paths.

    Symlinked folders are followed, each real folder once (a link back to an
    ancestor does not loop).

    Args:
        folder: the folder.

    Returns:
        A sorted list of paths relative to `folder`, with "/" separators.
    """
    found, seen = [], set()
    for root, dirs, files in os.walk(folder, followlinks=True):
        real = os.path.realpath(root)
        if real in seen:
            dirs[:] = []
            continue
        seen.add(real)
        dirs.sort()
        for name in files:
            if name.lower().endswith(IMAGE_EXTENSIONS):
                relative = os.path.relpath(os.path.join(root, name), folder)
                found.append(relative.replace(os.sep, "/"))
    return sorted(found)
