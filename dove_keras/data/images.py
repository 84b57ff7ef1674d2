"""Image decoding shared by the tools (Pillow: JPEG, PNG, TIFF, ...).

Pixel depth, the same for PNG and TIFF:

- 8-bit images load as they are (alpha dropped, grey and palette expanded
  to RGB).
- Single-band images of more than 8 bits (16-bit or 32-bit integers, floats)
  get the per-image percentile stretch of `dove_keras.preprocessing.stretch` (the 2nd
  and 98th percentiles of the finite pixels map to 0 and 255), the stretch
  `dove search index --scenes` applies per scene.
- Colour (or grey + alpha) images of 16-bit samples are refused: Pillow
  decodes only the high byte of each sample, a silent darkening unlike the
  stretch; stretch them to 8-bit RGB first.
"""

import io
import os

import numpy as np
from PIL import Image

from dove_keras.errors import DataProblem
from dove_keras.preprocessing.stretch import apply_stretch
from dove_keras.preprocessing.stretch import band_limits
from dove_keras.utils.files import list_files

IMAGE_EXTENSIONS = (".jpg", ".jpeg", ".png", ".tif", ".tiff", ".bmp")
# 8-bit modes (Pillow converts them to RGB without clipping or rescaling).
_RGB_CONVERTIBLE = {"1", "L", "LA", "P", "PA", "RGB", "RGBA", "RGBX", "CMYK", "YCbCr"}
# Single-band modes of more than 8 bits, decoded at full precision and stretched.
_STRETCHED = {"I;16", "I;16L", "I;16B", "I;16N", "I", "F"}
WIDE_COLOUR = (
    "16-bit colour image (or grey + alpha): Pillow decodes only the high byte of each "
    "sample, so it is refused rather than darkened; stretch it to 8-bit RGB first (e.g. "
    "band_limits and apply_stretch of dove_keras.preprocessing.stretch), or index a GeoTIFF with "
    "`dove search index --scenes`, which stretches each scene"
)

TIFF_LAYOUT = (
    "a TIFF Pillow cannot decode: damaged, or with samples it does not support (16-bit or "
    "floating-point colour, band-interleaved); convert it to 8-bit RGB first (e.g. "
    "`gdal_translate -ot Byte -scale IN OUT`), or index it with `dove search index --scenes`, "
    "which reads any GDAL raster and stretches each band"
)


class ImageError(DataProblem):
    """An image file is missing, unreadable or not convertible to 8-bit RGB."""


def load_image(path):
    """Decodes an image file to an 8-bit RGB array (see the module docstring).

    Args:
        path: the image file.

    Returns:
        uint8 array `(height, width, 3)`.

    Raises:
        ImageError: the file is missing, corrupt, truncated, a 16-bit colour
            image or has another pixel mode without an 8-bit RGB conversion.
    """
    if not os.path.isfile(path):
        raise ImageError(f"{path}: image file not found")
    if os.path.getsize(path) == 0:
        raise ImageError(f"{path}: empty file (0 bytes)")
    try:
        with Image.open(path) as image:
            if _high_byte_only(image):
                raise ImageError(f"{path}: {WIDE_COLOUR}")
            image.load()
            if image.mode in _STRETCHED:
                return stretch_grey(np.asarray(image))
            if image.mode not in _RGB_CONVERTIBLE:
                raise ImageError(
                    f"{path}: pixel mode {image.mode!r} has no 8-bit RGB "
                    "conversion; convert the image first"
                )
            return np.asarray(image.convert("RGB"))
    except ImageError:
        raise
    except (OSError, ValueError, SyntaxError, Image.DecompressionBombError) as error:
        if _is_tiff(path):
            raise ImageError(f"{path}: {TIFF_LAYOUT} ({error})") from error
        raise ImageError(f"{path}: unreadable image ({error})") from error


def _is_tiff(path):
    with open(path, "rb") as f:
        return f.read(4) in (b"II*\x00", b"MM\x00*")


def stretch_grey(values):
    """One band of any numeric type -> uint8 RGB by the percentile stretch of `dove_keras.preprocessing.stretch`.

    Args:
        values: `(height, width)` array; non-finite values count as no data
            (they map to 0).

    Returns:
        uint8 array `(height, width, 3)`, the stretched band in every channel.
    """
    band = values[None]
    grey = apply_stretch(band, band_limits(band, np.isfinite(band)))[0]
    return np.repeat(grey[..., None], 3, axis=-1)


def _high_byte_only(image):
    """Whether Pillow would decode `image` (not yet loaded) from 16-bit samples to their high byte."""
    if image.mode in _STRETCHED:
        return False
    for tile in image.tile:
        args = tile[3]
        rawmode = args if isinstance(args, str) else (args or [None])[0]
        if isinstance(rawmode, str) and ";16" in rawmode:
            return True
    return False


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
    return list_files(folder, IMAGE_EXTENSIONS, follow_links=True)
