"""Regional features F_R: projected region vectors, optionally the top-k."""

import keras
from keras import ops

from dove_keras.layers.masking import large_negative


@keras.saving.register_keras_serializable(package="dove_keras")
class RegionFeatures(keras.layers.Layer):
    """Projects region vectors to d and optionally keeps the k best-scored.

    Regions are either the cells of the last backbone feature map (grid) or
    precomputed vectors (e.g. detector RoI features) with a padding mask. With
    `num_regions=k`, a Dense(1) scores every region, the top k real regions are
    kept and gated by `sigmoid(score)` so that the scorer receives gradients.

    Args:
        embedding_dim: d, the output width.
        num_regions: k, or None to keep every region.

    Call args:
        regions: `(batch, N, D)` region vectors.
        region_mask: optional boolean `(batch, N)`, True for real regions.

    Returns:
        `(regions, mask)`: `(batch, N or k, d)` features and their boolean mask.
    """

    def __init__(self, embedding_dim, num_regions=None, **kwargs):
        super().__init__(**kwargs)
        self.embedding_dim = embedding_dim
        self.num_regions = num_regions
        self.projection = keras.layers.Dense(
            embedding_dim, dtype=self.dtype_policy, name="projection"
        )
        self.scorer = None
        if num_regions is not None:
            self.scorer = keras.layers.Dense(1, dtype=self.dtype_policy, name="scorer")

    def build(self, regions_shape, region_mask_shape=None):
        num_input = regions_shape[1]
        if self.num_regions is not None and num_input is not None:
            if self.num_regions > num_input:
                raise ValueError(
                    f"num_regions={self.num_regions} is larger than the "
                    f"{num_input} regions available."
                )
        self.projection.build(regions_shape)
        if self.scorer is not None:
            self.scorer.build(tuple(regions_shape[:-1]) + (self.embedding_dim,))

    def call(self, regions, region_mask=None):
        features = self.projection(regions)
        mask = region_mask
        if mask is None:
            mask = ops.ones(ops.shape(features)[:2], dtype="bool")
        mask = ops.cast(mask, "bool")
        if self.scorer is None:
            return features, mask
        scores = ops.squeeze(self.scorer(features), -1)
        fill = ops.cast(large_negative(scores.dtype), scores.dtype)
        ranked = ops.where(mask, scores, fill)
        _, indices = ops.top_k(ranked, k=self.num_regions)
        kept = ops.take_along_axis(features, ops.expand_dims(indices, -1), axis=1)
        gate = ops.sigmoid(ops.take_along_axis(scores, indices, axis=1))
        kept_mask = ops.take_along_axis(ops.cast(mask, "int32"), indices, axis=1) > 0
        return kept * ops.expand_dims(gate, -1), kept_mask

    def compute_output_spec(self, regions, region_mask=None):
        count = regions.shape[1] if self.num_regions is None else self.num_regions
        batch = regions.shape[0]
        return (
            keras.KerasTensor((batch, count, self.embedding_dim), dtype=self.compute_dtype),
            keras.KerasTensor((batch, count), dtype="bool"),
        )

    def get_config(self):
        config = super().get_config()
        config.update(embedding_dim=self.embedding_dim, num_regions=self.num_regions)
        return config
