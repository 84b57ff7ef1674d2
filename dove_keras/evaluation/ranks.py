"""Recall@K and mR of image-text retrieval, as the literature computes them."""

import numpy as np

# Boolean comparison cells processed at once (about 64 MiB).
_CELLS_PER_CHUNK = 1 << 26


def retrieval_ranks(scores, captions_per_image=5):
    """0-based ranks of the true matches (DESIGN section 3).

    Ties count in the query's favour: a rank is the number of candidates with
    a strictly higher score.

    Args:
        scores: `(I, C)` scores of images (rows) against captions
            (columns), cast to float32; caption j belongs to image
            `j // captions_per_image`.
        captions_per_image: captions per image, grouped consecutively.

    Returns:
        `(image_ranks, caption_ranks)`: int64 `(I,)`, for each image the best
        rank among its captions (image->text), and `(C,)`, for each caption
        the rank of its image (text->image).

    Raises:
        ValueError: for a non-2D or NaN matrix, or `C != captions_per_image * I`.
    """
    scores = _check_scores(scores, captions_per_image)
    num_images, num_captions = scores.shape
    owner = np.arange(num_captions) // captions_per_image
    grouped = scores.reshape(num_images, num_images, captions_per_image)
    best_positive = grouped[np.arange(num_images), np.arange(num_images)].max(axis=1)
    true_image_score = scores[owner, np.arange(num_captions)]

    image_ranks = np.empty(num_images, dtype=np.int64)
    caption_ranks = np.zeros(num_captions, dtype=np.int64)
    rows = max(1, _CELLS_PER_CHUNK // max(num_captions, 1))
    for start in range(0, num_images, rows):
        block = scores[start : start + rows]
        image_ranks[start : start + rows] = np.count_nonzero(
            block > best_positive[start : start + rows, None], axis=1
        )
        caption_ranks += np.count_nonzero(block > true_image_score[None, :], axis=0)
    return image_ranks, caption_ranks


def retrieval_recalls(scores, captions_per_image=5, ks=(1, 5, 10)):
    """R@K both ways and their mean mR, in percent (DESIGN section 3).

    Args:
        scores: `(I, C)` image-caption scores, see `retrieval_ranks`.
        captions_per_image: captions per image, grouped consecutively.
        ks: the cut-offs K.

    Returns:
        A dict of Python floats: `i2t_r{K}` (image->text), `t2i_r{K}`
        (text->image) for each K, and `mR`, the mean of all of them.

    Raises:
        ValueError: for bad `scores` (see `retrieval_ranks`) or `ks`.
    """
    ks = tuple(ks)
    if not ks or any(not isinstance(k, (int, np.integer)) or k < 1 for k in ks):
        raise ValueError(f"ks must be positive integers, got {ks!r}.")
    image_ranks, caption_ranks = retrieval_ranks(scores, captions_per_image)
    recalls = {}
    for direction, ranks in (("i2t", image_ranks), ("t2i", caption_ranks)):
        for k in ks:
            recalls[f"{direction}_r{k}"] = float(100.0 * np.mean(ranks < k))
    recalls["mR"] = float(np.mean(list(recalls.values())))
    return recalls


def _check_scores(scores, captions_per_image):
    scores = np.asarray(scores, dtype=np.float32)
    if scores.ndim != 2:
        raise ValueError(
            "the score matrix must be 2D (images, captions), "
            f"got shape {scores.shape}."
        )
    if not isinstance(captions_per_image, (int, np.integer)) or captions_per_image < 1:
        raise ValueError(
            f"captions_per_image must be a positive integer, got {captions_per_image!r}."
        )
    num_images, num_captions = scores.shape
    if num_images == 0:
        raise ValueError("the score matrix has no images (shape (0, C)).")
    if num_captions != captions_per_image * num_images:
        raise ValueError(
            f"the score matrix has shape {scores.shape}: expected "
            f"{captions_per_image} captions per image, i.e. "
            f"{captions_per_image} * {num_images} = {captions_per_image * num_images} "
            f"columns (caption j belongs to image j // {captions_per_image}), "
            f"got {num_captions}."
        )
    nan_count = int(np.count_nonzero(np.isnan(scores)))
    if nan_count:
        raise ValueError(f"the score matrix contains {nan_count} NaN value(s).")
    return scores
