"""Experiment configuration: one YAML file holds every hyper-parameter and the seed.

A file has the top-level keys of `ExperimentConfig` and one mapping per
section (`data`, `model`, `initialization`, `loss`, `optimizer`,
`training`, `evaluation`, `foundation`). The `model` and `loss` sections are the keyword
arguments of `DOVEBackbone` and `DOVERetriever` themselves (same names, same
defaults, same checks). Omitted keys take the defaults (the protocol of
DESIGN section 2).
With `foundation.preset` set the run fine-tunes that CLIP preset instead
(DESIGN section 1.7): the preset fixes the image size and caption length,
and the DOVE-only keys must keep their defaults (see `FoundationConfig`).
Unknown keys, wrong types, missing input paths and a `model.region_source:
precomputed` the prepared data has no (or other-width) region vectors for
raise `ConfigError`, which names the file and the key, when the file is
loaded: before any training.
Relative paths are taken from the current working directory; `~` and
`$VARIABLES` are expanded.
"""

import dataclasses
import difflib
import importlib.util
import inspect
import os
import typing

import yaml

from dove_keras.data import shards
from dove_keras.errors import UsageError
from dove_keras.models.clip.clip_retriever import LOSSES as CLIP_LOSSES
from dove_keras.models.clip.preset_settings import clip_preset_settings
from dove_keras.models.clip.trainable_blocks import ALL_BLOCKS
from dove_keras.models.dove_backbone import DOVEBackbone
from dove_keras.models.dove_backbone import check_backbone_arguments
from dove_keras.models.dove_retriever import DOVERetriever
from dove_keras.models.dove_retriever import check_loss_arguments
from dove_keras.preprocessing.images import check_image_size

DISTRIBUTIONS = ("none", "data_parallel", "multi_worker")
PRECISIONS = ("float32", "mixed_bfloat16", "mixed_float16")
SCHEDULES = ("step", "cosine")
FOUNDATION_HEADS = ("none", "dove")  # the CLIP dual encoder; DOVE-CLIP (ROAM/DTGA heads on the towers)


class ConfigError(UsageError):
    """An experiment file that cannot be used as it is."""


def _field(default=None, positive=False, unit_interval=False, choices=None, path=False, must_exist=True,
           non_negative=False):
    """A field with its checks: positive or non-negative number, in (0, 1], one of `choices`, a path."""
    metadata = {
        "positive": positive, "unit_interval": unit_interval, "choices": choices, "path": path,
        "must_exist": must_exist, "non_negative": non_negative,
    }
    return dataclasses.field(default=default, metadata=metadata)


@dataclasses.dataclass
class DataConfig:
    """Input data: a folder written by `dove-data prepare` and its vocabulary.

    Attributes:
        prepared_dir: the prepared folder (TFRecord shards and manifest).
        vocabulary: the vocabulary file (one word per line); required
            unless `foundation.preset` is set (a CLIP has its tokenizer).
        train_split, val_split, test_split: split names in the manifest.
        image_size: side of the model input, a multiple of 32 (the pipeline
            trains on random crops of a resize to image_size * 278 / 256,
            randomly rotated by 0-90 degrees, and evaluates on a resize).
            A CLIP run takes the preset's size (the data keys may be left
            out; set, they must agree with the preset).
        sequence_length: tokens per caption (padded / truncated); a CLIP
            run takes the preset's (77).
        shuffle_buffer: buffer of the train shuffles (images, then captions).
        eval_batch_size: batch size when encoding evaluation splits.
    """

    prepared_dir: str = _field(path=True)
    vocabulary: typing.Optional[str] = _field(path=True)
    train_split: str = "train"
    val_split: str = "val"
    test_split: str = "test"
    image_size: int = _field(256, positive=True)
    sequence_length: int = _field(32, positive=True)
    shuffle_buffer: int = _field(10000, positive=True)
    eval_batch_size: int = _field(100, positive=True)


