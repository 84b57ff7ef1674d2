"""ResNet image backbones from keras-hub, built from config so they work offline."""

import os

import keras_hub

BACKBONE_CONFIGS = {
    "resnet50": dict(
        input_conv_filters=[64],
        input_conv_kernel_sizes=[7],
        stackwise_num_filters=[64, 128, 256, 512],
        stackwise_num_blocks=[3, 4, 6, 3],
        stackwise_num_strides=[1, 2, 2, 2],
        block_type="bottleneck_block",
    ),
    "resnet18": dict(
        input_conv_filters=[64],
        input_conv_kernel_sizes=[7],
        stackwise_num_filters=[64, 128, 256, 512],
        stackwise_num_blocks=[2, 2, 2, 2],
        stackwise_num_strides=[1, 2, 2, 2],
        block_type="basic_block",
    ),
    # A CPU-sized ResNet-10: one basic block per stage, narrow late stages.
    "tiny": dict(
        input_conv_filters=[64],
        input_conv_kernel_sizes=[7],
        stackwise_num_filters=[64, 64, 96, 128],
        stackwise_num_blocks=[1, 1, 1, 1],
        stackwise_num_strides=[1, 2, 2, 2],
        block_type="basic_block",
    ),
}


def build_backbone(backbone="resnet50", weights=None):
    """Returns a keras-hub `ResNetBackbone`.

    Args:
        backbone: a name of `BACKBONE_CONFIGS` (random init, no download), a
            local keras-hub preset directory, a keras-hub preset name (needs
            the hub, so it fails offline), or a `ResNetBackbone` instance.
        weights: optional `.weights.h5` file to load into the backbone.

    Raises:
        ValueError: for an unknown name or a missing weights file.
    """
    if isinstance(backbone, keras_hub.models.ResNetBackbone):
        model = backbone
    elif backbone in BACKBONE_CONFIGS:
        model = keras_hub.models.ResNetBackbone(**BACKBONE_CONFIGS[backbone])
    elif isinstance(backbone, str) and (os.path.isdir(backbone) or "/" not in backbone):
        model = _from_preset(backbone)
    else:
        raise ValueError(
            f"Unknown backbone {backbone!r}: use one of {sorted(BACKBONE_CONFIGS)}, "
            "a local keras-hub preset directory or a ResNetBackbone."
        )
    if weights is not None:
        if not os.path.isfile(weights):
            raise ValueError(f"Backbone weights file not found: {weights}")
        model.load_weights(weights)
    return model


def _from_preset(preset):
    try:
        return keras_hub.models.ResNetBackbone.from_preset(preset)
    except Exception as error:  # keras-hub raises many kinds when offline
        raise ValueError(
            f"Could not load the keras-hub preset {preset!r} ({error}). Hub "
            "presets need network access; pass a local preset directory "
            f"or one of {sorted(BACKBONE_CONFIGS)} instead."
        ) from error
