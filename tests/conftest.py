"""Shared fixtures: the real data folder beside the checkout, quiet logs."""

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
