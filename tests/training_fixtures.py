"""A tiny prepared dataset and experiment config for the training tests."""

import os

import keras
import numpy as np
from keras import ops
from PIL import Image

from dove_keras.data.prepare import prepare
from dove_keras.data.vocabulary import build_vocabulary
from dove_keras.models import triplet_loss
from dove_keras.models.retrieval_task import RetrievalTask
from dove_keras.preprocessing.captions import write_vocabulary
from dove_keras.training import config_from_dict
from dove_keras.training.factory import build_preprocessor

COLOURS = {
    "red": (200, 30, 30), "green": (30, 160, 40), "blue": (30, 60, 200),
    "yellow": (220, 210, 40), "grey": (120, 120, 120), "white": (240, 240, 240),
}
SPLIT_SIZES = {"train": 4, "val": 3, "test": 2}


def make_prepared(root, side=40, seed=0, regions=None):
    """Coloured-square scenes with 5 captions each, prepared into shards.

    Images are named `{split}_{i}.png`; `regions` is an optional `.npz` of
    precomputed region vectors per image name (`dove-data prepare --regions`).

    Returns:
        (prepared folder, vocabulary file).
    """
    rng = np.random.default_rng(seed)
    raw, images = os.path.join(root, "raw"), os.path.join(root, "images")
    os.makedirs(raw)
    os.makedirs(images)
    for split, count in SPLIT_SIZES.items():
        captions, files = [], []
        for i in range(count):
            colour, ground = rng.choice(list(COLOURS), 2, replace=False)
            pixels = np.empty((side, side, 3), np.uint8)
            pixels[:] = COLOURS[ground]
            pixels[side // 4 : 3 * side // 4, side // 4 : 3 * side // 4] = COLOURS[colour]
            files.append(f"{split}_{i}.png")
            Image.fromarray(pixels).save(os.path.join(images, files[-1]))
            captions += [
                f"a {colour} square on {ground} ground", f"the {colour} square is on the {ground}",
                f"{ground} ground with a {colour} square", f"one {colour} square",
                f"{colour} square and {ground}",
            ]
        with open(os.path.join(raw, f"{split}_caps.txt"), "w") as f:
            f.write("\n".join(captions) + "\n")
        with open(os.path.join(raw, f"{split}_filename.txt"), "w") as f:
            f.write("\n".join(files) + "\n")
    prepared = os.path.join(root, "prepared")
    prepare(raw, images, prepared, regions=regions, progress=False)
    vocabulary = os.path.join(root, "vocab.txt")
    with open(os.path.join(raw, "train_caps.txt")) as f:
        write_vocabulary(build_vocabulary(f.read().splitlines()), vocabulary)
    return prepared, vocabulary


def tiny_config(data_root, output_dir, **sections):
    """A CPU-second DOVE experiment on `make_prepared(data_root)` data.

    Args:
        data_root: the folder given to `make_prepared`.
        output_dir: the run's output folder.
        **sections: section name -> dict of overrides.
    """
    raw = {
        "name": "tiny", "seed": 3, "output_dir": str(output_dir),
        "data": {
            "prepared_dir": os.path.join(data_root, "prepared"),
            "vocabulary": os.path.join(data_root, "vocab.txt"),
            "image_size": 64, "sequence_length": 8, "shuffle_buffer": 32, "eval_batch_size": 4,
        },
        "model": {
            "image_backbone": "tiny", "embedding_dim": 16, "word_dim": 8, "multiscale_grid": 2,
            "iga_key_dim": 4, "train_image_backbone": True,
        },
        "initialization": {},
        "loss": {},
        "optimizer": {"learning_rate": 3e-3},
        "training": {"epochs": 2, "batch_size": 4, "backup_every_n_steps": 2},
        "evaluation": {},
    }
    for name, values in sections.items():
        raw[name].update(values)
    return config_from_dict(raw)


@keras.saving.register_keras_serializable(package="dove_keras_tests")
class StandInRetrieval(RetrievalTask):
    """A task with DOVE's training and evaluation API that compiles in a second.

    It has what resumption must restore: weights, batch-norm statistics,
    optimizer slots and a dropout random generator; like `DOVERetriever`,
    `fit` maps its preprocessor over the raw batches.
    """

    def __init__(self, vocabulary_size, preprocessor=None, dim=8, **kwargs):
        super().__init__(compile=False, **kwargs)
        self.preprocessor = preprocessor
        self.vocabulary_size, self.dim = vocabulary_size, dim
        self.image_head = keras.layers.Dense(dim)
        self.image_norm = keras.layers.BatchNormalization()
        self.words = keras.layers.Embedding(vocabulary_size, dim)
        self.dropout = keras.layers.Dropout(0.3)

    def _image(self, images, training):
        features = self.image_norm(self.image_head(ops.mean(images, axis=(1, 2))), training=training)
        return self.dropout(features, training=training)

    def _text(self, token_ids, training):
        return self.dropout(ops.mean(self.words(token_ids), axis=1), training=training)

    def call(self, inputs, training=None):
        images = ops.normalize(self._image(inputs["images"], training), axis=-1)
        texts = ops.normalize(self._text(inputs["token_ids"], training), axis=-1)
        return ops.matmul(images, ops.transpose(texts))

    def compute_loss(self, x=None, y=None, y_pred=None, sample_weight=None, training=True):
        return triplet_loss(y_pred, x["image_ids"])

    def encode_image(self, images, regions=None, region_mask=None):
        return {"global": self._image(ops.convert_to_tensor(images, "float32"), False)}

    def encode_text(self, token_ids):
        return {"global": self._text(ops.convert_to_tensor(token_ids, "int32"), False)}

    def global_score(self, image_features, text_features):
        images, texts = (f["global"] / np.linalg.norm(f["global"], axis=1, keepdims=True)
                         for f in (image_features, text_features))
        return (images @ texts.T).astype("float32")

    def score(self, image_features, text_features, chunk_size=128, progress=False):
        return self.global_score(image_features, text_features)

    def save_to_preset(self, preset_dir):
        self.save_weights(f"{preset_dir}/model.weights.h5")

    def get_config(self):
        return {
            "name": self.name, "vocabulary_size": self.vocabulary_size, "dim": self.dim,
            "preprocessor": keras.layers.serialize(self.preprocessor),
        }

    @classmethod
    def from_config(cls, config):
        return cls(**{**config, "preprocessor": keras.layers.deserialize(config["preprocessor"])})


def build_stand_in(config):
    """A drop-in for `dove_keras.training.factory.build_retriever`."""
    preprocessor = build_preprocessor(config)
    model = StandInRetrieval(preprocessor.tokenizer.vocabulary_size(), preprocessor)
    side, length = config.data.image_size, config.data.sequence_length
    model({"images": np.zeros((1, side, side, 3), "float32"), "token_ids": np.ones((1, length), "int32")})
    return model


class Killed(Exception):
    """Raised by `KillBeforeBatch`: a run killed mid-epoch."""


class KillBeforeBatch(keras.callbacks.Callback):
    """Raises `Killed` before training batch number `count` (0-based, over the whole run)."""

    def __init__(self, count):
        super().__init__()
        self.count, self.seen = count, 0

    def on_train_batch_begin(self, batch, logs=None):
        if self.seen == self.count:
            raise Killed
        self.seen += 1


class StepLosses(keras.callbacks.Callback):
    """Keras' running loss mean after every batch (`means`), and each step's own loss from it (`losses()`)."""

    def __init__(self):
        super().__init__()
        self.means = []

    def on_train_batch_end(self, batch, logs=None):
        self.means.append(float(logs["loss"]))

    def losses(self):
        sums = np.arange(1, len(self.means) + 1) * np.array(self.means)
        return np.diff(sums, prepend=0.0)
