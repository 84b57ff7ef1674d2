"""`dove-data import-clip`: HF folders and open_clip state dicts -> keras-hub CLIP presets, proven exact.

References we did not write: Hugging Face `transformers.CLIPModel` (torch) for
the HF path; a plain numpy loop of the OpenAI CLIP forward for the state-dict
path. All checkpoints are small, random and generated here.
"""

import contextlib
import os

import clip_fixtures
import keras
import keras_hub
import numpy as np
import pytest

from data_tools.cli import main as dove_data
from dove_keras.models.clip import ARCHITECTURES
from dove_keras.models.clip import CLIPArchitecture
from dove_keras.models.clip import CLIPRetriever
from dove_keras.models.clip import import_clip
from dove_keras.models.presets import load_preset

torch = pytest.importorskip("torch")
pytest.importorskip("transformers")

CAPTIONS = [
    "many planes are parked near a terminal", "a ship is near the storage tank!",
    "green trees around a white building", "two baseball fields beside a road.",
    "The Parking lot, with 12 cars, is next to a (large) building",
]
HEADS = 4
TINY = CLIPArchitecture(image_size=32, patch_size=8, vision_width=32, vision_layers=2, vision_heads=HEADS,
                        text_width=32, text_layers=2, text_heads=HEADS, projection_dim=16,
                        activation="quick_gelu", vocabulary_size=0)


def normalized(x):
    x = np.asarray(x, dtype="float64")
    return x / np.linalg.norm(x, axis=-1, keepdims=True)


def to_numpy(x):
    return np.asarray(keras.ops.convert_to_numpy(x), dtype="float64")


@pytest.fixture(scope="module")
def checkpoints(tmp_path_factory):
    """A tokenizer folder, a random HF CLIP (quick_gelu and gelu) and its OpenAI-format state dicts."""
    from transformers.utils import logging as hf_logging

    hf_logging.disable_progress_bar()
    root = tmp_path_factory.mktemp("clip")
    tokenizer = str(root / "tokenizer")
    clip_fixtures.write_bpe_vocabulary(tokenizer, CAPTIONS * 2, num_merges=150)
    size = clip_fixtures.vocabulary_size(tokenizer)
    out = {"root": root, "tokenizer": tokenizer, "size": size}
    for activation in ("quick_gelu", "gelu"):
        model = clip_fixtures.random_hf_model(clip_fixtures.hf_config(size, activation=activation))
        folder = clip_fixtures.write_hf_folder(model, str(root / f"hf_{activation}"), tokenizer)
        out[activation] = {"model": model, "folder": folder, "preset": str(root / f"preset_{activation}")}
        import_clip(folder, out[activation]["preset"])
    state = clip_fixtures.openai_state_dict(out["quick_gelu"]["model"])
    out["state"] = state
    out["pt"] = str(root / "remoteclip_like.pt")  # a checkpoint under "state_dict" with DDP's prefix
    torch.save({"epoch": 3, "state_dict": {"module." + k: torch.tensor(v) for k, v in state.items()}}, out["pt"])
    out["safetensors"] = str(root / "raw.safetensors")
    from safetensors.numpy import save_file

    save_file({k: np.ascontiguousarray(v, dtype="float32") for k, v in state.items()}, out["safetensors"])
    return out


@pytest.fixture
def tiny_architecture(checkpoints, monkeypatch):
    """Registers the small test architecture under an open_clip-style name."""
    import dataclasses

    monkeypatch.setitem(ARCHITECTURES, "test-tiny", dataclasses.replace(TINY, vocabulary_size=checkpoints["size"]))
    return "test-tiny"


def hf_embeddings(model, images, token_ids):
    with torch.no_grad():
        image = model.get_image_features(pixel_values=torch.tensor(images.transpose(0, 3, 1, 2)))
        text = model.get_text_features(input_ids=torch.tensor(np.asarray(token_ids), dtype=torch.long))
    image, text = (getattr(x, "pooler_output", x) for x in (image, text))
    return image.numpy(), text.numpy()


@pytest.mark.parametrize("activation", ["quick_gelu", "gelu"])
def test_hf_import_matches_transformers(checkpoints, activation):
    source = checkpoints[activation]
    retriever = load_preset(source["preset"])
    assert isinstance(retriever, CLIPRetriever)
    images = np.random.default_rng(0).normal(size=(3, 32, 32, 3)).astype("float32")
    token_ids = retriever.preprocessor.token_ids(CAPTIONS).numpy()
    expected_image, expected_text = hf_embeddings(source["model"], images, token_ids)
    image = to_numpy(retriever.encode_image(images)["global"])
    text = to_numpy(retriever.encode_text(token_ids)["global"])
    assert np.abs(normalized(image) - normalized(expected_image)).max() < 1e-4
    assert np.abs(normalized(text) - normalized(expected_text)).max() < 1e-4
    # The scores of the task are CLIP's cosine.
    scores = retriever.score({"global": image}, {"global": text})
    np.testing.assert_allclose(scores, normalized(expected_image) @ normalized(expected_text).T, atol=1e-4)


