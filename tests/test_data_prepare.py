"""`dove-data prepare`: lossless round trip of real pairs, resumable byte-identical shards."""

import io
import json
import os

import numpy as np
import pytest
import tensorflow as tf
from PIL import Image

from data_tools.cli import main
from dove_keras.data import prepare as prepare_module
from dove_keras.data import readers
from dove_keras.data import shards
from dove_keras.data.prepare import prepare

pytestmark = pytest.mark.backend_independent


def read_records(folder, split):
    paths, _ = shards.split_shards(folder, split)
    out = []
    for serialized in tf.data.TFRecordDataset(paths).as_numpy_iterator():
        feature = tf.train.Example.FromString(serialized).features.feature
        out.append({
            "image": np.asarray(Image.open(io.BytesIO(feature["image"].bytes_list.value[0]))),
            "filename": feature["filename"].bytes_list.value[0].decode(),
            "captions": [c.decode() for c in feature["captions"].bytes_list.value],
            "image_id": feature["image_id"].int64_list.value[0],
            "size": (feature["height"].int64_list.value[0], feature["width"].int64_list.value[0]),
        })
    return out


def write_karpathy(path, images):
    """images: list of (filename, split, captions)."""
    path.write_text(json.dumps({"images": [
        {"filename": f, "split": s, "sentences": [{"raw": c} for c in caps]}
        for f, s, caps in images]}))
    return path


def make_images(folder, count, seed=0):
    """Small random images in the three formats of the benchmarks."""
    rng = np.random.default_rng(seed)
    folder.mkdir(parents=True, exist_ok=True)
    names = []
    for i in range(count):
        name = f"img_{i}.{('png', 'tif', 'jpg')[i % 3]}"
        Image.fromarray(rng.integers(0, 256, (20 + i, 24, 3), dtype=np.uint8)).save(folder / name)
        names.append(name)
    return names


def test_real_pairs_round_trip_pixel_identical(shared_data, tmp_path):
    root = shared_data / "real_pairs"
    pairs = json.loads((root / "captions.json").read_text())["images"]
    assert len(pairs) == 40
    source = write_karpathy(tmp_path / "dataset_real.json",
                            [(p["path"], "train", p["sentences"]) for p in pairs])
    manifest = prepare(source, root, tmp_path / "out", shard_size=16, progress=False)
    entry = manifest["splits"]["train"]
    assert (entry["images"], entry["captions"], len(entry["shards"])) == (40, 200, 3)
    assert entry["image_sizes"] == {"224x224": 15, "256x256": 11, "384x384": 5, "500x500": 9}
    records = read_records(tmp_path / "out", "train")
    assert [r["image_id"] for r in records] == list(range(40))
    for pair, record in zip(pairs, records):
        with Image.open(root / pair["path"]) as image:
            expected = np.asarray(image.convert("RGB"))
        assert record["filename"] == pair["path"]
        assert record["captions"] == pair["sentences"]
        assert record["size"] == (pair["height"], pair["width"])
        np.testing.assert_array_equal(record["image"], expected)


def test_interrupted_prepare_resumes_to_identical_bytes(tmp_path, monkeypatch):
    names = make_images(tmp_path / "images", 10)
    source = write_karpathy(tmp_path / "dataset_x.json",
                            [(n, "train", [f"a caption {i}"] * 5) for i, n in enumerate(names)])
    kwargs = dict(shard_size=3, progress=False)
    prepare(source, tmp_path / "images", tmp_path / "full", **kwargs)

    calls = []
    load_image = prepare_module.load_image

    def interrupt_in_second_shard(path):
        calls.append(path)
        if len(calls) == 5:
            raise KeyboardInterrupt
        return load_image(path)

    monkeypatch.setattr(prepare_module, "load_image", interrupt_in_second_shard)
    with pytest.raises(KeyboardInterrupt):
        prepare(source, tmp_path / "images", tmp_path / "resumed", **kwargs)
    left = sorted(os.listdir(tmp_path / "resumed"))
    assert left == [".prepare-plan.json", "train-00000-of-00004.tfrecord"]
    # A hard kill would leave a partial temporary file behind.
    (tmp_path / "resumed" / "train-00001-of-00004.tfrecord.tmp").write_bytes(b"partial")

    calls.clear()
    monkeypatch.setattr(prepare_module, "load_image",
                        lambda path: calls.append(path) or load_image(path))
    prepare(source, tmp_path / "images", tmp_path / "resumed", **kwargs)
    assert len(calls) == 7  # the completed first shard was kept
    full, resumed = sorted(os.listdir(tmp_path / "full")), sorted(os.listdir(tmp_path / "resumed"))
    assert full == resumed and len(full) == 6
    for name in full:
        assert (tmp_path / "full" / name).read_bytes() == (tmp_path / "resumed" / name).read_bytes()


