"""run_training, dove train / dove evaluate, and exact resumption of a killed run."""

import json
import os
import subprocess
import sys
import textwrap

import h5py
import keras
import numpy as np
import pandas as pd
import pytest
from training_fixtures import make_prepared
from training_fixtures import tiny_config

from dove_keras import cli
from dove_keras.training import save_config
from dove_keras.training.factory import build_retriever
from dove_keras.training.runner import run_training

BACKEND = keras.backend.backend()
TESTS_DIR = os.path.dirname(os.path.abspath(__file__))
OUTPUTS = [
    "config.yaml", "inputs.json", "history.csv", "best.weights.h5", "final.weights.h5", "model.keras",
    "curves.png", "results_test_roam.csv", "results_test_roam.md", "examples_test.png",
]


@pytest.fixture(scope="module")
def data_root(tmp_path_factory):
    root = tmp_path_factory.mktemp("tiny_data")
    make_prepared(root)
    return str(root)


def weights_of(path):
    arrays = {}
    with h5py.File(path, "r") as f:
        f.visititems(lambda name, item: arrays.update({name: item[()]}) if isinstance(item, h5py.Dataset) else None)
    return arrays


RESUME_SCRIPT = textwrap.dedent(
    """
    import json, sys
    sys.path.insert(0, {tests!r})
    import keras
    from dove_keras.training import runner
    from dove_keras.training.backup import ResumableBackup
    from training_fixtures import Killed, KillBeforeBatch, build_stand_in, tiny_config

    runner.factory.build_retriever = build_stand_in  # compiles in a second; DOVE's state is generic

    def train(name, callbacks=()):
        config = tiny_config({data!r}, {out!r} + "/" + name, training=dict(deterministic=True))
        runner.run_training(config, callbacks=callbacks, verbose=0, evaluate_test=False)

    train("straight")
    try:
        train("resumed", [KillBeforeBatch(8)])  # 5 batches per epoch: killed in epoch 2
    except Killed:
        position = ResumableBackup.latest({out!r} + "/resumed/backup").position
    train("resumed")
    print(json.dumps(dict(position=position)))
    """
)


@pytest.mark.skipif(BACKEND != "tensorflow", reason="exact resumption is checked in TensorFlow's deterministic mode")
def test_killed_run_resumes_to_the_same_weights(data_root, tmp_path):
    script = RESUME_SCRIPT.format(tests=TESTS_DIR, data=data_root, out=str(tmp_path))
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr[-3000:]
    report = json.loads(done.stdout.strip().splitlines()[-1])
    # Killed before epoch 2's 4th batch; the last backup had 2 of its batches.
    assert report["position"] == [1, 2]
    straight = weights_of(tmp_path / "straight" / "final.weights.h5")
    resumed = weights_of(tmp_path / "resumed" / "final.weights.h5")
    assert straight.keys() == resumed.keys()
    assert straight["optimizer/vars/0"] == resumed["optimizer/vars/0"] == 10  # 2 epochs x 5 steps
    for name, value in straight.items():
        np.testing.assert_array_equal(value, resumed[name], err_msg=name)
    best = [weights_of(tmp_path / run / "best.weights.h5") for run in ("straight", "resumed")]
    for name, value in best[0].items():
        np.testing.assert_array_equal(value, best[1][name], err_msg=name)
    history = [pd.read_csv(tmp_path / run / "history.csv") for run in ("straight", "resumed")]
    assert list(history[1]["epoch"]) == [0, 1]  # kept the first epoch's row, redid the second
    np.testing.assert_array_equal(history[0]["val_mR"], history[1]["val_mR"])


@pytest.mark.skipif(BACKEND != "torch", reason="the runner is backend-neutral and a DOVE run costs "
                    "30-90 s here (JAX compiles for over a minute): torch runs it, TensorFlow the "
                    "resumption test, every backend the callback and evaluator tests")
