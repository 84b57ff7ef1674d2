"""Studies: one config trained as several variants (or swept values) x seeds, then compared.

Study folder (`output_dir`):
    study.yaml                 what the study is (kind, swept key, backend, base config);
                               a folder of another study is refused unless overwritten
    runs/{label}-seed{seed}/   one ordinary run folder per run (`dove_keras.training.runner`)
    run_times.json             wall seconds of each run (training and test), summed over sessions
    study.csv, summary.csv, summary.md, study.png (and sweep.png): `study_report`

Started again, a study keeps its finished runs, resumes the interrupted one
from its backup and starts the others.
"""

import dataclasses
import gc
import json
import logging
import os
import shutil
import time

import pandas as pd
import yaml

from dove_keras.errors import UsageError
from dove_keras.reports.tables import RECALL_COLUMNS
from dove_keras.training.config import ExperimentConfig
from dove_keras.training.config import apply_overrides
from dove_keras.training.config import config_from_dict
from dove_keras.training.run_folder import BACKUP_DIR
from dove_keras.training.run_folder import config_differences
from dove_keras.training.run_folder import load_saved_config
from dove_keras.utils.files import atomic_write_json
from dove_keras.utils.files import atomic_write_text

logger = logging.getLogger(__name__)

MANIFEST = "study.yaml"
RUNS_DIR = "runs"
TIMES_FILE = "run_times.json"
MODEL_FILE = "model.keras"  # the selected model a finished training saves
OUTPUT_FILES = ("study.csv", "summary.csv", "summary.md", "study.png", "sweep.png")
_SWITCHES = ("model.use_roam", "model.use_dtga", "loss.hardest_negative")
# The paper's ablation: each variant pins the three switches; the rest is the base config's.
VARIANTS = {
    "dove": dict(zip(_SWITCHES, (True, True, False))),
    "no_roam": dict(zip(_SWITCHES, (False, True, False))),
    "no_dtga": dict(zip(_SWITCHES, (True, False, False))),
    "no_global": {**dict(zip(_SWITCHES, (True, True, False))), "loss.lambda_global": 0.0},
    "hardest_negative": dict(zip(_SWITCHES, (True, True, True))),
    "dual_encoder": dict(zip(_SWITCHES, (False, False, False))),
}
REFERENCE_VARIANT = "dove"


@dataclasses.dataclass
class StudyRun:
    """One run of a study: a label (variant or swept value), a seed and its config."""

    label: str
    seed: int
    config: ExperimentConfig

    @property
    def name(self):
        return f"{self.label}-seed{self.seed}"


@dataclasses.dataclass
class Study:
    """A planned study.

    Attributes:
        kind: "ablation" or "sweep".
        column: the name of the label column ("variant", or the swept key).
        base: the config every run derives from.
        output_dir: the study folder.
        runs: the `StudyRun`s, label by label, seed by seed.
        values: label -> swept value (sweeps; None for an ablation).
    """

    kind: str
    column: str
    base: ExperimentConfig
    output_dir: str
    runs: list
    values: dict = None

    @property
    def labels(self):
        return list(dict.fromkeys(run.label for run in self.runs))

    @property
    def reference(self):
        """The label the others are compared with: dove, else the first one."""
        return REFERENCE_VARIANT if REFERENCE_VARIANT in self.labels else self.labels[0]


def parse_variants(names):
    """The variants of `--variants` (names, comma- or space-separated), in order, once each.

    Raises:
        UsageError: an unknown name.
    """
    chosen = [n for item in names for n in item.split(",") if n] if names else list(VARIANTS)
    unknown = [n for n in chosen if n not in VARIANTS]
    if unknown:
        raise UsageError(f"--variants: unknown variant(s) {', '.join(unknown)}; choose from {', '.join(VARIANTS)}")
    return list(dict.fromkeys(chosen))


