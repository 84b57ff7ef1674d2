"""SavedModel export of DOVE: raw-input and tensor endpoints (DESIGN section 6).

Endpoints (methods of `tf.saved_model.load(path)`, also in `.signatures`):

| endpoint              | inputs                                         | outputs |
|---|---|---|
| `encode_image`        | `images`: string `(B,)` JPEG/PNG/GIF/BMP bytes  | `global` V_M `(B, d)`, `fused` V_MR `(B, d)`, `regions` `(B, N_r, d)`, `region_mask` bool `(B, N_r)` |
| `encode_image_tensor` | `images`: float32 `(B, S, S, 3)` ImageNet-normalised | as `encode_image` |
| `encode_text`         | `captions`: string `(B,)` UTF-8               | `global` T_G `(B, d)`, `genes` F_G `(B, L', d)`, `gene_mask` bool `(B, L')` |
| `encode_text_ids`     | `token_ids`: int32 `(B, L)`, 0-padded         | as `encode_text` |
| `score`               | `fused, regions, region_mask` of I images, `genes, gene_mask` of C captions | `(I, C)` ROAM scores |

Without ROAM (`use_roam=False`) the image outputs are `global` and `fused`
(equal) and `score(image_global, text_global)` is their cosine matrix.
`score` is not chunked: call it on blocks to bound memory (I * C * d floats).

Loading needs TensorFlow and `import tensorflow_text` (the caption tokenizer's
ops are registered by that import), never dove_keras:

```python
import tensorflow as tf
import tensorflow_text  # noqa: F401  registers the tokenizer ops
dove = tf.saved_model.load("exported/")
images = dove.encode_image(tf.constant([open("a.jpg", "rb").read()]))
texts = dove.encode_text(tf.constant(["many planes are parked near a terminal"]))
scores = dove.score(images["fused"], images["regions"], images["region_mask"],
                    texts["genes"], texts["gene_mask"])
```
"""

import os
import shutil
import tempfile

import keras
import tensorflow as tf
from keras import ops

from dove_keras.data.tokenizer import CaptionTokenizer
from dove_keras.export import handoff
from dove_keras.export.metadata import write_metadata
from dove_keras.export.raw_inputs import check_string_batch
from dove_keras.export.raw_inputs import decode_images

IMAGE_KEYS = ("global", "fused", "regions", "region_mask")
TEXT_KEYS = ("global", "genes", "gene_mask")


def export_saved_model(
    model, tokenizer_or_vocab, path, image_size=256, sequence_length=32, overwrite=False
):
    """Writes a TensorFlow SavedModel of `model` with named endpoints.

    From the TensorFlow and JAX backends the export runs in this process
    (JAX through `jax2tf`, as `keras.export.ExportArchive` does). From the
    torch backend the weights are saved to a `.weights.h5` file and exported
    by a `KERAS_BACKEND=tensorflow` subprocess (config and weights are
    backend-independent).

    Args:
        model: a `dove_keras.models.DOVE` with grid regions.
        tokenizer_or_vocab: a `CaptionTokenizer`, a list of words or a
            vocabulary file (the training vocabulary).
        path: the output directory (written atomically).
        image_size: side S the raw images are resized to (multiple of 32).
        sequence_length: token ids per caption L (ignored for a tokenizer,
            which carries its own).
        overwrite: replace an existing `path`.

    Returns:
        `path`.

    Raises:
        ValueError: a model this export cannot serve (precomputed regions,
            vocabulary size mismatch, image size), or `path` exists.
    """
    path = os.fspath(path)
    tokenizer = _as_tokenizer(tokenizer_or_vocab, sequence_length)
    _check_exportable(model, tokenizer, image_size)
    if os.path.exists(path) and not overwrite:
        raise ValueError(f"{path} exists; pass overwrite=True (--overwrite) to replace it")
    backend = keras.backend.backend()
    if backend == "torch":
        return handoff.export_from_torch(
            model, tokenizer.vocabulary, path, image_size, tokenizer.sequence_length
        )
    if backend not in ("tensorflow", "jax"):
        raise ValueError(f"SavedModel export needs the tensorflow, jax or torch backend, not {backend}")
    parent = os.path.dirname(os.path.abspath(path))
    os.makedirs(parent, exist_ok=True)
    staging = tempfile.mkdtemp(prefix=".export-", dir=parent)
    try:
        archive, shapes = build_archive(model, tokenizer, image_size)
        archive.write_out(staging, verbose=False)
        write_metadata(staging, _metadata(model, tokenizer, image_size, shapes, backend))
        if os.path.exists(path):
            shutil.rmtree(path)
        os.replace(staging, path)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return path