def test_different_plan_needs_overwrite(tmp_path):
    names = make_images(tmp_path / "images", 4)
    source = write_karpathy(tmp_path / "dataset_x.json", [(n, "test", ["x"] * 5) for n in names])
    prepare(source, tmp_path / "images", tmp_path / "out", shard_size=2, progress=False)
    with pytest.raises(ValueError, match=r"different prepare run \(changed: shard_size\)"):
        prepare(source, tmp_path / "images", tmp_path / "out", shard_size=3, progress=False)
    prepare(source, tmp_path / "images", tmp_path / "out", shard_size=3, overwrite=True,
            progress=False)
    assert sorted(n for n in os.listdir(tmp_path / "out") if n.endswith(".tfrecord")) == [
        "test-00000-of-00002.tfrecord", "test-00001-of-00002.tfrecord"]


def test_empty_captions_error_or_drop(tmp_path):
    names = make_images(tmp_path / "images", 3)
    source = write_karpathy(tmp_path / "dataset_x.json", [
        (names[0], "train", ["ok", "...", "fine"]),
        (names[1], "train", ["", " ? "]),
        (names[2], "train", ["good"]),
    ])
    with pytest.raises(readers.DataFormatError, match=r"(?s)3 caption\(s\) are empty.*"
                       r"image 0 \(img_0\.png\) caption 2: '\.\.\.'.*"
                       r"image 1 \(img_1\.tif\) caption 1"):
        prepare(source, tmp_path / "images", tmp_path / "a", progress=False)
    manifest = prepare(source, tmp_path / "images", tmp_path / "b", empty_captions="drop",
                       progress=False)
    assert manifest["splits"]["train"]["dropped_empty_captions"] == 3
    records = read_records(tmp_path / "b", "train")
    assert [(r["filename"], r["captions"], r["image_id"]) for r in records] == [
        (names[0], ["ok", "fine"], 0), (names[2], ["good"], 1)]


def test_missing_images_are_listed_before_writing(tmp_path):
    names = make_images(tmp_path / "images", 2)
    source = write_karpathy(tmp_path / "dataset_x.json", [
        (n, "train", ["x"]) for n in names + ["gone_1.tif", "gone_2.jpg"]])
    with pytest.raises(readers.DataFormatError,
                       match=r"(?s)2 problem.*gone_1\.tif not found.*gone_2"):
        prepare(source, tmp_path / "images", tmp_path / "out", progress=False)
    assert not (tmp_path / "out").exists()


def test_cli_prepare_precomp(tmp_path, capsys):
    names = make_images(tmp_path / "images", 3)
    folder = tmp_path / "precomp"
    folder.mkdir()
    (folder / "test_caps.txt").write_text("".join(f"caption {i}\n" for i in range(15)))
    (folder / "test_filename.txt").write_text("".join(f"{n}\n" * 5 for n in names))
    assert main(["prepare", str(folder), "--images", str(tmp_path / "images"),
                 "--output", str(tmp_path / "out"), "--shard-size", "2"]) == 0
    assert "test: 3 images, 15 captions, 2 shard(s)" in capsys.readouterr().out
    manifest = shards.load_manifest(tmp_path / "out")
    assert manifest["source_format"] == "precomp"
    assert [r["captions"][0] for r in read_records(tmp_path / "out", "test")] == [
        "caption 0", "caption 5", "caption 10"]
    assert main(["prepare", str(folder), "--images", str(tmp_path / "nowhere"),
                 "--output", str(tmp_path / "out2")]) == 2  # a missing source folder is a usage error
    assert "nowhere" in capsys.readouterr().err and not (tmp_path / "out2").exists()
