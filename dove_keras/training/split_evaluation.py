"""Evaluating a model on one split of a run, with its result files."""

import logging
import os

import tensorflow as tf

from dove_keras.data import shards
from dove_keras.data.pipelines import make_eval_datasets
from dove_keras.evaluation.evaluate import evaluate_model
from dove_keras.reports.sheets import example_heat_maps
from dove_keras.reports.sheets import example_indices
from dove_keras.reports.sheets import retrieval_example_sheet
from dove_keras.reports.tables import markdown_table
from dove_keras.reports.tables import results_frame
from dove_keras.reports.tables import write_results

logger = logging.getLogger(__name__)


def eval_datasets(config, split):
    """The raw evaluation datasets of `split` with the config's batch size."""
    d = config.data
    return make_eval_datasets(
        d.prepared_dir, split=split, batch_size=d.eval_batch_size,
        captions_per_image=config.evaluation.captions_per_image,
    )


def evaluate_split(config, model, split, mode=None, verbose=1, output_dir=None, name=None):
    """Evaluates `model` on `split` and writes the results and the example sheet.

    Files, in `output_dir` (default: `config.output_dir`): `results_{split}_{mode}.csv`
    and `.md`, `examples_{split}.png`. `name` labels the results (default: `config.name`).

    Returns:
        The `EvaluationResult`.
    """
    mode = mode or config.evaluation.mode
    output_dir = output_dir or config.output_dir
    images, captions = eval_datasets(config, split)
    result = evaluate_model(
        model, images, captions, mode=mode, chunk_size=config.evaluation.chunk_size,
        captions_per_image=config.evaluation.captions_per_image, verbose=bool(verbose),
    )
    num_images, num_captions = result.scores.shape
    row = {
        "experiment": name or config.name, "split": split, "mode": mode, **result.metrics,
        "images": num_images, "captions": num_captions,
        "encode_s": round(result.timings["encode_images"] + result.timings["encode_captions"], 2),
        "score_s": round(result.timings["score"], 2),
    }
    frame = results_frame([row])
    stem = os.path.join(output_dir, f"results_{split}_{mode}")
    csv_path, md_path = write_results(frame, stem)
    shown = example_indices(result.scores)
    pictures, texts = read_split_examples(config.data.prepared_dir, split, shown)
    sheet = os.path.join(output_dir, f"examples_{split}.png")
    retrieval_example_sheet(
        result.scores, pictures, texts, sheet,
        captions_per_image=config.evaluation.captions_per_image,
        heat_maps=example_heat_maps(model, result.scores, pictures, texts),
    )
    if verbose:
        logger.info("%s", markdown_table(frame))
        logger.info("wrote %s, %s, %s", csv_path, md_path, sheet)
    return result


def read_split_examples(prepared_dir, split, image_indices):
    """Raw images (only `image_indices`) and every caption of a prepared split.

    Each record's captions are parsed; its image only when it is shown.

    Returns:
        `({index: uint8 (H, W, 3)}, [caption strings in protocol order])`.
    """
    paths, _ = shards.split_shards(prepared_dir, split)
    wanted = set(int(i) for i in image_indices)
    captions_only = {"captions": shards.FEATURES["captions"]}
    with_image = {**captions_only, "image": shards.FEATURES["image"]}
    pictures, captions = {}, []
    for index, serialized in enumerate(tf.data.TFRecordDataset(paths)):
        record = tf.io.parse_single_example(serialized, with_image if index in wanted else captions_only)
        captions.extend(c.decode("utf-8") for c in record["captions"].values.numpy())
        if index in wanted:
            pictures[index] = tf.io.decode_png(record["image"], channels=3).numpy()
    return pictures, captions
