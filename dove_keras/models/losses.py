"""The bidirectional hinge triplet loss on a similarity matrix."""

from keras import ops


def triplet_loss(similarity, image_ids, margin=0.2, hardest_negative=False):
    """Bidirectional triplet loss; the diagonal holds the positive pairs.

    `sum_i sum_{j != i} [m - S_ii + S_ij]_+ + [m - S_ii + S_ji]_+`, where
    pairs whose captions describe the same image are not negatives. With
    `hardest_negative=True` each sum over j becomes a max (VSE++).

    Args:
        similarity: `(B, B)` scores, rows images, columns captions.
        image_ids: `(B,)` image id of each pair, to mask same-image pairs.
        margin: the hinge margin m.
        hardest_negative: use only the hardest negative of each query.

    Returns:
        A scalar, summed over the batch.
    """
    positives = ops.diagonal(similarity)
    ids = ops.reshape(image_ids, (-1,))
    negatives = ops.cast(ops.not_equal(ids[:, None], ids[None, :]), similarity.dtype)
    caption_cost = ops.relu(margin - positives[:, None] + similarity) * negatives
    image_cost = ops.relu(margin - positives[None, :] + similarity) * negatives
    if hardest_negative:
        return ops.sum(ops.max(caption_cost, axis=1)) + ops.sum(ops.max(image_cost, axis=0))
    return ops.sum(caption_cost) + ops.sum(image_cost)
