"""An on-disk image index: embeddings for stage 1, regions for ROAM re-ranking.

Layout of an index folder:
    index.json          the model (spec and fingerprint), image folder, sizes, state
    chunks/chunk-NNNNN.npz   embedded files, written atomically one chunk at a time
    global.npy          (N, d) V_M, the stage-1 search embeddings
    fused.npy           (N, d) V_MR, the image side of the ROAM score
    regions.npy         (N, N_r, d) F_R and region_mask.npy (N, N_r), for re-ranking
    images.csv          one row per image (row = position in the arrays): path
                        relative to the image folder, width, height, file_bytes,
                        modified (Unix time)
    unreadable.csv      files that could not be decoded, with the reason

Indexing is resumable: an interrupted run keeps its finished chunks and the same
command embeds only the files not yet in a chunk. The arrays and tables are
(re)assembled from the chunks at the end, rows sorted by path, so a resumed
index equals one built in a single run. Without ROAM (`use_roam=False`) there
are no region files and no re-ranking.
"""

import glob
import json
import os

import numpy as np
import pandas as pd
from tqdm.auto import tqdm

from data_tools.images import ImageError
from data_tools.images import list_images
from data_tools.images import load_image
from dove_keras.search.images import file_metadata
from dove_keras.search.images import model_inputs

FORMAT_VERSION = 1
META_COLUMNS = ("height", "width", "file_bytes", "modified")
ARRAYS = ("global", "fused", "regions", "region_mask")
# What a resumed run must share with the run that started the index.
_RESUME_KEYS = {
    "fingerprint": "model (fingerprint)", "images": "image folder",
    "chunk_size": "chunk size", "regions_dtype": "regions dtype",
}


class SearchIndexError(ValueError):
    """An index folder that cannot be used as asked (wrong model, incomplete...)."""


def build_index(
    encoder, image_dir, out_dir, chunk_size=256, batch_size=32,
    regions_dtype="float32", retry_unreadable=False, progress=True,
):
    """Embeds every image under `image_dir` into the index `out_dir`.

    Args:
        encoder: from `dove_keras.search.load_encoder`.
        image_dir: folder searched recursively for .jpg/.jpeg/.png/.tif/.tiff/.bmp.
        out_dir: the index folder (created, or resumed when it exists).
        chunk_size: files per chunk (the unit of resumption).
        batch_size: images per model call (a last partial batch is padded).
        regions_dtype: "float32", or "float16" to halve the region storage
            (N * N_r * d values).
        retry_unreadable: embed again the files recorded as unreadable.
        progress: show a tqdm progress bar.

    Returns:
        A dict: `images` (indexed in all), `new` (embedded by this run),
        `unreadable` (list of `(path, reason)`).

    Raises:
        SearchIndexError: `out_dir` holds an index of another model, image folder
            or chunk size.
        ValueError: `image_dir` is not a folder or holds no image file.
    """
    image_dir = os.path.abspath(image_dir)
    if not os.path.isdir(image_dir):
        raise ValueError(f"{image_dir}: not a folder")
    files = list_images(image_dir)
    if not files:
        raise ValueError(f"{image_dir}: no .jpg/.jpeg/.png/.tif/.tiff/.bmp file found")
    header = {
        "format_version": FORMAT_VERSION,
        "model": encoder.spec(),
        "fingerprint": encoder.fingerprint,
        "images": image_dir,
        "image_size": encoder.image_size,
        "use_roam": bool(encoder.use_roam),
        "chunk_size": int(chunk_size),
        "regions_dtype": regions_dtype,
    }
    existing = _check_resumable(out_dir, header)
    chunks = _chunk_files(out_dir)
    embedded, failed = _recorded_paths(chunks)
    done = embedded if retry_unreadable else embedded | failed
    todo = [f for f in files if f not in done]
    if not todo and existing.get("complete"):  # nothing to embed: keep the arrays as they are
        frame = pd.read_csv(os.path.join(out_dir, "unreadable.csv"), keep_default_na=False)
        unreadable = list(frame.itertuples(index=False, name=None))
        return {"images": existing["count"], "new": 0, "unreadable": unreadable}
    _write_json(os.path.join(out_dir, "index.json"), {**header, "complete": False})
    next_chunk = 1 + max((int(os.path.basename(c)[6:11]) for c in chunks), default=-1)
    new = 0
    with tqdm(
        total=len(files), initial=len(files) - len(todo), unit="img",
        desc="indexing", disable=not progress,
    ) as bar:
        for start in range(0, len(todo), chunk_size):
            records = _embed_chunk(encoder, image_dir, todo[start : start + chunk_size], batch_size, bar)
            chunk = os.path.join(out_dir, "chunks", f"chunk-{next_chunk:05d}.npz")
            _save_chunk(chunk, records, regions_dtype)
            next_chunk += 1
            new += len(records["path"])
    count, unreadable = _assemble(out_dir, header)
    return {"images": count, "new": new, "unreadable": unreadable}


