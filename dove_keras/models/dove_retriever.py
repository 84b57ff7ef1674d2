"""DOVE's retrieval task: preprocessing, the training loss and chunked scoring."""

import functools

import keras
import tensorflow as tf
from keras import ops

from dove_keras.models.dove_backbone import DOVEBackbone
from dove_keras.models.dove_preprocessor import DOVEPreprocessor
from dove_keras.models.inference import compile_inference
from dove_keras.models.losses import triplet_loss
from dove_keras.models.replicas import first_replica_batch
from dove_keras.models.replicas import gather_replicas
from dove_keras.models.replicas import multi_worker_strategy
from dove_keras.models.replicas import reducible_logs
from dove_keras.models.replicas import scale_for_replicas
from dove_keras.models.retrieval_task import RetrievalTask
from dove_keras.models.scoring import RoamFunctions
from dove_keras.models.scoring import chunked_roam_scores
from dove_keras.models.scoring import pair_scores
from dove_keras.models.scoring import prepare_captions
from dove_keras.models.scoring import prepare_images

DEFAULT_LEARNING_RATE = 2e-4
IMAGE_FEATURES = ("global", "fused", "regions", "region_mask")
TEXT_FEATURES = ("global", "genes", "gene_mask")


def check_loss_arguments(margin=0.2, hardest_negative=False, lambda_global=1.0, **unused):
    """Raises ValueError, naming the argument, for loss settings that cannot train."""
    if not margin > 0:
        raise ValueError(f"margin must be positive (the triplet hinge margin), got {margin!r}.")
    if not lambda_global >= 0:
        raise ValueError(f"lambda_global must be >= 0 (0 disables the global constraint), got {lambda_global!r}.")


