"""`dove study`: planning, resuming, the tables and plots, bad input before any training."""

import os

import keras
import numpy as np
import pandas as pd
import pytest
import yaml
from PIL import Image
from training_fixtures import build_stand_in
from training_fixtures import make_prepared
from training_fixtures import tiny_config

from dove_keras import cli
from dove_keras.experiments import study as studies
from dove_keras.experiments.study_report import write_study_outputs
from dove_keras.reports.tables import RECALL_COLUMNS
from dove_keras.training import factory
from dove_keras.training import save_config

BACKEND = keras.backend.backend()


@pytest.fixture(scope="module")
def config_path(tmp_path_factory):
    """A tiny experiment file: 4 train images, one batch of 20 captions per epoch, one epoch."""
    root = tmp_path_factory.mktemp("study_data")
    make_prepared(root)
    path = str(root / "tiny.yaml")
    save_config(tiny_config(root, root / "unused", training={"epochs": 1, "batch_size": 20}), path)
    return path


stand_in_once = pytest.mark.skipif(BACKEND != "tensorflow", reason="the stand-in model makes the study code "
                                   "backend-neutral: it runs on the tensorflow pass; the real DOVE study on torch")


@pytest.fixture(scope="module")
def stand_in_study(config_path, tmp_path_factory):
    """(study folder, exit code) of 2 variants x 2 seeds with a model that trains in a second.

    The study code is what is tested: run folders, resumption, tables; the
    real DOVE runs in `test_real_dove_study`.
    """
    output = tmp_path_factory.mktemp("study") / "ablation"
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(factory, "build_retriever", build_stand_in)
        code = cli.main(study_command(config_path, output))
    return output, code


def study_command(config_path, output, *options):
    return [
        "study", "ablation", "--config", config_path, "--variants", "dove,no_global", "--seeds", "2",
        "--output", str(output), "--quiet", *options,
    ]


@stand_in_once
def test_study_writes_one_run_folder_per_run_and_the_tables(stand_in_study):
    output, code = stand_in_study
    assert code == 0
    runs = pd.read_csv(output / "study.csv")
    assert list(runs.columns) == ["variant", "seed", *RECALL_COLUMNS, "train_s", "run_dir"]
    assert list(zip(runs["variant"], runs["seed"])) == [("dove", 3), ("dove", 4), ("no_global", 3), ("no_global", 4)]
    assert (runs["train_s"] > 0).all()
    for row in runs.itertuples():
        run_dir = output / "runs" / f"{row.variant}-seed{row.seed}"
        assert row.run_dir == str(run_dir)
        config = yaml.safe_load((run_dir / "config.yaml").read_text())
        assert config["seed"] == row.seed and config["output_dir"] == str(run_dir)
        assert config["loss"]["lambda_global"] == (0.0 if row.variant == "no_global" else 1.0)
        results = pd.read_csv(run_dir / "results_test_roam.csv").iloc[0]
        assert row.mR == results["mR"]
        assert not (run_dir / "backup").exists() and (run_dir / "model.keras").is_file()
    summary = pd.read_csv(output / "summary.csv").set_index("variant")
    for variant, group in runs.groupby("variant"):
        assert summary.loc[variant, "mR_mean"] == pytest.approx(group["mR"].mean())
        assert summary.loc[variant, "mR_std"] == pytest.approx(np.std(group["mR"], ddof=1))
    text = (output / "summary.md").read_text()
    assert "| variant | seeds | i2t R@1 |" in text and "ΔmR vs dove" in text and "paired t-test" in text
    assert text.count("\n| dove | 2 | ") == 1 and text.count("\n| no_global | 2 | ") == 1
    with Image.open(output / "study.png") as image:
        assert image.format == "PNG" and image.width >= 300


@stand_in_once
def test_study_resumes_keeping_finished_runs(stand_in_study, config_path):
    output, _ = stand_in_study
    before = {p: p.stat().st_mtime_ns for p in sorted((output / "runs").glob("*/model.keras"))}
    tested_again = output / "runs" / "no_global-seed4" / "results_test_roam.csv"
    mR = pd.read_csv(tested_again)["mR"].iloc[0]
    tested_again.unlink()  # killed during its test: the study only tests it
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(factory, "build_retriever", build_stand_in)
        assert cli.main(study_command(config_path, output)) == 0
    assert {p: p.stat().st_mtime_ns for p in before} == before  # nothing trained again
    assert pd.read_csv(tested_again)["mR"].iloc[0] == pytest.approx(mR, abs=0.01)
    assert len(pd.read_csv(output / "study.csv")) == 4


@pytest.mark.backend_independent
def test_run_states(config_path, tmp_path):
    from dove_keras.training.config import load_config

    base = load_config(config_path)
    study = studies.plan_ablation(base, ["dove", "dual_encoder"], 2, str(tmp_path))
    assert [r.name for r in study.runs] == ["dove-seed3", "dove-seed4", "dual_encoder-seed3", "dual_encoder-seed4"]
    assert [(r.config.model.use_roam, r.config.model.use_dtga) for r in study.runs] == [(True, True)] * 2 + [
        (False, False)] * 2
    folders = [run.config.output_dir for run in study.runs]
    os.makedirs(os.path.join(folders[0], "backup"))
    os.makedirs(folders[1])
    open(os.path.join(folders[1], "model.keras"), "w").close()
    os.makedirs(folders[2])
    for name in ("model.keras", "results_test_roam.csv"):
        open(os.path.join(folders[2], name), "w").close()
    assert [studies.run_state(run) for run in study.runs] == ["interrupted", "evaluate", "finished", "new"]


