"""Training curves: losses and validation recalls per epoch."""

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import pandas as pd  # noqa: E402

from dove_keras.reports.tables import RECALL_COLUMNS  # noqa: E402


def plot_training_curves(history, path):
    """Losses and validation recalls per epoch, from a `HistoryLogger` CSV or frame.

    Args:
        history: a DataFrame with an `epoch` column, or its CSV path.
        path: the PNG to write.
    """
    if not isinstance(history, pd.DataFrame):
        history = pd.read_csv(history)
    epochs = history["epoch"] + 1
    losses = [c for c in ("loss", "triplet_loss", "roam_loss", "global_loss") if c in history]
    recalls = [f"val_{c}" for c in RECALL_COLUMNS if f"val_{c}" in history]
    figure, (left, right) = plt.subplots(1, 2, figsize=(11, 4))
    for column in losses:
        left.plot(epochs, history[column], marker=".", label=column)
    left.set(title="training loss", xlabel="epoch")
    for column in recalls:
        valid = history[column].notna()
        style = dict(linewidth=2.5, color="black") if column == "val_mR" else dict(linewidth=1)
        right.plot(epochs[valid], history[column][valid], marker=".", label=column[4:], **style)
    right.set(title="validation recall (%)", xlabel="epoch")
    for axis in (left, right):
        if axis.lines:
            axis.legend(fontsize=8)
        axis.grid(alpha=0.3)
    figure.tight_layout()
    figure.savefig(path, dpi=100)
    plt.close(figure)