def parse_grid(text):
    """`KEY=V1,V2,...` -> `(key, {label: value})`, each value read as YAML.

    Raises:
        UsageError: no key, fewer than two values, a repeated or non-YAML value.
    """
    key, sep, values = text.partition("=")
    key = key.strip()
    items = [v.strip() for v in values.split(",")]
    if not sep or not key or not all(items) or len(items) < 2:
        raise UsageError(f"--set-grid {text!r}: expected SECTION.KEY=V1,V2,... with two or more values")
    grid = {}
    for item in items:
        try:
            value = yaml.safe_load(item)
        except yaml.YAMLError:
            raise UsageError(f"--set-grid {key}: the value {item!r} is not valid YAML") from None
        label = str(value).replace(os.sep, "_")
        if label in grid:
            raise UsageError(f"--set-grid {key}: the value {item!r} is given twice")
        grid[label] = value
    return key, grid


def check_overrides(overrides, source):
    """Checks keys and value types of `{"section.key": value}` on the default config (no paths).

    For a study without a config file: its mistakes are reported before the
    data is generated.

    Raises:
        ConfigError: an unknown key, or a value of the wrong type or range.
    """
    raw = ExperimentConfig().to_dict()
    raw["data"].update(prepared_dir=".", vocabulary=".")  # the required paths, not checked here
    apply_overrides(raw, overrides, source)
    config_from_dict(raw, source=source, check_paths=False)


def plan_ablation(base, variants, seeds, output_dir):
    """The `Study` of `variants` (names of `VARIANTS`) x `seeds` seeds from `base.seed` on."""
    settings = {name: VARIANTS[name] for name in variants}
    return _plan("ablation", "variant", base, settings, seeds, output_dir, source="--variants")


def plan_sweep(base, key, grid, seeds, output_dir):
    """The `Study` of `key` set to each value of `grid` (`parse_grid`) x `seeds` seeds.

    Raises:
        ConfigError: an unknown key, or a value of the wrong type or range.
    """
    settings = {label: {key: value} for label, value in grid.items()}
    study = _plan("sweep", key, base, settings, seeds, output_dir, source=f"--set-grid {key}")
    study.values = dict(grid)
    return study


def check_seeds(seeds):
    """Raises `UsageError` unless `seeds` >= 1."""
    if seeds < 1:
        raise UsageError(f"--seeds must be at least 1, got {seeds}")


def _plan(kind, column, base, settings, seeds, output_dir, source):
    check_seeds(seeds)
    runs = []
    for label, overrides in settings.items():
        for seed in range(base.seed, base.seed + seeds):
            raw = base.to_dict()
            apply_overrides(raw, overrides, source)
            run = StudyRun(label, seed, None)
            run_dir = os.path.join(output_dir, RUNS_DIR, run.name)
            raw.update(seed=seed, name=f"{base.name}-{run.name}", output_dir=run_dir)
            run.config = config_from_dict(raw, source=f"{source} ({label})")
            runs.append(run)
    return Study(kind, column, base, output_dir, runs)


def identity(study, backend):
    """What makes a study folder this study's: kind, swept key, backend and base config."""
    base = study.base.to_dict()
    base.pop("output_dir")
    return {"study": study.kind, "column": study.column, "backend": backend, "config": base}


def check_study_folder(study, backend, overwrite=False):
    """Checks that `study` may use its folder (reads only).

    Raises:
        UsageError: the folder holds files but no study, or (without
            `overwrite`) a study of another config.
    """
    out = study.output_dir
    if not os.path.isdir(out) or not os.listdir(out):
        return
    manifest = os.path.join(out, MANIFEST)
    if not os.path.isfile(manifest):
        raise UsageError(f"{out} holds files but no {MANIFEST} (not a study folder); choose a new or empty --output")
    differing = config_differences(load_saved_config(manifest), identity(study, backend))
    if differing and not overwrite:
        raise UsageError(
            f"{out} holds a study of another config (different: {', '.join(differing)}); use its own "
            "command, choose another --output, or pass --overwrite to replace it"
        )