class ImageIndex:
    """A complete index, opened for queries (arrays memory-mapped).

    Args:
        path: the index folder.

    Raises:
        SearchIndexError: not an index, or an unfinished one.
    """

    def __init__(self, path):
        self.path = os.path.abspath(path)
        self.header = _read_header(self.path)
        if not self.header.get("complete"):
            raise SearchIndexError(
                f"{path}: the index is unfinished (interrupted?): re-run `dove search index` "
                "with the same arguments to complete it"
            )
        self.table = pd.read_csv(os.path.join(self.path, "images.csv"), keep_default_na=False)
        self.unreadable = pd.read_csv(os.path.join(self.path, "unreadable.csv"), keep_default_na=False)
        self.image_dir = self.header["images"]
        self.use_roam = self.header["use_roam"]
        self._arrays = {
            name: np.load(os.path.join(self.path, f"{name}.npy"), mmap_mode="r")
            for name in ARRAYS
            if os.path.isfile(os.path.join(self.path, f"{name}.npy"))
        }

    def __len__(self):
        return len(self.table)

    @property
    def global_embeddings(self):
        """`(N, d)` memory-mapped V_M."""
        return self._arrays["global"]

    def features(self, rows):
        """Image features of `rows` for `score`: float32 copies in memory."""
        rows = np.asarray(rows)
        features = {}
        for name, array in self._arrays.items():
            values = np.asarray(array[rows])
            features[name] = values if name == "region_mask" else values.astype("float32")
        return features

    def full_path(self, row):
        """Absolute path of the image of `row`."""
        return os.path.join(self.image_dir, self.table["path"].iloc[int(row)])


def _check_resumable(out_dir, header):
    """The header of the index in `out_dir` ({} if new), checked against `header`."""
    os.makedirs(os.path.join(out_dir, "chunks"), exist_ok=True)
    if not os.path.isfile(os.path.join(out_dir, "index.json")):
        if os.listdir(os.path.join(out_dir, "chunks")):
            raise SearchIndexError(
                f"{out_dir}: chunks without index.json: not an index folder, choose another --out"
            )
        return {}
    existing = _read_header(out_dir)
    for key, what in _RESUME_KEYS.items():
        if existing.get(key) != header[key]:
            raise SearchIndexError(
                f"{out_dir} is an index built with another {what} ({existing.get(key)!r}, "
                f"now {header[key]!r}): choose another --out or delete it"
            )
    return existing


def _read_header(out_dir):
    path = os.path.join(out_dir, "index.json")
    if not os.path.isfile(path):
        raise SearchIndexError(f"{out_dir}: no index.json: not an index made by `dove search index`")
    with open(path, encoding="utf-8") as f:
        header = json.load(f)
    if header.get("format_version") != FORMAT_VERSION:
        raise SearchIndexError(
            f"{path}: format_version {header.get('format_version')!r}, expected {FORMAT_VERSION}"
        )
    return header


def _chunk_files(out_dir):
    return sorted(glob.glob(os.path.join(out_dir, "chunks", "chunk-[0-9][0-9][0-9][0-9][0-9].npz")))


def _recorded_paths(chunks):
    embedded, failed = set(), set()
    for chunk in chunks:
        with np.load(chunk) as data:
            embedded.update(data["path"].tolist())
            failed.update(data["failed_path"].tolist())
    return embedded, failed - embedded


