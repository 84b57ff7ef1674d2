"""Building a search index: embed a source's pictures chunk by chunk, resumably.

An interrupted run keeps its finished chunks; the same command embeds only
what is not in a chunk yet. A re-run also compares every source file's size
and modification time with the ones recorded: items of changed files are
embedded again and items of files that are gone are dropped. The arrays and
tables are assembled from the chunks at the end (the latest record of each
item, rows sorted by key), so a resumed index equals one built in a single
run. Without ROAM (`use_roam=False`) there are no region files.
"""

import collections
import os

import numpy as np
import pandas as pd
from tqdm.auto import tqdm

from dove_keras.search.index_layout import ARRAYS
from dove_keras.search.index_layout import FAILED_COLUMNS
from dove_keras.search.index_layout import FORMAT_VERSION
from dove_keras.search.index_layout import HEADER
from dove_keras.search.index_layout import ITEM_COLUMNS
from dove_keras.search.index_layout import SearchIndexError
from dove_keras.search.index_layout import chunk_files
from dove_keras.search.index_layout import chunk_number
from dove_keras.search.index_layout import read_header
from dove_keras.search.pixels import model_pixels
from dove_keras.search.sources import read_errors
from dove_keras.utils.files import atomic_write
from dove_keras.utils.files import atomic_write_json
from dove_keras.utils.files import staged_path

# What a resumed run must share with the run that started the index.
_RESUME_KEYS = {
    "fingerprint": "model (fingerprint)", "source": "source (folder, scenes or tiling)",
    "chunk_size": "chunk size", "regions_dtype": "regions dtype",
}
EMBEDDED, UNREADABLE, SKIPPED = "embedded", "unreadable", "skipped"
_DTYPES = {
    "path": "U", "source": "U", "window": "U", "crs": "U", "footprint": "U", "error": "U",
    "source_bytes": "i8", "source_modified": "f8", "height": "i8", "width": "i8",
}


def build_index(encoder, source, out_dir, chunk_size=256, batch_size=32, regions_dtype="float32",
                retry_unreadable=False, progress=True):
    """Embeds every picture of `source` into the index folder `out_dir`.

    Args:
        encoder: from `dove_keras.search.load_encoder`.
        source: an `ImageFolder` or `SceneTiles` (`dove_keras.search.sources`).
        out_dir: the index folder (created, or resumed when it exists).
        chunk_size: pictures per chunk (the unit of resumption).
        batch_size: pictures per model call (a last partial batch is padded).
        regions_dtype: "float32", or "float16" to halve the region storage.
        retry_unreadable: read again the items recorded as unreadable.
        progress: show a progress bar.

    Returns:
        A dict: `images` (indexed in all), `new` (embedded by this run),
        `changed` and `removed` (items of source files changed or gone since
        the last run), `unreadable` (list of `(key, reason)`) and `skipped`
        (`{"nodata": n, "empty": m}` scene tiles left out).

    Raises:
        SearchIndexError: `out_dir` holds an index of another model, source
            or chunk size.
    """
    header = {
        "format_version": FORMAT_VERSION, "model": encoder.spec(), "fingerprint": encoder.fingerprint,
        "source": source.description(), "image_size": encoder.image_size,
        "use_roam": bool(encoder.use_roam), "chunk_size": int(chunk_size), "regions_dtype": regions_dtype,
    }
    existing = _check_resumable(out_dir, header)
    items = source.items()
    current = {item.key: item for item in items}
    latest = _latest_records(out_dir)
    changed = {key for key, r in latest.items() if key in current and r["stat"] != _stat_of(current[key])}
    removed = set(latest) - set(current)

    def done(key):
        record = latest.get(key)
        if record is None or key in changed:
            return False
        return not (retry_unreadable and record["status"] == UNREADABLE)

    todo = [item for item in items if not done(item.key)]
    if not todo and not removed and existing.get("complete"):  # nothing to do: keep the arrays
        return {**_summary(out_dir, existing["count"]), "new": 0, "changed": 0, "removed": 0}
    atomic_write_json(os.path.join(out_dir, HEADER), {**header, "complete": False})
    chunks = chunk_files(out_dir)
    next_chunk = 1 + max((chunk_number(c) for c in chunks), default=-1)
    new = 0
    with tqdm(total=len(items), initial=len(items) - len(todo), unit="img", desc="indexing",
              disable=not progress) as bar:
        for start in range(0, len(todo), chunk_size):
            records = _embed_chunk(encoder, source, todo[start : start + chunk_size], batch_size, bar)
            _save_chunk(os.path.join(out_dir, "chunks", f"chunk-{next_chunk:05d}.npz"), records, regions_dtype)
            next_chunk += 1
            new += len(records["path"])
    count = _assemble(out_dir, header, set(current))
    return {**_summary(out_dir, count), "new": new, "changed": len(changed), "removed": len(removed)}