def _arguments_dataclass(name, cls, doc, skip=()):
    """A config section whose keys and defaults are `cls.__init__`'s keyword arguments.

    The type of a key is its default's; a null default is an optional integer.
    """
    fields = []
    for parameter in inspect.signature(cls.__init__).parameters.values():
        if parameter.default is inspect.Parameter.empty or parameter.name in skip:
            continue
        default = parameter.default
        kind = typing.Optional[int] if default is None else type(default)
        fields.append((parameter.name, kind, dataclasses.field(default=default)))
    section = dataclasses.make_dataclass(name, fields)
    section.__doc__ = doc
    return section


ModelConfig = _arguments_dataclass(
    "ModelConfig", DOVEBackbone, skip=("dtype",),
    doc="""The `model` section: the keyword arguments of `DOVEBackbone`.

    Its docstring describes them; `vocabulary_size` comes from the vocabulary
    file, and the section is built as `DOVEBackbone(vocabulary_size,
    **section)`. `image_backbone` is a name ("resnet50", "resnet18", "tiny":
    random weights), a keras-hub preset handle such as "resnet_50_imagenet"
    (downloaded by keras-hub on first use) or a local keras-hub preset folder.
    """,
)
LossConfig = _arguments_dataclass(
    "LossConfig", DOVERetriever, skip=("preprocessor",),
    doc="""The `loss` section: the keyword arguments of `DOVERetriever`.

    `margin`, `hardest_negative` and `lambda_global` (DESIGN section 1.4).
    """,
)


@dataclasses.dataclass
class InitializationConfig:
    """Weights a run starts from, beyond the image backbone preset's own.

    Attributes:
        image_backbone_weights: optional `.weights.h5` file for the ResNet.
        word_embeddings: optional `.npy` (vocabulary_size, word_dim) matrix,
            e.g. from GloVe (`dove-data vocab --glove`), for the word embedding.
    """

    image_backbone_weights: typing.Optional[str] = _field(path=True)
    word_embeddings: typing.Optional[str] = _field(path=True)


@dataclasses.dataclass
class OptimizerConfig:
    """Adam with a step decay (DESIGN section 2), or AdamW, cosine decay and warm-up.

    Attributes:
        learning_rate: initial (peak) rate; in a CLIP run, the rate of the
            projections and the temperature (`foundation.tower_learning_rate`
            is the towers').
        decay_rate: the rate is multiplied by this (in (0, 1]) every `decay_epochs`.
        decay_epochs: epochs between decays.
        clipnorm: optional gradient norm clipping (null: none).
        schedule: "step" (the protocol's decay above) or "cosine" (to 0 at
            the last step).
        warmup_epochs: epochs (a float) of linear warm-up to the rate; the
            decay starts after it.
        weight_decay: decoupled (AdamW) weight decay of the weight matrices
            (0: Adam).
    """

    learning_rate: float = _field(2e-4, positive=True)
    decay_rate: float = _field(0.7, unit_interval=True)
    decay_epochs: int = _field(20, positive=True)
    clipnorm: typing.Optional[float] = _field(None, positive=True)
    schedule: str = _field("step", choices=SCHEDULES)
    warmup_epochs: float = _field(0.0, non_negative=True)
    weight_decay: float = _field(0.0, non_negative=True)


@dataclasses.dataclass
class TrainingConfig:
    """The training loop.

    Attributes:
        epochs: training epochs.
        batch_size: captions (image-caption pairs) per batch.
        backup_every_n_steps: backup (weights, optimizer, RNG, position)
            every N batches, so a killed run resumes where it stopped.
        deterministic: deterministic ops and data order (slower).
        precision: "float32", or a Keras mixed policy for the model's
            layers: "mixed_bfloat16" (CPU, TPU) or "mixed_float16" (GPU; the
            optimizer then scales the loss). Variables, the loss and the
            scores stay float32.
        tensorboard: write TensorBoard logs (per-epoch losses and
            validation recalls) to `output_dir/tensorboard`.
    """

    epochs: int = _field(50, positive=True)
    batch_size: int = _field(100, positive=True)
    backup_every_n_steps: int = _field(200, positive=True)
    deterministic: bool = False
    precision: str = _field("float32", choices=PRECISIONS)
    tensorboard: bool = False


