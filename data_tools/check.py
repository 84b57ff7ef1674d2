"""`dove-data check`: list every problem of a raw dataset or of prepared shards.

Raw dataset (caption source + optional image folder): structural problems of
the caption files (line counts, layouts, JSON keys), text that is not UTF-8
(file and line), caption counts other than the expected one, captions empty
after normalisation, filenames repeated inside a split or shared by two splits,
and images that are missing, unreadable or corrupt. Prepared folder (holds
manifest.json): missing shards, checksum mismatches, unreadable records, PNGs
that do not decode or do not match their stored size, and the same caption
checks. Everything is listed at once; the exit code is 1 when anything is found.
"""

import collections
import hashlib
import io
import os

import tensorflow as tf
from PIL import Image
from tqdm import tqdm

from data_tools import options
from dove_keras import errors
from dove_keras.data import readers
from dove_keras.data import shards
from dove_keras.data.images import ImageError
from dove_keras.data.images import load_image
from dove_keras.data.prepare import PLAN
from dove_keras.data.prepare import source_stat
from dove_keras.preprocessing.captions import normalize_caption


def _caption_problems(records, where, captions_per_image):
    problems = []
    for record in records:
        label = f"{record.split} image {record.index} ({record.filename})"
        if captions_per_image and len(record.captions) != captions_per_image:
            problems.append(
                f"{where(record, None)}: {label} has {len(record.captions)} captions, "
                f"expected {captions_per_image}"
            )
        for k, caption in enumerate(record.captions):
            if not caption.strip():
                problems.append(f"{where(record, k)}: {label} caption {k + 1} is empty")
            elif not normalize_caption(caption):
                problems.append(
                    f"{where(record, k)}: {label} caption {k + 1} is empty after "
                    f"normalisation: {caption!r}"
                )
    return problems


def _duplicate_problems(records_by_split, source):
    problems, owner = [], {}
    for split, records in records_by_split.items():
        positions = collections.defaultdict(list)
        for record in records:
            positions[record.filename].append(record.index)
        for filename, indices in positions.items():
            if len(indices) > 1:
                problems.append(
                    f"{source}: duplicate filename {filename} in {split} "
                    f"(images {', '.join(map(str, indices))})"
                )
            if filename in owner and owner[filename] != split:
                problems.append(
                    f"{source}: {filename} is in both {owner[filename]} and {split}"
                )
            owner.setdefault(filename, split)
    return problems


def check_source(source, image_root=None, source_format=None, use_verify=True,
                 captions_per_image=5, progress=True):
    """Every problem of a caption source and (optionally) its images.

    Args:
        source: caption source (see `readers.read_captions`).
        image_root: image folder; None skips the image checks.
        source_format: "precomp", "karpathy" or "coco"; detected when None.
        use_verify: precomp only, see `readers.precomp_split_files`.
        captions_per_image: expected captions per image (0: any number).
        progress: show a tqdm bar while decoding images.

    Returns:
        A list of problem messages (empty when none).
    """
    source = os.fspath(source)
    problems = []
    try:
        source_format = source_format or readers.detect_format(source)
    except readers.DataFormatError as error:
        return [str(error)]
    records = readers.read_captions(
        source, source_format, use_verify=use_verify, report=problems.append
    )
    if source_format == "precomp":
        files = readers.precomp_split_files(source, use_verify)

        def where(record, k):
            caps = files[record.split][0]
            first = record.index * readers.CAPTIONS_PER_IMAGE + 1
            return f"{caps}:{first + (k or 0)}"
    else:

        def where(record, k):
            return source

    for split_records in records.values():
        problems += _caption_problems(split_records, where, captions_per_image)
    problems += _duplicate_problems(records, source)
    if image_root is not None:
        filenames = sorted({r.filename for rs in records.values() for r in rs})
        for filename in tqdm(filenames, desc="check images", unit="img",
                             disable=not progress):
            try:
                load_image(os.path.join(image_root, filename))
            except ImageError as error:
                problems.append(str(error))
    return problems


