"""Presets: save_to_preset / from_preset on every backend, across backends, image backbone presets, hub offline."""

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import keras
import keras_hub
import numpy as np
import pytest
from model_fixtures import small_model
from search_fixtures import WORDS
from search_fixtures import picture
from training_fixtures import make_prepared
from training_fixtures import tiny_config

from dove_keras import cli
from dove_keras.errors import UsageError
from dove_keras.models import DOVEBackbone
from dove_keras.models import DOVEImageConverter
from dove_keras.models import DOVEPreprocessor
from dove_keras.models import DOVERetriever
from dove_keras.models import DOVETokenizer
from dove_keras.models import ImageBackboneError
from dove_keras.models import build_image_backbone
from dove_keras.models.image_backbones import IMAGE_BACKBONES
from dove_keras.training import save_config

TESTS_DIR = Path(__file__).parent
CAPTIONS = ["w2 w3 w4 near w5", "w9 w9 w10", "w30 unknownword w31 w32"]
PRESET_FILES = {
    "config.json", "model.weights.h5", "metadata.json", "task.json", "preprocessor.json",
    "tokenizer.json", "image_converter.json",
}


def retriever_with_preprocessor(seed=2):
    keras.utils.set_random_seed(seed)
    preprocessor = DOVEPreprocessor(DOVETokenizer(WORDS), DOVEImageConverter(64), sequence_length=10)
    return small_model(preprocessor=preprocessor, lambda_global=0.5)


def raw_scores(retriever):
    """ROAM and global scores of fixed raw images (uint8, two sizes) against raw captions."""
    images = retriever.embed_images([picture(0, 64, 64), picture(1, 80, 50), picture(2, 70, 70)])
    texts = retriever.embed_texts(CAPTIONS)
    return retriever.score(images, texts), retriever.global_score(images, texts)


def test_preset_round_trip_gives_identical_scores(tmp_path):
    retriever = retriever_with_preprocessor()
    retriever.save_to_preset(str(tmp_path / "preset"))
    assert PRESET_FILES <= set(os.listdir(tmp_path / "preset"))
    vocabulary = (tmp_path / "preset" / "assets" / "tokenizer" / "vocabulary.txt").read_text().split()
    assert vocabulary == WORDS
    loaded = DOVERetriever.from_preset(str(tmp_path / "preset"))
    assert loaded.lambda_global == 0.5 and loaded.image_size == 64
    assert loaded.preprocessor.sequence_length == 10
    for before, after in zip(raw_scores(retriever), raw_scores(loaded)):
        assert np.abs(before - after).max() <= 1e-5
    backbone = DOVEBackbone.from_preset(str(tmp_path / "preset"))
    weights = zip(backbone.get_weights(), retriever.backbone.get_weights())
    assert all(np.array_equal(a, b) for a, b in weights)
    # Files are read in data/ (load_image): a path is refused with the way to do it.
    for paths in (["scene.png"], "scene.png", [tmp_path / "scene.png"]):
        with pytest.raises(UsageError, match=r"not file paths: read the files with dove_keras.data.images.load_image"):
            loaded.embed_images(paths)


WRITE_ON_TENSORFLOW = textwrap.dedent(
    """
    import sys
    sys.path.insert(0, {tests!r})
    import numpy as np
    from test_models_presets import raw_scores, retriever_with_preprocessor
    retriever = retriever_with_preprocessor(seed=7)
    retriever.save_to_preset({preset!r})
    roam, cosine = raw_scores(retriever)
    np.savez({scores!r}, roam=roam, cosine=cosine)
    """
)


@pytest.mark.skipif(keras.backend.backend() == "tensorflow", reason="written and loaded on tensorflow: "
                    "test_preset_round_trip_gives_identical_scores; the jax and torch passes load it")
