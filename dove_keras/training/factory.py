"""The retriever of an experiment config: built fresh, compiled for training, or under another precision."""

import dataclasses

import keras
import numpy as np

from dove_keras.models import DOVEBackbone
from dove_keras.models import DOVEImageConverter
from dove_keras.models import DOVEPreprocessor
from dove_keras.models import DOVERetriever
from dove_keras.models import DOVETokenizer
from dove_keras.models import build_image_backbone
from dove_keras.models.image_backbones import image_normalization
from dove_keras.training.schedules import step_decay_schedule


def build_preprocessor(config):
    """The config's `DOVEPreprocessor`: its vocabulary, caption length, image size and normalisation."""
    scale, offset = image_normalization(config.model.image_backbone)
    return DOVEPreprocessor(
        DOVETokenizer(config.data.vocabulary),
        DOVEImageConverter(config.data.image_size, scale=scale, offset=offset),
        sequence_length=config.data.sequence_length,
    )


def build_retriever(config):
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
    """Compiles with Adam on the protocol's step-decay schedule."""
    o = config.optimizer
    schedule = step_decay_schedule(o.learning_rate, steps_per_epoch, o.decay_rate, o.decay_epochs)
    model.compile(optimizer=keras.optimizers.Adam(schedule, clipnorm=o.clipnorm))
    model.optimizer.build(model.trainable_variables)


def with_precision(model, precision):
    """`model` computing under the dtype policy `precision`, e.g. `"mixed_bfloat16"`.

    The same model when it already does; otherwise a copy with the same
    weights (variables stay float32 under a mixed policy, so they copy
    unchanged). Mixed bfloat16 inference runs the convolutions and matmuls
    on the CPU's bfloat16 units where it has them (AMX, AVX512-BF16).
    """
    if model.backbone.dtype_policy.name == precision:
        return model
    backbone = DOVEBackbone.from_config({**model.backbone.get_config(), "dtype": precision})
    backbone.set_weights(model.backbone.get_weights())
    task = {key: value for key, value in model.get_config().items() if key in ("margin", "hardest_negative",
                                                                               "lambda_global")}
    return DOVERetriever(backbone, model.preprocessor, **task)