@dataclasses.dataclass
class EvaluationConfig:
    """Validation during training and the final test.

    Attributes:
        every_n_epochs: validate after epochs N, 2N, ...; the best validation
            mR selects the model.
        mode: "roam" (pairwise, the protocol) or "global" (fast V_M . T_G).
        chunk_size: block side of the pairwise scoring.
        captions_per_image: captions per image in the evaluation splits.
    """

    every_n_epochs: int = _field(1, positive=True)
    mode: str = _field("roam", choices=("roam", "global"))
    chunk_size: int = _field(128, positive=True)
    captions_per_image: int = _field(5, positive=True)


@dataclasses.dataclass
class FoundationConfig:
    """Fine-tuning an imported CLIP instead of training DOVE's towers (DESIGN section 1.7).

    With `preset` set, the `initialization` section and the `model` keys
    other than DOVE-CLIP's `use_roam`, `use_dtga` and `iga_key_dim` do not
    apply (they must keep their defaults), `data.vocabulary` is not used,
    `data.image_size` and `data.sequence_length` come from the preset. The
    dual encoder (`heads: none`) has no ROAM: `loss.lambda_global` does not
    apply and `evaluation.mode` "roam" (the model's own score) is its cosine,
    as "global" is; DOVE-CLIP (`heads: dove`) evaluates with ROAM unless
    `evaluation.mode: global`.

    Attributes:
        preset: a CLIP preset folder written by `dove-data import-clip`
            (null: a DOVE run).
        heads: "none": the CLIP dual encoder, `s = cos(proj_v(CLS), proj_t(EOT))`;
            "dove": DOVE-CLIP, DOVE's ROAM and DTGA on the towers' patch and
            token states behind zero-initialised gates (`gate_init`), trained
            on `L(ROAM) + loss.lambda_global * L(global)`.
        trainable_blocks: 0 freezes both towers (the projections and the
            temperature train), N trains the last N blocks of each tower,
            -1 everything.
        tower_learning_rate: the towers' peak rate (`optimizer.learning_rate`
            is the projections' and the temperature's); same schedule.
        loss: "contrastive" (CLIP's symmetric InfoNCE, learnable temperature)
            or "triplet" (`loss.margin`, `loss.hardest_negative`).
        gate_init: DOVE-CLIP's initial gates gamma_v, gamma_t (0: the run
            starts from the CLIP's own scores).
    """

    preset: typing.Optional[str] = _field(path=True)
    heads: str = _field("none", choices=FOUNDATION_HEADS)
    trainable_blocks: int = 0
    tower_learning_rate: float = _field(1e-5, positive=True)
    loss: str = _field("contrastive", choices=CLIP_LOSSES)
    gate_init: float = 0.0


@dataclasses.dataclass
class ExperimentConfig:
    """One experiment.

    Attributes:
        name: experiment name (used in reports).
        seed: seed of every random generator.
        output_dir: where checkpoints, logs, results and figures go.
        distribution: "none" (one device), "data_parallel" (every local
            device: `keras.distribution.DataParallel` on JAX,
            `tf.distribute.MirroredStrategy` on TensorFlow) or "multi_worker"
            (several hosts; see `dove_keras.training.distribution`).
        data, model, initialization, loss, optimizer, training, evaluation,
            foundation: the sections.
    """

    name: str = "dove"
    seed: int = 42
    output_dir: str = _field("dove_runs/dove", path=True, must_exist=False)
    distribution: str = _field("none", choices=DISTRIBUTIONS)
    data: DataConfig = dataclasses.field(default_factory=DataConfig)
    model: ModelConfig = dataclasses.field(default_factory=ModelConfig)
    initialization: InitializationConfig = dataclasses.field(default_factory=InitializationConfig)
    loss: LossConfig = dataclasses.field(default_factory=LossConfig)
    optimizer: OptimizerConfig = dataclasses.field(default_factory=OptimizerConfig)
    training: TrainingConfig = dataclasses.field(default_factory=TrainingConfig)
    evaluation: EvaluationConfig = dataclasses.field(default_factory=EvaluationConfig)
    foundation: FoundationConfig = dataclasses.field(default_factory=FoundationConfig)

    def to_dict(self):
        """The config as plain nested dicts (what `save_config` writes)."""
        return dataclasses.asdict(self)


