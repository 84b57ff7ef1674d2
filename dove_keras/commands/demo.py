"""`dove demo`: generated aerial scenes -> shards -> a small DOVE trained on CPU -> test recalls.

Output folder (`--output-dir`, default `dove_runs/demo`):
    data/synthetic-{N}x{S}px-seed{seed}/   scenes/ (generated), prepared/ (shards),
                                           vocab.txt: reused by later runs
    {run}/                                 the training run (`dove_keras.training.runner`):
                                           config.yaml, model.keras, curves.png,
                                           results_test_roam.csv/.md, examples_test.png, ...
    {run}/demo_summary.md                  the recalls table and the example queries
where {run} is `dove`, or e.g. `dove_no-roam_no-dtga` for the ablation.
"""

import os
import sys
import time

import numpy as np
import pandas as pd

DESCRIPTION = (
    "The end-to-end demo, on CPU in a few minutes: (1) generate synthetic aerial scenes with "
    "5 captions each (cached), (2) prepare TFRecord shards and the vocabulary (cached), "
    "(3) train a small DOVE (backbone 'tiny'), selecting the epoch with the best validation "
    "mR, (4) print the test R@1/5/10 both ways and mR next to chance level, (5) save the "
    "model (.keras), training curves and a retrieval example sheet (PNG), (6) show a caption "
    "query and an image query with their top 3. The defaults take about 4 minutes on 2 idle "
    "CPU cores with TensorFlow (about 7 on a busy machine); the options below scale it up. "
    "Interrupted, the same command resumes training from the run's last backup."
)
BACKEND_HELP = (
    "Keras backend: tensorflow, jax or torch (default: the KERAS_BACKEND environment "
    "variable, else tensorflow). Data pipelines always run on tf.data; the defaults were "
    "timed on tensorflow, the other backends can be slower (JAX compiles longer)."
)
CAPTIONS_PER_IMAGE = 5
EXAMPLES_TOP_K = 3


def add_arguments(parser):
    """Adds the `dove demo` options."""
    parser.description = DESCRIPTION
    parser.add_argument(
        "--output-dir", default=os.path.join("dove_runs", "demo"), metavar="DIR",
        help="folder of the data cache and of the runs (default: dove_runs/demo)",
    )
    parser.add_argument(
        "--num-images", type=int, default=2000, metavar="N",
        help="generated scenes, 5 captions each, split by --split-fractions (default: 2000)",
    )
    parser.add_argument(
        "--scene-size", type=int, default=128, metavar="PX",
        help="side of the generated scenes in pixels (default: 128)",
    )
    parser.add_argument(
        "--split-fractions", type=float, nargs=3, default=(0.8, 0.1, 0.1),
        metavar=("TRAIN", "VAL", "TEST"),
        help="fractions of the scenes in train, validation and test (default: 0.8 0.1 0.1)",
    )
    parser.add_argument(
        "--seed", type=int, default=0,
        help="seed of the generated scenes, of the model's initialisation and of the "
        "training data order and augmentation (default: 0)",
    )
    parser.add_argument(
        "--image-size", type=int, default=64, metavar="PX",
        help="side of the model input, a multiple of 32; scenes are resized to it. In the "
        "same CPU time, 64 px x 7 epochs reached test mR 51, 96 px x 4 epochs 33 "
        "(default: 64)",
    )
    parser.add_argument(
        "--backbone", default="tiny",
        help="image backbone: tiny (a CPU-sized ResNet-10), resnet18, resnet50 (randomly "
        "initialised and trained) or a local keras-hub ResNet preset directory (default: tiny)",
    )
    parser.add_argument(
        "--embedding-dim", type=int, default=128, metavar="D",
        help="joint embedding size d (default: 128; the paper uses 512)",
    )
    parser.add_argument(
        "--epochs", type=int, default=7,
        help="training epochs over every train caption; validation mR after each (default: 7)",
    )
    parser.add_argument(
        "--batch-size", type=int, default=64, metavar="B",
        help="image-caption pairs per batch; the other pairs of the batch are the negatives, "
        "except captions of the same image (default: 64)",
    )
    parser.add_argument(
        "--learning-rate", type=float, default=1e-3, metavar="LR",
        help="Adam learning rate, halved for the last epoch (default: 0.001)",
    )
    parser.add_argument(
        "--no-roam", dest="use_roam", action="store_false",
        help="ablation: no ROAM (no regions, IFA or IGA): a plain dual encoder scored by "
        "cos(V_M, T_G)",
    )
    parser.add_argument(
        "--no-dtga", dest="use_dtga", action="store_false",
        help="ablation: no DTGA (no n-gram genes): the text embedding is the mean word state "
        "plus an MLP",
    )
    parser.add_argument("--backend", choices=("tensorflow", "jax", "torch"), help=BACKEND_HELP)


