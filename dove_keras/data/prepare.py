"""Caption source + image folder -> TFRecord shards + manifest (what `dove-data prepare` runs).

Images are decoded once with Pillow (JPEG, PNG, TIFF; see `dove_keras.data.images`
for 16-bit images) and stored as lossless PNG.
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

import numpy as np
import tensorflow as tf
from tqdm import tqdm

from dove_keras.data import readers
from dove_keras.data import shards
from dove_keras.data.images import encode_png
from dove_keras.data.images import load_image
from dove_keras.preprocessing.captions import normalize_caption
from dove_keras.utils.files import atomic_write_text
from dove_keras.utils.files import sha256_file

PLAN = ".prepare-plan.json"


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


def source_stat(path):
    """`(size in bytes, modification time in ns)` of a file: what tells that it changed."""
    stat = os.stat(path)
    return int(stat.st_size), int(stat.st_mtime_ns)


def _read_shard(path):
    """`(captions, {"WxH": count}, [(filename, bytes, mtime)])` of a shard; None when unreadable."""
    captions, sizes, sources = 0, collections.Counter(), []
    try:
        for serialized in tf.data.TFRecordDataset(path).as_numpy_iterator():
            feature = tf.train.Example.FromString(serialized).features.feature
            height = feature["height"].int64_list.value[0]
            width = feature["width"].int64_list.value[0]
            sizes[f"{width}x{height}"] += 1
            captions += len(feature["captions"].bytes_list.value)
            stat = feature["source_stat"].int64_list.value
            sources.append((feature["filename"].bytes_list.value[0].decode("utf-8"), *stat))
    except (tf.errors.OpError, IndexError):
        return None
    return captions, sizes, sources


def _current_sources(records, image_root):
    return [(r.filename, *source_stat(os.path.join(image_root, r.filename))) for r in records]


def _write_shard(path, records, image_root, compress_level, regions, bar):
    tmp = path + ".tmp"
    try:
        with tf.io.TFRecordWriter(tmp) as writer:
            for record in records:
                image_path = os.path.join(image_root, record.filename)
                stat = source_stat(image_path)
                array = load_image(image_path)
                writer.write(
                    shards.encode_example(
                        encode_png(array, compress_level), array.shape[0], array.shape[1], record.index,
                        record.filename, record.captions, source_stat=stat,
                        regions=None if regions is None else regions[record.filename],
                    )
                )
                bar.update(1)
    except BaseException:
        if os.path.exists(tmp):
            os.remove(tmp)
        raise
    os.replace(tmp, path)


def load_regions(path, records):
    """Precomputed region vectors of every image: an `.npz` of `filename -> (N_r, D_r)` arrays.

    Returns:
        `({filename: float32 array}, {"count": largest N_r, "dim": D_r})`.

    Raises:
        DataFormatError: an image without regions, or vectors of different widths.
    """
    with np.load(path) as data:
        regions = {name: np.asarray(data[name], "float32") for name in data.files}
    names = sorted({r.filename for split in records.values() for r in split})
    missing = [name for name in names if name not in regions]
    if missing:
        raise readers.DataFormatError(f"{path}: no regions for {len(missing)} image(s): {', '.join(missing[:10])}")
    shapes = {name: regions[name].shape for name in names}
    bad = [f"{name} {shape}" for name, shape in shapes.items() if len(shape) != 2 or shape[0] < 1]
    widths = {shape[1] for shape in shapes.values() if len(shape) == 2}
    if bad or len(widths) != 1:
        raise readers.DataFormatError(
            f"{path}: regions must be (N_r, D_r) arrays of one width D_r; found {', '.join(bad) or sorted(widths)}"
        )
    return regions, {"count": max(shape[0] for shape in shapes.values()), "dim": widths.pop()}


def _word_counts(records):
    """`{"n": captions of n normalised words}` of the records (what the tokenizer reads)."""
    counts = collections.Counter(len(normalize_caption(c).split()) for r in records for c in r.captions)
    return {str(words): counts[words] for words in sorted(counts)}


def long_caption_warning(manifest, split, sequence_length):
    """Says how many captions of a prepared split the model cuts to its caption length.

    Args:
        manifest: the manifest of a prepared folder (see `prepare`).
        split: a split of it.
        sequence_length: the model's caption length L (`data.sequence_length`).

    Returns:
        The warning text, or None when no caption has more than L words (or
        the manifest predates the `caption_words` counts).
    """
    counts = {int(words): n for words, n in manifest["splits"][split].get("caption_words", {}).items()}
    longer = sum(n for words, n in counts.items() if words > sequence_length)
    if not longer:
        return None
    return (
        f"{longer} of {sum(counts.values())} {split} captions have more than {sequence_length} words "
        f"(the longest {max(counts)}); the model reads the first {sequence_length} (data.sequence_length)"
    )


def _check_splits(records, allow_split_overlap, captions_per_image):
    """Lists every image in two splits (a leak) and every evaluation image without `captions_per_image` captions."""
    problems, owners = [], collections.defaultdict(list)
    for split, split_records in records.items():
        for record in split_records:
            owners[record.filename].append(split)
            if split != "train" and captions_per_image and len(record.captions) != captions_per_image:
                problems.append(
                    f"{split} image {record.index} ({record.filename}) has {len(record.captions)} captions, "
                    f"expected {captions_per_image} (evaluation needs them; --captions-per-image 0 accepts any)"
                )
    if not allow_split_overlap:
        problems += [
            f"{name} is in {' and '.join(splits)} (a train/test leak; --allow-split-overlap keeps it)"
            for name, splits in sorted(owners.items()) if len(set(splits)) > 1
        ]
    if problems:
        raise readers.DataFormatError(f"{len(problems)} problem(s) with the splits:\n  " + "\n  ".join(problems))


def _plan(source, source_format, image_root, records, settings):
    """What makes two prepare runs the same (image contents are checked per record)."""
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
        names = os.listdir(output)
        finished = [name for name in names if name.endswith(".tfrecord") or name == shards.MANIFEST]
        if previous != plan:  # without finished shards (a run that failed early) the plan is replaced
            if finished and not overwrite:
                keys = set(plan) | set(previous)
                changed = sorted(k for k in keys if plan.get(k) != previous.get(k))
                raise ValueError(
                    f"{output} holds shards of a different prepare run (changed: "
                    f"{', '.join(changed)}); pass --overwrite or another --output"
                )
            for name in finished + [name for name in names if name.endswith(".tfrecord.tmp")]:
                os.remove(os.path.join(output, name))
    elif os.listdir(output) and not overwrite:
        raise ValueError(
            f"{output} is not empty and was not written by prepare; "
            "pass --overwrite or an empty --output"
        )
    atomic_write_text(plan_path, json.dumps(plan, indent=1, sort_keys=True))


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
    regions=None,
    allow_split_overlap=False,
    captions_per_image=5,
    overwrite=False,
    progress=True,
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
        regions: optional `.npz` of precomputed region vectors per image
            filename (`(N_r, D_r)` arrays), stored with each record.
        allow_split_overlap: accept an image in two splits (refused by
            default: a train/test leak).
        captions_per_image: captions every validation and test image must
            have, as the evaluation needs (0: any number; training images may
            have any).
        overwrite: replace the output of a different earlier run.
        progress: show a tqdm bar per split.

    A re-run keeps a finished shard only when every image in it has the size
    and modification time it was written from; otherwise the shard is
    written again.

    Returns:
        The manifest dict (also written to `output/manifest.json`); each
        split's `caption_words` counts its captions by normalised word count
        (see `long_caption_warning`).
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
    _check_splits(records, allow_split_overlap, captions_per_image)
    region_vectors, region_shape = (None, None) if regions is None else load_regions(regions, records)
    settings = {"shard_size": shard_size, "empty_captions": empty_captions,
                "png_compress_level": compress_level,
                "regions_sha256": None if regions is None else sha256_file(regions)}
    plan = _plan(source, source_format, image_root, records, settings)
    _claim_output(output, plan, overwrite)

    manifest = {**plan, "splits": {}, **({"regions": region_shape} if region_shape else {})}
    del manifest["records_sha256"]
    for split, split_records in records.items():
        count = max(1, -(-len(split_records) // shard_size))
        entries, sizes = [], collections.Counter()
        with tqdm(total=len(split_records), desc=f"prepare {split}", unit="img",
                  disable=not progress) as bar:
            for k in range(count):
                chunk = split_records[k * shard_size : (k + 1) * shard_size]
                path = os.path.join(output, shards.shard_name(split, k, count))
                summary = _read_shard(path) if os.path.isfile(path) else None
                if summary and summary[2] == _current_sources(chunk, image_root):
                    bar.update(len(chunk))
                else:
                    _write_shard(path, chunk, image_root, compress_level, region_vectors, bar)
                    summary = _read_shard(path)
                captions, shard_sizes, sources = summary
                sizes.update(shard_sizes)
                entries.append({"file": os.path.basename(path), "images": len(sources),
                                "captions": captions, "sha256": sha256_file(path)})
        manifest["splits"][split] = {
            "images": len(split_records),
            "captions": sum(len(r.captions) for r in split_records),
            "dropped_empty_captions": dropped[split],
            "image_sizes": dict(sorted(sizes.items())),
            "caption_words": _word_counts(split_records),
            "shards": entries,
        }
    atomic_write_text(
        os.path.join(output, shards.MANIFEST), json.dumps(manifest, indent=1, sort_keys=True)
    )
    return manifest
