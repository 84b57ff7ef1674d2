"""Masked reductions shared by the attention layers.

Masks are boolean (or 0/1) tensors broadcastable to the values they mask.
Masked softmax fills with a finite, dtype-aware large negative (never -inf) so
that fully masked rows stay finite, also in float16.
"""

from keras import ops


def large_negative(dtype):
    """A finite number far below any logit, safe for `dtype` (float16 too)."""
    return -3e4 if "float16" in str(dtype) else -1e9


def masked_softmax(logits, mask, axis=-1):
    """Softmax over `axis` that gives zero weight where `mask` is False."""
    if mask is None:
        return ops.softmax(logits, axis=axis)
    fill = ops.cast(large_negative(logits.dtype), logits.dtype)
    return ops.softmax(ops.where(ops.cast(mask, "bool"), logits, fill), axis=axis)


def masked_mean(values, mask, axis):
    """Mean over `axis` counting only positions where `mask` is True.

    Args:
        values: tensor with the reduced axis at `axis`, features last.
        mask: tensor of `values`' shape without its last (feature) axis,
            or None for a plain mean.
        axis: the axis to reduce (negative counts from the end of `values`).
    """
    if mask is None:
        return ops.mean(values, axis=axis)
    weights = ops.expand_dims(ops.cast(mask, values.dtype), -1)
    total = ops.sum(values * weights, axis=axis)
    count = ops.sum(weights, axis=axis)
    return total / ops.maximum(count, ops.cast(1, values.dtype))
