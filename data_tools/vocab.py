"""`dove-data vocab`: the command line of `dove_keras.data.vocabulary`."""

import os

import numpy as np

from data_tools import options
from dove_keras.data import readers
from dove_keras.data import shards
from dove_keras.data.prepare import PLAN
from dove_keras.data.vocabulary import build_vocabulary
from dove_keras.data.vocabulary import glove_matrix
from dove_keras.data.vocabulary import training_captions
from dove_keras.errors import UsageError
from dove_keras.preprocessing.captions import write_vocabulary
from dove_keras.utils.files import staged_path


def add_arguments(parser):
    """Adds the `vocab` options to an argparse parser."""
    parser.add_argument("source", help="caption source (precomp folder, Karpathy or COCO "
                        "JSON) or a folder written by `dove-data prepare`")
    parser.add_argument("--output", required=True, metavar="FILE",
                        help="vocabulary file to write (one word per line, most frequent first)")
    parser.add_argument("--split", default="train", choices=readers.SPLITS,
                        help="split whose captions are counted (default: train)")
    options.add_source_arguments(parser, "count")
    parser.add_argument("--min-count", type=int, default=1, metavar="N",
                        help="keep words seen at least N times (default: 1)")
    parser.add_argument("--glove", metavar="FILE",
                        help="GloVe text file: also write an embedding matrix .npy of shape "
                        "(vocabulary_size, dim)")
    parser.add_argument("--embeddings-output", metavar="FILE",
                        help="where to write the matrix (default: the vocabulary path with "
                        "_glove.npy in place of its extension)")
    parser.add_argument("--seed", type=int, default=0,
                        help="seed of the random rows of words missing from GloVe (default: 0)")
    parser.add_argument("--oov-std", type=float, default=0.1,
                        help="standard deviation of those random rows (default: 0.1)")
    parser.add_argument("--overwrite", action="store_true",
                        help="replace existing output files (never the source's own files)")


def run(args):
    """Runs `vocab` from parsed arguments; returns the exit code."""
    options.check_input_paths(caption_source=args.source, glove_file=args.glove)
    if args.min_count < 1:
        raise UsageError(f"--min-count must be >= 1, got {args.min_count}")
    embeddings = None
    if args.glove:
        embeddings = args.embeddings_output or os.path.splitext(args.output)[0] + "_glove.npy"
    for flag, path in (("--output", args.output), ("--embeddings-output", embeddings)):
        if path is not None:
            _check_output(flag, path, args.source, args.overwrite)
    captions = training_captions(args.source, args.split, args.format, args.use_verify)
    words = build_vocabulary(captions, args.min_count)
    if not words:
        raise ValueError(f"{args.source}: no word seen {args.min_count} time(s) in {args.split}")
    with staged_path(args.output) as staging:
        write_vocabulary(words, staging)
    print(f"{len(captions)} captions -> {len(words)} words (vocabulary_size "
          f"{len(words) + 2}) -> {args.output}")
    if args.glove:
        matrix, found = glove_matrix(words, args.glove, args.seed, args.oov_std)
        with staged_path(embeddings) as staging, open(staging, "wb") as f:
            np.save(f, matrix)
        print(f"GloVe: {found}/{len(words)} words found, matrix {matrix.shape} -> {embeddings}")
    return 0


def _source_files(source):
    """The files `source` consists of: the caption file, or a prepared folder's own files."""
    if os.path.isfile(source):
        return {source}
    manifest = os.path.join(source, shards.MANIFEST)
    if not os.path.isfile(manifest):
        return set()
    owned = {manifest, os.path.join(source, PLAN)}
    try:
        for entry in shards.load_manifest(source)["splits"].values():
            owned.update(os.path.join(source, shard["file"]) for shard in entry["shards"])
    except (ValueError, OSError, KeyError, TypeError):
        pass  # a damaged manifest still protects itself; `check` reports it
    return owned


def _check_output(flag, path, source, overwrite):
    """Refuses an output that is a source file, a folder, or (without --overwrite) exists."""
    real = os.path.realpath(path)
    if real in {os.path.realpath(p) for p in _source_files(source)}:
        raise UsageError(f"{flag} {path} is a file of the source {source}; choose another path")
    if os.path.isdir(path):
        raise UsageError(f"{flag} {path} is a folder; give a file path")
    if os.path.exists(path) and not overwrite:
        raise UsageError(f"{flag} {path} exists; pass --overwrite to replace it")
