"""SavedModel export: reloaded without dove_keras, the endpoints match the Keras model.

On the torch backend the export runs through the TensorFlow-backend
subprocess (the weights hand-off), so this module tests that path there.
"""

import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from keras import ops
from model_fixtures import batch
from model_fixtures import small_model
from search_fixtures import WORDS
from search_fixtures import decode
from search_fixtures import encode
from search_fixtures import picture
from search_fixtures import reference_token_ids
from search_fixtures import saved_small_model
from search_fixtures import write_image_folder

from dove_keras import cli
from dove_keras.export import export_saved_model
from dove_keras.export import read_metadata
from dove_keras.search import ImageFolder
from dove_keras.search import ImageIndex
from dove_keras.search import SearchEncoder
from dove_keras.search import Searcher
from dove_keras.search import build_index
from dove_keras.search import load_encoder

SIDE, LENGTH = 64, 12
TOLERANCE = 1e-4
CAPTIONS = [
    "W2 w3, w4!",
    "w5 unknownword w7",
    "  w10\tw11 w12 w13 w14 w15 w16 w17 w18 w19 w20 w21 w22 w23 ",
    "w2",
]


@pytest.fixture(scope="module")
def exported(tmp_path_factory):
    """A small model, its `dove export`, and what the export gave in a clean process."""
    folder = tmp_path_factory.mktemp("export")
    model, model_path, preset = saved_small_model(LENGTH)
    path = folder / "dove_export"
    assert cli.main(["export", "--preset", str(preset), "--out", str(path)]) == 0  # no other option needed
    pictures = [picture(0, 64, 64), picture(1, 50, 70), picture(2, 90, 80)]
    encoded = [
        encode(pictures[0], "PNG"),
        encode(pictures[1], "JPEG", quality=90),
        encode(pictures[2], "PNG"),
    ]
    rng = np.random.default_rng(0)
    inputs = {
        "encoded": np.frombuffer(b"".join(encoded), np.uint8),
        "encoded_sizes": np.array([len(e) for e in encoded]),
        "captions": np.array(CAPTIONS),
        "images": rng.standard_normal((3, SIDE, SIDE, 3)).astype("float32"),
        "token_ids": batch(size=4, length=LENGTH)["token_ids"],
    }
    np.savez(folder / "inputs.npz", **inputs)
    out = folder / "outputs.npz"
    tests_dir = Path(__file__).parent
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"}
    env.pop("KERAS_BACKEND", None)
    result = subprocess.run(
        [sys.executable, str(tests_dir / "export_loader.py"), str(path), str(folder / "inputs.npz"),
         str(out)],
        cwd=folder, env=env, capture_output=True, text=True, timeout=300,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    return {
        "model": model, "model_path": model_path, "preset": preset, "path": path,
        "inputs": inputs, "decoded": [decode(e) for e in encoded], "outputs": dict(np.load(out)),
    }


def _numpy(features):
    return {key: ops.convert_to_numpy(value) for key, value in features.items()}


def _assert_close(outputs, endpoint, expected):
    for key, value in expected.items():
        got = outputs[f"{endpoint}/{key}"]
        assert got.shape == value.shape, f"{endpoint}/{key}: shape {got.shape} != {value.shape}"
        if value.dtype == bool:
            np.testing.assert_array_equal(got, value, err_msg=f"{endpoint}/{key}")
        else:
            diff = np.abs(got - value).max()
            assert diff <= TOLERANCE, f"{endpoint}/{key}: max abs diff {diff}"


def test_raw_image_endpoint_matches_keras_model(exported):
    model = exported["model"]
    # Reference: the Pillow pixels (the training data's decoder) through the
    # preprocessor's resize and normalisation, then the Keras model.
    expected = _numpy(model.embed_images(exported["decoded"]))
    _assert_close(exported["outputs"], "embed_images", expected)
    _assert_close(exported["outputs"], "embed_pixels", expected)


def test_raw_text_endpoint_matches_keras_model(exported):
    ids = reference_token_ids(CAPTIONS, LENGTH)
    assert ids[2, -1] != 0 and ids[1, 1] == 1  # truncated, out-of-vocabulary
    expected = _numpy(exported["model"].encode_text(ids))
    _assert_close(exported["outputs"], "embed_texts", expected)


def test_tensor_endpoints_and_score_match_keras_model(exported):
    model, inputs, outputs = exported["model"], exported["inputs"], exported["outputs"]
    images = model.encode_image(inputs["images"])
    texts = model.encode_text(inputs["token_ids"])
    _assert_close(outputs, "encode_image", _numpy(images))
    _assert_close(outputs, "encode_text", _numpy(texts))
    expected = model.score(images, texts)
    assert outputs["score"].shape == expected.shape == (3, 4)
    assert np.abs(outputs["score"] - expected).max() <= TOLERANCE


def test_loader_never_imports_dove_keras(exported):
    assert exported["outputs"]["modules"].tolist() == [""]


EXPECTED_ERRORS = {
    "image_float": ("TypeError", "dtype=tf.string"),
    "image_rank2": ("InvalidArgumentError", "embed_images: expected a 1-D batch of encoded images"),
    "image_scalar": ("InvalidArgumentError", "embed_images: expected a 1-D batch of encoded images"),
    "image_empty": ("InvalidArgumentError", "embed_images: got an empty batch"),
    "image_garbage": ("InvalidArgumentError", "batch indices are not JPEG, PNG, GIF or BMP bytes"),
    "image_truncated": (
        "InvalidArgumentError", "images at these batch indices are truncated (no end-of-image marker):] [0]"
    ),
    "image_16_bit": ("InvalidArgumentError", "16-bit PNGs, which the graph does not stretch"),
    "pixels_16_bit": (
        "InvalidArgumentError", "embed_pixels: pixel values must be finite and in [0, 255] (8-bit)"
    ),
    "text_int": ("TypeError", "dtype=tf.string"),
    "text_empty_batch": ("InvalidArgumentError", "embed_texts: got an empty batch (0 captions)"),
    "text_empty_caption": ("InvalidArgumentError", "empty caption after normalisation"),
    "ids_float": ("TypeError", "dtype=tf.int32"),
    "ids_negative": ("InvalidArgumentError", "encode_text: token ids must be in [0, 40)"),
}


def test_bad_raw_inputs_give_clear_errors(exported):
    errors = {}
    for line in exported["outputs"]["errors"].tolist():
        case, kind, message = line.split("|", 2)
        errors[case] = (kind, message)
    assert set(errors) == set(EXPECTED_ERRORS)
    for case, (kind, fragment) in EXPECTED_ERRORS.items():
        assert errors[case][0] == kind, f"{case}: {errors[case]}"
        assert fragment in errors[case][1], f"{case}: {errors[case][1][:500]}"
    # The garbage input is named by its batch index.
    assert "TIFF is not decoded in the graph" in errors["image_garbage"][1]
    assert errors["image_garbage"][1].split("embed_pixels):]")[-1].strip().startswith("[1]")


def test_metadata_describes_the_export(exported):
    metadata = read_metadata(exported["path"])
    assert metadata["image_size"] == SIDE
    assert metadata["sequence_length"] == LENGTH
    assert metadata["vocabulary_size"] == len(WORDS) + 2
    assert metadata["region_count"] == exported["outputs"]["embed_images/regions"].shape[1]
    assert metadata["gene_count"] == exported["outputs"]["embed_texts/genes"].shape[1]
    assert metadata["exported_from_backend"] in ("tensorflow", "jax")
    assert metadata["model_config"]["embedding_dim"] == exported["model"].backbone.embedding_dim


def test_search_with_the_export_matches_the_keras_model(exported, tmp_path):
    folder = tmp_path / "pictures"
    write_image_folder(folder, count=5)
    results = {}
    for name, model in (("export", exported["path"]), ("keras", exported["model"])):
        encoder = load_encoder(model)
        assert isinstance(encoder, SearchEncoder)
        build_index(encoder, ImageFolder(folder), tmp_path / name, batch_size=4, progress=False)
        searcher = Searcher(ImageIndex(tmp_path / name), encoder)
        results[name] = searcher.search("w3 w4 w9", k=5, candidates=5).sort_values("path")
    export, reference = results["export"], results["keras"]
    assert export["path"].tolist() == reference["path"].tolist()
    for column in ("roam_score", "global_score"):
        assert np.abs(export[column].to_numpy() - reference[column].to_numpy()).max() <= TOLERANCE


def test_export_refuses_what_it_cannot_serve(exported, tmp_path):
    model = exported["model"]
    with pytest.raises(ValueError, match="has no preprocessor"):
        export_saved_model(small_model(), tmp_path / "a")
    with pytest.raises(ValueError, match="exists; pass overwrite=True"):
        export_saved_model(model, exported["path"])
    precomputed = small_model(regions=(3, 10), preprocessor=model.preprocessor)
    with pytest.raises(ValueError, match="Only region_source='grid'"):
        export_saved_model(precomputed, tmp_path / "c")
    assert not any((tmp_path / name).exists() for name in "ac")


def test_export_command_reports_bad_arguments(exported, tmp_path, capsys):
    out = str(tmp_path / "out")
    assert cli.main(["export", "--preset", str(exported["preset"]), "--model", "x.keras", "--out", out]) == 2
    assert "give exactly one of --preset DIR, --model FILE.keras or --config FILE" in capsys.readouterr().err
    code = cli.main(["export", "--model", str(exported["model_path"]), "--out", str(exported["path"])])
    assert code == 2
    assert "exists; pass overwrite=True (--overwrite)" in capsys.readouterr().err
    config = tmp_path / "config.yaml"
    config.write_text(
        f"output_dir: {tmp_path / 'run'}\ndata:\n  prepared_dir: {tmp_path}\n"
        f"  vocabulary: {exported['preset'] / 'assets' / 'tokenizer' / 'vocabulary.txt'}\n"
    )
    assert cli.main(["export", "--config", str(config), "--out", out]) == 2
    assert "model not found" in capsys.readouterr().err
    assert not (tmp_path / "out").exists()
