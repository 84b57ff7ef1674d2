"""The retriever of an experiment config: built fresh, compiled for training, or under another precision."""

import dataclasses
import inspect

import keras
import numpy as np

from dove_keras.models import DOVEBackbone
from dove_keras.models import DOVEImageConverter
from dove_keras.models import DOVEPreprocessor
from dove_keras.models import DOVERetriever
from dove_keras.models import DOVETokenizer
from dove_keras.models import build_image_backbone
from dove_keras.models.clip import CLIPRetriever
from dove_keras.models.clip import dove_clip_from_clip
from dove_keras.models.clip.trainable_blocks import set_trainable_blocks
from dove_keras.models.image_backbones import image_normalization
from dove_keras.models.optimizers import GroupedAdamW
from dove_keras.training.schedules import learning_rate_schedule


def build_preprocessor(config):
    """The config's `DOVEPreprocessor`: its vocabulary, caption length, image size and normalisation."""
    scale, offset = image_normalization(config.model.image_backbone)
    return DOVEPreprocessor(
        DOVETokenizer(config.data.vocabulary),
        DOVEImageConverter(config.data.image_size, scale=scale, offset=offset),
        sequence_length=config.data.sequence_length,
    )


def build_retriever(config):
    """A new (not compiled) retrieval task of `config`, initial weights loaded.

    The one place a config's task is chosen: `foundation.preset` null gives
    DOVE (`build_dove_retriever`), set the preset's CLIP dual encoder or,
    with `foundation.heads: dove`, DOVE-CLIP on its towers
    (`build_clip_retriever`).
    """
    if config.foundation.preset is None:
        return build_dove_retriever(config)
    return build_clip_retriever(config)


def build_clip_retriever(config):
    """The `CLIPRetriever` of `foundation.preset` (or DOVE-CLIP on it) with the config's loss, blocks and precision."""
    foundation, loss = config.foundation, config.loss
    model = CLIPRetriever.from_preset(foundation.preset, loss=foundation.loss, margin=loss.margin,
                                      hardest_negative=loss.hardest_negative, compile=False)
    model = with_precision(model, config.training.precision)
    if foundation.heads == "dove":
        heads = {key: getattr(config.model, key) for key in ("use_roam", "use_dtga", "iga_key_dim")}
        model = dove_clip_from_clip(model, gate_init=foundation.gate_init, loss=foundation.loss,
                                    margin=loss.margin, hardest_negative=loss.hardest_negative,
                                    lambda_global=loss.lambda_global, **heads)
    set_trainable_blocks(clip_towers(model), foundation.trainable_blocks)
    return model


def clip_towers(model):
    """The keras-hub `CLIPBackbone` of a CLIP task or of DOVE-CLIP."""
    return getattr(model.backbone, "clip", model.backbone)


def build_dove_retriever(config):
    """A new (not compiled) `DOVERetriever` of `config`, initial weights loaded.

    Raises:
        ImageBackboneError: the image backbone cannot be built here (e.g. a
            hub preset without network).
        ValueError: a word embedding matrix of the wrong shape.
    """
    preprocessor = build_preprocessor(config)
    model = dataclasses.asdict(config.model)
    model["image_backbone"] = build_image_backbone(
        config.model.image_backbone, weights=config.initialization.image_backbone_weights
    )
    policy = None if config.training.precision == "float32" else config.training.precision
    backbone = DOVEBackbone(preprocessor.tokenizer.vocabulary_size(), **model, dtype=policy)
    words = config.initialization.word_embeddings
    if words:
        try:
            backbone.text_encoder.set_word_embeddings(np.load(words).astype("float32"))
        except ValueError as error:
            raise ValueError(f"{words}: {error} (vocabulary_size, model.word_dim)") from None
    return DOVERetriever(backbone, preprocessor, compile=False, **dataclasses.asdict(config.loss))


def compile_for_training(model, config, steps_per_epoch):
    """Compiles with the config's optimizer and builds it.

    Adam on the protocol's step decay by default; `GroupedAdamW` when the
    towers of a foundation model have their own rate or with weight decay.
    """
    o = config.optimizer
    schedule = learning_rate_schedule(o.learning_rate, steps_per_epoch, config.training.epochs, o.schedule,
                                      o.decay_rate, o.decay_epochs, o.warmup_epochs)
    factors = tower_rate_factors(model, config)
    if factors or o.weight_decay:
        optimizer = GroupedAdamW(schedule, rate_factors=factors, weight_decay=o.weight_decay, clipnorm=o.clipnorm)
    else:
        optimizer = keras.optimizers.Adam(schedule, clipnorm=o.clipnorm)
    model.compile(optimizer=optimizer)
    model.optimizer.build(model.trainable_variables)


def tower_rate_factors(model, config):
    """`{variable path prefix: factor}` giving a CLIP's towers `foundation.tower_learning_rate` ({} for DOVE)."""
    if config.foundation.preset is None:
        return {}
    backbone = clip_towers(model)
    towers = (backbone.vision_encoder, backbone.text_encoder)
    outside = [w.path for tower in towers for w in tower.weights if not w.path.startswith(tower.name)]
    if outside:  # the prefixes must select the towers' variables
        raise ValueError(f"tower variable {outside[0]} is not named after its tower")
    factor = config.foundation.tower_learning_rate / config.optimizer.learning_rate
    return {tower.name: factor for tower in towers}


def with_precision(model, precision):
    """`model` computing under the dtype policy `precision`, e.g. `"mixed_bfloat16"`.

    The same model when it already does; otherwise a copy with the same
    weights (variables stay float32 under a mixed policy, so they copy
    unchanged). Mixed bfloat16 inference runs the convolutions and matmuls
    on the CPU's bfloat16 units where it has them (AMX, AVX512-BF16).
    """
    if model.backbone.dtype_policy.name == precision:
        return model
    backbone = type(model.backbone).from_config(_with_dtype(model.backbone.get_config(), precision))
    backbone.set_weights(model.backbone.get_weights())
    arguments = inspect.signature(type(model).__init__).parameters
    task = {key: value for key, value in model.get_config().items()
            if key in arguments and key not in ("backbone", "preprocessor")}
    return type(model)(backbone, model.preprocessor, **task)


def _with_dtype(config, precision):
    """A backbone config computing under `precision`, nested CLIP towers included.

    A CLIP's towers (and DOVE-CLIP's CLIP) keep their own saved dtype otherwise.
    """
    config = {**config, "dtype": precision}
    for key in ("vision_encoder", "text_encoder", "clip_backbone"):
        if isinstance(config.get(key), dict):
            config[key] = {**config[key], "config": _with_dtype(config[key]["config"], precision)}
    return config
