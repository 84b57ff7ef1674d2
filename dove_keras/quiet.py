"""TensorFlow imported without its C++ start-up log lines (unless the user asked for them).

TensorFlow 2.21 writes absl lines (oneDNN, CUDA stubs) to stderr while it
loads, whatever `TF_CPP_MIN_LOG_LEVEL` says; they are hidden by sending the
process's stderr to /dev/null during the import. A user who set
`TF_CPP_MIN_LOG_LEVEL` to 0 or 1 sees them.
"""

import contextlib
import os
import sys


def import_tensorflow_quietly():
    """Sets the logging environment (user settings kept) and imports TensorFlow once."""
    user_level = os.environ.get("TF_CPP_MIN_LOG_LEVEL")
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    if "tensorflow" in sys.modules:
        return
    wants_logs = user_level is not None and user_level.strip() in ("0", "1")
    with contextlib.nullcontext() if wants_logs else _stderr_silenced():
        import tensorflow  # noqa: F401


@contextlib.contextmanager
def _stderr_silenced():
    sys.stderr.flush()
    saved = os.dup(2)
    try:
        with open(os.devnull, "w") as devnull:
            os.dup2(devnull.fileno(), 2)
        yield
    finally:
        os.dup2(saved, 2)
        os.close(saved)
