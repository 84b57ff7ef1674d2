"""The same DOVE run on TensorFlow, JAX and PyTorch, side by side (`dove compare-backends`).

Every backend runs in its own process (`compare_worker`) with the same config,
the same initial weights (built once, seeded, on TensorFlow and saved as
`initial.weights.h5`) and the same batches (the seeded training pipeline is
deterministic and runs on tf.data in every process).

Output folder:
    config.yaml, initial.weights.h5   what every backend starts from (the weights
                                      unless a file is given)
    {backend}.json                    one backend's raw measurements
    comparison.md / comparison.csv    one row per backend
    loss_curves.csv                   the training loss of every step, per backend
    comparison.png                    loss curves overlaid + throughput bars
"""

import dataclasses
import json
import logging
import os
import sys
import time

from dove_keras.backends import BACKENDS
from dove_keras.backends import run_backend

logger = logging.getLogger(__name__)

PARITY_TOLERANCE = 1e-4


@dataclasses.dataclass
class Comparison:
    """What `compare_backends` measured.

    Attributes:
        frame: one row per backend (times, throughput, memory, losses, metrics).
        curves: the training loss per step (index: step 1..N; a column per backend).
        parity: `{backend: relative difference}` of the pre-update first-batch
            loss to the first backend's.
        tolerance: the relative tolerance of the parity check.
        paths: the written files: `markdown`, `csv`, `curves`, `plot`.
    """

    frame: object
    curves: object
    parity: dict
    tolerance: float
    paths: dict

    @property
    def parity_ok(self):
        """Whether every backend's pre-update loss is within the tolerance."""
        return all(diff <= self.tolerance for diff in self.parity.values())


def _worker(backend, arguments):
    run_backend(backend, [sys.executable, "-m", "dove_keras.experiments.compare_worker", *arguments])


def compare_backends(config, steps=10, eval_split="val", backends=BACKENDS, tolerance=PARITY_TOLERANCE,
                     initial_weights=None, verbose=True):
    """Runs `config` on each backend and writes the comparison files.

    Args:
        config: an `ExperimentConfig`; its `output_dir` receives the files.
        steps: training steps per backend (the first one includes tracing).
        eval_split: the split evaluated after the steps.
        backends: backends to run, the first one is the parity reference.
        tolerance: relative tolerance of the pre-update first-batch loss.
        initial_weights: a `.weights.h5` file of the config's model to start
            from; by default the seeded model is built in a TensorFlow process.
        verbose: print a line per backend.

    Returns:
        A `Comparison`.
    """
    from dove_keras.training.config import save_config

    out = config.output_dir
    os.makedirs(out, exist_ok=True)
    config_path = os.path.join(out, "config.yaml")
    save_config(config, config_path)
    weights = initial_weights
    if weights is None:
        weights = os.path.join(out, "initial.weights.h5")
        start = time.perf_counter()
        _worker("tensorflow", ["--config", config_path, "--weights", weights, "--init"])
        if verbose:
            logger.info("initial weights: %s (%.0f s)", weights, time.perf_counter() - start)
    elif not os.path.isfile(weights):
        raise ValueError(f"initial weights file not found: {weights}")
    rows = []
    for backend in backends:
        start = time.perf_counter()
        result = os.path.join(out, f"{backend}.json")
        _worker(backend, [
            "--config", config_path, "--weights", weights, "--steps", str(steps),
            "--eval-split", eval_split, "--out", result,
        ])
        with open(result, encoding="utf-8") as f:
            rows.append(json.load(f))
        rows[-1]["process_s"] = time.perf_counter() - start
        if verbose:
            logger.info("%s: done in %.0f s", backend, rows[-1]["process_s"])
    return write_comparison(rows, out, config.training.batch_size, tolerance)


