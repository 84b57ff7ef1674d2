"""Readers for the caption formats of the remote-sensing retrieval benchmarks.

Three formats are read into the same records, one per image, in protocol order:

- precomp folder (AMFMN lineage): `{split}_caps.txt` holds 5 consecutive lines
  per image; `{split}_filename.txt` holds either one line per image or one line
  per caption (the layout is detected from the line counts). When
  `{split}_caps_verify.txt` exists it is used instead of `{split}_caps.txt`: the
  lineage's `train_*` files hold train + val, `train_*_verify` the train part and
  `val_*_verify` the validation part.
- Karpathy-style `dataset_<name>.json`: `images[]` with `filename` (optionally
  `filepath`), `split` and `sentences[]` with `raw` (or `tokens`); the split
  `restval` counts as train.
- COCO-style captions JSON: `images[]` (`id`, `file_name`) and `annotations[]`
  (`image_id`, `caption`), one file per split.

Structural problems (unreadable text, count mismatches, missing keys) raise
`DataFormatError` naming the file and line. Every reader takes an optional
`report` callable: when given, problems are passed to it instead and reading
goes on with what can still be read (the `dove-data check` listing uses this).
Content problems (empty captions, duplicate filenames, caption counts of the
JSON formats) are left to the checker and the tokenizer.
"""

import collections
import json
import os
import re

from dove_keras.errors import DataProblem
from dove_keras.preprocessing.captions import CAPTIONS_PER_IMAGE

SPLITS = ("train", "val", "test")

ImageRecord = collections.namedtuple(
    "ImageRecord", ["split", "filename", "captions", "index"]
)
ImageRecord.__doc__ = """One image of a split: its captions and its position.

Fields:
    split: "train", "val" or "test".
    filename: the image path relative to the image folder.
    captions: tuple of caption strings, as written in the source.
    index: position of the image in its split (the protocol order).
"""


class DataFormatError(DataProblem):
    """A caption source does not have the structure its format requires."""


def _raise(message):
    raise DataFormatError(message)


def decode_utf8(data, path, report=_raise):
    """Decodes bytes as UTF-8, reporting the first bad line.

    Args:
        data: the file content.
        path: the file name used in messages.
        report: called with the message when the text is not valid UTF-8.

    Returns:
        The text; undecodable bytes are replaced when `report` returns.
    """
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as error:
        line = data.count(b"\n", 0, error.start) + 1
        column = error.start - data.rfind(b"\n", 0, error.start)
        report(
            f"{path}:{line}: not valid UTF-8 "
            f"(byte {data[error.start]:#04x} at column {column})"
        )
        return data.decode("utf-8", errors="replace")


def read_lines(path, report=_raise):
    """Reads a text file as stripped lines (final newline, CR and a UTF-8 byte-order mark removed).

    Args:
        path: the file.
        report: problem callback; non-UTF-8 lines are reported, each with its
            line number.

    Returns:
        A list of strings, one per line.
    """
    with open(path, "rb") as f:
        data = f.read().removeprefix(b"\xef\xbb\xbf")  # Windows editors start UTF-8 files with a BOM
    lines = data.split(b"\n")
    if lines and lines[-1] == b"":
        lines.pop()
    out = []
    for number, raw in enumerate(lines, start=1):
        try:
            text = raw.decode("utf-8")
        except UnicodeDecodeError as error:
            report(
                f"{path}:{number}: not valid UTF-8 "
                f"(byte {raw[error.start]:#04x} at column {error.start + 1})"
            )
            text = raw.decode("utf-8", errors="replace")
        out.append(text.strip())
    return out


def precomp_split_files(folder, use_verify=True):
    """The caption and filename files of each split of a precomp folder.

    Args:
        folder: the precomp folder.
        use_verify: prefer the `*_verify` files where they exist (train without
            val, and the val split); with False the `train_*` files hold train
            and val together.

    Returns:
        An ordered dict split -> (caps_path, filename_path) of the splits found.
    """
    files = {}
    for split in SPLITS:
        suffixes = ("_verify", "") if use_verify else ("",)
        for suffix in suffixes:
            caps = os.path.join(folder, f"{split}_caps{suffix}.txt")
            names = os.path.join(folder, f"{split}_filename{suffix}.txt")
            if os.path.isfile(caps) or os.path.isfile(names):
                files[split] = (caps, names)
                break
    return files


