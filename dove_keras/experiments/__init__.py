"""Experiments around training: the demo, the backend comparison."""
