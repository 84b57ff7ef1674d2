"""`build_index`: contents, unreadable files, resumption and refusals."""

import numpy as np
import pandas as pd
import pytest
from search_fixtures import interrupt_after_first_chunk
from search_fixtures import saved_small_model
from search_fixtures import write_image_folder

from dove_keras.data.images import load_image
from dove_keras.search import ImageFolder
from dove_keras.search import ImageIndex
from dove_keras.search import SearchIndexError
from dove_keras.search import build_index
from dove_keras.search import load_encoder
from dove_keras.search.pixels import model_pixels

SIDE, LENGTH, BATCH = 64, 12, 4


@pytest.fixture(scope="module")
def setup(tmp_path_factory):
    folder = tmp_path_factory.mktemp("search_index")
    model, _, _ = saved_small_model(LENGTH)
    images = folder / "pictures"
    readable = write_image_folder(images, count=7)
    encoder = load_encoder(model)
    return {"encoder": encoder, "images": images, "readable": readable, "folder": folder}


def _index(setup, out, encoder=None, images=None, **options):
    """`build_index` with the fixture's encoder and folder, small batches, no bar."""
    return build_index(
        encoder or setup["encoder"], ImageFolder(images or setup["images"]), out,
        batch_size=BATCH, progress=False, **options,
    )


class _OtherModel:
    """The fixture's encoder seen as another model (another fingerprint)."""

    def __init__(self, encoder):
        self._encoder = encoder
        self.fingerprint = "0123456789abcdef"

    def __getattr__(self, name):
        return getattr(self._encoder, name)


def test_index_holds_every_readable_image_sorted_by_path(setup, tmp_path):
    summary = _index(setup, tmp_path / "index", chunk_size=3)
    assert summary["images"] == summary["new"] == 7
    assert [path for path, _ in summary["unreadable"]] == ["a/broken.png"]
    assert "unreadable image" in summary["unreadable"][0][1]
    index = ImageIndex(tmp_path / "index")
    assert index.table["path"].tolist() == setup["readable"]
    assert index.unreadable["path"].tolist() == ["a/broken.png"]
    pictures = [load_image(setup["images"] / path) for path in setup["readable"]]
    assert index.table["height"].tolist() == [p.shape[0] for p in pictures]
    # Rows are the model's features of each file, whatever chunk it was in.
    expected = setup["encoder"].embed_pixels(model_pixels(pictures, SIDE))
    features = index.features(np.arange(7))
    assert set(features) == {"global", "fused", "regions", "region_mask"}
    for key, value in expected.items():
        np.testing.assert_allclose(features[key], value, atol=1e-5, err_msg=key)
    np.testing.assert_allclose(index.global_embeddings, expected["global"], atol=1e-5)


def test_interrupted_index_resumes_to_the_single_run_index(setup, tmp_path, monkeypatch):
    _index(setup, tmp_path / "single", chunk_size=3)

    interrupt_after_first_chunk(monkeypatch)
    with pytest.raises(KeyboardInterrupt):
        _index(setup, tmp_path / "resumed", chunk_size=3)
    monkeypatch.undo()
    with pytest.raises(SearchIndexError, match="unfinished"):
        ImageIndex(tmp_path / "resumed")
    assert len(list((tmp_path / "resumed" / "chunks").iterdir())) == 1
    # The first chunk held a/broken.png, a/img00.png and a/img02.tif.
    summary = _index(setup, tmp_path / "resumed", chunk_size=3)
    assert (summary["images"], summary["new"]) == (7, 5)

    single, resumed = ImageIndex(tmp_path / "single"), ImageIndex(tmp_path / "resumed")
    pd.testing.assert_frame_equal(single.table, resumed.table)
    pd.testing.assert_frame_equal(single.unreadable, resumed.unreadable)
    for key, value in single.features(np.arange(7)).items():
        np.testing.assert_allclose(resumed.features(np.arange(7))[key], value, atol=1e-6, err_msg=key)


def test_rerun_embeds_nothing_new(setup, tmp_path):
    out = tmp_path / "index"
    _index(setup, out, chunk_size=4)
    written = (out / "global.npy").stat().st_mtime_ns
    again = _index(setup, out, chunk_size=4)
    assert (again["images"], again["new"]) == (7, 0)
    assert (out / "global.npy").stat().st_mtime_ns == written  # nothing rewritten
    retried = _index(setup, out, chunk_size=4, retry_unreadable=True)
    assert (retried["images"], retried["new"]) == (7, 0)
    assert [path for path, _ in retried["unreadable"]] == ["a/broken.png"]


def test_index_refuses_another_model_or_chunk_size(setup, tmp_path):
    out = tmp_path / "index"
    _index(setup, out, chunk_size=4)
    with pytest.raises(SearchIndexError, match="another model"):
        _index(setup, out, encoder=_OtherModel(setup["encoder"]), chunk_size=4)
    with pytest.raises(SearchIndexError, match="another chunk size"):
        _index(setup, out, chunk_size=5)
    with pytest.raises(ValueError, match="no .jpg"):
        _index(setup, tmp_path / "other", images=tmp_path)


def test_float16_regions_halve_storage(setup, tmp_path):
    _index(setup, tmp_path / "f16", regions_dtype="float16")
    _index(setup, tmp_path / "f32")
    f16 = np.load(tmp_path / "f16" / "regions.npy", mmap_mode="r")
    f32 = np.load(tmp_path / "f32" / "regions.npy", mmap_mode="r")
    assert f16.dtype == np.float16 and f16.nbytes * 2 == f32.nbytes
    features = ImageIndex(tmp_path / "f16").features([0, 3])["regions"]
    assert features.dtype == np.float32
    np.testing.assert_allclose(features, f32[[0, 3]], rtol=2e-3, atol=2e-3)
