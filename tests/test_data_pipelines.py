"""tf.data pipelines: raw contract dicts, the preprocessor over them, determinism, eval order, fit."""

import json

import keras
import numpy as np
import pytest
import tensorflow as tf
from keras import ops
from PIL import Image

from dove_keras.data import augmentation
from dove_keras.data import pipelines
from dove_keras.data.prepare import prepare
from dove_keras.models import DOVEImageConverter
from dove_keras.models import DOVEPreprocessor
from dove_keras.models import DOVETokenizer

MEAN, STD = np.array([0.485, 0.456, 0.406]), np.array([0.229, 0.224, 0.225])
WORDS = ["a", "plane", "red", "sea", "tree", "field"]


@pytest.fixture(scope="module")
def prepared(tmp_path_factory):
    """12 square 32 px images (png/tif/jpg), 5 captions each, in 3 shards per split."""
    root = tmp_path_factory.mktemp("pipelines")
    rng = np.random.default_rng(0)
    images, arrays = [], []
    for i in range(12):
        array = rng.integers(0, 256, (32, 32, 3), dtype=np.uint8)
        name = f"{i}.{('png', 'tif', 'jpg')[i % 3]}"
        Image.fromarray(array).save(root / name)
        with Image.open(root / name) as image:
            arrays.append(np.asarray(image.convert("RGB")))
        captions = [f"{WORDS[i % 6]} {WORDS[k]} number {i} {'sea ' * k}" for k in range(5)]
        images.append({"filename": name, "split": "train" if i < 8 else "test",
                       "sentences": [{"raw": c} for c in captions]})
    (root / "dataset_x.json").write_text(json.dumps({"images": images}))
    prepare(root / "dataset_x.json", root, root / "out", shard_size=3, progress=False)
    layer = DOVEPreprocessor(DOVETokenizer(WORDS), DOVEImageConverter(32), sequence_length=6)
    return {"dir": str(root / "out"), "images": images, "arrays": arrays, "preprocessor": layer}


def as_numpy(dataset):
    return [{k: v.numpy() for k, v in batch.items()} for batch in dataset]


def test_train_batches_follow_the_contract(prepared):
    dataset = pipelines.make_train_dataset(prepared["dir"], batch_size=8, image_size=32, seed=0, shuffle_buffer=16)
    assert dataset.cardinality().numpy() == 5  # 40 captions // 8
    raw = as_numpy(dataset)
    assert set(raw[0]) == {"images", "captions", "image_ids"}
    assert raw[0]["images"].min() >= 0 and raw[0]["images"].max() <= 255
    batches = as_numpy(dataset.map(prepared["preprocessor"]))
    assert len(batches) == 5
    seen = []
    for batch in batches:
        assert set(batch) == {"images", "token_ids", "padding_mask", "image_ids"}
        assert batch["images"].shape == (8, 32, 32, 3) and batch["images"].dtype == np.float32
        assert batch["token_ids"].shape == (8, 6) and batch["token_ids"].dtype == np.int32
        assert batch["image_ids"].shape == (8,) and batch["image_ids"].dtype == np.int32
        low, high = (0 - MEAN) / STD, (1 - MEAN) / STD
        assert (batch["images"] >= low - 1e-5).all() and (batch["images"] <= high + 1e-5).all()
        for ids, image_id in zip(batch["token_ids"], batch["image_ids"]):
            captions = [s["raw"] for s in prepared["images"][image_id]["sentences"]]
            own = prepared["preprocessor"].token_ids(tf.constant(captions)).numpy()
            k = next(k for k in range(5) if (own[k] == ids).all())
            seen.append((int(image_id), k))
    assert sorted(seen) == [(i, k) for i in range(8) for k in range(5)]  # every caption once


def test_train_determinism_with_seed(prepared):
    def epochs(seed):
        dataset = pipelines.make_train_dataset(
            prepared["dir"], batch_size=8, image_size=32, seed=seed, shuffle_buffer=16)
        return as_numpy(dataset), as_numpy(dataset)

    def same(a, b):
        return all((x[k] == y[k]).all() for x, y in zip(a, b) for k in x)

    first, again, other = epochs(7), epochs(7), epochs(8)
    assert same(first[0], again[0]) and same(first[1], again[1])
    assert not same(first[0], first[1])  # a new order and augmentation each epoch
    assert not same(first[0], other[0])


def test_pipelines_run_without_the_autotuning_thread(prepared):
    """Its exponential sleep held the end of every loop over a dataset (up to 2x the loop)."""
    train = pipelines.make_train_dataset(prepared["dir"], batch_size=8, image_size=32, seed=0, shuffle_buffer=16)
    for dataset in (train, *pipelines.make_eval_datasets(prepared["dir"], batch_size=3)):
        assert dataset.options().autotune.enabled is False
        assert dataset.map(lambda batch: batch).options().autotune.enabled is False  # kept downstream
    assert tf.data.Dataset.range(3).options().autotune.enabled is not False  # tf.data's default differs


