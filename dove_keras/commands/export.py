"""`dove export`: a TensorFlow SavedModel with raw-input endpoints."""


from dove_keras.commands.options import add_config_arguments
from dove_keras.commands.options import add_preset_argument
from dove_keras.commands.options import config_from_args
from dove_keras.commands.options import trained_model_path
from dove_keras.errors import UsageError

DESCRIPTION = (
    "Export a trained DOVE model as a TensorFlow SavedModel (DESIGN section 6) with the "
    "endpoints embed_images (JPEG/PNG/GIF/BMP bytes), embed_pixels (decoded float "
    "pixels of any size, e.g. of TIFFs), encode_image (normalised float images), "
    "embed_texts (UTF-8 captions, tokenised in the graph with the training vocabulary), "
    "encode_text (int32 token ids) and score (pairwise ROAM scores): embed_* take raw "
    "inputs, encode_* model inputs, as the Keras task's methods do. The model's "
    "preprocessor (vocabulary, caption length, image size) goes into the graph: a preset "
    "needs no other option. The loading process needs TensorFlow and `import "
    "tensorflow_text`, not dove_keras. From the torch backend the export runs in a "
    "TensorFlow-backend subprocess. The export directory is also what `dove search --model` takes."
)


def add_arguments(parser):
    """Adds the `dove export` options."""
    parser.description = DESCRIPTION
    add_preset_argument(parser, purpose="the model to export")
    parser.add_argument("--model", metavar="FILE.keras", help="a saved .keras DOVERetriever")
    add_config_arguments(parser, required=False)
    parser.add_argument(
        "--weights", metavar="FILE",
        help="with --config: a .weights.h5 file of the config's model (default: the run's "
        "<output_dir>/preset, else <output_dir>/best.weights.h5)",
    )
    parser.add_argument("--out", required=True, metavar="DIR", help="the SavedModel directory to write")
    parser.add_argument("--overwrite", action="store_true", help="replace an existing export at --out")


def run(args):
    """Runs `dove export` (errors are reported by the command line)."""
    retriever = _load(args)
    from dove_keras.export import export_saved_model

    export_saved_model(retriever, args.out, overwrite=args.overwrite)
    print(f"wrote {args.out} (load: import tensorflow, tensorflow_text; tf.saved_model.load)")
    return 0


def _load(args):
    chosen = [name for name in ("preset", "model", "config") if getattr(args, name)]
    if len(chosen) != 1:
        raise UsageError("give exactly one of --preset DIR, --model FILE.keras or --config FILE")
    from dove_keras.training.loading import load_retriever

    if args.config is None:
        return load_retriever(args.preset or args.model)
    config = config_from_args(args)
    return load_retriever(trained_model_path(args, config), config)
