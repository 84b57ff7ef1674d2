"""`dove-data prepare`: caption source + image folder -> TFRecord shards + manifest.

Images are decoded once with Pillow (JPEG, PNG, TIFF) and stored as lossless PNG.
Shard k of a split holds images [k * shard_size, (k + 1) * shard_size) in protocol
order, so shard contents do not depend on how often a run was interrupted. Each
shard is written to a temporary file and renamed when complete; a re-run keeps
the complete shards of the same plan and writes the rest, giving byte-identical
output to an uninterrupted run.
"""

import collections
import hashlib
import json
import os

import tensorflow as tf
from tqdm import tqdm

from data_tools.images import encode_png
from data_tools.images import load_image
from dove_keras.data import readers
from dove_keras.data import shards
from dove_keras.data.tokenizer import normalize_caption

PLAN = ".prepare-plan.json"


def _atomic_write_text(path, text):
    tmp = path + ".tmp"
    with open(tmp, "w", encoding="utf-8") as f:
        f.write(text)
    os.replace(tmp, path)


def _sha256(path):
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def _apply_empty_policy(records, empty_captions):
    """Raises on, or drops, captions that are empty after normalisation."""
    empty = [
        (record, k)
        for record in records
        for k, caption in enumerate(record.captions)
        if not normalize_caption(caption)
    ]
    if not empty:
        return records, 0
    if empty_captions == "error":
        listing = "\n".join(
            f"  {r.split} image {r.index} ({r.filename}) caption {k + 1}: {r.captions[k]!r}"
            for r, k in empty
        )
        raise readers.DataFormatError(
            f"{len(empty)} caption(s) are empty after normalisation "
            f"(use --empty-captions drop to drop them):\n{listing}"
        )
    kept = []
    for record in records:
        captions = tuple(c for c in record.captions if normalize_caption(c))
        if captions:
            kept.append(record._replace(captions=captions, index=len(kept)))
    return kept, len(empty)


def _check_images(records, image_root):
    seen, problems = {}, []
    for record in records:
        if record.filename in seen:
            problems.append(
                f"{record.split} images {seen[record.filename]} and {record.index}: "
                f"duplicate filename {record.filename}"
            )
        seen[record.filename] = record.index
        if not os.path.isfile(os.path.join(image_root, record.filename)):
            problems.append(
                f"{record.split} image {record.index}: "
                f"{os.path.join(image_root, record.filename)} not found"
            )
    if problems:
        raise readers.DataFormatError(
            f"{len(problems)} problem(s) with the images:\n  " + "\n  ".join(problems)
        )


def _read_shard(path):
    """(records, captions, {"WxH": count}) of a shard; None when it is unreadable."""
    count, captions, sizes = 0, 0, collections.Counter()
    try:
        for serialized in tf.data.TFRecordDataset(path).as_numpy_iterator():
            feature = tf.train.Example.FromString(serialized).features.feature
            height = feature["height"].int64_list.value[0]
            width = feature["width"].int64_list.value[0]
            sizes[f"{width}x{height}"] += 1
            captions += len(feature["captions"].bytes_list.value)
            count += 1
    except tf.errors.OpError:
        return None
    return count, captions, sizes


def _write_shard(path, records, image_root, compress_level, progress):
    tmp = path + ".tmp"
    try:
        with tf.io.TFRecordWriter(tmp) as writer:
            for record in records:
                array = load_image(os.path.join(image_root, record.filename))
                writer.write(
                    shards.encode_example(
                        encode_png(array, compress_level),
                        array.shape[0],
                        array.shape[1],
                        record.index,
                        record.filename,
                        record.captions,
                    )
                )
                progress.update(1)
    except BaseException:
        if os.path.exists(tmp):
            os.remove(tmp)
        raise
    os.replace(tmp, path)


def _plan(source, source_format, image_root, records, settings):
    digest = hashlib.sha256()
    for split, split_records in records.items():
        for r in split_records:
            digest.update(json.dumps([split, r.index, r.filename, r.captions]).encode())
    return {
        "format_version": shards.FORMAT_VERSION,
        "source": os.path.abspath(source),
        "source_format": source_format,
        "image_root": os.path.abspath(image_root),
        "records_sha256": digest.hexdigest(),
        **settings,
    }


def _claim_output(output, plan, overwrite):
    os.makedirs(output, exist_ok=True)
    plan_path = os.path.join(output, PLAN)
    if os.path.isfile(plan_path):
        with open(plan_path, encoding="utf-8") as f:
            previous = json.load(f)
        if previous != plan:
            if not overwrite:
                keys = set(plan) | set(previous)
                changed = sorted(k for k in keys if plan.get(k) != previous.get(k))
                raise ValueError(
                    f"{output} holds shards of a different prepare run (changed: "
                    f"{', '.join(changed)}); pass --overwrite or another --output"
                )
            for name in os.listdir(output):
                if name.endswith((".tfrecord", ".tfrecord.tmp")) or name == shards.MANIFEST:
                    os.remove(os.path.join(output, name))
    elif os.listdir(output) and not overwrite:
        raise ValueError(
            f"{output} is not empty and was not written by prepare; "
            "pass --overwrite or an empty --output"
        )
    _atomic_write_text(plan_path, json.dumps(plan, indent=1, sort_keys=True))


