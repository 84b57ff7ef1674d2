"""RetrievalEvaluation writes val_mR before ModelCheckpoint / EarlyStopping read it."""

import keras
import numpy as np
import pytest
import tensorflow as tf
from keras import ops

from dove_keras.evaluation import evaluate_model
from dove_keras.training import RetrievalEvaluation

RECALL_KEYS = ["val_i2t_r1", "val_i2t_r5", "val_i2t_r10", "val_t2i_r1", "val_t2i_r5", "val_t2i_r10", "val_mR"]


class ProjectionScorer(keras.Model):
    """A trainable stand-in with DOVE's evaluation API (scores move as it trains)."""

    def __init__(self):
        super().__init__()
        self.projection = keras.layers.Dense(4)

    def call(self, images):
        return self.projection(images)

    def encode_image(self, images, regions=None, region_mask=None):
        return {"global": self.projection(ops.convert_to_tensor(images))}

    def encode_text(self, token_ids):
        return {"global": ops.convert_to_tensor(token_ids, "float32")}

    def global_score(self, image_features, text_features):
        return image_features["global"] @ text_features["global"].T

    def score(self, image_features, text_features, chunk_size=128, progress=False):
        return self.global_score(image_features, text_features)


class LogRecorder(keras.callbacks.Callback):
    def __init__(self):
        super().__init__()
        self.seen = []

    def on_epoch_end(self, epoch, logs=None):
        self.seen.append(sorted(k for k in logs if k.startswith("val_")))


def _problem(num_images=12, seed=0):
    rng = np.random.default_rng(seed)
    images = rng.normal(size=(num_images, 6)).astype("float32")
    captions = np.repeat(images @ rng.normal(size=(6, 4)), 5, axis=0)
    captions += 0.3 * rng.normal(size=captions.shape)
    train = tf.data.Dataset.from_tensor_slices((np.repeat(images, 5, axis=0), captions.astype("float32")))
    image_ds = tf.data.Dataset.from_tensor_slices({"images": images}).batch(5)
    caption_ds = tf.data.Dataset.from_tensor_slices({"token_ids": captions.astype("float32")}).batch(16)
    return train.batch(20), image_ds, caption_ds


def test_val_mr_drives_model_checkpoint_and_early_stopping(tmp_path):
    keras.utils.set_random_seed(1)
    train, image_ds, caption_ds = _problem()
    model = ProjectionScorer()
    model.compile(optimizer=keras.optimizers.SGD(0.05), loss="mse")
    before, after = LogRecorder(), LogRecorder()
    checkpoint = keras.callbacks.ModelCheckpoint(
        str(tmp_path / "best.weights.h5"), monitor="val_mR", mode="max",
        save_best_only=True, save_weights_only=True,
    )
    stopping = keras.callbacks.EarlyStopping(monitor="val_mR", mode="max", patience=100)
    evaluation = RetrievalEvaluation(image_ds, caption_ds, mode="global")
    history = model.fit(
        train, epochs=5, verbose=0, shuffle=False, callbacks=[before, evaluation, after, checkpoint, stopping]
    )
    assert before.seen == [[]] * 5  # placed before: it cannot see the recalls
    assert after.seen == [sorted(RECALL_KEYS)] * 5
    curve = history.history["val_mR"]
    assert len(curve) == 5 and len(set(curve)) > 1  # the scores moved
    # The last logged value is a direct evaluation of the final weights.
    final = evaluate_model(model, image_ds, caption_ds, mode="global")
    assert curve[-1] == pytest.approx(final.metrics["mR"])
    assert evaluation.last_result.metrics == pytest.approx(final.metrics)
    assert history.history["val_t2i_r5"][-1] == pytest.approx(final.metrics["t2i_r5"])
    # ModelCheckpoint and EarlyStopping tracked the best val_mR; the saved
    # weights give it back.
    assert checkpoint.best == pytest.approx(max(curve)) == pytest.approx(stopping.best)
    model.load_weights(tmp_path / "best.weights.h5")
    best = evaluate_model(model, image_ds, caption_ds, mode="global")
    assert best.metrics["mR"] == pytest.approx(max(curve))


def test_every_n_epochs_and_arguments():
    train, image_ds, caption_ds = _problem(num_images=4)
    model = ProjectionScorer()
    model.compile(optimizer="sgd", loss="mse")
    recorder = LogRecorder()
    model.fit(
        train, epochs=4, verbose=0, shuffle=False,
        callbacks=[RetrievalEvaluation(image_ds, caption_ds, every_n_epochs=2, prefix="dev_"), recorder],
    )
    assert [bool(keys) for keys in recorder.seen] == [False] * 4  # prefix dev_, not val_
    recorder = LogRecorder()
    evaluation = RetrievalEvaluation(image_ds, caption_ds, every_n_epochs=2)
    model.fit(train, epochs=4, verbose=0, shuffle=False, callbacks=[evaluation, recorder])
    assert [bool(keys) for keys in recorder.seen] == [False, True, False, True]
    with pytest.raises(ValueError, match="every_n_epochs"):
        RetrievalEvaluation(image_ds, caption_ds, every_n_epochs=0)
    with pytest.raises(ValueError, match="mode"):
        RetrievalEvaluation(image_ds, caption_ds, mode="fast")
