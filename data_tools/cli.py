"""The `dove-data` command line: one subcommand per module, imported only when used."""

import sys

from dove_keras.backends import use_default_xla_flags
from dove_keras.subcommands import run_command

# name -> (module, one-line help). Each module defines
# `add_arguments(parser)` and `run(args) -> int`.
COMMANDS = {
    "prepare": ("data_tools.prepare", "caption source + images -> TFRecord shards + manifest"),
    "vocab": (
        "data_tools.vocab",
        "build the vocabulary file (and a GloVe matrix) from training captions",
    ),
    "check": ("data_tools.check", "list every problem of a raw dataset or of prepared shards"),
    "dedup": ("data_tools.dedup", "find images shared by two folders (perceptual hash) -> CSV"),
    "import-clip": ("data_tools.import_clip", "a CLIP checkpoint (RemoteCLIP, GeoRSCLIP, HF) -> a preset folder"),
    "new-clip": ("data_tools.new_clip", "a random-init CLIP preset (BPE learnt from captions) to train from scratch"),
}


DESCRIPTION = (
    "Data tools for dove_keras: convert, check and de-duplicate "
    "remote-sensing image-caption datasets. Run `dove-data COMMAND --help`."
)


def main(argv=None):
    """Runs `dove-data`; returns the exit code (see `dove_keras.errors`)."""
    use_default_xla_flags()
    return run_command("dove-data", DESCRIPTION, COMMANDS, argv)


if __name__ == "__main__":
    sys.exit(main())
