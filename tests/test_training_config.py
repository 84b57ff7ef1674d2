"""Experiment files: every key checked before training, round trips."""

import dataclasses
from pathlib import Path

import pytest
import yaml

from dove_keras.training import ConfigError
from dove_keras.training import ExperimentConfig
from dove_keras.training import load_config
from dove_keras.training import save_config

pytestmark = pytest.mark.backend_independent

RECIPES = Path(__file__).resolve().parents[1] / "recipes" / "configs"


@pytest.fixture
def inputs(tmp_path):
    prepared = tmp_path / "prepared"
    prepared.mkdir()
    vocabulary = tmp_path / "vocab.txt"
    vocabulary.write_text("plane\nroad\n")
    return {"prepared_dir": str(prepared), "vocabulary": str(vocabulary)}


def _write(tmp_path, content, name="experiment.yaml"):
    path = tmp_path / name
    path.write_text(yaml.safe_dump(content) if isinstance(content, dict) else content)
    return path


def test_defaults_are_the_protocol(tmp_path, inputs):
    config = load_config(_write(tmp_path, {"data": inputs}))
    optimizer = config.optimizer
    assert (optimizer.learning_rate, optimizer.decay_rate, optimizer.decay_epochs) == (2e-4, 0.7, 20)
    assert (config.training.epochs, config.training.batch_size) == (50, 100)
    assert (config.loss.margin, config.model.embedding_dim, config.model.word_dim) == (0.2, 512, 300)
    assert config.distribution == "none" and config.evaluation.mode == "roam"


def test_unknown_key_names_file_key_and_valid_keys(tmp_path, inputs):
    path = _write(tmp_path, {"data": inputs, "model": {"image_bakbone": "tiny"}})
    with pytest.raises(ConfigError) as error:
        load_config(path)
    message = str(error.value)
    assert str(path) in message and "image_bakbone" in message and "did you mean image_backbone" in message
    assert "valid keys: image_backbone, embedding_dim" in message
    with pytest.raises(ConfigError, match="unknown key.*lr in top level"):
        load_config(_write(tmp_path, {"data": inputs, "lr": 0.1}))


def test_missing_paths_fail_before_training(tmp_path, inputs):
    path = _write(tmp_path, {"data": {**inputs, "vocabulary": str(tmp_path / "nope.txt")}})
    with pytest.raises(ConfigError, match=r"experiment.yaml: data.vocabulary: path not found: .*nope.txt"):
        load_config(path)
    with pytest.raises(ConfigError, match="data.prepared_dir is required"):
        load_config(_write(tmp_path, {"data": {"vocabulary": inputs["vocabulary"]}}))
    with pytest.raises(ConfigError, match="initialization.image_backbone_weights: path not found"):
        load_config(_write(tmp_path, {"data": inputs, "initialization": {"image_backbone_weights": "w.h5"}}))
    # output_dir need not exist yet; nothing is created while loading.
    config = load_config(_write(tmp_path, {"data": inputs, "output_dir": str(tmp_path / "run")}))
    assert not Path(config.output_dir).exists()
    with pytest.raises(ConfigError, match="config file not found"):
        load_config(tmp_path / "absent.yaml")


@pytest.mark.parametrize(
    "section, values, message",
    [
        ("training", {"epochs": "many"}, "training.epochs must be int, got 'many'"),
        ("training", {"deterministic": "yes please"}, "training.deterministic must be bool"),
        ("training", {"batch_size": 0}, "training.batch_size must be positive"),
        ("evaluation", {"mode": "fast"}, r"evaluation.mode must be one of \['roam', 'global'\]"),
        ("data", {"image_size": 100}, "multiple of 32"),
        ("model", {"dropout": 1.0}, r"model.dropout must be in \[0, 1\), got 1.0"),
        ("model", {"word_dropout": -0.1}, r"model.word_dropout must be in \[0, 1\)"),
        ("model", "tiny", "model must be a mapping"),
    ],
)
def test_bad_values(tmp_path, inputs, section, values, message):
    content = {"data": dict(inputs)}
    if isinstance(values, dict):
        content.setdefault(section, {}).update(values)
    else:
        content[section] = values
    with pytest.raises(ConfigError, match=message):
        load_config(_write(tmp_path, content))


def test_distribution_field_and_yaml_quirks(tmp_path, inputs):
    text = yaml.safe_dump({"data": inputs}) + "distribution: none\noptimizer:\n  learning_rate: 2e-4\n"
    config = load_config(_write(tmp_path, text))
    assert config.optimizer.learning_rate == 2e-4  # YAML reads 2e-4 as a string
    for name in ("data_parallel", "multi_worker"):
        assert load_config(_write(tmp_path, {"data": inputs, "distribution": name})).distribution == name
    with pytest.raises(ConfigError, match="distribution must be one of"):
        load_config(_write(tmp_path, {"data": inputs, "distribution": "mirrored"}))
    with pytest.raises(ConfigError, match="not valid YAML"):
        load_config(_write(tmp_path, "data: [unclosed"))


def test_round_trip_and_overrides(tmp_path, inputs):
    content = {
        "name": "x", "seed": 7, "data": {**inputs, "image_size": 64},
        "model": {"image_backbone": "tiny", "num_regions": 8, "use_dtga": False},
        "optimizer": {"clipnorm": 2},
    }
    config = load_config(_write(tmp_path, content))
    saved = tmp_path / "saved.yaml"
    save_config(config, saved)
    assert load_config(saved) == config
    assert isinstance(config.optimizer.clipnorm, float)
    overridden = load_config(saved, overrides={"training.epochs": "3", "model.use_roam": "false"})
    assert overridden.training.epochs == 3 and overridden.model.use_roam is False
    assert dataclasses.replace(overridden, training=config.training, model=config.model) == config
    with pytest.raises(ConfigError, match="unknown key.*epoch in training"):
        load_config(saved, overrides={"training.epoch": "3"})


@pytest.mark.parametrize("name", ["rsitmd", "rsicd", "ucm", "sydney", "synthetic"])
def test_recipe_configs_parse(name):
    config = load_config(RECIPES / f"{name}.yaml", check_paths=False)
    assert isinstance(config, ExperimentConfig) and config.name == name
    if name != "synthetic":
        assert config.model.image_backbone == "resnet_50_imagenet" and config.training.epochs == 50
        assert (config.data.image_size, config.training.batch_size) == (256, 100)


def test_tensorboard_without_its_package_is_one_config_error(tmp_path, inputs, monkeypatch):
    path = _write(tmp_path, {"data": inputs, "training": {"tensorboard": True}})
    assert load_config(path).training.tensorboard
    import importlib.util

    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec", lambda name, *a: None if name == "tensorboard" else real(name, *a))
    with pytest.raises(ConfigError, match="training.tensorboard needs the tensorboard package: pip install"):
        load_config(path)