def run_state(run):
    """"finished", "interrupted" (a backup), "evaluate" (trained, not tested) or "new".

    "new" includes a run killed before its first backup: it starts again.
    """
    out = run.config.output_dir
    if os.path.isdir(os.path.join(out, BACKUP_DIR)):
        return "interrupted"
    if os.path.isfile(results_path(run.config)):
        return "finished"
    if os.path.isfile(os.path.join(out, MODEL_FILE)):
        return "evaluate"
    return "new"


def results_path(config):
    """The test results file a finished run holds."""
    return os.path.join(config.output_dir, f"results_{config.data.test_split}_{config.evaluation.mode}.csv")


def run_study(study, backend, overwrite=False, verbose=1):
    """Trains every run of `study` not finished yet, then writes the study's tables and plots.

    Call `check_study_folder` first; with `overwrite` the folder's study
    files (runs and outputs) are removed before anything is trained.

    Returns:
        The `study.csv` frame: one row per run.
    """
    import keras

    from dove_keras.experiments.study_report import write_study_outputs
    from dove_keras.training.runner import run_evaluation
    from dove_keras.training.runner import run_training

    if overwrite:
        remove_study(study.output_dir)
    os.makedirs(os.path.join(study.output_dir, RUNS_DIR), exist_ok=True)
    manifest = yaml.safe_dump(identity(study, backend), sort_keys=False)
    atomic_write_text(os.path.join(study.output_dir, MANIFEST), manifest)
    times = _load_times(study.output_dir)
    rows = []
    for index, run in enumerate(study.runs, start=1):
        state = run_state(run)
        if state != "finished":
            action = {"interrupted": "resuming", "evaluate": "testing", "new": "training"}[state]
            logger.info("[%d/%d] %s %s -> %s", index, len(study.runs), action, run.name, run.config.output_dir)
            start = time.perf_counter()
            try:
                if state == "evaluate":
                    run_evaluation(run.config, os.path.join(run.config.output_dir, MODEL_FILE), verbose=verbose)
                else:
                    run_training(run.config, verbose=verbose)
            finally:
                times[run.name] = round(times.get(run.name, 0.0) + time.perf_counter() - start, 1)
                atomic_write_json(os.path.join(study.output_dir, TIMES_FILE), times)
            keras.backend.clear_session()
            gc.collect()
        rows.append(_result_row(study, run, times.get(run.name)))
        frame = pd.DataFrame(rows)
        frame.to_csv(os.path.join(study.output_dir, "study.csv"), index=False)
        logger.info("[%d/%d] %s: test mR %.2f", index, len(study.runs), run.name, rows[-1]["mR"])
    write_study_outputs(study, frame)
    return frame


def _result_row(study, run, seconds):
    results = pd.read_csv(results_path(run.config)).iloc[0]
    return {
        study.column: run.label, "seed": run.seed, **{c: float(results[c]) for c in RECALL_COLUMNS},
        "train_s": seconds, "run_dir": run.config.output_dir,
    }


def _load_times(output_dir):
    path = os.path.join(output_dir, TIMES_FILE)
    if not os.path.isfile(path):
        return {}
    with open(path, encoding="utf-8") as f:
        return json.load(f)


def remove_study(output_dir):
    """Removes a study's files from its folder (its manifest, runs, times and outputs; nothing else)."""
    if os.path.isfile(os.path.join(output_dir, MANIFEST)):
        logger.warning("--overwrite: removing the earlier study in %s", output_dir)
    for name in (MANIFEST, RUNS_DIR, TIMES_FILE, *OUTPUT_FILES):
        path = os.path.join(output_dir, name)
        if os.path.isdir(path):
            shutil.rmtree(path)
        elif os.path.exists(path):
            os.remove(path)
