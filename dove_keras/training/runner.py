"""Config-driven training and evaluation runs (what `dove train` / `dove evaluate` call).

Output folder (`config.output_dir`):
    config.yaml            the run's full configuration
    inputs.json            sha256 of its vocabulary (and word vectors): a resume checks them
    backup/                resumable state while training (removed at the end)
    tensorboard/           TensorBoard logs, with `training.tensorboard: true`
    history.csv            one row per epoch: losses and validation recalls
    best.weights.h5        the weights of the best validation mR
    final.weights.h5       the weights after the last epoch
    model.keras            the selected (best) model, saved whole
    preset/                the selected model as a keras-hub preset (config, weights,
                           preprocessor, tokenizer vocabulary): `RetrievalTask.from_preset`
                           (a `DOVERetriever`, or the `CLIPRetriever` of a foundation run)
    curves.png             losses and validation recalls per epoch
    results_{split}_{mode}.csv / .md   recalls of an evaluation
    examples_{split}.png   retrieval examples (query -> top 5)
"""

import dataclasses
import functools
import logging
import os
import shutil

import keras
import pandas as pd

from dove_keras.data.pipelines import make_train_dataset
from dove_keras.data.prepare import long_caption_warning
from dove_keras.data.shards import load_manifest
from dove_keras.models.presets import save_preset
from dove_keras.reports.curves import plot_training_curves
from dove_keras.training import factory
from dove_keras.training.backup import ResumableBackup
from dove_keras.training.callbacks import HistoryLogger
from dove_keras.training.callbacks import RetrievalEvaluation
from dove_keras.training.config import save_config
from dove_keras.training.distribution import distribution_scope
from dove_keras.training.distribution import split_batches_between_workers
from dove_keras.training.loading import load_retriever
from dove_keras.training.run_folder import BACKUP_DIR
from dove_keras.training.run_folder import CONFIG_FILE
from dove_keras.training.run_folder import TENSORBOARD_DIR
from dove_keras.training.run_folder import check_run_folder
from dove_keras.training.run_folder import record_inputs
from dove_keras.training.run_folder import remove_run
from dove_keras.training.seeding import epoch_seed
from dove_keras.training.seeding import seed_everything
from dove_keras.training.split_evaluation import eval_datasets
from dove_keras.training.split_evaluation import evaluate_split

logger = logging.getLogger(__name__)

PRESET_DIR = "preset"


@dataclasses.dataclass
class TrainingResult:
    """What `run_training` produced.

    Attributes:
        model: the trained model, holding the selected (best val mR) weights.
        history: one row per epoch (losses, validation recalls).
        test: the test split's `EvaluationResult` (None when skipped).
        output_dir: the folder of every file written.
    """

    model: keras.Model
    history: pd.DataFrame
    test: object
    output_dir: str


def run_training(config, callbacks=(), verbose=1, evaluate_test=True, overwrite=False):
    """Trains `config`'s model, selects it on validation mR, evaluates the test split.

    A killed run started again with the same config resumes from its last
    backup (every `training.backup_every_n_steps` batches and every epoch) and
    ends with the weights an uninterrupted run would have (exactly so in
    `training.deterministic` mode on TensorFlow): each epoch's data order
    comes from `(seed, epoch)`, and the batches of a partly trained epoch
    are skipped.

    Args:
        config: an `ExperimentConfig` (from `load_config`).
        callbacks: extra Keras callbacks (they see the validation recalls).
        verbose: 0 silent, 1 progress bars and summaries.
        evaluate_test: evaluate the selected model on the test split.
        overwrite: replace a finished run, or a run of another config, in
            `output_dir` (its files are removed once the model is built);
            without it such a folder is refused before anything is written.

    With `config.distribution` set, the model is built and trained on every
    device (see `dove_keras.training.distribution`).

    Returns:
        A `TrainingResult`.

    Raises:
        DistributionError: a distribution this backend or batch size cannot run.
        UsageError: `output_dir` holds a finished run or a run of another config.
        BackupError: the run's backups are all damaged.
    """
    if not overwrite:
        check_run_folder(config)
    with distribution_scope(config.distribution, config.training.batch_size, progress=bool(verbose)):
        return _train(config, callbacks, verbose, evaluate_test, overwrite)


def _train(config, callbacks, verbose, evaluate_test, overwrite):
    seed_everything(config.seed, config.training.deterministic)
    model = factory.build_retriever(config)  # first: an unusable image backbone fails before any file is written
    backup = _start_run_folder(config, overwrite, verbose)
    stages = _stages(config, backup)
    streams = [train_stream(config, *stage) for stage in stages]
    steps = streams[0][1] if streams else 1  # 1: nothing is left to train
    factory.compile_for_training(model, config, steps)
    ResumableBackup.restore(model, backup)
    history = HistoryLogger(os.path.join(config.output_dir, "history.csv"), keep_before_epoch=backup.epoch)
    callback_list = [*_run_callbacks(config, history), *callbacks, ResumableBackup(
        os.path.join(config.output_dir, BACKUP_DIR), config.training.backup_every_n_steps,
        batch_offset=backup.batches_done,
    )]
    for (first, end, skip), (stream, _) in zip(stages, streams):
        if model.stop_training:
            break
        model.fit(
            stream, steps_per_epoch=steps - skip, initial_epoch=first, epochs=end,
            callbacks=callback_list, verbose=verbose, shuffle=False,
        )
    frame = _save_selected_model(config, model, history)
    test = evaluate_split(config, model, config.data.test_split, verbose=verbose) if evaluate_test else None
    return TrainingResult(model, frame, test, config.output_dir)


