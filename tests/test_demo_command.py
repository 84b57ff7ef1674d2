"""`dove demo`: one short run (tensorflow and torch passes) writes every artefact and learns; options and cache."""

import argparse
import contextlib
import io
import json
import os
import subprocess
import sys
import zipfile

import keras
import pandas as pd
import pytest
import yaml
from PIL import Image

from dove_keras import cli
from dove_keras.commands import demo
from dove_keras.evaluation.chance import chance_recalls
from dove_keras.experiments.synthetic_experiment import prepare_synthetic_data
from dove_keras.training import save_config

# On torch, the quickest backend here, the demo runs at a size where it learns: 600 scenes at
# 64 px, 360 train images (1,800 captions), 120 val, 120 test; 2 epochs learn 2.7-3.6 x chance
# mR depending on the backend (fixed seed). On tensorflow, the default backend, it runs on 100
# scenes, for its artefacts and output: the model is the same (the backends agree:
# test_models_parity.py). The jax pass skips it: past the runner the demo is backend-neutral, and
# JAX trains and evaluates through the runner in test_precomputed_regions.py and the multi-worker run.
LEARNS = keras.backend.backend() == "torch"
SCENES = 600 if LEARNS else 100
TEST_IMAGES = SCENES // 5
DATA = f"synthetic-{SCENES}x64px-seed0"
SHORT_RUN = [
    "--num-images", str(SCENES), "--scene-size", "64", "--image-size", "64",
    "--split-fractions", "0.6", "0.2", "0.2", "--epochs", "2", "--batch-size", "32",
    "--embedding-dim", "64", "--seed", "0",
]
ARTEFACTS = [
    "config.yaml", "history.csv", "model.keras", "preset/task.json", "curves.png", "examples_test.png",
    "results_test_roam.csv", "results_test_roam.md", "demo_summary.md",
]


@pytest.fixture(scope="module")
def demo_run(tmp_path_factory):
    """(output folder, exit code, stdout) of one short `dove demo`."""
    if keras.backend.backend() == "jax":
        pytest.skip("the demo runs on the tensorflow and torch passes (the runner's JAX path is tested elsewhere)")
    output_dir = tmp_path_factory.mktemp("demo")
    stdout = io.StringIO()
    with contextlib.redirect_stdout(stdout):
        code = cli.main(["demo", "--output-dir", str(output_dir), *SHORT_RUN])
    return output_dir, code, stdout.getvalue()


def parse(argv):
    parser = argparse.ArgumentParser()
    demo.add_arguments(parser)
    return parser.parse_args(argv)


def test_demo_writes_every_artefact(demo_run):
    output_dir, code, _ = demo_run
    assert code == 0
    run_dir = output_dir / "dove"
    for name in ARTEFACTS:
        assert (run_dir / name).stat().st_size > 0, name
    assert not (run_dir / "backup").exists()
    for name, min_width in (("curves.png", 600), ("examples_test.png", 800)):
        with Image.open(run_dir / name) as image:
            assert image.format == "PNG" and image.width >= min_width, name
    with zipfile.ZipFile(run_dir / "model.keras") as archive:
        assert json.loads(archive.read("config.json"))["class_name"] == "DOVERetriever"
    history = pd.read_csv(run_dir / "history.csv")
    assert list(history["epoch"]) == [0, 1] and history["val_mR"].notna().all()
    config = yaml.safe_load((run_dir / "config.yaml").read_text())
    assert config["model"]["use_roam"] and config["model"]["use_dtga"]
    assert (config["data"]["image_size"], config["training"]["epochs"]) == (64, 2)
    assert (config["model"]["embedding_dim"], config["training"]["batch_size"]) == (64, 32)


@pytest.mark.skipif(not LEARNS, reason="the demo runs at a learning size on torch only")
def test_demo_learns_clearly_above_chance(demo_run):
    output_dir, _, _ = demo_run
    results = pd.read_csv(output_dir / "dove" / "results_test_roam.csv").iloc[0]
    assert (results["images"], results["captions"]) == (TEST_IMAGES, 5 * TEST_IMAGES)
    chance = chance_recalls(TEST_IMAGES)
    assert results["mR"] >= 2 * chance["mR"], (results["mR"], chance["mR"])
    for direction in ("i2t", "t2i"):
        assert results[f"{direction}_r10"] >= 1.5 * chance[f"{direction}_r10"], direction


def test_demo_prints_the_table_and_two_example_queries(demo_run):
    output_dir, _, stdout = demo_run
    summary = (output_dir / "dove" / "demo_summary.md").read_text()
    assert summary in stdout
    results = pd.read_csv(output_dir / "dove" / "results_test_roam.csv").iloc[0]
    lines = summary.splitlines()
    for source in ("DOVE", "chance"):
        for direction in ("image->text", "text->image"):
            assert any(line.startswith(f"| {source} | {direction} |") for line in lines)
    assert f"mR {results['mR']:.2f} = " in summary
    chance_row = next(line for line in lines if line.startswith("| chance | text->image |"))
    assert chance_row == "| chance | text->image | {:.2f} | {:.2f} | {:.2f} |".format(
        *(100 * k / TEST_IMAGES for k in (1, 5, 10)))  # K / test images

    scenes = output_dir / "data" / DATA / "scenes"
    test_captions = set((scenes / "test_caps.txt").read_text().splitlines())
    caption_query = lines.index(next(line for line in lines if line.startswith("Query caption:")))
    image_query = lines.index(next(line for line in lines if line.startswith("Query image:")))
    assert image_query == caption_query + 4  # three ranked images in between
    for rank, line in enumerate(lines[caption_query + 1 : image_query], start=1):
        number, score, path = line.split()[:3]
        assert number == f"{rank}." and -1 <= float(score) <= 1 and os.path.isfile(path)
    for rank, line in enumerate(lines[image_query + 1 : image_query + 4], start=1):
        assert line.startswith(f"  {rank}. ")
        assert line.split('"')[1] in test_captions


