"""Synthetic dataset folders: precomp layout, caching and atomic writes."""

import json
import os

import numpy as np
import pytest
from PIL import Image

from dove_keras.datasets.synthetic import generate_dataset
from dove_keras.datasets.synthetic import generate_example
from dove_keras.datasets.synthetic import writer

pytestmark = pytest.mark.backend_independent

ARGS = dict(num_images=10, image_size=32, seed=1, split_fractions=(0.6, 0.2, 0.2), progress=False)


def _lines(path):
    return path.read_text(encoding="utf-8").splitlines()


@pytest.fixture(scope="module")
def dataset(tmp_path_factory):
    return generate_dataset(tmp_path_factory.mktemp("synth") / "data", **ARGS)


def test_precomp_files_have_the_benchmark_layout(dataset):
    train, val, test = 6, 2, 2
    assert len(_lines(dataset / "train_caps.txt")) == 5 * train
    assert len(_lines(dataset / "train_filename.txt")) == train
    assert len(_lines(dataset / "val_caps_verify.txt")) == 5 * val
    assert len(_lines(dataset / "val_filename_verify.txt")) == 5 * val
    assert len(_lines(dataset / "test_caps.txt")) == 5 * test
    assert len(_lines(dataset / "test_filename.txt")) == 5 * test
    names = sorted(p.name for p in (dataset / "images").iterdir())
    assert names == [f"{i:05d}.png" for i in range(10)]
    assert _lines(dataset / "train_filename.txt") == names[:6]
    assert _lines(dataset / "test_filename.txt") == [n for n in names[8:] for _ in range(5)]
    assert not list(dataset.parent.glob(".*partial"))


def test_files_match_the_generator(dataset):
    scenes = json.loads((dataset / "scenes.json").read_text())["images"]
    captions = _lines(dataset / "train_caps.txt") + _lines(dataset / "val_caps_verify.txt") \
        + _lines(dataset / "test_caps.txt")
    for index in (0, 7, 9):
        scene, caps = generate_example(seed=1, index=index, image_size=32)
        image = np.asarray(Image.open(dataset / "images" / f"{index:05d}.png"))
        np.testing.assert_array_equal(image, scene.image)
        assert captions[5 * index:5 * index + 5] == caps == scenes[index]["captions"]
        assert scenes[index]["objects"] == scene.objects
    assert [s["split"] for s in scenes] == ["train"] * 6 + ["val"] * 2 + ["test"] * 2


def test_readers_accept_the_folder(dataset):
    if os.environ.get("KERAS_BACKEND", "tensorflow") != "tensorflow":
        pytest.skip("backend-independent; run once, with the tensorflow backend")
    readers = pytest.importorskip("dove_keras.data.readers")  # imports tensorflow
    records = readers.read_precomp(str(dataset))
    assert {split: len(r) for split, r in records.items()} == {"train": 6, "val": 2, "test": 2}
    assert records["test"][1].filename == "00009.png"
    assert len(records["val"][0].captions) == 5


def test_same_arguments_reuse_the_folder(dataset, monkeypatch):
    before = {p: p.stat().st_mtime_ns for p in dataset.rglob("*")}

    def fail(*args, **kwargs):
        raise AssertionError("regenerated")

    monkeypatch.setattr(writer, "_write", fail)
    assert generate_dataset(dataset, **ARGS) == dataset
    assert {p: p.stat().st_mtime_ns for p in dataset.rglob("*")} == before


def test_same_seed_same_bytes_other_arguments_regenerate(tmp_path, dataset):
    copy = generate_dataset(tmp_path / "copy", **ARGS)
    for name in ("train_caps.txt", "test_filename.txt", "scenes.json", "images/00003.png"):
        assert (copy / name).read_bytes() == (dataset / name).read_bytes()
    other = generate_dataset(copy, **{**ARGS, "seed": 2, "num_images": 5})
    assert len(list((other / "images").iterdir())) == 5
    assert (other / "train_caps.txt").read_bytes() != (dataset / "train_caps.txt").read_bytes()


def test_interrupted_run_leaves_no_complete_looking_folder(tmp_path, monkeypatch):
    calls = []
    real = writer.generate_example

    def flaky(seed, index, image_size):
        calls.append(index)
        if index == 3:
            raise KeyboardInterrupt
        return real(seed, index, image_size)

    monkeypatch.setattr(writer, "generate_example", flaky)
    with pytest.raises(KeyboardInterrupt):
        generate_dataset(tmp_path / "data", **ARGS)
    assert not (tmp_path / "data").exists()
    monkeypatch.setattr(writer, "generate_example", real)
    out = generate_dataset(tmp_path / "data", **ARGS)
    assert writer.is_complete(out, json.loads((out / writer.MANIFEST).read_text())["settings"])
    assert not (tmp_path / ".data.partial").exists()


def test_incomplete_folder_is_regenerated(tmp_path, dataset):
    out = generate_dataset(tmp_path / "data", **ARGS)
    (out / "images" / "00004.png").unlink()
    generate_dataset(out, **ARGS)
    image = (out / "images" / "00004.png").read_bytes()
    assert image == (dataset / "images" / "00004.png").read_bytes()


def test_refuses_a_foreign_folder(tmp_path):
    (tmp_path / "mine").mkdir()
    (tmp_path / "mine" / "notes.txt").write_text("keep me")
    with pytest.raises(ValueError, match="not a synthetic dataset"):
        generate_dataset(tmp_path / "mine", **ARGS)
    assert (tmp_path / "mine" / "notes.txt").read_text() == "keep me"


@pytest.mark.parametrize("bad", [
    dict(num_images=0), dict(split_fractions=(0.5, 0.2, 0.2)), dict(split_fractions=(0.9, 0.1)),
    dict(num_images=2, split_fractions=(0.4, 0.3, 0.3)), dict(seed=-1), dict(image_size=8),
])
def test_bad_arguments_are_clear_errors(tmp_path, bad):
    with pytest.raises(ValueError):
        generate_dataset(tmp_path / "data", **{**ARGS, **bad})
    assert not (tmp_path / "data").exists()


def test_split_counts():
    assert writer.split_counts(3000, (0.8, 0.1, 0.1)) == (2400, 300, 300)
    assert writer.split_counts(7, (0.8, 0.1, 0.1)) == (5, 1, 1)
    assert writer.split_counts(4, (1.0, 0.0, 0.0)) == (4, 0, 0)
