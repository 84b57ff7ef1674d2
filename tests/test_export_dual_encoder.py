"""Export and search of a model without ROAM (a plain dual encoder).

Runs on the TensorFlow backend only: the dual encoder shares the export code
of the ROAM model, whose endpoints are checked on every backend by
test_export_saved_model.py; here only what differs is checked (outputs,
`score(image_global, text_global)`, stage-1-only search).
"""

import keras
import numpy as np
import pytest
import tensorflow as tf
from model_fixtures import batch
from model_fixtures import small_model
from search_fixtures import WORDS
from search_fixtures import write_image_folder

from dove_keras.export import export_saved_model
from dove_keras.models import DOVEImageConverter
from dove_keras.models import DOVEPreprocessor
from dove_keras.models import DOVETokenizer
from dove_keras.search import ImageFolder
from dove_keras.search import ImageIndex
from dove_keras.search import Searcher
from dove_keras.search import build_index
from dove_keras.search import load_encoder

pytestmark = pytest.mark.skipif(
    keras.backend.backend() != "tensorflow",
    reason="the dual-encoder variant is exported on TensorFlow only (shared export code; "
    "per-backend parity is tested with the ROAM model)",
)


def test_dual_encoder_export_scores_the_global_cosine_and_searches(tmp_path):
    keras.utils.set_random_seed(4)
    preprocessor = DOVEPreprocessor(DOVETokenizer(WORDS), DOVEImageConverter(64), sequence_length=12)
    model = small_model(use_roam=False, preprocessor=preprocessor)
    export_saved_model(model, tmp_path / "export")
    dove = tf.saved_model.load(str(tmp_path / "export"))
    inputs = batch(size=3)
    images = dove.encode_image(tf.constant(inputs["images"]))
    texts = dove.encode_text(tf.constant(inputs["token_ids"]))
    assert set(images) == {"global", "fused"}
    scores = dove.score(images["global"], texts["global"]).numpy()
    expected = model.global_score(model.encode_image(inputs["images"]), model.encode_text(inputs["token_ids"]))
    assert scores.shape == (3, 3)
    assert np.abs(scores - expected).max() <= 1e-4

    write_image_folder(tmp_path / "pictures", count=3)
    encoder = load_encoder(tmp_path / "export")
    build_index(encoder, ImageFolder(tmp_path / "pictures"), tmp_path / "index", batch_size=4, progress=False)
    index = ImageIndex(tmp_path / "index")
    assert set(index.features([0])) == {"global", "fused"}
    results = Searcher(index, encoder).search("w3 w4", k=2, candidates=3)
    assert results["roam_score"].isna().all() and results["global_rank"].tolist() == [1, 2]
    assert results["score"].is_monotonic_decreasing