def test_eval_order_and_normalisation(prepared):
    layer = prepared["preprocessor"]
    image_ds, caption_ds = pipelines.make_eval_datasets(prepared["dir"], batch_size=3)
    images = as_numpy(image_ds.map(layer))
    captions = as_numpy(caption_ds.map(layer))
    assert [len(b["image_ids"]) for b in images] == [3, 1]
    assert image_ds.cardinality().numpy() == 2 and caption_ds.cardinality().numpy() == 7
    image_ids = np.concatenate([b["image_ids"] for b in images])
    np.testing.assert_array_equal(image_ids, np.arange(4))
    pixels = np.concatenate([b["images"] for b in images])
    expected = (np.stack(prepared["arrays"][8:]) / 255.0 - MEAN) / STD
    np.testing.assert_allclose(pixels, expected, atol=1e-5)
    caption_ids = np.concatenate([b["image_ids"] for b in captions])
    np.testing.assert_array_equal(caption_ids, np.arange(20) // 5)
    tokens = np.concatenate([b["token_ids"] for b in captions])
    texts = [s["raw"] for image in prepared["images"][8:] for s in image["sentences"]]
    np.testing.assert_array_equal(tokens, layer.token_ids(tf.constant(texts)).numpy())


def test_eval_resize_and_caption_count_check(prepared, tmp_path):
    image_ds, _ = pipelines.make_eval_datasets(prepared["dir"], batch_size=4)
    larger = DOVEPreprocessor(DOVETokenizer(WORDS), DOVEImageConverter(64))
    assert next(iter(image_ds.map(larger)))["images"].shape == (4, 64, 64, 3)
    (tmp_path / "a.png").write_bytes(open(f"{prepared['dir']}/../0.png", "rb").read())
    (tmp_path / "dataset_x.json").write_text(json.dumps({"images": [
        {"filename": "a.png", "split": "test", "sentences": [{"raw": "a"}] * 4}]}))
    prepare(tmp_path / "dataset_x.json", tmp_path, tmp_path / "out", captions_per_image=0, progress=False)
    with pytest.raises(ValueError, match=r"4 captions for 1 images; evaluation needs 5"):
        pipelines.make_eval_datasets(tmp_path / "out")
    with pytest.raises(ValueError, match="fewer than one batch of 100"):
        pipelines.make_train_dataset(prepared["dir"])


def test_augmentation_parts():
    assert [augmentation.train_resize_size(s) for s in (256, 128, 64)] == [278, 139, 70]
    image = np.random.default_rng(0).random((9, 9, 3)).astype(np.float32)
    np.testing.assert_allclose(augmentation.rotate_image(image, 0.0).numpy(), image, atol=1e-6)
    np.testing.assert_allclose(
        augmentation.rotate_image(image, np.pi / 2).numpy(), np.rot90(image), atol=1e-5)
    seed = tf.constant([1, 2])
    out = augmentation.augment_image(tf.constant(image * 255, tf.uint8), seed, 8).numpy()
    again = augmentation.augment_image(tf.constant(image * 255, tf.uint8), seed, 8).numpy()
    other = augmentation.augment_image(tf.constant(image * 255, tf.uint8), seed + 1, 8).numpy()
    assert out.shape == (8, 8, 3)
    np.testing.assert_array_equal(out, again)
    assert not np.array_equal(out, other)


class TinyModel(keras.Model):
    """Consumes the contract dict; the loss lives in compute_loss as in DOVE."""

    def __init__(self, vocabulary_size):
        super().__init__()
        self.image_head = keras.layers.Dense(4)
        self.embedding = keras.layers.Embedding(vocabulary_size, 4)

    def call(self, inputs):
        image = self.image_head(ops.mean(inputs["images"], axis=(1, 2)))
        text = ops.mean(self.embedding(inputs["token_ids"]), axis=1)
        return image, text

    def compute_loss(self, x=None, y=None, y_pred=None, sample_weight=None, training=True):
        image, text = y_pred
        same = ops.cast(ops.equal(x["image_ids"][:, None], x["image_ids"][None, :]), "float32")
        scores = ops.matmul(image, ops.transpose(text))
        return ops.mean(ops.square(scores - same))


def test_dataset_feeds_fit_on_this_backend(prepared):
    layer = prepared["preprocessor"]
    dataset = pipelines.make_train_dataset(prepared["dir"], batch_size=8, image_size=32, seed=0, shuffle_buffer=16)
    dataset = dataset.map(layer)
    model = TinyModel(layer.tokenizer.vocabulary_size())
    model.compile(optimizer=keras.optimizers.Adam(1e-2))
    history = model.fit(dataset, epochs=2, verbose=0, shuffle=False)
    assert len(history.history["loss"]) == 2
    assert np.isfinite(history.history["loss"]).all()
