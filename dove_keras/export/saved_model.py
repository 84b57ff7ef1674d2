"""SavedModel export of DOVE: raw-input and tensor endpoints (DESIGN section 6).

Endpoints (methods of `tf.saved_model.load(path)`, also in `.signatures`), named as
the task's methods: `embed_*` take raw inputs, `encode_*` model inputs:

- `embed_images(images)`: string `(B,)` 8-bit JPEG/PNG/GIF/BMP bytes -> `global` V_M `(B, d)`,
  `fused` V_MR `(B, d)`, `regions` `(B, N_r, d)`, `region_mask` bool `(B, N_r)`.
- `embed_pixels(pixels)`: float32 `(B, H, W, 3)` decoded 8-bit pixel values in
  [0, 255] (e.g. of a TIFF; any H, W) -> as `embed_images`.
- `encode_image(images)`: float32 `(B, S, S, 3)` normalised -> as `embed_images`.
- `embed_texts(captions)`: string `(B,)` UTF-8 -> `global` T_G `(B, d)`, `genes` F_G
  `(B, L', d)`, `gene_mask` bool `(B, L')`.
- `encode_text(token_ids)`: int32 `(B, L)`, 0-padded, L the model's caption length,
  no row all padding -> as `embed_texts`.
- `score(fused, regions, region_mask, genes, gene_mask)`: I images against C captions ->
  `(I, C)` ROAM scores. A DOVE-CLIP export (metadata `score_takes_text_global`) takes
  the captions' `global` T_G `(C, d)` as a sixth input.

Without ROAM (`use_roam=False`) the image outputs are `global` and `fused`
(equal) and `score(image_global, text_global)` is their cosine matrix.
`score` is not chunked: call it on blocks to bound memory (I * C * d floats).
Raw images and captions go through the retriever's own `DOVEPreprocessor`
(the same layer the training and evaluation pipelines use).

TIFF and 16-bit images: TIFF bytes are not decoded in the graph; decode them
and send the pixels to `embed_pixels`. The graph applies no stretch to
16-bit data: `embed_images` refuses 16-bit PNGs and `embed_pixels`
refuses values outside [0, 255] (or not finite), each with an
`InvalidArgumentError` naming the batch indices. Stretch 16-bit data to 8 bits
first, e.g. with the per-band percentile stretch of `dove_keras.preprocessing.stretch`
(`band_limits`, `apply_stretch`), which `dove_keras.data.images.load_image`
(single-band images) and `dove search index --scenes` apply.

Loading needs TensorFlow and `import tensorflow_text` (the caption tokenizer's
ops are registered by that import), never dove_keras:

```python
import tensorflow as tf
import tensorflow_text  # noqa: F401  registers the tokenizer ops
dove = tf.saved_model.load("exported/")
images = dove.embed_images(tf.constant([open("a.jpg", "rb").read()]))
texts = dove.embed_texts(tf.constant(["many planes are parked near a terminal"]))
scores = dove.score(images["fused"], images["regions"], images["region_mask"],
                    texts["genes"], texts["gene_mask"])
```
"""

import os

import keras
import tensorflow as tf

from dove_keras.export.handoff import export_through_tensorflow
from dove_keras.export.metadata import METADATA_FILE
from dove_keras.export.metadata import is_export
from dove_keras.export.metadata import write_metadata
from dove_keras.export.raw_inputs import check_pixels
from dove_keras.export.raw_inputs import check_string_batch
from dove_keras.export.raw_inputs import check_token_ids
from dove_keras.export.raw_inputs import check_utf8
from dove_keras.models.scoring import cosine_matrix
from dove_keras.models.scoring import roam_scores
from dove_keras.utils.files import folder_written_whole

ENDPOINTS = ("embed_images", "embed_pixels", "encode_image", "embed_texts", "encode_text", "score")


