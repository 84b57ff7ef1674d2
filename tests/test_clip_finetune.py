"""`dove train` fine-tunes an imported CLIP: config checks, the optimizer, a killed run resumed, export and search."""

import os
import shutil
from pathlib import Path

import clip_fixtures
import h5py
import keras
import keras_hub
import numpy as np
import pandas as pd
import pytest
import yaml
from training_fixtures import KillBeforeBatch
from training_fixtures import Killed
from training_fixtures import make_prepared

from dove_keras import cli
from dove_keras.data.images import load_image
from dove_keras.errors import UsageError
from dove_keras.models import RetrievalTask
from dove_keras.models.clip import CLIPRetriever
from dove_keras.models.clip import import_clip
from dove_keras.models.optimizers import GroupedAdamW
from dove_keras.training import ConfigError
from dove_keras.training import config_from_dict
from dove_keras.training import factory
from dove_keras.training import load_config
from dove_keras.training import runner
from dove_keras.training import save_config
from dove_keras.training.run_folder import check_run_folder
from dove_keras.training.run_folder import record_inputs
from dove_keras.training.run_folder import run_differences

pytest.importorskip("transformers")

RECIPES = Path(__file__).resolve().parents[1] / "recipes" / "configs"


@pytest.fixture(scope="module")
def clip(tmp_path_factory):
    """Prepared coloured-square scenes and a small random CLIP (2 blocks, 32 px) with a BPE learnt on them."""
    from transformers.utils import logging as hf_logging

    hf_logging.disable_progress_bar()
    root = tmp_path_factory.mktemp("clip_finetune")
    make_prepared(str(root / "data"))
    with open(root / "data" / "raw" / "train_caps.txt") as f:
        captions = f.read().splitlines()
    tokenizer = str(root / "tokenizer")
    clip_fixtures.write_bpe_vocabulary(tokenizer, captions, num_merges=40)
    model = clip_fixtures.random_hf_model(clip_fixtures.hf_config(clip_fixtures.vocabulary_size(tokenizer)))
    import_clip(clip_fixtures.write_hf_folder(model, str(root / "hf"), tokenizer), str(root / "preset"))
    return {"data": str(root / "data"), "preset": str(root / "preset")}


def clip_raw(clip, output_dir, **sections):
    """The nested mapping of a tiny CLIP fine-tuning run (5 batches of 4 captions per epoch)."""
    raw = {
        "name": "clip", "seed": 3, "output_dir": str(output_dir),
        "data": {"prepared_dir": os.path.join(clip["data"], "prepared"), "shuffle_buffer": 32, "eval_batch_size": 8},
        "foundation": {"preset": clip["preset"], "trainable_blocks": 1, "tower_learning_rate": 1e-3},
        "optimizer": {"learning_rate": 3e-3, "schedule": "cosine", "warmup_epochs": 0.4, "weight_decay": 0.01},
        "training": {"epochs": 2, "batch_size": 4, "backup_every_n_steps": 2},
        "evaluation": {},
    }
    for name, values in sections.items():
        raw.setdefault(name, {}).update(values)
    return raw


def test_a_clip_config_takes_the_preset_sizes_and_needs_no_vocabulary(clip, tmp_path):
    config = config_from_dict(clip_raw(clip, tmp_path))
    assert config.data.vocabulary is None
    assert (config.data.image_size, config.data.sequence_length) == (32, 77)  # the preset's
    assert config.evaluation.mode == "roam"  # the model's own score: the dual encoder's cosine
    # Explicit settings that agree with the preset are accepted (a run's saved config.yaml has them).
    again = config_from_dict(clip_raw(clip, tmp_path, data={"image_size": 32, "sequence_length": 77}))
    assert again == config


