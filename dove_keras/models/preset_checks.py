"""`from_preset` with one clear line for a preset that is not there (a missing folder, offline)."""

import json
import os

OFFLINE_VARIABLE = "HF_HUB_OFFLINE"


def check_preset(preset):
    """Raises `ValueError` for a preset keras-hub would report with a list of handles.

    Args:
        preset: what `from_preset` was given.

    Raises:
        ValueError: a local folder that does not exist, or an `hf://` handle
            that is not in the local Hugging Face cache while `HF_HUB_OFFLINE`
            is set (nothing can be downloaded).
    """
    from keras_hub.src.utils.preset_utils import BUILTIN_PRESETS

    if not isinstance(preset, (str, os.PathLike)):
        return
    preset = os.fspath(preset)
    if "://" not in preset and preset not in BUILTIN_PRESETS and not os.path.exists(preset):
        raise ValueError(f"preset folder not found: {preset}")
    if preset.startswith("hf://") and os.environ.get(OFFLINE_VARIABLE, "0") not in ("", "0"):
        import huggingface_hub

        cached = huggingface_hub.try_to_load_from_cache(preset.removeprefix("hf://"), "config.json")
        if not isinstance(cached, str):
            raise ValueError(
                f"{preset}: offline ({OFFLINE_VARIABLE} is set) and not in the local Hugging Face "
                "cache; nothing is downloaded. Copy the preset folder here and pass its path"
            )


def saved_policy_map(preset):
    """The `DTypePolicyMap` a local preset's backbone was saved with (a quantized model), else None."""
    import keras

    path = os.path.join(os.fspath(preset), "config.json")
    if not os.path.isfile(path):
        return None
    with open(path, encoding="utf-8") as f:
        dtype = json.load(f).get("config", {}).get("dtype")
    if isinstance(dtype, dict) and "DTypePolicyMap" in dtype.get("class_name", ""):
        return keras.dtype_policies.deserialize(dtype)
    return None


class CheckedPreset:
    """Mixin of the DOVE classes: `from_preset` checks the preset first (see `check_preset`).

    A backbone or task saved quantized gets its saved `DTypePolicyMap` back:
    keras-hub 0.32 replaces the saved policy by the `dtype` argument, None
    when not given, and the int8 weights then fit no layer.
    """

    @classmethod
    def from_preset(cls, preset, **kwargs):
        import keras_hub

        check_preset(preset)
        if issubclass(cls, (keras_hub.models.Backbone, keras_hub.models.Task)) and kwargs.get("dtype") is None:
            policy_map = saved_policy_map(preset) if isinstance(preset, (str, os.PathLike)) else None
            if policy_map is not None:
                kwargs["dtype"] = policy_map
        return super().from_preset(preset, **kwargs)