def test_demo_reuses_its_cached_data(demo_run):
    output_dir, _, _ = demo_run
    root = output_dir / "data" / DATA
    files = sorted((root / "prepared").glob("*.tfrecord"))
    files.append(root / "scenes" / "images" / "00000.png")
    before = [(path.stat().st_mtime_ns, path.read_bytes()) for path in files]
    vocabulary = (root / "vocab.txt").read_text()
    data = prepare_synthetic_data(str(output_dir), SCENES, 64, 0, (0.6, 0.2, 0.2), progress=False)
    assert data["prepared"] == str(root / "prepared") and data["train_captions"] == 3 * SCENES
    assert [(path.stat().st_mtime_ns, path.read_bytes()) for path in files] == before
    assert (root / "vocab.txt").read_text() == vocabulary


def test_demo_ablation_flags_reach_the_config(demo_run):
    output_dir, _, _ = demo_run
    data = prepare_synthetic_data(str(output_dir), SCENES, 64, 0, (0.6, 0.2, 0.2), progress=False)
    args = parse(["--output-dir", str(output_dir), "--no-roam", "--no-dtga", "--epochs", "5",
                  "--learning-rate", "0.002", "--image-backbone", "resnet18", "--seed", "7"])
    config = demo.demo_config(args, data)
    assert not config.model.use_roam and not config.model.use_dtga
    assert config.output_dir == str(output_dir / "dove_no-roam_no-dtga")
    assert (config.model.image_backbone, config.seed, config.training.epochs) == ("resnet18", 7, 5)
    # Adam at 0.002, halved for the last epoch only.
    assert (config.optimizer.learning_rate, config.optimizer.decay_rate) == (0.002, 0.5)
    assert config.optimizer.decay_epochs == 4
    only_dtga = demo.demo_config(parse(["--output-dir", str(output_dir), "--no-dtga"]), data)
    assert only_dtga.model.use_roam and not only_dtga.model.use_dtga
    assert only_dtga.output_dir.endswith("dove_no-dtga")


@pytest.mark.parametrize(
    "options, message",
    [
        *(pytest.param(options, message, marks=pytest.mark.backend_independent) for options, message in [
            (["--image-size", "80"], "--image-size must be a multiple of 32"),
            (["--num-images", "0"], "--num-images must be positive"),
            (["--split-fractions", "1", "0", "0"], "train, validation and test all need scenes"),
            (["--learning-rate", "0"], "--learning-rate must be positive"),
        ]),
        (["--backend", "torch" if keras.backend.backend() != "torch" else "jax"],
         "Keras is already loaded with the"),
    ],
)
def test_demo_refuses_bad_options_before_any_work(options, message, tmp_path, capsys):
    assert cli.main(["demo", "--output-dir", str(tmp_path / "out"), *options]) == 2
    assert message in capsys.readouterr().err
    assert not (tmp_path / "out").exists()


@pytest.mark.backend_independent
def test_demo_refuses_a_batch_larger_than_the_training_captions(tmp_path, capsys):
    options = ["--num-images", "12", "--scene-size", "32", "--batch-size", "64"]
    assert cli.main(["demo", "--output-dir", str(tmp_path), *options]) == 2
    assert "--batch-size 64 is more than the 50 training captions" in capsys.readouterr().err
    assert not (tmp_path / "dove").exists()


@pytest.mark.backend_independent
def test_demo_help_explains_every_option(capsys):
    with pytest.raises(SystemExit) as exit_info:
        cli.main(["demo", "--help"])
    assert exit_info.value.code == 0
    text = " ".join(capsys.readouterr().out.split())
    options = [
        "--output-dir", "--num-images", "--scene-size", "--split-fractions", "--seed",
        "--image-size", "--image-backbone", "--embedding-dim", "--epochs", "--batch-size",
        "--learning-rate", "--no-roam", "--no-dtga", "--backend",
    ]
    for option in options:
        assert option in text
    assert "KERAS_BACKEND" in text and "(default: 2000)" in text and "(default: 7)" in text


def test_demo_resumes_only_a_backup_of_its_own_settings(demo_run, tmp_path):
    from dove_keras.training.run_folder import is_resumable

    output_dir, _, _ = demo_run
    data = prepare_synthetic_data(str(output_dir), SCENES, 64, 0, (0.6, 0.2, 0.2), progress=False)
    config = demo.demo_config(parse(["--output-dir", str(tmp_path)]), data)
    backup = tmp_path / "dove" / "backup"
    backup.mkdir(parents=True)
    save_config(config, tmp_path / "dove" / "config.yaml")
    assert is_resumable(config)  # same settings: the run resumes from it
    config.training.epochs += 1
    assert not is_resumable(config)  # other settings: the demo starts afresh


@pytest.mark.skipif(keras.backend.backend() != "tensorflow", reason="one subprocess suffices")
def test_no_tensorflow_log_lines_before_the_first_line_of_output():
    env = {key: value for key, value in os.environ.items() if key != "TF_CPP_MIN_LOG_LEVEL"}
    done = subprocess.run(
        [sys.executable, "-m", "dove_keras.cli", "demo", "--num-images", "0"],
        env=env, capture_output=True, text=True, timeout=300,
    )
    assert done.returncode == 2
    assert done.stdout == ""
    assert done.stderr == "dove demo: error: --num-images must be positive, got 0\n"