def _check_shard(path, entry_shard, start, image_root):
    problems, records = [], []
    with open(path, "rb") as f:
        digest = hashlib.sha256(f.read()).hexdigest()
    if digest != entry_shard["sha256"]:
        problems.append(f"{path}: sha256 {digest} differs from the manifest")
    try:
        serialized = list(tf.data.TFRecordDataset(path).as_numpy_iterator())
    except tf.errors.OpError as error:
        message = error.message.split("\n")[0]
        return problems + [f"{path}: damaged shard, not readable to its end ({message}); "
                           "re-run `dove-data prepare` to write it again"], None
    for number, data in enumerate(serialized):
        where = f"{path}: record {number}"
        try:
            feature = tf.train.Example.FromString(data).features.feature
            filename = feature["filename"].bytes_list.value[0].decode("utf-8")
            raw_captions = list(feature["captions"].bytes_list.value)
            image_id = feature["image_id"].int64_list.value[0]
            size = (feature["width"].int64_list.value[0], feature["height"].int64_list.value[0])
            png = feature["image"].bytes_list.value[0]
            stat = tuple(feature["source_stat"].int64_list.value)
        except (IndexError, UnicodeDecodeError, ValueError) as error:
            problems.append(f"{where}: malformed record ({error})")
            continue
        where = f"{where} ({filename})"
        if image_id != start + number:
            problems.append(f"{where}: image_id {image_id}, expected {start + number}")
        problems += _source_problems(where, image_root, filename, stat)
        try:
            with Image.open(io.BytesIO(png)) as image:
                image.load()
                if image.size != size or image.mode != "RGB":
                    problems.append(
                        f"{where}: PNG is {image.mode} {image.size}, stored size {size}"
                    )
        except (OSError, ValueError, SyntaxError) as error:
            problems.append(f"{where}: PNG does not decode ({error})")
        captions = []
        for k, raw in enumerate(raw_captions):
            try:
                captions.append(raw.decode("utf-8"))
            except UnicodeDecodeError:
                problems.append(f"{where}: caption {k + 1} is not valid UTF-8")
                captions.append(raw.decode("utf-8", errors="replace"))
        records.append(readers.ImageRecord(None, filename, tuple(captions), image_id))
    if len(serialized) != entry_shard["images"]:
        problems.append(
            f"{path}: {len(serialized)} records, the manifest says {entry_shard['images']}"
        )
    return problems, records


def _source_problems(where, image_root, filename, stat):
    """A changed or missing source image of a record (prepare would write it again)."""
    path = os.path.join(image_root, filename)
    if not os.path.isfile(path):
        return [f"{where}: its source image {path} is gone"]
    if stat != source_stat(path):
        return [f"{where}: its source image {path} changed since it was prepared (size or "
                "modification time): re-run `dove-data prepare` to write it again"]
    return []


def check_prepared(prepared_dir, captions_per_image=5, progress=True):
    """Every problem of a folder written by `dove-data prepare`.

    Args:
        prepared_dir: the prepared folder.
        captions_per_image: expected captions per image (0: any number).
        progress: show a tqdm bar over the shards.

    Returns:
        A list of problem messages (empty when none).
    """
    prepared_dir = os.fspath(prepared_dir)
    try:
        manifest = shards.load_manifest(prepared_dir)
    except (ValueError, OSError) as error:
        return [str(error)]
    problems, records_by_split = [], {}
    for split, entry in manifest["splits"].items():
        records, start, damaged = [], 0, False
        for shard in tqdm(entry["shards"], desc=f"check {split}", unit="shard",
                          disable=not progress):
            path = os.path.join(prepared_dir, shard["file"])
            if not os.path.isfile(path):
                problems.append(f"{path}: shard missing")
                damaged = True
            else:
                shard_problems, shard_records = _check_shard(path, shard, start, manifest["image_root"])
                problems += shard_problems
                damaged = damaged or shard_records is None
                records += [r._replace(split=split) for r in shard_records or ()]
            start += shard["images"]  # the manifest's count: one damaged shard is reported once
        if not damaged and len(records) != entry["images"]:
            problems.append(
                f"{prepared_dir}: {split} has {len(records)} images, the manifest says {entry['images']}"
            )
        problems += _caption_problems(
            records, lambda r, k, split=split: os.path.join(prepared_dir, split), captions_per_image
        )
        records_by_split[split] = records
    problems += _duplicate_problems(records_by_split, prepared_dir)
    return problems


def add_arguments(parser):
    """Adds the `check` options to an argparse parser."""
    parser.add_argument("source", help="caption source (precomp folder, Karpathy or COCO "
                        "JSON, folder of COCO JSONs) or a folder written by `dove-data prepare`")
    parser.add_argument("--images", metavar="DIR",
                        help="image folder of a caption source: check that every image "
                        "exists and decodes (default: captions only)")
    options.add_source_arguments(parser, "check")
    options.add_captions_per_image_argument(parser, "every image")


def run(args):
    """Runs `check` from parsed arguments; prints the listing; returns `EXIT_PROBLEM` on problems."""
    options.check_input_paths(source=args.source, image_folder=args.images)
    if os.path.isfile(os.path.join(args.source, shards.MANIFEST)):
        problems = check_prepared(args.source, args.captions_per_image)
    elif os.path.isfile(os.path.join(args.source, PLAN)):
        problems = [f"{args.source}: an unfinished `dove-data prepare` (it has {PLAN} but no "
                    f"{shards.MANIFEST}): run the same prepare command again to finish it"]
    else:
        problems = check_source(args.source, args.images, args.format, args.use_verify,
                                args.captions_per_image)
        if args.images is None:
            print("note: images not checked (pass --images DIR)")
    for problem in problems:
        print(problem)
    if problems:
        print(f"{len(problems)} problem(s) found in {args.source}")
        return errors.EXIT_PROBLEM
    print(f"no problems found in {args.source}")
    return errors.EXIT_OK
