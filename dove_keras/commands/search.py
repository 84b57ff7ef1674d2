"""`dove search index | query`: two-stage text -> image search over a folder."""

import sys

DESCRIPTION = (
    "Two-stage image search (DESIGN section 1.5). `index` embeds a folder of images "
    "(resumable, chunk by chunk); `query` finds the images of a caption: stage 1 ranks "
    "every image by the cosine of the global embeddings V_M and T_G (exact NumPy "
    "search, or faiss with --faiss), stage 2 re-ranks the best --candidates with ROAM's "
    "pairwise score. Stage 1 is trained only by the global constraint: the model must "
    "have been trained with lambda_global > 0."
)
MODEL_HELP = (
    "a directory written by `dove export` (self-contained), or a saved .keras DOVE model "
    "(then also --vocabulary, --image-size, --sequence-length)"
)


def add_arguments(parser):
    """Adds the `dove search` subcommands."""
    parser.description = DESCRIPTION
    actions = parser.add_subparsers(
        dest="action", metavar="ACTION", required=True, help="index: embed a folder; query: search it with text"
    )

    index = actions.add_parser(
        "index", help="embed a folder of images into an index (resumable)",
        description="Embed every .jpg/.jpeg/.png/.tif/.tiff/.bmp file under --images into the "
        "index folder --out: global embeddings (stage 1), fused embeddings and regions (ROAM "
        "re-ranking) and images.csv (paths, sizes). Chunks are written atomically: after an "
        "interruption the same command skips the files already embedded. Unreadable files "
        "are skipped and listed (unreadable.csv).",
    )
    index.add_argument("--model", required=True, metavar="PATH", help=MODEL_HELP)
    _add_keras_model_arguments(index)
    index.add_argument(
        "--images", required=True, metavar="DIR", help="the image folder (searched recursively)"
    )
    index.add_argument("--out", required=True, metavar="INDEX", help="the index folder (created or resumed)")
    index.add_argument("--chunk-size", type=int, default=256, help="files per saved chunk (default 256)")
    index.add_argument("--batch-size", type=int, default=32, help="images per model call (default 32)")
    index.add_argument(
        "--regions-dtype", choices=("float32", "float16"), default="float32",
        help="storage of the regions (N_r x d per image; float16 halves it)",
    )
    index.add_argument(
        "--retry-unreadable", action="store_true",
        help="try again the files an earlier run could not read",
    )
    index.add_argument("--quiet", action="store_true", help="no progress bar")

    query = actions.add_parser(
        "query", help="the top-k images of a caption",
        description="Print the top-k images of a caption: stage 1 (global embeddings, trained "
        "by the global constraint lambda_global > 0) proposes --candidates images, ROAM's "
        "pairwise score re-ranks them.",
    )
    query.add_argument("text", help="the query caption")
    query.add_argument(
        "--index", required=True, metavar="INDEX", help="an index folder of `dove search index`"
    )
    query.add_argument(
        "--model", metavar="PATH", help=MODEL_HELP + " (default: the index's model)"
    )
    _add_keras_model_arguments(query)
    query.add_argument("-k", type=int, default=10, help="results (default 10)")
    query.add_argument(
        "--candidates", type=int, default=100,
        help="stage-1 results re-ranked by ROAM (default 100)",
    )
    query.add_argument("--no-rerank", dest="rerank", action="store_false", help="stage 1 only")
    query.add_argument("--faiss", action="store_true", help="stage 1 with faiss (needs faiss-cpu)")
    query.add_argument("--sheet", metavar="PNG", help="also write a contact sheet of the results")
    query.add_argument("--csv", metavar="FILE", help="also write the results table as CSV")


def _add_keras_model_arguments(parser):
    parser.add_argument("--vocabulary", metavar="FILE", help="training vocabulary (.keras models only)")
    parser.add_argument("--image-size", type=int, help="image side (.keras models only; default 256)")
    parser.add_argument(
        "--sequence-length", type=int, help="tokens per caption (.keras models only; default 32)"
    )


def run(args):
    """Runs `dove search ACTION`; returns the exit code (2: unusable arguments)."""
    from dove_keras.search import SearchIndexError

    try:
        return _index(args) if args.action == "index" else _query(args)
    except (SearchIndexError, ValueError) as error:
        print(f"dove search {args.action}: error: {error}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print(
            f"dove search {args.action}: interrupted; finished chunks are kept, run the "
            "same command again to resume",
            file=sys.stderr,
        )
        return 130


def _encoder(args, spec=None):
    from dove_keras.search import load_encoder

    if args.model is None:
        if spec["model"] is None:
            raise ValueError("the index was built from a model in memory: give --model")
        return load_encoder(
            spec["model"], spec.get("vocabulary"), spec.get("image_size"), spec.get("sequence_length")
        )
    return load_encoder(args.model, args.vocabulary, args.image_size, args.sequence_length)


def _index(args):
    from dove_keras.search import build_index

    if args.chunk_size < 1 or args.batch_size < 1:
        raise ValueError("--chunk-size and --batch-size must be >= 1")
    summary = build_index(
        _encoder(args), args.images, args.out, chunk_size=args.chunk_size,
        batch_size=args.batch_size, regions_dtype=args.regions_dtype,
        retry_unreadable=args.retry_unreadable, progress=not args.quiet,
    )
    print(f"{args.out}: {summary['images']} images indexed ({summary['new']} new)")
    if summary["unreadable"]:
        print(f"{len(summary['unreadable'])} unreadable files skipped (listed in {args.out}/unreadable.csv):")
        for path, reason in summary["unreadable"]:
            print(f"  {path}: {reason}")
    return 0


def _query(args):
    import pandas as pd

    from dove_keras.search import ImageIndex
    from dove_keras.search import Searcher

    if args.k < 1 or args.candidates < 1:
        raise ValueError("-k and --candidates must be >= 1")
    index = ImageIndex(args.index)
    searcher = Searcher(index, _encoder(args, index.header["model"]), use_faiss=args.faiss)
    results = searcher.search(args.text, k=args.k, candidates=args.candidates, rerank=args.rerank)
    shown = results.drop(columns=["row"])
    with pd.option_context("display.max_colwidth", 60, "display.width", 200):
        print(shown.to_string(index=False, float_format=lambda v: f"{v:.4f}"))
    if args.csv:
        shown.to_csv(args.csv, index=False)
    if args.sheet:
        from dove_keras.search.sheet import contact_sheet

        contact_sheet(results, index, args.text, args.sheet)
        print(f"wrote {args.sheet}")
    return 0
