"""Files written atomically: a crash never leaves a half-written file in place."""

import hashlib
import json
import os
import shutil


def atomic_write(path, write, text=False):
    """Writes through `write(file)` into `path + ".partial"`, then renames it over `path`."""
    staging = f"{path}.partial"
    mode, options = ("w", {"encoding": "utf-8"}) if text else ("wb", {})
    try:
        with open(staging, mode, **options) as f:
            write(f)
            f.flush()
            os.fsync(f.fileno())
        os.replace(staging, path)
    except BaseException:
        if os.path.exists(staging):
            os.remove(staging)
        raise


def atomic_write_text(path, text):
    """Writes a text file atomically (UTF-8)."""
    atomic_write(path, lambda f: f.write(text), text=True)


def atomic_write_json(path, value):
    """Writes JSON atomically (indented, keys sorted)."""
    atomic_write_text(path, json.dumps(value, indent=1, sort_keys=True))


def replace_folder(staging, path):
    """Moves the complete folder `staging` to `path`, replacing what was there.

    Both must be on one file system. `path` is missing only between two
    renames; a crash there leaves the previous folder as `path + ".old"`.
    """
    old = f"{path}.old"
    if os.path.exists(path):
        shutil.rmtree(old, ignore_errors=True)
        os.replace(path, old)
    os.replace(staging, path)
    shutil.rmtree(old, ignore_errors=True)


def sha256_file(path):
    """The sha256 hex digest of a file's bytes."""
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()
