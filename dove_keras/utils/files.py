"""Files written atomically: a crash never leaves a half-written file in place."""

import contextlib
import hashlib
import json
import os
import shutil
import tempfile


@contextlib.contextmanager
def staged_path(path):
    """Yields `path + ".partial"` to write; renames it over `path` when the block succeeds.

    For writers that need a file name rather than a file object (e.g. a numpy
    memmap). On any error the staging file is removed and `path` is untouched.
    """
    staging = f"{os.fspath(path)}.partial"
    try:
        yield staging
        os.replace(staging, path)
    except BaseException:
        if os.path.exists(staging):
            os.remove(staging)
        raise


def atomic_write(path, write, text=False):
    """Writes through `write(file)` into `path + ".partial"`, then renames it over `path`."""
    mode, options = ("w", {"encoding": "utf-8"}) if text else ("wb", {})
    with staged_path(path) as staging:
        with open(staging, mode, **options) as f:
            write(f)
            f.flush()
            os.fsync(f.fileno())


def atomic_write_text(path, text):
    """Writes exactly `text` (UTF-8, no newline translation) atomically."""
    atomic_write(path, lambda f: f.write(text.encode("utf-8")))


def atomic_write_json(path, value):
    """Writes JSON atomically (indented, keys sorted)."""
    atomic_write_text(path, json.dumps(value, indent=1, sort_keys=True))


def staging_folder(parent, prefix):
    """A new empty folder in `parent` to fill and then move into place with `replace_folder`.

    Unlike `tempfile.mkdtemp` (always `drwx------`), its mode follows the umask
    like any `mkdir`, so the folder it becomes is as readable as the user's others.
    """
    path = tempfile.mkdtemp(prefix=prefix, dir=parent)
    mask = os.umask(0)
    os.umask(mask)
    os.chmod(path, 0o777 & ~mask)
    return path


@contextlib.contextmanager
def folder_written_whole(path, prefix):
    """Yields a staging folder beside `path`; once the block ends without error it replaces `path`.

    An interrupted or failed write leaves `path` as it was and no staging folder behind.
    """
    parent = os.path.dirname(os.path.abspath(path))
    os.makedirs(parent, exist_ok=True)
    staging = staging_folder(parent, prefix)
    try:
        yield staging
        replace_folder(staging, path)
    finally:
        shutil.rmtree(staging, ignore_errors=True)


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


def list_files(folder, extensions, follow_links=False):
    """Files under a folder (recursive) with one of the given extensions.

    Args:
        folder: the folder.
        extensions: a tuple of lower-case name endings, e.g. (".tif", ".tiff");
            names are matched case-insensitively.
        follow_links: follow symlinked folders, each real folder once (a link
            back to an ancestor does not loop).

    Returns:
        A sorted list of paths relative to `folder`, with "/" separators.
    """
    found, seen = [], set()
    for root, dirs, files in os.walk(folder, followlinks=follow_links):
        real = os.path.realpath(root)
        if real in seen:
            dirs[:] = []
            continue
        seen.add(real)
        dirs.sort()
        for name in files:
            if name.lower().endswith(tuple(extensions)):
                relative = os.path.relpath(os.path.join(root, name), folder)
                found.append(relative.replace(os.sep, "/"))
    return sorted(found)


def sha256_file(path):
    """The sha256 hex digest of a file's bytes."""
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def hash_folder(path):
    """sha256 (16 hex digits) of a file, or of every file of a folder by relative path."""
    digest = hashlib.sha256()
    if os.path.isfile(path):
        files, root = [path], os.path.dirname(path)
    else:
        files = sorted(os.path.join(top, name) for top, _, names in os.walk(path) for name in names)
        root = path
    for name in files:
        digest.update(os.path.relpath(name, root).encode())
        with open(name, "rb") as f:
            for block in iter(lambda: f.read(1 << 20), b""):
                digest.update(block)
    return digest.hexdigest()[:16]
