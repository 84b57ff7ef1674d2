"""Config-driven training and evaluation runs (what `dove train` / `dove evaluate` call).

Output folder (`config.output_dir`):
    config.yaml            the run's full configuration
    backup/                resumable state while training (removed at the end)
    history.csv            one row per epoch: losses and validation recalls
    best.weights.h5        the weights of the best validation mR
    final.weights.h5       the weights after the last epoch
    model.keras            the selected (best) model, saved whole
    curves.png             losses and validation recalls per epoch
    results_{split}_{mode}.csv / .md   recalls of an evaluation
    examples_{split}.png   retrieval examples (query -> top 5)
"""

import dataclasses
import functools
import os
import shutil

import keras
import numpy as np
import pandas as pd
import tensorflow as tf

from dove_keras.data import shards
from dove_keras.data.pipelines import make_eval_datasets
from dove_keras.data.pipelines import make_train_dataset
from dove_keras.data.tokenizer import CaptionTokenizer
from dove_keras.metrics.evaluation import evaluate_model
from dove_keras.models import DOVE
from dove_keras.models import build_backbone
from dove_keras.training import reports
from dove_keras.training.backup import ResumableBackup
from dove_keras.training.callbacks import HistoryLogger
from dove_keras.training.callbacks import RetrievalEvaluation
from dove_keras.training.config import save_config
from dove_keras.training.distribution import distribution_scope
from dove_keras.training.schedules import step_decay_schedule


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


def build_model(config, vocabulary_size):
    """The built (not compiled) DOVE model of `config`, word embeddings loaded.

    Args:
        config: an `ExperimentConfig`.
        vocabulary_size: 2 + the vocabulary's words.

    Returns:
        The model.

    Raises:
        ValueError: a word embedding matrix of the wrong shape.
    """
    m = config.model
    backbone = m.backbone
    if m.backbone_weights:
        backbone = build_backbone(m.backbone, weights=m.backbone_weights)
    model = DOVE(
        vocabulary_size,
        backbone=backbone,
        embedding_dim=m.embedding_dim,
        word_dim=m.word_dim,
        multiscale_grid=m.multiscale_grid,
        num_regions=m.num_regions,
        iga_key_dim=m.iga_key_dim,
        use_roam=m.use_roam,
        use_dtga=m.use_dtga,
        margin=config.loss.margin,
        hardest_negative=config.loss.hardest_negative,
        lambda_global=config.loss.lambda_global,
        train_backbone=m.train_backbone,
        dropout=m.dropout,
        word_dropout=m.word_dropout,
    )
    side, length = config.data.image_size, config.data.caption_length
    model({"images": np.zeros((1, side, side, 3), "float32"), "token_ids": np.ones((1, length), "int32")})
    if m.word_embeddings:
        matrix = np.load(m.word_embeddings)
        variable = model.text_encoder.word_embedding.embeddings
        if tuple(matrix.shape) != tuple(variable.shape):
            raise ValueError(
                f"{m.word_embeddings}: shape {matrix.shape}, the model's word embedding is "
                f"{tuple(variable.shape)} (vocabulary_size, model.word_dim)."
            )
        variable.assign(matrix.astype("float32"))
    return model


def compile_model(model, config, steps_per_epoch):
    """Compiles with Adam on the protocol's step-decay schedule."""
    o = config.optimizer
    schedule = step_decay_schedule(o.learning_rate, steps_per_epoch, o.decay_rate, o.decay_epochs)
    model.compile(optimizer=keras.optimizers.Adam(schedule, clipnorm=o.clipnorm))
    model.optimizer.build(model.trainable_variables)


