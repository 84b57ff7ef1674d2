"""The ResNet image backbone: a config name, a local keras-hub preset or a hub handle.

Names of `IMAGE_BACKBONES` are built from config (random weights, offline).
Anything else is a keras-hub preset: a local preset directory (offline), or a
hub handle such as `resnet_50_imagenet` or `kaggle://keras/resnetv1/keras/
resnet_50_imagenet/3`, which keras-hub's own loader downloads (and caches) on
first use. Without network a handle fails fast with `ImageBackboneError`,
which says how to give a local preset directory instead.
"""

import json
import os
import socket

import keras_hub

from dove_keras.errors import UsageError
from dove_keras.preprocessing.images import imagenet_normalization

IMAGENET_PRESET = "resnet_50_imagenet"
IMAGE_CONVERTER_FILE = "image_converter.json"
HUB_TIMEOUT_S = 20

IMAGE_BACKBONES = {
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


class ImageBackboneError(UsageError):
    """An image backbone that cannot be built here (unknown, or a hub preset offline)."""


def is_named_backbone(spec):
    """Whether `spec` is one of the built-in config names."""
    return isinstance(spec, str) and spec in IMAGE_BACKBONES


def build_image_backbone(spec="resnet50", weights=None):
    """Returns a keras-hub `ResNetBackbone`.

    Args:
        spec: a name of `IMAGE_BACKBONES`, a local keras-hub preset
            directory, a keras-hub hub handle, or a `ResNetBackbone`.
        weights: optional `.weights.h5` file to load into it.

    Raises:
        ImageBackboneError: an unknown spec, a preset that is not a ResNet,
            a hub handle that cannot be reached, or a missing weights file.
    """
    if isinstance(spec, keras_hub.models.ResNetBackbone):
        model = spec
    elif is_named_backbone(spec):
        model = keras_hub.models.ResNetBackbone(**IMAGE_BACKBONES[spec])
    elif isinstance(spec, str) and spec:
        model = _from_preset(spec)
    else:
        raise ImageBackboneError(
            f"Unknown image backbone {spec!r}: use one of {sorted(IMAGE_BACKBONES)}, a local "
            "keras-hub preset directory or a keras-hub preset handle."
        )
    if weights is not None:
        if not os.path.isfile(weights):
            raise ImageBackboneError(f"Image backbone weights file not found: {weights}")
        model.load_weights(weights)
    return model


def image_normalization(spec):
    """`(scale, offset)` per channel that maps [0, 255] pixels to the backbone's input.

    A keras-hub preset directory with an `image_converter.json` gives its own
    (what its weights were trained with); everything else uses the ImageNet
    mean/std, the normalisation of keras-hub's `resnet_50_imagenet` converter
    (timm's ImageNet-1k statistics).
    """
    path = os.path.join(spec, IMAGE_CONVERTER_FILE) if isinstance(spec, str) else None
    if path and os.path.isfile(path):
        with open(path, encoding="utf-8") as f:
            config = json.load(f).get("config", {})
        if config.get("scale") is not None and config.get("offset") is not None:
            return _per_channel(config["scale"]), _per_channel(config["offset"])
    return imagenet_normalization()


def _per_channel(value):
    values = list(value) if isinstance(value, (list, tuple)) else [value] * 3
    return [float(v) for v in values]


def _from_preset(preset):
    if not os.path.isdir(preset) and ("/" in preset and "://" not in preset):
        raise ImageBackboneError(f"Image backbone preset directory not found: {preset}")
    previous = socket.getdefaulttimeout()
    socket.setdefaulttimeout(HUB_TIMEOUT_S)  # a hub that does not answer fails, not hangs
    try:
        model = keras_hub.models.Backbone.from_preset(preset)
    except Exception as error:  # keras-hub raises many kinds when the hub is unreachable
        raise ImageBackboneError(_preset_message(preset, error)) from error
    finally:
        socket.setdefaulttimeout(previous)
    if not isinstance(model, keras_hub.models.ResNetBackbone):
        raise ImageBackboneError(
            f"{preset} holds a {type(model).__name__}; DOVE's image tower needs a ResNetBackbone "
            "(its P3/P4/P5 pyramid outputs)."
        )
    return model


def _preset_message(preset, error):
    if os.path.isdir(preset):
        return f"Could not load the keras-hub preset directory {preset} ({type(error).__name__}: {error})."
    name = os.path.basename(preset.rstrip("/"))
    return (
        f"Could not load the keras-hub preset {preset!r} ({type(error).__name__}: {error}). "
        "Hub presets are downloaded by keras-hub on first use and need network access. "
        f"Where there is network, fetch the preset folder once:\n    {_download_command(preset)}\n"
        f"copy that folder here and set `model.image_backbone: /path/to/{name}` in the config "
        f"(or use one of {sorted(IMAGE_BACKBONES)}: random weights, offline)."
    )


def _download_command(preset):
    """A shell command that prints the local folder of a downloaded hub preset."""
    from keras_hub.src.utils.preset_utils import BUILTIN_PRESETS

    handle = BUILTIN_PRESETS.get(preset, {}).get("kaggle_handle", preset)
    if handle.startswith("kaggle://"):
        handle = handle.removeprefix("kaggle://")
        return f"python -c \"import kagglehub; print(kagglehub.model_download('{handle}'))\""
    if handle.startswith("hf://"):
        repo = handle.removeprefix("hf://")
        return f"python -c \"import huggingface_hub; print(huggingface_hub.snapshot_download('{repo}'))\""
    return f"download the preset folder of {handle!r}"