def load_config(path, overrides=None, check_paths=True):
    """Reads and checks an experiment file.

    Args:
        path: the YAML file.
        overrides: optional `{"section.key": value}` applied on top (values
            are parsed as YAML scalars when given as strings).
        check_paths: check that input paths exist.

    Returns:
        An `ExperimentConfig`.

    Raises:
        ConfigError: unreadable YAML, unknown keys, wrong types or values,
            or missing input paths; the message names the file and the key.
    """
    path = os.fspath(path)
    if not os.path.isfile(path):
        raise ConfigError(f"{path}: config file not found.")
    with open(path, encoding="utf-8") as f:
        try:
            raw = yaml.safe_load(f)
        except yaml.YAMLError as error:
            raise ConfigError(f"{path}: not valid YAML: {error}") from None
    raw = {} if raw is None else raw
    if not isinstance(raw, dict):
        raise ConfigError(f"{path}: the top level must be a mapping of keys, got {type(raw).__name__}.")
    apply_overrides(raw, overrides or {}, path)
    return config_from_dict(raw, source=path, check_paths=check_paths)


def config_from_dict(raw, source="<dict>", check_paths=True):
    """Builds and checks an `ExperimentConfig` from nested dicts.

    Args:
        raw: the nested mapping.
        source: the file name used in messages.
        check_paths: check that input paths exist (and that the required
            ones are given).

    Returns:
        An `ExperimentConfig`.

    Raises:
        ConfigError: see `load_config`.
    """
    config = _build(ExperimentConfig, raw, "", source)
    _check_values(config, source, check_paths)
    if config.training.tensorboard and importlib.util.find_spec("tensorboard") is None:
        raise ConfigError(f"{source}: training.tensorboard needs the tensorboard package: pip install tensorboard.")
    if config.foundation.preset is None:
        _check_dove_inputs(config, source, check_paths)
    else:
        _check_foundation(config, raw, source, check_paths)
    return config


def save_config(config, path):
    """Writes `config` as YAML (the exact run's hyper-parameters)."""
    with open(path, "w", encoding="utf-8") as f:
        yaml.safe_dump(config.to_dict(), f, sort_keys=False)


def _build(cls, raw, section, source):
    where = section or "top level"
    if not isinstance(raw, dict):
        raise ConfigError(f"{source}: {where} must be a mapping, got {type(raw).__name__}.")
    fields = {f.name: f for f in dataclasses.fields(cls)}
    unknown = sorted(map(str, set(raw) - set(fields)))
    if unknown:
        guesses = [g for key in unknown for g in difflib.get_close_matches(key, fields, 1)]
        hint = f" (did you mean {', '.join(guesses)}?)" if guesses else ""
        raise ConfigError(
            f"{source}: unknown key(s) {', '.join(unknown)} in {where}{hint}; "
            f"valid keys: {', '.join(fields)}."
        )
    hints = typing.get_type_hints(cls)
    values = {}
    for name, value in raw.items():
        key = f"{section}.{name}" if section else name
        hint = hints[name]
        if dataclasses.is_dataclass(hint):
            values[name] = _build(hint, {} if value is None else value, key, source)
        else:
            values[name] = _convert(value, hint, key, source)
    return cls(**values)


