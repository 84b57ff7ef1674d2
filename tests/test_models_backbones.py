"""Image backbones from config, local keras-hub presets and weights files (offline)."""

import keras
import numpy as np
import pytest
from model_fixtures import small_model

from dove_keras.models import build_image_backbone


def same_weights(a, b):
    return all(np.array_equal(x, y) for x, y in zip(a.get_weights(), b.get_weights()))


def test_named_configs_have_the_expected_pyramid():
    resnet50 = build_image_backbone("resnet50")
    channels = [resnet50.pyramid_outputs[p].shape[-1] for p in ("P3", "P4", "P5")]
    assert channels == [512, 1024, 2048]
    assert 23_000_000 < resnet50.count_params() < 24_000_000
    tiny = build_image_backbone("tiny")
    assert tiny.count_params() < 1_000_000


def test_local_preset_directory_and_weights_file(tmp_path):
    keras.utils.set_random_seed(0)
    source = build_image_backbone("tiny")
    source.save_to_preset(str(tmp_path / "preset"))
    assert same_weights(build_image_backbone(str(tmp_path / "preset")), source)
    weights = str(tmp_path / "tiny.weights.h5")
    source.save_weights(weights)
    loaded = build_image_backbone("tiny", weights=weights)
    assert same_weights(loaded, source)
    model = small_model(image_backbone=str(tmp_path / "preset"))
    assert same_weights(model.backbone.image_encoder.pyramid, source)


def test_bad_backbones_fail_clearly(tmp_path):
    with pytest.raises(ValueError, match="preset directory not found: ./no/such/dir"):
        build_image_backbone("./no/such/dir")
    with pytest.raises(ValueError, match="Unknown image backbone"):
        build_image_backbone(7)
    with pytest.raises(ValueError, match="weights file not found"):
        build_image_backbone("tiny", weights=str(tmp_path / "missing.weights.h5"))
