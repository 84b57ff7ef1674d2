"""Backups that let a killed run resume exactly, also from the middle of an epoch."""

import json
import os
import shutil

import keras
import numpy as np

STATE_FILE = "state.json"
WEIGHTS_FILE = "model.weights.h5"
LATEST = "latest"


class ResumableBackup(keras.callbacks.Callback):
    """Backs up the whole training state every `save_freq` batches and per epoch.

    Keras' `BackupAndRestore` (3.15) restores the weights, the optimizer and
    the epoch, but not the random-generator states (dropout masks) nor the
    position inside the epoch: a run resumed from one of its mid-epoch
    backups trains that epoch's first batches again. This callback saves, in
    one directory per backup switched in atomically: the weights with the
    optimizer state (`save_weights`), every `SeedGenerator` state and the
    position (epoch, batches done in it). `restore` puts the state back and
    returns the position; the runner then feeds only the batches not yet
    trained on (`dove_keras.training.runner.run_training`).

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
        name = f"epoch{epoch:05d}-batch{batches_done:07d}"
        target = os.path.join(self.backup_dir, name)
        shutil.rmtree(target, ignore_errors=True)
        os.makedirs(target)
        model.save_weights(os.path.join(target, WEIGHTS_FILE))
        state = {
            "epoch": epoch,
            "batches_done": batches_done,
            "seed_generator_states": [keras.ops.convert_to_numpy(v).tolist() for v in _seed_states(model)],
        }
        with open(os.path.join(target, STATE_FILE), "w", encoding="utf-8") as f:
            json.dump(state, f)
        _atomic_write(os.path.join(self.backup_dir, LATEST), name)
        for old in os.listdir(self.backup_dir):
            if old not in (name, LATEST) and old.startswith("epoch"):
                shutil.rmtree(os.path.join(self.backup_dir, old), ignore_errors=True)

    @staticmethod
    def position(backup_dir):
        """`(epoch, batches_done)` of the latest backup in `backup_dir`, (0, 0) if none."""
        state = _latest_state(os.fspath(backup_dir))
        return (0, 0) if state is None else (state["epoch"], state["batches_done"])

    @staticmethod
    def restore(model, backup_dir):
        """Loads the latest backup into a compiled, built `model`.

        Returns:
            `(epoch, batches_done)`: where training resumes; (0, 0) and
            nothing loaded when there is no backup.

        Raises:
            ValueError: the backup does not fit the model.
        """
        backup_dir = os.fspath(backup_dir)
        state = _latest_state(backup_dir)
        if state is None:
            return 0, 0
        folder = os.path.join(backup_dir, _read(os.path.join(backup_dir, LATEST)))
        if model.optimizer is not None and not model.optimizer.built:
            model.optimizer.build(model.trainable_variables)
        model.load_weights(os.path.join(folder, WEIGHTS_FILE))
        seeds = _seed_states(model)
        if len(seeds) != len(state["seed_generator_states"]):
            raise ValueError(
                f"{folder}: {len(state['seed_generator_states'])} random generator states, "
                f"the model has {len(seeds)}; is it the same model?"
            )
        for variable, value in zip(seeds, state["seed_generator_states"]):
            variable.assign(np.asarray(value, dtype=variable.dtype))
        return state["epoch"], state["batches_done"]


def _seed_states(model):
    """The `SeedGenerator` state variables of `model` (not in its weights)."""
    weights = {id(v) for v in model.weights}
    return [v for v in model.variables if id(v) not in weights]


def _latest_state(backup_dir):
    pointer = os.path.join(backup_dir, LATEST)
    if not os.path.isfile(pointer):
        return None
    path = os.path.join(backup_dir, _read(pointer), STATE_FILE)
    try:
        with open(path, encoding="utf-8") as f:
            return json.load(f)
    except (OSError, ValueError) as error:
        raise ValueError(f"{path}: unreadable backup state ({error}).") from None


def _read(path):
    with open(path, encoding="utf-8") as f:
        return f.read().strip()


def _atomic_write(path, text):
    tmp = f"{path}.tmp"
    with open(tmp, "w", encoding="utf-8") as f:
        f.write(text)
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, path)
