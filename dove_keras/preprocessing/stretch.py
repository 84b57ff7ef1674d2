"""Per-band percentile stretch of 16-bit and float bands to 0..255.

For each selected band, the low and high percentiles (default 2nd and 98th)
of its valid pixels (not nodata, not masked, finite) are taken from a
decimated read of the whole scene, at most `STATS_SIDE` pixels on its long
side (GDAL serves it from overviews when the file has them, so memory does not
grow with the scene). A value v maps to round(255 * (v - low) / (high - low)),
clipped to 0..255; a band whose high percentile equals its low one uses
high = low + 1. uint8 bands are never stretched.
"""

import numpy as np

STATS_SIDE = 1024
DEFAULT_PERCENTILES = (2.0, 98.0)


def stats_shape(width, height, side=STATS_SIDE):
    """(rows, cols) of the decimated read: the scene scaled to at most `side` pixels."""
    scale = min(1.0, side / max(width, height))
    return max(1, round(height * scale)), max(1, round(width * scale))


def band_limits(values, valid, percentiles=DEFAULT_PERCENTILES):
    """Low and high stretch limits of each band.

    Args:
        values: (bands, rows, cols) array of one band per selected band.
        valid: boolean array of the same shape, True where a pixel counts.
        percentiles: (low, high) percentiles in 0..100.

    Returns:
        float64 array (bands, 2) of (low, high); (0, 1) for a band with no
        valid pixel.
    """
    limits = np.zeros((len(values), 2))
    limits[:, 1] = 1.0
    for band, (data, ok) in enumerate(zip(values, valid)):
        pixels = data[ok]
        if pixels.size:
            limits[band] = np.percentile(pixels.astype(np.float64), percentiles)
    return limits


def apply_stretch(values, limits):
    """Maps bands to uint8 with their limits (see the module docstring).

    Args:
        values: (bands, rows, cols) numeric array.
        limits: (bands, 2) array from `band_limits`.

    Returns:
        uint8 array of the same shape.
    """
    low = limits[:, 0, None, None]
    span = np.maximum(limits[:, 1] - limits[:, 0], 0.0)
    span = np.where(span > 0, span, 1.0)[:, None, None]
    scaled = (values.astype(np.float64) - low) * (255.0 / span)
    return np.rint(np.clip(np.nan_to_num(scaled), 0.0, 255.0)).astype(np.uint8)