def prepare(
    source,
    image_root,
    output,
    source_format=None,
    splits=None,
    shard_size=256,
    empty_captions="error",
    use_verify=True,
    compress_level=6,
    overwrite=False,
    show_progress=True,
):
    """Converts a caption source and its images into TFRecord shards.

    Args:
        source: caption source (see `dove_keras.data.readers.read_captions`).
        image_root: folder the record filenames are relative to.
        output: the output folder (created).
        source_format: "precomp", "karpathy" or "coco"; detected when None.
        splits: splits to write (default: all in the source).
        shard_size: images per shard.
        empty_captions: "error" stops on captions that are empty after
            normalisation; "drop" drops them (and images left without caption).
        use_verify: precomp only: use the `*_verify` train/val split.
        compress_level: PNG zlib level (0-9; lossless at any level).
        overwrite: replace the output of a different earlier run.
        show_progress: show a tqdm bar per split.

    Returns:
        The manifest dict (also written to `output/manifest.json`).
    """
    if shard_size < 1:
        raise ValueError(f"shard_size must be >= 1, got {shard_size}")
    if empty_captions not in ("error", "drop"):
        raise ValueError(f"empty_captions must be 'error' or 'drop', got {empty_captions!r}")
    source, image_root, output = map(os.fspath, (source, image_root, output))
    source_format = source_format or readers.detect_format(source)
    found = readers.read_captions(source, source_format, use_verify=use_verify)
    unknown = sorted(set(splits or ()) - set(found))
    if unknown:
        raise ValueError(f"{source}: no split(s) {unknown}; it has {list(found)}")
    records, dropped = {}, {}
    for split, split_records in found.items():
        if splits and split not in splits:
            continue
        records[split], dropped[split] = _apply_empty_policy(split_records, empty_captions)
        _check_images(records[split], image_root)
    settings = {"shard_size": shard_size, "empty_captions": empty_captions,
                "png_compress_level": compress_level}
    plan = _plan(source, source_format, image_root, records, settings)
    _claim_output(output, plan, overwrite)

    manifest = {**plan, "splits": {}}
    del manifest["records_sha256"]
    for split, split_records in records.items():
        count = max(1, -(-len(split_records) // shard_size))
        entries, sizes = [], collections.Counter()
        with tqdm(total=len(split_records), desc=f"prepare {split}", unit="img",
                  disable=not show_progress) as progress:
            for k in range(count):
                chunk = split_records[k * shard_size : (k + 1) * shard_size]
                path = os.path.join(output, shards.shard_name(split, k, count))
                summary = _read_shard(path) if os.path.isfile(path) else None
                if summary and summary[0] == len(chunk):
                    progress.update(len(chunk))
                else:
                    _write_shard(path, chunk, image_root, compress_level, progress)
                    summary = _read_shard(path)
                images, captions, shard_sizes = summary
                sizes.update(shard_sizes)
                entries.append({"file": os.path.basename(path), "images": images,
                                "captions": captions, "sha256": _sha256(path)})
        manifest["splits"][split] = {
            "images": len(split_records),
            "captions": sum(len(r.captions) for r in split_records),
            "dropped_empty_captions": dropped[split],
            "image_sizes": dict(sorted(sizes.items())),
            "shards": entries,
        }
    _atomic_write_text(
        os.path.join(output, shards.MANIFEST), json.dumps(manifest, indent=1, sort_keys=True)
    )
    return manifest


def add_arguments(parser):
    """Adds the `prepare` options to an argparse parser."""
    parser.add_argument("source", help="caption source: a precomp folder, a Karpathy "
                        "dataset_<name>.json, a COCO captions JSON, or a folder of COCO "
                        "JSONs named *train*/*val*/*test*")
    parser.add_argument("--images", required=True, metavar="DIR",
                        help="folder the image filenames of the source are relative to")
    parser.add_argument("--output", required=True, metavar="DIR",
                        help="output folder for the shards and manifest.json")
    parser.add_argument("--format", choices=("precomp", "karpathy", "coco"),
                        help="caption format (default: detected from the source)")
    parser.add_argument("--split", action="append", choices=readers.SPLITS, dest="splits",
                        help="split to write; repeat for several (default: every split)")
    parser.add_argument("--shard-size", type=int, default=256, metavar="N",
                        help="images per shard (default: 256)")
    parser.add_argument("--empty-captions", choices=("error", "drop"), default="error",
                        help="captions empty after normalisation: stop with the list "
                        "(error, default) or drop them and images left without caption")
    parser.add_argument("--no-verify", dest="use_verify", action="store_false",
                        help="precomp: use train_* (train + val together) instead of "
                        "train_*_verify / val_*_verify")
    parser.add_argument("--png-compression", type=int, default=6, choices=range(10),
                        metavar="0-9", help="PNG zlib level; lossless at every level "
                        "(default: 6)")
    parser.add_argument("--overwrite", action="store_true",
                        help="replace shards of a different earlier run in --output")


def run(args):
    """Runs `prepare` from parsed arguments; returns the exit code."""
    manifest = prepare(
        args.source, args.images, args.output, source_format=args.format,
        splits=args.splits, shard_size=args.shard_size, empty_captions=args.empty_captions,
        use_verify=args.use_verify, compress_level=args.png_compression,
        overwrite=args.overwrite,
    )
    for split, entry in manifest["splits"].items():
        print(f"{split}: {entry['images']} images, {entry['captions']} captions, "
              f"{len(entry['shards'])} shard(s), dropped {entry['dropped_empty_captions']} "
              "empty caption(s)")
    print(f"wrote {os.path.join(args.output, shards.MANIFEST)}")
    return 0
