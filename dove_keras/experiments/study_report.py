"""A study's outputs: summary table (CSV, markdown) and the mR plots."""

import math
import os

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402

from dove_keras.experiments.study_stats import summarize  # noqa: E402
from dove_keras.reports.tables import RECALL_COLUMNS  # noqa: E402
from dove_keras.reports.tables import markdown_table  # noqa: E402

HEADERS = {
    "i2t_r1": "i2t R@1", "i2t_r5": "i2t R@5", "i2t_r10": "i2t R@10",
    "t2i_r1": "t2i R@1", "t2i_r5": "t2i R@5", "t2i_r10": "t2i R@10", "mR": "mR",
}


def write_study_outputs(study, runs):
    """Writes `summary.csv`, `summary.md`, `study.png` and, for a sweep, `sweep.png`.

    Args:
        study: the `Study`.
        runs: the `study.csv` frame (one row per run).

    Returns:
        The summary frame.
    """
    summary = summarize(runs, study.column, study.reference)
    out = study.output_dir
    summary.to_csv(os.path.join(out, "summary.csv"), index=False)
    with open(os.path.join(out, "summary.md"), "w", encoding="utf-8") as f:
        f.write(summary_markdown(study, summary, runs))
    plot_study(runs, study.column, os.path.join(out, "study.png"))
    if study.values is not None:
        plot_sweep(runs, study.column, study.values, os.path.join(out, "sweep.png"))
    return summary


def summary_markdown(study, summary, runs):
    """The summary as markdown: mean ± std per label, the mR difference and its p-value."""
    reference = study.reference
    table = pd.DataFrame({study.column: summary[study.column], "seeds": summary["seeds"]})
    for column in RECALL_COLUMNS:
        table[HEADERS[column]] = [
            _mean_std(mean, std) for mean, std in zip(summary[f"{column}_mean"], summary[f"{column}_std"])
        ]
    table[f"ΔmR vs {reference}"] = [
        "—" if label == reference else _signed(diff) for label, diff in zip(summary[study.column], summary["mR_diff"])
    ]
    table["p"] = ["—" if math.isnan(p) else f"{p:.3f}" for p in summary["p"]]
    seeds = sorted(runs["seed"].unique())
    config = study.base
    total = runs["train_s"].sum()
    lines = [
        f"# {study.kind.capitalize()} study of {config.name} ({study.column})",
        "",
        f"Test split ({config.data.test_split}, evaluation mode {config.evaluation.mode}); seeds "
        f"{', '.join(map(str, seeds))}. Cells: mean ± std over seeds (std with n − 1). "
        f"ΔmR: mean over the seeds both have of (mR − mR of {reference}); p: two-sided paired "
        "t-test over those seeds (n − 1 degrees of freedom).",
        "",
        markdown_table(table),
        f"{len(runs)} runs, {total / 60:.1f} min of training and testing in all (sum of the runs' wall times).",
        "",
    ]
    return "\n".join(lines)


def _mean_std(mean, std):
    return f"{mean:.2f}" if math.isnan(std) else f"{mean:.2f} ± {std:.2f}"


def _signed(value):
    return "—" if math.isnan(value) else f"{value:+.2f}"


def plot_study(runs, column, path):
    """Test mR per label: each seed's run as a dot, the mean ± std as a bar."""
    labels = list(dict.fromkeys(runs[column]))
    figure, axis = plt.subplots(figsize=(max(5, 1.3 * len(labels) + 1), 4))
    for x, label in enumerate(labels):
        values = runs.loc[runs[column] == label, "mR"].to_numpy()
        axis.scatter(x + np.linspace(-0.12, 0.12, len(values)), values, color="grey", s=18, zorder=3)
        std = values.std(ddof=1) if len(values) > 1 else 0
        axis.errorbar(x, values.mean(), yerr=std, fmt="o", color="black", capsize=6, markersize=7, zorder=4)
    axis.set_xticks(range(len(labels)), [str(label) for label in labels], rotation=20)
    axis.set(title="test mR: each run (dots), mean ± std over seeds", ylabel="mR (%)", xlabel=column)
    axis.grid(axis="y", alpha=0.3)
    figure.tight_layout()
    figure.savefig(path, dpi=100)
    plt.close(figure)


def plot_sweep(runs, column, values, path):
    """Test mR against the swept value: the mean with a ± std band and each seed's run.

    Numbers are placed on a numeric axis, other values at even steps.
    """
    labels = list(values)
    numeric = all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in values.values())
    xs = np.array([values[label] for label in labels], float) if numeric else np.arange(len(labels), dtype=float)
    order = np.argsort(xs, kind="stable")
    groups = [runs.loc[runs[column].astype(str) == label, "mR"].to_numpy() for label in labels]
    means = np.array([g.mean() for g in groups])
    stds = np.array([g.std(ddof=1) if len(g) > 1 else 0.0 for g in groups])
    figure, axis = plt.subplots(figsize=(6, 4))
    axis.plot(xs[order], means[order], marker="o", color="black", label="mean")
    axis.fill_between(xs[order], (means - stds)[order], (means + stds)[order], color="black", alpha=0.15,
                      label="± std")
    for x, group in zip(xs, groups):
        axis.scatter(np.full(len(group), x), group, color="grey", s=14, zorder=3)
    if not numeric:
        axis.set_xticks(xs, labels)
    axis.set(title=f"test mR against {column}", xlabel=column, ylabel="mR (%)")
    axis.legend(fontsize=8)
    axis.grid(alpha=0.3)
    figure.tight_layout()
    figure.savefig(path, dpi=100)
    plt.close(figure)
