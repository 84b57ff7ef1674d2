"""Search over the 40 real image-caption pairs after a short fit on them.

The fit (a few epochs of a tiny model) runs only on the TensorFlow backend:
it costs ~20-30 s of CPU there and more on JAX and torch, and what it checks
(that indexing and two-stage querying retrieve what the model learned) does
not depend on the backend; the search mechanics are tested on every backend
by test_search_index.py and test_search_query.py.
"""

import collections
import json

import keras
import numpy as np
import pytest
from model_fixtures import small_model

from dove_keras import cli
from dove_keras.data.images import load_image
from dove_keras.models import DOVEImageConverter
from dove_keras.models import DOVEPreprocessor
from dove_keras.models import DOVETokenizer
from dove_keras.preprocessing.captions import normalize_caption
from dove_keras.search import ImageFolder
from dove_keras.search import ImageIndex
from dove_keras.search import Searcher
from dove_keras.search import build_index
from dove_keras.search import load_encoder
from dove_keras.search.pixels import model_pixels

pytestmark = pytest.mark.skipif(
    keras.backend.backend() != "tensorflow",
    reason="the fit on the real pairs runs on the TensorFlow backend only (CPU budget); "
    "search mechanics are covered on every backend by test_search_index/test_search_query",
)
SIDE, LENGTH, EPOCHS = 64, 16, 15
FIT_CAPTIONS = 2  # the first captions of each image are fitted (80 pairs per epoch)


@pytest.fixture(scope="module")
def fitted(shared_data, tmp_path_factory):
    """A tiny DOVE fitted on the 40 images (2 captions each), saved, and an index of them."""
    root = shared_data / "real_pairs"
    pairs = json.loads((root / "captions.json").read_text())["images"]
    folder = tmp_path_factory.mktemp("real_pairs")
    sentences = [sentence for pair in pairs for sentence in pair["sentences"]]
    counts = collections.Counter(word for s in sentences for word in normalize_caption(s).split())
    vocabulary = folder / "vocab.txt"
    vocabulary.write_text("\n".join(word for word, _ in counts.most_common()) + "\n")
    preprocessor = DOVEPreprocessor(DOVETokenizer(str(vocabulary)), DOVEImageConverter(SIDE), LENGTH)
    pixels = model_pixels([load_image(root / pair["path"]) for pair in pairs], SIDE)
    captions = [sentence for pair in pairs for sentence in pair["sentences"][:FIT_CAPTIONS]]
    image_ids = np.repeat(np.arange(len(pairs)), FIT_CAPTIONS).astype("int32")

    keras.utils.set_random_seed(0)
    model = small_model(
        vocabulary_size=preprocessor.tokenizer.vocabulary_size(), embedding_dim=32, word_dim=16,
        iga_key_dim=8, train_image_backbone=True, preprocessor=preprocessor,
    )
    model.compile(optimizer=keras.optimizers.Adam(3e-3))
    inputs = {"images": pixels[image_ids], "captions": np.array(captions), "image_ids": image_ids}
    history = model.fit(inputs, batch_size=40, epochs=EPOCHS, shuffle=True, verbose=0)  # raw: preprocessed by fit
    model_path = folder / "fitted.keras"
    model.save(model_path)

    encoder = load_encoder(model_path)
    build_index(encoder, ImageFolder(root / "images"), folder / "index", chunk_size=16, progress=False)
    return {
        "pairs": pairs, "history": history.history, "encoder": encoder,
        "index": ImageIndex(folder / "index"), "folder": folder,
    }


def _hits(searcher, pairs, k, **options):
    """Per pair: does its first caption find an image carrying that caption in the top k?"""
    hits = []
    for pair in pairs:
        caption = pair["sentences"][0]
        results = searcher.search(caption, k=k, **options)
        owners = {p["path"] for p in pairs if caption in p["sentences"]}
        hits.append(any(f"images/{path}" in owners for path in results["path"]))
    return np.array(hits)


def test_fit_reduced_both_losses(fitted):
    history = fitted["history"]
    assert history["triplet_loss"][-1] < 0.5 * history["triplet_loss"][0]
    assert history["global_loss"][-1] < 0.5 * history["global_loss"][0]


def test_index_holds_the_40_real_images(fitted):
    index = fitted["index"]
    assert len(index) == 40 and len(index.unreadable) == 0
    expected = sorted(pair["path"].removeprefix("images/") for pair in fitted["pairs"])
    assert index.table["path"].tolist() == expected
    by_path = {pair["path"].removeprefix("images/"): pair for pair in fitted["pairs"]}
    for row in index.table.itertuples():
        assert (row.width, row.height) == (by_path[row.path]["width"], by_path[row.path]["height"])


def test_each_image_is_found_by_its_own_caption(fitted):
    searcher = Searcher(fitted["index"], fitted["encoder"])
    # Chance: 25 % in the top 10 of 40 images, 12.5 % in the top 5.
    reranked = _hits(searcher, fitted["pairs"], k=10, candidates=20)
    stage_one = _hits(searcher, fitted["pairs"], k=10, rerank=False)
    assert reranked.mean() >= 0.9, f"ROAM re-ranked top-10 hits: {reranked.mean():.2f}"
    assert stage_one.mean() >= 0.9, f"stage-1 top-10 hits: {stage_one.mean():.2f}"
    assert _hits(searcher, fitted["pairs"], k=5, candidates=20).mean() >= 0.7


def test_cli_query_prints_the_image_of_a_caption(fitted, capsys):
    pair = fitted["pairs"][0]
    index = str(fitted["folder"] / "index")
    code = cli.main(["search", "query", "--index", index, pair["sentences"][0], "-k", "10"])
    assert code == 0
    assert pair["path"].removeprefix("images/") in capsys.readouterr().out
