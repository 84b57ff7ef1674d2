"""DOVE: direction-oriented visual-semantic embedding for remote-sensing retrieval."""

__version__ = "0.1.0"
