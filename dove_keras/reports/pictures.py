"""Drawing shared by the example sheets: a picture with its attention heat map."""

import numpy as np


def draw_picture(axis, picture, heat=None):
    """Shows `picture` on a matplotlib axis, with `heat` (a map of its size) overlaid when given.

    The heat map is scaled to its maximum (the brightest overlay is where
    ROAM looked most) and drawn with the `inferno` colour map at 50 %.
    """
    axis.imshow(picture)
    if heat is not None:
        axis.imshow(np.asarray(heat) / max(float(np.max(heat)), 1e-12), cmap="inferno", alpha=0.5,
                    vmin=0.0, vmax=1.0, extent=(-0.5, picture.shape[1] - 0.5, picture.shape[0] - 0.5, -0.5))
    axis.set_xticks([]), axis.set_yticks([])