def _read_precomp_split(split, caps_path, names_path, report):
    for path in (caps_path, names_path):
        if not os.path.isfile(path):
            report(f"{path}: missing (the {split} split needs both files)")
            return []
    captions = read_lines(caps_path, report)
    names = read_lines(names_path, report)
    per = CAPTIONS_PER_IMAGE
    if len(captions) % per:
        report(
            f"{caps_path}: {len(captions):,} lines, not a multiple of {per} "
            f"({per} consecutive captions per image)"
        )
        return []
    num_images = len(captions) // per
    if len(names) == num_images:
        filenames = names
    elif len(names) == len(captions):
        filenames = names[::per]
        for start in range(0, len(names), per):
            group = names[start : start + per]
            for offset, name in enumerate(group):
                if name != group[0]:
                    report(
                        f"{names_path}:{start + offset + 1}: '{name}' breaks the "
                        f"group of {per} lines of '{group[0]}' (line {start + 1}); "
                        "one line per caption must repeat each filename "
                        f"{per} times"
                    )
                    return []
    else:
        report(
            f"{names_path}: {len(names):,} lines, expected {num_images:,} (one per "
            f"image) or {len(captions):,} (one per caption) to match "
            f"{caps_path} ({len(captions):,} captions = {num_images:,} images x {per})"
        )
        return []
    for number, name in enumerate(names, start=1):
        if not name:
            report(f"{names_path}:{number}: empty filename")
            return []
    return [
        ImageRecord(split, name, tuple(captions[i * per : (i + 1) * per]), i)
        for i, name in enumerate(filenames)
    ]


def read_precomp(folder, use_verify=True, report=_raise):
    """Reads a precomp folder.

    Args:
        folder: the folder holding `{split}_caps*.txt` and `{split}_filename*.txt`.
        use_verify: see `precomp_split_files`.
        report: problem callback (default: raise `DataFormatError`).

    Returns:
        An ordered dict split -> list of `ImageRecord`.
    """
    files = precomp_split_files(folder, use_verify)
    if not files:
        report(f"{folder}: no {{split}}_caps.txt / {{split}}_filename.txt files")
    return {
        split: _read_precomp_split(split, caps, names, report)
        for split, (caps, names) in files.items()
    }


def _load_json(path, report):
    with open(path, "rb") as f:
        text = decode_utf8(f.read().removeprefix(b"\xef\xbb\xbf"), path, report)
    try:
        return json.loads(text)
    except json.JSONDecodeError as error:
        report(f"{path}:{error.lineno}: invalid JSON ({error.msg}, column {error.colno})")
        return None


def _sentence_text(sentence):
    if isinstance(sentence, str):
        return sentence
    if isinstance(sentence, dict):
        if isinstance(sentence.get("raw"), str):
            return sentence["raw"]
        if isinstance(sentence.get("tokens"), list):
            return " ".join(str(token) for token in sentence["tokens"])
    return None


def read_karpathy(path, report=_raise):
    """Reads a Karpathy-style `dataset_<name>.json`.

    Args:
        path: the JSON file.
        report: problem callback (default: raise `DataFormatError`).

    Returns:
        An ordered dict split -> list of `ImageRecord` (splits in train, val,
        test order; `restval` images are appended to train).
    """
    data = _load_json(path, report)
    images = data.get("images") if isinstance(data, dict) else None
    if not isinstance(images, list):
        if data is not None:
            report(f"{path}: no 'images' list (Karpathy format)")
        return {}
    splits = {split: [] for split in SPLITS}
    for number, image in enumerate(images):
        where = f"{path}: images[{number}]"
        if not isinstance(image, dict) or not isinstance(image.get("filename"), str):
            report(f"{where}: no 'filename'")
            continue
        split = {"restval": "train"}.get(image.get("split"), image.get("split"))
        if split not in splits:
            report(f"{where} ({image['filename']}): unknown split {image.get('split')!r}")
            continue
        sentences = image.get("sentences")
        if not isinstance(sentences, list):
            report(f"{where} ({image['filename']}): no 'sentences' list")
            continue
        captions = []
        for k, sentence in enumerate(sentences):
            text = _sentence_text(sentence)
            if text is None:
                report(f"{where}.sentences[{k}]: neither 'raw' nor 'tokens'")
                text = ""
            captions.append(text.strip())
        filename = image["filename"]
        if image.get("filepath"):
            filename = f"{image['filepath'].rstrip('/')}/{filename}"
        records = splits[split]
        records.append(ImageRecord(split, filename, tuple(captions), len(records)))
    return {split: records for split, records in splits.items() if records}


