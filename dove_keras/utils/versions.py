"""The format-version check of every file layout dove_keras writes."""


def check_format_version(found, expected, path, what):
    """Raises ValueError unless `found` is `expected`.

    Args:
        found: the version read from the file (any value, None when absent).
        expected: the version this dove_keras reads.
        path: the file, for the message.
        what: what the file belongs to (e.g. "prepared folder").
    """
    if found != expected:
        raise ValueError(
            f"{path}: format_version {found!r}; this dove_keras reads {what} format {expected}. "
            "Write it again with this version."
        )