def _stat_of(item):
    return (int(item.source_bytes), float(item.source_modified))


def _check_resumable(out_dir, header):
    """The header of the index in `out_dir` ({} if new), checked against `header`."""
    os.makedirs(os.path.join(out_dir, "chunks"), exist_ok=True)
    if not os.path.isfile(os.path.join(out_dir, HEADER)):
        if os.listdir(os.path.join(out_dir, "chunks")):
            raise SearchIndexError(f"{out_dir}: chunks without {HEADER}: not an index folder, choose another --out")
        return {}
    existing = read_header(out_dir)
    for key, what in _RESUME_KEYS.items():
        if existing.get(key) != header[key]:
            raise SearchIndexError(
                f"{out_dir} is an index built with another {what} ({existing.get(key)!r}, "
                f"now {header[key]!r}): choose another --out or delete it"
            )
    return existing


def _latest_records(out_dir):
    """`{key: {"status", "stat", "chunk", "row"}}`: the last record of every item in the chunks."""
    latest = {}
    for chunk in chunk_files(out_dir):
        with np.load(chunk) as data:
            for status, prefix in ((EMBEDDED, ""), (UNREADABLE, "failed_")):
                keys = data[f"{prefix}path"].tolist()
                stats = zip(data[f"{prefix}source_bytes"].tolist(), data[f"{prefix}source_modified"].tolist())
                errors = data["failed_error"].tolist() if prefix else [None] * len(keys)
                for row, (key, stat, error) in enumerate(zip(keys, stats, errors)):
                    kind = SKIPPED if error in ("nodata", "empty") else status
                    latest[key] = {"status": kind, "stat": (int(stat[0]), float(stat[1])), "chunk": chunk,
                                   "row": row, "error": error}
    return latest


def _embed_chunk(encoder, source, items, batch_size, bar):
    """Reads and embeds `items`; returns the chunk's arrays."""
    rows, pictures, failures, features = [], [], [], []
    errors = read_errors()

    def flush():
        # Batches are padded to batch_size: compiled models (JAX, tf.function,
        # SavedModel) then see one input shape.
        if pictures:
            inputs = model_pixels(pictures, encoder.image_size)
            padded = np.zeros((batch_size,) + inputs.shape[1:], inputs.dtype)
            padded[: len(inputs)] = inputs
            outputs = encoder.embed_pixels(padded)
            features.append({key: value[: len(inputs)] for key, value in outputs.items()})
            pictures.clear()

    for item in items:
        try:
            picture, skipped = source.read(item)
        except errors as error:
            failures.append((item, str(error)))
        else:
            if skipped:
                failures.append((item, skipped))
            else:
                rows.append(_item_row(item, picture))
                pictures.append(picture)
                if len(pictures) == batch_size:
                    flush()
        bar.update(1)
    flush()
    records = {column: np.array([row[column] for row in rows], _DTYPES[column]) for column in ITEM_COLUMNS}
    for key in features[0] if features else ():
        records[key] = np.concatenate([f[key] for f in features])
    failed = [{**_item_row(item, None), "error": error} for item, error in failures]
    for column in FAILED_COLUMNS:
        records[f"failed_{column}"] = np.array([row[column] for row in failed], _DTYPES[column])
    return records


