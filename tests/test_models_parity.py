"""Same weights and inputs give the same outputs on TensorFlow, JAX and torch (each pair once per CI)."""

import os
import subprocess
import sys
from pathlib import Path

import keras
import numpy as np
import pytest
from clip_fixtures import dove_clip_batch
from clip_fixtures import small_dove_clip
from model_fixtures import batch
from model_fixtures import small_model
from parity_worker import outputs

# run_all_backends.sh runs this module once per backend; each pair of backends is compared once.
# The JAX pass loads its weights on both others: a JAX worker process would spend the longest
# starting (eager JAX compiles every op of the build), so no pass needs one.
WORKERS = {"jax": ("tensorflow", "torch"), "torch": ("tensorflow",)}


@pytest.mark.parametrize("backend", WORKERS.get(keras.backend.backend(), [pytest.param(
    None, marks=pytest.mark.skip(reason="the other passes compare themselves with this backend"))]))
def test_weights_give_same_outputs_on_another_backend(tmp_path, backend):
    this = keras.backend.backend()
    keras.utils.set_random_seed(5)
    model = small_model()
    weights = str(tmp_path / "model.weights.h5")
    model.save_weights(weights)
    inputs = tmp_path / "inputs.npz"
    np.savez(inputs, **{k: v for k, v in batch(size=3).items() if k != "image_ids"})
    here = outputs(model, dict(np.load(inputs)))
    # DOVE-CLIP (DESIGN 1.7) in the same workers: its gates open, so every head weighs in.
    dove_clip = small_dove_clip()
    clip_weights, clip_inputs = str(tmp_path / "dove_clip.weights.h5"), tmp_path / "clip_inputs.npz"
    dove_clip.save_weights(clip_weights)
    np.savez(clip_inputs, **{k: v for k, v in dove_clip_batch().items() if k != "image_ids"})
    here.update({f"dove_clip_{k}": v for k, v in outputs(dove_clip, dict(np.load(clip_inputs))).items()})
    tests_dir = Path(__file__).parent
    out = tmp_path / f"{backend}.npz"
    env = {**os.environ, "KERAS_BACKEND": backend, "TF_CPP_MIN_LOG_LEVEL": "3"}
    result = subprocess.run(
        [sys.executable, str(tests_dir / "parity_worker.py"), weights, str(inputs), str(out), clip_weights,
         str(clip_inputs)],
        cwd=tests_dir, env=env, capture_output=True, text=True, timeout=300,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    there = dict(np.load(out))
    for name, value in here.items():
        diff = np.abs(value - there[name]).max()
        assert diff <= 1e-4, f"{name}: {this} vs {backend} differ by {diff}"
