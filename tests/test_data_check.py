"""`dove-data check`: every bad input is listed, all in one run, with file and line."""

import json
import re

import numpy as np
import pytest
from PIL import Image

from data_tools.check import check_prepared
from data_tools.check import check_source
from data_tools.cli import main
from dove_keras.data.prepare import prepare

pytestmark = pytest.mark.backend_independent


def good_image(path, seed=0):
    rng = np.random.default_rng(seed)
    Image.fromarray(rng.integers(0, 256, (16, 16, 3), dtype=np.uint8)).save(path)


@pytest.fixture
def bad_precomp(tmp_path):
    """A precomp folder + images with one of every problem."""
    images = tmp_path / "images"
    images.mkdir()
    for i, name in enumerate(["ok.png", "ok2.tif"]):
        good_image(images / name, i)
    jpeg = images / "truncated.jpg"
    good_image(jpeg)
    jpeg.write_bytes(jpeg.read_bytes()[:-40])
    Image.fromarray(np.zeros((8, 8, 3), np.uint8)).save(images / "cut.png")
    (images / "cut.png").write_bytes((images / "cut.png").read_bytes()[:30])
    (images / "garbage.tif").write_bytes(b"not an image at all")
    folder = tmp_path / "precomp"
    folder.mkdir()
    train = ["ok.png", "missing.tif", "truncated.jpg", "ok.png"]
    caps = [f"a good caption {i}" for i in range(20)]
    caps[7] = ""  # image 1 caption 3: empty line
    caps[13] = "?!"  # image 2 caption 4: empty after normalisation
    caps[16] = "caf\udcff"  # placeholder for the non-UTF-8 byte, line 17
    data = "".join(c + "\n" for c in caps).encode("utf-8", "surrogateescape")
    (folder / "train_caps.txt").write_bytes(data)
    (folder / "train_filename.txt").write_text("".join(n + "\n" for n in train))
    (folder / "val_caps.txt").write_text("a plane\n" * 15)
    (folder / "val_filename.txt").write_text("cut.png\ngarbage.tif\nok.png\n")
    (folder / "test_caps.txt").write_text("a plane\n" * 10)
    (folder / "test_filename.txt").write_text("ok2.tif\n" * 5 + "ok.png\n" * 5 + "ok.png\n")
    return folder, images


def test_raw_check_lists_every_problem(bad_precomp):
    folder, images = bad_precomp
    problems = check_source(folder, images, progress=False)
    text = "\n".join(problems)
    expected = [
        r"train_caps\.txt:17: not valid UTF-8 \(byte 0xff at column 4\)",
        r"test_filename\.txt: 11 lines, expected 2 \(one per image\) or 10 \(one per caption\)",
        r"train_caps\.txt:8: train image 1 \(missing\.tif\) caption 3 is empty$",
        r"train_caps\.txt:14: train image 2 \(truncated\.jpg\) caption 4 is empty after "
        r"normalisation: '\?!'",
        r"duplicate filename ok\.png in train \(images 0, 3\)",
        r"ok\.png is in both train and val",
        r"missing\.tif: image file not found",
        r"truncated\.jpg: unreadable image",
        r"cut\.png: unreadable image",
        r"garbage\.tif: unreadable image",
    ]
    for pattern in expected:
        assert any(re.search(pattern, p) for p in problems), (pattern, text)
    assert len(problems) == len(expected), text


def test_caption_count_check_for_json(tmp_path):
    good_image(tmp_path / "a.png")
    good_image(tmp_path / "b.png")
    path = tmp_path / "dataset_x.json"
    path.write_text(json.dumps({"images": [
        {"filename": "a.png", "split": "test", "sentences": [{"raw": "x"}] * 5},
        {"filename": "b.png", "split": "test", "sentences": [{"raw": "x"}] * 4}]}))
    problems = check_source(path, tmp_path, progress=False)
    assert len(problems) == 1 and "test image 1 (b.png) has 4 captions, expected 5" in problems[0]
    assert check_source(path, tmp_path, captions_per_image=0, progress=False) == []


def test_non_utf8_json_and_invalid_json(tmp_path):
    path = tmp_path / "dataset_x.json"
    path.write_bytes(b'{"images": [\n{"filename": "a.png", "split": "test",\n'
                     b'"sentences": [{"raw": "caf\xe9"}]}]}')
    problems = check_source(path, captions_per_image=1, progress=False)
    assert problems == [f"{path}:3: not valid UTF-8 (byte 0xe9 at column 27)"]
    path.write_text('{"images": [\n{"filename": }]}')
    problems = check_source(path, source_format="karpathy", progress=False)
    assert problems == [f"{path}:2: invalid JSON (Expecting value, column 14)"]


def test_cli_check_exit_codes(bad_precomp, tmp_path, capsys):
    folder, images = bad_precomp
    assert main(["check", str(folder), "--images", str(images)]) == 1
    out = capsys.readouterr().out
    assert "10 problem(s) found" in out and "missing.tif: image file not found" in out
    clean = tmp_path / "clean"
    clean.mkdir()
    (clean / "test_caps.txt").write_text("a plane\n" * 5)
    (clean / "test_filename.txt").write_text("ok.png\n")
    assert main(["check", str(clean), "--images", str(images)]) == 0
    assert "no problems found" in capsys.readouterr().out


def test_prepared_check_finds_tampering(tmp_path):
    images = tmp_path / "images"
    images.mkdir()
    for i in range(3):
        good_image(images / f"{i}.png", i)
    source = tmp_path / "dataset_x.json"
    source.write_text(json.dumps({"images": [
        {"filename": f"{i}.png", "split": "train", "sentences": [{"raw": "a b"}] * 5}
        for i in range(3)]}))
    out = tmp_path / "out"
    prepare(source, images, out, shard_size=2, progress=False)
    assert check_prepared(out, progress=False) == []
    shard = out / "train-00001-of-00002.tfrecord"
    data = bytearray(shard.read_bytes())
    data[-5] ^= 0xFF
    shard.write_bytes(bytes(data))
    (out / "train-00000-of-00002.tfrecord").unlink()
    problems = check_prepared(out, progress=False)
    assert any("train-00000-of-00002.tfrecord: shard missing" in p for p in problems)
    assert any("train-00001-of-00002.tfrecord: sha256" in p for p in problems)
    assert any("train-00001-of-00002.tfrecord: damaged shard, not readable to its end" in p for p in problems)
    assert len(problems) == 3  # the damaged shard once, no knock-on lines about the records after it
