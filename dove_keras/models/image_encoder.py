"""The image tower: backbone pyramid -> F_M, V_M, regions F_R and V_MR."""

import keras
from keras import ops

from dove_keras.layers import MLP
from dove_keras.layers import FastMaxPooling2D
from dove_keras.layers import IntraModalFusionAttention
from dove_keras.layers import MultiscaleFusion
from dove_keras.layers import RegionFeatures
from dove_keras.models.batch_norm_folding import BatchNormFolding
from dove_keras.models.image_backbones import build_image_backbone
from dove_keras.preprocessing.images import STRIDE

PYRAMID_LEVELS = ("P3", "P4", "P5")


@keras.saving.register_keras_serializable(package="dove_keras")
class ImageEncoder(keras.layers.Layer):
    """Encodes images into a global embedding, regions and the ROAM embedding.

    Args:
        image_backbone: a keras-hub `ResNetBackbone`, its serialized config,
            or a spec accepted by `build_image_backbone`.
        embedding_dim: d.
        multiscale_grid: side of the multiscale token grid (N_m = side**2).
        region_source: `"grid"` (P5 cells) or `"precomputed"` (vectors given
            with each example).
        region_dim: D_r, the width of precomputed region vectors.
        num_regions: keep only the top-k scored regions (None keeps all).
        use_roam: build the region branch and IFA; without it the fused
            embedding is the global one.
        train_image_backbone: fine-tune the backbone (frozen by default).
        dropout: dropout of the global MLP head.

    Call args:
        images: `(batch, H, W, 3)` normalised images, H and W multiples of 32.
        regions: `(batch, N_r, D_r)` precomputed regions (precomputed only).
        region_mask: boolean `(batch, N_r)` (precomputed only).

    Returns:
        A dict: `global` V_M `(batch, d)`, `fused` V_MR `(batch, d)` and, with
        ROAM, `regions` F_R `(batch, N_r, d)` and `region_mask`.
    """

    def __init__(
        self,
        image_backbone="resnet50",
        embedding_dim=512,
        multiscale_grid=8,
        region_source="grid",
        region_dim=None,
        num_regions=None,
        use_roam=True,
        train_image_backbone=False,
        dropout=0.2,
        **kwargs,
    ):
        super().__init__(**kwargs)
        if isinstance(image_backbone, dict):
            image_backbone = keras.saving.deserialize_keras_object(image_backbone)
        backbone = _with_policy(build_image_backbone(image_backbone), self.dtype_policy)
        backbone.trainable = train_image_backbone
        # Only the pyramid model is tracked: it shares the backbone's layers.
        self._backbone_config = keras.saving.serialize_keras_object(backbone)
        self.embedding_dim = embedding_dim
        self.multiscale_grid = multiscale_grid
        self.region_source = region_source
        self.region_dim = region_dim
        self.num_regions = num_regions
        self.use_roam = use_roam
        self.train_image_backbone = train_image_backbone
        self.dropout = dropout
        self.pyramid = _pyramid_model(backbone)
        self._folded_pyramid = BatchNormFolding(self.pyramid)
        policy = self.dtype_policy
        self.fusion = MultiscaleFusion(embedding_dim, multiscale_grid, dtype=policy, name="fusion")
        self.global_head = MLP(2 * embedding_dim, embedding_dim, dropout, dtype=policy, name="global_head")
        if use_roam:
            self.region_features = RegionFeatures(embedding_dim, num_regions, dtype=policy, name="region_features")
            self.ifa = IntraModalFusionAttention(embedding_dim, dtype=policy, name="ifa")

    def build(self, images_shape=(None, None, None, 3), regions_shape=None, region_mask_shape=None):
        pyramid_shapes = [tuple(images_shape[:1]) + tuple(s[1:]) for s in _pyramid_shapes(self.pyramid, images_shape)]
        self.fusion.build(pyramid_shapes)
        d = self.embedding_dim
        self.global_head.build((None, d))
        if not self.use_roam:
            return
        if self.region_source == "grid":
            p5 = pyramid_shapes[-1]
            cells = None if p5[1] is None or p5[2] is None else p5[1] * p5[2]
            regions_shape = (images_shape[0], cells, p5[-1])
        elif regions_shape is None:
            regions_shape = (images_shape[0], None, self.region_dim)
        self.region_features.build(regions_shape)
        kept = regions_shape[1] if self.num_regions is None else self.num_regions
        self.ifa.build((None, self.multiscale_grid**2, d), (None, kept, d))

    def call(self, images, regions=None, region_mask=None, training=None):
        tokens, regions, region_mask = self.tokens_and_regions(images, regions, region_mask, training)
        global_embedding = self.global_head(ops.mean(tokens, axis=1), training=training)
        outputs = {"global": global_embedding, "fused": global_embedding}
        if not self.use_roam:
            return outputs
        outputs["fused"] = self.ifa(tokens, regions, region_mask)
        outputs["regions"] = regions
        outputs["region_mask"] = region_mask
        return outputs

    def tokens_and_regions(self, images, regions=None, region_mask=None, training=None):
        """`(F_M tokens, F_R regions, region mask)`; regions are None without ROAM.

        Grid regions are the P5 cells in row-major order (before any top-k).
        The backbone runs with its BatchNormalization folded into its
        convolutions unless it is being fine-tuned (batch statistics).
        """
        if training and self.train_image_backbone:
            p3, p4, p5 = self.pyramid(images, training=True)
        else:
            p3, p4, p5 = self._folded_pyramid(images)
        tokens = self.fusion([p3, p4, p5], training=training)
        if not self.use_roam:
            return tokens, None, None
        if self.region_source == "grid":
            shape = ops.shape(p5)
            regions = ops.reshape(p5, (shape[0], shape[1] * shape[2], shape[3]))
            region_mask = None
        elif regions is None:
            raise ValueError("region_source='precomputed' needs `regions` inputs.")
        regions, region_mask = self.region_features(regions, region_mask)
        return tokens, regions, region_mask

    def compute_output_spec(self, images, regions=None, region_mask=None, training=None):
        batch, d = images.shape[0], self.embedding_dim
        outputs = {"global": keras.KerasTensor((batch, d)), "fused": keras.KerasTensor((batch, d))}
        if self.use_roam:
            count = self.num_regions
            if count is None and regions is not None:
                count = regions.shape[1]
            if count is None and self.region_source == "grid" and None not in images.shape[1:3]:
                count = (images.shape[1] // STRIDE) * (images.shape[2] // STRIDE)
            outputs["regions"] = keras.KerasTensor((batch, count, d))
            outputs["region_mask"] = keras.KerasTensor((batch, count), dtype="bool")
        return outputs

    def get_config(self):
        config = super().get_config()
        config.update(
            image_backbone=self._backbone_config,
            embedding_dim=self.embedding_dim,
            multiscale_grid=self.multiscale_grid,
            region_source=self.region_source,
            region_dim=self.region_dim,
            num_regions=self.num_regions,
            use_roam=self.use_roam,
            train_image_backbone=self.train_image_backbone,
            dropout=self.dropout,
        )
        return config


def _with_policy(backbone, policy):
    """`backbone` computing under `policy` (a copy with the same weights if it differs).

    Under a quantization map (`DTypePolicyMap`, the policy of a quantized
    model) the backbone takes the map's default: keras quantizes Dense and
    Embedding layers, and the backbone has none.
    """
    policy = _base_policy(policy)
    if backbone.dtype_policy.name == policy.name:
        return backbone
    copy = type(backbone).from_config({**backbone.get_config(), "dtype": policy.name})
    copy.set_weights(backbone.get_weights())
    return copy


def _base_policy(policy):
    """The policy itself, or the default policy of a `DTypePolicyMap`."""
    if isinstance(policy, keras.dtype_policies.DTypePolicyMap):
        return policy.default_policy
    return policy


def _pyramid_model(backbone):
    """The backbone's P3, P4, P5 outputs as one model sharing its layers, under its dtype policy.

    Its max pooling is `FastMaxPooling2D` (the same outputs and gradient,
    faster on the CPU of JAX and torch).
    """
    pyramid = keras.Model(
        backbone.inputs, [backbone.pyramid_outputs[level] for level in PYRAMID_LEVELS], name="pyramid"
    )
    pyramid = keras.models.clone_model(pyramid, clone_function=_fast_max_pooling)
    pyramid.dtype_policy = backbone.dtype_policy
    return pyramid


def _fast_max_pooling(layer):
    """A `FastMaxPooling2D` for a valid channels-last `MaxPooling2D`; any other layer itself."""
    if type(layer) is not keras.layers.MaxPooling2D or layer.padding != "valid" or layer.data_format != "channels_last":
        return layer
    return FastMaxPooling2D.from_config(layer.get_config())


def _pyramid_shapes(pyramid, images_shape):
    specs = pyramid.compute_output_spec(keras.KerasTensor(tuple(images_shape)))
    return [spec.shape for spec in specs]