def run(args):
    """Runs `dove demo`; returns the exit code (2: unusable options)."""
    start = time.perf_counter()
    problem = _select_backend(args.backend) or _check_arguments(args)
    if problem:
        print(f"dove demo: error: {problem}", file=sys.stderr)
        return 2
    # Idle OpenMP threads (torch on CPU) spin by default; on a shared CPU that
    # made training 6x slower here. Read only before torch is first imported.
    os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
    try:
        data = prepare_demo_data(
            args.output_dir, args.num_images, args.scene_size, args.seed, args.split_fractions
        )
        config = demo_config(args, data)
    except ValueError as error:  # generator, prepare and config checks
        print(f"dove demo: error: {error}", file=sys.stderr)
        return 2
    if args.batch_size > data["train_captions"]:
        print(
            f"dove demo: error: --batch-size {args.batch_size} is more than the "
            f"{data['train_captions']} training captions; lower it or raise --num-images",
            file=sys.stderr,
        )
        return 2
    data_seconds = time.perf_counter() - start
    _drop_stale_backup(config)

    import keras

    from dove_keras.training.runner import run_training

    print(
        f"Training DOVE (backbone {args.backbone}, d={args.embedding_dim}, use_roam="
        f"{args.use_roam}, use_dtga={args.use_dtga}) on the {keras.backend.backend()} backend "
        f"for {args.epochs} epoch(s) of batch {args.batch_size} at {args.image_size} px -> "
        f"{config.output_dir}"
    )
    result = run_training(config, verbose=1)
    seconds = {"data": data_seconds, "total": time.perf_counter() - start}
    seconds["train_and_test"] = seconds["total"] - data_seconds
    summary = demo_summary(result, data, seconds)
    print(summary)
    with open(os.path.join(config.output_dir, "demo_summary.md"), "w", encoding="utf-8") as f:
        f.write(summary)
    print(
        f"Artefacts in {config.output_dir}: model.keras, curves.png, examples_test.png, "
        "results_test_roam.csv/.md, demo_summary.md. Same run from its config: "
        f"dove train --config {os.path.join(config.output_dir, 'config.yaml')}"
    )
    return 0


def prepare_demo_data(output_dir, num_images, scene_size, seed, split_fractions, verbose=True):
    """Generates the scenes, prepares their shards and writes the vocabulary, reusing a cache.

    Args:
        output_dir: the demo folder; the data goes to its `data/` subfolder.
        num_images: generated scenes.
        scene_size: their side in pixels.
        seed: the generator's seed.
        split_fractions: (train, val, test) fractions.
        verbose: progress bars and a line per step.

    Returns:
        A dict: the paths `root`, `scenes` (the precomp folder), `prepared` and
        `vocabulary`, and the count `train_captions`.
    """
    from data_tools.prepare import prepare
    from data_tools.vocab import build_vocabulary
    from data_tools.vocab import training_captions
    from data_tools.vocab import write_vocabulary
    from dove_keras.datasets.synthetic import generate_dataset

    root = os.path.join(output_dir, "data", f"synthetic-{num_images}x{scene_size}px-seed{seed}")
    paths = {
        "root": root,
        "scenes": os.path.join(root, "scenes"),
        "prepared": os.path.join(root, "prepared"),
        "vocabulary": os.path.join(root, "vocab.txt"),
    }
    tick = time.perf_counter()
    generate_dataset(
        paths["scenes"], num_images, scene_size, seed, split_fractions, progress=verbose
    )
    # prepare keeps the complete shards of an identical earlier run.
    manifest = prepare(
        paths["scenes"], os.path.join(paths["scenes"], "images"), paths["prepared"],
        overwrite=True, show_progress=verbose,
    )
    captions = training_captions(paths["prepared"], "train")
    words = build_vocabulary(captions)
    write_vocabulary(words, paths["vocabulary"])
    paths["train_captions"] = len(captions)
    if verbose:
        splits = manifest["splits"].items()
        sizes = ", ".join(f"{split} {entry['images']}" for split, entry in splits)
        print(
            f"Data ready in {time.perf_counter() - tick:.0f} s: {root} ({sizes} images, "
            f"{len(words)} words)"
        )
    return paths


def demo_config(args, data):
    """The `ExperimentConfig` of a demo run on `prepare_demo_data` output.

    Raises:
        ConfigError: an option the config checks refuse (e.g. an image size
            that is not a multiple of 32).
    """
    from dove_keras.training.config import config_from_dict

    name = "dove" + ("" if args.use_roam else "_no-roam") + ("" if args.use_dtga else "_no-dtga")
    raw = {
        "name": f"demo-{name}",
        "seed": args.seed,
        "output_dir": os.path.join(args.output_dir, name),
        "data": {
            "prepared_dir": data["prepared"],
            "vocabulary": data["vocabulary"],
            "image_size": args.image_size,
            "caption_length": 32,
            "shuffle_buffer": 4096,
            "eval_batch_size": 100,
        },
        "model": {
            "backbone": args.backbone,
            "train_backbone": True,  # randomly initialised: it has to learn
            "embedding_dim": args.embedding_dim,
            "word_dim": 64,
            "multiscale_grid": 4,
            "iga_key_dim": 32,
            "use_roam": args.use_roam,
            "use_dtga": args.use_dtga,
        },
        "loss": {"margin": 0.2, "lambda_global": 1.0},
        "optimizer": {
            "learning_rate": args.learning_rate,
            "decay_rate": 0.5,
            "decay_epochs": max(1, args.epochs - 1),
        },
        "training": {"epochs": args.epochs, "batch_size": args.batch_size},
        "evaluation": {"every_n_epochs": 1, "mode": "roam"},
    }
    return config_from_dict(raw, source="dove demo")


