"""Checking a Keras `.weights.h5` file before loading it."""

import h5py

READ_ERRORS = (OSError, KeyError, RuntimeError, ValueError, TypeError)


def check_weights_file(path):
    """Opens every group and reads every array of an HDF5 weights file.

    A file damaged inside while its header is intact opens, then fails on
    the first damaged object; this finds such damage before `load_weights`.
    (Damaged array values themselves carry no checksum and go unnoticed.)

    Raises:
        ValueError: the file is missing or damaged; the message names it.
    """
    def read(name, item):
        if isinstance(item, h5py.Dataset):
            item[()]

    try:
        with h5py.File(path, "r") as f:
            f.visititems(read)
    except READ_ERRORS as error:
        reason = str(error).split("\n")[0].strip("'\"")
        raise ValueError(f"{path}: damaged or unreadable weights file ({reason})") from None