def test_a_preset_written_on_tensorflow_loads_on_this_backend(tmp_path):
    preset, scores = str(tmp_path / "preset"), str(tmp_path / "scores.npz")
    env = {**os.environ, "KERAS_BACKEND": "tensorflow", "TF_CPP_MIN_LOG_LEVEL": "3"}
    script = WRITE_ON_TENSORFLOW.format(tests=str(TESTS_DIR), preset=preset, scores=scores)
    done = subprocess.run([sys.executable, "-c", script], env=env, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr[-3000:]
    expected = np.load(scores)
    roam, cosine = raw_scores(DOVERetriever.from_preset(preset))
    assert np.abs(roam - expected["roam"]).max() <= 1e-4
    assert np.abs(cosine - expected["cosine"]).max() <= 1e-4


def test_a_local_keras_hub_resnet_preset_is_an_image_backbone(tmp_path):
    keras.utils.set_random_seed(0)
    resnet = keras_hub.models.ResNetBackbone(**IMAGE_BACKBONES["tiny"])
    resnet.save_to_preset(str(tmp_path / "resnet"))
    # The preset's own normalisation (what its weights were trained with) is used.
    converter = keras_hub.layers.ResNetImageConverter(image_size=(64, 64), scale=[0.01] * 3, offset=[-1.0] * 3)
    converter.save_to_preset(str(tmp_path / "resnet"))
    assert all(level in resnet.pyramid_outputs for level in ("P3", "P4", "P5"))
    make_prepared(str(tmp_path / "data"))
    config = tiny_config(str(tmp_path / "data"), tmp_path / "run", model={"image_backbone": str(tmp_path / "resnet")})
    from dove_keras.training.factory import build_retriever

    retriever = build_retriever(config)
    pyramid = retriever.backbone.image_encoder.pyramid
    assert all(np.array_equal(a, b) for a, b in zip(pyramid.get_weights(), resnet.get_weights()))
    assert retriever.preprocessor.image_converter.scale == [0.01] * 3
    assert retriever.preprocessor.image_converter.offset == [-1.0] * 3


HUB_PROBE = textwrap.dedent(
    """
    from dove_keras.models import build_image_backbone
    try:
        build_image_backbone("resnet_50_imagenet")
    except ValueError as error:
        print(error)
    """
)


@pytest.mark.backend_independent
def test_a_hub_handle_without_network_fails_fast_with_a_way_out(tmp_path):
    # No network whatever the machine has: Kaggle's API at a closed loopback port, an empty
    # cache; a hang (instead of the fast failure) ends in the timeout.
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "TF_CPP_MIN_LOG_LEVEL": "3",
           "KAGGLE_API_ENVIRONMENT": "TEST", "KAGGLEHUB_CACHE": str(tmp_path / "cache")}
    done = subprocess.run([sys.executable, "-c", HUB_PROBE], env=env, capture_output=True, text=True, timeout=120)
    message = done.stdout
    assert "Could not load the keras-hub preset 'resnet_50_imagenet'" in message
    assert "kagglehub.model_download('keras/resnetv1/keras/resnet_50_imagenet/" in message
    assert "model.image_backbone: /path/to/resnet_50_imagenet" in message


def test_dove_train_with_an_unreachable_hub_preset_writes_nothing(tmp_path, capsys, monkeypatch):
    make_prepared(str(tmp_path / "data"))
    config = tiny_config(str(tmp_path / "data"), tmp_path / "run", model={"image_backbone": "resnet_50_imagenet"})
    path = tmp_path / "config.yaml"
    save_config(config, path)

    def offline(preset):  # what keras-hub raises without network, without waiting for it
        raise ConnectionError("Failed to resolve 'api.kaggle.com'")

    monkeypatch.setattr(keras_hub.models.Backbone, "from_preset", offline)
    assert cli.main(["train", "--config", str(path)]) == 2
    error = capsys.readouterr().err
    assert "resnet_50_imagenet" in error and "Failed to resolve" in error and "/path/to/" in error
    assert not (tmp_path / "run").exists()


@pytest.mark.skipif(keras.backend.backend() != "tensorflow", reason="the refusal reads the preset's class name, "
                    "not the backend: it runs on the tensorflow pass")
def test_image_backbone_presets_of_other_architectures_are_refused(tmp_path):
    keras_hub.models.ViTBackbone(
        image_shape=(32, 32, 3), patch_size=16, num_layers=1, num_heads=1, hidden_dim=8, mlp_dim=8,
    ).save_to_preset(str(tmp_path / "vit"))
    with pytest.raises(ImageBackboneError, match="needs a ResNetBackbone"):
        build_image_backbone(str(tmp_path / "vit"))


def test_save_preset_replaces_a_run_preset_whole(tmp_path):
    make_prepared(str(tmp_path / "data"))
    config = tiny_config(str(tmp_path / "data"), tmp_path / "run",
                         training={"epochs": 1, "batch_size": 20, "backup_every_n_steps": 100})
    from dove_keras.models.presets import save_preset
    from dove_keras.training.factory import build_retriever

    retriever = build_retriever(config)
    preset = save_preset(retriever, str(tmp_path / "run" / "preset"))
    again = save_preset(retriever, preset)  # replacing a preset leaves no staging folder behind
    assert again == preset and sorted(os.listdir(tmp_path / "run")) == ["preset"]
    task = json.loads((Path(preset) / "task.json").read_text())
    assert task["class_name"] == "DOVERetriever"
    assert task["config"]["preprocessor"]["config"]["sequence_length"] == config.data.sequence_length