def demo_summary(result, data, seconds):
    """The markdown summary: the test recalls against chance and two example queries.

    Args:
        result: the runner's `TrainingResult` (with its test evaluation).
        data: the paths of `prepare_demo_data`.
        seconds: wall times `data`, `train_and_test` and `total`.

    Returns:
        The text.
    """
    from dove_keras.data.readers import read_captions
    from dove_keras.metrics.chance import chance_recalls
    from dove_keras.training import reports

    metrics = result.test.metrics
    similarity = result.test.similarity
    num_images = similarity.shape[0]
    chance = chance_recalls(num_images, CAPTIONS_PER_IMAGE)
    history = result.history
    best_epoch = int(history.loc[history["val_mR"].idxmax(), "epoch"]) + 1
    lines = [
        f"## DOVE demo: test split, {num_images} images x {similarity.shape[1]} captions",
        "",
        reports.markdown_table(recall_table(metrics, chance)),
        f"mR {metrics['mR']:.2f} = {metrics['mR'] / chance['mR']:.1f} x chance "
        f"({chance['mR']:.2f}); model selected at epoch {best_epoch} (best validation mR).",
        "",
    ]
    records = read_captions(data["scenes"])["test"]
    images = os.path.join(data["scenes"], "images")
    filenames = [os.path.join(images, record.filename) for record in records]
    captions = [caption for record in records for caption in record.captions]
    caption_queries, image_queries = reports.example_queries(similarity)
    lines += example_lines(similarity, filenames, captions, caption_queries[0], image_queries[-1])
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


def example_lines(similarity, filenames, captions, caption, image, top_k=EXAMPLES_TOP_K):
    """Markdown lines: a caption query with its top images, an image query with its top captions.

    Args:
        similarity: `(I, C)` test scores.
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
    for rank, index in enumerate(np.argsort(-similarity[:, caption], kind="stable")[:top_k], 1):
        mark = "  [match]" if index == owner else ""
        lines.append(f"  {rank}. {similarity[index, caption]:+.3f}  {filenames[index]}{mark}")
    lines.append(f"Query image: {filenames[image]}")
    for rank, index in enumerate(np.argsort(-similarity[image], kind="stable")[:top_k], 1):
        mark = "  [match]" if index // CAPTIONS_PER_IMAGE == image else ""
        lines.append(f'  {rank}. {similarity[image, index]:+.3f}  "{captions[index]}"{mark}')
    return lines


def _select_backend(backend):
    """Sets KERAS_BACKEND before Keras loads; returns a problem message or None."""
    if backend is None:
        return None
    keras = sys.modules.get("keras")
    if keras is not None and keras.backend.backend() != backend:
        return (
            f"--backend {backend}: Keras is already loaded with the "
            f"{keras.backend.backend()} backend in this process; run with "
            f"KERAS_BACKEND={backend} instead"
        )
    os.environ["KERAS_BACKEND"] = backend
    return None


def _check_arguments(args):
    counts = ("num_images", "scene_size", "image_size", "embedding_dim", "epochs", "batch_size")
    for name in counts:
        if getattr(args, name) < 1:
            return f"--{name.replace('_', '-')} must be positive, got {getattr(args, name)}"
    if min(args.split_fractions) <= 0:
        return (
            "--split-fractions: train, validation and test all need scenes, "
            f"got {args.split_fractions}"
        )
    if args.image_size % 32:
        return (
            "--image-size must be a multiple of 32 (the backbone's stride), "
            f"got {args.image_size}"
        )
    if not args.learning_rate > 0:
        return f"--learning-rate must be positive, got {args.learning_rate}"
    return None


def _drop_stale_backup(config):
    """Removes a resumable backup left by an interrupted run of other settings."""
    import shutil

    import yaml

    saved = os.path.join(config.output_dir, "config.yaml")
    backup = os.path.join(config.output_dir, "backup")
    if not os.path.isdir(backup) or not os.path.isfile(saved):
        return
    with open(saved, encoding="utf-8") as f:
        if yaml.safe_load(f) == config.to_dict():
            return
    print(f"{backup}: an interrupted run with other settings; starting afresh.")
    shutil.rmtree(backup)
