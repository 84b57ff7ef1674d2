"""Callbacks: validation recalls into the epoch logs, and a per-epoch CSV log."""

import os

import keras
import pandas as pd

from dove_keras.evaluation.evaluate import MODES
from dove_keras.evaluation.evaluate import evaluate_model


class RetrievalEvaluation(keras.callbacks.Callback):
    """Evaluates retrieval on a split every `every_n_epochs` epochs.

    It adds `{prefix}mR` and the six recalls (`{prefix}i2t_r1` ...
    `{prefix}t2i_r10`) to the epoch logs. Keras calls the callbacks in list
    order with one shared logs dict, so put this callback BEFORE the ones that
    read the logs (`ModelCheckpoint(monitor="val_mR", mode="max")`,
    `EarlyStopping`, `TensorBoard`, `CSVLogger`); Keras appends its own
    `History` and progress bar last, so they see the recalls. On epochs
    without evaluation the keys are absent (ModelCheckpoint then warns and
    skips that epoch): make the epoch count a multiple of `every_n_epochs`
    so the last epoch is evaluated.

    Args:
        image_ds: batches `{"images": ...}` of the split's images in protocol
            order.
        caption_ds: batches `{"token_ids": ...}` of its captions,
            `captions_per_image` per image, grouped.
        every_n_epochs: evaluate after epochs N, 2N, ... (1-based).
        mode: `"roam"` (pairwise, as selected by the protocol) or `"global"`.
        chunk_size: block side of the pairwise scoring.
        captions_per_image: captions per image.
        prefix: prefix of the log keys.
        verbose: print each evaluation's summary line.

    Attributes:
        last_result: the latest `EvaluationResult` (None before the first).
    """

    def __init__(
        self,
        image_ds,
        caption_ds,
        every_n_epochs=1,
        mode="roam",
        chunk_size=128,
        captions_per_image=5,
        prefix="val_",
        verbose=False,
    ):
        super().__init__()
        if not isinstance(every_n_epochs, int) or every_n_epochs < 1:
            raise ValueError(f"every_n_epochs must be a positive integer, got {every_n_epochs!r}.")
        if mode not in MODES:
            raise ValueError(f"mode must be one of {MODES}, got {mode!r}.")
        self.image_ds = image_ds
        self.caption_ds = caption_ds
        self.every_n_epochs = every_n_epochs
        self.mode = mode
        self.chunk_size = chunk_size
        self.captions_per_image = captions_per_image
        self.prefix = prefix
        self.verbose = verbose
        self.last_result = None

    def on_epoch_end(self, epoch, logs=None):
        if (epoch + 1) % self.every_n_epochs:
            return
        self.last_result = evaluate_model(
            self.model,
            self.image_ds,
            self.caption_ds,
            mode=self.mode,
            chunk_size=self.chunk_size,
            captions_per_image=self.captions_per_image,
            verbose=self.verbose,
        )
        if logs is not None:
            logs.update({self.prefix + key: value for key, value in self.last_result.metrics.items()})


class HistoryLogger(keras.callbacks.Callback):
    """Writes every epoch's logs to a CSV, rewritten after each epoch.

    Unlike `CSVLogger`, the columns are the union of all epochs' keys (the
    validation recalls exist only on evaluated epochs; missing cells stay
    empty), and a resumed run keeps the rows of the epochs before it.

    Args:
        path: the CSV file.
        keep_before_epoch: rows of an existing file with a smaller `epoch`
            are kept, later ones dropped (0 starts a new file).
    """

    def __init__(self, path, keep_before_epoch=0):
        super().__init__()
        self.path = path
        self.rows = []
        if keep_before_epoch and os.path.isfile(path):
            previous = pd.read_csv(path)
            self.rows = previous[previous["epoch"] < keep_before_epoch].to_dict("records")

    def on_epoch_end(self, epoch, logs=None):
        self.rows.append({"epoch": epoch, **(logs or {})})
        self.frame().to_csv(self.path, index=False)

    def frame(self):
        """The rows as a DataFrame, one per epoch."""
        return pd.DataFrame(self.rows)