@pytest.mark.parametrize(
    "sections, message",
    [
        ({"data": {"image_size": 224}}, "data.image_size is 224 but the CLIP preset takes 32"),
        ({"data": {"sequence_length": 32}}, "data.sequence_length is 32 but the CLIP preset takes 77"),
        ({"foundation": {"trainable_blocks": 3}}, "trainable_blocks is 3 but the preset's towers have 2 blocks"),
        ({"foundation": {"trainable_blocks": -2}}, r"trainable_blocks must be -1 \(all\), 0"),
        ({"foundation": {"heads": "roam"}}, r"foundation.heads must be one of \['none', 'dove'\]"),
        ({"foundation": {"gate_init": 0.5}}, r"foundation.gate_init does not apply \(foundation.preset is set: a CLIP"),
        ({"model": {"use_roam": False}}, "model.use_roam does not apply"),
        ({"foundation": {"heads": "dove"}, "model": {"embedding_dim": 64}},
         r"model.embedding_dim does not apply \(foundation.preset is set: a DOVE-CLIP run"),
        ({"foundation": {"loss": "hinge"}}, r"foundation.loss must be one of \['contrastive', 'triplet'\]"),
        ({"foundation": {"tower_learning_rate": 0}}, "foundation.tower_learning_rate must be positive"),
        ({"foundation": {"preset": "."}}, r"foundation.preset: \.: not a CLIP preset \(cannot read task.json"),
        ({"model": {"embedding_dim": 64}}, r"model.embedding_dim does not apply \(foundation.preset is set"),
        ({"loss": {"lambda_global": 0.5}}, "loss.lambda_global does not apply"),
        ({"data": {"vocabulary": "vocab.txt"}}, "data.vocabulary does not apply"),
        ({"optimizer": {"schedule": "linear"}}, r"optimizer.schedule must be one of \['step', 'cosine'\]"),
        ({"optimizer": {"warmup_epochs": -1}}, "optimizer.warmup_epochs must be >= 0"),
        ({"optimizer": {"weight_decay": -0.1}}, "optimizer.weight_decay must be >= 0"),
    ],
)
def test_bad_clip_settings_fail_at_load_naming_the_key(clip, tmp_path, monkeypatch, sections, message):
    (tmp_path / "vocab.txt").write_text("a\n")
    monkeypatch.chdir(tmp_path)
    with pytest.raises(ConfigError, match=message):
        config_from_dict(clip_raw(clip, tmp_path, **sections), source="run.yaml")


def test_dove_clip_from_the_config_reads_its_model_and_loss_keys(clip, tmp_path):
    raw = clip_raw(clip, tmp_path, foundation={"heads": "dove", "gate_init": 0.25, "trainable_blocks": 0},
                   model={"use_dtga": False, "iga_key_dim": 8}, loss={"lambda_global": 0.5})
    config = config_from_dict(raw)
    assert config.evaluation.mode == "roam"  # DOVE-CLIP has ROAM: the protocol's score
    model = factory.build_retriever(config)
    backbone = model.backbone
    assert type(model).__name__ == "DOVECLIPRetriever" and model.lambda_global == 0.5
    assert (backbone.use_roam, backbone.use_dtga, backbone.iga_key_dim, backbone.gate_init) == (True, False, 8, 0.25)
    towers = (backbone.clip.vision_encoder, backbone.clip.text_encoder)
    tower_paths = {w.path for tower in towers for w in tower.weights}
    assert not tower_paths & {w.path for w in model.trainable_weights}  # frozen towers, trained heads
    factory.compile_for_training(model, config, steps_per_epoch=5)
    third = pytest.approx(1 / 3)  # tower rate 1e-3 / heads' 3e-3
    assert model.optimizer.rate_factors == {"vision_encoder": third, "text_encoder": third}
    assert config_from_dict(clip_raw(clip, tmp_path, foundation={"heads": "dove"},
                                     evaluation={"mode": "global"})).evaluation.mode == "global"


def test_foundation_keys_without_a_preset_are_refused(clip, tmp_path):
    raw = clip_raw(clip, tmp_path, foundation={"preset": None})
    raw["data"]["vocabulary"] = os.path.join(clip["data"], "vocab.txt")
    with pytest.raises(ConfigError, match="foundation.trainable_blocks has no effect without foundation.preset"):
        config_from_dict(raw)


def test_a_run_saved_before_the_new_keys_existed_is_the_same_config(tmp_path):
    config = config_from_dict({"output_dir": str(tmp_path)}, check_paths=False)
    old = config.to_dict()
    del old["foundation"], old["optimizer"]["schedule"], old["optimizer"]["weight_decay"]
    (tmp_path / "config.yaml").write_text(yaml.safe_dump(old))
    assert run_differences(config) == []  # an interrupted DOVE run of an older version resumes
    changed = config_from_dict({"output_dir": str(tmp_path), "optimizer": {"schedule": "cosine"}}, check_paths=False)
    assert run_differences(changed) == ["optimizer.schedule"]


def numpy_adamw(weights, gradients, rates, weight_decay, beta_1=0.9, beta_2=0.999, epsilon=1e-7):
    """Keras' Adam (epsilon outside the root) with decoupled decay of matrices, one rate per variable."""
    weights = [w.astype("float64") for w in weights]
    m = [np.zeros_like(w) for w in weights]
    v = [np.zeros_like(w) for w in weights]
    for step, grads in enumerate(gradients, start=1):
        for i, (g, rate) in enumerate(zip(grads, rates)):
            if weights[i].ndim >= 2:
                weights[i] = weights[i] - rate * weight_decay * weights[i]
            m[i] = beta_1 * m[i] + (1 - beta_1) * g
            v[i] = beta_2 * v[i] + (1 - beta_2) * g * g
            alpha = rate * np.sqrt(1 - beta_2**step) / (1 - beta_1**step)
            weights[i] = weights[i] - alpha * m[i] / (np.sqrt(v[i]) + epsilon)
    return weights


