"""Retrieval losses on a score matrix: the hinge triplet loss and CLIP's InfoNCE."""

from keras import ops

from dove_keras.layers.masking import large_negative


def triplet_loss(scores, image_ids, margin=0.2, hardest_negative=False):
    """Bidirectional triplet loss; the diagonal holds the positive pairs.

    `sum_i sum_{j != i} [m - S_ii + S_ij]_+ + [m - S_ii + S_ji]_+`, where
    pairs whose captions describe the same image are not negatives. With
    `hardest_negative=True` each sum over j becomes a max (VSE++).

    Args:
        scores: `(B, B)` scores, rows images, columns captions.
        image_ids: `(B,)` image id of each pair, to mask same-image pairs.
        margin: the hinge margin m.
        hardest_negative: use only the hardest negative of each query.

    Returns:
        A scalar, summed over the batch.
    """
    positives = ops.diagonal(scores)
    ids = ops.reshape(image_ids, (-1,))
    negatives = ops.cast(ops.not_equal(ids[:, None], ids[None, :]), scores.dtype)
    caption_cost = ops.relu(margin - positives[:, None] + scores) * negatives
    image_cost = ops.relu(margin - positives[None, :] + scores) * negatives
    if hardest_negative:
        return ops.sum(ops.max(caption_cost, axis=1)) + ops.sum(ops.max(image_cost, axis=0))
    return ops.sum(caption_cost) + ops.sum(image_cost)


def contrastive_loss(scores, image_ids, logit_scale):
    """CLIP's symmetric InfoNCE on a cosine matrix; the diagonal holds the positive pairs.

    `(CE_rows + CE_columns) / 2` of the logits `scores * exp(logit_scale)`,
    each the mean over the batch of `logsumexp(row) - logit_ii`. Pairs whose
    captions describe the same image (off the diagonal) are not negatives:
    their logits are left out of the sums.

    Args:
        scores: `(B, B)` cosine scores, rows images, columns captions.
        image_ids: `(B,)` image id of each pair.
        logit_scale: the log of the inverse temperature (CLIP's learnable scalar).

    Returns:
        A scalar, the mean over the batch.
    """
    scores = ops.convert_to_tensor(scores)
    logits = scores * ops.exp(ops.cast(logit_scale, scores.dtype))
    ids = ops.reshape(image_ids, (-1,))
    size = ops.shape(logits)[0]
    keep = ops.logical_or(ops.not_equal(ids[:, None], ids[None, :]), ops.cast(ops.eye(size), "bool"))
    logits = ops.where(keep, logits, ops.cast(large_negative(logits.dtype), logits.dtype))
    positives = ops.diagonal(logits)
    rows = ops.logsumexp(logits, axis=1) - positives
    columns = ops.logsumexp(logits, axis=0) - positives
    return (ops.mean(rows) + ops.mean(columns)) / 2
