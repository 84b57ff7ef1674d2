"""`dove export`: a TensorFlow SavedModel with raw-input endpoints."""

import os
import sys

from dove_keras.commands.options import load_from_args

DESCRIPTION = (
    "Export a trained DOVE model as a TensorFlow SavedModel (DESIGN section 6) with the "
    "endpoints encode_image (JPEG/PNG/GIF/BMP bytes), encode_image_tensor (normalised "
    "float images), encode_text (UTF-8 captions, tokenised in the graph with the "
    "training vocabulary), encode_text_ids (int32 token ids) and score (pairwise ROAM "
    "scores). The loading process needs TensorFlow and `import tensorflow_text`, not "
    "dove_keras. From the torch backend the export runs in a TensorFlow-backend "
    "subprocess. The export directory is also what `dove search --model` takes."
)


def add_arguments(parser):
    """Adds the `dove export` options."""
    parser.description = DESCRIPTION
    source = parser.add_mutually_exclusive_group(required=True)
    source.add_argument(
        "--config", metavar="FILE",
        help="the experiment YAML the model was trained with (vocabulary, image size and "
        "caption length come from it)",
    )
    source.add_argument(
        "--model", metavar="FILE.keras",
        help="a saved .keras DOVE model (then give --vocabulary, --image-size, --sequence-length)",
    )
    parser.add_argument(
        "--set", action="append", default=[], metavar="KEY=VALUE", dest="overrides",
        help="override one config value, SECTION.KEY=VALUE (repeatable; with --config)",
    )
    parser.add_argument(
        "--weights", metavar="FILE",
        help="with --config: a .weights.h5 file of the config's model or a saved .keras "
        "model (default: <output_dir>/best.weights.h5)",
    )
    parser.add_argument("--vocabulary", metavar="FILE", help="with --model: the training vocabulary file")
    parser.add_argument("--image-size", type=int, default=256, help="with --model: image side (default 256)")
    parser.add_argument(
        "--sequence-length", type=int, default=32, help="with --model: tokens per caption (default 32)"
    )
    parser.add_argument("--out", required=True, metavar="DIR", help="the SavedModel directory to write")
    parser.add_argument("--overwrite", action="store_true", help="replace an existing --out")


def run(args):
    """Runs `dove export`; returns the exit code (2: unusable arguments)."""
    try:
        model, vocabulary, image_size, length = _load(args)
        if model is None:
            return 2
        from dove_keras.export import export_saved_model

        export_saved_model(model, vocabulary, args.out, image_size, length, overwrite=args.overwrite)
    except ValueError as error:
        print(f"dove export: error: {error}", file=sys.stderr)
        return 2
    print(f"wrote {args.out} (load: import tensorflow, tensorflow_text; tf.saved_model.load)")
    return 0


def _load(args):
    """`(model, vocabulary, image_size, sequence_length)`; model None on a bad config."""
    import keras

    from dove_keras.models import DOVE  # noqa: F401  registers the class

    if args.model:
        if not args.vocabulary:
            raise ValueError("--model needs --vocabulary (the training vocabulary file)")
        if not os.path.isfile(args.model):
            raise ValueError(f"model file not found: {args.model}")
        model = keras.saving.load_model(args.model, compile=False)
        return model, args.vocabulary, args.image_size, args.sequence_length
    config = load_from_args(args, "export")
    if config is None:
        return None, None, None, None
    from dove_keras.training.runner import load_trained_model

    weights = args.weights or os.path.join(config.output_dir, "best.weights.h5")
    model, tokenizer = load_trained_model(config, weights)
    return model, tokenizer, config.data.image_size, config.data.caption_length
