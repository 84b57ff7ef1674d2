"""Writes a synthetic dataset folder in the benchmarks' precomp layout.

Layout (as DESIGN §4 describes the real benchmarks):

- `images/NNNNN.png`
- `train_caps.txt` (5 lines per image) + `train_filename.txt` (1 line per image)
- `val_caps_verify.txt` + `val_filename_verify.txt` (1 line per caption)
- `test_caps.txt` + `test_filename.txt` (1 line per caption)
- `scenes.json`: each image's split, ground, object list and captions
- `synthetic_manifest.json`: the generation arguments, written last

Images are split in order: train first, then val, then test.
"""

import json
import os
import pathlib
import shutil

import numpy as np
from PIL import Image
from tqdm import tqdm

from dove_keras.datasets.synthetic.captions import CAPTIONS_PER_IMAGE
from dove_keras.datasets.synthetic.captions import generate_captions
from dove_keras.datasets.synthetic.scene import MIN_IMAGE_SIZE
from dove_keras.datasets.synthetic.scene import generate_scene

# Not "manifest.json": data_tools takes a folder holding that file for a prepared one.
MANIFEST = "synthetic_manifest.json"
FORMAT_VERSION = 1
SPLIT_FILES = {
    "train": ("train_caps.txt", "train_filename.txt", False),
    "val": ("val_caps_verify.txt", "val_filename_verify.txt", True),
    "test": ("test_caps.txt", "test_filename.txt", True),
}  # split -> (captions file, filename file, one filename line per caption)


def generate_example(seed, index, image_size=128):
    """The scene and captions of image `index` of the dataset with `seed`.

    Each image has its own random stream, so an image does not depend on how
    many images come before it.

    Args:
        seed: dataset seed (non-negative int).
        index: image index (non-negative int).
        image_size: image side in pixels.

    Returns:
        (scene, captions): a `Scene` and a list of 5 different captions.
    """
    scene_seq, caption_seq = np.random.SeedSequence(int(seed), spawn_key=(int(index),)).spawn(2)
    scene = generate_scene(np.random.default_rng(scene_seq), image_size)
    return scene, generate_captions(scene, np.random.default_rng(caption_seq))


def split_counts(num_images, split_fractions):
    """Number of (train, val, test) images; every non-zero fraction gets one or more."""
    fractions = [float(f) for f in split_fractions]
    if len(fractions) != 3 or min(fractions) < 0 or abs(sum(fractions) - 1.0) > 1e-6:
        raise ValueError(
            "split_fractions must be three non-negative numbers summing to 1, "
            f"got {split_fractions!r}")
    val, test = (max(1, round(num_images * f)) if f > 0 else 0 for f in fractions[1:])
    train = num_images - val - test
    if train < 0 or (fractions[0] > 0 and train < 1):
        raise ValueError(
            f"num_images={num_images} is too few for split_fractions={split_fractions!r}")
    return train, val, test


def _settings(num_images, image_size, seed, split_fractions):
    if int(num_images) != num_images or num_images < 1:
        raise ValueError(f"num_images must be a positive integer, got {num_images!r}")
    if int(image_size) != image_size or image_size < MIN_IMAGE_SIZE:
        raise ValueError(f"image_size must be an integer >= {MIN_IMAGE_SIZE}, got {image_size!r}")
    if int(seed) != seed or seed < 0:
        raise ValueError(f"seed must be a non-negative integer, got {seed!r}")
    split_counts(int(num_images), split_fractions)
    return {
        "format_version": FORMAT_VERSION,
        "num_images": int(num_images),
        "image_size": int(image_size),
        "seed": int(seed),
        "split_fractions": [float(f) for f in split_fractions],
    }


def read_manifest(folder):
    """The manifest of a dataset folder, or None when it has none (or a broken one)."""
    try:
        with open(pathlib.Path(folder) / MANIFEST) as f:
            return json.load(f)
    except (OSError, ValueError):
        return None


def is_complete(folder, settings):
    """Whether `folder` holds a finished dataset generated with `settings`."""
    folder = pathlib.Path(folder)
    manifest = read_manifest(folder)
    if manifest is None or manifest.get("settings") != settings:
        return False
    names = [name for caps, files, _ in SPLIT_FILES.values() for name in (caps, files)]
    if not all((folder / name).is_file() for name in names + ["scenes.json"]):
        return False
    images = folder / "images"
    return images.is_dir() and len(os.listdir(images)) == settings["num_images"]


def _write_lines(path, lines):
    with open(path, "w", encoding="utf-8") as f:
        f.writelines(line + "\n" for line in lines)


def _write(folder, settings, progress, label):
    counts = split_counts(settings["num_images"], settings["split_fractions"])
    splits = [s for s, n in zip(SPLIT_FILES, counts) for _ in range(n)]
    width = max(5, len(str(settings["num_images"] - 1)))
    (folder / "images").mkdir(parents=True)
    lines = {split: ([], []) for split in SPLIT_FILES}
    records = []
    for index in tqdm(range(settings["num_images"]), desc=f"synthetic {label}",
                      unit="img", disable=not progress):
        scene, captions = generate_example(settings["seed"], index, settings["image_size"])
        filename = f"{index:0{width}d}.png"
        Image.fromarray(scene.image).save(folder / "images" / filename, compress_level=1)
        split = splits[index]
        caps, names = lines[split]
        caps.extend(captions)
        names.extend([filename] * (CAPTIONS_PER_IMAGE if SPLIT_FILES[split][2] else 1))
        records.append({"filename": filename, "split": split, **scene.description(),
                        "captions": captions})
    for split, (caps_file, names_file, _) in SPLIT_FILES.items():
        _write_lines(folder / caps_file, lines[split][0])
        _write_lines(folder / names_file, lines[split][1])
    with open(folder / "scenes.json", "w", encoding="utf-8") as f:
        json.dump({"settings": settings, "images": records}, f)
    with open(folder / MANIFEST, "w", encoding="utf-8") as f:
        json.dump({"generator": "dove_keras.datasets.synthetic", "settings": settings,
                   "split_sizes": dict(zip(SPLIT_FILES, counts))}, f, indent=2)


def generate_dataset(out_dir, num_images=3000, image_size=128, seed=0,
                     split_fractions=(0.8, 0.1, 0.1), progress=True):
    """Generates a synthetic image-caption dataset folder, or reuses it.

    A folder that already holds a complete dataset made with the same arguments
    is left as it is. Otherwise the dataset is written to a hidden `.partial`
    folder beside `out_dir` and renamed into place when finished, so an
    interrupted run never leaves a folder that looks complete. A previous
    synthetic dataset with other arguments is replaced; any other non-empty
    folder is refused.

    Args:
        out_dir: the dataset folder.
        num_images: number of images (5 captions each).
        image_size: image side in pixels.
        seed: non-negative int; the same seed gives the same bytes.
        split_fractions: (train, val, test) fractions summing to 1.
        progress: show a tqdm progress bar.

    Returns:
        The dataset folder as a `pathlib.Path`.
    """
    settings = _settings(num_images, image_size, seed, split_fractions)
    out = pathlib.Path(out_dir)
    if is_complete(out, settings):
        return out
    if out.exists() and (not out.is_dir() or read_manifest(out) is None and any(out.iterdir())):
        raise ValueError(f"{out} exists and is not a synthetic dataset folder: not overwriting it")
    partial = out.with_name(f".{out.name}.partial")
    if partial.exists():
        shutil.rmtree(partial)
    _write(partial, settings, progress, out.name)
    if out.exists():
        shutil.rmtree(out)
    os.replace(partial, out)
    return out
