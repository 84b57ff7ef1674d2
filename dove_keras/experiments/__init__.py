"""Experiments built from training runs: studies (ablations and parameter sweeps)."""