@pytest.fixture(scope="module")
def state_dict_import(checkpoints, tmp_path_factory):
    """The `.pt` checkpoint (under "state_dict", with "module.") imported under a registered test name."""
    import dataclasses

    ARCHITECTURES["test-tiny"] = dataclasses.replace(TINY, vocabulary_size=checkpoints["size"])
    try:
        return import_clip(checkpoints["pt"], tmp_path_factory.mktemp("sd") / "preset", architecture="test-tiny",
                           tokenizer=checkpoints["tokenizer"])
    finally:
        del ARCHITECTURES["test-tiny"]


def test_state_dict_import_matches_the_numpy_reference(checkpoints, state_dict_import):
    retriever = state_dict_import
    images = np.random.default_rng(1).normal(size=(2, 32, 32, 3)).astype("float32")
    token_ids = retriever.preprocessor.token_ids(CAPTIONS[:2]).numpy()
    image = to_numpy(retriever.encode_image(images)["global"])
    text = to_numpy(retriever.encode_text(token_ids)["global"])
    end = checkpoints["size"] - 1
    for i in range(2):
        expected = clip_fixtures.reference_image_embedding(checkpoints["state"], images[i], HEADS)
        assert np.abs(normalized(image[i]) - normalized(expected)).max() < 1e-4
        ids = token_ids[i][: list(token_ids[i]).index(end) + 1]
        expected = clip_fixtures.reference_text_embedding(checkpoints["state"], ids, HEADS)
        assert np.abs(normalized(text[i]) - normalized(expected)).max() < 1e-4


def test_state_dict_forms_read_the_same_tensors(checkpoints):
    from dove_keras.models.clip.checkpoints import read_checkpoint

    wrapped, _ = read_checkpoint(checkpoints["pt"])
    raw, _ = read_checkpoint(checkpoints["safetensors"])
    assert sorted(wrapped) == sorted(raw) == sorted(checkpoints["state"])
    for name, value in checkpoints["state"].items():
        np.testing.assert_array_equal(wrapped[name], value)
        np.testing.assert_array_equal(raw[name], value)


def test_hf_and_state_dict_paths_give_the_same_weights(checkpoints, state_dict_import):
    from_hf = load_preset(checkpoints["quick_gelu"]["preset"])
    pairs = list(zip(from_hf.backbone.weights, state_dict_import.backbone.weights))
    assert len(pairs) == len(from_hf.backbone.weights) > 40
    for a, b in pairs:
        np.testing.assert_array_equal(to_numpy(a), to_numpy(b), err_msg=a.path)


def test_keras_hub_loads_the_preset(checkpoints):
    preset = checkpoints["quick_gelu"]["preset"]
    backbone = keras_hub.models.CLIPBackbone.from_preset(preset)
    tokenizer = keras_hub.models.CLIPTokenizer.from_preset(preset)
    retriever = load_preset(preset)
    ids = retriever.preprocessor.token_ids(CAPTIONS[:2]).numpy()
    np.testing.assert_array_equal(np.asarray(tokenizer(CAPTIONS[0].lower()))[:5], ids[0][1:6])
    images = np.zeros((2, 32, 32, 3), "float32")
    np.testing.assert_allclose(to_numpy(backbone.get_vision_embeddings(images)),
                               to_numpy(retriever.encode_image(images)["global"]), atol=1e-6)
    converter = retriever.preprocessor.image_converter
    assert converter.side == 32 and converter.interpolation == "bicubic"
    np.testing.assert_allclose(converter.offset, [-m / s for m, s in zip((0.48145466, 0.4578275, 0.40821073),
                                                                          (0.26862954, 0.26130258, 0.27577711))])


def test_keras_file_round_trip(checkpoints, tmp_path):
    retriever = load_preset(checkpoints["quick_gelu"]["preset"])
    retriever.save(tmp_path / "clip.keras")
    again = keras.saving.load_model(tmp_path / "clip.keras")
    texts = [retriever.embed_texts(CAPTIONS[:2])["global"], again.embed_texts(CAPTIONS[:2])["global"]]
    np.testing.assert_allclose(to_numpy(texts[0]), to_numpy(texts[1]), atol=1e-6)


