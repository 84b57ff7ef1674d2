"""DOVE-CLIP: ROAM and DTGA on a small random CLIP's towers (DESIGN section 1.7).

The CLIP is a random keras-hub `CLIPBackbone` (2 blocks, width 16, 32 px
images, 8 px patches: a 4 x 4 patch grid) with a BPE learnt on a few
captions, as `import_clip` builds them; the reference scores are its
`CLIPRetriever`'s zero-shot cosine.
"""

import json

import clip_fixtures
import keras
import numpy as np
import pytest
import tensorflow as tf
from search_fixtures import write_image_folder

from dove_keras.export import export_saved_model
from dove_keras.models.attention_maps import attention_maps
from dove_keras.models.attention_maps import raw_heat_maps
from dove_keras.models.clip import CLIPRetriever
from dove_keras.models.clip import DOVECLIPRetriever
from dove_keras.models.clip import dove_clip_from_clip
from dove_keras.models.clip.trainable_blocks import set_trainable_blocks
from dove_keras.models.inference import compile_inference
from dove_keras.models.losses import contrastive_loss
from dove_keras.models.presets import load_preset
from dove_keras.models.presets import save_preset
from dove_keras.models.scoring import cosine_matrix
from dove_keras.search import ImageFolder
from dove_keras.search import ImageIndex
from dove_keras.search import Searcher
from dove_keras.search import build_index
from dove_keras.search import load_encoder

CAPTIONS = ["a red square on green ground", "a blue square on white ground", "two planes near a terminal",
            "many green trees around a white square", "a river crosses the green ground", "blue planes"]


def pictures(count=6, seed=0):
    """uint8 `(count, 40, 40, 3)` pictures: a coloured square on a coloured ground."""
    rng = np.random.default_rng(seed)
    images = np.empty((count, 40, 40, 3), np.uint8)
    for i in range(count):
        images[i] = rng.integers(0, 256, 3)
        images[i, 8 + i : 28, 10:30 - i] = rng.integers(0, 256, 3)
    return images


@pytest.fixture(scope="module")
def clip(tmp_path_factory):
    """The CLIP's preset and retriever, a DOVE-CLIP on it (gates at 0) and a batch of model inputs."""
    root = tmp_path_factory.mktemp("dove_clip")
    retriever = clip_fixtures.small_clip_retriever(str(root / "tokenizer"), CAPTIONS)
    preset = save_preset(retriever, root / "preset")
    images = retriever.preprocessor.image_converter.convert(pictures()).numpy()
    token_ids = retriever.preprocessor.token_ids(CAPTIONS).numpy()
    return {"root": root, "preset": preset, "clip": retriever, "dove_clip": dove_clip_from_clip(preset),
            "images": images, "token_ids": token_ids}


@pytest.fixture(scope="module")
def gated(clip):
    """A DOVE-CLIP whose gates are open (0.5), so every head weighs in its scores."""
    return dove_clip_from_clip(clip["preset"], gate_init=0.5)


def scores_of(model, images, token_ids):
    """`(global cosine, chunked score)` of a retriever on model inputs (its compiled inference)."""
    image_features, text_features = model.encode_image(images), model.encode_text(token_ids)
    return model.global_score(image_features, text_features), model.score(image_features, text_features,
                                                                           chunk_size=4)


def batch_scores(model, clip):
    """The in-batch matrices of a DOVE-CLIP's backbone (a compiled inference call), as numpy."""
    outputs = compile_inference(model.backbone)({"images": clip["images"], "token_ids": clip["token_ids"]})
    return {key: np.asarray(keras.ops.convert_to_numpy(value)) for key, value in outputs.items()}


def clip_cosine(model, clip):
    """A `CLIPRetriever`'s cosine matrix of the batch (an eager call)."""
    embeddings = model({"images": clip["images"], "token_ids": clip["token_ids"]})
    return np.asarray(keras.ops.convert_to_numpy(cosine_matrix(embeddings["image"], embeddings["text"])))


