"""Expected recalls of random scores: the floor a trained model must beat."""

import math


def chance_recalls(num_images, captions_per_image=5, ks=(1, 5, 10)):
    """Expected R@K both ways and mR, in percent, when every ranking is random.

    text->image: the true image is at a uniform position among the I images,
    so R@K = min(K, I) / I. image->text: the best of the image's c captions
    is in the top K of the C = c * I captions with probability
    1 - binom(C - c, K) / binom(C, K).

    Args:
        num_images: I, the images of the split.
        captions_per_image: c.
        ks: the cut-offs K.

    Returns:
        A dict like `retrieval_recalls`: `i2t_r{K}`, `t2i_r{K}` and `mR`.

    Raises:
        ValueError: for a non-positive count or K.
    """
    checked = [("num_images", num_images), ("captions_per_image", captions_per_image)]
    for name, value in checked + [("k", k) for k in ks]:
        if int(value) != value or value < 1:
            raise ValueError(f"{name} must be a positive integer, got {value!r}.")
    num_captions = captions_per_image * num_images
    recalls = {}
    for k in ks:
        negatives = num_captions - captions_per_image
        missed = math.comb(negatives, k) / math.comb(num_captions, k) if k <= negatives else 0.0
        recalls[f"i2t_r{k}"] = 100.0 * (1.0 - missed)
    for k in ks:
        recalls[f"t2i_r{k}"] = 100.0 * min(k, num_images) / num_images
    recalls["mR"] = sum(recalls.values()) / len(recalls)
    return recalls