@pytest.mark.filterwarnings("ignore:Can save best model only")  # epochs without validation
def test_run_training_end_to_end(data_root, tmp_path):
    output_dir = str(tmp_path / "run")
    config = tiny_config(
        data_root, output_dir, evaluation={"every_n_epochs": 2},
        training={"batch_size": 20, "backup_every_n_steps": 100},  # one step per epoch
    )
    result = run_training(config, verbose=0)
    assert result.test.scores.shape == (2, 10)
    for name in OUTPUTS:
        assert os.path.getsize(os.path.join(output_dir, name)) > 0, name
    assert not os.path.exists(os.path.join(output_dir, "backup"))
    history = pd.read_csv(os.path.join(output_dir, "history.csv"))
    assert list(history["epoch"]) == [0, 1]
    assert history["val_mR"].isna().tolist() == [True, False]  # evaluated every 2 epochs
    # The logged val_mR is what `dove evaluate` finds for the selected weights.
    config_path, best = (os.path.join(output_dir, f) for f in ("config.yaml", "best.weights.h5"))
    assert cli.main(["evaluate", "--config", config_path, "--weights", best, "--split", "val", "--quiet"]) == 0
    results = pd.read_csv(os.path.join(output_dir, "results_val_roam.csv"))
    assert list(results.columns[3:10]) == ["i2t_r1", "i2t_r5", "i2t_r10", "t2i_r1", "t2i_r5", "t2i_r10", "mR"]
    assert results["mR"].iloc[0] == pytest.approx(history["val_mR"].iloc[1], abs=0.01)


@pytest.mark.backend_independent
def test_cli_errors_before_training(data_root, tmp_path, capsys):
    config = tiny_config(data_root, tmp_path / "run")
    path = str(tmp_path / "config.yaml")
    save_config(config, path)
    assert cli.main(["train", "--config", path, "--set", "model.image_bakbone=tiny"]) == 2
    assert "unknown key(s) image_bakbone in model (did you mean image_backbone?)" in capsys.readouterr().err
    assert cli.main(["train", "--config", path, "--set", "data.vocabulary=/nowhere/vocab.txt"]) == 2
    assert "data.vocabulary: path not found: '/nowhere/vocab.txt'" in capsys.readouterr().err
    assert cli.main(["train", "--config", path, "--set", "epochs"]) == 2
    assert "expected SECTION.KEY=VALUE" in capsys.readouterr().err
    assert cli.main(["evaluate", "--config", path]) == 2
    assert "model not found" in capsys.readouterr().err
    assert not os.path.exists(tmp_path / "run")  # nothing started


@pytest.mark.backend_independent
@pytest.mark.parametrize("command", ["train", "evaluate"])
def test_cli_help_explains_every_option(command, capsys):
    with pytest.raises(SystemExit) as exit_info:
        cli.main([command, "--help"])
    assert exit_info.value.code == 0
    text = capsys.readouterr().out
    specific = ["--no-test", "--quiet"] if command == "train" else ["--weights", "--split", "--mode"]
    for option in ["--config", "--set"] + specific:
        assert option in text
    assert text.count("\n  --") >= 3


@pytest.mark.skipif(BACKEND != "tensorflow", reason="backend-neutral code; building DOVE eagerly "
                    "costs seconds on torch and 20 s on JAX")
def test_build_retriever_loads_word_embeddings(data_root, tmp_path):
    vocabulary_size = 2 + len(open(os.path.join(data_root, "vocab.txt")).read().split())
    matrix = np.arange(vocabulary_size * 8, dtype="float32").reshape(vocabulary_size, 8)
    np.save(tmp_path / "words.npy", matrix)
    config = tiny_config(data_root, tmp_path / "run", initialization={"word_embeddings": str(tmp_path / "words.npy")})
    model = build_retriever(config)
    embeddings = model.backbone.text_encoder.word_embedding.embeddings
    np.testing.assert_array_equal(keras.ops.convert_to_numpy(embeddings), matrix)
    np.save(tmp_path / "words.npy", matrix[:, :4])
    expected = r"words.npy: .*shape \(\d+, 4\), expected \(\d+, 8\).*\(vocabulary_size, model.word_dim\)"
    with pytest.raises(ValueError, match=expected):
        build_retriever(config)
