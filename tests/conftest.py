"""Shared fixtures: the real data folder beside the checkout, quiet logs; backend-independent tests run once."""

import os
from pathlib import Path

import pytest

from dove_keras.backends import use_default_xla_flags

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
os.environ.setdefault("HF_HUB_OFFLINE", "1")
use_default_xla_flags()  # as `dove` does where its process starts

REPO_ROOT = Path(__file__).resolve().parents[1]
SHARED_DATA = Path(
    os.environ.get("DOVE_SHARED_DATA", REPO_ROOT.parent / "shared" / "data")
)


@pytest.fixture(scope="session")
def shared_data():
    """`../shared/data`, or skip when this checkout has none beside it."""
    if not SHARED_DATA.is_dir():
        pytest.skip(f"real data folder not found: {SHARED_DATA}")
    return SHARED_DATA


# `tests/run_all_backends.sh` runs the suite once per backend; a test that
# touches no Keras backend proves the same thing each time, so it runs once:
# on the torch pass, the shortest (CI runs the three passes at once).
ONCE_ON = "torch"


def pytest_collection_modifyitems(config, items):
    """Skips `backend_independent` tests unless the Keras backend is `ONCE_ON`."""
    import keras

    backend = keras.backend.backend()
    if backend == ONCE_ON:
        return
    skip = pytest.mark.skip(reason=f"backend_independent: runs on the {ONCE_ON} pass only (this is {backend})")
    for item in items:
        if item.get_closest_marker("backend_independent"):
            item.add_marker(skip)
