"""An imported CLIP end to end: zero-shot evaluation, SavedModel export, folder and GeoTIFF search.

The model is a small random `transformers.CLIPModel`; the recalls `dove
evaluate` reports are checked against transformers' own embeddings of the
same pixels and captions.
"""

import json
import os

import clip_fixtures
import keras
import numpy as np
import pandas as pd
import pytest
from PIL import Image
from training_fixtures import make_prepared
from training_fixtures import tiny_config

from dove_keras import cli
from dove_keras.data.images import load_image
from dove_keras.evaluation.ranks import retrieval_recalls
from dove_keras.export import export_saved_model
from dove_keras.models.clip import CLIPRetriever
from dove_keras.models.clip import import_clip
from dove_keras.models.presets import load_preset
from dove_keras.training import save_config

torch = pytest.importorskip("torch")
pytest.importorskip("transformers")


@pytest.fixture(scope="module")
def clip(tmp_path_factory):
    """Generated scenes (prepared shards) and a small random CLIP imported from an HF folder."""
    from transformers.utils import logging as hf_logging

    hf_logging.disable_progress_bar()
    root = tmp_path_factory.mktemp("clip_zero_shot")
    data = str(root / "data")
    prepared, _ = make_prepared(data)
    with open(os.path.join(data, "raw", "train_caps.txt")) as f:
        captions = f.read().splitlines()
    tokenizer = str(root / "tokenizer")
    clip_fixtures.write_bpe_vocabulary(tokenizer, captions, num_merges=60)
    config = clip_fixtures.hf_config(clip_fixtures.vocabulary_size(tokenizer), activation="gelu")
    model = clip_fixtures.random_hf_model(config, seed=4)
    folder = clip_fixtures.write_hf_folder(model, str(root / "hf"), tokenizer)
    preset = str(root / "preset")
    import_clip(folder, preset)
    return {"root": root, "data": data, "model": model, "preset": preset, "retriever": load_preset(preset)}


def test_zero_shot_evaluation_matches_transformers(clip, tmp_path, capsys):
    config = tmp_path / "config.yaml"
    save_config(tiny_config(clip["data"], tmp_path / "run"), str(config))
    assert cli.main(["evaluate", "--config", str(config), "--preset", clip["preset"], "--output",
                     str(tmp_path / "zero_shot"), "--quiet"]) == 0, capsys.readouterr().err
    recalls = pd.read_csv(tmp_path / "zero_shot" / "results_test_roam.csv").iloc[0]
    # The same split through transformers: the converter's pixels, transformers' tokenizer and towers.
    import transformers

    with open(os.path.join(clip["data"], "raw", "test_caps.txt")) as f:
        captions = f.read().splitlines()
    with open(os.path.join(clip["data"], "raw", "test_filename.txt")) as f:
        files = f.read().split()
    converter = clip["retriever"].preprocessor.image_converter
    pixels = np.stack([np.asarray(Image.open(os.path.join(clip["data"], "images", name)).convert("RGB"))
                       for name in files])
    images = converter.convert(pixels).numpy()
    hf_tokenizer = transformers.CLIPTokenizer(*(os.path.join(clip["root"], "hf", n) for n in ("vocab.json",
                                                                                             "merges.txt")))
    ids = hf_tokenizer(captions, padding=True, truncation=True, max_length=77, return_tensors="pt")
    with torch.no_grad():
        image = clip["model"].get_image_features(pixel_values=torch.tensor(images.transpose(0, 3, 1, 2)))
        text = clip["model"].get_text_features(**ids)
    image, text = (getattr(x, "pooler_output", x).numpy() for x in (image, text))
    image /= np.linalg.norm(image, axis=-1, keepdims=True)
    text /= np.linalg.norm(text, axis=-1, keepdims=True)
    expected = retrieval_recalls(image @ text.T, 5)
    assert set(expected) <= set(recalls.index)
    for name, value in expected.items():
        assert recalls[name] == pytest.approx(value, abs=0.01), name


@clip_fixtures.export_on_tensorflow
def test_export_serves_raw_captions_and_images(clip, tmp_path):
    import tensorflow as tf
    import tensorflow_text  # noqa: F401

    retriever = clip["retriever"]
    export_saved_model(retriever, tmp_path / "export")
    served = tf.saved_model.load(str(tmp_path / "export"))
    captions = ["a red square on green ground", "the 12 blue squares, it's 'grey'"]
    expected_ids = retriever.preprocessor.token_ids(captions).numpy()
    texts = served.embed_texts(tf.constant(captions))["global"].numpy()
    np.testing.assert_allclose(texts, keras.ops.convert_to_numpy(retriever.encode_text(expected_ids)["global"]),
                               atol=1e-5)
    png = open(os.path.join(clip["data"], "images", "test_0.png"), "rb").read()
    images = served.embed_images(tf.constant([png]))["global"].numpy()
    np.testing.assert_allclose(images, keras.ops.convert_to_numpy(retriever.embed_images([png])["global"]),
                               atol=1e-5)
    scores = served.score(images, texts).numpy()
    np.testing.assert_allclose(scores, retriever.score({"global": images}, {"global": texts}), atol=1e-5)
    metadata = json.loads((tmp_path / "export" / "assets.extra" / "dove_export.json").read_text())
    assert metadata["task"] == "CLIPRetriever" and metadata["use_roam"] is False
    assert metadata["sequence_length"] == 77 and metadata["image_size"] == 32


def test_search_a_folder_with_a_clip_preset(clip, tmp_path, capsys):
    index = tmp_path / "index"
    images = os.path.join(clip["data"], "images")
    assert cli.main(["search", "index", "--preset", clip["preset"], "--images", images, "--out", str(index),
                     "--quiet"]) == 0
    table = tmp_path / "hits.csv"
    assert cli.main(["search", "query", "--index", str(index), "a red square on green ground", "-k", "3",
                     "--csv", str(table)]) == 0
    hits = pd.read_csv(table)
    # The ranking is CLIP's cosine over the folder's images.
    retriever = clip["retriever"]
    names = sorted(os.listdir(images))
    scores = retriever.score(retriever.embed_images([load_image(os.path.join(images, n)) for n in names]),
                             retriever.embed_texts(["a red square on green ground"]))[:, 0]
    expected = [names[i] for i in np.argsort(-scores, kind="stable")[:3]]
    assert [os.path.basename(p) for p in hits["path"]] == expected


def test_search_geotiff_scenes_with_a_clip_preset(clip, tmp_path):
    pytest.importorskip("rasterio", reason="the gis extra is not installed")
    from dove_keras.geo.synthetic_mosaic import write_mosaic

    mosaic = write_mosaic(str(tmp_path / "mosaic.tif"), grid=(2, 2), scene_size=32, seed=2)
    index = tmp_path / "index"
    assert cli.main(["search", "index", "--preset", clip["preset"], "--scenes", mosaic.path, "--out", str(index),
                     "--quiet"]) == 0
    hits = tmp_path / "hits.geojson"
    assert cli.main(["search", "query", "--index", str(index), "a red square", "-k", "2", "--geojson",
                     str(hits)]) == 0
    assert len(json.loads(hits.read_text())["features"]) == 2
    assert isinstance(load_preset(clip["preset"]), CLIPRetriever)