@pytest.fixture(scope="module")
def bad_sources(checkpoints):
    """A truncated state dict and an HF folder without tokenizer files."""
    root = checkpoints["root"]
    truncated = str(root / "truncated.pt")
    with open(checkpoints["pt"], "rb") as f:
        data = f.read()
    with open(truncated, "wb") as f:
        f.write(data[: len(data) // 2])
    no_tokenizer = clip_fixtures.write_hf_folder(checkpoints["gelu"]["model"], str(root / "hf_without_tokenizer"))
    return {"truncated": truncated, "no_tokenizer": no_tokenizer}


BAD_CASES = {
    "unknown architecture": (lambda c, b: [c["pt"], "--architecture", "ViT-Q-99"], "invalid choice: 'ViT-Q-99'"),
    "shape mismatch": (lambda c, b: [c["pt"], "--architecture", "ViT-B-32", "--tokenizer", c["tokenizer"]],
                       "tensor visual.class_embedding has shape (32,)"),
    "no architecture": (lambda c, b: [c["pt"], "--tokenizer", c["tokenizer"]],
                        "name its architecture with --architecture"),
    "truncated": (lambda c, b: [b["truncated"], "--architecture", "test-tiny", "--tokenizer", c["tokenizer"]],
                  "cannot read the checkpoint"),
    "no tokenizer": (lambda c, b: [b["no_tokenizer"]], "no tokenizer found"),
    "missing source": (lambda c, b: [str(c["root"] / "nope.pt"), "--architecture", "test-tiny"],
                       "checkpoint not found"),
    "output exists": (lambda c, b: [c["gelu"]["folder"]], "exists; pass --overwrite"),
    "other architecture than config": (lambda c, b: [c["gelu"]["folder"], "--architecture", "ViT-B-16"],
                                       "describes"),
}


@pytest.mark.parametrize("case", list(BAD_CASES))
def test_bad_input_gets_one_line_and_writes_nothing(checkpoints, bad_sources, tiny_architecture, tmp_path,
                                                    capsys, case):
    arguments, expected = BAD_CASES[case]
    exists = tmp_path / "exists"
    exists.mkdir()
    (exists / "keep.txt").write_text("mine")
    output = exists if case == "output exists" else tmp_path / "preset"
    capsys.readouterr()
    with pytest.raises(SystemExit) if case == "unknown architecture" else contextlib.nullcontext():
        assert dove_data(["import-clip", *arguments(checkpoints, bad_sources), "--output", str(output)]) == 2
    last = capsys.readouterr().err.strip().splitlines()[-1]  # argparse's own errors follow a usage block
    assert last.startswith("dove-data import-clip: error:") and expected in last, last
    assert (exists / "keep.txt").read_text() == "mine"
    assert not (tmp_path / "preset").exists()
    assert not [name for name in os.listdir(tmp_path) if name.startswith(".preset-")]


def test_overwrite_replaces_a_preset(checkpoints, tmp_path, capsys):
    import shutil

    preset = tmp_path / "p"
    shutil.copytree(checkpoints["quick_gelu"]["preset"], preset)
    assert dove_data(["import-clip", checkpoints["gelu"]["folder"], "--output", str(preset), "--overwrite"]) == 0
    assert "CLIP ViT (width 32, 2 blocks, patch 8, image 32)" in capsys.readouterr().out
    assert load_preset(preset).backbone.vision_encoder.intermediate_activation == "gelu"


def test_a_torchscript_archive_is_read_as_its_state_dict(tmp_path):
    from dove_keras.models.clip.checkpoints import read_checkpoint

    class Visual(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.class_embedding = torch.nn.Parameter(torch.arange(4.0))

        def forward(self, x):
            return x + self.class_embedding

    class OpenAIStyle(torch.nn.Module):  # OpenAI's original .pt files are TorchScript archives
        def __init__(self):
            super().__init__()
            self.visual = Visual()
            self.logit_scale = torch.nn.Parameter(torch.tensor(2.0))

        def forward(self, x):
            return self.visual(x) * self.logit_scale

    torch.jit.save(torch.jit.script(OpenAIStyle()), str(tmp_path / "ViT-B-32.pt"))
    tensors, config = read_checkpoint(tmp_path / "ViT-B-32.pt")
    assert config is None and sorted(tensors) == ["logit_scale", "visual.class_embedding"]
    np.testing.assert_array_equal(tensors["visual.class_embedding"], np.arange(4.0))
