"""The score matrices of a training batch (every image against every caption).

The layer keeps its first name (`BatchSimilarity`, attribute `batch_similarity`):
saved `.keras` files and presets name it, and the project's word is now "scores".
"""

import keras

from dove_keras.layers import InterModalGuidanceAttention
from dove_keras.models.replicas import gather_replicas
from dove_keras.models.scoring import cosine_matrix
from dove_keras.models.scoring import roam_scores


@keras.saving.register_keras_serializable(package="dove_keras")
class BatchSimilarity(keras.layers.Layer):
    """Global cosine and (with ROAM) pairwise ROAM scores of a batch's features.

    Under a `tf.distribute` strategy the replicas' features are gathered
    first (`dove_keras.models.replicas`), so the matrices cover the global
    batch and the loss sees all its negatives.

    Args:
        embedding_dim: d.
        iga_key_dim: d_k of IGA.
        use_roam: build IGA and return the ROAM matrix.
        residual_gate, gate_init: IGA's gated residual on T_G (DOVE-CLIP).

    Call args:
        image_features: the image tower's dict (`global`, and with ROAM
            `fused`, `regions`, `region_mask`).
        text_features: the text tower's dict (`global`, `genes`, `gene_mask`).

    Returns:
        `{"global_scores": (B, B)}` and with ROAM `"similarity"` (B, B).
    """

    def __init__(self, embedding_dim, iga_key_dim=64, use_roam=True, residual_gate=False, gate_init=0.0, **kwargs):
        super().__init__(**kwargs)
        self.embedding_dim = embedding_dim
        self.iga_key_dim = iga_key_dim
        self.use_roam = use_roam
        self.residual_gate = residual_gate
        self.gate_init = gate_init
        self.iga = None
        if use_roam:
            self.iga = InterModalGuidanceAttention(
                embedding_dim, iga_key_dim, residual_gate, gate_init, dtype=self.dtype_policy, name="iga"
            )

    def build(self, image_features_shape=None, text_features_shape=None):
        if self.iga is not None:
            d = self.embedding_dim
            self.iga.build((None, None, d), None, (None, None, d), None)

    def call(self, image_features, text_features):
        images, texts = gather_replicas(image_features), gather_replicas(text_features)
        outputs = {"global_scores": cosine_matrix(images["global"], texts["global"])}
        if self.iga is not None:
            outputs["roam_scores"] = roam_scores(self.iga, images, texts)
        return outputs

    def compute_output_spec(self, image_features, text_features):
        shape = (image_features["global"].shape[0], text_features["global"].shape[0])
        names = ("global_scores", "roam_scores") if self.iga is not None else ("global_scores",)
        return {name: keras.KerasTensor(shape, self.compute_dtype) for name in names}

    def get_config(self):
        config = super().get_config()
        config.update(embedding_dim=self.embedding_dim, iga_key_dim=self.iga_key_dim, use_roam=self.use_roam)
        if self.residual_gate:  # a DOVE layer's config stays as it was
            config.update(residual_gate=True, gate_init=self.gate_init)
        return config