def comparison_frames(rows, tolerance=PARITY_TOLERANCE):
    """The summary table, the loss curves and the parity differences of worker rows.

    Returns:
        `(frame, curves, parity)`; parity is relative to the first row.
    """
    import pandas as pd

    reference = rows[0]["first_step_loss_eval"]
    parity = {
        row["backend"]: abs(row["first_step_loss_eval"] - reference) / max(abs(reference), 1e-12)
        for row in rows
    }
    table = []
    for row in rows:
        table.append({
            "backend": row["backend"],
            "setup_s": round(row["setup_s"], 1),
            "first_step_s": round(row["first_step_s"], 2),
            "median_step_s": round(row["median_step_s"], 3),
            "examples_per_s": round(row["examples_per_s"], 1),
            "peak_rss_mib": round(row["peak_rss_mib"]),
            "eval_loss_step0": row["first_step_loss_eval"],
            "rel_diff": parity[row["backend"]],
            "parity": "ok" if parity[row["backend"]] <= tolerance else "FAIL",
            "loss_first": round(row["losses"][0], 4),
            "loss_last": round(row["losses"][-1], 4),
            **{key: round(value, 2) for key, value in row["metrics"].items()},
            "eval_s": round(row["eval_s"], 1),
            "process_s": round(row.get("process_s", float("nan")), 1),
        })
    curves = pd.DataFrame({row["backend"]: row["losses"] for row in rows})
    curves.index = pd.RangeIndex(1, len(curves) + 1, name="step")
    return pd.DataFrame(table), curves, parity


def write_comparison(rows, out, batch_size, tolerance=PARITY_TOLERANCE):
    """Writes comparison.md/.csv, loss_curves.csv and comparison.png.

    Returns:
        A `Comparison`.
    """
    from dove_keras.reports.tables import markdown_table

    frame, curves, parity = comparison_frames(rows, tolerance)
    paths = {
        "markdown": os.path.join(out, "comparison.md"),
        "csv": os.path.join(out, "comparison.csv"),
        "curves": os.path.join(out, "loss_curves.csv"),
        "plot": os.path.join(out, "comparison.png"),
    }
    frame.to_csv(paths["csv"], index=False)
    curves.to_csv(paths["curves"])
    shown = frame.copy()
    shown["eval_loss_step0"] = shown["eval_loss_step0"].map(lambda v: f"{v:.6f}")
    shown["rel_diff"] = shown["rel_diff"].map(lambda v: f"{v:.1e}")
    with open(paths["markdown"], "w", encoding="utf-8") as f:
        f.write(markdown_table(shown))
        f.write(
            f"\nBatch {batch_size}, {len(curves)} training steps per backend. eval_loss_step0: the "
            f"loss of the first batch with training=False on the shared initial weights, before "
            f"any update; parity: its relative difference to {rows[0]['backend']} <= {tolerance:g}. "
            "setup_s: build, weight loading, data and that forward pass (compiled); "
            "first_step_s: the first train_on_batch, after that forward pass (so mostly "
            "tracing/compilation); median_step_s: the median of the other steps; peak_rss_mib: "
            "ru_maxrss of the backend's process (TensorFlow is loaded in every one for tf.data).\n"
        )
    plot_comparison(frame, curves, paths["plot"])
    return Comparison(frame, curves, parity, tolerance, paths)


def plot_comparison(frame, curves, path):
    """Training loss per step of every backend, overlaid, next to examples/s bars."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    figure, (left, right) = plt.subplots(1, 2, figsize=(11, 4))
    for backend in curves.columns:
        left.plot(curves.index, curves[backend], marker="o", markersize=3, label=backend)
    left.set(xlabel="training step", ylabel="loss", title="training loss (same weights, same batches)")
    left.legend()
    right.bar(frame["backend"], frame["examples_per_s"], color=["C0", "C1", "C2"][: len(frame)])
    right.set(ylabel="examples / s (median step)", title="throughput")
    figure.tight_layout()
    figure.savefig(path, dpi=100)
    plt.close(figure)


def parity_report(comparison):
    """A printable line per backend and the verdict of the parity check."""
    lines = [f"Parity of the pre-update first-batch loss (training=False), relative tolerance "
             f"{comparison.tolerance:g}:"]
    for backend, diff in comparison.parity.items():
        verdict = "ok" if diff <= comparison.tolerance else "FAIL"
        lines.append(f"  {backend:<11} relative difference {diff:.2e}  {verdict}")
    lines.append("PARITY OK" if comparison.parity_ok else "PARITY FAILED")
    return "\n".join(lines)