def apply_as_the_trainer_does(optimizer, grads, variables):
    """`apply` (TensorFlow, torch), or JAX's functional `stateless_apply` written back."""
    if keras.backend.backend() != "jax":
        optimizer.apply(grads, variables)
        return
    values, state = optimizer.stateless_apply([v.value for v in optimizer.variables], grads,
                                              [v.value for v in variables])
    for variable, value in zip(variables, values):
        variable.assign(value)
    for variable, value in zip(optimizer.variables, state):
        variable.assign(value)


@pytest.mark.parametrize("loss_scaled", [False, True])  # True: as mixed_float16 training wraps it
def test_grouped_adamw_matches_a_numpy_adam_with_two_rates(loss_scaled):
    tower = keras.layers.Dense(3, name="tower_dense")
    head = keras.layers.Dense(2, name="head")
    tower.build((None, 4))
    head.build((None, 3))
    variables = tower.weights + head.weights
    optimizer = GroupedAdamW(0.01, rate_factors={"tower": 0.1}, weight_decay=0.5)
    optimizer = keras.optimizers.deserialize(keras.optimizers.serialize(optimizer))  # what a backup restores
    assert type(optimizer) is GroupedAdamW and optimizer.rate_factors == {"tower": 0.1}
    start = [keras.ops.convert_to_numpy(v).copy() for v in variables]
    rng = np.random.default_rng(0)
    gradients = [[rng.normal(size=w.shape).astype("float32") for w in start] for _ in range(3)]
    if loss_scaled:
        optimizer = keras.optimizers.LossScaleOptimizer(optimizer, initial_scale=1024.0)
    optimizer.build(variables)
    for grads in gradients:  # a loss-scaled step gets the gradients of the scaled loss
        apply_as_the_trainer_does(optimizer, [g * 1024.0 if loss_scaled else g for g in grads], variables)
    rates = [0.001 if v.path.startswith("tower") else 0.01 for v in variables]
    assert rates == [0.001, 0.001, 0.01, 0.01]
    for variable, expected in zip(variables, numpy_adamw(start, gradients, rates, weight_decay=0.5)):
        np.testing.assert_allclose(keras.ops.convert_to_numpy(variable), expected, rtol=1e-5, atol=1e-6,
                                   err_msg=variable.path)


def test_build_retriever_applies_the_foundation_section(clip, tmp_path):
    config = config_from_dict(clip_raw(clip, tmp_path, training={"precision": "mixed_bfloat16"}))
    model = factory.build_retriever(config)
    assert isinstance(model, CLIPRetriever) and model.loss_name == "contrastive"
    for tower in (model.backbone.vision_encoder, model.backbone.text_encoder):
        assert tower.dtype_policy.name == "mixed_bfloat16"  # the towers too, not only the projections
    factory.compile_for_training(model, config, steps_per_epoch=5)
    optimizer = model.optimizer
    rates = {v.path: f for v, f in zip(model.trainable_variables, optimizer._variable_factors)}
    assert not any("encoder_block_0" in path for path in rates)  # trainable_blocks: 1
    assert any("encoder_block_1" in path for path in rates)
    for path, factor in rates.items():  # towers at 1e-3, the projections and temperature at 3e-3
        tower = path.startswith(("vision_encoder", "text_encoder"))
        assert factor == pytest.approx(1 / 3 if tower else 1.0), path
    assert float(optimizer.learning_rate) == pytest.approx(3e-3 / 2)  # step 0 of 2 warm-up steps


def read_h5(path):
    arrays = {}
    with h5py.File(path, "r") as f:
        f.visititems(lambda name, item: arrays.update({name: item[()]}) if isinstance(item, h5py.Dataset) else None)
    return arrays


