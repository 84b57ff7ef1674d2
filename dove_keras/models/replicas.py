"""Whole-batch losses under `tf.distribute`: gather the replicas' features.

Under a TensorFlow strategy (`MirroredStrategy`, `MultiWorkerMirroredStrategy`)
every replica runs the model on its slice of the global batch. The triplet
loss needs every caption of the global batch as a negative of every image,
so DOVE gathers both towers' outputs and the image ids from all replicas
before scoring. Each replica then computes the global batch's loss; the
gradient of `all_gather` sums the replicas' upstream gradients, and each
replica's loss is divided by the replica count because the strategy sums the
replicas' gradients. The result is the single-device gradient.

On JAX (`keras.distribution.DataParallel`) the train step is one SPMD program
over the global batch, so nothing needs gathering: these functions are the
identity outside a TensorFlow replica context.
"""

import keras
from keras import ops


def replicas_in_sync():
    """Replicas computing this step together (1 outside a TF replica context)."""
    if keras.backend.backend() != "tensorflow":
        return 1
    import tensorflow as tf

    if not tf.distribute.has_strategy() or tf.distribute.in_cross_replica_context():
        return 1
    return tf.distribute.get_replica_context().num_replicas_in_sync


def gather_replicas(structure):
    """Concatenates every replica's batch of each tensor in `structure`.

    `structure` is a tensor or a nest of them (a dict of features). Boolean
    masks travel as int32 (collectives take numbers); `None` values stay
    `None`; the static shape beyond the batch axis is kept. Outside a TF
    replica context with several replicas, `structure` is returned as is.
    """
    if replicas_in_sync() == 1:
        return structure
    import tensorflow as tf

    context = tf.distribute.get_replica_context()

    def gather(value):
        numbers = ops.cast(value, "int32") if value.dtype == tf.bool else value
        gathered = context.all_gather(numbers, axis=0)
        # all_gather forgets the static shape; the layers after it need it.
        gathered = tf.ensure_shape(gathered, [None, *value.shape[1:]])
        return ops.cast(gathered, "bool") if value.dtype == tf.bool else gathered

    return keras.tree.map_structure(gather, structure, none_is_leaf=False)


def scale_for_replicas(loss):
    """Divides a replica's loss by the replica count (the strategy sums gradients)."""
    count = replicas_in_sync()
    return loss if count == 1 else loss / count