def _start_run_folder(config, overwrite, verbose):
    """Clears an overwritten run, reads the backup (once), writes the config and input digests.

    Returns:
        The newest usable `Backup` (`Backup()` for a new run).
    """
    output_dir = config.output_dir
    if overwrite:
        remove_run(output_dir)
    backup_dir = os.path.join(output_dir, BACKUP_DIR)
    backup = ResumableBackup.latest(backup_dir)  # a damaged backup fails here, before any write
    os.makedirs(output_dir, exist_ok=True)
    save_config(config, os.path.join(output_dir, CONFIG_FILE))
    record_inputs(config)
    data = config.data
    warning = long_caption_warning(load_manifest(data.prepared_dir), data.train_split, data.sequence_length)
    if verbose and warning:
        logger.warning("%s", warning)
    if verbose and backup.folder:
        logger.info("Resuming from the backup in %s: epoch %d, %d batch(es) done.", backup_dir, backup.epoch + 1,
                    backup.batches_done)
    return backup


def _stages(config, backup):
    """`[(first epoch, end epoch, batches to skip)]` left to train: a partly trained epoch first."""
    epoch, done = backup.position
    stages = [(epoch, epoch + 1, done)] if done else []
    rest = epoch + bool(done)
    return stages + ([(rest, config.training.epochs, 0)] if rest < config.training.epochs else [])


def _run_callbacks(config, history):
    """Validation recalls, the best-weights checkpoint, the CSV history and TensorBoard, in that order."""
    best_so_far = history.frame().get("val_mR", pd.Series(dtype=float)).max()
    val_images, val_captions = eval_datasets(config, config.data.val_split)
    evaluation = config.evaluation
    return [
        RetrievalEvaluation(
            val_images, val_captions, evaluation.every_n_epochs, evaluation.mode, evaluation.chunk_size,
            evaluation.captions_per_image,
        ),
        keras.callbacks.ModelCheckpoint(
            os.path.join(config.output_dir, "best.weights.h5"), monitor="val_mR", mode="max",
            save_best_only=True, save_weights_only=True,
            initial_value_threshold=None if pd.isna(best_so_far) else float(best_so_far),
        ),
        history,
        *tensorboard_callback(config),
    ]


def _save_selected_model(config, model, history):
    """Removes the backups, saves the final weights, selects the best and writes it whole, as a preset and curves.

    Returns:
        The history as a DataFrame.
    """
    output_dir = config.output_dir
    shutil.rmtree(os.path.join(output_dir, BACKUP_DIR), ignore_errors=True)
    model.save_weights(os.path.join(output_dir, "final.weights.h5"))
    best = os.path.join(output_dir, "best.weights.h5")
    if os.path.isfile(best):
        model.load_weights(best)
    model.save(os.path.join(output_dir, "model.keras"))
    save_preset(model, os.path.join(output_dir, PRESET_DIR))
    frame = history.frame()
    plot_training_curves(frame, os.path.join(output_dir, "curves.png"))
    return frame


def run_evaluation(config, model_path, split=None, mode=None, verbose=1, precision=None, output_dir=None,
                   name=None):
    """Evaluates a trained model on a split and writes the results and examples.

    Args:
        config: the `ExperimentConfig` the model was trained with.
        model_path: a preset folder, a saved `.keras` model or a
            `.weights.h5` file of the config's model (`load_retriever`).
        split: the split (default: `data.test_split`).
        mode: "roam" or "global" (default: `evaluation.mode`).
        verbose: 0 silent, 1 progress and summary.
        precision: the dtype policy to evaluate under (default: the model's).
        output_dir: the folder of the result files (default: `config.output_dir`).
        name: the label of the results (default: `config.name`).

    Returns:
        The `EvaluationResult`.
    """
    seed_everything(config.seed, deterministic=False)
    model = load_retriever(model_path, config, precision)
    output_dir = output_dir or config.output_dir
    os.makedirs(output_dir, exist_ok=True)
    return evaluate_split(config, model, split or config.data.test_split, mode, verbose, output_dir, name)


def tensorboard_callback(config):
    """`[TensorBoard]` writing to the run's `tensorboard/` folder, or `[]` when `training.tensorboard` is off."""
    if not config.training.tensorboard:
        return []
    return [keras.callbacks.TensorBoard(os.path.join(config.output_dir, TENSORBOARD_DIR), write_graph=False)]


def train_stream(config, first_epoch, end_epoch, skip=0):
    """Epochs `[first_epoch, end_epoch)` of training batches, the first `skip` left out.

    Returns:
        `(dataset, steps per full epoch)`.
    """
    d = config.data
    epochs = [
        make_train_dataset(
            d.prepared_dir, split=d.train_split, batch_size=config.training.batch_size,
            image_size=d.image_size, seed=epoch_seed(config.seed, epoch), shuffle_buffer=d.shuffle_buffer,
            reshuffle_each_iteration=False,  # one dataset per epoch: its order is (seed, epoch)'s
        )
        for epoch in range(first_epoch, end_epoch)
    ]
    steps = int(epochs[0].cardinality())
    epochs[0] = epochs[0].skip(skip)
    stream = functools.reduce(lambda a, b: a.concatenate(b), epochs)
    return split_batches_between_workers(stream), steps
