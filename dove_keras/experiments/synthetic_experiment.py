"""The small experiment on generated scenes that `dove demo` and `dove compare-backends` run.

Data folder (cached, reused by later runs with the same generation options):
    {output_dir}/data/synthetic-{N}x{S}px-seed{seed}/
        scenes/      the generated precomp folder (images, captions)
        prepared/    its TFRecord shards
        vocab.txt    the training vocabulary
"""

import logging
import os
import time

from dove_keras.training.config import config_from_dict

logger = logging.getLogger(__name__)

DATA_FOLDER = "synthetic-{num_images}x{scene_size}px-seed{seed}"


def prepare_synthetic_data(output_dir, num_images, scene_size, seed, split_fractions, progress=True):
    """Generates the scenes, prepares their shards and writes the vocabulary, reusing a cache.

    Args:
        output_dir: the experiment folder; the data goes to its `data/` subfolder.
        num_images: generated scenes.
        scene_size: their side in pixels.
        seed: the generator's seed.
        split_fractions: (train, val, test) fractions.
        progress: progress bars and a line per step.

    Returns:
        A dict: the paths `root`, `scenes` (the precomp folder), `prepared` and
        `vocabulary`, and the count `train_captions`.
    """
    from dove_keras.data.prepare import prepare
    from dove_keras.data.vocabulary import build_vocabulary
    from dove_keras.data.vocabulary import training_captions
    from dove_keras.datasets.synthetic import generate_dataset
    from dove_keras.preprocessing.captions import write_vocabulary

    root = os.path.join(output_dir, "data", DATA_FOLDER.format(num_images=num_images, scene_size=scene_size, seed=seed))
    paths = {
        "root": root,
        "scenes": os.path.join(root, "scenes"),
        "prepared": os.path.join(root, "prepared"),
        "vocabulary": os.path.join(root, "vocab.txt"),
    }
    tick = time.perf_counter()
    generate_dataset(paths["scenes"], num_images, scene_size, seed, split_fractions, progress=progress)
    # prepare keeps the complete shards of an identical earlier run.
    manifest = prepare(
        paths["scenes"], os.path.join(paths["scenes"], "images"), paths["prepared"],
        overwrite=True, progress=progress,
    )
    captions = training_captions(paths["prepared"], "train")
    words = build_vocabulary(captions)
    write_vocabulary(words, paths["vocabulary"])
    paths["train_captions"] = len(captions)
    if progress:
        sizes = ", ".join(f"{split} {entry['images']}" for split, entry in manifest["splits"].items())
        logger.info("Data ready in %.0f s: %s (%s images, %d words)",
                    time.perf_counter() - tick, root, sizes, len(words))
    return paths


def synthetic_config(name, output_dir, data, seed, image_size, image_backbone, embedding_dim, batch_size,
                     learning_rate, epochs=1, use_roam=True, use_dtga=True, model=None, optimizer=None,
                     training=None):
    """The `ExperimentConfig` of a small DOVE on `prepare_synthetic_data` output.

    The model is sized for a CPU (d = `embedding_dim`, 64-wide words, a 4x4
    token grid, d_k = 32) and trains its randomly initialised image backbone.

    Args:
        name: experiment name.
        output_dir: the run folder.
        data: the paths of `prepare_synthetic_data`.
        seed: seed of the weights and of the data order.
        image_size: side of the model input (a multiple of 32).
        image_backbone: "tiny", "resnet18", "resnet50" or a preset folder.
        embedding_dim: d.
        batch_size: pairs per training batch.
        learning_rate: Adam's initial rate.
        epochs: training epochs.
        use_roam, use_dtga: the ablation switches.
        model, optimizer, training: more keys of those sections.

    Raises:
        ConfigError: a value the config checks refuse.
    """
    raw = {
        "name": name,
        "seed": seed,
        "output_dir": output_dir,
        "data": {
            "prepared_dir": data["prepared"], "vocabulary": data["vocabulary"],
            "image_size": image_size, "sequence_length": 32, "shuffle_buffer": 4096,
            "eval_batch_size": 100,
        },
        "model": {
            "image_backbone": image_backbone,
            "train_image_backbone": True,  # randomly initialised: it has to learn
            "embedding_dim": embedding_dim, "word_dim": 64, "multiscale_grid": 4, "iga_key_dim": 32,
            "use_roam": use_roam, "use_dtga": use_dtga, **(model or {}),
        },
        "loss": {"margin": 0.2, "lambda_global": 1.0},
        "optimizer": {"learning_rate": learning_rate, **(optimizer or {})},
        "training": {"epochs": epochs, "batch_size": batch_size, **(training or {})},
        "evaluation": {"every_n_epochs": 1, "mode": "roam"},
    }
    return config_from_dict(raw, source=name)