def _convert(value, hint, key, source):
    optional = typing.get_origin(hint) is typing.Union
    kind = next(a for a in typing.get_args(hint) if a is not type(None)) if optional else hint
    if value is None:
        if optional:
            return None
        raise ConfigError(f"{source}: {key} may not be null (expected {kind.__name__}).")
    if kind is float and isinstance(value, str):
        try:  # YAML 1.1 reads 2e-4 (no dot) as a string.
            return float(value)
        except ValueError:
            pass
    if kind is float and isinstance(value, (int, float)) and not isinstance(value, bool):
        return float(value)
    if isinstance(value, kind) and not (kind is int and isinstance(value, bool)):
        return value
    raise ConfigError(
        f"{source}: {key} must be {kind.__name__}{' or null' if optional else ''}, "
        f"got {value!r} ({type(value).__name__})."
    )


def apply_overrides(raw, overrides, source):
    """Sets `{"section.key": value}` overrides in the nested mapping `raw` (in place).

    String values are parsed as YAML scalars (`"0.5"` -> 0.5, `"false"` -> False).

    Raises:
        ConfigError: a value that is not valid YAML, or a key below a non-section.
    """
    for dotted, value in overrides.items():
        _apply_override(raw, dotted, value, source)


def _apply_override(raw, dotted, value, source):
    if isinstance(value, str) and value.strip():
        try:
            value = yaml.safe_load(value)
        except yaml.YAMLError as error:
            problem = getattr(error, "problem", None) or str(error).splitlines()[0]
            raise ConfigError(f"--set {dotted}={value}: the value is not valid YAML ({problem}).") from None
    *sections, name = dotted.split(".")
    node = raw
    for section in sections:
        node = node.setdefault(section, {})
        if not isinstance(node, dict):
            raise ConfigError(f"{source}: override {dotted}: {section} is not a section.")
    node[name] = value


def _sections(config):
    yield "", config
    for field in dataclasses.fields(config):
        value = getattr(config, field.name)
        if dataclasses.is_dataclass(value):
            yield field.name, value


def _check_values(config, source, check_paths):
    for section, values in _sections(config):
        prefix = f"{section}." if section else ""
        for field in dataclasses.fields(values):
            key, value, meta = prefix + field.name, getattr(values, field.name), field.metadata
            if meta.get("choices") and value not in meta["choices"]:
                raise ConfigError(f"{source}: {key} must be one of {list(meta['choices'])}, got {value!r}.")
            if meta.get("positive") and value is not None and not value > 0:
                raise ConfigError(f"{source}: {key} must be positive, got {value!r}.")
            if meta.get("non_negative") and not value >= 0:
                raise ConfigError(f"{source}: {key} must be >= 0, got {value!r}.")
            if meta.get("unit_interval") and not 0 < value <= 1:
                raise ConfigError(f"{source}: {key} must be in (0, 1], got {value!r}.")
            if meta.get("path"):
                setattr(values, field.name, _resolve_path(value, field, key, source, check_paths))
    _run_checks([
        ("model.", lambda: check_backbone_arguments(**dataclasses.asdict(config.model))),
        ("loss.", lambda: check_loss_arguments(**dataclasses.asdict(config.loss))),
    ], source)


def _run_checks(checks, source):
    """Runs `(key prefix, check)` pairs; a check's ValueError becomes a ConfigError."""
    for prefix, check in checks:
        try:
            check()
        except ValueError as error:
            raise ConfigError(f"{source}: {prefix}{error}") from None


def _check_dove_inputs(config, source, check_paths):
    """A DOVE run: no foundation keys, the image size rule, the vocabulary and the data's region vectors."""
    default = FoundationConfig()
    changed = [f.name for f in dataclasses.fields(default)
               if getattr(config.foundation, f.name) != getattr(default, f.name)]
    if changed:
        raise ConfigError(f"{source}: foundation.{changed[0]} has no effect without foundation.preset "
                          "(a DOVE run); remove it or set foundation.preset.")
    checks = [("data.", lambda: check_image_size(config.data.image_size))]
    if check_paths:
        if config.data.vocabulary is None:
            raise ConfigError(f"{source}: data.vocabulary is required (a path).")
        checks.append(("", lambda: check_data_regions(config.model, config.data.prepared_dir)))
    _run_checks(checks, source)