def test_at_step_zero_every_score_is_clips_zero_shot_cosine(clip, gated):
    reference = clip["clip"].score(clip["clip"].encode_image(clip["images"]),
                                   clip["clip"].encode_text(clip["token_ids"]))
    model = clip["dove_clip"]
    stage_1, chunked = scores_of(model, clip["images"], clip["token_ids"])
    in_batch = batch_scores(model, clip)
    differences = {
        "stage 1": np.abs(stage_1 - reference).max(),
        "ROAM, chunked score": np.abs(chunked - reference).max(),
        "ROAM, in-batch": np.abs(in_batch["roam_scores"] - reference).max(),
        "global, in-batch": np.abs(in_batch["global_scores"] - reference).max(),
    }
    print(f"step-0 max |DOVE-CLIP - CLIP| on {keras.backend.backend()}: {differences}")
    assert max(differences.values()) <= 1e-5, differences
    assert np.ptp(reference) > 1e-3  # the scores differ from pair to pair: the comparison means something
    # Open gates: stage 1 is still CLIP's, ROAM is not (the heads weigh in), both scoring paths agree.
    opened = batch_scores(gated, clip)
    np.testing.assert_allclose(opened["global_scores"], reference, atol=1e-5)
    assert np.abs(opened["roam_scores"] - reference).max() > 1e-3
    np.testing.assert_allclose(scores_of(gated, clip["images"], clip["token_ids"])[1], opened["roam_scores"],
                               atol=1e-5)


def test_one_step_leaves_dove_clip_no_worse_than_the_clip_dual_encoder(clip):
    """The same batch, Adam(1e-3), towers trainable (all blocks), one training step each.

    Compared like with like: the CLIP loss (InfoNCE with each model's own
    learnt temperature) of each model's own score on the batch after its
    step: CLIP's cosine, DOVE-CLIP's ROAM score. At step 0 the ROAM score is
    CLIP's cosine, so the towers get the same gradient direction (twice the
    size with lambda_global=1, which Adam's first step does not see), the
    heads behind the closed gates get none, and the gates move downhill:
    DOVE-CLIP ends at least where CLIP does.
    """
    keras.utils.set_random_seed(5)
    inputs = {"images": clip["images"], "token_ids": clip["token_ids"], "image_ids": np.arange(6)}
    losses = {}
    for name in ("clip", "dove_clip"):
        towers = keras.saving.deserialize_keras_object(keras.saving.serialize_keras_object(clip["clip"].backbone))
        towers.set_weights(clip["clip"].backbone.get_weights())
        base = CLIPRetriever(towers)
        model = base if name == "clip" else dove_clip_from_clip(base)
        set_trainable_blocks(towers, -1)
        # Compiled on JAX (eager JAX compiles every op), eager on TensorFlow (quicker than tracing the step).
        model.compile(optimizer=keras.optimizers.Adam(1e-3), run_eagerly=keras.backend.backend() == "tensorflow",
                      jit_compile=keras.backend.backend() == "jax")
        model.train_on_batch(inputs)
        assert any("logit_scale" in weight.path for weight in model.trainable_weights)
        scores = clip_cosine(model, clip) if name == "clip" else batch_scores(model, clip)["roam_scores"]
        losses[name] = float(keras.ops.convert_to_numpy(
            contrastive_loss(scores, np.arange(6), towers.clip_head.logit_scale)))
    print(f"loss after one step on {keras.backend.backend()}: {losses}")
    assert losses["dove_clip"] <= losses["clip"]


def test_ablation_switches(clip):
    dual = dove_clip_from_clip(clip["clip"], use_roam=False)
    outputs = batch_scores(dual, clip)
    assert set(outputs) == {"global_scores"} and dual.backbone.iga is None and not dual.use_roam
    np.testing.assert_allclose(outputs["global_scores"], clip_cosine(clip["clip"], clip), atol=1e-5)
    words = dove_clip_from_clip(clip["clip"], use_dtga=False).backbone.text_encoder(clip["token_ids"])
    ends = clip["token_ids"].argmax(axis=1)  # genes are the token states up to the end token
    np.testing.assert_array_equal(keras.ops.convert_to_numpy(words["gene_mask"]),
                                  np.arange(clip["token_ids"].shape[1])[None] <= ends[:, None])


def test_keras_file_and_preset_round_trip(clip, gated, tmp_path):
    expected = batch_scores(gated, clip)
    gated.save(tmp_path / "dove_clip.keras")
    loaded = keras.saving.load_model(tmp_path / "dove_clip.keras")
    assert isinstance(loaded, DOVECLIPRetriever)
    np.testing.assert_allclose(batch_scores(loaded, clip)["roam_scores"], expected["roam_scores"], atol=1e-6)
    save_preset(gated, tmp_path / "preset")
    from_preset = load_preset(tmp_path / "preset")
    assert isinstance(from_preset, DOVECLIPRetriever) and from_preset.backbone.iga.residual_gate
    assert from_preset.fingerprint() == gated.fingerprint()
    np.testing.assert_allclose(batch_scores(from_preset, clip)["roam_scores"], expected["roam_scores"], atol=1e-6)