def export_saved_model(retriever, path, overwrite=False):
    """Writes a TensorFlow SavedModel of a `DOVERetriever` with named endpoints.

    The retriever's preprocessor (vocabulary, caption length, image size and
    normalisation) goes into the graph, so a preset needs nothing else.
    From the TensorFlow and JAX backends the export runs in this process
    (JAX through `jax2tf`, as `keras.export.ExportArchive` does); from the
    torch backend the retriever is saved as a preset and exported by a
    `KERAS_BACKEND=tensorflow` subprocess (`dove_keras.export.handoff` runs
    `python -m dove_keras.export`, which calls this function).

    Args:
        retriever: a `DOVERetriever` with a preprocessor and grid regions.
        path: the output directory (written atomically).
        overwrite: replace an existing export at `path` (only an export made
            by this function; any other folder is refused).

    Returns:
        `path`.

    Raises:
        ValueError: a retriever this export cannot serve (no preprocessor,
            precomputed regions), or `path` exists.
    """
    path = os.fspath(path)
    _check_exportable(retriever)
    if os.path.exists(path):
        if not overwrite:
            raise ValueError(f"{path} exists; pass overwrite=True (--overwrite) to replace it")
        if not is_export(path):
            raise ValueError(
                f"{path} exists and is not an export of dove_keras (no saved_model.pb and "
                f"{METADATA_FILE}): not replacing it; choose another output folder"
            )
    backend = keras.backend.backend()
    if backend == "torch":
        return export_through_tensorflow(retriever, path)
    with folder_written_whole(path, ".export-") as staging:
        archive, shapes = build_archive(retriever)
        archive.write_out(staging, verbose=False)
        write_metadata(staging, _metadata(retriever, shapes, backend))
    return path


def build_archive(retriever):
    """The `keras.export.ExportArchive` holding every endpoint.

    Returns:
        `(archive, shapes)`, shapes: `{"regions": N_r, "genes": L', "embedding": d}`.
    """
    preprocessor = retriever.preprocessor
    side, length = preprocessor.image_converter.side, preprocessor.sequence_length
    archive = keras.export.ExportArchive()
    # The task's serving layers, not the functional backbone: its input
    # signature has no image side, so a default serving function could not be traced.
    layers, image_features, text_features = retriever.serving_functions()
    for layer in layers:
        archive.track(layer)
    for resource in _tokenizer_resources(preprocessor.tokenizer):
        archive.track(resource)

    image_spec = tf.TensorSpec((None, side, side, 3), tf.float32, name="images")
    ids_spec = tf.TensorSpec((None, length), tf.int32, name="token_ids")
    encode_image = archive.add_endpoint("encode_image", image_features, [image_spec])
    text_from_ids = archive.add_endpoint("_text_features", text_features, [ids_spec])
    image_out = encode_image.get_concrete_function().structured_outputs
    text_out = text_from_ids.get_concrete_function().structured_outputs
    shapes = {
        "regions": int(image_out["regions"].shape[1]) if "regions" in image_out else 0,
        "genes": int(text_out["genes"].shape[1]) if "genes" in text_out else 0,
        "embedding": int(image_out["global"].shape[-1]),
    }
    converter = preprocessor.image_converter
    vocabulary_size = preprocessor.tokenizer.vocabulary_size()

    @tf.function(input_signature=[ids_spec])
    def encode_text(token_ids):
        return text_from_ids(check_token_ids(token_ids, vocabulary_size, "encode_text"))

    @tf.function(input_signature=[tf.TensorSpec(None, tf.string, name="images")])
    def embed_images(images):
        images = check_string_batch(images, "embed_images", "encoded image")
        return encode_image(converter.convert(images))

    @tf.function(input_signature=[tf.TensorSpec((None, None, None, 3), tf.float32, name="pixels")])
    def embed_pixels(pixels):
        return encode_image(converter.convert(check_pixels(pixels, "embed_pixels")))

    @tf.function(input_signature=[tf.TensorSpec(None, tf.string, name="captions")])
    def embed_texts(captions):
        captions = check_utf8(check_string_batch(captions, "embed_texts", "caption"), "embed_texts")
        return encode_text(preprocessor.token_ids(captions))

    for name, function in (("encode_text", encode_text), ("embed_images", embed_images),
                           ("embed_pixels", embed_pixels), ("embed_texts", embed_texts)):
        function.get_concrete_function()
        archive.add_endpoint(name, function)

    specs, score, batch_names = _score_function(retriever, shapes)
    kwargs = {}
    if keras.backend.backend() == "jax":  # images and captions: two independent batch sizes
        kwargs["jax2tf_kwargs"] = {"polymorphic_shapes": _polymorphic_shapes(specs, batch_names)}
    archive.add_endpoint("score", score, specs, **kwargs)
    return archive, shapes


