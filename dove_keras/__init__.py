"""DOVE: direction-oriented visual-semantic embedding for remote-sensing retrieval."""

import os

__version__ = "0.1.0"

# XLA:CPU hands convolutions to YNNPACK fusions by default; on the CPUs measured
# (benchmarks/RESULTS.md) its own path trains the frozen ResNet-50 tower 1.6x faster on
# JAX. Read when JAX starts its CPU backend; a user's own setting of the flag wins.
_YNN_FUSIONS = "--xla_cpu_experimental_ynn_fusion_type"
if _YNN_FUSIONS not in os.environ.get("XLA_FLAGS", ""):
    os.environ["XLA_FLAGS"] = f"{os.environ.get('XLA_FLAGS', '')} {_YNN_FUSIONS}=".strip()