def read_coco(path, split, report=_raise):
    """Reads one split from a COCO-style captions JSON.

    Images keep the order of `images[]`; each image's captions keep the order of
    `annotations[]`.

    Args:
        path: the JSON file.
        split: the split this file holds.
        report: problem callback (default: raise `DataFormatError`).

    Returns:
        A list of `ImageRecord`.
    """
    data = _load_json(path, report)
    if data is None:
        return []
    if not isinstance(data, dict) or not all(
        isinstance(data.get(key), list) for key in ("images", "annotations")
    ):
        report(f"{path}: needs 'images' and 'annotations' lists (COCO format)")
        return []
    order, names = [], {}
    for number, image in enumerate(data["images"]):
        if not isinstance(image, dict) or "id" not in image or "file_name" not in image:
            report(f"{path}: images[{number}] needs 'id' and 'file_name'")
            continue
        if image["id"] in names:
            report(f"{path}: images[{number}]: id {image['id']} used twice")
            continue
        order.append(image["id"])
        names[image["id"]] = image["file_name"]
    captions = {image_id: [] for image_id in order}
    for number, annotation in enumerate(data["annotations"]):
        if not isinstance(annotation, dict) or not isinstance(
            annotation.get("caption"), str
        ):
            report(f"{path}: annotations[{number}] has no 'caption' string")
            continue
        image_id = annotation.get("image_id")
        if image_id not in captions:
            report(
                f"{path}: annotations[{number}]: image_id {image_id!r} is not in images[]"
            )
            continue
        captions[image_id].append(annotation["caption"].strip())
    return [
        ImageRecord(split, names[image_id], tuple(captions[image_id]), i)
        for i, image_id in enumerate(order)
    ]


def split_from_name(path):
    """The split named in a file name (`data_train_UCM.json` -> "train"), or None."""
    words = re.split(r"[^a-z]+", os.path.basename(path).lower())
    for split, names in (("train", {"train"}), ("val", {"val", "valid"}), ("test", {"test"})):
        if names & set(words):
            return split
    return None


def detect_format(source):
    """Guesses the format of a caption source.

    Args:
        source: a precomp folder, a folder of COCO JSON files, or a JSON file.

    Returns:
        "precomp", "karpathy" or "coco".
    """
    if os.path.isdir(source):
        names = os.listdir(source)
        if any(re.fullmatch(r"(train|val|test)_caps(_verify)?\.txt", n) for n in names):
            return "precomp"
        if any(n.endswith(".json") for n in names):
            return "coco"
        raise DataFormatError(
            f"{source}: no precomp files ({{split}}_caps.txt) or JSON files found"
        )
    if not os.path.isfile(source):
        raise DataFormatError(f"{source}: no such file or folder")
    with open(source, "rb") as f:
        head = f.read(1 << 20)
    if re.search(rb'"annotations"\s*:', head):
        return "coco"
    if re.search(rb'"sentences"\s*:', head):
        return "karpathy"
    raise DataFormatError(
        f"{source}: neither a Karpathy JSON ('sentences') nor a COCO JSON ('annotations')"
    )


def read_captions(source, source_format=None, split=None, use_verify=True, report=_raise):
    """Reads any supported caption source.

    Args:
        source: a precomp folder, a Karpathy JSON file, a COCO JSON file, or a
            folder of COCO JSON files whose names contain train/val/test.
        source_format: "precomp", "karpathy" or "coco"; detected when None.
        split: the split of a single COCO file; taken from its name when None.
        use_verify: precomp only, see `precomp_split_files`.
        report: problem callback (default: raise `DataFormatError`).

    Returns:
        An ordered dict split -> list of `ImageRecord`, in train, val, test order.
    """
    source = os.fspath(source)
    source_format = source_format or detect_format(source)
    if source_format == "precomp":
        return read_precomp(source, use_verify=use_verify, report=report)
    if source_format == "karpathy":
        return read_karpathy(source, report=report)
    if source_format != "coco":
        raise ValueError(f"unknown caption format {source_format!r}")
    if os.path.isdir(source):
        paths = sorted(
            os.path.join(source, n) for n in os.listdir(source) if n.endswith(".json")
        )
    else:
        paths = [source]
    found = {}
    for path in paths:
        path_split = split if split and len(paths) == 1 else split_from_name(path)
        if path_split is None:
            report(f"{path}: cannot tell its split (name it *train*/*val*/*test*)")
            continue
        if path_split in found:
            report(f"{path}: a second file for the {path_split} split ({found[path_split]})")
            continue
        found[path_split] = path
    return {s: read_coco(found[s], s, report=report) for s in SPLITS if s in found}