def _embed_chunk(encoder, image_dir, names, batch_size, bar):
    """Reads and embeds `names`; returns the chunk's arrays."""
    rows, pictures, failures, features = [], [], [], []

    def flush():
        # Batches are padded to batch_size: compiled models (JAX, tf.function,
        # SavedModel) then see one input shape.
        if pictures:
            inputs = model_inputs(pictures, encoder.image_size)
            padded = np.zeros((batch_size,) + inputs.shape[1:], inputs.dtype)
            padded[: len(inputs)] = inputs
            outputs = encoder.encode_images(padded)
            features.append({key: value[: len(inputs)] for key, value in outputs.items()})
            pictures.clear()

    for name in names:
        path = os.path.join(image_dir, name)
        try:
            picture = load_image(path)
        except ImageError as error:
            failures.append((name, str(error)))
        else:
            rows.append({"path": name, **file_metadata(path, picture)})
            pictures.append(picture)
            if len(pictures) == batch_size:
                flush()
        bar.update(1)
    flush()
    records = {column: np.array([r[column] for r in rows]) for column in ("path",) + META_COLUMNS}
    records["path"] = records["path"].astype("U") if rows else np.array([], "U1")
    for key in features[0] if features else ():
        records[key] = np.concatenate([f[key] for f in features])
    records["failed_path"] = np.array([f[0] for f in failures] or [], "U")
    records["failed_error"] = np.array([f[1] for f in failures] or [], "U")
    return records


def _save_chunk(path, records, regions_dtype):
    if "regions" in records:
        records["regions"] = records["regions"].astype(regions_dtype)
    _atomic(path, lambda f: np.savez(f, **records))


def _assemble(out_dir, header):
    """Writes the arrays and tables from every chunk, rows sorted by path."""
    chunks = _chunk_files(out_dir)
    paths, metadata, failures = [], {c: [] for c in META_COLUMNS}, {}
    for chunk in chunks:
        with np.load(chunk) as data:
            paths.extend(data["path"].tolist())
            for column in META_COLUMNS:
                metadata[column].extend(data[column].tolist())
            failures.update(zip(data["failed_path"].tolist(), data["failed_error"].tolist()))
    order = np.argsort(np.array(paths, dtype=object), kind="stable")
    position = np.empty(len(order), dtype=np.int64)
    position[order] = np.arange(len(order))
    table = pd.DataFrame({"path": [paths[i] for i in order]})
    for column in META_COLUMNS:
        table[column] = [metadata[column][i] for i in order]
    indexed = set(paths)
    unreadable = sorted((p, e) for p, e in failures.items() if p not in indexed)
    if paths:
        _assemble_arrays(out_dir, chunks, position)
    _atomic(os.path.join(out_dir, "images.csv"), lambda f: table.to_csv(f, index=False), text=True)
    frame = pd.DataFrame(unreadable, columns=["path", "error"])
    _atomic(os.path.join(out_dir, "unreadable.csv"), lambda f: frame.to_csv(f, index=False), text=True)
    _write_json(os.path.join(out_dir, "index.json"), {**header, "count": len(paths), "complete": True})
    return len(paths), unreadable


def _assemble_arrays(out_dir, chunks, position):
    """Fills each `name.npy` chunk by chunk (bounded memory) through a memmap."""
    templates = {}
    for chunk in chunks:
        with np.load(chunk) as data:
            if len(data["path"]):
                templates = {n: data[n][:0] for n in ARRAYS if n in data.files}
                break
    for name, template in templates.items():
        final = os.path.join(out_dir, f"{name}.npy")
        staging = final + ".partial"
        array = np.lib.format.open_memmap(
            staging, mode="w+", dtype=template.dtype, shape=(len(position),) + template.shape[1:]
        )
        start = 0
        for chunk in chunks:
            with np.load(chunk) as data:
                if not len(data["path"]):
                    continue
                values = data[name]
            array[position[start : start + len(values)]] = values
            start += len(values)
        array.flush()
        del array
        os.replace(staging, final)


def _write_json(path, value):
    _atomic(path, lambda f: json.dump(value, f, indent=1, sort_keys=True), text=True)


def _atomic(path, write, text=False):
    """Writes through `write(file)` into a temporary file, then renames it."""
    staging = path + ".partial"
    with open(staging, "w" if text else "wb", **({"encoding": "utf-8"} if text else {})) as f:
        write(f)
        f.flush()
        os.fsync(f.fileno())
    os.replace(staging, path)
