"""Backups that let a killed run resume exactly, also from the middle of an epoch."""

import json
import logging
import os
import shutil
import typing

import keras
import numpy as np

from dove_keras.errors import UsageError
from dove_keras.utils.files import atomic_write_json
from dove_keras.utils.weights_files import READ_ERRORS
from dove_keras.utils.weights_files import check_weights_file

logger = logging.getLogger(__name__)

STATE_FILE = "state.json"
WEIGHTS_FILE = "model.weights.h5"
KEPT_BACKUPS = 2  # the newest, and the one before it in case the newest is damaged
_WARNED = set()  # damaged backups already reported by this process


class BackupError(UsageError):
    """No backup of a run can be resumed from."""


class ResumableBackup(keras.callbacks.Callback):
    """Backs up the whole training state every `save_freq` batches and per epoch.

    Keras' `BackupAndRestore` (3.15) restores the weights, the optimizer and
    the epoch, but not the random-generator states (dropout masks) nor the
    position inside the epoch: a run resumed from one of its mid-epoch
    backups trains that epoch's first batches again. This callback saves, in
    one folder per backup (`epochEEEEE-batchBBBBBBB`): the weights with the
    optimizer state (`save_weights`), then, atomically and last, every
    `SeedGenerator` state and the position (epoch, batches done in it) in
    `state.json`; a folder without a readable `state.json` is incomplete.
    The two newest backups are kept: when the newest is damaged (a truncated
    file, or one damaged inside), `latest` says so (once)
    and uses the one before. The runner reads the newest once (`latest`),
    restores it (`restore`), then feeds only the batches not yet trained on
    (`dove_keras.training.runner.run_training`).

    Place it LAST in the callback list, so an epoch counts as done only after
    the callbacks before it (evaluation, checkpoints, logs) ran. A backup is
    not taken after an epoch's last batch: the epoch-end backup follows it.

    Args:
        backup_dir: the folder of the backups.
        save_freq: batches between backups (the epoch end is always backed up).
        batch_offset: batches of the first epoch of the next `fit` trained
            before it (the runner sets it when it resumes mid-epoch).
    """

    def __init__(self, backup_dir, save_freq=200, batch_offset=0):
        super().__init__()
        if not isinstance(save_freq, int) or save_freq < 1:
            raise ValueError(f"save_freq must be a positive number of batches, got {save_freq!r}.")
        self.backup_dir = os.fspath(backup_dir)
        self.save_freq = save_freq
        self.batch_offset = batch_offset
        self._epoch = 0
        self._since_backup = 0

    def on_epoch_begin(self, epoch, logs=None):
        self._epoch = epoch

    def on_train_batch_end(self, batch, logs=None):
        self._since_backup += 1
        last_batch = batch + 1 == self.params.get("steps")
        if self._since_backup >= self.save_freq and not last_batch:
            self._save(self._epoch, self.batch_offset + batch + 1)

    def on_epoch_end(self, epoch, logs=None):
        self.batch_offset = 0
        self._save(epoch + 1, 0)

    def _save(self, epoch, batches_done):
        self._since_backup = 0
        model = self.model
        target = os.path.join(self.backup_dir, f"epoch{epoch:05d}-batch{batches_done:07d}")
        shutil.rmtree(target, ignore_errors=True)
        os.makedirs(target)
        model.save_weights(os.path.join(target, WEIGHTS_FILE))
        state = {
            "epoch": epoch,
            "batches_done": batches_done,
            "seed_generator_states": [keras.ops.convert_to_numpy(v).tolist() for v in _seed_states(model)],
        }
        atomic_write_json(os.path.join(target, STATE_FILE), state)
        for old in _backup_folders(self.backup_dir)[KEPT_BACKUPS:]:
            shutil.rmtree(old, ignore_errors=True)

    @staticmethod
    def latest(backup_dir):
        """The newest usable backup in `backup_dir` (read once per run; `Backup()` if none).

        Raises:
            BackupError: backups exist but none is usable.
        """
        found = _usable_backups(os.fspath(backup_dir))
        if not found:
            return Backup()
        folder, state = found[0]
        return Backup(folder, state["epoch"], state["batches_done"], state["seed_generator_states"])

    @staticmethod
    def restore(model, backup):
        """Loads a `Backup` (from `latest`) into a compiled, built `model`; `Backup()` loads nothing.

        Returns:
            `backup.position`: where training resumes.

        Raises:
            BackupError: the backup cannot be loaded.
        """
        if model.optimizer is not None and not model.optimizer.built:
            model.optimizer.build(model.trainable_variables)
        if backup.folder is not None:
            try:
                _load(model, backup)
            except READ_ERRORS as error:
                problem = f"{backup.folder}: {error}"
                raise BackupError(_no_backup_message(os.path.dirname(backup.folder), [problem])) from None
        return backup.position


class Backup(typing.NamedTuple):
    """One backup of a run: its folder (None: no backup), its position and random-generator states."""

    folder: typing.Optional[str] = None
    epoch: int = 0
    batches_done: int = 0
    seed_generator_states: tuple = ()

    @property
    def position(self):
        """`(epoch, batches_done)`: where training resumes."""
        return self.epoch, self.batches_done


def _load(model, backup):
    model.load_weights(os.path.join(backup.folder, WEIGHTS_FILE))
    seeds = _seed_states(model)
    if len(seeds) != len(backup.seed_generator_states):
        raise ValueError(
            f"{len(backup.seed_generator_states)} random generator states, the model has "
            f"{len(seeds)}; is it the same model?"
        )
    for variable, value in zip(seeds, backup.seed_generator_states):
        variable.assign(np.asarray(value, dtype=variable.dtype))


def _seed_states(model):
    """The `SeedGenerator` state variables of `model` (not in its weights)."""
    weights = {id(v) for v in model.weights}
    return [v for v in model.variables if id(v) not in weights]


def _backup_folders(backup_dir):
    """Backup folders, newest first (their names sort by epoch and batch)."""
    if not os.path.isdir(backup_dir):
        return []
    names = sorted((n for n in os.listdir(backup_dir) if n.startswith("epoch")), reverse=True)
    return [os.path.join(backup_dir, name) for name in names]


def _usable_backups(backup_dir):
    """`[(folder, state)]` of the complete backups, newest first; damaged ones are named.

    Raises:
        BackupError: there are backup folders, and none is complete.
    """
    usable, problems = [], []
    for folder in _backup_folders(backup_dir):
        path = os.path.join(folder, STATE_FILE)
        try:
            with open(path, encoding="utf-8") as f:
                state = json.load(f)
            missing = {"epoch", "batches_done", "seed_generator_states"} - set(state)
            if missing:
                raise KeyError(f"no {', '.join(sorted(missing))}")
            check_weights_file(os.path.join(folder, WEIGHTS_FILE))
        except READ_ERRORS as error:
            problems.append(f"{folder}: {error.__class__.__name__}: {error}")
            continue
        usable.append((folder, state))
    if problems and not usable:
        raise BackupError(_no_backup_message(backup_dir, problems))
    for problem in problems:
        if problem not in _WARNED:
            _WARNED.add(problem)
            logger.warning("skipping a damaged backup (%s)", problem)
    return usable


def _no_backup_message(backup_dir, problems):
    return (
        f"{backup_dir}: no backup can be resumed from ({'; '.join(problems)}). To start the "
        f"run over, delete {backup_dir} (or train with --overwrite)."
    )
