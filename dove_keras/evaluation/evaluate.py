"""R@K and mR of a retrieval task on an evaluation split: encode it, score it (the task's chunked `score`), rank."""

import dataclasses
import logging
import time

import numpy as np

from dove_keras.evaluation.encode import encode_image_batches
from dove_keras.evaluation.encode import encode_text_batches
from dove_keras.evaluation.ranks import retrieval_recalls

logger = logging.getLogger(__name__)

MODES = ("roam", "global")


@dataclasses.dataclass
class EvaluationResult:
    """What `evaluate_model` measured.

    Attributes:
        metrics: the recalls of `retrieval_recalls` (percent) and `mR`.
        timings: seconds spent in `encode_images`, `encode_captions`,
            `score`, `recalls` and `total`.
        scores: the `(I, C)` float32 score matrix.
    """

    metrics: dict
    timings: dict
    scores: np.ndarray

    def summary(self):
        """One line: the recalls, mR and the time split."""
        recalls = " ".join(f"{k}={v:.2f}" for k, v in self.metrics.items())
        times = " ".join(f"{k}={v:.2f}s" for k, v in self.timings.items())
        num_images, num_captions = self.scores.shape
        return f"{num_images} images x {num_captions} captions: {recalls} | {times}"


def evaluate_model(
    model,
    image_ds,
    caption_ds,
    mode="roam",
    chunk_size=128,
    captions_per_image=5,
    verbose=False,
):
    """R@1/5/10 both ways and mR of `model` on an evaluation split.

    Args:
        model: a `DOVERetriever` (`encode_image`, `encode_text`, `score`,
            `global_score`). When it has a preprocessor, it is mapped over
            the datasets first (raw batches of `make_eval_datasets`).
        image_ds: batches `{"images"}` of the I images in protocol order.
        caption_ds: batches (`{"captions"}` raw, or `{"token_ids"}`) of the
            `captions_per_image * I` captions; caption j belongs to image
            `j // captions_per_image`.
        mode: `"roam"` for the pairwise ROAM score (in
            `chunk_size x chunk_size` blocks), `"global"` for the fast
            `cos(V_M, T_G)`.
        chunk_size: block side of the pairwise scoring.
        captions_per_image: captions per image.
        verbose: show progress bars and print the summary line.

    Returns:
        An `EvaluationResult`.

    Raises:
        ValueError: for an unknown mode, or when the caption count is not
            `captions_per_image` times the image count.
    """
    if mode not in MODES:
        raise ValueError(f"mode must be one of {MODES}, got {mode!r}.")
    keep = ("global",) if mode == "global" else None
    if getattr(model, "preprocessor", None) is not None:
        image_ds, caption_ds = (_preprocessed(model, ds) for ds in (image_ds, caption_ds))
    timings = {}
    start = time.perf_counter()
    image_features = encode_image_batches(model, image_ds, keep, progress=verbose)
    timings["encode_images"] = time.perf_counter() - start
    tick = time.perf_counter()
    text_features = encode_text_batches(model, caption_ds, keep, progress=verbose)
    timings["encode_captions"] = time.perf_counter() - tick

    num_images = len(image_features["global"])
    num_captions = len(text_features["global"])
    if num_captions != captions_per_image * num_images:
        raise ValueError(
            f"The evaluation split has {num_images} images and {num_captions} "
            f"captions; expected {captions_per_image} captions per image "
            f"({captions_per_image * num_images})."
        )
    tick = time.perf_counter()
    if mode == "global":
        scores = model.global_score(image_features, text_features)
    else:
        scores = model.score(image_features, text_features, chunk_size=chunk_size, progress=verbose)
    timings["score"] = time.perf_counter() - tick
    tick = time.perf_counter()
    metrics = retrieval_recalls(scores, captions_per_image)
    timings["recalls"] = time.perf_counter() - tick
    timings["total"] = time.perf_counter() - start
    result = EvaluationResult(metrics, timings, np.asarray(scores, dtype=np.float32))
    if verbose:
        logger.info("[evaluate %s] %s", mode, result.summary())
    return result


def _preprocessed(model, dataset):
    import tensorflow as tf

    return dataset.map(model.preprocessor, num_parallel_calls=tf.data.AUTOTUNE).prefetch(tf.data.AUTOTUNE)
