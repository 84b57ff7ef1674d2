"""Retrieval example sheets: caption and image queries with their top results and heat maps."""

import textwrap

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

from dove_keras.reports.pictures import draw_picture  # noqa: E402


def retrieval_example_sheet(
    scores, images, captions, path, num_queries=2, top_k=5, captions_per_image=5, heat_maps=None
):
    """Query -> top-k sheet: caption queries with their images, image queries with their captions.

    Correct results are framed / marked in green, wrong ones in red.

    Args:
        scores: `(I, C)` scores.
        images: `{image index: uint8 (H, W, 3)}` holding at least the shown
            images (see `example_indices`).
        captions: the C caption strings.
        path: the PNG to write.
        num_queries: queries per direction.
        top_k: results per query.
        captions_per_image: caption j belongs to image j // captions_per_image.
        heat_maps: optional `{(caption, image): map}` of where ROAM looked
            (`example_heat_maps`), overlaid on the caption queries' images.
    """
    text_queries, image_queries = example_queries(scores, num_queries)
    rows = len(text_queries) + len(image_queries)
    figure = plt.figure(figsize=(2.2 * (top_k + 1), 2.4 * rows))
    grid = figure.add_gridspec(rows, top_k + 1)
    for row, caption in enumerate(text_queries):
        query = figure.add_subplot(grid[row, 0])
        query.axis("off")
        query.text(0, 0.5, "\n".join(textwrap.wrap(captions[caption], 24)), fontsize=8, va="center")
        query.set_title(f"caption {caption}", fontsize=8)
        for rank, image in enumerate(np.argsort(-scores[:, caption], kind="stable")[:top_k]):
            axis = figure.add_subplot(grid[row, rank + 1])
            draw_picture(axis, images[int(image)], (heat_maps or {}).get((int(caption), int(image))))
            colour = "green" if image == caption // captions_per_image else "red"
            for spine in axis.spines.values():
                spine.set(color=colour, linewidth=3)
            axis.set_title(f"#{rank + 1} image {image}", fontsize=8)
    for row, image in enumerate(image_queries, start=len(text_queries)):
        query = figure.add_subplot(grid[row, 0])
        query.imshow(images[int(image)])
        query.set_xticks([]), query.set_yticks([])
        query.set_title(f"image {image}", fontsize=8)
        listing = figure.add_subplot(grid[row, 1:])
        listing.axis("off")
        ranked = np.argsort(-scores[image], kind="stable")[:top_k]
        for rank, caption in enumerate(ranked):
            right = caption // captions_per_image == image
            text = f"#{rank + 1} {'+' if right else '-'} {textwrap.shorten(captions[caption], 110)}"
            listing.text(0, 1 - (rank + 0.5) / top_k, text, fontsize=8, va="center",
                         color="green" if right else "red")
    figure.tight_layout()
    figure.savefig(path, dpi=100)
    plt.close(figure)


def example_heat_maps(model, scores, images, captions, num_queries=2, top_k=5):
    """`{(caption, image): map}` for the caption queries of the sheet and their top images.

    None when the model has no ROAM or no preprocessor (nothing to compute it with),
    or takes precomputed regions (the sheet's pictures come without them).
    """
    backbone = getattr(model, "backbone", None)
    if getattr(model, "preprocessor", None) is None or not getattr(backbone, "use_roam", False):
        return None
    if getattr(backbone, "region_source", "grid") == "precomputed":
        return None
    from dove_keras.models.attention_maps import raw_heat_maps

    pairs = [
        (int(caption), int(image))
        for caption in example_queries(scores, num_queries)[0]
        for image in np.argsort(-scores[:, caption], kind="stable")[:top_k]
    ]
    maps = raw_heat_maps(model, [images[image] for _, image in pairs], [captions[c] for c, _ in pairs])
    return dict(zip(pairs, maps))


def example_queries(scores, num_queries=2):
    """Evenly spread `(caption queries, image queries)` of the example sheet."""
    num_images, num_captions = scores.shape
    images = np.unique(np.linspace(0, num_images - 1, num_queries).astype(int))
    captions = np.unique(np.linspace(0, num_captions - 1, num_queries).astype(int))
    return captions, images


def example_indices(scores, num_queries=2, top_k=5):
    """The image indices the example sheet shows (to load only those)."""
    captions, images = example_queries(scores, num_queries)
    shown = set(images.tolist())
    for caption in captions:
        shown.update(np.argsort(-scores[:, caption], kind="stable")[:top_k].tolist())
    return sorted(shown)
