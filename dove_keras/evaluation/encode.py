"""Encodes an evaluation split, batch by batch, with a retrieval task's encoders."""

import numpy as np
from keras import ops
from tqdm.auto import tqdm

from dove_keras.utils.datasets import without_autotuning


def encode_image_batches(model, image_ds, keep=None, progress=False):
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


def encode_text_batches(model, caption_ds, keep=None, progress=False):
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