# The keys a CLIP dual encoder does not use: set to anything but their defaults, they are refused.
DOVE_ONLY_KEYS = ("model", "initialization", "loss.lambda_global", "data.vocabulary")
DOVE_CLIP_MODEL_KEYS = ("use_roam", "use_dtga", "iga_key_dim")  # the model keys DOVE-CLIP reads


def _check_foundation(config, raw, source, check_paths):
    """A CLIP run: the DOVE-only keys at their defaults; image size, caption length and depth from the preset.

    Sets `data.image_size` and `data.sequence_length` to the preset's (when
    `check_paths`, which reads it).
    """
    foundation, defaults = config.foundation, ExperimentConfig().to_dict()
    dove_clip = foundation.heads == "dove"
    where = f"foundation.preset is set: a {'DOVE-CLIP' if dove_clip else 'CLIP dual encoder'} run"
    current = config.to_dict()
    for dotted in DOVE_ONLY_KEYS:
        section, _, key = dotted.partition(".")
        keys = [key] if key else current[section]
        if dove_clip:
            keys = [k for k in keys if section != "model" and dotted != "loss.lambda_global"
                    or section == "model" and k not in DOVE_CLIP_MODEL_KEYS]
        changed = [k for k in keys if current[section][k] != defaults[section][k]]
        if changed:
            raise ConfigError(f"{source}: {section}.{changed[0]} does not apply ({where}); remove it.")
    if not dove_clip and foundation.gate_init != defaults["foundation"]["gate_init"]:
        raise ConfigError(f"{source}: foundation.gate_init does not apply ({where}); remove it.")
    blocks = foundation.trainable_blocks
    if blocks < ALL_BLOCKS:
        raise ConfigError(f"{source}: foundation.trainable_blocks must be -1 (all), 0 (frozen towers) or a "
                          f"block count, got {blocks}.")
    # evaluation.mode "roam" (the default) scores with the model's own `score`: ROAM for DOVE-CLIP,
    # the cosine for the dual encoder (a config derived for another heads value keeps its meaning).
    if not check_paths:
        return
    try:
        settings = clip_preset_settings(foundation.preset)
    except ValueError as error:
        raise ConfigError(f"{source}: foundation.preset: {error}.") from None
    if blocks > settings["depth"]:
        raise ConfigError(f"{source}: foundation.trainable_blocks is {blocks} but the preset's towers have "
                          f"{settings['depth']} blocks.")
    given = raw.get("data") or {}
    for key in ("image_size", "sequence_length"):
        if key in given and given[key] != settings[key]:
            raise ConfigError(f"{source}: data.{key} is {given[key]!r} but the CLIP preset takes "
                              f"{settings[key]}; leave it out (the preset's is used).")
        setattr(config.data, key, settings[key])


def check_data_regions(model, prepared_dir):
    """Raises ValueError unless precomputed regions of `model.region_dim` are in the prepared data.

    Args:
        model: the `model` section; only `region_source: precomputed` is checked.
        prepared_dir: the folder written by `dove-data prepare`.
    """
    if model.region_source != "precomputed":
        return
    regions = shards.load_manifest(prepared_dir).get("regions")
    if not regions:
        raise ValueError(
            f"model.region_source is 'precomputed' but {prepared_dir} holds no region vectors: "
            "prepare it with `dove-data prepare --regions FILE.npz`, or use region_source: grid."
        )
    if regions["dim"] != model.region_dim:
        raise ValueError(
            f"model.region_dim is {model.region_dim} but the region vectors in {prepared_dir} are "
            f"{regions['dim']} wide: set model.region_dim: {regions['dim']}."
        )


def _resolve_path(value, field, key, source, check):
    if value is None:
        if check and typing.get_origin(field.type) is not typing.Union:
            raise ConfigError(f"{source}: {key} is required (a path).")
        return None
    expanded = os.path.expandvars(os.path.expanduser(value))
    if check and field.metadata["must_exist"] and not os.path.exists(expanded):
        raise ConfigError(
            f"{source}: {key}: path not found: {expanded!r} "
            f"(relative paths start at the working directory {os.getcwd()})."
        )
    return expanded