def _score_function(retriever, shapes):
    """`(input specs, fn, batch dimension names)` of the `score` endpoint."""
    d = shapes["embedding"]
    if not retriever.use_roam:
        specs = [
            tf.TensorSpec((None, d), tf.float32, name="image_global"),
            tf.TensorSpec((None, d), tf.float32, name="text_global"),
        ]
        return specs, cosine_matrix, "ic"
    n_r, n_g = shapes["regions"], shapes["genes"]
    specs = [
        tf.TensorSpec((None, d), tf.float32, name="fused"),
        tf.TensorSpec((None, n_r, d), tf.float32, name="regions"),
        tf.TensorSpec((None, n_r), tf.bool, name="region_mask"),
        tf.TensorSpec((None, n_g, d), tf.float32, name="genes"),
        tf.TensorSpec((None, n_g), tf.bool, name="gene_mask"),
    ]

    def roam_score(fused, regions, region_mask, genes, gene_mask, text_global=None):
        image_features = {"fused": fused, "regions": regions, "region_mask": region_mask}
        text_features = {"genes": genes, "gene_mask": gene_mask, "global": text_global}
        return roam_scores(retriever.backbone.iga, image_features, text_features)

    if _gated(retriever):  # DOVE-CLIP: T_RG = T_G + gamma * IGA reads the captions' T_G
        specs.append(tf.TensorSpec((None, d), tf.float32, name="text_global"))
        return specs, roam_score, "iiiccc"
    return specs, roam_score, "iiicc"


def _gated(retriever):
    """Whether the ROAM score reads the captions' global embeddings (a gated IGA: DOVE-CLIP)."""
    return bool(retriever.use_roam and retriever.backbone.iga.residual_gate)


def _polymorphic_shapes(specs, batch_names):
    return [
        "(" + ", ".join([name] + [str(dim) for dim in spec.shape[1:]]) + ")"
        for spec, name in zip(specs, batch_names)
    ]


def _tokenizer_resources(tokenizer):
    """The TensorFlow resources a tokenizer holds: lookup tables, and modules holding them (a BPE cache)."""
    resource_types = (tf.saved_model.experimental.TrackableResource, tf.Module)
    return [value for value in vars(tokenizer).values() if isinstance(value, resource_types)]


def _check_exportable(retriever):
    if retriever.preprocessor is None or retriever.preprocessor.image_converter is None:
        raise ValueError(
            "The retriever has no preprocessor (tokenizer and image converter): export a preset "
            "or a model built with one (dove_keras.training.build_retriever)."
        )
    if getattr(retriever.backbone, "region_source", "grid") != "grid":
        raise ValueError(
            "Only region_source='grid' models can be exported: raw images carry no "
            "precomputed regions."
        )


def _metadata(retriever, shapes, backend):
    backbone, preprocessor = retriever.backbone, retriever.preprocessor
    return {
        "task": type(retriever).__name__,
        "image_size": preprocessor.image_converter.side,
        "sequence_length": preprocessor.sequence_length,
        "vocabulary_size": preprocessor.tokenizer.vocabulary_size(),
        "embedding_dim": shapes["embedding"],
        "region_count": shapes["regions"],
        "gene_count": shapes["genes"],
        "use_roam": bool(retriever.use_roam),
        "score_takes_text_global": _gated(retriever),
        "lambda_global": float(retriever.lambda_global),
        "fingerprint": retriever.fingerprint(),
        "exported_from_backend": backend,
        "endpoints": list(ENDPOINTS),
        "loading": "import tensorflow, tensorflow_text; tf.saved_model.load(path)",
        "model_config": keras.saving.serialize_keras_object(backbone)["config"],
    }
