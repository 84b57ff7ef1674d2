"""The summary of a `dove demo` run: test recalls against chance and two example queries."""

import os

import numpy as np
import pandas as pd

from dove_keras.data.readers import read_captions
from dove_keras.evaluation.chance import chance_recalls
from dove_keras.preprocessing.captions import CAPTIONS_PER_IMAGE
from dove_keras.reports.sheets import example_queries
from dove_keras.reports.tables import markdown_table

EXAMPLES_TOP_K = 3


def demo_summary(result, data, seconds):
    """The markdown summary: the test recalls against chance and two example queries.

    Args:
        result: the runner's `TrainingResult` (with its test evaluation).
        data: the paths of `prepare_demo_data`.
        seconds: wall times `data`, `train_and_test` and `total`.

    Returns:
        The text.
    """
    metrics = result.test.metrics
    scores = result.test.scores
    num_images = scores.shape[0]
    chance = chance_recalls(num_images, CAPTIONS_PER_IMAGE)
    history = result.history
    best_epoch = int(history.loc[history["val_mR"].idxmax(), "epoch"]) + 1
    lines = [
        f"## DOVE demo: test split, {num_images} images x {scores.shape[1]} captions",
        "",
        markdown_table(recall_table(metrics, chance)),
        f"mR {metrics['mR']:.2f} = {metrics['mR'] / chance['mR']:.1f} x chance "
        f"({chance['mR']:.2f}); model selected at epoch {best_epoch} (best validation mR).",
        "",
    ]
    records = read_captions(data["scenes"])["test"]
    images = os.path.join(data["scenes"], "images")
    filenames = [os.path.join(images, record.filename) for record in records]
    captions = [caption for record in records for caption in record.captions]
    caption_queries, image_queries = example_queries(scores)
    lines += example_lines(scores, filenames, captions, caption_queries[0], image_queries[-1])
    lines += [
        "",
        f"Wall time: {seconds['total'] / 60:.1f} min (data {seconds['data']:.0f} s, "
        f"training and test {seconds['train_and_test']:.0f} s).",
        "",
    ]
    return "\n".join(lines)


def recall_table(metrics, chance):
    """A DataFrame: R@1/5/10 per direction for the model and for chance."""
    rows = []
    for source, values in (("DOVE", metrics), ("chance", chance)):
        for direction, label in (("i2t", "image->text"), ("t2i", "text->image")):
            rows.append({
                "scores": source, "direction": label,
                **{f"R@{k}": round(values[f"{direction}_r{k}"], 2) for k in (1, 5, 10)},
            })
    return pd.DataFrame(rows)


def example_lines(scores, filenames, captions, caption, image, top_k=EXAMPLES_TOP_K):
    """Markdown lines: a caption query with its top images, an image query with its top captions.

    Args:
        scores: `(I, C)` test scores.
        filenames: the I image paths.
        captions: the C captions (caption j belongs to image j // 5).
        caption: index of the caption query.
        image: index of the image query.
        top_k: results shown per query.

    Returns:
        A list of lines; a result that is a true match is marked `[match]`.
    """
    owner = caption // CAPTIONS_PER_IMAGE
    lines = [f'Query caption: "{captions[caption]}" (describes {filenames[owner]})']
    for rank, index in enumerate(np.argsort(-scores[:, caption], kind="stable")[:top_k], 1):
        mark = "  [match]" if index == owner else ""
        lines.append(f"  {rank}. {scores[index, caption]:+.3f}  {filenames[index]}{mark}")
    lines.append(f"Query image: {filenames[image]}")
    for rank, index in enumerate(np.argsort(-scores[image], kind="stable")[:top_k], 1):
        mark = "  [match]" if index // CAPTIONS_PER_IMAGE == image else ""
        lines.append(f'  {rank}. {scores[image, index]:+.3f}  "{captions[index]}"{mark}')
    return lines
