"""`dove compare-backends`: a process per backend, same weights and batches, one table.

The test runs two of the three backends: the command's code is the same for each, and a JAX
worker would add the longest start (its XLA compiles). The JAX outputs are compared with the
other two backends in test_models_parity.py.
"""

import keras
import pandas as pd
import pytest
from training_fixtures import make_prepared
from training_fixtures import tiny_config

from dove_keras.experiments.compare import compare_backends
from dove_keras.training.factory import build_retriever
from dove_keras.training.seeding import seed_everything

pytestmark = pytest.mark.skipif(
    keras.backend.backend() != "tensorflow", reason="spawns its backend processes itself"
)


def test_backends_agree_before_the_first_update_and_artefacts_are_written(tmp_path):
    make_prepared(str(tmp_path / "data"))
    config = tiny_config(str(tmp_path / "data"), tmp_path / "run")
    seed_everything(config.seed, deterministic=False)
    weights = str(tmp_path / "initial.weights.h5")
    build_retriever(config).save_weights(weights)  # in-process: saves a TF start
    backends = ("tensorflow", "torch")
    comparison = compare_backends(
        config, steps=3, eval_split="test", backends=backends, initial_weights=weights, verbose=False
    )

    frame = comparison.frame
    assert list(frame["backend"]) == list(backends)
    losses = frame["eval_loss_step0"].to_numpy()
    assert losses[0] > 0
    assert abs(losses - losses[0]).max() <= 1e-4 * abs(losses[0])
    assert comparison.parity_ok
    assert list(comparison.curves.columns) == list(backends) and len(comparison.curves) == 3
    assert (frame["first_step_s"] > 0).all() and (frame["peak_rss_mib"] > 0).all()
    assert frame["mR"].between(0, 100).all()

    csv = pd.read_csv(comparison.paths["csv"])
    assert list(csv["backend"]) == list(backends)
    with open(comparison.paths["markdown"], encoding="utf-8") as f:
        table = f.read()
    assert all(sum(line.startswith(f"| {b} |") for line in table.splitlines()) == 1 for b in backends)
    with open(comparison.paths["plot"], "rb") as f:
        assert f.read(8) == b"\x89PNG\r\n\x1a\n"
