"""`dove-data dedup`: images shared by two folders, found with a difference hash.

dHash: the image in grey, resized to (hash_size + 1) x hash_size, one bit per
horizontally adjacent pixel pair (left brighter than right). Resizing and JPEG
re-encoding change few bits, so copies of one scene stored at different sizes
or formats (RSICD jpg 224 vs RSITMD tif 256) stay within a small Hamming
distance of each other.
"""

import csv
import os

import numpy as np
from PIL import Image
from tqdm import tqdm

from dove_keras.data.images import list_images
from dove_keras.data.images import load_image
from dove_keras.errors import DataProblem
from dove_keras.errors import UsageError


def dhash(array, hash_size=8):
    """Difference hash of an RGB image.

    Args:
        array: uint8 `(height, width, 3)`.
        hash_size: the hash has hash_size * hash_size bits.

    Returns:
        bool array of `hash_size * hash_size` bits.
    """
    grey = Image.fromarray(array).convert("L")
    small = np.asarray(grey.resize((hash_size + 1, hash_size), Image.Resampling.BOX), np.int16)
    return (small[:, :-1] > small[:, 1:]).reshape(-1)


def hash_folder(folder, hash_size=8, progress=True):
    """dHashes of every image under a folder.

    Args:
        folder: the folder (searched recursively).
        hash_size: see `dhash`.
        progress: show a tqdm bar.

    Returns:
        (sorted relative paths, bool array `(n, hash_size ** 2)`).
    """
    names = list_images(folder)
    bits = np.zeros((len(names), hash_size * hash_size), bool)
    for i, name in enumerate(tqdm(names, desc=f"hash {folder}", unit="img",
                                  disable=not progress)):
        bits[i] = dhash(load_image(f"{folder}/{name}"), hash_size)
    return names, bits


def find_overlap(bits_a, bits_b, max_distance, chunk_size=1024):
    """Pairs of hashes within a Hamming distance.

    Args:
        bits_a: bool `(n, bits)`.
        bits_b: bool `(m, bits)`.
        max_distance: largest Hamming distance that counts as the same image.
        chunk_size: rows of `bits_a` compared at once (bounds memory).

    Returns:
        A list of (i, j, distance), sorted by distance then i then j.
    """
    packed_a, packed_b = np.packbits(bits_a, axis=1), np.packbits(bits_b, axis=1)
    pairs = []
    for start in range(0, len(packed_a), chunk_size):
        block = packed_a[start : start + chunk_size, None, :] ^ packed_b[None, :, :]
        distance = np.bitwise_count(block).sum(axis=-1, dtype=np.int32)
        for i, j in zip(*np.nonzero(distance <= max_distance)):
            pairs.append((start + int(i), int(j), int(distance[i, j])))
    return sorted(pairs, key=lambda p: (p[2], p[0], p[1]))


def dedup(folder_a, folder_b, output, hash_size=8, max_distance=6, progress=True):
    """Writes the images of `folder_a` that also appear in `folder_b` to a CSV.

    Args:
        folder_a: first image folder.
        folder_b: second image folder.
        output: CSV path; columns image_a, image_b, distance (relative paths).
        hash_size: see `dhash`.
        max_distance: largest Hamming distance reported.
        progress: show tqdm bars.

    Returns:
        The list of (image_a, image_b, distance) rows written.
    """
    names_a, bits_a = hash_folder(folder_a, hash_size, progress)
    names_b, bits_b = hash_folder(folder_b, hash_size, progress)
    rows = [
        (names_a[i], names_b[j], d) for i, j, d in find_overlap(bits_a, bits_b, max_distance)
    ]
    with open(output, "w", newline="", encoding="utf-8") as f:
        writer = csv.writer(f)
        writer.writerow(["image_a", "image_b", "distance"])
        writer.writerows(rows)
    return rows


def add_arguments(parser):
    """Adds the `dedup` options to an argparse parser."""
    parser.add_argument("folder_a", help="first image folder (searched recursively)")
    parser.add_argument("folder_b", help="second image folder (searched recursively)")
    parser.add_argument("--output", required=True, metavar="FILE",
                        help="overlap CSV to write: image_a, image_b, distance")
    parser.add_argument("--hash-size", type=int, default=8, metavar="N",
                        help="dHash grid: N x N bits (default: 8, i.e. 64 bits)")
    parser.add_argument("--max-distance", type=int, default=6, metavar="D",
                        help="report pairs whose hashes differ in at most D bits "
                        "(default: 6 of 64)")


def run(args):
    """Runs `dedup` from parsed arguments; returns the exit code."""
    if args.hash_size < 2:
        raise UsageError(f"--hash-size must be >= 2, got {args.hash_size}")
    if not 0 <= args.max_distance <= args.hash_size ** 2:
        raise UsageError(f"--max-distance must be in [0, {args.hash_size ** 2}] (the hash's bits), "
                         f"got {args.max_distance}")
    for folder in (args.folder_a, args.folder_b):
        if not os.path.isdir(folder):
            raise UsageError(f"{folder}: {'not a folder' if os.path.exists(folder) else 'not found'}")
        if not list_images(folder):
            raise DataProblem(f"{folder}: no images found (searched recursively)")
    rows = dedup(args.folder_a, args.folder_b, args.output, args.hash_size, args.max_distance)
    images = len({row[0] for row in rows})
    print(f"{len(rows)} pair(s), {images} image(s) of {args.folder_a} also in "
          f"{args.folder_b} -> {args.output}")
    return 0
