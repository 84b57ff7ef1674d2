"""Fine-tuning an imported CLIP with `fit`: CLIP's InfoNCE against a loop reference, and a few real steps."""

import clip_fixtures
import keras
import numpy as np
import pytest
import tensorflow as tf
from training_fixtures import StepLosses

from dove_keras.models.clip import CLIPRetriever
from dove_keras.models.clip import import_clip
from dove_keras.models.clip.trainable_blocks import set_trainable_blocks
from dove_keras.models.losses import contrastive_loss

pytest.importorskip("transformers")

COLOURS = {"red": (200, 30, 30), "green": (30, 160, 40), "blue": (30, 60, 200), "white": (240, 240, 240)}


def reference_contrastive(similarity, image_ids, logit_scale):
    """CLIP's symmetric InfoNCE by loops, same-image pairs off the diagonal left out."""
    logits = similarity * np.exp(logit_scale)
    size = len(image_ids)
    rows, columns = [], []
    for i in range(size):
        kept = [j for j in range(size) if j == i or image_ids[j] != image_ids[i]]
        rows.append(np.log(np.sum(np.exp(logits[i, kept]))) - logits[i, i])
        columns.append(np.log(np.sum(np.exp(logits[kept, i]))) - logits[i, i])
    return (np.mean(rows) + np.mean(columns)) / 2


def test_contrastive_loss_matches_the_loop_reference():
    rng = np.random.default_rng(0)
    similarity = rng.uniform(-1, 1, (6, 6)).astype("float32")
    image_ids = np.array([3, 3, 5, 7, 7, 7])
    got = keras.ops.convert_to_numpy(contrastive_loss(similarity, image_ids, np.float32(np.log(1 / 0.07))))
    assert got == pytest.approx(reference_contrastive(similarity, image_ids, np.log(1 / 0.07)), rel=1e-5)


def scenes(count=8):
    """uint8 squares of one colour on another with a caption naming both."""
    names = list(COLOURS)
    images, captions, ids = [], [], []
    for i in range(count):
        colour, ground = names[i % 4], names[(i // 4 + i + 1) % 4]
        pixels = np.empty((40, 40, 3), np.uint8)
        pixels[:] = COLOURS[ground]
        pixels[10:30, 10:30] = COLOURS[colour]
        images.append(pixels)
        captions.append(f"a {colour} square on {ground} ground")
        ids.append(i)
    return np.stack(images), captions, np.array(ids)


@pytest.fixture(scope="module")
def clip(tmp_path_factory):
    from transformers.utils import logging as hf_logging

    hf_logging.disable_progress_bar()
    root = tmp_path_factory.mktemp("clip_training")
    _, captions, _ = scenes()
    tokenizer = str(root / "tokenizer")
    clip_fixtures.write_bpe_vocabulary(tokenizer, captions, num_merges=30)
    model = clip_fixtures.random_hf_model(clip_fixtures.hf_config(clip_fixtures.vocabulary_size(tokenizer)))
    folder = clip_fixtures.write_hf_folder(model, str(root / "hf"), tokenizer)
    import_clip(folder, str(root / "preset"))
    return str(root / "preset")


@pytest.mark.parametrize("loss", ["contrastive", "triplet"])
def test_fit_lowers_the_loss_and_learns_the_temperature(clip, loss):
    keras.utils.set_random_seed(1)
    retriever = CLIPRetriever.from_preset(clip, loss=loss)
    retriever.compile(optimizer=keras.optimizers.Adam(3e-3))
    images, captions, ids = scenes()
    batches = tf.data.Dataset.from_tensor_slices({"images": images, "captions": captions, "image_ids": ids})
    steps = StepLosses()
    retriever.fit(batches.batch(8).repeat(12), verbose=0, callbacks=[steps])  # one epoch: one tf.data pipeline
    losses = steps.losses()
    assert len(losses) == 12 and losses[-1] < 0.8 * losses[0]
    if loss == "contrastive":  # the temperature is learnt
        scale = float(keras.ops.convert_to_numpy(retriever.backbone.clip_head.logit_scale))
        assert scale != pytest.approx(np.log(1 / 0.07), abs=1e-4)


def test_bad_loss_settings_are_refused(clip):
    with pytest.raises(ValueError, match="loss must be one of"):
        CLIPRetriever.from_preset(clip, loss="hinge")


def expected_to_train(path, blocks):
    """Whether `trainable_blocks: blocks` trains the weight at `path` (the fixture's towers have 2 blocks)."""
    layer = path.split("/")[0].split("encoder_", 1)[-1]  # weights are named "<tower>_<layer>/..."
    return (layer in ("clip_head", "vision_projection", "text_projection") or blocks == -1
            or (blocks == 1 and layer in ("encoder_block_1", "layer_norm")))


@pytest.mark.parametrize("blocks", [0, 1, -1])
def test_trainable_blocks_choose_the_trainable_weights(clip, blocks):
    backbone = CLIPRetriever.from_preset(clip).backbone
    set_trainable_blocks(backbone, blocks)
    trainable = {w.path for w in backbone.trainable_weights}
    for weight in backbone.weights:
        constant = "position_ids" in weight.path  # never trained
        assert (weight.path in trainable) == (expected_to_train(weight.path, blocks) and not constant), weight.path


def test_a_step_changes_exactly_the_trainable_blocks(clip):
    retriever = CLIPRetriever.from_preset(clip)
    backbone = retriever.backbone
    set_trainable_blocks(backbone, 1)
    before = {w.path: keras.ops.convert_to_numpy(w).copy() for w in backbone.weights}
    # One step, eager where that is quicker than compiling (TF, torch; JAX compiles in 9 s, runs eagerly in 20).
    retriever.compile(optimizer=keras.optimizers.SGD(0.5), run_eagerly=keras.backend.backend() != "jax")
    images, captions, ids = scenes()
    retriever.fit(tf.data.Dataset.from_tensor_slices({"images": images, "captions": captions, "image_ids": ids})
                  .batch(8), verbose=0)
    changed = {w.path for w in backbone.weights if not np.array_equal(before[w.path], keras.ops.convert_to_numpy(w))}
    for path in before:
        unchangeable = "position_ids" in path or "key/bias" in path  # constants; a key bias has no gradient
        assert (path in changed) == expected_to_train(path, 1) or (unchangeable and path not in changed), path


def test_trainable_blocks_beyond_the_towers_are_refused(clip):
    with pytest.raises(ValueError, match="at most the towers' 2 blocks"):
        set_trainable_blocks(CLIPRetriever.from_preset(clip).backbone, 3)
