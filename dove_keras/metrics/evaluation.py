"""Encodes an evaluation split with a DOVE model and computes its recalls."""

import dataclasses
import logging
import time

import numpy as np
from keras import ops
from tqdm.auto import tqdm

from dove_keras.data.pipelines import without_autotuning
from dove_keras.metrics.retrieval import retrieval_recalls

logger = logging.getLogger(__name__)

MODES = ("roam", "global")


@dataclasses.dataclass
class EvaluationResult:
    """What `evaluate_model` measured.

    Attributes:
        metrics: the recalls of `retrieval_recalls` (percent) and `mR`.
        timings: seconds spent in `encode_images`, `encode_captions`,
            `score`, `recalls` and `total`.
        similarity: the `(I, C)` float32 score matrix.
    """

    metrics: dict
    timings: dict
    similarity: np.ndarray

    def summary(self):
        """One line: the recalls, mR and the time split."""
        recalls = " ".join(f"{k}={v:.2f}" for k, v in self.metrics.items())
        times = " ".join(f"{k}={v:.2f}s" for k, v in self.timings.items())
        num_images, num_captions = self.similarity.shape
        return f"{num_images} images x {num_captions} captions: {recalls} | {times}"


def encode_images(model, image_ds, keep=None, progress=False):
    """Encodes every batch of `image_ds` (dicts with `images`, model inputs).

    Batches may also hold precomputed `regions` and `region_mask`.

    Args:
        model: a `DOVERetriever`.
        image_ds: a `tf.data.Dataset` or iterable of batch dicts.
        keep: feature keys to keep (None keeps all).
        progress: show a progress bar.

    Returns:
        The feature dict of `model.encode_image`, as numpy, concatenated.
    """

    def encode(batch):
        return model.encode_image(
            batch["images"], batch.get("regions"), batch.get("region_mask")
        )

    return _encode(encode, image_ds, "images", keep, progress)


def encode_captions(model, caption_ds, keep=None, progress=False):
    """Encodes every batch of `caption_ds` (dicts with `token_ids`, model inputs).

    Args:
        model: a `DOVERetriever`.
        caption_ds: a `tf.data.Dataset` or iterable of batch dicts.
        keep: feature keys to keep (None keeps all).
        progress: show a progress bar.

    Returns:
        The feature dict of `model.encode_text`, as numpy, concatenated.
    """
    return _encode(
        lambda batch: model.encode_text(batch["token_ids"]),
        caption_ds,
        "token_ids",
        keep,
        progress,
    )


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
    image_features = encode_images(model, image_ds, keep, progress=verbose)
    timings["encode_images"] = time.perf_counter() - start
    tick = time.perf_counter()
    text_features = encode_captions(model, caption_ds, keep, progress=verbose)
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
        similarity = model.global_score(image_features, text_features)
    else:
        similarity = model.score(image_features, text_features, chunk_size=chunk_size, progress=verbose)
    timings["score"] = time.perf_counter() - tick
    tick = time.perf_counter()
    metrics = retrieval_recalls(similarity, captions_per_image)
    timings["recalls"] = time.perf_counter() - tick
    timings["total"] = time.perf_counter() - start
    result = EvaluationResult(metrics, timings, np.asarray(similarity, dtype=np.float32))
    if verbose:
        logger.info("[evaluate %s] %s", mode, result.summary())
    return result


def _preprocessed(model, dataset):
    import tensorflow as tf

    return dataset.map(model.preprocessor, num_parallel_calls=tf.data.AUTOTUNE).prefetch(tf.data.AUTOTUNE)


def _encode(encode, dataset, input_key, keep, progress):
    """Encodes every batch; a shorter last batch is padded to the first one's size.

    The encoders are compiled per input shape (a `tf.function` trace, a JAX
    compilation: seconds for a ResNet-50), so the last batch of a split
    that the batch size does not divide is padded with copies of its last
    row and its padding rows are dropped from the features.
    """
    if hasattr(dataset, "as_numpy_iterator"):
        batches = without_autotuning(dataset).as_numpy_iterator()
    else:
        batches = dataset
    total = _num_batches(dataset)
    features = {}
    batch_size = None
    for batch in tqdm(batches, total=total, desc=f"encode {input_key}", disable=not progress, leave=False):
        if input_key not in batch:
            raise ValueError(
                f"Evaluation batches must be dicts with {input_key!r}, got keys {sorted(batch)}."
            )
        size = len(batch[input_key])
        batch_size = batch_size or size
        if size < batch_size:
            batch = {key: _padded_rows(value, batch_size) for key, value in batch.items()}
        for key, value in encode(batch).items():
            if keep is None or key in keep:
                features.setdefault(key, []).append(ops.convert_to_numpy(value)[:size])
    if not features:
        raise ValueError(f"The {input_key} dataset is empty.")
    return {key: np.concatenate(parts, axis=0) for key, parts in features.items()}


def _padded_rows(value, rows):
    """`value` with its last row repeated up to `rows` rows (non-arrays unchanged)."""
    if not isinstance(value, np.ndarray) or value.ndim == 0:
        return value
    return np.concatenate([value, np.repeat(value[-1:], rows - len(value), axis=0)])


def _num_batches(dataset):
    cardinality = getattr(dataset, "cardinality", None)
    if cardinality is None:
        return len(dataset) if hasattr(dataset, "__len__") else None
    count = int(cardinality())
    return count if count >= 0 else None
