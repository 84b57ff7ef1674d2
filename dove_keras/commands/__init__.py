"""Subcommands of the `dove` command line (see `dove_keras.cli.COMMANDS`)."""