def build_archive(model, tokenizer, image_size):
    """The `keras.export.ExportArchive` holding every endpoint.

    Returns:
        `(archive, shapes)`, shapes: `{"regions": N_r, "genes": L'}`.
    """
    if not model.built:
        model.build({
            "images": (None, image_size, image_size, 3),
            "token_ids": (None, tokenizer.sequence_length),
        })
    archive = keras.export.ExportArchive()
    archive.track(model)
    for resource in _tokenizer_resources(tokenizer):
        archive.track(resource)
    image_keys = IMAGE_KEYS if model.use_roam else IMAGE_KEYS[:2]

    def image_features(images):
        outputs = model.image_encoder(images, training=False)
        return {key: outputs[key] for key in image_keys}

    def text_features(token_ids):
        outputs = model.text_encoder(token_ids, training=False)
        return {key: outputs[key] for key in TEXT_KEYS}

    image_spec = tf.TensorSpec((None, image_size, image_size, 3), tf.float32, name="images")
    ids_spec = tf.TensorSpec((None, tokenizer.sequence_length), tf.int32, name="token_ids")
    encode_image_tensor = archive.add_endpoint("encode_image_tensor", image_features, [image_spec])
    encode_text_ids = archive.add_endpoint("encode_text_ids", text_features, [ids_spec])
    image_out = encode_image_tensor.get_concrete_function().structured_outputs
    text_out = encode_text_ids.get_concrete_function().structured_outputs
    shapes = {
        "regions": int(image_out["regions"].shape[1]) if model.use_roam else 0,
        "genes": int(text_out["genes"].shape[1]),
    }

    @tf.function(input_signature=[tf.TensorSpec(None, tf.string, name="images")])
    def encode_image(images):
        images = check_string_batch(images, "encode_image", "encoded image")
        return encode_image_tensor(decode_images(images, image_size))

    @tf.function(input_signature=[tf.TensorSpec(None, tf.string, name="captions")])
    def encode_text(captions):
        captions = check_string_batch(captions, "encode_text", "caption")
        return encode_text_ids(tokenizer(captions))

    encode_image.get_concrete_function()
    encode_text.get_concrete_function()
    archive.add_endpoint("encode_image", encode_image)
    archive.add_endpoint("encode_text", encode_text)

    specs, score, batch_names = _score_function(model, shapes)
    kwargs = {}
    if keras.backend.backend() == "jax":  # images and captions: two independent batch sizes
        kwargs["jax2tf_kwargs"] = {"polymorphic_shapes": _polymorphic_shapes(specs, batch_names)}
    archive.add_endpoint("score", score, specs, **kwargs)
    return archive, shapes


def _score_function(model, shapes):
    """`(input specs, fn, batch dimension names)` of the `score` endpoint."""
    d = model.embedding_dim
    if not model.use_roam:
        specs = [
            tf.TensorSpec((None, d), tf.float32, name="image_global"),
            tf.TensorSpec((None, d), tf.float32, name="text_global"),
        ]

        def global_score(image_global, text_global):
            return ops.matmul(
                ops.normalize(image_global, axis=-1),
                ops.transpose(ops.normalize(text_global, axis=-1)),
            )

        return specs, global_score, "ic"
    n_r, n_g = shapes["regions"], shapes["genes"]
    specs = [
        tf.TensorSpec((None, d), tf.float32, name="fused"),
        tf.TensorSpec((None, n_r, d), tf.float32, name="regions"),
        tf.TensorSpec((None, n_r), tf.bool, name="region_mask"),
        tf.TensorSpec((None, n_g, d), tf.float32, name="genes"),
        tf.TensorSpec((None, n_g), tf.bool, name="gene_mask"),
    ]

    def roam_score(fused, regions, region_mask, genes, gene_mask):
        iga = model.iga
        keys, values, means = iga.prepare_genes(genes, gene_mask)
        guided = iga.pair(iga.prepare_regions(regions), region_mask, keys, values, means, gene_mask)
        return ops.einsum("id,icd->ic", ops.normalize(fused, axis=-1), ops.normalize(guided, axis=-1))

    return specs, roam_score, "iiicc"


def _polymorphic_shapes(specs, batch_names):
    return [
        "(" + ", ".join([name] + [str(dim) for dim in spec.shape[1:]]) + ")"
        for spec, name in zip(specs, batch_names)
    ]


def _tokenizer_resources(tokenizer):
    """The TensorFlow resources (the vocabulary table) a tokenizer holds."""
    resource_type = tf.saved_model.experimental.TrackableResource
    return [value for value in vars(tokenizer).values() if isinstance(value, resource_type)]


def _as_tokenizer(tokenizer_or_vocab, sequence_length):
    if isinstance(tokenizer_or_vocab, CaptionTokenizer):
        return tokenizer_or_vocab
    return CaptionTokenizer(tokenizer_or_vocab, sequence_length)


def _check_exportable(model, tokenizer, image_size):
    if model.region_source != "grid":
        raise ValueError(
            "Only region_source='grid' models can be exported: raw images carry no "
            "precomputed regions."
        )
    if int(image_size) != image_size or image_size <= 0 or image_size % 32:
        raise ValueError(f"image_size must be a positive multiple of 32, got {image_size}")
    if tokenizer.vocabulary_size != model.vocabulary_size:
        raise ValueError(
            f"The vocabulary has {len(tokenizer.vocabulary)} words (vocabulary_size "
            f"{tokenizer.vocabulary_size} with padding and out-of-vocabulary), the model "
            f"expects vocabulary_size {model.vocabulary_size}: use the training vocabulary."
        )


def _metadata(model, tokenizer, image_size, shapes, backend):
    return {
        "image_size": int(image_size),
        "sequence_length": tokenizer.sequence_length,
        "vocabulary_size": tokenizer.vocabulary_size,
        "embedding_dim": model.embedding_dim,
        "num_regions": shapes["regions"],
        "num_genes": shapes["genes"],
        "use_roam": bool(model.use_roam),
        "lambda_global": float(model.lambda_global),
        "exported_from_backend": backend,
        "endpoints": ["encode_image", "encode_image_tensor", "encode_text", "encode_text_ids", "score"],
        "loading": "import tensorflow, tensorflow_text; tf.saved_model.load(path)",
        "model_config": keras.saving.serialize_keras_object(model)["config"],
    }
