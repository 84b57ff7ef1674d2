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

Under `MultiWorkerMirroredStrategy` the pinned Keras (3.15) fails twice in
its TensorFlow trainer; `DOVERetriever` avoids both with the helpers below:
`_maybe_symbolic_build` averages the first batch over the workers with
`strategy.reduce` on a dict, which that strategy cannot do
(keras-team/keras#20329): `first_replica_batch` gives it a local replica's
batch instead. The train step's logs are then averaged with
`strategy.reduce("MEAN", log, axis=0)`, which fails on scalars
(tensorflow/tensorflow#72388): `reducible_logs` makes them 1-element vectors.
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


def multi_worker_strategy(strategy):
    """Whether `strategy` is a `MultiWorkerMirroredStrategy` with several workers."""
    import tensorflow as tf

    return isinstance(strategy, tf.distribute.MultiWorkerMirroredStrategy) and strategy.extended._in_multi_worker_mode()


def first_replica_batch(epoch_iterator):
    """The first batch of a Keras TF epoch iterator, as this worker's first replica holds it.

    Building the model and its optimizer needs only the batch's shapes and
    dtypes, which every replica's slice has.
    """
    import tensorflow as tf

    def local(value):
        if isinstance(value, tf.distribute.DistributedValues):
            return value.values[0]
        return value

    for _, _, iterator in epoch_iterator:
        return keras.tree.map_structure(local, next(iterator))


def reducible_logs(logs):
    """Each log as a 1-element vector inside a multi-worker TF replica; `logs` elsewhere.

    Keras averages a multi-worker step's logs over axis 0; the mean of the
    replicas' 1-element vectors is the scalar the other engines log.
    """
    if replicas_in_sync() == 1:
        return logs
    import tensorflow as tf

    if not multi_worker_strategy(tf.distribute.get_strategy()):
        return logs
    return {name: ops.reshape(value, (1,)) for name, value in logs.items()}


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
        # A batch input has no device; the multi-worker collective needs one.
        numbers = tf.identity(numbers)
        gathered = context.all_gather(numbers, axis=0)
        # all_gather forgets the static shape; the layers after it need it.
        gathered = tf.ensure_shape(gathered, [None, *value.shape[1:]])
        return ops.cast(gathered, "bool") if value.dtype == tf.bool else gathered

    return keras.tree.map_structure(gather, structure, none_is_leaf=False)


def scale_for_replicas(loss):
    """Divides a replica's loss by the replica count (the strategy sums gradients)."""
    count = replicas_in_sync()
    return loss if count == 1 else loss / count
