"""Precomputed regions end to end: prepare stores them, pipelines yield them, the model trains on them."""

import os

import keras
import numpy as np
import pytest
from training_fixtures import SPLIT_SIZES
from training_fixtures import make_prepared
from training_fixtures import tiny_config

from dove_keras.data import shards
from dove_keras.data.pipelines import make_eval_datasets
from dove_keras.data.pipelines import make_train_dataset
from dove_keras.training import ConfigError
from dove_keras.training.runner import run_training

REGION_DIM = 6
PRECOMPUTED = {"region_source": "precomputed", "region_dim": REGION_DIM}


@pytest.fixture(scope="module")
def data(tmp_path_factory):
    """A tiny prepared dataset with 2 to 4 region vectors per image, and those vectors."""
    root = tmp_path_factory.mktemp("regions")
    rng = np.random.default_rng(1)
    vectors = {
        f"{split}_{i}.png": rng.standard_normal((2 + i % 3, REGION_DIM)).astype("float32")
        for split, count in SPLIT_SIZES.items() for i in range(count)
    }
    np.savez(root / "regions.npz", **vectors)
    make_prepared(str(root), regions=str(root / "regions.npz"))
    return root, vectors


def _expected(vectors, split, image_ids, count=4):
    """The zero-padded regions and mask of `{split}_{id}.png` for each image id."""
    regions, masks = np.zeros((len(image_ids), count, REGION_DIM), "float32"), np.zeros((len(image_ids), count), bool)
    for row, image_id in enumerate(image_ids):
        real = vectors[f"{split}_{image_id}.png"]
        regions[row, : len(real)], masks[row, : len(real)] = real, True
    return regions, masks


def test_prepare_stores_regions_and_the_pipelines_yield_them(data):
    root, vectors = data
    prepared = str(root / "prepared")
    assert shards.load_manifest(prepared)["regions"] == {"count": 4, "dim": REGION_DIM}
    batch = next(iter(make_train_dataset(prepared, batch_size=4, image_size=64, seed=0).as_numpy_iterator()))
    regions, masks = _expected(vectors, "train", batch["image_ids"])
    np.testing.assert_array_equal(batch["regions"], regions)
    np.testing.assert_array_equal(batch["region_mask"], masks)
    images, _ = make_eval_datasets(prepared, split="val", batch_size=8)
    batch = next(iter(images.as_numpy_iterator()))
    regions, masks = _expected(vectors, "val", batch["image_ids"])
    np.testing.assert_array_equal(batch["regions"], regions)
    np.testing.assert_array_equal(batch["region_mask"], masks)


def test_a_config_with_precomputed_regions_trains_and_uses_them(data, tmp_path):
    root, _ = data
    config = tiny_config(str(root), tmp_path / "run", model=PRECOMPUTED, training={"epochs": 1})
    result = run_training(config, verbose=0)
    assert np.isfinite(result.history["loss"]).all()
    assert 0 <= result.test.metrics["mR"] <= 100
    assert os.path.isfile(tmp_path / "run" / "model.keras")

    model = result.model
    images, _ = make_eval_datasets(config.data.prepared_dir, split="test", batch_size=8)
    batch = model.preprocessor(next(iter(images)))
    stored = model.encode_image(batch["images"], batch["regions"], batch["region_mask"])
    moved = keras.ops.convert_to_numpy(batch["regions"]) + 1.0
    changed = model.encode_image(batch["images"], moved, batch["region_mask"])
    np.testing.assert_allclose(changed["global"], stored["global"], atol=1e-6)  # V_M: the image alone
    assert np.abs(np.asarray(changed["fused"]) - np.asarray(stored["fused"])).max() > 1e-4  # V_MR: its regions


def test_config_refuses_regions_the_prepared_data_does_not_have(data, tmp_path):
    root, _ = data
    with pytest.raises(ConfigError, match=r"model\.region_dim is 5 but the region vectors .* are 6 wide"):
        tiny_config(str(root), tmp_path / "run", model={**PRECOMPUTED, "region_dim": 5})
    plain = tmp_path / "plain"
    make_prepared(str(plain))
    with pytest.raises(ConfigError, match="holds no region vectors: prepare it with `dove-data prepare --regions"):
        tiny_config(str(plain), tmp_path / "run", model=PRECOMPUTED)
    tiny_config(str(plain), tmp_path / "run")  # grid regions need nothing from the data
