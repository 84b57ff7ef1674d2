"""`dove-data dedup`: resized / re-encoded copies of real images are found, others not."""

import csv
import shutil

import numpy as np
import pytest
from PIL import Image

from data_tools.cli import main
from data_tools.dedup import dhash
from data_tools.dedup import find_overlap

pytestmark = pytest.mark.backend_independent


def test_find_overlap_matches_a_loop():
    rng = np.random.default_rng(0)
    a, b = rng.random((7, 64)) < 0.5, rng.random((9, 64)) < 0.5
    b[3] = a[5]
    b[4] = a[1] ^ (np.arange(64) < 3)
    expected = sorted(
        [(i, j, int((a[i] != b[j]).sum())) for i in range(7) for j in range(9)
         if (a[i] != b[j]).sum() <= 20], key=lambda p: (p[2], p[0], p[1]))
    assert find_overlap(a, b, 20, chunk_size=3) == expected
    assert find_overlap(a, b, 3)[:2] == [(5, 3, 0), (1, 4, 3)]


def test_dedup_real_images(shared_data, tmp_path, capsys):
    real = shared_data / "real_pairs" / "images"
    folder_a, folder_b = tmp_path / "a", tmp_path / "b" / "nested"
    folder_a.mkdir()
    folder_b.mkdir(parents=True)
    shared = ["rsicd/airport_17.jpg", "ucm/3.tif", "sydney/6.tif"]
    only_a = ["sydney/7.tif", "ucm/9.tif", "rsicd/00007.jpg"]
    only_b = ["sydney/2.tif", "sydney/3.tif", "rsitmd/sparseresidential_3814.tif"]
    for name in shared + only_a:
        shutil.copy(real / name, folder_a / name.replace("/", "_"))
    for name in shared:  # another size and format, as RSICD (jpg 224) vs RSITMD (tif 256)
        with Image.open(real / name) as image:
            image.convert("RGB").resize((224, 224), Image.Resampling.BICUBIC).save(
                folder_b / (name.replace("/", "_") + ".jpg"), quality=75)
    for name in only_b:
        shutil.copy(real / name, folder_b / name.replace("/", "_"))
    out = tmp_path / "overlap.csv"
    assert main(["dedup", str(folder_a), str(tmp_path / "b"), "--output", str(out)]) == 0
    with open(out, newline="") as f:
        rows = list(csv.DictReader(f))
    pairs = sorted((r["image_a"], r["image_b"]) for r in rows)
    assert pairs == sorted(
        (n.replace("/", "_"), "nested/" + n.replace("/", "_") + ".jpg") for n in shared)
    assert all(int(r["distance"]) <= 6 for r in rows)
    assert "3 pair(s), 3 image(s)" in capsys.readouterr().out


def test_dhash_is_stable_under_resize():
    rng = np.random.default_rng(1)
    base = np.repeat(np.repeat(rng.integers(0, 256, (16, 16, 3), np.uint8), 16, 0), 16, 1)
    smaller = np.asarray(Image.fromarray(base).resize((100, 100), Image.Resampling.BILINEAR))
    assert (dhash(base) != dhash(smaller)).sum() <= 4
    assert (dhash(base) != dhash(255 - base)).sum() > 40
