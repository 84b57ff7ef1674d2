"""Dataset tools: `dove-data prepare | vocab | check | dedup` (see data_tools/cli.py)."""