@keras.saving.register_keras_serializable(package="dove_keras")
class DOVERetriever(RetrievalTask):
    """Image-text retrieval with DOVE: `fit` on raw captions and images, score splits.

    Training minimises `L_tri(ROAM) + lambda_global * L_tri(cos(V_M, T_G))`
    (DESIGN section 1.4) and logs `loss`, `triplet_loss` and `global_loss`.
    `fit`, `evaluate` and `predict` map the preprocessor over the data, so
    datasets hold raw `{"captions", "images", "image_ids"}` batches (set
    `preprocessor=None` to feed `token_ids` and normalised images yourself).

    Args:
        backbone: a `DOVEBackbone`.
        preprocessor: a `DOVEPreprocessor` or None.
        margin: triplet margin m.
        hardest_negative: VSE++ hardest negative instead of the sum.
        lambda_global: weight of the global constraint (0 disables it).

    Example:
    ```python
    retriever = DOVERetriever.from_preset("dove_runs/demo/dove/preset")
    images = retriever.embed_images([open("scene.png", "rb").read()])
    texts = retriever.embed_texts(["two planes are parked near a terminal"])
    retriever.score(images, texts)  # (1 image, 1 caption) ROAM scores
    ```
    """

    backbone_cls = DOVEBackbone
    preprocessor_cls = DOVEPreprocessor
    roam_loss_name = "triplet_loss"  # the logged loss of the ROAM scores

    def __init__(self, backbone, preprocessor=None, margin=0.2, hardest_negative=False,
                 lambda_global=1.0, **kwargs):
        check_loss_arguments(margin, hardest_negative, lambda_global)
        compile = kwargs.pop("compile", True)
        super().__init__(compile=False, **kwargs)  # a subclassed task: layers are set after

        # === Layers ===
        self.backbone = backbone
        self.preprocessor = preprocessor
        self.dtype_policy = backbone.dtype_policy
        self.triplet_tracker = keras.metrics.Mean(name=self.roam_loss_name)
        self.global_tracker = keras.metrics.Mean(name="global_loss")
        self.built = True  # the backbone is built when constructed

        # === Config ===
        self.margin = margin
        self.hardest_negative = hardest_negative
        self.lambda_global = lambda_global

        # === Compiled inference (host-side scoring) ===
        self._encode_image_fn = compile_inference(backbone.image_encoder)
        self._encode_text_fn = compile_inference(backbone.text_encoder)
        if backbone.iga is not None:
            iga = backbone.iga
            self._roam_functions = RoamFunctions(
                compile_inference(iga, functools.partial(prepare_images, iga)),
                compile_inference(iga, functools.partial(prepare_captions, iga)),
                compile_inference(iga, functools.partial(pair_scores, iga)),
            )
        if compile:
            self.compile()

    @property
    def use_roam(self):
        """Whether `score` is ROAM's pairwise score (else the global cosine)."""
        return self.backbone.use_roam

    def preprocess_samples(self, x, y=None, sample_weight=None):
        """The preprocessor's output, reduced to what training reads.

        The model inputs and `image_ids` are kept (not `padding_mask`: the
        backbone takes it from the ids), and masks travel as int32: under a
        `tf.distribute` strategy Keras reduces the first batch to build the
        model, and TensorFlow cannot sum boolean tensors.
        """
        data = super().preprocess_samples(x, y, sample_weight)
        x, y, sample_weight = keras.utils.unpack_x_y_sample_weight(data)
        if isinstance(x, dict):
            keep = set(self.backbone.input) | {"image_ids"}
            x = {key: _int_mask(value) for key, value in x.items() if key in keep}
        return keras.utils.pack_x_y_sample_weight(x, y, sample_weight)

    def call(self, inputs, training=None):
        names = self.backbone.input.keys()  # the batch also holds e.g. image_ids
        return self.backbone({name: inputs.get(name) for name in names}, training=training)

    def compile(self, optimizer="auto", **kwargs):
        """Compiles with Adam(2e-4) unless another optimizer is given."""
        if optimizer == "auto":
            optimizer = keras.optimizers.Adam(DEFAULT_LEARNING_RATE)
        super().compile(optimizer=optimizer, **kwargs)

    def compute_loss(self, x=None, y=None, y_pred=None, sample_weight=None, training=True):
        """Triplet loss on ROAM scores plus lambda_global times the global one."""
        image_ids = gather_replicas(x["image_ids"])
        loss_kwargs = dict(margin=self.margin, hardest_negative=self.hardest_negative)
        y_pred = {key: ops.cast(value, "float32") for key, value in y_pred.items()}  # mixed precision
        global_loss = triplet_loss(y_pred["global_scores"], image_ids, **loss_kwargs)
        if "roam_scores" not in y_pred:
            triplet, total = global_loss, global_loss
        else:
            triplet = triplet_loss(y_pred["roam_scores"], image_ids, **loss_kwargs)
            total = triplet + self.lambda_global * global_loss
        self.triplet_tracker.update_state(triplet)
        self.global_tracker.update_state(global_loss)
        if self.losses:
            total = total + ops.sum(self.losses)
        return scale_for_replicas(total)

    def compute_metrics(self, x, y, y_pred, sample_weight=None):
        """The step's logs (1-element vectors in a multi-worker TF replica: `reducible_logs`)."""
        return reducible_logs(super().compute_metrics(x, y, y_pred, sample_weight))

    def _maybe_symbolic_build(self, iterator=None, data_batch=None):
        # Called by Keras' TensorFlow trainer only: under MultiWorkerMirroredStrategy it
        # cannot average the first batch over the workers (see models/replicas.py).
        if iterator is not None and multi_worker_strategy(self.distribute_strategy):
            iterator, data_batch = None, first_replica_batch(iterator)
        super()._maybe_symbolic_build(iterator=iterator, data_batch=data_batch)

    # === Inference on model inputs ===

    def encode_image(self, images, regions=None, region_mask=None):
        """Image features of normalised images: `global`, `fused`, `regions`, `region_mask`."""
        return self._encode_image_fn(
            ops.convert_to_tensor(images, "float32"),
            None if regions is None else ops.convert_to_tensor(regions, "float32"),
            None if region_mask is None else ops.convert_to_tensor(region_mask, "bool"),
        )

    def encode_text(self, token_ids):
        """Caption features of token ids: `global`, `genes`, `gene_mask`."""
        return self._encode_text_fn(ops.convert_to_tensor(token_ids, "int32"))

    def score(self, image_features, text_features, chunk_size=128, progress=False):
        """`(I, C)` float32 numpy ROAM scores in image x caption blocks (`chunked_roam_scores`).

        Without ROAM this is `global_score`. `progress=True` shows a
        progress bar over image blocks.
        """
        if self.backbone.iga is None:
            return self.global_score(image_features, text_features)
        return chunked_roam_scores(self._roam_functions, image_features, text_features, chunk_size, progress)

    def serving_functions(self):
        """`(layers, image_features, text_features)` the SavedModel export traces.

        The functions map model inputs (normalised images, token ids) to the
        feature dicts of `encode_image` / `encode_text`; `layers` hold their
        variables.
        """
        backbone = self.backbone
        image_keys = IMAGE_FEATURES if backbone.use_roam else IMAGE_FEATURES[:2]

        def image_features(images):
            outputs = backbone.image_encoder(images, training=False)
            return {key: outputs[key] for key in image_keys}

        def text_features(token_ids):
            outputs = backbone.text_encoder(token_ids, training=False)
            return {key: outputs[key] for key in TEXT_FEATURES}

        layers = (backbone.image_encoder, backbone.text_encoder, backbone.batch_similarity)
        return layers, image_features, text_features

    def get_config(self):
        config = super().get_config()
        config.update(margin=self.margin, hardest_negative=self.hardest_negative,
                      lambda_global=self.lambda_global)
        return config


def _int_mask(value):
    """A boolean tensor (TensorFlow's in tf.data, the backend's eagerly) as int32; others unchanged."""
    if keras.backend.standardize_dtype(value.dtype) != "bool":
        return value
    return tf.cast(value, tf.int32) if isinstance(value, tf.Tensor) else ops.cast(value, "int32")