@pytest.mark.backend_independent
def test_sweep_plan_tables_and_curve(config_path, tmp_path):
    from dove_keras.training.config import load_config

    key, grid = studies.parse_grid("loss.lambda_global=0, 0.5,2")
    assert (key, grid) == ("loss.lambda_global", {"0": 0, "0.5": 0.5, "2": 2})
    study = studies.plan_sweep(load_config(config_path), key, grid, 2, str(tmp_path))
    assert [r.config.loss.lambda_global for r in study.runs] == [0.0, 0.0, 0.5, 0.5, 2.0, 2.0]
    assert study.reference == "0"
    rng = np.random.default_rng(1)
    runs = pd.DataFrame([
        {key: r.label, "seed": r.seed, **dict(zip(RECALL_COLUMNS, rng.uniform(10, 60, 7))), "train_s": 1.0}
        for r in study.runs
    ])
    summary = write_study_outputs(study, runs)
    assert list(summary[key]) == ["0", "0.5", "2"]
    for name in ("study.png", "sweep.png"):
        with Image.open(tmp_path / name) as image:
            assert image.format == "PNG", name
    assert "ΔmR vs 0 " in (tmp_path / "summary.md").read_text()


@pytest.mark.parametrize(
    "options, message",
    [
        (["ablation", "--variants", "dove,no_rom"], "--variants: unknown variant(s) no_rom; choose from dove, "),
        (["ablation", "--seeds", "0"], "--seeds must be at least 1, got 0"),
        (["ablation", "--set", "loss.margn=0.1"], "unknown key(s) margn in loss (did you mean margin?)"),
        (["sweep", "--set-grid", "loss.margin=0.1,abc"], "loss.margin must be float, got 'abc'"),
        (["sweep", "--set-grid", "model.num_regions=4,8.5"], "model.num_regions must be int or null, got 8.5"),
        (["sweep", "--set-grid", "model.num_regionz=4,8"], "unknown key(s) num_regionz in model"),
        (["sweep", "--set-grid", "loss.margin=0.1"], "expected SECTION.KEY=V1,V2,... with two or more values"),
    ],
)
@pytest.mark.backend_independent
def test_bad_input_is_one_line_before_any_work(options, message, config_path, tmp_path, capsys, monkeypatch):
    monkeypatch.chdir(tmp_path)  # the default study would generate data under ./dove_runs
    for config in ([], ["--config", config_path]):
        assert cli.main(["study", *options, *config, "--output", str(tmp_path / "out")]) == 2
        error = capsys.readouterr().err
        assert error.startswith("dove study: error: ") and error.count("\n") == 1 and message in error, error
    assert os.listdir(tmp_path) == []


def test_a_folder_of_another_study_is_refused(config_path, tmp_path, capsys):
    from dove_keras.training.config import load_config

    output = tmp_path / "study"
    study = studies.plan_ablation(load_config(config_path, {"optimizer.learning_rate": 0.01}), ["dove"], 1, str(output))
    output.mkdir()
    (output / "study.yaml").write_text(yaml.safe_dump(studies.identity(study, BACKEND)))
    assert cli.main(study_command(config_path, output)) == 2
    error = capsys.readouterr().err
    assert "holds a study of another config (different: config.optimizer.learning_rate)" in error
    assert "--overwrite" in error and error.count("\n") == 1
    assert os.listdir(output) == ["study.yaml"]
    (output / "study.yaml").unlink()
    (output / "notes.txt").write_text("mine")
    assert cli.main(study_command(config_path, output, "--overwrite")) == 2
    assert "holds files but no study.yaml" in capsys.readouterr().err
    assert os.listdir(output) == ["notes.txt"]


@pytest.mark.skipif(BACKEND != "torch", reason="a DOVE run costs 30-90 s on a shared CPU (JAX compiles for "
                    "a minute): torch runs the real study, every backend the stand-in one")
def test_real_dove_study(config_path, tmp_path):
    output = tmp_path / "real"
    command = ["study", "ablation", "--config", config_path, "--variants", "dove", "dual_encoder", "--seeds", "1",
               "--output", str(output), "--quiet"]
    assert cli.main(command) == 0
    runs = pd.read_csv(output / "study.csv")
    assert list(runs["variant"]) == ["dove", "dual_encoder"] and runs["mR"].between(0, 100).all()
    dual = yaml.safe_load((output / "runs" / "dual_encoder-seed3" / "config.yaml").read_text())
    assert not dual["model"]["use_roam"] and not dual["model"]["use_dtga"]
    summary = pd.read_csv(output / "summary.csv").set_index("variant")
    assert summary.loc["dual_encoder", "mR_diff"] == pytest.approx(runs["mR"][1] - runs["mR"][0])