@pytest.mark.filterwarnings("ignore:Can save best model only")  # epoch 1 is not validated
def test_dove_train_fine_tunes_resumes_and_its_preset_exports_and_searches(clip, tmp_path):
    out = tmp_path / "run"
    raw = clip_raw(clip, out, evaluation={"every_n_epochs": 2}, training={"tensorboard": True})
    config_file = tmp_path / "clip.yaml"
    config_file.write_text(yaml.safe_dump(raw))
    if keras.backend.backend() == "tensorflow":  # resumption is backend-neutral (the DOVE runner tests)
        with pytest.raises(Killed):  # killed in epoch 2, after the backup of its 2nd batch
            runner.run_training(config_from_dict(raw), callbacks=[KillBeforeBatch(8)], verbose=0,
                                evaluate_test=False)
        assert (out / "backup").is_dir()
    assert cli.main(["train", "--config", str(config_file), "--no-test", "--quiet"]) == 0
    assert load_config(out / "config.yaml") == config_from_dict(raw)  # the saved config loads as it was
    history = pd.read_csv(out / "history.csv")
    assert list(history["epoch"]) == [0, 1] and history["loss"].iloc[1] < history["loss"].iloc[0]
    assert history["val_mR"].notna().tolist() == [False, True]
    assert read_h5(out / "final.weights.h5")["optimizer/vars/0"] == 10  # 2 epochs x 5 steps, once each
    # TensorBoard saw each epoch's loss once and the validation mR of the evaluated epoch (resumed or not).
    train, validation = (tensorboard_scalars(out / "tensorboard" / part) for part in ("train", "validation"))
    np.testing.assert_allclose([train["epoch_loss"][e] for e in (0, 1)], history["loss"], rtol=1e-5)
    assert list(validation["epoch_mR"]) == [1]
    np.testing.assert_allclose(validation["epoch_mR"][1], history["val_mR"].iloc[1], rtol=1e-5)

    trained = RetrievalTask.from_preset(str(out / "preset"))
    assert isinstance(trained, CLIPRetriever)
    backbone = keras_hub.models.CLIPBackbone.from_preset(str(out / "preset"))
    original = keras_hub.models.CLIPBackbone.from_preset(clip["preset"])
    for before, after, mine in zip(original.weights, backbone.weights, trained.backbone.weights):
        np.testing.assert_array_equal(keras.ops.convert_to_numpy(after), keras.ops.convert_to_numpy(mine))
        changed = not np.array_equal(keras.ops.convert_to_numpy(before), keras.ops.convert_to_numpy(after))
        # foundation.trainable_blocks: 1 trains the last block of each tower, never the first.
        if "encoder_block_0" in before.path:
            assert not changed, before.path
        elif "encoder_block_1/dense" in before.path or "projection" in before.path:
            assert changed, before.path

    export = tmp_path / "export"
    assert cli.main(["export", "--preset", str(out / "preset"), "--out", str(export)]) == 0
    images = os.path.join(clip["data"], "images")
    index = tmp_path / "index"
    assert cli.main(["search", "index", "--model", str(export), "--images", images, "--out", str(index),
                     "--quiet"]) == 0
    table = tmp_path / "hits.csv"
    query = "a red square on green ground"
    assert cli.main(["search", "query", "--index", str(index), query, "-k", "3", "--csv", str(table)]) == 0
    # The hits are the fine-tuned model's top cosines (scenes of the same colours tie).
    names = sorted(os.listdir(images))
    scores = trained.score(trained.embed_images([load_image(os.path.join(images, n)) for n in names]),
                           trained.embed_texts([query]))[:, 0]
    hits = pd.read_csv(table)
    expected = dict(zip(names, scores))
    np.testing.assert_allclose(hits["score"], [expected[os.path.basename(p)] for p in hits["path"]], atol=1e-3)
    np.testing.assert_allclose(hits["score"], np.sort(scores)[::-1][:3], atol=1e-3)


def tensorboard_scalars(folder):
    """`{tag: {step: value}}` of the scalar summaries in a TensorBoard log folder."""
    import tensorflow as tf

    scalars = {}
    for name in os.listdir(folder):
        for record in tf.data.TFRecordDataset(os.path.join(folder, name)):
            event = tf.compat.v1.Event.FromString(record.numpy())
            for value in event.summary.value:
                number = tf.make_ndarray(value.tensor) if value.HasField("tensor") else value.simple_value
                scalars.setdefault(value.tag, {})[event.step] = float(number)
    return scalars


@pytest.mark.backend_independent
def test_a_preset_changed_in_place_is_refused_on_resume(clip, tmp_path):
    preset = tmp_path / "preset"
    shutil.copytree(clip["preset"], preset)
    config = config_from_dict(clip_raw({**clip, "preset": str(preset)}, tmp_path / "run"))
    (tmp_path / "run" / "backup").mkdir(parents=True)
    save_config(config, tmp_path / "run" / "config.yaml")
    record_inputs(config)
    check_run_folder(config)  # unchanged: resumes
    with h5py.File(preset / "model.weights.h5", "r+") as f:  # same path, same shapes, one weight changed
        dataset = f[next(iter(read_h5(preset / "model.weights.h5")))]
        dataset[...] = dataset[()] + 1
    with pytest.raises(UsageError, match=r"different: foundation.preset \(its content\)"):
        check_run_folder(config)


@pytest.mark.parametrize("name", ["rsitmd_clip", "rsicd_clip"])
def test_clip_recipes_parse(name):
    config = load_config(RECIPES / f"{name}.yaml", check_paths=False)
    assert config.name == name and config.foundation.preset == "presets/remoteclip_vit_b_32"
    assert config.data.vocabulary is None and config.evaluation.mode == "global"
    assert (config.optimizer.schedule, config.foundation.loss, config.foundation.trainable_blocks) == (
        "cosine", "contrastive", -1)
