"""Experiments built from training: the demo, the backend comparison, studies (ablations, sweeps)."""