def test_attention_maps_on_the_patch_grid(clip, gated):
    maps = attention_maps(gated.backbone, clip["images"][:3], clip["token_ids"][:3])
    assert maps["region_side"] == maps["token_side"] == 4  # 32 px images, 8 px patches
    for key in ("regions", "tokens"):
        assert maps[key].shape == (3, 16)
        np.testing.assert_allclose(maps[key].sum(axis=1), 1, atol=1e-5)
    other = attention_maps(gated.backbone, clip["images"][:3], clip["token_ids"][3:])
    assert np.abs(other["regions"] - maps["regions"]).max() > 1e-6  # the caption steers the map
    heat = raw_heat_maps(gated, list(pictures(2)), CAPTIONS[:2])
    assert [h.shape for h in heat] == [(40, 40)] * 2
    np.testing.assert_allclose([h.sum() for h in heat], 1, atol=1e-6)


@clip_fixtures.export_on_tensorflow
def test_export_and_search_rerank_with_roam(clip, gated, tmp_path):
    import tensorflow_text  # noqa: F401  registers the tokenizer's ops

    export_saved_model(gated, tmp_path / "export")
    served = tf.saved_model.load(str(tmp_path / "export"))
    metadata = json.loads((tmp_path / "export" / "assets.extra" / "dove_export.json").read_text())
    assert metadata["task"] == "DOVECLIPRetriever" and metadata["score_takes_text_global"] is True
    images = served.encode_image(tf.constant(clip["images"]))
    texts = served.embed_texts(tf.constant(CAPTIONS))
    scores = served.score(images["fused"], images["regions"], images["region_mask"], texts["genes"],
                          texts["gene_mask"], texts["global"]).numpy()
    np.testing.assert_allclose(scores, scores_of(gated, clip["images"], clip["token_ids"])[1], atol=1e-5)

    # Search with the export (its gated score endpoint): index a folder, query with ROAM re-ranking.
    folder = tmp_path / "images"
    write_image_folder(folder)
    encoder = load_encoder(str(tmp_path / "export"))
    build_index(encoder, ImageFolder(str(folder)), str(tmp_path / "index"), progress=False)
    index = ImageIndex(str(tmp_path / "index"))
    hits = Searcher(index, encoder).search(CAPTIONS[0], k=3, candidates=5)
    # The expected ranking from the index's features and the Keras model: cosine top 5, then ROAM.
    features = {key: index.features(np.arange(len(index)))[key] for key in ("global", "fused", "regions",
                                                                          "region_mask")}
    text = gated.embed_texts(CAPTIONS[:1])
    candidates = np.argsort(-gated.global_score(features, text)[:, 0], kind="stable")[:5]
    roam = gated.score({key: value[candidates] for key, value in features.items()}, text)[:, 0]
    assert list(hits["row"]) == [candidates[i] for i in np.argsort(-roam, kind="stable")[:3]]
    np.testing.assert_allclose(hits["roam_score"], np.sort(roam)[::-1][:3], atol=1e-5)


def test_mixed_precision_reaches_the_towers_and_the_heads(clip):
    model = dove_clip_from_clip(clip["clip"], dtype="mixed_bfloat16", gate_init=0.5)
    backbone = model.backbone
    layers = (backbone.clip.vision_encoder.encoder_layers[0], backbone.clip.text_encoder.encoder_layers[0],
              backbone.image_encoder.fusion, backbone.text_encoder.genome, backbone.iga)
    assert {layer.dtype_policy.name for layer in layers} == {"mixed_bfloat16"}
    assert clip["clip"].backbone.vision_encoder.dtype_policy.name == "float32"  # the CLIP given is untouched
    loss = compile_inference(model, lambda inputs, ids: model.compute_loss({"image_ids": ids}, y_pred=backbone(
        inputs, training=False)))({"images": clip["images"], "token_ids": clip["token_ids"]}, np.arange(6))
    assert keras.backend.standardize_dtype(loss.dtype) == "float32" and np.isfinite(keras.ops.convert_to_numpy(loss))