def run_training(config, callbacks=(), verbose=1, evaluate_test=True):
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

    With `config.distribution` set, the model is built and trained on every
    device (see `dove_keras.training.distribution`).

    Returns:
        A `TrainingResult`.

    Raises:
        DistributionError: a distribution this backend or batch size cannot run.
    """
    with distribution_scope(config.distribution, config.training.batch_size, verbose=bool(verbose)):
        return _train(config, callbacks, verbose, evaluate_test)


def _train(config, callbacks, verbose, evaluate_test):
    output_dir = config.output_dir
    os.makedirs(output_dir, exist_ok=True)
    seed_everything(config.seed, config.training.deterministic)
    save_config(config, os.path.join(output_dir, "config.yaml"))
    tokenizer = CaptionTokenizer(config.data.vocabulary, config.data.caption_length)
    epochs = config.training.epochs
    backup_dir = os.path.join(output_dir, "backup")
    epoch, done = ResumableBackup.position(backup_dir)
    # Resuming mid-epoch: first the rest of that epoch, then the full ones.
    stages = [(epoch, epoch + 1, done)] if done else []
    stages += [(epoch + bool(done), epochs, 0)] if epoch + bool(done) < epochs else []
    streams = [_train_stream(config, tokenizer, *stage) for stage in stages]
    steps = streams[0][1] if streams else 1  # 1: nothing is left to train

    model = build_model(config, tokenizer.vocabulary_size)
    compile_model(model, config, steps)
    ResumableBackup.restore(model, backup_dir)
    if verbose and (epoch or done):
        print(f"Resuming from the backup in {backup_dir}: epoch {epoch + 1}, {done} batch(es) done.")
    history = HistoryLogger(os.path.join(output_dir, "history.csv"), keep_before_epoch=epoch)
    best_so_far = history.frame().get("val_mR", pd.Series(dtype=float)).max()
    val_images, val_captions = _eval_datasets(config, tokenizer, config.data.val_split)
    callback_list = [
        RetrievalEvaluation(
            val_images, val_captions, config.evaluation.every_n_epochs, config.evaluation.mode,
            config.evaluation.chunk_size, config.evaluation.captions_per_image,
        ),
        keras.callbacks.ModelCheckpoint(
            os.path.join(output_dir, "best.weights.h5"), monitor="val_mR", mode="max",
            save_best_only=True, save_weights_only=True,
            initial_value_threshold=None if pd.isna(best_so_far) else float(best_so_far),
        ),
        history,
        *callbacks,
        ResumableBackup(backup_dir, config.training.backup_every_n_steps, batch_offset=done),
    ]
    for (first, end, skip), (stream, _) in zip(stages, streams):
        if model.stop_training:
            break
        model.fit(
            stream, steps_per_epoch=steps - skip, initial_epoch=first, epochs=end,
            callbacks=callback_list, verbose=verbose, shuffle=False,
        )
    shutil.rmtree(backup_dir, ignore_errors=True)

    model.save_weights(os.path.join(output_dir, "final.weights.h5"))
    best = os.path.join(output_dir, "best.weights.h5")
    if os.path.isfile(best):
        model.load_weights(best)
    model.save(os.path.join(output_dir, "model.keras"))
    frame = history.frame()
    reports.plot_training_curves(frame, os.path.join(output_dir, "curves.png"))
    test = None
    if evaluate_test:
        test = evaluate_split(config, model, tokenizer, config.data.test_split, verbose=verbose)
    return TrainingResult(model, frame, test, output_dir)


def load_trained_model(config, weights):
    """The model of `config` with saved weights.

    Args:
        config: the `ExperimentConfig` the weights were trained with.
        weights: a `.weights.h5` file of that model, or a saved `.keras` model.

    Returns:
        `(model, tokenizer)`: the model and the config's `CaptionTokenizer`.

    Raises:
        ValueError: a missing weights file.
    """
    weights = os.fspath(weights)
    if not os.path.isfile(weights):
        raise ValueError(f"weights file not found: {weights}")
    tokenizer = CaptionTokenizer(config.data.vocabulary, config.data.caption_length)
    if weights.endswith(".keras"):
        return keras.saving.load_model(weights), tokenizer
    model = build_model(config, tokenizer.vocabulary_size)
    model.load_weights(weights)
    return model, tokenizer


def run_evaluation(config, weights, split=None, mode=None, verbose=1):
    """Evaluates saved weights on a split and writes the results and examples.

    Args:
        config: the `ExperimentConfig` the weights were trained with.
        weights: a `.weights.h5` file of that model, or a saved `.keras` model.
        split: the split (default: `data.test_split`).
        mode: "roam" or "global" (default: `evaluation.mode`).
        verbose: 0 silent, 1 progress and summary.

    Returns:
        The `EvaluationResult`.

    Raises:
        ValueError: a missing weights file.
    """
    seed_everything(config.seed, deterministic=False)
    model, tokenizer = load_trained_model(config, weights)
    os.makedirs(config.output_dir, exist_ok=True)
    return evaluate_split(config, model, tokenizer, split or config.data.test_split, mode, verbose)


def evaluate_split(config, model, tokenizer, split, mode=None, verbose=1):
    """Evaluates `model` on `split` and writes the results and the example sheet.

    Files, in `config.output_dir`: `results_{split}_{mode}.csv` and `.md`,
    `examples_{split}.png`.

    Returns:
        The `EvaluationResult`.
    """
    mode = mode or config.evaluation.mode
    images, captions = _eval_datasets(config, tokenizer, split)
    result = evaluate_model(
        model, images, captions, mode=mode, chunk_size=config.evaluation.chunk_size,
        captions_per_image=config.evaluation.captions_per_image, verbose=bool(verbose),
    )
    num_images, num_captions = result.similarity.shape
    row = {
        "experiment": config.name, "split": split, "mode": mode, **result.metrics,
        "images": num_images, "captions": num_captions,
        "encode_s": round(result.timings["encode_images"] + result.timings["encode_captions"], 2),
        "score_s": round(result.timings["score"], 2),
    }
    frame = reports.results_frame([row])
    stem = os.path.join(config.output_dir, f"results_{split}_{mode}")
    csv_path, md_path = reports.write_results(frame, stem)
    shown = reports.example_indices(result.similarity)
    pictures, texts = read_split_examples(config.data.prepared_dir, split, shown)
    sheet = os.path.join(config.output_dir, f"examples_{split}.png")
    reports.retrieval_example_sheet(
        result.similarity, pictures, texts, sheet,
        captions_per_image=config.evaluation.captions_per_image,
    )
    if verbose:
        print(reports.markdown_table(frame))
        print(f"wrote {csv_path}, {md_path}, {sheet}")
    return result


def read_split_examples(prepared_dir, split, image_indices):
    """Raw images (only `image_indices`) and every caption of a prepared split.

    Returns:
        `({index: uint8 (H, W, 3)}, [caption strings in protocol order])`.
    """
    paths, _ = shards.split_shards(prepared_dir, split)
    wanted = set(int(i) for i in image_indices)
    pictures, captions = {}, []
    for index, serialized in enumerate(tf.data.TFRecordDataset(paths)):
        record = shards.parse_example(serialized)
        captions.extend(c.decode("utf-8") for c in record["captions"].numpy())
        if index in wanted:
            pictures[index] = tf.io.decode_png(record["image"], channels=3).numpy()
    return pictures, captions


def seed_everything(seed, deterministic):
    """Seeds Python, NumPy and the backend; optionally deterministic ops."""
    keras.utils.set_random_seed(seed)
    if deterministic:
        tf.config.experimental.enable_op_determinism()
        if keras.backend.backend() == "torch":
            import torch

            torch.use_deterministic_algorithms(True)


def epoch_seed(seed, epoch):
    """The data seed of one epoch: a function of `(seed, epoch)` only."""
    return int(np.random.SeedSequence([seed, epoch]).generate_state(1)[0] >> 1)


def _train_stream(config, tokenizer, first_epoch, end_epoch, skip=0):
    """Epochs `[first_epoch, end_epoch)` of training batches, the first `skip` left out.

    Returns:
        `(dataset, steps per full epoch)`.
    """
    d = config.data
    epochs = [
        make_train_dataset(
            d.prepared_dir, tokenizer, split=d.train_split, batch_size=config.training.batch_size,
            image_size=d.image_size, seed=epoch_seed(config.seed, epoch), shuffle_buffer=d.shuffle_buffer,
            reshuffle_each_iteration=False,  # one dataset per epoch: its order is (seed, epoch)'s
        )
        for epoch in range(first_epoch, end_epoch)
    ]
    steps = int(epochs[0].cardinality())
    epochs[0] = epochs[0].skip(skip)
    return functools.reduce(lambda a, b: a.concatenate(b), epochs), steps


def _eval_datasets(config, tokenizer, split):
    d = config.data
    return make_eval_datasets(
        d.prepared_dir, tokenizer, split=split, batch_size=d.eval_batch_size,
        image_size=d.image_size, captions_per_image=config.evaluation.captions_per_image,
    )
