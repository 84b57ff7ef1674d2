"""Data-parallel training: 2 virtual CPU devices against 1, and the torch refusal."""

import json
import os
import subprocess
import sys

import keras
import numpy as np
import pytest
import yaml
from keras import ops
from training_fixtures import make_prepared
from training_fixtures import tiny_config

from dove_keras import cli
from dove_keras.training.factory import load_trained

BACKEND = keras.backend.backend()
TESTS_DIR = os.path.dirname(os.path.abspath(__file__))
WORKER_MODEL = {"train_image_backbone": False, "dropout": 0.0, "word_dropout": 0.0}
distributed_backends = pytest.mark.skipif(
    BACKEND not in ("jax", "tensorflow"), reason="data-parallel training runs on jax and tensorflow"
)


@pytest.fixture(scope="module")
def distributed_run(tmp_path_factory):
    """The worker's output folder: 1-device and 2-device runs of the tiny experiment."""
    root = tmp_path_factory.mktemp("distribution")
    data_root, out = str(root / "data"), str(root / "runs")
    make_prepared(data_root)
    os.makedirs(out)
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([TESTS_DIR, os.environ.get("PYTHONPATH", "")])}
    done = subprocess.run(
        [sys.executable, os.path.join(TESTS_DIR, "distribution_worker.py"), data_root, out],
        env=env, capture_output=True, text=True, timeout=900,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    with open(os.path.join(out, "losses.json")) as f:
        return data_root, out, json.load(f)


@distributed_backends
def test_two_devices_follow_the_one_device_loss_trajectory(distributed_run):
    _, _, losses = distributed_run
    one, two = np.array(losses["none"]), np.array(losses["data_parallel"])
    assert one.shape == (10,)  # 2 epochs x 5 batches of 4 pairs
    assert np.ptp(one) > 0.5, "training should move the loss"
    np.testing.assert_allclose(two, one, rtol=1e-4)


@distributed_backends
def test_checkpoint_saved_under_distribution_loads_on_one_device(distributed_run):
    data_root, out, _ = distributed_run
    run_dir = os.path.join(out, "data_parallel")
    config = tiny_config(data_root, run_dir, model=WORKER_MODEL)
    probe = np.load(os.path.join(out, "probe.npz"))
    for weights in ("best.weights.h5", "model.keras"):
        model = load_trained(config, os.path.join(run_dir, weights))
        images = model.encode_image(probe["images"])
        texts = model.encode_text(probe["token_ids"])
        np.testing.assert_allclose(ops.convert_to_numpy(images["global"]), probe["image_global"], atol=1e-5)
        np.testing.assert_allclose(ops.convert_to_numpy(texts["global"]), probe["text_global"], atol=1e-5)
        np.testing.assert_allclose(model.score(images, texts), probe["score"], atol=1e-5)


@distributed_backends
def test_a_batch_that_does_not_split_is_refused_before_anything_is_written(distributed_run):
    _, out, losses = distributed_run
    assert "batch_size 3 does not split evenly over 2 devices" in losses["uneven_error"]
    assert not os.path.exists(os.path.join(out, "uneven"))


@pytest.mark.skipif(BACKEND != "torch", reason="the refusal is torch's")
def test_torch_refuses_data_parallel_with_a_clear_error(tmp_path, capsys):
    make_prepared(tmp_path / "data")
    config = tiny_config(str(tmp_path / "data"), str(tmp_path / "run"))
    config_file = tmp_path / "experiment.yaml"
    config_file.write_text(yaml.safe_dump(config.to_dict()))
    code = cli.main(["train", "--config", str(config_file), "--distribution", "data_parallel"])
    error = capsys.readouterr().err
    assert code == 2
    assert "jax" in error and "tensorflow" in error and "'torch'" in error
    assert not (tmp_path / "run").exists()