def _item_row(item, picture):
    return {
        "path": item.key, "source": item.source, "source_bytes": int(item.source_bytes),
        "source_modified": float(item.source_modified),
        "height": -1 if picture is None else int(picture.shape[0]),
        "width": -1 if picture is None else int(picture.shape[1]),
        "window": "" if item.window is None else ",".join(map(str, item.window)),
        "crs": item.crs or "", "footprint": item.footprint,
    }


def _save_chunk(path, records, regions_dtype):
    if "regions" in records:
        records["regions"] = records["regions"].astype(regions_dtype)
    atomic_write(path, lambda f: np.savez(f, **records))


def _assemble(out_dir, header, current_keys):
    """Writes the arrays and tables from the latest record of every current item, rows sorted by key."""
    latest = {key: r for key, r in _latest_records(out_dir).items() if key in current_keys}
    embedded = sorted(key for key, r in latest.items() if r["status"] == EMBEDDED)
    position = {key: i for i, key in enumerate(embedded)}
    rows, failed, templates = [None] * len(embedded), [], {}
    by_chunk = collections.defaultdict(list)
    for key, record in latest.items():
        by_chunk[record["chunk"]].append((record, key))
    for chunk, entries in by_chunk.items():
        with np.load(chunk) as data:
            columns = {c: data[c].tolist() for c in ITEM_COLUMNS}
            failures = {c: data[f"failed_{c}"].tolist() for c in FAILED_COLUMNS}
            for record, key in entries:
                if record["status"] == EMBEDDED:
                    rows[position[key]] = {c: columns[c][record["row"]] for c in ITEM_COLUMNS}
                    templates = templates or {n: data[n][:0] for n in ARRAYS if n in data.files}
                else:
                    failed.append({c: failures[c][record["row"]] for c in FAILED_COLUMNS})
    table = pd.DataFrame(rows, columns=list(ITEM_COLUMNS))
    if embedded:
        _assemble_arrays(out_dir, by_chunk, position, templates)
    failed = pd.DataFrame(failed, columns=list(FAILED_COLUMNS)).sort_values("path", kind="stable")
    skipped = failed["error"].isin(("nodata", "empty"))
    _write_csv(os.path.join(out_dir, "images.csv"), table)
    _write_csv(os.path.join(out_dir, "unreadable.csv"), failed[~skipped][["path", "error"]])
    _write_csv(os.path.join(out_dir, "skipped.csv"), failed[skipped][["path", "error"]])
    atomic_write_json(os.path.join(out_dir, HEADER), {**header, "count": len(embedded), "complete": True})
    return len(embedded)


def _assemble_arrays(out_dir, by_chunk, position, templates):
    """Fills each `name.npy` chunk by chunk (bounded memory) through a memmap."""
    for name, template in templates.items():
        with staged_path(os.path.join(out_dir, f"{name}.npy")) as staging:
            array = np.lib.format.open_memmap(
                staging, mode="w+", dtype=template.dtype, shape=(len(position),) + template.shape[1:]
            )
            for chunk, entries in by_chunk.items():
                rows = [(r["row"], position[key]) for r, key in entries if r["status"] == EMBEDDED]
                if rows:
                    with np.load(chunk) as data:
                        source, target = zip(*rows)
                        array[list(target)] = data[name][list(source)]
            array.flush()
            del array


def _write_csv(path, frame):
    atomic_write(path, lambda f: frame.to_csv(f, index=False), text=True)


def _summary(out_dir, count):
    unreadable = pd.read_csv(os.path.join(out_dir, "unreadable.csv"), keep_default_na=False)
    skipped = pd.read_csv(os.path.join(out_dir, "skipped.csv"), keep_default_na=False)
    return {
        "images": count,
        "unreadable": list(unreadable.itertuples(index=False, name=None)),
        "skipped": dict(collections.Counter(skipped["error"].tolist())),
    }
